package gateway

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// upstreamSaw is what the upstream's handler saw of one upload.
type upstreamSaw struct {
	n      int64 // body bytes read
	err    error // the body read error
	ctxErr error // the request context's error once the body ended
}

// TestFaultClientAbortUpload: a client stops mid-upload, closing its
// connection (TLS close and FIN) or resetting it, with a Content-Length
// or chunked. The gateway aborts the upstream request instead of
// completing it: the upstream's body read fails before the encrypted body
// is whole, and what it kept fails `age -d`. A small body (read whole
// before anything is sent) never reaches the upstream at all. The audit
// event blames the client (499), not the upstream.
func TestFaultClientAbortUpload(t *testing.T) {
	c := newCloud(t)
	saw := make(chan upstreamSaw, 1)
	c.mux.HandleFunc("PUT /abort/{name}", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(filepath.Join(c.dir, r.PathValue("name")))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		n, err := io.Copy(f, r.Body)
		f.Close()
		saw <- upstreamSaw{n, err, r.Context().Err()}
		if err != nil {
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	h := newHarness(t, storageConfig(c, "storage"))
	pool := x509.NewCertPool()
	pool.AddCert(h.keys.caCert)

	const total = 1 << 20
	data := content(total, 3)
	for _, tc := range []struct {
		name    string
		send    int
		chunked bool
		rst     bool
	}{
		{"length-close", 300 << 10, false, false},
		{"length-reset", 300 << 10, false, true},
		{"chunked-close", 300 << 10, true, false},
		{"chunked-reset", 300<<10 + 7, true, true},
		{"length-close-at-chunk", 128 << 10, false, false},
		{"small-body", 5 << 10, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := total
			if tc.name == "small-body" {
				size = 10 << 10
			}
			before := c.requests.Load()
			conn := connectThrough(t, h, c.host(), pool)
			var head strings.Builder
			fmt.Fprintf(&head, "PUT /abort/%s HTTP/1.1\r\nHost: %s\r\n", tc.name, c.host())
			if tc.chunked {
				head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
				fmt.Fprintf(&head, "%x\r\n%s\r\n", tc.send, data[:tc.send])
			} else {
				fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n%s", size, data[:tc.send])
			}
			if _, err := io.WriteString(conn, head.String()); err != nil {
				t.Fatal(err)
			}
			// Give the gateway time to start the upstream request (a
			// streamed body goes out as it arrives), then go away.
			time.Sleep(300 * time.Millisecond)
			if tc.rst {
				conn.NetConn().(*net.TCPConn).SetLinger(0)
				conn.NetConn().Close()
			} else {
				conn.Close()
			}
			if !h.auditSoon(t, `"method":"PUT"`, `"path":"/abort/`+tc.name+`"`) {
				t.Fatalf("no audit event for the aborted PUT:\n%s", h.audit.String())
			}
			if !h.auditHas(t, `"path":"/abort/`+tc.name+`"`, `"status":499`, `"reason":"client went away"`) {
				t.Errorf("the aborted upload is not audited as the client's: %s", auditLineWith(h, `"path":"/abort/`+tc.name+`"`))
			}
			if tc.name == "small-body" {
				if n := c.requests.Load(); n != before {
					t.Fatalf("a cut small body reached the upstream")
				}
				return
			}
			var s upstreamSaw
			select {
			case s = <-saw:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream's handler never finished: the request was neither completed nor aborted")
			}
			if s.err == nil {
				t.Fatalf("the upstream read a complete body of %d bytes from an aborted upload", s.n)
			}
			why := failsAgeDecrypt(t, h, filepath.Join(c.dir, tc.name))
			t.Logf("client sent %d of %d bytes: upstream read %d bytes, then %v (context: %v); age -d: %s; audit: %s",
				tc.send, size, s.n, s.err, s.ctxErr, why, auditLineWith(h, `"path":"/abort/`+tc.name+`"`))
		})
	}
}

// connectThrough opens an inspected tunnel to target through the gateway
// and returns the TLS connection, as a client would before sending a
// request on it.
func connectThrough(t *testing.T, h *harness, target string, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	fmt.Fprintf(raw, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	host, _, _ := net.SplitHostPort(target)
	tc := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: host})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// auditLine is the status and reason of the first audit event with all of
// fields.
func auditLineWith(h *harness, fields ...string) string {
	for _, line := range strings.Split(h.audit.String(), "\n") {
		ok := line != ""
		for _, f := range fields {
			ok = ok && strings.Contains(line, f)
		}
		if ok {
			var ev struct {
				Status int    `json:"status"`
				Reason string `json:"reason"`
				Up     int64  `json:"bytes_up"`
			}
			json.Unmarshal([]byte(line), &ev)
			return fmt.Sprintf("status %d, %d bytes up, reason %q", ev.Status, ev.Up, ev.Reason)
		}
	}
	return "none"
}

// auditSoon is auditHas, given the time the gateway takes to record an
// event after its response has reached the client.
func (h *harness) auditSoon(t testing.TB, fields ...string) bool {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if h.auditHas(t, fields...) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
