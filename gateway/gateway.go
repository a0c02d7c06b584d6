package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/rs/zerolog"

	"github.com/sluss/sluss/pseudonym"
)

// Gateway is the proxy. It is an http.Handler for the proxy listener;
// [Gateway.Serve] adds the connection limits and timeouts it needs.
type Gateway struct {
	limits Limits
	policy *Policy
	keys   KeySource
	users  *Users // nil: no authentication, loopback clients only
	pseudo *pseudonym.Pseudonymizer

	metrics   *metrics
	api       *apiAuth
	pacProxy  string                 // configured address PAC files name
	proxyAddr atomic.Pointer[string] // the proxy listener's address
	audit     zerolog.Logger
	auditLog  *AuditLog // nil: the audit logger's health is not known
	log       zerolog.Logger

	leaves    *leafCache
	records   *recordPool // batches of TLS records (batchConn)
	transport *http.Transport
	connect   *goproxy.ProxyHttpServer
	forward   *httputil.ReverseProxy
	mitm      *mitmServer

	// resolve looks up a host's addresses and dialAddr connects to one
	// checked address (see dialChecked); tests give names their own
	// addresses through resolve.
	resolve  func(ctx context.Context, host string) ([]netip.Addr, error)
	dialAddr func(ctx context.Context, network, addr string) (net.Conn, error)
	own      *ownListeners

	mu      sync.Mutex
	tunnels map[net.Conn]struct{}
	closed  atomic.Bool
	servers []*http.Server

	readyChecks []readyCheck
}

// An Option sets what New needs beyond the configuration.
type Option func(*Gateway)

// WithPseudonymizer gives the gateway the pseudonymizer that rules which
// pseudonymize or re-identify use. Without one, such rules refuse.
func WithPseudonymizer(p *pseudonym.Pseudonymizer) Option {
	return func(g *Gateway) { g.pseudo = p }
}

// WithReadyCheck adds a check /readyz runs (a shared database, for
// example): while it fails, the gateway reports not ready with the
// check's name and error.
func WithReadyCheck(name string, check func(context.Context) error) Option {
	return func(g *Gateway) { g.readyChecks = append(g.readyChecks, readyCheck{name, check}) }
}

type readyCheck struct {
	name  string
	check func(context.Context) error
}

// New builds a gateway. Audit events go to audit, one per request;
// diagnostics (never content) go to log.
func New(cfg Config, keys KeySource, audit, log zerolog.Logger, opts ...Option) (*Gateway, error) {
	if keys == nil {
		return nil, errors.New("gateway needs a key source")
	}
	policy, err := NewPolicy(&cfg)
	if err != nil {
		return nil, err
	}
	m := newMetrics(keys.Ready)
	keys = countingKeys{keys, m}
	g := &Gateway{
		limits:   cfg.Limits.withDefaults(),
		policy:   policy,
		keys:     keys,
		metrics:  m,
		pacProxy: cfg.PACProxy,
		audit:    audit,
		log:      log,
		leaves:   newLeafCache(keys),
		tunnels:  map[net.Conn]struct{}{},
	}
	for _, o := range opts {
		o(g)
	}
	m.watchAudit(g.auditLog)
	g.own = newOwnListeners()
	if g.api, err = newAPIAuth(cfg.API); err != nil {
		return nil, err
	}
	g.api.fromGateway = g.own.fromGateway
	if cfg.UsersFile != "" {
		if g.users, err = LoadUsers(cfg.UsersFile, cfg.Groups); err != nil {
			return nil, err
		}
	}
	roots, err := upstreamRoots(cfg.UpstreamCA)
	if err != nil {
		return nil, err
	}
	g.dialAddr = (&net.Dialer{Timeout: g.limits.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	fixed, err := fixedAddresses(cfg.Resolve)
	if err != nil {
		return nil, err
	}
	g.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
		if a, ok := fixed[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
			return a, nil
		}
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	g.records = &recordPool{}
	g.transport = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return g.dialChecked(ctx, network, addr, false)
		},
		// dialTLS makes the TLS connection with the TLSClientConfig and
		// TLSHandshakeTimeout set here.
		DialTLSContext:        g.dialTLS,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   g.limits.HandshakeTimeout,
		ResponseHeaderTimeout: g.limits.ResponseTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   64,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
		DisableCompression:    true,
	}
	g.forward = &httputil.ReverseProxy{
		Rewrite:      g.rewrite,
		Transport:    roundTripperFunc(g.roundTrip),
		ErrorHandler: g.forwardError,
		BufferPool:   &bufferPool{},
		ErrorLog:     newStdLogger(log),
	}
	g.connect = goproxy.NewProxyHttpServer()
	g.connect.Logger = newStdLogger(log)
	g.connect.OnRequest().HandleConnectFunc(g.onConnect)
	g.mitm = newMITMServer(g)
	return g, nil
}

