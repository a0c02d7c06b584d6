package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/net/http/httpguts"

	"github.com/sluss/sluss/pseudonym"
)

// WebSocketMode is what a rule does with WebSocket upgrades
// ([Rule.WebSocket]). After a 101 Switching Protocols, httputil.ReverseProxy
// would relay the bytes between client and service unread, so the gateway
// decides first:
//
//   - Only WebSocket is switched to. Any other Upgrade (h2c, or anything
//     else) is refused with 403 on every service, inspect and the plain
//     HTTP path of tunnel services included: the gateway cannot apply a
//     policy to a protocol it does not read. (A CONNECT tunnel is never
//     read, so what it carries is the tunnelled service's business.)
//   - WebSocketPseudonymize (the default of rules that pseudonymize, such
//     as the form profile's): every frame is read and checked (wsReader);
//     text messages from the client are pseudonymized before they go
//     upstream and those from the service re-identified for users with
//     the reidentify right; binary messages are refused with close 1003
//     unless the rule sets WebSocketBinary; permessage-deflate and every
//     other extension is taken out of the handshake, and a service that
//     answers with one anyway gets its connection closed (502 to the
//     client).
//   - WebSocketRefuse (the default of rules that encrypt or decrypt, such
//     as the storage and webdav profiles', and of any rule whose
//     transformers say nothing about text): 403, audited as deny.
//   - WebSocketRelay (the default of rules without transformers: inspect
//     services, and tunnel services reached over plain HTTP): relayed as
//     sent, with bytes counted and, on inspect services, messages.
//
// Every session gets one audit event when it ends, with the bytes and
// messages each way and the identifiers replaced. A session with no
// traffic either way for Limits.IdleTimeout is closed.
type WebSocketMode string

const (
	WebSocketRefuse       WebSocketMode = "refuse"
	WebSocketRelay        WebSocketMode = "relay"
	WebSocketPseudonymize WebSocketMode = "pseudonymize"
)

// webSocketMode is the rule's mode: set, or derived from its transformers.
func (ru *Rule) webSocketMode() WebSocketMode {
	if ru.WebSocket != "" {
		return ru.WebSocket
	}
	pseudo := false
	for _, t := range ru.Request {
		switch t := t.(type) {
		case Pseudonymize:
			if t.EncryptedBody || t.MarkupAsText {
				// Metadata-only rules of storage and webdav services.
				return WebSocketRefuse
			}
			pseudo = true
		default:
			// Encrypt, or anything else that does not read text.
			return WebSocketRefuse
		}
	}
	switch {
	case pseudo:
		return WebSocketPseudonymize
	case len(ru.Response) == 0:
		return WebSocketRelay
	}
	return WebSocketRefuse
}

// parseWebSocket reads a rule's websocket and websocket_binary settings.
func parseWebSocket(ru *Rule, mode, binary string) error {
	switch m := WebSocketMode(mode); m {
	case "", WebSocketRefuse, WebSocketRelay, WebSocketPseudonymize:
		ru.WebSocket = m
	default:
		return fmt.Errorf("websocket must be refuse, relay or pseudonymize, not %q", mode)
	}
	switch binary {
	case "", "refuse":
	case "allow":
		if ru.webSocketMode() != WebSocketPseudonymize {
			return errors.New("websocket_binary applies only to pseudonymized WebSocket sessions (websocket: pseudonymize, or a pseudonymize request transformer)")
		}
		ru.WebSocketBinary = true
	default:
		return fmt.Errorf("websocket_binary must be allow or refuse, not %q", binary)
	}
	return nil
}

// upgradeProtocol is the protocol a request asks to switch to, as
// ReverseProxy would forward it: "" for none, otherwise "websocket",
// "h2c" or "other" (never the client's own text, which goes to the log).
func upgradeProtocol(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") || h.Get("Upgrade") == "" {
		return ""
	}
	v := strings.TrimSpace(h.Get("Upgrade"))
	switch {
	case len(h["Upgrade"]) == 1 && strings.EqualFold(v, "websocket"):
		return "websocket"
	case strings.EqualFold(v, "h2c"):
		return "h2c"
	}
	return "other"
}

