package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
)

// onConnect is goproxy's CONNECT handler: authenticate, look the host up in
// the policy, then refuse, tunnel or inspect. Tunnels and inspection take
// the connection over (ConnectHijack) instead of using goproxy's own relay
// and MITM loop: those have no idle or header timeouts, no header size
// limit and no byte counts, and the MITM loop follows the inner Host header
// instead of the CONNECT target.
func (g *Gateway) onConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	r := ctx.Req
	target := host
	if _, _, err := net.SplitHostPort(target); err != nil {
		target = net.JoinHostPort(target, "443")
	}
	a := g.admit(r.Context(), r, target, true)
	ev := g.newEvent(r, &connMeta{target: target, user: a.user}, a.service)
	if rf := a.refusal; rf != nil {
		ev.deny(rf)
		g.record(ev)
		resp := connectRefusal(r, rf.status, rf.reason, ev.id)
		if rf.status == http.StatusProxyAuthRequired {
			resp.Header.Set("Proxy-Authenticate", `Basic realm="sluss"`)
		}
		ctx.Resp = resp
		return goproxy.RejectConnect, host
	}
	if a.service.Action == Tunnel {
		return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(r *http.Request, c net.Conn, _ *goproxy.ProxyCtx) {
			g.tunnel(c, target, ev)
		}}, host
	}
	meta := &connMeta{target: target, scheme: "https", user: a.user, service: a.service}
	return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(r *http.Request, c net.Conn, _ *goproxy.ProxyCtx) {
		g.intercept(c, meta, ev)
	}}, host
}

// tunnel relays bytes between client and target unread, until either side
// closes or both have been idle for the idle timeout.
func (g *Gateway) tunnel(client net.Conn, target string, ev *auditEvent) {
	ev.action = "tunnel"
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), g.limits.DialTimeout)
	upstream, err := g.dialChecked(ctx, "tcp", target, true)
	cancel()
	if err != nil {
		if ee, ok := isEgress(err); ok {
			ev.deny(egressRefusal(ee))
		} else {
			ev.status, ev.reasonCode, ev.reason = http.StatusBadGateway, codeUnreachable, "the cloud service could not be reached"
		}
		// Audited before the client hears it, as admission's refusals are.
		g.record(ev)
		writeConnectRefusal(client, ev.status, ev.reason, ev.id)
		return
	}
	defer func() { g.record(ev) }()
	defer upstream.Close()
	if !g.track(client, true) {
		return
	}
	defer g.track(client, false)
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	ev.status = http.StatusOK
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ev.bytesUp = g.relay(upstream, client, &last)
	}()
	ev.bytesDown = g.relay(client, upstream, &last)
	wg.Wait()
}

// relay copies src to dst. A read times out only when neither direction
// has moved for the idle timeout. When src ends, dst is half-closed so the
// other direction can finish; on an error both are closed.
func (g *Gateway) relay(dst, src net.Conn, last *atomic.Int64) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	idle := g.limits.IdleTimeout
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		nr, err := src.Read(buf)
		if nr > 0 {
			last.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:nr]); werr != nil {
				src.Close()
				dst.Close()
				return n
			}
			n += int64(nr)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
				continue
			}
			if err == io.EOF {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
					return n
				}
			}
			src.Close()
			dst.Close()
			return n
		}
	}
}

// track adds or removes a hijacked connection from the set Close closes.
// It reports false when the gateway is already closed.
func (g *Gateway) track(c net.Conn, add bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !add {
		delete(g.tunnels, c)
		return true
	}
	if g.closed.Load() {
		c.Close()
		return false
	}
	g.tunnels[c] = struct{}{}
	return true
}

// intercept terminates the client's TLS with a leaf certificate for the
// CONNECT target and hands the connection to the MITM server.
func (g *Gateway) intercept(client net.Conn, meta *connMeta, ev *auditEvent) {
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		client.Close()
		return
	}
	host := hostOnly(meta.target)
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			// Always the CONNECT target's name, whatever the SNI says.
			return g.leaves.get(host)
		},
	}
	// Each response write leaves in one write call (batchConn).
	tc := newBatchedTLS(client, g.records, func(bc net.Conn) *tls.Conn { return tls.Server(bc, conf) })
	client.SetDeadline(time.Now().Add(g.limits.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		g.log.Debug().Str("request_id", ev.id).Str("host", host).Err(err).Msg("client TLS handshake failed")
		tc.Close()
		// The most common roll-out failure (a client that does not trust
		// the region CA yet) must show in the audit log and the metrics.
		code := handshakeFailure(err)
		ev.action, ev.status, ev.reasonCode = "tls_failed", 0, code
		ev.reason = handshakeReasons[code]
		g.metrics.handshakeFailures.WithLabelValues(code).Inc()
		g.record(ev)
		return
	}
	client.SetDeadline(time.Time{})
	g.mitm.serve(&mitmConn{Conn: tc, meta: meta})
}

// mitmConn is a client connection whose TLS the gateway terminated. It is
// not a *tls.Conn, so net/http serves it as the plain HTTP/1.1 it now is.
type mitmConn struct {
	net.Conn
	meta *connMeta
}

