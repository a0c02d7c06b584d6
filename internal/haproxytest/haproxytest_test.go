package haproxytest

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestExampleConfigValid: haproxy -c accepts deploy/haproxy/haproxy.cfg as
// it is shipped.
func TestExampleConfigValid(t *testing.T) {
	bin := Binary(t)
	out, err := exec.Command(bin, "-c", "-f", RepoFile(t, ExampleConfig)).CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s", ExampleConfig, err, out)
	}
}

func TestConfig(t *testing.T) {
	backends := []Backend{
		{ProxyAddr: "127.0.0.1:1001", AdminAddr: "127.0.0.1:2001"},
		{Name: "b", ProxyAddr: "127.0.0.1:1002", AdminAddr: "127.0.0.2:2002"},
	}
	tests := []struct {
		name     string
		example  string
		backends []Backend
		want     []string // lines the result must hold
		wantNot  []string // substrings it must not
		err      string
	}{{
		name:     "example",
		example:  "global\n\tmaxconn 20000\n\tuser haproxy\n\tdaemon\n\tstats socket /run/haproxy/admin.sock mode 660 level admin\nfrontend f\n\tbind :8080\n\tdefault_backend g\nbackend g\n\tbalance leastconn\n\tserver gw1 10.0.0.11:8080\n\tserver gw2 10.0.0.12:8080\n",
		backends: backends,
		want: []string{
			"\tstats socket /tmp/s.sock mode 600 level admin",
			"\tmaxconn 1000",
			"\tbind fd@3",
			"\tbalance leastconn",
			"\tserver gw1 127.0.0.1:1001 addr 127.0.0.1 port 2001 inter 100ms fastinter 100ms downinter 100ms",
			"\tserver b 127.0.0.1:1002 addr 127.0.0.2 port 2002 inter 100ms fastinter 100ms downinter 100ms",
		},
		wantNot: []string{"user haproxy", "daemon", "10.0.0.", "/run/haproxy", "20000"},
	}, {
		name:     "no servers",
		example:  "frontend f\n\tbind :8080\n",
		backends: backends,
		err:      "found 1 and 0",
	}, {
		name:     "bad admin address",
		example:  "frontend f\n\tbind :8080\nbackend g\n\tserver gw1 10.0.0.11:8080\n",
		backends: []Backend{{ProxyAddr: "127.0.0.1:1", AdminAddr: "127.0.0.1"}},
		err:      "admin address",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Config(tt.example, "/tmp/s.sock", tt.backends)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Config: err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			lines := strings.Split(got, "\n")
			for _, w := range tt.want {
				if !contains(lines, w) {
					t.Errorf("no line %q in\n%s", w, got)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("%q still in\n%s", w, got)
				}
			}
		})
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// fakeGateway behaves like sluss's listeners as HAProxy sees them: a proxy
// port (here answering any request with the gateway's name) and an admin
// port whose /readyz is 200 or 503.
type fakeGateway struct {
	name      string
	proxy     *http.Server
	proxyAddr string
	adminAddr string
	ready     atomic.Bool
}

func startFakeGateway(t *testing.T, name string) *fakeGateway {
	t.Helper()
	g := &fakeGateway{name: name}
	g.ready.Store(true)
	serve := func(h http.Handler) (*http.Server, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &http.Server{Handler: h}
		go s.Serve(ln)
		t.Cleanup(func() { s.Close() })
		return s, ln.Addr().String()
	}
	g.proxy, g.proxyAddr = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	_, g.adminAddr = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/readyz":
			http.NotFound(w, r)
		case g.ready.Load():
			io.WriteString(w, "ready\n")
		default:
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	return g
}

// TestBalancesAndDropsUnready runs the example configuration for real in
// front of two fake gateways: new connections go to both; a gateway whose
// /readyz fails gets none until it is ready again; connections to a
// gateway that died before the checks noticed go to the other.
func TestBalancesAndDropsUnready(t *testing.T) {
	gw1, gw2 := startFakeGateway(t, "gw1"), startFakeGateway(t, "gw2")
	lb := Start(t, []Backend{
		{ProxyAddr: gw1.proxyAddr, AdminAddr: gw1.adminAddr},
		{ProxyAddr: gw2.proxyAddr, AdminAddr: gw2.adminAddr},
	})
	lb.WaitStatus(t, "gw1", "UP")
	lb.WaitStatus(t, "gw2", "UP")

	// One connection per request, as HAProxy balances connections.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	served := func(n int) map[string]int {
		t.Helper()
		counts := map[string]int{}
		for range n {
			resp, err := client.Get("http://" + lb.Addr + "/")
			if err != nil {
				t.Fatalf("through haproxy: %v", err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("through haproxy: %s %q %v", resp.Status, b, err)
			}
			counts[string(b)]++
		}
		return counts
	}
	want := func(got map[string]int, names ...string) {
		t.Helper()
		if len(got) != len(names) {
			t.Fatalf("served by %v, want exactly %v", got, names)
		}
		for _, n := range names {
			if got[n] == 0 {
				t.Fatalf("served by %v, want exactly %v", got, names)
			}
		}
	}

	want(served(20), "gw1", "gw2")

	gw1.ready.Store(false)
	lb.WaitStatus(t, "gw1", "DOWN")
	want(served(20), "gw2")

	gw1.ready.Store(true)
	lb.WaitStatus(t, "gw1", "UP")
	want(served(20), "gw1", "gw2")

	// gw2's proxy port dies; its /readyz still says ready, so HAProxy
	// still sends it connections: retries and redispatch carry them to
	// gw1, and the clients see no error.
	gw2.proxy.Close()
	want(served(10), "gw1")
	if got := lb.Stat(t, "sluss_gateways", "BACKEND", "wredis"); got == "" || got == "0" {
		t.Errorf("backend redispatches %q: HAProxy never tried the dead gw2, the test proves nothing", got)
	}
}
