package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// strictUpstream is a TLS server that parses what the gateway sends with
// a strict HTTP/1.1 reader of its own (CRLF only, no obs-fold, one
// Content-Length or chunked, never both) and records every request. It
// answers each with "ok".
type strictUpstream struct {
	ln   net.Listener
	mu   sync.Mutex
	reqs []string // request lines
	bad  []string // why a request was not well-formed
	cut  int      // requests cut off mid-way (the gateway aborted them)
}

func newStrictUpstream(t *testing.T, cert tls.Certificate) *strictUpstream {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	u := &strictUpstream{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return u
}

func (u *strictUpstream) port() int { return u.ln.Addr().(*net.TCPAddr).Port }

func (u *strictUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		line, reason, err := readStrictRequest(br)
		if err != nil {
			if err != io.EOF {
				u.mu.Lock()
				u.cut++
				u.mu.Unlock()
			}
			return
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, line)
		if reason != "" {
			u.bad = append(u.bad, reason)
		}
		u.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
	}
}

func (u *strictUpstream) snapshot() (reqs, bad []string, cut int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.reqs...), append([]string(nil), u.bad...), u.cut
}

// readStrictRequest reads one request; reason says what was not
// well-formed about one it could still frame.
func readStrictRequest(br *bufio.Reader) (string, string, error) {
	var reqLine string
	var cls []string
	chunked, te := false, false
	reason := ""
	for i := 0; ; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			if i == 0 && line == "" {
				return "", "", io.EOF
			}
			return "", "", fmt.Errorf("cut header: %v", err)
		}
		if !strings.HasSuffix(line, "\r\n") || strings.Contains(strings.TrimSuffix(line, "\r\n"), "\r") {
			reason = "a header line not ended by CRLF"
		}
		line = strings.TrimSuffix(line, "\r\n")
		if i == 0 {
			reqLine = line
			continue
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			reason = "obs-fold"
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(k, " \t") {
			reason = "a malformed header field"
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "content-length":
			cls = append(cls, v)
		case "transfer-encoding":
			te = true
			chunked = strings.EqualFold(v, "chunked")
			if !chunked {
				reason = "Transfer-Encoding other than chunked"
			}
		}
	}
	switch {
	case len(cls) > 1:
		reason = "more than one Content-Length"
	case len(cls) == 1 && te:
		reason = "Content-Length and Transfer-Encoding"
	}
	if chunked {
		for {
			sz, err := br.ReadString('\n')
			if err != nil {
				return reqLine, reason, fmt.Errorf("cut chunk")
			}
			if strings.Contains(sz, ";") {
				reason = "a chunk extension passed on"
			}
			n, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(sz, ";", 2)[0]), 16, 64)
			if err != nil || n < 0 || n > 1<<30 {
				return reqLine, reason, fmt.Errorf("bad chunk size")
			}
			if _, err := io.CopyN(io.Discard, br, n+2); err != nil {
				return reqLine, reason, fmt.Errorf("cut chunk")
			}
			if n == 0 {
				break
			}
		}
	} else if len(cls) > 0 {
		n, err := strconv.ParseInt(cls[0], 10, 64)
		if err != nil || n < 0 {
			return reqLine, "bad Content-Length", nil
		}
		if _, err := io.CopyN(io.Discard, br, n); err != nil {
			return reqLine, reason, fmt.Errorf("cut body")
		}
	}
	return reqLine, reason, nil
}

