package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/internal/haproxytest"
)

// TestServeBehindHAProxy puts two real gateways behind HAProxy running
// deploy/haproxy/haproxy.cfg: HAProxy's checks find both ready on their
// admin /readyz, clients' requests through HAProxy reach the upstream
// through both (their audit logs say so), and when one gateway stops the
// other serves every request, without a client error.
func TestServeBehindHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs HAProxy and two gateways")
	}
	haproxytest.Binary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	u, _ := url.Parse(upstream.URL)
	_, upPort, _ := net.SplitHostPort(u.Host)

	type gw struct {
		proxy, admin, audit string
		stop                func() int // stops the gateway, returns its exit code
	}
	proxyRE := regexp.MustCompile(`proxy:\s+http://(\S+)`)
	adminRE := regexp.MustCompile(`admin:\s+http://(\S+)/healthz`)
	start := func(name string) *gw {
		dir := t.TempDir()
		config := filepath.Join(dir, "sluss.yaml")
		if err := os.WriteFile(config, []byte(fmt.Sprintf(
			"gateway:\n  services:\n    - name: upstream\n      hosts: [127.0.0.1]\n      ports: [%s]\n      profile: inspect\n", upPort)), 0o600); err != nil {
			t.Fatal(err)
		}
		g := &gw{audit: filepath.Join(dir, "audit.json")}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		g.stop = sync.OnceValue(func() int {
			cancel()
			return <-done
		})
		stderr := &lockedBuffer{}
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: func(string) string { return "" }}
		go func() {
			done <- run(ctx, e, []string{"serve", "--config", config, "--data-dir", filepath.Join(dir, "data"),
				"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--audit-log", g.audit})
		}()
		t.Cleanup(func() { g.stop() })
		for deadline := time.Now().Add(30 * time.Second); g.admin == ""; time.Sleep(20 * time.Millisecond) {
			out := stderr.String()
			if p, a := proxyRE.FindStringSubmatch(out), adminRE.FindStringSubmatch(out); p != nil && a != nil {
				g.proxy, g.admin = p[1], a[1]
			} else if time.Now().After(deadline) {
				t.Fatalf("gateway %s did not start:\n%s", name, out)
			}
		}
		return g
	}
	gw1, gw2 := start("gw1"), start("gw2")
	lb := haproxytest.Start(t, []haproxytest.Backend{
		{ProxyAddr: gw1.proxy, AdminAddr: gw1.admin},
		{ProxyAddr: gw2.proxy, AdminAddr: gw2.admin},
	})
	// UP after passing checks on the real /readyz.
	lb.WaitStatus(t, "gw1", "UP")
	lb.WaitStatus(t, "gw2", "UP")
	if got := lb.Stat(t, "sluss_gateways", "gw1", "check_status"); got != "L7OK" {
		t.Fatalf("gw1's check status %q, want L7OK (a passed HTTP check)", got)
	}

	// The proxy named explicitly: Go skips proxies from the environment
	// for loopback URLs.
	lbURL := &url.URL{Scheme: "http", Host: lb.Addr}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(lbURL), DisableKeepAlives: true}}
	get := func(path string) {
		t.Helper()
		resp, err := client.Get(upstream.URL + path)
		if err != nil {
			t.Fatalf("GET %s through HAProxy: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "upstream "+path {
			t.Fatalf("GET %s through HAProxy: %s %q", path, resp.Status, b)
		}
	}
	audited := func(g *gw, prefix string) int {
		t.Helper()
		b, err := os.ReadFile(g.audit)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), `"path":"`+prefix)
	}

	for i := range 10 {
		get(fmt.Sprintf("/both-%d", i))
	}
	if n1, n2 := audited(gw1, "/both-"), audited(gw2, "/both-"); n1 == 0 || n2 == 0 || n1+n2 != 10 {
		t.Fatalf("audited by gw1 %d, gw2 %d; want both, 10 in all", n1, n2)
	}

	// gw1 stops: its requests go to gw2 (redispatched until the checks
	// mark gw1 down), none fails.
	if code := gw1.stop(); code != 0 {
		t.Fatalf("gw1 exited %d", code)
	}
	for i := range 10 {
		get(fmt.Sprintf("/one-%d", i))
	}
	lb.WaitStatus(t, "gw1", "DOWN")
	if n1, n2 := audited(gw1, "/one-"), audited(gw2, "/one-"); n1 != 0 || n2 != 10 {
		t.Fatalf("after gw1 stopped, audited by gw1 %d, gw2 %d; want 0 and 10", n1, n2)
	}
}