// fixedAddresses parses the resolve: section.
func fixedAddresses(m map[string][]string) (map[string][]netip.Addr, error) {
	out := make(map[string][]netip.Addr, len(m))
	for name, list := range m {
		if len(list) == 0 {
			return nil, fmt.Errorf("resolve: %s has no address", name)
		}
		for _, a := range list {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("resolve: %s: %q is not an IP address", name, a)
			}
			key := strings.ToLower(strings.TrimSuffix(name, "."))
			out[key] = append(out[key], ip.Unmap())
		}
	}
	return out, nil
}

func upstreamRoots(extraCA string) (*x509.CertPool, error) {
	if extraCA == "" {
		return nil, nil // system roots
	}
	pem, err := os.ReadFile(extraCA)
	if err != nil {
		return nil, fmt.Errorf("failed to read upstream CA: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("upstream CA %s holds no PEM certificate", extraCA)
	}
	return roots, nil
}

// connMeta is what the gateway knows of the connection a request came on.
type connMeta struct {
	target  string // host:port the request goes to
	scheme  string // https inside an inspected CONNECT, http otherwise
	user    *User
	service *Service
}

type ctxKey int

const (
	exchangeKey ctxKey = iota
	connMetaKey
)

// ServeHTTP serves the proxy listener: CONNECT goes to goproxy's
// dispatcher (and from there to a tunnel or the MITM server), plain HTTP
// proxy requests are handled here.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		g.connect.ServeHTTP(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		writeRefusal(w, r, http.StatusBadRequest, "This is a proxy",
			"sluss is the region's cloud gateway: set it as your HTTP and HTTPS proxy instead of opening it directly.", newRequestID())
		return
	}
	target := r.URL.Host
	if r.URL.Port() == "" {
		target = net.JoinHostPort(r.URL.Hostname(), "80")
	}
	a := g.admit(r.Context(), r, target, false)
	if rf := a.refusal; rf != nil {
		ev := g.newEvent(r, &connMeta{target: target, user: a.user}, a.service)
		ev.deny(rf)
		if a.user != nil {
			ev.path = g.auditPath(r)
		}
		if rf.status == http.StatusProxyAuthRequired {
			w.Header().Set("Proxy-Authenticate", `Basic realm="sluss"`)
		}
		writeRefusal(w, r, rf.status, rf.title, rf.reason, ev.id)
		g.record(ev)
		return
	}
	meta := &connMeta{target: a.target, scheme: "http", user: a.user, service: a.service}
	g.handle(w, r, meta)
}

// authenticate returns the user of a request. Without a users file, every
// client is the local user (Serve only listens on loopback then).
func (g *Gateway) authenticate(r *http.Request) (*User, bool) {
	if g.users == nil {
		return localUser(), true
	}
	u := g.users.authenticate(r.Header)
	return u, u != nil
}

func (g *Gateway) newEvent(r *http.Request, meta *connMeta, svc *Service) *auditEvent {
	ev := &auditEvent{id: newRequestID(), start: time.Now(), client: r.RemoteAddr, method: r.Method, host: hostOnly(r.Host)}
	if meta != nil {
		ev.host = hostOnly(meta.target)
		if meta.user != nil {
			ev.user = meta.user.Name
		}
	}
	if svc != nil {
		ev.service = svc.Name
	}
	return ev
}

// auditPath is the request path as the audit log may show it: a path can
// hold a personnummer or a name (/patients/19121212-1212), so it is logged
// pseudonymized, with the same tokens an upstream would see, and not at
// all when that cannot be done. Pseudonymizing services replace it with
// the path they actually sent (Exchange.AuditPath). Only for
// authenticated users: the pseudonyms go into the re-identification store.
func (g *Gateway) auditPath(r *http.Request) string {
	path := r.URL.EscapedPath()
	if !pseudonym.MayHoldIdentifier(path) {
		return path
	}
	if g.pseudo == nil {
		return ""
	}
	p, _, err := g.pseudo.PseudonymizePath(r.Context(), path)
	if err != nil {
		return ""
	}
	return p
}