// TestSmuggling sends malformed framings inside an inspected tunnel. The
// upstream must receive one well-formed request for each response the
// client gets from it, or nothing (the client gets 400): a client request
// never becomes two upstream.
func TestSmuggling(t *testing.T) {
	c := newCloud(t) // for its certificate, which names 127.0.0.1
	up := newStrictUpstream(t, c.srv.TLS.Certificates[0])
	cfg := Config{UpstreamCA: c.caFile, Services: []ServiceConfig{{Name: "strict", Hosts: []string{"127.0.0.1"}, Profile: "inspect", Ports: []int{up.port()}}}}
	h := newHarness(t, cfg)
	host := fmt.Sprintf("127.0.0.1:%d", up.port())
	pool := x509.NewCertPool()
	pool.AddCert(h.keys.caCert)

	smuggled := "GET /smuggled HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	for _, tc := range []struct{ name, raw string }{
		{"pipelined, well-formed", "GET /a HTTP/1.1\r\nHost: " + host + "\r\n\r\nGET /b HTTP/1.1\r\nHost: " + host + "\r\n\r\n"},
		{"CL.TE", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX"},
		{"TE.CL", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + strconv.FormatInt(int64(len(smuggled)), 16) + "\r\n" + smuggled + "\r\n0\r\n\r\n"},
		{"duplicate Content-Length", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 0\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled},
		{"Content-Length list", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 0, 5\r\n\r\nhello"},
		{"Content-Length with sign", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: +5\r\n\r\nhello"},
		{"bare LF", "GET /a HTTP/1.1\nHost: " + host + "\nX-A: 1\n\n"},
		{"bare CR", "GET /a HTTP/1.1\r\nHost: " + host + "\r\nX-A: 1\rX-B: 2\r\n\r\n"},
		{"obs-fold", "GET /a HTTP/1.1\r\nHost: " + host + "\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n"},
		{"space before colon", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n"},
		{"chunk extensions", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"x\"\r\nhello\r\n0;last\r\n\r\n"},
		{"Transfer-Encoding chunked twice", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"},
		{"Transfer-Encoding identity", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"},
		{"Transfer-Encoding xchunked", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
		{"chunk size overflow", "POST /a HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nhello\r\n0\r\n\r\n"},
		{"chunked in HTTP/1.0", "POST /a HTTP/1.0\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"two Host headers", "GET /a HTTP/1.1\r\nHost: " + host + "\r\nHost: evil.test\r\n\r\n"},
		{"absolute URI to another host", "GET https://evil.test/ HTTP/1.1\r\nHost: " + host + "\r\n\r\n"},
		{"NUL in header", "GET /a HTTP/1.1\r\nHost: " + host + "\r\nX-A: a\x00b\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs0, bad0, cut0 := up.snapshot()
			tcn := h.dialInspected(t, host, pool)
			defer tcn.Close()
			// A well-formed last request closes the connection, so the
			// client can read to the end (a half-close would cancel the
			// requests in flight). What the malformed part does to it is
			// part of the test.
			io.WriteString(tcn, tc.raw+"GET /end HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
			tcn.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(tcn)
			fromUpstream, statuses := 0, []int{}
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				statuses = append(statuses, resp.StatusCode)
				if resp.StatusCode == 200 && bytes.Equal(body, []byte("ok")) {
					fromUpstream++
				}
			}
			// The upstream may still be reading what the gateway sent.
			var reqs, bad []string
			var cut int
			for end := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				reqs, bad, cut = up.snapshot()
				if len(reqs)-len(reqs0) >= fromUpstream || time.Now().After(end) {
					break
				}
			}
			got, bad, cut := reqs[len(reqs0):], bad[len(bad0):], cut-cut0
			// Each whole request the upstream received was answered to
			// the client; requests cut off when the client's framing broke
			// mid-body are not requests (the client hears an error).
			if len(got) != fromUpstream {
				t.Errorf("upstream received %d whole requests %q (and %d cut) for %d upstream responses (statuses %v)", len(got), got, cut, fromUpstream, statuses)
			}
			if len(bad) > 0 {
				t.Errorf("upstream received malformed requests: %q", bad)
			}
			for _, r := range got {
				if strings.Contains(r, "/smuggled") {
					t.Errorf("a smuggled request reached the upstream: %q (statuses %v)", r, statuses)
				}
			}
			if len(statuses) == 0 {
				t.Errorf("the client got no answer at all")
			}
			t.Logf("statuses %v, upstream %q", statuses, got)
		})
	}
}

// dialInspected opens an inspected CONNECT tunnel to host and returns
// the client's TLS connection inside it.
func (h *harness) dialInspected(t *testing.T, host string, pool *x509.CertPool) interface {
	net.Conn
	CloseWrite() error
} {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", host, err, resp)
	}
	hn, _, _ := net.SplitHostPort(host)
	tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: hn})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc
}
