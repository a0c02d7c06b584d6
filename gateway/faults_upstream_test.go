package gateway

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
)

// cutPlan is what the resetting upstream does with the next request.
type cutPlan struct {
	after int64 // body bytes (of a PUT's request, a GET's response) before the cut; -1: none
	// GET only: chunked sends no Content-Length; clean ends the response
	// properly after `after` bytes (a terminating chunk, or a
	// Content-Length of `after`) instead of resetting: an upstream that
	// presents a truncated object as complete.
	chunked, clean bool
}

// resetUpstream is a real TLS upstream on 127.0.0.1 that stores PUT bodies
// in a directory and serves them back, and that cuts a body after a set
// number of bytes with a TCP reset (SO_LINGER 0, then close): a provider
// or a middlebox that drops the connection mid-transfer.
type resetUpstream struct {
	srv    *httptest.Server
	dir    string
	caFile string

	mu      sync.Mutex
	plan    cutPlan
	bodyErr error // the last PUT's body read error
	puts    int
}

func newResetUpstream(t *testing.T) *resetUpstream {
	t.Helper()
	u := &resetUpstream{dir: t.TempDir(), plan: cutPlan{after: -1}}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	u.caFile = filepath.Join(t.TempDir(), "upstream-ca.pem")
	os.WriteFile(u.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw}), 0o644)
	return u
}

func (u *resetUpstream) set(p cutPlan) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.plan = p
}

func (u *resetUpstream) take() cutPlan {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.plan
	u.plan = cutPlan{after: -1}
	return p
}

func (u *resetUpstream) serve(w http.ResponseWriter, r *http.Request) {
	p := u.take()
	name := filepath.Join(u.dir, filepath.Base(r.URL.Path))
	switch r.Method {
	case http.MethodPut:
		f, err := os.Create(name)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		if p.after >= 0 {
			// Keep what arrived, as a provider writing through to disk would.
			_, err := io.CopyN(f, r.Body, p.after)
			u.note(err)
			reset(w, nil)
			return
		}
		_, err = io.Copy(f, r.Body)
		u.note(err)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet:
		data, err := os.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if p.after < 0 {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
			return
		}
		// Raw HTTP/1.1 on the hijacked connection, so the framing is
		// exactly what the plan says.
		part := data[:p.after]
		var resp strings.Builder
		resp.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
		switch {
		case p.chunked:
			resp.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			if len(part) > 0 {
				fmt.Fprintf(&resp, "%x\r\n%s\r\n", len(part), part)
			}
			if p.clean {
				resp.WriteString("0\r\n\r\n")
			}
		case p.clean:
			fmt.Fprintf(&resp, "Content-Length: %d\r\n\r\n%s", len(part), part)
		default:
			fmt.Fprintf(&resp, "Content-Length: %d\r\n\r\n%s", len(data), part)
		}
		if p.clean {
			conn, _, _ := w.(http.Hijacker).Hijack()
			io.WriteString(conn, resp.String())
			time.Sleep(200 * time.Millisecond) // the response is read before the close
			conn.Close()
			return
		}
		reset(w, []byte(resp.String()))
	}
}

func (u *resetUpstream) note(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bodyErr = err
	u.puts++
}

// reset writes b on the connection of w, lets the peer read it, then
// resets the connection.
func reset(w http.ResponseWriter, b []byte) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Write(b)
	time.Sleep(200 * time.Millisecond)
	tcp := conn.(*tls.Conn).NetConn().(*net.TCPConn)
	tcp.SetLinger(0)
	tcp.Close()
}

// failsAgeDecrypt checks that the real age CLI refuses a stored object.
func failsAgeDecrypt(t *testing.T, h *harness, stored string) string {
	t.Helper()
	bin := needTool(t, "age", "go install filippo.io/age/cmd/...@v1.3.1")
	out := filepath.Join(t.TempDir(), "out")
	b, err := exec.Command(bin, "-d", "-i", h.identity, "-o", out, stored).CombinedOutput()
	if err == nil {
		t.Fatalf("age -d decrypted a cut object %s", filepath.Base(stored))
	}
	return strings.TrimSpace(string(b))
}

