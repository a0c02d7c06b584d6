module github.com/sluss/sluss

go 1.26.8

require (
	c2sp.org/CCTV/age v0.0.0-20251208015420-e9274a7bdbfd
	filippo.io/age v1.3.1
	github.com/cloudflare/circl v1.6.5
)

require (
	filippo.io/hpke v0.4.0 // indirect
	github.com/rogpeppe/go-internal v1.16.0 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/tools v0.39.0 // indirect
)
