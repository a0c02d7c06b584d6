package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode names.
const (
	ModeDirect    = "direct"          // client to sink, no proxy
	ModeInspect   = "gateway-inspect" // sluss serve, profile inspect: MITM and audit only
	ModeFull      = "gateway-full"    // sluss serve, the scenario's full policy (storage, form)
	ModeProxy     = "gateway"         // a gateway already running (--proxy)
	ModeMitmproxy = "mitmproxy"       // Debian's mitmdump as MITM peer
	ModeSquid     = "squid"           // Debian's squid-openssl with ssl-bump as MITM peer
)

// DefaultModes are measured when none are asked for.
var DefaultModes = []string{ModeDirect, ModeInspect, ModeFull}

// mode prepares the way requests of a scenario take.
type mode interface {
	name() string
	// target returns where the scenario's requests go, starting what is
	// needed; errNotAvailable if this mode cannot carry the scenario.
	target(ctx context.Context, s *Scenario) (*target, error)
	close()
}

// env is what every mode may need: the sink, the sluss binary, a scratch
// directory.
type env struct {
	exe  string
	dir  string
	sink *sinkProcess
	log  func(string)
}

func (e *env) sinkBase() string { return "https://" + e.sink.addr }

// directMode goes straight to the sink.
type directMode struct{ env *env }

func (m *directMode) name() string { return ModeDirect }
func (m *directMode) close()       {}
func (m *directMode) target(ctx context.Context, s *Scenario) (*target, error) {
	if s.API {
		return nil, errNotAvailable{"the API has no direct equivalent"}
	}
	roots, err := loadCertPool(m.env.sink.caFile)
	if err != nil {
		return nil, err
	}
	return &target{mode: ModeDirect, roots: roots, sinkBase: m.env.sinkBase()}, nil
}

// gatewayMode runs `sluss serve` as child processes, one per profile, each
// kept for the whole bench.
type gatewayMode struct {
	env      *env
	mode     string // ModeInspect or ModeFull
	gateways map[string]*gatewayProcess
	failed   map[string]error
}

func newGatewayMode(e *env, mode string) *gatewayMode {
	return &gatewayMode{env: e, mode: mode, gateways: map[string]*gatewayProcess{}, failed: map[string]error{}}
}

func (m *gatewayMode) name() string { return m.mode }

func (m *gatewayMode) close() {
	for _, g := range m.gateways {
		g.stop()
	}
}

func (m *gatewayMode) target(ctx context.Context, s *Scenario) (*target, error) {
	profile := "inspect"
	if m.mode == ModeFull {
		profile = s.profile
		if s.API {
			profile = "storage"
		}
	} else if s.API {
		return nil, errNotAvailable{"the API is measured on the full gateway"}
	}
	g, err := m.gateway(ctx, profile)
	if err != nil {
		return nil, err
	}
	t := &target{mode: m.mode, pid: g.pid(), sinkBase: m.env.sinkBase()}
	if s.API {
		t.apiBase = g.adminURL
		return t, nil
	}
	t.proxy = g.proxyURL
	t.roots, err = loadCertPool(g.caFile)
	return t, err
}

func (m *gatewayMode) gateway(ctx context.Context, profile string) (*gatewayProcess, error) {
	if g := m.gateways[profile]; g != nil {
		if !g.running() {
			return nil, fmt.Errorf("the %s gateway exited%s", profile, g.stderrTail())
		}
		return g, nil
	}
	if err := m.failed[profile]; err != nil {
		return nil, err
	}
	m.env.log(fmt.Sprintf("starting sluss serve --approve %s=%s", m.env.sink.addr, profile))
	g, err := startGateway(ctx, m.env, profile, m.env.sink.addr+"="+profile) // 127.0.0.1:PORT: the sink's port only
	if err != nil {
		m.failed[profile] = err
		return nil, err
	}
	m.gateways[profile] = g
	return g, nil
}

// gatewayProcess is a running `sluss serve`.
type gatewayProcess struct {
	*process
	proxyURL *url.URL
	adminURL string
	caFile   string
	dir      string // its data directory: keys, CA, re-identification store
}

