package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeZeroConfig starts `sluss serve` with only a data directory and
// loopback ports, and checks the start-up message, the admin endpoints and
// `sluss ca export`.
func TestServeZeroConfig(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lockedBuffer{}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: func(string) string { return "" }}
	done := make(chan int)
	go func() {
		done <- run(ctx, e, []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--approve", "*.example.org=webdav"})
	}()
	adminRE := regexp.MustCompile(`admin:\s+(http://\S+)/healthz`)
	var admin string
	for i := 0; i < 100 && admin == ""; i++ {
		if m := adminRE.FindStringSubmatch(stderr.String()); m != nil {
			admin = m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if admin == "" {
		cancel()
		t.Fatalf("no start-up message:\n%s", stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{"proxy:      http://127.0.0.1:", "recipient:  age1pq1", filepath.Join(dir, "ca.pem"), "update-ca-certificates"} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up message lacks %q:\n%s", want, out)
		}
	}
	// The API pseudonymizes with the region's keys and the bolt store
	// in the data directory, and re-identifies back (loopback: no token).
	resp, err := http.Post(admin+"/v1/pseudonymize", "application/json", strings.NewReader(`{"personnummer":"19121212-1212"}`))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(tok, []byte("1212")) || !bytes.Contains(tok, []byte("sl_pnr")) {
		t.Errorf("/v1/pseudonymize: %s", resp.Status)
	}
	resp, err = http.Post(admin+"/v1/reidentify", "application/json", bytes.NewReader(tok))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(back) != `{"personnummer":"19121212-1212"}` {
		t.Errorf("/v1/reidentify: %s", resp.Status)
	}
	if _, err := os.Stat(filepath.Join(dir, "pseudonyms.db")); err != nil {
		t.Errorf("no re-identification store in the data dir: %v", err)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/proxy.pac", "/v1/recipient", "/v1/openapi.yaml"} {
		resp, err := http.Get(admin + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, err, resp)
		} else {
			resp.Body.Close()
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, stderr.String())
	}
	var pem bytes.Buffer
	if code := run(context.Background(), &env{stdout: &pem, stderr: os.Stderr, getenv: func(string) string { return "" }}, []string{"ca", "export", "--data-dir", dir}); code != 0 {
		t.Fatalf("ca export exited %d", code)
	}
	if file, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(file, pem.Bytes()) || !bytes.HasPrefix(file, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("ca export differs from the CA file serve wrote")
	}
}

func TestServeRefusesOpenListener(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	if code := run(context.Background(), e, []string{"serve", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0", "--admin-listen", "127.0.0.1:0"}); code == 0 {
		t.Errorf("serve listened on all interfaces without user authentication")
	}
}

// TestServeNamesLoadBalancer: with pac_proxy set (gateways behind a load
// balancer), the start-up message and the PAC file name the balancer's
// address for clients, and the message still shows this gateway's own.
func TestServeNamesLoadBalancer(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluss.yaml")
	os.WriteFile(cfg, []byte("keys:\n  data_dir: "+filepath.Join(dir, "keys")+"\ngateway:\n  pac_proxy: lb.region.example:3128\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: func(string) string { return "" }}
	done := make(chan int)
	go func() {
		done <- run(ctx, e, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"})
	}()
	adminRE := regexp.MustCompile(`admin:\s+(http://\S+)/healthz`)
	var admin string
	for i := 0; i < 200 && admin == ""; i++ {
		if m := adminRE.FindStringSubmatch(stderr.String()); m != nil {
			admin = m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if admin == "" {
		t.Fatalf("no start-up message:\n%s", stderr.String())
	}
	time.Sleep(50 * time.Millisecond)
	out := stderr.String()
	if !strings.Contains(out, "clients:    http://lb.region.example:3128") || !strings.Contains(out, "proxy:      http://127.0.0.1:") {
		t.Errorf("the start-up message does not name the balancer and the gateway:\n%s", out)
	}
	resp, err := http.Get(admin + "/proxy.pac")
	if err != nil {
		t.Fatal(err)
	}
	pac, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(pac, []byte("PROXY lb.region.example:3128")) {
		t.Errorf("the PAC file does not name the balancer:\n%s", pac)
	}
	cancel()
	<-done
}