// handle applies the service's policy to one request and forwards it.
func (g *Gateway) handle(w http.ResponseWriter, r *http.Request, meta *connMeta) {
	svc := meta.service
	ev := g.newEvent(r, meta, svc)
	if rf := g.auditRefusal(); rf != nil {
		// Also inside an inspected connection opened before the log
		// failed.
		ev.deny(rf)
		writeRefusal(w, r, rf.status, rf.title, rf.reason, ev.id)
		g.record(ev)
		return
	}
	if !svc.pseudonymizes() {
		// A pseudonymizing service logs the path it sent
		// (Exchange.AuditPath) instead.
		ev.path = g.auditPath(r)
	}
	// A client that stops reading or sending holds a request for at most
	// the idle timeout: every write and body read pushes the deadline on.
	rc := http.NewResponseController(w)
	cw := &countingWriter{ResponseWriter: w, rc: rc, idle: g.limits.IdleTimeout}
	rc.SetWriteDeadline(time.Now().Add(g.limits.IdleTimeout))
	x := &Exchange{ID: ev.id, User: meta.user, Service: svc, Keys: g.keys, Pseudonymizer: g.pseudo, limits: g.limits, Log: g.log.With().Str("request_id", ev.id).Logger()}
	var up int64
	var upg *upgrade // a request to switch protocols, admitted
	defer func() {
		ev.bytesDown, ev.status, ev.bytesUp, ev.keyVersion = cw.n, cw.status, atomic.LoadInt64(&up), x.KeyVersion
		upg.finish(ev)
		ev.counts = x.Counts()
		if x.AuditPath != "" {
			ev.path = x.AuditPath
		}
		ev.action = string(x.Outcome())
		if ev.status == 0 {
			ev.status = http.StatusOK
		}
		if p := recover(); p != nil {
			// The response was cut (a tampered download, or the client went
			// away): record it, then let net/http close the connection.
			if ev.reason == "" {
				ev.reason = "response cut"
			}
			g.record(ev)
			panic(p)
		}
		g.record(ev)
	}()
	switch svc.Action {
	case Tunnel:
		x.settle(OutcomeTunnel)
		x.Rule = &Rule{}
	default:
		x.settle(OutcomeInspect)
		x.Rule = svc.ruleFor(r)
		if x.Rule.Deny != "" {
			x.Denied()
			ev.reasonCode, ev.reason = codeRule, x.Rule.Deny
			writeRefusal(cw, r, http.StatusForbidden, "Not allowed by policy", x.Rule.Deny, ev.id)
			return
		}
	}
	var ok bool
	if upg, ok = g.admitUpgrade(cw, r, svc, x, ev); !ok {
		return
	}
	st := &exchangeState{x: x, meta: meta, ev: ev, upgrade: upg}
	if r.Body != nil && r.Body != http.NoBody {
		st.body = &countingBody{ReadCloser: r.Body, n: &up, rc: rc, idle: g.limits.IdleTimeout}
		r.Body = st.body
	}
	ctx := context.WithValue(r.Context(), exchangeKey, st)
	g.forward.ServeHTTP(upg.responseWriter(cw), r.WithContext(ctx))
}

type exchangeState struct {
	x       *Exchange
	meta    *connMeta
	ev      *auditEvent
	upgrade *upgrade      // nil unless the request asks to switch protocols
	body    *countingBody // the client's request body, if any
}

func stateFrom(ctx context.Context) *exchangeState {
	s, _ := ctx.Value(exchangeKey).(*exchangeState)
	return s
}

// rewrite points the outgoing request at the connection's target, whatever
// the request itself says.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	s := stateFrom(pr.In.Context())
	pr.Out.URL.Scheme = s.meta.scheme
	pr.Out.URL.Host = s.meta.target
	if p := pr.Out.URL.Port(); (s.meta.scheme == "https" && p == "443") || (s.meta.scheme == "http" && p == "80") {
		pr.Out.URL.Host = pr.Out.URL.Hostname()
	}
	pr.Out.Host = ""
	pr.Out.Header.Del("Expect")
	pr.Out.Header.Del("Proxy-Authorization")
}

