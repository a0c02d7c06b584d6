package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// writeCounter counts the writes that reach the socket.
type writeCounter struct {
	net.Conn
	writes atomic.Int64
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestBatchedTLS: a Write of many records reaches the socket in one write,
// and the peer reads exactly what was written.
func TestBatchedTLS(t *testing.T) {
	k := newTestKeys(t)
	cert, err := newLeafCache(k).get("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := content(200<<10, 7)
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		pool := x509.NewCertPool()
		pool.AddCert(k.caCert)
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		got, err := io.ReadAll(tc)
		done <- result{got, err}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	wc := &writeCounter{Conn: raw}
	conf := &tls.Config{Certificates: []tls.Certificate{*cert}}
	c := newBatchedTLS(wc, &recordPool{}, func(bc net.Conn) *tls.Conn { return tls.Server(bc, conf) })
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	before := wc.writes.Load()
	if n, err := c.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if w := wc.writes.Load() - before; w != 1 {
		t.Errorf("a %d-byte Write took %d socket writes, want 1", len(data), w)
	}
	c.Close()
	r := <-done
	if r.err != nil || !bytes.Equal(r.got, data) {
		t.Fatalf("peer read %d bytes (%v), want the %d written", len(r.got), r.err, len(data))
	}
	// After a failed socket write the stream is broken: no later write
	// may send records that would follow a gap.
	bc := &batchConn{Conn: failingConn{}, pool: &recordPool{}}
	bc.begin()
	bc.Write([]byte("record"))
	if err := bc.end(); err == nil {
		t.Fatal("end: want the socket's error")
	}
	if _, err := bc.Write([]byte("next")); err == nil {
		t.Fatal("Write after a failed batch: want an error")
	}
}

type failingConn struct{ net.Conn }

func (failingConn) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestUpstreamCertificateChecked: the gateway's own TLS dialer verifies
// the upstream's chain and name, as the transport's would.
func TestUpstreamCertificateChecked(t *testing.T) {
	c := newCloud(t)
	_, port, _ := net.SplitHostPort(c.host())
	for name, tc := range map[string]struct {
		cfg  func(Config) Config
		host string
	}{
		"untrusted CA": {func(cfg Config) Config { cfg.UpstreamCA = ""; return cfg }, "127.0.0.1"},
		// The test certificate names example.com and 127.0.0.1, not localhost.
		"wrong name": {func(cfg Config) Config {
			cfg.Services[0].Hosts = append(cfg.Services[0].Hosts, "localhost")
			return cfg
		}, "localhost"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.cfg(storageConfig(c, "inspect")))
			before := c.requests.Load()
			resp, err := h.client("", "").Get("https://" + net.JoinHostPort(tc.host, port) + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %s, want 502", resp.Status)
			}
			if !strings.Contains(h.debug.String(), "x509: certificate") {
				t.Errorf("the upstream failed for another reason than its certificate:\n%s", h.debug.String())
			}
			if n := c.requests.Load() - before; n != 0 {
				t.Errorf("the upstream got %d requests over an unverified connection", n)
			}
		})
	}
}