// upgrade is a request that asks to switch protocols, from admission to
// the end of its session.
type upgrade struct {
	g      *Gateway
	x      *Exchange
	mode   WebSocketMode
	binary bool
	count  bool // count messages (not on tunnels)
	stats  *upgradeStats

	rc      *http.ResponseController // the client's, for Hijack
	mu      sync.Mutex               // guards client and backend
	client  *upgradeConn             // once hijacked
	backend io.Closer                // once the service switched
	session *wsSession               // pseudonymize mode, once switched
}

// upgradeStats is what the audit event says of an upgrade.
type upgradeStats struct {
	protocol     string
	switched     bool
	counted      bool // messages are counted (not on tunnels)
	messagesUp   atomic.Int64
	messagesDown atomic.Int64
	closeCode    atomic.Int32 // of the first close frame, sent or relayed
	closedBy     atomic.Pointer[string]
}

func (s *upgradeStats) closed(code int, by string) {
	if s.closeCode.CompareAndSwap(0, int32(code)) {
		s.closedBy.Store(&by)
	}
}

func (s *upgradeStats) fields(ev *zerolog.Event) *zerolog.Event {
	ev = ev.Str("upgrade", s.protocol)
	if !s.switched {
		return ev
	}
	if s.counted {
		ev = ev.Int64("ws_messages_up", s.messagesUp.Load()).Int64("ws_messages_down", s.messagesDown.Load())
	}
	if c := s.closeCode.Load(); c != 0 {
		ev = ev.Int32("ws_close", c)
		if by := s.closedBy.Load(); by != nil {
			ev = ev.Str("ws_closed_by", *by)
		}
	}
	return ev
}

// admitUpgrade decides on a request that asks to switch protocols, once
// its rule is known. It returns nil and true for other requests; false
// when it refused the request (and answered it).
func (g *Gateway) admitUpgrade(w *countingWriter, r *http.Request, svc *Service, x *Exchange, ev *auditEvent) (*upgrade, bool) {
	proto := upgradeProtocol(r.Header)
	if proto == "" {
		return nil, true
	}
	ev.upgrade = &upgradeStats{protocol: proto}
	deny := func(status int, reason string) (*upgrade, bool) {
		x.Denied()
		ev.reasonCode, ev.reason = codeUpgrade, reason
		writeRefusal(w, r, status, "Not allowed by policy", reason, ev.id)
		return nil, false
	}
	if proto != "websocket" {
		what := "another protocol"
		if proto == "h2c" {
			what = "HTTP/2 (h2c)"
		}
		return deny(http.StatusForbidden, "the gateway does not switch connections to "+what+": it can apply the region's policy only to HTTP and WebSocket")
	}
	mode := x.Rule.webSocketMode()
	if svc.Action == Tunnel {
		mode = WebSocketRelay
	}
	switch mode {
	case WebSocketRefuse:
		return deny(http.StatusForbidden, "no rule of service "+svc.Name+" allows WebSocket connections")
	case WebSocketPseudonymize:
		if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) || r.Header.Get("Sec-WebSocket-Version") != "13" || !validWSKey(r.Header.Get("Sec-WebSocket-Key")) {
			return deny(http.StatusBadRequest, "not a valid WebSocket handshake (RFC 6455 section 4.1: GET, HTTP/1.1, Sec-WebSocket-Version 13 and a Sec-WebSocket-Key)")
		}
	}
	return &upgrade{g: g, x: x, mode: mode, binary: x.Rule.WebSocketBinary, count: svc.Action != Tunnel, stats: ev.upgrade, rc: w.rc}, true
}

