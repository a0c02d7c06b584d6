package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rs/zerolog"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/keys"
)

func init() {
	// auditlog FILE N writes a chained audit log of N request events,
	// signed with the checkpoint key of the store in $SLUSS_DATA_DIR and
	// ended with a shutdown checkpoint: what `sluss serve` writes.
	scriptCmds["auditlog"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: auditlog FILE N")
		}
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		store, err := keys.Open(context.Background(), keys.Config{DataDir: ts.Getenv("SLUSS_DATA_DIR")}, zerolog.Nop())
		ts.Check(err)
		defer store.Close()
		key, err := gateway.AuditSigningKey(store)
		ts.Check(err)
		f, err := os.Create(ts.MkAbs(args[0]))
		ts.Check(err)
		a, err := gateway.NewAuditLog(f, gateway.AuditOptions{Key: key, Interval: -1})
		ts.Check(err)
		l := a.Logger()
		for i := range n {
			l.Info().Str("request_id", fmt.Sprintf("%016x", i)).Str("action", "inspect").Int("status", 200).Msg("request")
		}
		ts.Check(a.Close())
		ts.Check(f.Close())
	}
	// lines FILE OP N [OLD NEW] changes line N (1-based): delete, swap
	// (with the next line) or replace (OLD by NEW).
	scriptCmds["lines"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 3 {
			ts.Fatalf("usage: lines FILE delete|swap|replace N [OLD NEW]")
		}
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		ts.Check(err)
		ls := bytes.SplitAfter(b, []byte("\n"))
		i, err := strconv.Atoi(args[2])
		ts.Check(err)
		i--
		switch args[1] {
		case "delete":
			ls = append(ls[:i], ls[i+1:]...)
		case "swap":
			ls[i], ls[i+1] = ls[i+1], ls[i]
		case "replace":
			if len(args) != 5 || !bytes.Contains(ls[i], []byte(args[3])) {
				ts.Fatalf("line %d has no %q", i+1, args[3])
			}
			ls[i] = bytes.Replace(ls[i], []byte(args[3]), []byte(args[4]), 1)
		default:
			ts.Fatalf("unknown op %q", args[1])
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), bytes.Join(ls, nil), 0o644))
	}
}

// startServe runs `sluss serve` in-process with args and returns its
// proxy and admin URLs, its stderr, and a stop function returning its
// exit code.
func startServe(t *testing.T, args ...string) (proxy, admin string, stderr *lockedBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &lockedBuffer{}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...))
	}()
	re := regexp.MustCompile(`proxy:\s+(http://\S+)\s[\s\S]*admin:\s+(http://\S+)/healthz`)
	for i := 0; i < 200; i++ {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			proxy, admin = m[1], m[2]
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if proxy == "" {
		cancel()
		t.Fatalf("no start-up message:\n%s", stderr.String())
	}
	var code *int
	stop = func() int {
		if code == nil {
			cancel()
			c := <-done
			code = &c
		}
		return *code
	}
	t.Cleanup(func() { stop() })
	return proxy, admin, stderr, stop
}

// plainUpstream is a plain-HTTP upstream on loopback that counts requests.
func plainUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, "hello")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func proxyGet(t *testing.T, proxy, target string) (int, string) {
	t.Helper()
	pu, _ := url.Parse(proxy)
	cl := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeAuditUnwritable: `sluss serve` with its audit log on /dev/full
// (a full disk: every write fails with ENOSPC) starts, says why it
// refuses, and refuses requests with the clear error; nothing reaches the
// upstream, /readyz is not ready and the metric counts the failures.
func TestServeAuditUnwritable(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	up, hits := plainUpstream(t)
	host := strings.TrimPrefix(up.URL, "http://")
	proxy, admin, stderr, stop := startServe(t, "--data-dir", t.TempDir(), "--audit-log", "/dev/full", "--approve", host+"=inspect")
	if !strings.Contains(stderr.String(), "no space left on device: the gateway refuses requests until the audit log can be written") {
		t.Errorf("start-up does not warn:\n%s", stderr.String())
	}
	status, body := proxyGet(t, proxy, up.URL+"/x")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "the audit log cannot be written, so the gateway refuses requests") {
		t.Errorf("request with an unwritable audit log: %d %s", status, body)
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the upstream", hits.Load())
	}
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz: %s", resp.Status)
	}
	resp, err = http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^sluss_audit_write_errors_total [1-9]`).Match(m) || !bytes.Contains(m, []byte("sluss_audit_writable 0")) {
		t.Errorf("metrics do not show the failure")
	}
	if code := stop(); code != 1 || !strings.Contains(stderr.String(), "failed to write the final audit checkpoint") {
		t.Errorf("serve exited %d:\n%s", code, stderr.String())
	}
}

// TestServeAuditRotation: requests, a rotation (rename + SIGHUP, as
// logrotate does), more requests, shutdown. Each file verifies alone and
// the set verifies in order; the file before rotation alone, cut after
// a request, does not.
func TestServeAuditRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.json")
	up, hits := plainUpstream(t)
	host := strings.TrimPrefix(up.URL, "http://")
	proxy, _, stderr, stop := startServe(t, "--data-dir", dir, "--audit-log", log, "--approve", host+"=inspect")
	for i := range 3 {
		if status, _ := proxyGet(t, proxy, fmt.Sprintf("%s/%d", up.URL, i)); status != 200 {
			t.Fatalf("GET: %d", status)
		}
	}
	waitFor(t, func() bool { return countIn(log, `"message":"request"`) == 3 })
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, func() bool { return countIn(log, `"kind":"file_start"`) == 1 })
	for i := range 2 {
		if status, _ := proxyGet(t, proxy, fmt.Sprintf("%s/after-%d", up.URL, i)); status != 200 {
			t.Fatalf("GET: %d", status)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, stderr.String())
	}
	if hits.Load() != 5 {
		t.Errorf("%d requests upstream", hits.Load())
	}
	verify := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, append([]string{"audit", "verify"}, args...))
		return code, out.String() + errb.String()
	}
	for _, files := range [][]string{{log + ".1", log}, {log + ".1"}, {log}} {
		if code, out := verify(append([]string{"--data-dir", dir}, files...)...); code != 0 || !strings.Contains(out, "ok: ") {
			t.Errorf("verify %v: exit %d\n%s", files, code, out)
		}
	}
	// An auditor without the key store uses the public key.
	var key bytes.Buffer
	if code := run(context.Background(), &env{stdout: &key, stderr: io.Discard, getenv: func(string) string { return "" }}, []string{"audit", "key", "--data-dir", dir}); code != 0 {
		t.Fatal("audit key failed")
	}
	if code, out := verify("--public-key", strings.TrimSpace(key.String()), log+".1", log); code != 0 {
		t.Errorf("verify --public-key: exit %d\n%s", code, out)
	}
	// The newer file first: the chain runs backwards.
	if code, out := verify("--data-dir", dir, log, log+".1"); code != 1 || !strings.Contains(out, "appears again") {
		t.Errorf("files out of order: exit %d\n%s", code, out)
	}
	b, _ := os.ReadFile(log + ".1")
	os.WriteFile(log+".cut", b[:bytes.LastIndex(b[:len(b)-1], []byte("\n"))+1], 0o600)
	if code, out := verify("--data-dir", dir, log+".cut"); code != 1 || !strings.Contains(out, "without a final checkpoint") {
		t.Errorf("cut file: exit %d\n%s", code, out)
	}
}

func countIn(path, s string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), s)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; !ok(); i++ {
		if i > 200 {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
