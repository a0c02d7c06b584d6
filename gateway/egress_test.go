package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"93.184.216.34", ""},
		{"2606:2800:220:1:248:1893:25c8:1946", ""},
		{"127.0.0.1", codeLoopback},
		{"127.8.9.10", codeLoopback},
		{"::1", codeLoopback},
		{"::ffff:127.0.0.1", codeLoopback},
		{"::127.0.0.1", codeLoopback},
		{"64:ff9b::7f00:1", codeLoopback},
		{"64:ff9b::a9fe:a9fe", codeLinkLocal},
		{"169.254.169.254", codeLinkLocal},
		{"fe80::1", codeLinkLocal},
		{"10.1.2.3", codePrivate},
		{"172.16.0.1", codePrivate},
		{"172.31.255.255", codePrivate},
		{"172.32.0.1", ""},
		{"192.168.1.1", codePrivate},
		{"100.64.0.1", codePrivate},
		{"fd00::1", codePrivate},
		{"0.0.0.0", codeUnspecified},
		{"0.1.2.3", codeUnspecified},
		{"::", codeUnspecified},
		{"224.0.0.1", codeMulticast},
		{"ff02::1", codeMulticast},
		{"255.255.255.255", codeReserved},
		{"192.0.2.7", codeReserved},
	} {
		if got := classify(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("classify(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	r := egressRule{allowPrivate: true}
	if r.allowed(netip.MustParseAddr("10.0.0.1")) != "" || r.allowed(netip.MustParseAddr("127.0.0.1")) != codeLoopback {
		t.Error("allow_private must allow private ranges and nothing more")
	}
	r = egressRule{allowLoopback: true}
	if r.allowed(netip.MustParseAddr("127.0.0.1")) != "" || r.allowed(netip.MustParseAddr("169.254.169.254")) != codeLinkLocal {
		t.Error("allow_loopback must allow loopback and nothing more")
	}
	for _, h := range []string{"127.0.0.1", "[::1]", "localhost", "LOCALHOST.", "app.localhost"} {
		if !isLoopbackName(h) {
			t.Errorf("%s names loopback", h)
		}
	}
}

func TestApproveSpec(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		host  string
		ports []int
		bad   bool
	}{
		{spec: "files.example.com", host: "files.example.com"},
		{spec: "files.example.com:8443=webdav", host: "files.example.com", ports: []int{8443}},
		{spec: "127.0.0.1:443,8443=form", host: "127.0.0.1", ports: []int{443, 8443}},
		{spec: "[::1]:8443", host: "::1", ports: []int{8443}},
		{spec: "*.example.org:99999", bad: true},
		{spec: "files.example.com:http", bad: true},
	} {
		var c Config
		err := c.Approve(tc.spec)
		if tc.bad {
			if err == nil {
				t.Errorf("Approve(%q) accepted", tc.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("Approve(%q): %v", tc.spec, err)
			continue
		}
		sc := c.Services[0]
		if sc.Hosts[0] != tc.host || fmt.Sprint(sc.Ports) != fmt.Sprint(tc.ports) {
			t.Errorf("Approve(%q) = %v %v, want %s %v", tc.spec, sc.Hosts, sc.Ports, tc.host, tc.ports)
		}
	}
}

// TestEgress tries, with real curl and --default tunnel, every way to make
// the gateway connect where policy did not approve: its own admin and
// proxy listeners, unlisted loopback, a name that resolves to loopback or
// to cloud metadata, IPv4 wrapped in IPv6, a name that re-resolves
// between check and dial, and an approved host on a port it does not
// allow; over CONNECT (tunnelled and inspected) and plain HTTP. Every
// refusal is a 403 with a reason code in the audit log, and nothing is
// dialled but the test cloud.
func TestEgress(t *testing.T) {
	c := newCloud(t)
	pl, al := loopbackListeners(t)
	proxyPort, adminPort := pl.Addr().(*net.TCPAddr).Port, al.Addr().(*net.TCPAddr).Port
	cfg := Config{
		Default:    "tunnel",
		UpstreamCA: c.caFile,
		Services: []ServiceConfig{
			// Lists loopback itself, and (wrongly) the gateway's own ports:
			// they stay out of reach anyway.
			{Name: "cloud", Hosts: []string{"127.0.0.1"}, Profile: "inspect", Ports: []int{c.port(), adminPort, proxyPort}},
			{Name: "local-tunnel", Hosts: []string{"localhost"}, Action: "tunnel", Ports: []int{adminPort, proxyPort}},
			{Name: "rebind", Hosts: []string{"rebind.test"}, Profile: "inspect"},
		},
	}
	k := newTestKeys(t)
	h := newHarnessOn(t, cfg, k, k.caPEM, k.id.SecretKey(), pl, al)
	h.keys = k

	// Nothing may be dialled but the cloud; a bug must not reach out.
	var dialled atomic.Int64
	cloudAddr := c.host()
	h.hookDial(func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != cloudAddr {
			t.Errorf("the gateway dialled %s", addr)
			return nil, fmt.Errorf("test: dial of %s refused", addr)
		}
		dialled.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	})
	// rebind.test answers a public address to the check and loopback to
	// the dial: the second lookup must be the one that counts.
	var lookups atomic.Int64
	names := map[string]string{"sneaky.test": "127.0.0.1", "metadata.test": "169.254.169.254",
		"intranet.test": "10.20.30.40", "mapped.test": "::ffff:127.0.0.1", "localhost": "127.0.0.1"}
	h.hookResolve(func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host == "rebind.test" {
			if lookups.Add(1) == 1 {
				return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		if a, ok := names[host]; ok {
			return []netip.Addr{netip.MustParseAddr(a)}, nil
		}
		return nil, fmt.Errorf("test: no such host %s", host)
	})

	admin, proxy := strconv.Itoa(adminPort), strconv.Itoa(proxyPort)
	for _, tc := range []struct {
		name, url, code string
	}{
		{"admin listener, CONNECT", "https://127.0.0.1:" + admin + "/v1/reidentify", codeOwnListener},
		{"admin listener, plain", "http://127.0.0.1:" + admin + "/v1/reidentify", codeOwnListener},
		{"admin listener by name, tunnel", "https://localhost:" + admin + "/healthz", codeOwnListener},
		{"admin listener by name, plain", "http://localhost:" + admin + "/healthz", codeOwnListener},
		{"proxy listener, CONNECT", "https://127.0.0.1:" + proxy + "/", codeOwnListener},
		{"proxy listener, plain", "http://127.0.0.1:" + proxy + "/", codeOwnListener},
		{"admin listener via 127.0.0.2", "https://127.0.0.2:" + admin + "/", codePort},
		{"unlisted loopback, tunnel", "https://127.0.0.2/", codeLoopback},
		{"unlisted loopback, plain", "http://127.0.0.2/", codeLoopback},
		{"unlisted IPv6 loopback", "https://[::1]/", codeLoopback},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/", codeLoopback},
		{"name resolving to loopback, tunnel", "https://sneaky.test/", codeLoopback},
		{"name resolving to loopback, plain", "http://sneaky.test/v1/decrypt", codeLoopback},
		{"name resolving to mapped loopback", "https://mapped.test/", codeLoopback},
		{"name on the admin port", "https://sneaky.test:" + admin + "/", codePort},
		{"cloud metadata by name", "http://metadata.test/latest/meta-data/", codeLinkLocal},
		{"cloud metadata by address", "http://169.254.169.254/latest/meta-data/", codeLinkLocal},
		{"cloud metadata, tunnel", "https://169.254.169.254/", codeLinkLocal},
		{"private range", "https://intranet.test/", codePrivate},
		{"unspecified", "https://0.0.0.0/", codeUnspecified},
		{"approved host, other port", "https://127.0.0.1:22/", codePort},
		{"approved host, plain, other port", "http://127.0.0.1:" + strconv.Itoa(c.port()+1) + "/", codePort},
		{"re-resolved to loopback after the check", "https://rebind.test/", codeLoopback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(h.audit.String(), `"reason_code":"`+tc.code+`"`)
			out, _, _ := h.curl(t, "-o", "/dev/null", "-w", "%{http_connect} %{http_code}", tc.url)
			status := strings.Fields(out)
			if len(status) != 2 || (status[0] != "403" && status[1] != "403") {
				t.Fatalf("%s: curl saw CONNECT/HTTP status %q, want 403", tc.url, out)
			}
			if after := strings.Count(h.audit.String(), `"reason_code":"`+tc.code+`"`); after != before+1 {
				t.Errorf("%s: %d audit events with reason_code %s, want %d", tc.url, after, tc.code, before+1)
			}
		})
	}
	if n := dialled.Load(); n != 0 {
		t.Errorf("the gateway dialled the cloud %d times; no case should reach it", n)
	}

	// The approved service still works, on its port.
	out, _, err := h.curl(t, "-o", "/dev/null", "-w", "%{http_code}", c.URL()+"/nothing-here")
	if err != nil || out != "404" {
		t.Fatalf("approved service: %q %v, want 404 from the cloud", out, err)
	}
	if dialled.Load() == 0 || !h.auditHas(t, `"path":"/nothing-here"`, `"status":404`) {
		t.Error("the approved request did not reach the cloud through the gateway")
	}
}

// TestAdminNeverLocalThroughProxy checks the admin API's defence in
// depth: even where the egress rules let the gateway reach an admin
// handler (one it was not told it serves), the proxied request is not a
// local caller and gets 401.
func TestAdminNeverLocalThroughProxy(t *testing.T) {
	c := newCloud(t)
	side, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := side.Addr().(*net.TCPAddr).Port
	cfg := storageConfig(c, "inspect")
	cfg.Services = append(cfg.Services, ServiceConfig{Name: "side", Hosts: []string{"localhost"}, Profile: "inspect", Ports: []int{port}})
	h := newHarness(t, cfg)
	srv := &http.Server{Handler: h.gw.AdminHandler()}
	go srv.Serve(side)
	t.Cleanup(func() { srv.Close() })

	// Directly from loopback, the handler serves a local caller.
	resp, err := http.Post("http://"+side.Addr().String()+"/v1/pseudonymize", "text/plain", strings.NewReader("hej"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("direct local call: %d, want 200", resp.StatusCode)
	}
	// Through the proxy it does not.
	out, _, err := h.curl(t, "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "hej", "-H", "Content-Type: text/plain",
		fmt.Sprintf("http://localhost:%d/v1/pseudonymize", port))
	if err != nil || out != "401" {
		t.Fatalf("proxied call to an admin handler: %q %v, want 401", out, err)
	}
}

type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// TestFromGatewayBothEnds: a local caller whose source port happens to be
// the source port of one of the gateway's upstream connections (Linux
// reuses a port towards another destination) is not taken for the
// gateway: a connection is known by both its ends.
func TestFromGatewayBothEnds(t *testing.T) {
	o := newOwnListeners()
	up := addrConn{local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}}
	o.dialled(up)
	if !o.fromGateway("127.0.0.1:40000", "127.0.0.1:8443") {
		t.Error("the gateway's own connection arriving at 8443 was not recognised")
	}
	if o.fromGateway("127.0.0.1:40000", "127.0.0.1:8081") {
		t.Error("a local caller on the same source port towards the admin listener was taken for the gateway")
	}
	o.closed(up)
	if o.fromGateway("127.0.0.1:40000", "127.0.0.1:8443") {
		t.Error("a closed connection is still known")
	}
}