// roundTrip is the step of the round trip that switches: outside the
// response transformers, which pass a 101 as it is.
func (u *upgrade) roundTrip(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	if u.mode == WebSocketPseudonymize {
		if u.x.Pseudonymizer == nil {
			return nil, refuse(http.StatusServiceUnavailable, "pseudonymization is not available on this gateway, so nothing was sent", nil)
		}
		if !u.x.Rule.pseudonymizes() {
			// The rule asks for pseudonymized sessions without
			// pseudonymizing requests: the handshake's URL too.
			if err := (Pseudonymize{}).TransformRequest(u.x, req); err != nil {
				return nil, err
			}
		}
		// Compressed frames could not be read.
		req.Header.Del("Sec-WebSocket-Extensions")
	}
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, errors.New("101 response without a connection")
	}
	u.setBackend(rwc)
	switch u.mode {
	case WebSocketPseudonymize:
		if upgradeProtocol(resp.Header) != "websocket" {
			rwc.Close()
			return nil, refuse(http.StatusBadGateway, "the service switched to another protocol than WebSocket, so the connection was closed", nil)
		}
		if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
			rwc.Close()
			return nil, refuse(http.StatusBadGateway, "the service answered with a WebSocket extension the gateway cannot read, so the connection was closed", nil)
		}
		if resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(req.Header.Get("Sec-WebSocket-Key")) {
			rwc.Close()
			return nil, refuse(http.StatusBadGateway, "the service's WebSocket handshake answer is invalid, so the connection was closed", nil)
		}
		u.stats.switched, u.stats.counted = true, true
		u.session = newWSSession(req.Context(), u, rwc)
		resp.Body = u.session
		u.x.Pseudonymized()
	case WebSocketRelay:
		u.stats.switched, u.stats.counted = true, u.count
		if u.count {
			resp.Body = &countingRelay{ReadWriteCloser: rwc, stats: u.stats}
		}
	}
	return resp, nil
}

func (u *upgrade) setBackend(c io.Closer) {
	u.mu.Lock()
	u.backend = c
	u.mu.Unlock()
}

// responseWriter is the writer ReverseProxy gets: for an upgrade, one
// whose Hijack hands out a connection the gateway counts, watches for
// idleness and can close.
func (u *upgrade) responseWriter(w *countingWriter) http.ResponseWriter {
	if u == nil {
		return w
	}
	return &upgradeWriter{countingWriter: w, u: u}
}

type upgradeWriter struct {
	*countingWriter
	u *upgrade
}

func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.u.rc.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return w.u.hijacked(conn, brw), brw, nil
}

// hijacked wraps the client connection once ReverseProxy takes it over.
func (u *upgrade) hijacked(conn net.Conn, brw *bufio.ReadWriter) net.Conn {
	var r io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after its request: ReverseProxy
		// would read past them.
		b, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn)
	}
	c := &upgradeConn{Conn: conn, r: r, idle: u.g.limits.IdleTimeout}
	c.last.Store(time.Now().UnixNano())
	c.timer = time.AfterFunc(c.idle, c.checkIdle)
	u.mu.Lock()
	u.client = c
	u.mu.Unlock()
	u.g.track(c, true)
	return c
}

// finish ends the session, if any, and completes the audit event: status
// 101, the bytes and messages each way. It runs when the handler returns.
func (u *upgrade) finish(ev *auditEvent) {
	if u == nil {
		return
	}
	u.mu.Lock()
	client, backend := u.client, u.backend
	u.mu.Unlock()
	if u.session != nil {
		u.session.kill()
		u.session.wg.Wait()
		if ev.reason == "" {
			ev.reason = u.session.reason
		}
	} else if backend != nil {
		backend.Close()
	}
	if client == nil {
		return
	}
	client.done.Store(true)
	client.timer.Stop()
	client.Close()
	u.g.track(client, false)
	ev.status = http.StatusSwitchingProtocols
	ev.bytesUp, ev.bytesDown = client.up.Load(), client.down.Load()
	if client.idled.Load() && ev.reason == "" {
		ev.reason = "idle timeout"
	}
}

// upgradeConn is the client connection of a session: bytes counted, and
// closed when neither direction has moved for the idle timeout.
type upgradeConn struct {
	net.Conn
	r     io.Reader
	up    atomic.Int64
	down  atomic.Int64
	last  atomic.Int64
	idle  time.Duration
	timer *time.Timer
	idled atomic.Bool
	done  atomic.Bool // the session is over: the timer stays off
}