// TestFaultUpstreamResetUpload: the upstream resets the connection after
// N bytes of an encrypted PUT body (in the age header, right after it, at
// a chunk boundary, inside a chunk). The client gets an error, never a
// 2xx; the object the upstream kept is a prefix of the age file and the
// real age CLI refuses it.
func TestFaultUpstreamResetUpload(t *testing.T) {
	u := newResetUpstream(t)
	cfg := Config{UpstreamCA: u.caFile, Services: []ServiceConfig{{Name: "cloud", Hosts: []string{"127.0.0.1"}, Profile: "storage", Ports: []int{urlPort(u.srv.URL)}}}}
	h := newHarness(t, cfg)
	hs, err := crypto.HeaderSize(h.keys.id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	const enc = crypto.ChunkSize + 16
	payload := hs + 16 // header, then the stream nonce
	for _, size := range []int{10 << 10, 300<<10 + 5} {
		src := writeTemp(t, "upload.bin", content(size, uint64(size)))
		total, _ := crypto.EncryptedSize(int64(size), h.keys.id.Recipient())
		for _, after := range []int64{100, payload, payload + enc, payload + enc + 1000, total - 1} {
			if after >= total {
				continue
			}
			name := fmt.Sprintf("up-%d-%d.bin", size, after)
			t.Run(name, func(t *testing.T) {
				u.set(cutPlan{after: after})
				out, e, err := h.curl(t, "-T", src, "-o", "/dev/null", "-w", "%{http_code}", u.srv.URL+"/"+name)
				code, _ := strconv.Atoi(out)
				if err == nil && code < 500 {
					t.Fatalf("curl: status %s, no error (%s)", out, e)
				}
				stored := filepath.Join(u.dir, name)
				if fi, err := os.Stat(stored); err != nil || fi.Size() != after {
					t.Fatalf("upstream kept %v bytes (%v), want %d", fi, err, after)
				}
				why := failsAgeDecrypt(t, h, stored)
				t.Logf("cut after %d of %d bytes: client %s (curl %v), age -d: %s", after, total, out, err, why)
				if !h.auditSoon(t, `"method":"PUT"`, `"path":"/`+name+`"`, `"status":502`) {
					t.Errorf("audit lacks the failed PUT:\n%s", h.audit.String())
				}
			})
		}
	}
}

// TestFaultUpstreamResetDownload: the upstream cuts an encrypted object's
// GET response after N bytes, with a reset or (a lying upstream) with a
// clean end that presents the prefix as the whole object, with and
// without a Content-Length. The client never gets a clean end: curl
// fails, and what it received is a prefix of the plaintext no longer
// than the chunks whole in the N bytes, so no plaintext past the last
// authenticated chunk ever leaves the gateway.
func TestFaultUpstreamResetDownload(t *testing.T) {
	u := newResetUpstream(t)
	cfg := Config{UpstreamCA: u.caFile, Services: []ServiceConfig{{Name: "cloud", Hosts: []string{"127.0.0.1"}, Profile: "storage", Ports: []int{urlPort(u.srv.URL)}}}}
	h := newHarness(t, cfg)
	const size = 300<<10 + 5
	plain := content(size, 9)
	src := writeTemp(t, "object.bin", plain)
	if _, e, err := h.curl(t, "-f", "-T", src, u.srv.URL+"/object.bin"); err != nil {
		t.Fatalf("PUT: %v: %s", err, e)
	}
	stored, _ := os.ReadFile(filepath.Join(u.dir, "object.bin"))
	hs, err := crypto.ReadHeaderSize(strings.NewReader(string(stored)))
	if err != nil {
		t.Fatal(err)
	}
	const enc = crypto.ChunkSize + 16
	payload := hs + 16
	// wholeChunks is the plaintext the first n bytes of ciphertext
	// authenticate: only full chunks, since a short one is a final chunk
	// that fails.
	wholeChunks := func(n int64) int64 { return max(0, (n-payload)/enc) * crypto.ChunkSize }
	for _, c := range []struct {
		name  string
		after int64
		plan  cutPlan
	}{
		{"reset-length-midchunk", payload + 2*enc + 999, cutPlan{}},
		{"reset-length-boundary", payload + 2*enc, cutPlan{}},
		{"reset-chunked-midchunk", payload + 2*enc + 999, cutPlan{chunked: true}},
		{"reset-chunked-boundary", payload + 2*enc, cutPlan{chunked: true}},
		{"reset-in-header", 50, cutPlan{chunked: true}},
		{"clean-chunked-boundary", payload + 2*enc, cutPlan{chunked: true, clean: true}},
		{"clean-chunked-midchunk", payload + enc + 999, cutPlan{chunked: true, clean: true}},
		{"clean-length-boundary", payload + 2*enc, cutPlan{clean: true}},
		{"clean-length-midchunk", payload + enc + 999, cutPlan{clean: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.plan.after = c.after
			u.set(c.plan)
			got := filepath.Join(t.TempDir(), "got")
			out, e, err := h.curl(t, "-o", got, "-w", "%{http_code}", u.srv.URL+"/object.bin")
			b, _ := os.ReadFile(got)
			if code, _ := strconv.Atoi(out); code >= 500 {
				// Cut before the age header authenticated: a refusal, not a
				// body.
				if strings.Contains(string(b), secretMarker) {
					t.Fatal("the refusal carries plaintext")
				}
				t.Logf("cut after %d of %d bytes: client got %s", c.after, len(stored), out)
				return
			}
			if err == nil {
				t.Fatalf("curl ended cleanly with %s and %d of %d bytes: a cut download was presented as complete", out, len(b), size)
			}
			if string(b) != string(plain[:len(b)]) {
				t.Fatalf("the %d bytes received are not a prefix of the plaintext", len(b))
			}
			if limit := wholeChunks(c.after); int64(len(b)) > limit {
				t.Fatalf("received %d bytes of plaintext, but %d ciphertext bytes authenticate only %d", len(b), c.after, limit)
			}
			t.Logf("cut after %d of %d bytes: client got %s and %d plaintext bytes (limit %d), curl: %s", c.after, len(stored), out, len(b), wholeChunks(c.after), strings.TrimSpace(e))
		})
	}
	if !h.auditSoon(t, `"method":"GET"`, `"path":"/object.bin"`, `"reason":"response cut"`) {
		t.Errorf("audit lacks the cut downloads:\n%s", h.audit.String())
	}
	// The API's /v1/decrypt, given the object cut at a chunk boundary with
	// a Content-Length that matches the cut, does not complete either.
	cut := stored[:payload+2*enc]
	resp, err := http.Post(h.admin+"/v1/decrypt", "application/octet-stream", bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("/v1/decrypt of a cut object: %s, %d of %d bytes and a clean end", resp.Status, len(b), resp.ContentLength)
	}
	if int64(len(b)) > wholeChunks(int64(len(cut))) || !bytes.Equal(b, plain[:len(b)]) {
		t.Fatalf("/v1/decrypt of a cut object: %d bytes, not a prefix within the authenticated chunks", len(b))
	}
	t.Logf("/v1/decrypt of the object cut after %d bytes: %s, %d of %d bytes, then %v", len(cut), resp.Status, len(b), resp.ContentLength, err)

	// The object itself is intact: a full download still works.
	back := filepath.Join(t.TempDir(), "back")
	if _, e, err := h.curl(t, "-f", "-o", back, u.srv.URL+"/object.bin"); err != nil {
		t.Fatalf("GET: %v: %s", err, e)
	}
	if fileSum(t, back) != fileSum(t, src) {
		t.Fatal("the full download differs")
	}
}
