package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
)

// TestHostileClients holds 1 000 half-open connections and a crowd of
// slow senders against the gateway, and checks that a well-behaved client
// is still served meanwhile, and that the gateway itself closes every
// stalled connection within its header timeout.
func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("1 000 connections: not in -short")
	}
	c := newCloud(t)
	cfg := storageConfig(c, "storage")
	cfg.Limits = Limits{HeaderTimeout: 2 * time.Second, HandshakeTimeout: 2 * time.Second}
	h := newHarness(t, cfg)
	addr := strings.TrimPrefix(h.proxy, "http://")

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", len(held), err)
		}
		held = append(held, conn)
		return conn
	}
	// 1 000 connections that never send a byte (or never finish a TLS
	// handshake after CONNECT).
	for i := 0; i < 1000; i++ {
		conn := dial()
		if i%10 == 0 {
			fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", c.host())
		}
	}
	// Slow senders: a header one byte at a time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		conn := dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := "GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\nX-Slow: " + strings.Repeat("a", 1000)
			for j := 0; j < len(line); j++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{line[j]}); err != nil {
					return
				}
			}
		}()
	}

	// Meanwhile a well-behaved client uploads and downloads.
	cl := h.client("", "")
	cl.Timeout = 30 * time.Second
	for i := 0; i < 5; i++ {
		body := content(100<<10, uint64(i))
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/good-%d", c.URL(), i), strings.NewReader(string(body)))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("well-behaved upload %d among hostile clients: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %d: %s", i, resp.Status)
		}
		resp, err = cl.Get(fmt.Sprintf("%s/good-%d", c.URL(), i))
		if err != nil {
			t.Fatalf("well-behaved download %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != string(body) {
			t.Fatalf("download %d differs", i)
		}
	}
	close(stop)
	wg.Wait()

	// The gateway, not the clients, ends every stalled connection.
	deadline := time.Now().Add(20 * time.Second)
	open := 0
	for _, conn := range held {
		conn.SetReadDeadline(deadline)
		if _, err := io.Copy(io.Discard, conn); err != nil && strings.Contains(err.Error(), "timeout") {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d stalled connections still open well after the header and handshake timeouts", open)
	}
	if !h.auditHas(t, `"path":"/good-4"`) {
		t.Error("the well-behaved client's requests are not in the audit log")
	}
}

// TestLimits checks each connection limit on its own.
func TestLimits(t *testing.T) {
	c := newCloud(t)
	pool := x509.NewCertPool()

	t.Run("max_connections", func(t *testing.T) {
		cfg := storageConfig(c, "storage")
		cfg.Limits = Limits{MaxConnections: 4}
		h := newHarness(t, cfg)
		addr := strings.TrimPrefix(h.proxy, "http://")
		var held []net.Conn
		for i := 0; i < 4; i++ {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, conn)
		}
		// A fifth connection is accepted by the kernel but not served
		// while four are open.
		fifth, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer fifth.Close()
		fmt.Fprintf(fifth, "GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n\r\n")
		fifth.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := bufio.NewReader(fifth).ReadString('\n'); err == nil {
			t.Fatal("a fifth connection was served with max_connections 4")
		}
		held[0].Close()
		fifth.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(fifth), nil)
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("fifth connection once one closed: %v %v", err, resp)
		}
		for _, c := range held[1:] {
			c.Close()
		}
	})

	t.Run("max_header_bytes", func(t *testing.T) {
		cfg := storageConfig(c, "storage")
		cfg.Limits = Limits{MaxHeaderBytes: 4 << 10}
		h := newHarness(t, cfg)
		pool.AddCert(h.keys.caCert)
		big := strings.Repeat("x", 16<<10)
		// On the proxy listener…
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\nX-Big: %s\r\n\r\n", big)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("huge header on the proxy listener: %v %v, want 431", err, resp)
		}
		// …and inside an inspected connection.
		cl := h.client("", "")
		req, _ := http.NewRequest(http.MethodGet, c.URL()+"/", nil)
		req.Header.Set("X-Big", big)
		resp, err = cl.Do(req)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("huge header inside CONNECT: %v %v, want 431", err, resp)
		}
		resp.Body.Close()
	})

	t.Run("slow_body", func(t *testing.T) {
		// A client that stops sending its body holds the request for the
		// idle timeout, then the upstream request is aborted.
		cfg := storageConfig(c, "storage")
		cfg.Limits = Limits{IdleTimeout: 500 * time.Millisecond}
		h := newHarness(t, cfg)
		p := x509.NewCertPool()
		p.AddCert(h.keys.caCert)
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", c.host())
		br := bufio.NewReader(conn)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
			t.Fatal(err)
		}
		tc := tls.Client(conn, &tls.Config{RootCAs: p, ServerName: "127.0.0.1"})
		fmt.Fprintf(tc, "PUT /slow HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000000\r\n\r\n", c.host())
		tc.Write(make([]byte, 1000))
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		io.Copy(io.Discard, tc)
		if time.Since(start) > 9*time.Second {
			t.Fatal("a stalled upload was not ended by the idle timeout")
		}
		// The cloud may keep what it got of the aborted request (WebDAV
		// writes as it reads), but that can never pass for the file: the
		// age stream has no final chunk.
		if ok, _ := c.exists("slow"); ok {
			stored := c.stored(t, "slow")
			pt, err := crypto.Decrypt(bytes.NewReader(stored), h.keys.id)
			if err == nil {
				_, err = io.Copy(io.Discard, pt)
			}
			if err == nil {
				t.Error("the cut upload decrypts as if it were whole")
			}
		}
	})

	t.Run("dial_timeout", func(t *testing.T) {
		cfg := storageConfig(c, "storage")
		cfg.Limits = Limits{DialTimeout: 300 * time.Millisecond}
		h := newHarness(t, cfg)
		// An upstream whose SYNs vanish cannot be made on loopback; the
		// dialler waits for its context as the kernel would.
		h.hookDial(func(ctx context.Context, network, addr string) (net.Conn, error) {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		})
		out, _, _ := h.curl(t, "-o", "/dev/null", "-w", "%{http_connect} %{http_code}", c.URL()+"/")
		if !strings.Contains(out, "504") && !strings.Contains(out, "502") {
			t.Fatalf("unreachable upstream: curl saw %q, want 502 or 504", out)
		}
	})
}