func (c *upgradeConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.up.Add(int64(n))
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *upgradeConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.down.Add(int64(n))
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *upgradeConn) checkIdle() {
	if c.done.Load() {
		return
	}
	if d := time.Since(time.Unix(0, c.last.Load())); d < c.idle {
		c.timer.Reset(c.idle - d)
		return
	}
	c.idled.Store(true)
	// Both copies of ReverseProxy end, and it closes the service's side.
	c.Conn.Close()
}

// countingRelay is the service's side of a relayed session: bytes pass
// unchanged, messages are counted.
type countingRelay struct {
	io.ReadWriteCloser
	stats    *upgradeStats
	up, down wsCounter
}

func (c *countingRelay) Write(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Write(p)
	c.stats.messagesUp.Add(int64(c.up.feed(p[:n])))
	return n, err
}

func (c *countingRelay) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	c.stats.messagesDown.Add(int64(c.down.feed(p[:n])))
	return n, err
}

// wsCloseGrace is how long the gateway waits, after it closed a session
// itself, for both sides to close theirs.
const wsCloseGrace = 5 * time.Second

// wsSession is the service's side of a pseudonymized session, as
// ReverseProxy sees it: Write takes the client's bytes, Read gives the
// bytes for the client. Two goroutines read the frames of each direction,
// transform text messages and write frames to the other side.
type wsSession struct {
	ctx     context.Context
	u       *upgrade
	x       *Exchange
	backend io.ReadWriteCloser
	max     int

	upR     *io.PipeReader // the client's bytes, for the client side's reader
	upW     *io.PipeWriter
	downR   *io.PipeReader // frames for the client
	downW   *io.PipeWriter
	client  wsSide
	service wsSide

	mu      sync.Mutex
	failing bool   // the gateway closed the session: frames are dropped
	reason  string // why, for the audit event
	grace   *time.Timer
	once    sync.Once
	wg      sync.WaitGroup
}

// wsSide is one end of a session.
type wsSide struct {
	name       string // client or service, for the audit event
	in         *wsReader
	out        *wsWriter
	messages   *atomic.Int64 // messages this side sent
	sentClose  bool          // this side sent a close frame
	closeTo    atomic.Bool   // a close frame went to this side
	transform  func(ctx context.Context, msg []byte) ([]byte, error)
	control    func(ctx context.Context, p []byte, limit int) ([]byte, error)
	failReason string
}

func newWSSession(ctx context.Context, u *upgrade, backend io.ReadWriteCloser) *wsSession {
	s := &wsSession{ctx: ctx, u: u, x: u.x, backend: backend, max: u.g.limits.MaxWebSocketMessage}
	s.upR, s.upW = io.Pipe()
	s.downR, s.downW = io.Pipe()
	s.client = wsSide{name: "client", in: newWSReader(s.upR, true), out: newWSWriter(s.downW, false),
		messages: &u.stats.messagesUp, transform: s.pseudonymize, control: s.pseudonymizeControl,
		failReason: "pseudonymization is unavailable, so the message was not sent"}
	s.service = wsSide{name: "service", in: newWSReader(backend, false), out: newWSWriter(backend, true),
		messages: &u.stats.messagesDown, transform: s.reidentify, control: s.reidentifyControl,
		failReason: "re-identification is unavailable"}
	s.wg.Add(2)
	go s.run(&s.client, &s.service)
	go s.run(&s.service, &s.client)
	return s
}

func (s *wsSession) Write(p []byte) (int, error) { return s.upW.Write(p) }
func (s *wsSession) Read(p []byte) (int, error)  { return s.downR.Read(p) }
func (s *wsSession) Close() error                { s.kill(); return nil }

// kill ends the session at once: both loops stop, the service's
// connection closes.
func (s *wsSession) kill() {
	s.once.Do(func() {
		s.backend.Close()
		s.upR.CloseWithError(errWSClosed)
		s.downW.CloseWithError(io.EOF)
		s.mu.Lock()
		if s.grace != nil {
			s.grace.Stop()
		}
		s.mu.Unlock()
	})
}