// roundTrip runs the rule's request transformers, then its response chain
// around the upstream transport.
func (g *Gateway) roundTrip(req *http.Request) (*http.Response, error) {
	s := stateFrom(req.Context())
	for _, t := range s.x.Rule.Request {
		if err := t.TransformRequest(s.x, req); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	if err := bufferSmallBody(req); err != nil {
		return nil, err
	}
	rt := chain(s.x, s.x.Rule.Response, g.transport)
	if s.upgrade != nil {
		return s.upgrade.roundTrip(req, rt)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil && resp.StatusCode/100 == 2 && s.body != nil && s.body.broken.Load() {
		// The client broke its body off, yet the upstream answered
		// success before the transport gave up on the request (a handler
		// that returns on its read error answers 200). A cut upload did
		// not succeed: it is the client's failure, as when the transport
		// sees the error first. A refusal (a resumable adapter's 400
		// for a cut piece) is passed on as it is.
		resp.Body.Close()
		return nil, context.Canceled
	}
	return resp, err
}

// smallBodyLimit is the largest outgoing body read whole before it is sent.
const smallBodyLimit = 16 << 10

// bufferSmallBody reads a body of known length up to smallBodyLimit (after
// the request transformers: for an upload, the whole age file) into memory.
// net/http then writes the headers and the body upstream in one TLS record
// and one syscall; for a body it must stream, it flushes the headers first,
// and an age file comes as three more pieces (header, nonce, payload).
// Memory stays bounded by the limit, and a body that cannot be read whole
// fails before anything is sent upstream.
func bufferSmallBody(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 || req.ContentLength > smallBodyLimit {
		return nil
	}
	buf := make([]byte, req.ContentLength+1)
	n, err := io.ReadFull(req.Body, buf)
	req.Body.Close()
	switch {
	case err == nil:
		return fmt.Errorf("request body longer than its Content-Length %d", req.ContentLength)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		return err
	case int64(n) != req.ContentLength:
		return fmt.Errorf("request body of %d bytes shorter than its Content-Length %d", n, req.ContentLength)
	}
	req.Body = io.NopCloser(bytes.NewReader(buf[:n]))
	return nil
}

// forwardError answers a request that could not be forwarded.
func (g *Gateway) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	s := stateFrom(r.Context())
	var re *RefusedError
	var ee *EgressError
	switch {
	case errors.As(err, &re):
		s.x.Denied()
		s.ev.reason, s.ev.keyFailure = re.Reason, re.KeyFailure
		if s.ev.reasonCode == "" {
			s.ev.reasonCode = codeTransformation
		}
		s.x.Log.Debug().Err(err).Int("status", re.Status).Msg("request refused")
		writeRefusal(w, r, re.Status, "Refused by the gateway", re.Reason, s.ev.id)
	case errors.As(err, &ee):
		rf := egressRefusal(ee)
		s.x.Denied()
		s.ev.reasonCode, s.ev.reason = rf.code, rf.reason
		writeRefusal(w, r, rf.status, rf.title, rf.reason, s.ev.id)
	case errors.Is(err, context.Canceled), s.body != nil && s.body.broken.Load():
		// The upload broke off on the client's side; the upstream is not
		// to blame.
		s.ev.reason = "client went away"
		w.WriteHeader(499)
	default:
		status, reason := http.StatusBadGateway, "the cloud service could not be reached"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status, reason = http.StatusGatewayTimeout, "the cloud service did not answer in time"
		}
		s.ev.reason = reason
		s.x.Log.Debug().Err(err).Msg("upstream failed")
		writeRefusal(w, r, status, "Upstream error", reason, s.ev.id)
	}
}

// countingWriter records the status and the bytes sent to the client.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	rc     *http.ResponseController
	idle   time.Duration
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.rc != nil {
		c.rc.SetWriteDeadline(time.Now().Add(c.idle))
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

type countingBody struct {
	io.ReadCloser
	n    *int64
	rc   *http.ResponseController
	idle time.Duration
	// broken is set when reading from the client failed (it went away or
	// stalled), not when the body was closed for us.
	broken atomic.Bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.rc != nil {
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.ReadCloser.Read(p)
	atomic.AddInt64(b.n, int64(n))
	if err != nil && err != io.EOF && !errors.Is(err, http.ErrBodyReadAfterClose) {
		b.broken.Store(true)
	}
	return n, err
}

// bufferPool hands ReverseProxy 64 KiB buffers, the age chunk size.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 64<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// newStdLogger adapts the debug logger for libraries that want a *log.Logger.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(debugWriter{l}, "", 0)
}

type debugWriter struct{ l zerolog.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	d.l.Debug().Msg(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
