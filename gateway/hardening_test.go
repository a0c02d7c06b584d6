package gateway

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// TestNoLeaks drives the gateway with slow, silent and vanishing clients
// and a hanging upstream, then checks that every goroutine and file
// descriptor it took is given back.
func TestNoLeaks(t *testing.T) {
	c := newCloud(t)
	cfg := storageConfig(c, "storage")
	cfg.Services = append(cfg.Services, ServiceConfig{Hosts: []string{"localhost"}, Action: "tunnel", Ports: []int{c.port()}})
	cfg.Limits = Limits{HeaderTimeout: 300 * time.Millisecond, IdleTimeout: 500 * time.Millisecond,
		HandshakeTimeout: 300 * time.Millisecond, ResponseTimeout: 500 * time.Millisecond}
	h := newHarness(t, cfg)
	proxyAddr := strings.TrimPrefix(h.proxy, "http://")
	pool := x509.NewCertPool()
	pool.AddCert(h.keys.caCert)

	// A large object to download.
	cl := h.client("", "")
	req, _ := http.NewRequest(http.MethodPut, c.URL()+"/big", newStream(8<<20, 1))
	req.ContentLength = 8 << 20
	if resp, err := cl.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	cl.CloseIdleConnections()
	h.gw.transport.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	baseG, baseFD := runtime.NumGoroutine(), openFDs()

	dial := func() net.Conn {
		conn, err := net.Dial("tcp", proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	connect := func(target string) (net.Conn, *bufio.Reader) {
		conn := dial()
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", target)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT %s: %v %v", target, err, resp)
		}
		return conn, br
	}
	inspected := func() *tls.Conn {
		conn, _ := connect(c.host())
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc
	}
	var held []net.Conn
	// 1. Silent client, and one that sends half a header.
	held = append(held, dial())
	half := dial()
	io.WriteString(half, "GET http://blocked.test/ HTTP/1.1\r\nHost: bl")
	held = append(held, half)
	// 2. CONNECT to an inspected host, then no TLS handshake.
	conn, _ := connect(c.host())
	held = append(held, conn)
	// 3. Inspected connection with half a request header.
	tc := inspected()
	io.WriteString(tc, "GET /big HTTP/1.1\r\nHo")
	held = append(held, tc)
	// 4. Upload that vanishes halfway.
	tc = inspected()
	fmt.Fprintf(tc, "PUT /gone HTTP/1.1\r\nHost: %s\r\nContent-Length: 10000000\r\n\r\n", c.host())
	tc.Write(make([]byte, 3<<20))
	tc.Close()
	// 5. Download read a little, then the client vanishes.
	tc = inspected()
	fmt.Fprintf(tc, "GET /big HTTP/1.1\r\nHost: %s\r\n\r\n", c.host())
	io.ReadFull(tc, make([]byte, 100<<10))
	tc.Close()
	// 6. Download the client stops reading but keeps open.
	tc = inspected()
	fmt.Fprintf(tc, "GET /big HTTP/1.1\r\nHost: %s\r\n\r\n", c.host())
	io.ReadFull(tc, make([]byte, 10<<10))
	held = append(held, tc)
	// 7. An upstream that never answers.
	tc = inspected()
	fmt.Fprintf(tc, "GET /hang HTTP/1.1\r\nHost: %s\r\n\r\n", c.host())
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("hanging upstream: %v %v, want 504", err, resp)
	}
	held = append(held, tc)
	// 8. An idle tunnel.
	_, port, _ := net.SplitHostPort(c.host())
	conn, _ = connect("localhost:" + port)
	held = append(held, conn)

	// The gateway must close every stalled connection within its timeouts,
	// whether or not the clients ever do.
	for i, c := range held {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("stalled connection %d not closed by the gateway: %v", i, err)
		}
	}
	for _, c := range held {
		c.Close()
	}
	var g, fd int
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		h.gw.transport.CloseIdleConnections()
		if g, fd = runtime.NumGoroutine(), openFDs(); g <= baseG+2 && fd <= baseFD+2 {
			break
		}
	}
	if g > baseG+2 || fd > baseFD+2 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("after stalled clients: %d goroutines (baseline %d), %d fds (baseline %d)\n%s", g, baseG, fd, baseFD, buf[:n])
	}
}

// TestMethodOverrideRefused: a request may not ask the provider, through a
// method-override header, to take it as another method than the one the
// gateway chose its rules by (a DELETE whose body, pseudonymized as
// metadata, the provider would store as a PUT).
func TestMethodOverrideRefused(t *testing.T) {
	const body = "personnummer;namn\n19121212-1212;Tolvan Tolvansson\n"
	for _, profile := range []string{"storage", "webdav", "documents", "form"} {
		t.Run(profile, func(t *testing.T) {
			c := newCloud(t)
			h := newHarness(t, storageConfig(c, profile))
			cl := h.client("", "")
			for _, tc := range []struct{ method, header, value string }{
				{http.MethodDelete, "X-HTTP-Method-Override", "PUT"},
				{http.MethodPost, "X-HTTP-Method", "put"},
				{"PROPFIND", "X-Method-Override", "PUT"},
				{http.MethodPut, "X-HTTP-Method-Override", "DELETE"},
			} {
				before := c.requests.Load()
				req, _ := http.NewRequest(tc.method, c.URL()+"/list.csv", strings.NewReader(body))
				req.Header.Set("Content-Type", "text/csv")
				req.Header.Set(tc.header, tc.value)
				resp, err := cl.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s with %s: %s, want 400 (or 403 where no rule takes the method)", tc.method, tc.header, resp.Status)
				}
				if n := c.requests.Load() - before; n != 0 {
					t.Errorf("%s with %s: %d requests reached the provider", tc.method, tc.header, n)
				}
				checkNoPersonalValues(t, "the refusal", string(msg))
			}
			if ok, _ := c.exists("list.csv"); ok {
				t.Error("the provider stored the file")
			}
			// Naming the request's own method is harmless and passes.
			req, _ := http.NewRequest(http.MethodPut, c.URL()+"/own.txt", strings.NewReader("x"))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("X-HTTP-Method-Override", "PUT")
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				t.Errorf("PUT with an override naming PUT: %s", resp.Status)
			}
		})
	}
}