// run relays the frames from one side to the other until the stream
// ends. After the gateway closed the session over a message it refused,
// the side's frames are still read (and dropped) until its close frame or
// its end, so that the peer's close is not lost to a reset connection;
// after a framing error, they cannot be. When the service's stream ends,
// the client's gets its end too (ReverseProxy then closes both).
func (s *wsSession) run(from, to *wsSide) {
	defer s.wg.Done()
	for {
		err := s.relay(from, to)
		var we *wsError
		if errors.As(err, &we) {
			s.fail(we, from)
			if we.code != wsCloseProtocol {
				continue
			}
		} else if err != nil && !errors.Is(err, errWSClosed) && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, net.ErrClosed) {
			s.x.Log.Debug().Err(err).Str("side", from.name).Msg("websocket stream ended")
		}
		if from == &s.service {
			s.downW.CloseWithError(io.EOF)
		} else if err != nil && we == nil {
			s.kill()
		}
		return
	}
}

// relay reads from's frames and writes what the policy lets through to
// to. It returns nil at the end of from's stream.
func (s *wsSession) relay(from, to *wsSide) error {
	var msg []byte
	chunk := make([]byte, 32<<10)
	for {
		h, err := from.in.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if from.sentClose || s.isFailing() {
			// Nothing may follow a close frame; after the gateway's own
			// close, frames are read only to reach the peer's close.
			continue
		}
		switch h.op {
		case wsClose, wsPing, wsPong:
			p, err := from.in.appendPayload(nil)
			if err != nil {
				return err
			}
			if err := s.controlFrame(from, to, h.op, p); err != nil {
				return err
			}
			continue
		}
		if from.in.messageOp() == wsBinary {
			if !s.u.binary {
				return &wsError{wsCloseUnsupported, "binary WebSocket messages are not allowed on this service"}
			}
			if err := to.out.copyFrame(h, from.in, chunk); err != nil {
				return err
			}
			if h.fin {
				from.messages.Add(1)
			}
			continue
		}
		if int64(len(msg))+h.length > int64(s.max) {
			return &wsError{wsCloseTooBig, fmt.Sprintf("text message larger than the gateway's limit of %d bytes", s.max)}
		}
		if msg, err = from.in.appendPayload(msg); err != nil {
			return err
		}
		if !h.fin {
			continue
		}
		if !utf8.Valid(msg) {
			return &wsError{wsCloseInvalidData, "text message is not valid UTF-8"}
		}
		from.messages.Add(1)
		out, err := from.transform(s.ctx, msg)
		if err != nil {
			s.x.Log.Debug().Err(err).Str("side", from.name).Msg("websocket message could not be transformed")
			return &wsError{wsCloseInternal, from.failReason}
		}
		if err := to.out.writeFrame(true, wsText, out); err != nil {
			return err
		}
		if msg = msg[:0]; cap(msg) > 64<<10 {
			msg = nil
		}
	}
}

// controlFrame relays a close, ping or pong frame, its payload
// transformed as text is.
func (s *wsSession) controlFrame(from, to *wsSide, op byte, p []byte) error {
	if op != wsClose {
		out, err := from.control(s.ctx, p, wsMaxControl)
		if err != nil {
			s.x.Log.Debug().Err(err).Str("side", from.name).Msg("websocket control frame could not be transformed")
			return &wsError{wsCloseInternal, from.failReason}
		}
		return to.out.writeFrame(true, op, out)
	}
	code, reason, err := parseClose(p)
	if err != nil {
		return err
	}
	from.sentClose = true
	if code == 0 {
		code = 1005 // no status code, as RFC 6455 section 7.1.5 reports it
	}
	s.u.stats.closed(code, from.name)
	if code != 0 && len(reason) > 0 {
		r, err := from.control(s.ctx, reason, wsMaxControl-2)
		if err != nil {
			s.x.Log.Debug().Err(err).Str("side", from.name).Msg("websocket close reason could not be transformed")
			r = nil
		}
		p = append(p[:2], r...)
	}
	if to.closeTo.Swap(true) {
		return nil
	}
	return to.out.writeFrame(true, wsClose, p)
}

func (s *wsSession) isFailing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failing
}