// mitmServer is one http.Server for all inspected connections, so they get
// net/http's header timeouts, size limits and keep-alive handling.
type mitmServer struct {
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMITMServer(g *Gateway) *mitmServer {
	m := &mitmServer{conns: make(chan net.Conn), done: make(chan struct{})}
	m.srv = &http.Server{
		Handler:           http.HandlerFunc(g.serveInspected),
		ReadHeaderTimeout: g.limits.HeaderTimeout,
		IdleTimeout:       g.limits.IdleTimeout,
		MaxHeaderBytes:    g.limits.MaxHeaderBytes,
		ErrorLog:          newStdLogger(g.log),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if mc, ok := c.(*mitmConn); ok {
				return context.WithValue(ctx, connMetaKey, mc.meta)
			}
			return ctx
		},
	}
	go m.srv.Serve(m)
	return m
}

func (m *mitmServer) serve(c net.Conn) {
	select {
	case m.conns <- c:
	case <-m.done:
		c.Close()
	}
}

// Accept, Close and Addr make mitmServer the listener of its own server.
func (m *mitmServer) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *mitmServer) Close() error {
	m.once.Do(func() { close(m.done) })
	return nil
}

func (m *mitmServer) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// serveInspected handles a request inside an inspected CONNECT. The
// upstream is always the CONNECT target: a request naming another host is
// refused, never followed.
func (g *Gateway) serveInspected(w http.ResponseWriter, r *http.Request) {
	meta, _ := r.Context().Value(connMetaKey).(*connMeta)
	if meta == nil {
		http.Error(w, "no connection metadata", http.StatusInternalServerError)
		return
	}
	if !sameHost(r.Host, meta.target) {
		ev := g.newEvent(r, meta, meta.service)
		ev.action, ev.status, ev.reasonCode, ev.reason = "deny", http.StatusMisdirectedRequest, codeHostMismatch, "Host header differs from the CONNECT target"
		writeRefusal(w, r, ev.status, "Wrong host",
			fmt.Sprintf("This connection was opened to %s; the gateway does not send its requests anywhere else.", hostOnly(meta.target)), ev.id)
		g.record(ev)
		return
	}
	g.handle(w, r, meta)
}

// sameHost reports whether a Host header names the CONNECT target
// host:port (an omitted port meaning 443).
func sameHost(hostHeader, target string) bool {
	th, tp, _ := net.SplitHostPort(target)
	h, p, err := net.SplitHostPort(hostHeader)
	if err != nil {
		h, p = hostHeader, "443"
	}
	return strings.EqualFold(strings.TrimSuffix(h, "."), th) && p == tp
}

// Reasons a client's TLS handshake with the gateway failed, as audited
// (reason_code) and counted (sluss_tls_handshake_failures_total).
const (
	tlsUntrustedCA   = "client_untrusted_ca"
	tlsVersion       = "protocol_version"
	tlsNoCipher      = "no_shared_cipher"
	tlsNotTLS        = "not_tls"
	tlsTimeout       = "timeout"
	tlsClientClosed  = "client_closed"
	tlsClientAborted = "client_alert"
	tlsOther         = "other"
)

var handshakeReasons = map[string]string{
	tlsUntrustedCA:   "the client does not trust the region CA's certificate (install the region CA)",
	tlsVersion:       "the client offered no TLS version the gateway accepts (TLS 1.2 or later)",
	tlsNoCipher:      "the client offered no cipher suite the gateway accepts",
	tlsNotTLS:        "the client did not speak TLS after CONNECT",
	tlsTimeout:       "the client did not finish the TLS handshake in time",
	tlsClientClosed:  "the client closed the connection during the TLS handshake (often: it does not trust the region CA)",
	tlsClientAborted: "the client aborted the TLS handshake with an alert",
	tlsOther:         "the TLS handshake failed",
}

// handshakeFailure names why a client handshake failed. crypto/tls has
// no typed errors for these, so the messages it documents are matched.
func handshakeFailure(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return tlsTimeout
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return tlsClientClosed
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return tlsNotTLS
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "remote error: tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: certificate unknown"),
		strings.Contains(msg, "remote error: tls: unsupported certificate"),
		strings.Contains(msg, "remote error: tls: certificate expired"),
		// An OpenSSL client (curl) under TLS 1.3 that rejects the
		// certificate sends its alert unencrypted, before it switched to
		// the handshake keys; crypto/tls then reads a bad record MAC.
		strings.Contains(msg, "local error: tls: bad record MAC"):
		return tlsUntrustedCA
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version not supported"):
		return tlsVersion
	case strings.Contains(msg, "no cipher suite supported"), strings.Contains(msg, "handshake failure"):
		return tlsNoCipher
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return tlsNotTLS
	case strings.Contains(msg, "remote error:"):
		return tlsClientAborted
	case strings.Contains(msg, "connection reset by peer"), strings.Contains(msg, "broken pipe"):
		return tlsClientClosed
	}
	return tlsOther
}
