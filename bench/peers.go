package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Peers are the MITM proxies sluss can be compared with, by name; each
// needs a Debian package.
var Peers = map[string]string{
	ModeMitmproxy: "mitmproxy",
	ModeSquid:     "squid-openssl",
}

// MissingPeerError says which package to install for a peer.
type MissingPeerError struct{ Peer, Package string }

func (e *MissingPeerError) Error() string {
	return fmt.Sprintf("%s is not installed; install it with: sudo apt-get install -y %s", e.Peer, e.Package)
}

// peerMode starts one peer proxy on first use and keeps it for the bench.
type peerMode struct {
	env   *env
	peer  string
	start func(ctx context.Context, e *env) (*peerProcess, error)
	p     *peerProcess
	err   error
}

type peerProcess struct {
	*process
	proxy  *url.URL
	caFile string
}

func newPeerMode(e *env, peer string) (*peerMode, error) {
	m := &peerMode{env: e, peer: peer}
	switch peer {
	case ModeMitmproxy:
		if _, err := executableOf("mitmdump"); err != nil {
			return nil, &MissingPeerError{peer, Peers[peer]}
		}
		m.start = startMitmproxy
	case ModeSquid:
		if _, err := executableOf("squid"); err != nil {
			return nil, &MissingPeerError{peer, Peers[peer]}
		}
		if _, err := os.Stat(squidCertgen); err != nil {
			return nil, &MissingPeerError{peer, Peers[peer]}
		}
		m.start = startSquid
	default:
		return nil, fmt.Errorf("unknown peer %q (known: mitmproxy, squid)", peer)
	}
	return m, nil
}

func (m *peerMode) name() string { return m.peer }

func (m *peerMode) close() {
	if m.p != nil {
		m.p.stop()
	}
}

func (m *peerMode) target(ctx context.Context, s *Scenario) (*target, error) {
	if s.API {
		return nil, errNotAvailable{"peers have no API"}
	}
	if m.err != nil {
		return nil, m.err
	}
	if m.p == nil {
		m.env.log("starting " + m.peer)
		m.p, m.err = m.start(ctx, m.env)
		if m.err != nil {
			return nil, m.err
		}
	}
	if !m.p.running() {
		return nil, fmt.Errorf("%s exited%s", m.peer, m.p.stderrTail())
	}
	roots, err := loadCertPool(m.p.caFile)
	if err != nil {
		return nil, err
	}
	return &target{mode: m.peer, proxy: m.p.proxy, roots: roots, pid: m.p.pid(), sinkBase: m.env.sinkBase()}, nil
}

// startMitmproxy runs mitmdump as a MITM proxy that trusts the sink's CA
// upstream and streams bodies over 1 MiB (as sluss does), its own CA in its
// confdir.
func startMitmproxy(ctx context.Context, e *env) (*peerProcess, error) {
	exe, _ := executableOf("mitmdump")
	dir := filepath.Join(e.dir, "mitmproxy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(exe, "-q",
		"--listen-host", "127.0.0.1", "--listen-port", strconv.Itoa(ports[0]),
		"--set", "confdir="+dir,
		"--set", "ssl_verify_upstream_trusted_ca="+e.sink.caFile,
		"--set", "stream_large_bodies=1m",
	)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	p, out, err := startProcess(cmd, "mitmdump")
	if err != nil {
		return nil, err
	}
	go io.Copy(io.Discard, out)
	if err := waitListening(ctx, p, addr, 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("mitmdump did not start: %w%s", err, p.stderrTail())
	}
	ca := filepath.Join(dir, "mitmproxy-ca-cert.pem")
	if _, err := os.Stat(ca); err != nil {
		p.stop()
		return nil, fmt.Errorf("mitmdump wrote no CA certificate: %w", err)
	}
	return &peerProcess{process: p, proxy: &url.URL{Scheme: "http", Host: addr}, caFile: ca}, nil
}

const squidCertgen = "/usr/lib/squid/security_file_certgen"

// squidConf is squid with ssl-bump: stare at the client and server hellos,
// then bump, so the leaf it makes mimics the sink's (with its IP address).
// No cache, no access log: a pure inspecting proxy, as sluss's inspect
// profile is.
const squidConf = `http_port {{addr}} ssl-bump tls-cert={{dir}}/ca.pem tls-key={{dir}}/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program {{certgen}} -s {{dir}}/ssl_db -M 16MB
sslcrtd_children 8 startup=1 idle=1
acl step1 at_step SslBump1
acl step2 at_step SslBump2
ssl_bump stare step1
ssl_bump stare step2
ssl_bump bump all
tls_outgoing_options cafile={{dir}}/upstream-ca.pem
http_access allow localhost
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log {{dir}}/cache.log
pid_filename {{dir}}/squid.pid
coredump_dir {{dir}}
netdb_filename none
logfile_rotate 0
shutdown_lifetime 0 seconds
forwarded_for delete
via off
{{user}}
`

// startSquid runs squid -N (no daemon) with squidConf in its own
// directory, owned by the proxy user when we are root (squid drops to it).
func startSquid(ctx context.Context, e *env) (*peerProcess, error) {
	exe, _ := executableOf("squid")
	dir := filepath.Join(e.dir, "squid")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ca, err := newTestCA("sluss bench squid CA")
	if err != nil {
		return nil, err
	}
	key, err := ca.keyPEM()
	if err != nil {
		return nil, err
	}
	sinkCA, err := os.ReadFile(e.sink.caFile)
	if err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{"ca.pem": ca.certPEM(), "ca.key": key, "upstream-ca.pem": sinkCA} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	if out, err := exec.CommandContext(ctx, squidCertgen, "-c", "-s", filepath.Join(dir, "ssl_db"), "-M", "16MB").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("security_file_certgen -c: %w: %s", err, out)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	userLine := ""
	if os.Geteuid() == 0 {
		u, err := user.Lookup("proxy")
		if err != nil {
			return nil, errors.New("squid runs as the proxy user when started by root, and there is none")
		}
		userLine = "cache_effective_user proxy"
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// squid drops to proxy: it must reach and own its directory.
		os.Chmod(e.dir, 0o711)
		filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err == nil {
				os.Lchown(p, uid, gid)
			}
			return nil
		})
	}
	conf := replaceAll(squidConf, map[string]string{"{{addr}}": addr, "{{dir}}": dir, "{{certgen}}": squidCertgen, "{{user}}": userLine})
	confFile := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-N", "-f", confFile)
	p, out, err := startProcess(cmd, "squid")
	if err != nil {
		return nil, err
	}
	go io.Copy(io.Discard, out)
	if err := waitListening(ctx, p, addr, 30*time.Second); err != nil {
		p.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
		return nil, fmt.Errorf("squid did not start: %w%s\ncache.log:\n%s", err, p.stderrTail(), lastLines(string(log), 20))
	}
	return &peerProcess{process: p, proxy: &url.URL{Scheme: "http", Host: addr}, caFile: filepath.Join(dir, "ca.pem")}, nil
}

func replaceAll(s string, r map[string]string) string {
	for old, v := range r {
		s = strings.ReplaceAll(s, old, v)
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