// fail closes the session on behalf of the gateway: a close frame with
// the error's code and reason to both sides, then frames are dropped until
// the sides close, or wsCloseGrace has passed.
func (s *wsSession) fail(we *wsError, from *wsSide) {
	s.mu.Lock()
	first := !s.failing
	s.failing = true
	if first {
		s.reason = we.reason
		s.grace = time.AfterFunc(wsCloseGrace, s.kill)
	}
	s.mu.Unlock()
	if !first {
		return
	}
	s.u.stats.closed(we.code, "gateway")
	s.x.Log.Debug().Int("code", we.code).Str("side", from.name).Str("reason", we.reason).Msg("websocket session closed by the gateway")
	p := closePayload(we.code, we.reason)
	for _, side := range []*wsSide{&s.client, &s.service} {
		if !side.closeTo.Swap(true) {
			side.out.writeFrame(true, wsClose, bytes.Clone(p))
		}
	}
	if we.code == wsCloseProtocol && from == &s.service {
		// No close will be read from the service: the client's stream
		// ends after the close frame.
		s.downW.CloseWithError(io.EOF)
	}
}

// pseudonymize replaces the identifiers in a text message from the
// client. A message that looks like JSON, a form or CSV is transformed in
// that format; one that only starts like it, as text.
func (s *wsSession) pseudonymize(ctx context.Context, msg []byte) ([]byte, error) {
	if !pseudonym.MayHoldIdentifier(string(msg)) {
		return msg, nil
	}
	p := s.x.Pseudonymizer
	var out bytes.Buffer
	out.Grow(len(msg) + len(msg)/4)
	c, err := p.Transform(ctx, pseudonym.FormatAuto, bytes.NewReader(msg), &out)
	var se *pseudonym.SyntaxError
	if errors.As(err, &se) {
		out.Reset()
		c, err = p.Transform(ctx, pseudonym.FormatText, bytes.NewReader(msg), &out)
	}
	if err != nil {
		return nil, err
	}
	s.x.AddCounts(c)
	if !utf8.Valid(out.Bytes()) {
		return nil, errors.New("pseudonymized message is not valid UTF-8")
	}
	return out.Bytes(), nil
}

// pseudonymizeControl pseudonymizes a control frame's payload as text.
// One that no longer fits is sent empty: what leaves never holds the
// identifier.
func (s *wsSession) pseudonymizeControl(ctx context.Context, p []byte, limit int) ([]byte, error) {
	if !pseudonym.MayHoldIdentifier(string(p)) {
		return p, nil
	}
	out, c, err := s.x.Pseudonymizer.PseudonymizeString(ctx, pseudonym.FormatText, string(p))
	if err != nil {
		return nil, err
	}
	s.x.AddCounts(c)
	if len(out) > limit {
		return nil, nil
	}
	return []byte(out), nil
}

// reidentify puts the originals back in a text message from the service,
// for users with the reidentify right; others get it as sent.
func (s *wsSession) reidentify(ctx context.Context, msg []byte) ([]byte, error) {
	if !s.canReidentify() || !bytes.Contains(msg, []byte(pseudonym.TokenPrefix)) {
		return msg, nil
	}
	f := pseudonym.FormatText
	if json.Valid(msg) {
		f = pseudonym.FormatJSON
	}
	var out bytes.Buffer
	c, err := s.x.Pseudonymizer.Reidentify(ctx, f, bytes.NewReader(msg), &out)
	if err != nil {
		return nil, err
	}
	s.x.AddCounts(c)
	return out.Bytes(), nil
}

// reidentifyControl re-identifies a control frame's payload; one that
// would no longer fit keeps its tokens.
func (s *wsSession) reidentifyControl(ctx context.Context, p []byte, limit int) ([]byte, error) {
	if !s.canReidentify() || !bytes.Contains(p, []byte(pseudonym.TokenPrefix)) {
		return p, nil
	}
	out, c, err := s.x.Pseudonymizer.ReidentifyString(ctx, pseudonym.FormatText, string(p))
	if err != nil {
		return nil, err
	}
	if len(out) > limit || !utf8.ValidString(out) {
		return p, nil
	}
	s.x.AddCounts(c)
	return []byte(out), nil
}

func (s *wsSession) canReidentify() bool {
	return s.x.User.Can(RightReidentify) && s.x.Pseudonymizer != nil
}

var errWSClosed = errors.New("websocket session closed")