// startGateway starts `sluss serve` named name with the given --approve
// specs (the sink's host and port with a profile), trusting the sink's CA
// upstream, in its own data directory, and waits until /readyz answers
// 200.
func startGateway(ctx context.Context, e *env, name string, approve ...string) (*gatewayProcess, error) {
	dir := filepath.Join(e.dir, "gateway-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	listen, admin := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	args := []string{"serve", "--listen", listen, "--admin-listen", admin, "--data-dir", dir, "--upstream-ca", e.sink.caFile}
	for _, a := range approve {
		args = append(args, "--approve", a)
	}
	cmd := exec.Command(e.exe, args...)
	cmd.Env = append(os.Environ(), "SLUSS_DATA_DIR="+dir)
	// The audit log goes to standard output by default: the gateway writes
	// every event, to /dev/null, so reading it costs the bench nothing.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	cmd.Stdout = devNull
	p, _, err := startProcess(cmd, "sluss serve ("+name+")")
	if err != nil {
		return nil, err
	}
	g := &gatewayProcess{process: p, proxyURL: &url.URL{Scheme: "http", Host: listen}, adminURL: "http://" + admin, dir: dir}
	if err := waitReady(ctx, p, g.adminURL+"/readyz", 30*time.Second); err != nil {
		p.stop()
		if strings.Contains(p.stderr.String(), "unknown profile") {
			return nil, errNotAvailable{fmt.Sprintf("this sluss serve lacks a profile of %q", approve)}
		}
		return nil, fmt.Errorf("sluss serve (%s) did not become ready: %w%s", name, err, p.stderrTail())
	}
	ca, err := exportCA(ctx, e.exe, dir)
	if err != nil {
		p.stop()
		return nil, err
	}
	g.caFile = filepath.Join(dir, "bench-gateway-ca.pem")
	if err := os.WriteFile(g.caFile, ca, 0o644); err != nil {
		p.stop()
		return nil, err
	}
	return g, nil
}

// exportCA asks `sluss ca export` for the gateway's CA certificate.
func exportCA(ctx context.Context, exe, dir string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "ca", "export", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "SLUSS_DATA_DIR="+dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("sluss ca export: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if !bytes.Contains(out, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("sluss ca export printed no PEM certificate")
	}
	return out, nil
}

// waitReady polls url until it answers 200, the process exits, or d passes.
func waitReady(ctx context.Context, p *process, url string, d time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if !p.running() {
			return fmt.Errorf("exited: %v", p.err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !sleepCtx(ctx, time.Duration(min(20+attempt*20, 200))*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("no 200 from %s within %v", url, d)
}

// waitListening polls addr until it accepts TCP connections.
func waitListening(ctx context.Context, p *process, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if !p.running() {
			return fmt.Errorf("exited: %v", p.err)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if !sleepCtx(ctx, time.Duration(min(20+attempt*20, 200))*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("nothing listening on %s within %v", addr, d)
}

// freePorts picks n free loopback ports. Another process could take one
// before it is used; the start then fails with a clear error.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// externalMode is a gateway already running, given by address.
type externalMode struct {
	env   *env
	proxy *url.URL
	ca    string
	pid   int
	api   string
}

func (m *externalMode) name() string { return ModeProxy }
func (m *externalMode) close()       {}
func (m *externalMode) target(ctx context.Context, s *Scenario) (*target, error) {
	t := &target{mode: ModeProxy, pid: m.pid, sinkBase: m.env.sinkBase()}
	if s.API {
		if m.api == "" {
			return nil, errNotAvailable{"give --api URL of the gateway's admin listener"}
		}
		t.apiBase = m.api
		return t, nil
	}
	var err error
	t.proxy = m.proxy
	t.roots, err = loadCertPool(m.ca)
	return t, err
}

// auditedGateway is a `sluss serve` from a configuration file of a
// scenario's own (s3, nextcloud, tus, graph), with its audit log in a file
// the scenario reads afterwards.
type auditedGateway struct {
	*gatewayProcess
	auditFile string
}

// startAuditedGateway starts sluss serve with cfg, keeping what it writes
// in dir, and waits until it is ready; name is for messages.
func startAuditedGateway(ctx context.Context, e *env, cfg, dir, name string) (*auditedGateway, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	listen, admin := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	g := &auditedGateway{auditFile: filepath.Join(dir, "audit.jsonl")}
	cmd := exec.Command(e.exe, "serve", "--config", cfg, "--listen", listen, "--admin-listen", admin, "--audit-log", g.auditFile)
	cmd.Env = append(os.Environ(), "SLUSS_CONFIG=", "SLUSS_DATA_DIR=")
	cmd.Stdout = io.Discard
	p, _, err := startProcess(cmd, "sluss serve ("+name+")")
	if err != nil {
		return nil, err
	}
	g.gatewayProcess = &gatewayProcess{process: p, proxyURL: &url.URL{Scheme: "http", Host: listen}, adminURL: "http://" + admin, dir: dir}
	if err := waitReady(ctx, p, g.adminURL+"/readyz", 30*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("sluss serve (%s) did not become ready: %w%s", name, err, p.stderrTail())
	}
	return g, nil
}

// auditEvents counts the audit log's events by action.
func (g *auditedGateway) auditEvents() (map[string]int, error) {
	f, err := os.Open(g.auditFile)
	if err != nil {
		return nil, fmt.Errorf("reading the gateway's audit log: %w", err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Action string `json:"action"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Action != "" {
			out[ev.Action]++
		}
	}
	return out, sc.Err()
}
