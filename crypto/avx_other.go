//go:build !amd64

package crypto

// leaveAVX is needed only on amd64 (see avx_amd64.go).
func leaveAVX() {}
