package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// auditFile is one file given to the verifier.
type auditFile struct {
	name string
	data []byte
}

func verifyAudit(t testing.TB, pub ed25519.PublicKey, open bool, files ...auditFile) *AuditReport {
	t.Helper()
	v := NewAuditVerifier(pub)
	v.Open = open
	for _, f := range files {
		if err := v.Verify(f.name, bytes.NewReader(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	return v.Report()
}

func problemsText(r *AuditReport) string {
	var b strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s [%s]\n", p, p.Kind)
	}
	return b.String()
}

// splitLines splits a log into its lines, each with its newline.
func splitLines(b []byte) [][]byte {
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

// TestAuditTamper runs a real gateway (uploads, downloads, a blocked
// host, an API call), then tampers with the audit file it wrote: each
// change is found, at the right line; the untouched file is clean.
func TestAuditTamper(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	cl := h.client("", "")
	for i := range 4 {
		name := fmt.Sprintf("%s/file-%d.txt", c.URL(), i)
		req, _ := http.NewRequest(http.MethodPut, name, bytes.NewReader(content(2000+i, uint64(i))))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp, err = cl.Get(name); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp, err := cl.Get("http://blocked.example.net/"); err == nil {
		resp.Body.Close()
	}
	if resp, err := http.Get(h.admin + "/v1/recipient"); err == nil {
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.gw.Shutdown(ctx) // every request's event is written
	if err := h.auditLog.Close(); err != nil {
		t.Fatal(err)
	}
	if !h.auditHas(t, `"action":"encrypt"`) || !h.auditHas(t, `"action":"decrypt"`) || !h.auditHas(t, `"action":"block"`) || !h.auditHas(t, `"service":"api"`) {
		t.Fatalf("the audit log lacks the requests:\n%s", h.audit.String())
	}
	clean := []byte(h.audit.String())
	lines := splitLines(clean)
	n := len(lines)
	// k is a request event in the middle, with an event after it.
	k := n / 2
	for !bytes.Contains(lines[k-1], []byte(`"message":"request"`)) || !bytes.Contains(lines[k], []byte(`"message":"request"`)) {
		k++
	}
	pub := h.auditKey.Public().(ed25519.PublicKey)
	join := func(ls [][]byte) []byte { return bytes.Join(ls, nil) }
	without := func(i int) []byte { // delete line i (1-based)
		ls := append(append([][]byte{}, lines[:i-1]...), lines[i:]...)
		return join(ls)
	}
	edited := func(i int, from, to string) []byte {
		ls := append([][]byte{}, lines...)
		if !bytes.Contains(ls[i-1], []byte(from)) {
			t.Fatalf("line %d has no %s", i, from)
		}
		ls[i-1] = bytes.Replace(ls[i-1], []byte(from), []byte(to), 1)
		return join(ls)
	}
	swapped := func(i int) []byte { // swap lines i and i+1
		ls := append([][]byte{}, lines...)
		ls[i-1], ls[i] = ls[i], ls[i-1]
		return join(ls)
	}
	status := string(bytes.TrimSuffix(bytes.SplitN(bytes.SplitN(lines[k-1], []byte(`"status":`), 2)[1], []byte(","), 2)[0], []byte("}")))
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		log  []byte
		key  ed25519.PublicKey
		kind string // of the first problem; "" for none
		line int
	}{
		{"untouched", clean, pub, "", 0},
		{"line deleted", without(k), pub, AuditGap, k},
		{"first line deleted", without(1), pub, AuditStart, 1},
		{"status edited", edited(k, `"status":`+status, `"status":403`), pub, AuditEdit, k},
		{"lines swapped", swapped(k), pub, AuditReorder, k},
		{"line repeated", join(append(append(append([][]byte{}, lines[:k]...), lines[k-1]), lines[k:]...)), pub, AuditDuplicate, k + 1},
		{"tail cut", join(lines[:n-3]), pub, AuditEnd, n - 3},
		{"final checkpoint removed", join(lines[:n-1]), pub, AuditEnd, n - 1},
		{"cut mid-line", clean[:len(clean)-10], pub, AuditCut, n},
		{"final checkpoint edited", edited(n, `"kind":"shutdown"`, `"kind":"file_end"`), pub, AuditSignature, n},
		{"line added", join(append(append([][]byte{}, lines[:k]...), append([][]byte{[]byte(`{"level":"info","action":"inspect"}` + "\n")}, lines[k:]...)...)), pub, AuditUnchained, k + 1},
		{"another key", clean, other, AuditKey, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyAudit(t, tc.key, false, auditFile{"audit.json", tc.log})
			t.Logf("%d lines:\n%s", n, problemsText(r))
			if tc.kind == "" {
				if len(r.Problems) > 0 {
					t.Fatalf("problems in the untouched log:\n%s", problemsText(r))
				}
				if len(r.Chains) != 1 || r.Chains[0].End != checkpointShutdown || r.Chains[0].LastSeq != uint64(n) {
					t.Fatalf("chains: %+v", r.Chains)
				}
				return
			}
			if len(r.Problems) == 0 {
				t.Fatal("not detected")
			}
			if p := r.Problems[0]; p.Kind != tc.kind || p.Line != tc.line || p.File != "audit.json" {
				t.Fatalf("first problem %s [%s], want %s at line %d; all:\n%s", p, p.Kind, tc.kind, tc.line, problemsText(r))
			}
			for _, p := range r.Problems {
				if strings.Contains(p.Text, `"`) || strings.Contains(p.Text, "status") || strings.Contains(p.Text, "file-") {
					t.Errorf("a problem quotes the event: %s", p)
				}
			}
		})
	}
}

// TestAuditConcurrent writes from many goroutines: one chain, in order.
func TestAuditConcurrent(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var buf syncBuffer
	a, err := NewAuditLog(&buf, AuditOptions{Key: key, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Logger()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				l.Info().Int("g", g).Int("i", i).Str("action", "inspect").Msg("request")
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	r := verifyAudit(t, key.Public().(ed25519.PublicKey), false, auditFile{"audit.json", []byte(buf.String())})
	if len(r.Problems) > 0 || len(r.Chains) != 1 {
		t.Fatalf("problems:\n%s", problemsText(r))
	}
	if got := strings.Count(buf.String(), `"message":"request"`); got != 16*200 {
		t.Fatalf("%d events, want %d", got, 16*200)
	}
	t.Logf("%d lines, %d checkpoints", r.Lines, r.Chains[0].Checkpoints)
}

// TestAuditRotateAndInterleave: two instances write one file, one of them
// rotates; each file verifies alone and the set in order.
func TestAuditRotateAndInterleave(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	var first, second, other syncBuffer
	a, _ := NewAuditLog(&first, AuditOptions{Key: key, Interval: -1})
	b, _ := NewAuditLog(&first, AuditOptions{Key: key, Interval: -1}) // another gateway, same file
	la, lb := a.Logger(), b.Logger()
	for i := range 10 {
		la.Info().Int("i", i).Msg("request")
		lb.Info().Int("i", i).Msg("request")
	}
	if old, err := a.Rotate(&second); err != nil || old != io.Writer(&first) {
		t.Fatalf("rotate: %v", err)
	}
	for i := range 5 {
		la.Info().Int("i", i).Msg("request")
	}
	a.Checkpoint()
	la.Info().Msg("request")
	a.Close()
	b.Close()
	c, _ := NewAuditLog(&other, AuditOptions{Key: key, Interval: -1})
	c.Close()

	f1, f2 := auditFile{"audit.json.1", []byte(first.String())}, auditFile{"audit.json", []byte(second.String())}
	for _, tc := range []struct {
		name   string
		files  []auditFile
		chains int
	}{
		{"first alone", []auditFile{f1}, 2},
		{"second alone", []auditFile{f2}, 1},
		{"in order", []auditFile{f1, f2}, 2},
	} {
		r := verifyAudit(t, pub, false, tc.files...)
		if len(r.Problems) > 0 || len(r.Chains) != tc.chains {
			t.Errorf("%s: %d chains, problems:\n%s", tc.name, len(r.Chains), problemsText(r))
		}
	}
	if r := verifyAudit(t, pub, false, f2, f1); len(r.Problems) == 0 {
		t.Errorf("files in the wrong order verify")
	}
	// A file that starts mid-chain without a file_start checkpoint: the
	// first lines of the second file removed.
	cut := bytes.Join(splitLines(f2.data)[2:], nil)
	if r := verifyAudit(t, pub, false, auditFile{"audit.json", cut}); len(r.Problems) == 0 || r.Problems[0].Kind != AuditStart {
		t.Errorf("a file without its first lines: %s", problemsText(r))
	}
	// Open: a chain still being written is a warning, not a problem.
	live := bytes.Join(splitLines(f2.data)[:len(splitLines(f2.data))-1], nil)
	if r := verifyAudit(t, pub, true, auditFile{"audit.json", live}); len(r.Problems) > 0 || len(r.Warnings) != 1 {
		t.Errorf("open chain: problems:\n%swarnings %v", problemsText(r), r.Warnings)
	}
	// Compressed rotated files are read as they are.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(f1.data)
	zw.Close()
	if r := verifyAudit(t, pub, false, auditFile{"audit.json.1.gz", gz.Bytes()}, f2); len(r.Problems) > 0 {
		t.Errorf("gzip: %s", problemsText(r))
	}
}

// TestAuditUnwritable: an audit log that becomes unwritable (a FIFO whose
// reader goes away, then /dev/full) refuses every request — proxied,
// inside an open inspected connection, CONNECT and API — with the clear
// error, sends nothing upstream, and is not ready; after the log can be
// written again (rotated to a new file) requests pass and the lost events
// are on record.
func TestAuditUnwritable(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	fifo := filepath.Join(t.TempDir(), "audit.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO: %v", err)
	}
	rd, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, rd); close(drained) }()
	if _, err := h.auditLog.Rotate(wr); err != nil {
		t.Fatal(err)
	}
	cl := h.client("", "")
	put := func(name string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, c.URL()+"/"+name, bytes.NewReader(content(100, 1)))
		req.Header.Set("Accept", "application/json")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	if resp, _ := put("a.txt"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT with a working log: %s", resp.Status)
	}
	rd.Close() // the reader goes away
	<-drained
	// This request was admitted; its own event cannot be written.
	if resp, _ := put("b.txt"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	for i := 0; h.auditLog.Err() == nil; i++ {
		if i > 200 {
			t.Fatal("the failed write was not noticed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	upstream := c.requests.Load()

	// Inside the open inspected connection (keep-alive): refused.
	resp, body := put("c.txt")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, ErrAuditUnwritable.Error()) {
		t.Errorf("PUT with an unwritable log: %s %s", resp.Status, body)
	}
	// A new CONNECT: refused before any tunnel.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", c.host())
	cresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	cbody, _ := io.ReadAll(cresp.Body)
	conn.Close()
	if cresp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(cbody), ErrAuditUnwritable.Error()) {
		t.Errorf("CONNECT with an unwritable log: %s %s", cresp.Status, cbody)
	}
	// The API.
	aresp, err := http.Post(h.admin+"/v1/encrypt", "application/octet-stream", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	abody, _ := io.ReadAll(aresp.Body)
	aresp.Body.Close()
	if aresp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(abody), ErrAuditUnwritable.Error()) {
		t.Errorf("API with an unwritable log: %s %s", aresp.Status, abody)
	}
	if got := c.requests.Load(); got != upstream {
		t.Errorf("%d requests reached the upstream while the audit log was unwritable", got-upstream)
	}
	ready, _ := http.Get(h.admin + "/readyz")
	rbody, _ := io.ReadAll(ready.Body)
	ready.Body.Close()
	if ready.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(rbody), "broken pipe") {
		t.Errorf("/readyz with an unwritable log: %s %s", ready.Status, rbody)
	}
	metrics := scrape(t, h.admin)
	if !strings.Contains(metrics, "sluss_audit_writable 0") || strings.Contains(metrics, "sluss_audit_write_errors_total 0\n") {
		t.Errorf("metrics do not show the failure:\n%s", grepLines(metrics, "sluss_audit"))
	}

	// /dev/full: a disk that is full. Still refused.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	h.auditLog.Rotate(full)
	if resp, body := put("d.txt"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, ErrAuditUnwritable.Error()) {
		t.Errorf("PUT with a full disk: %s %s", resp.Status, body)
	}
	if got := c.requests.Load(); got != upstream {
		t.Errorf("%d requests reached the upstream while the audit log was unwritable", got-upstream)
	}

	// Recovery: a new file that can be written.
	var fresh syncBuffer
	h.auditLog.Rotate(&fresh) // ending the full one fails
	if err := h.auditLog.Err(); err != nil {
		t.Fatalf("rotated to a writable file: %v", err)
	}
	if resp, _ := put("e.txt"); resp.StatusCode != http.StatusCreated {
		t.Errorf("PUT after recovery: %s", resp.Status)
	}
	if ready, _ := http.Get(h.admin + "/readyz"); ready.StatusCode != http.StatusOK {
		t.Errorf("/readyz after recovery: %s", ready.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.gw.Shutdown(ctx)
	h.auditLog.Close()
	if !strings.Contains(fresh.String(), `"action":"encrypt"`) {
		t.Errorf("the new file lacks the request after recovery:\n%s", fresh.String())
	}
	r := verifyAudit(t, h.auditKey.Public().(ed25519.PublicKey), false, auditFile{"audit.json", []byte(fresh.String())})
	if len(r.Problems) != 1 || r.Problems[0].Kind != AuditLost || r.Problems[0].Line != 2 {
		t.Errorf("the verifier does not report the lost events at line 2:\n%s", problemsText(r))
	}
}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAuditStartsUnwritable: a log that cannot be written from the start
// writes its chain start with the first write that succeeds.
func TestAuditStartsUnwritable(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	w := &flakyWriter{fail: true}
	a, err := NewAuditLog(w, AuditOptions{Key: key, Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Err() == nil || a.Writable() {
		t.Fatal("an unwritable log reports writable")
	}
	l := a.Logger()
	l.Info().Msg("request") // lost
	w.fail = false
	if !a.Writable() {
		t.Fatal("not writable after recovery")
	}
	l.Info().Msg("request")
	a.Close()
	r := verifyAudit(t, key.Public().(ed25519.PublicKey), false, auditFile{"audit.json", w.buf.Bytes()})
	if len(r.Problems) != 1 || r.Problems[0].Kind != AuditLost || !strings.Contains(r.Problems[0].Text, "1 event before") {
		t.Fatalf("problems:\n%s\n%s", problemsText(r), w.buf.String())
	}
	if a.WriteErrors() < 2 {
		t.Errorf("%d write errors counted", a.WriteErrors())
	}
}

// TestAuditTornWrite: a write that stops halfway leaves a piece of a line;
// the next line starts on a line of its own and the piece is reported.
func TestAuditTornWrite(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	w := &flakyWriter{}
	a, _ := NewAuditLog(w, AuditOptions{Key: key, Interval: -1})
	l := a.Logger()
	l.Info().Msg("request")
	w.short = 20
	l.Info().Msg("request")
	l.Info().Msg("request")
	a.Close()
	r := verifyAudit(t, key.Public().(ed25519.PublicKey), false, auditFile{"audit.json", w.buf.Bytes()})
	if len(r.Problems) != 2 || r.Problems[0].Kind != AuditMalformed || r.Problems[0].Line != 3 || r.Problems[1].Kind != AuditLost {
		t.Fatalf("problems:\n%s\n%s", problemsText(r), w.buf.String())
	}
}

// flakyWriter fails while fail is set, and writes only short bytes of the
// next write (then fails) when short is set.
type flakyWriter struct {
	buf   bytes.Buffer
	fail  bool
	short int
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	if w.fail {
		return 0, syscall.ENOSPC
	}
	if w.short > 0 {
		n := w.short
		w.short = 0
		w.buf.Write(p[:n])
		return n, syscall.ENOSPC
	}
	return w.buf.Write(p)
}

func TestAuditPublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	s := AuditPublicKey(pub)
	back, err := ParseAuditPublicKey(s)
	if err != nil || !back.Equal(pub) {
		t.Fatalf("%s: %v", s, err)
	}
	for _, bad := range []string{"", "ed25519:", s[len("ed25519:"):], s + "00", "ed25519:zz" + s[10:]} {
		if _, err := ParseAuditPublicKey(bad); err == nil {
			t.Errorf("%q parses", bad)
		}
	}
}

// fuzzLog is a small valid log for the fuzz targets.
func fuzzLog(t testing.TB) ([]byte, ed25519.PublicKey) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	var buf bytes.Buffer
	a, err := NewAuditLog(&buf, AuditOptions{Key: key, Interval: -1, Now: func() time.Time { return time.Unix(1700000000, 0).UTC() }})
	if err != nil {
		t.Fatal(err)
	}
	l := zerolog.New(a)
	for i := range 4 {
		l.Info().Int("status", 200+i).Str("action", "inspect").Msg("request")
		if i == 1 {
			a.Checkpoint()
		}
	}
	a.Close()
	return buf.Bytes(), key.Public().(ed25519.PublicKey)
}

// FuzzAuditVerify feeds the verifier arbitrary files: it never panics,
// and its problems name no text from the file.
func FuzzAuditVerify(f *testing.F) {
	log, pub := fuzzLog(f)
	f.Add(log)
	f.Add([]byte(`{"chain":"0123456789abcdef","seq":1,"prev":""}` + "\n"))
	f.Add([]byte("{\"chain\":\"x\\u0000\",\"seq\":2,\"prev\":\"\",\"action\":\"checkpoint\",\"sig\":\"\"}\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v := NewAuditVerifier(pub)
		if err := v.Verify("f", bytes.NewReader(data)); err != nil && !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			t.Fatal(err)
		}
		for _, p := range append(v.Report().Problems, v.report.Warnings...) {
			for _, r := range p.Text {
				if r < ' ' || r == '"' || r == 0xfffd {
					t.Fatalf("problem text with %q: %s", r, p)
				}
			}
		}
	})
}

// FuzzAuditTamper changes one byte of a valid log: the verifier notices,
// whichever byte it is.
func FuzzAuditTamper(f *testing.F) {
	log, pub := fuzzLog(f)
	if r := verifyAudit(f, pub, false, auditFile{"f", log}); len(r.Problems) > 0 {
		f.Fatalf("the fuzz log is not clean:\n%s", problemsText(r))
	}
	f.Add(uint(0), byte('x'))
	f.Add(uint(len(log)/2), byte('1'))
	f.Add(uint(len(log)-1), byte(' '))
	f.Fuzz(func(t *testing.T, off uint, b byte) {
		data := bytes.Clone(log)
		i := int(off % uint(len(data)))
		if data[i] == b {
			return
		}
		data[i] = b
		if r := verifyAudit(t, pub, false, auditFile{"f", data}); len(r.Problems) == 0 {
			t.Fatalf("byte %d changed to %q: not detected", i, b)
		}
	})
}

// BenchmarkAuditLog is the cost of chaining one request-sized event
// against the same event written unchained.
func BenchmarkAuditLog(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	ev := func(l zerolog.Logger) {
		l.Info().Str("request_id", "0123456789abcdef").Str("user", "local").Str("client", "127.0.0.1:54321").
			Str("host", "files.example.org").Str("service", "files").Str("method", "PUT").Str("path", "/dav/reports/2026/q3.pdf").
			Str("action", "encrypt").Int64("bytes_up", 1024).Int64("bytes_down", 0).Int("status", 201).
			Dur("duration", 1234567).Int("key_version", 3).Msg("request")
	}
	b.Run("plain", func(b *testing.B) {
		l := zerolog.New(io.Discard).With().Timestamp().Str("log", "audit").Logger()
		b.ReportAllocs()
		for b.Loop() {
			ev(l)
		}
	})
	b.Run("chained", func(b *testing.B) {
		a, _ := NewAuditLog(io.Discard, AuditOptions{Key: key, Interval: -1})
		l := a.Logger()
		b.ReportAllocs()
		for b.Loop() {
			ev(l)
		}
	})
}

// BenchmarkAuditVerify is the verifier's speed on request-sized events.
func BenchmarkAuditVerify(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var buf bytes.Buffer
	a, _ := NewAuditLog(&buf, AuditOptions{Key: key, Interval: -1})
	l := a.Logger()
	for i := range 10000 {
		l.Info().Str("request_id", fmt.Sprintf("%016x", i)).Str("user", "local").Str("client", "127.0.0.1:54321").
			Str("host", "files.example.org").Str("service", "files").Str("method", "PUT").Str("path", "/dav/reports/2026/q3.pdf").
			Str("action", "encrypt").Int64("bytes_up", 1024).Int("status", 201).Msg("request")
		if i%1000 == 999 {
			a.Checkpoint()
		}
	}
	a.Close()
	pub := key.Public().(ed25519.PublicKey)
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		v := NewAuditVerifier(pub)
		v.Verify("audit.json", bytes.NewReader(buf.Bytes()))
		if r := v.Report(); len(r.Problems) > 0 {
			b.Fatal(problemsText(r))
		}
	}
}
