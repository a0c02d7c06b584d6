package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"
	//lint:ignore SA1019 the only Go server that switches on Upgrade: h2c (net/http serves prior-knowledge HTTP/2 only), which the test needs as a service that would switch
	"golang.org/x/net/http2/h2c"
)

// The tests' WebSocket client and server are gorilla/websocket, an
// implementation other than the gateway's; a few tests that need frames
// no library sends on request (control frames inside a fragmented
// message) write them by hand over a real proxy connection.

// wsMessage is one message a test WebSocket peer received.
type wsMessage struct {
	typ  int
	data []byte
}

// wsServer is a WebSocket endpoint on the test cloud. It records the
// handshakes and the messages it gets, and echoes each message back.
type wsServer struct {
	mu         sync.Mutex
	handshakes []http.Header
	queries    []string
	messages   []wsMessage
	pings      []string
	pongs      []string
	closes     []int // close codes it received
	accepted   atomic.Int64
	done       chan struct{} // one value per finished session
}

// newWSServer serves paths on c with up (an Upgrader: compression,
// buffer sizes). onMessage, when set, answers each message instead of the
// echo.
func newWSServer(c *cloud, up websocket.Upgrader, onMessage func(*websocket.Conn, wsMessage), paths ...string) *wsServer {
	s := &wsServer{done: make(chan struct{}, 16)}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.handshakes = append(s.handshakes, r.Header.Clone())
		s.queries = append(s.queries, r.URL.RawQuery)
		s.mu.Unlock()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.accepted.Add(1)
		defer func() { s.done <- struct{}{} }()
		defer conn.Close()
		conn.SetPingHandler(func(d string) error {
			s.mu.Lock()
			s.pings = append(s.pings, d)
			s.mu.Unlock()
			return conn.WriteControl(websocket.PongMessage, []byte(d), time.Now().Add(5*time.Second))
		})
		conn.SetPongHandler(func(d string) error {
			s.mu.Lock()
			s.pongs = append(s.pongs, d)
			s.mu.Unlock()
			return nil
		})
		for {
			typ, data, err := conn.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					s.mu.Lock()
					s.closes = append(s.closes, ce.Code)
					s.mu.Unlock()
				}
				return
			}
			m := wsMessage{typ, data}
			s.mu.Lock()
			s.messages = append(s.messages, m)
			s.mu.Unlock()
			if onMessage != nil {
				onMessage(conn, m)
				continue
			}
			if err := conn.WriteMessage(typ, data); err != nil {
				return
			}
		}
	})
	for _, p := range paths {
		c.mux.Handle(p, handler)
	}
	return s
}

func (s *wsServer) handshake(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handshakes[i]
}

func (s *wsServer) received() []wsMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wsMessage(nil), s.messages...)
}

// waitDone waits for a server session to end.
func (s *wsServer) waitDone(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the server's WebSocket session did not end")
	}
}

// wsDialer is a WebSocket client that uses the gateway as its HTTPS proxy
// and trusts the region CA.
func (h *harness) wsDialer(user, pass string) *websocket.Dialer {
	pu, _ := url.Parse(h.proxy)
	if user != "" {
		pu.User = url.UserPassword(user, pass)
	}
	pool := x509.NewCertPool()
	pool.AddCert(h.keys.caCert)
	return &websocket.Dialer{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
}

func wsURL(c *cloud, path string) string { return "wss://" + c.host() + path }

// waitAudit waits for the audit event of a session, which is written when
// the session has ended on both sides.
func (h *harness) waitAudit(t *testing.T, fields ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !h.auditHas(t, fields...) {
		if time.Now().After(deadline) {
			t.Fatalf("audit lacks an event with %v:\n%s", fields, h.audit.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wsConfig is a service on the test cloud with a profile and rules, with
// alice allowed to re-identify and bob not.
func wsConfig(t *testing.T, c *cloud, profile string, rules ...RuleConfig) Config {
	cfg := storageConfig(c, profile)
	cfg.Services[0].Rules = rules
	cfg.UsersFile = writeUsers(t, map[string]string{"alice": "a-pass", "bob": "b-pass"})
	cfg.Groups = []GroupConfig{
		{Name: "staff", Members: []string{"alice", "bob"}, Rights: []string{"decrypt"}},
		{Name: "registry", Members: []string{"alice"}, Rights: []string{"reidentify"}},
	}
	return cfg
}

// wsTexts are the text messages the tests send: personnummer in both
// forms, a samordningsnummer and a name, as text and as JSON.
var wsTexts = []string{
	"Patienten Tolvan Tolvansson, 19121212-1212, ringer i morgon",
	`{"namn":"Tolvan Tolvansson","personnummer":"191212121212","samordningsnummer":"701063-2391","antal":3}`,
	"Anna Andersson, 811218-9876, har samordningsnummer 19701063-2391.",
}

// closeCode is the code of a gorilla close error, or 0.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func TestWebSocketPseudonymize(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{}, nil, "/ws/echo")
	h := newHarness(t, wsConfig(t, c, "form"))

	for _, tc := range []struct {
		user, pass string
		reidentify bool
	}{{"alice", "a-pass", true}, {"bob", "b-pass", false}} {
		t.Run(tc.user, func(t *testing.T) {
			before := len(srv.received())
			conn, resp, err := h.wsDialer(tc.user, tc.pass).Dial(wsURL(c, "/ws/echo"), nil)
			if err != nil {
				t.Fatalf("dial: %v (%v)", err, resp)
			}
			defer conn.Close()
			for _, m := range wsTexts {
				if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
					t.Fatal(err)
				}
				typ, back, err := conn.ReadMessage()
				if err != nil || typ != websocket.TextMessage {
					t.Fatalf("echo: %v", err)
				}
				got := srv.received()[len(srv.received())-1].data
				checkTokensOnly(t, "message the service got", got)
				switch {
				case tc.reidentify && string(back) != m:
					t.Errorf("alice got %q back, want the original", back)
				case !tc.reidentify && !bytes.Equal(back, got):
					t.Errorf("bob's echo is not the tokens the service got")
				}
			}
			// JSON stays JSON, its values tokens.
			var doc map[string]any
			if err := json.Unmarshal(srv.received()[before+1].data, &doc); err != nil {
				t.Fatalf("the JSON message is not JSON upstream: %v", err)
			}
			for _, k := range []string{"namn", "personnummer", "samordningsnummer"} {
				if !tokenOnly.MatchString(fmt.Sprint(doc[k])) {
					t.Errorf("%s upstream is not a token", k)
				}
			}
			conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "hej då"))
			if _, _, err := conn.ReadMessage(); closeCode(err) != websocket.CloseNormalClosure {
				t.Errorf("close: %v", err)
			}
			srv.waitDone(t)
			fields := []string{`"user":"` + tc.user + `"`, `"upgrade":"websocket"`, `"action":"pseudonymize"`, `"status":101`,
				`"ws_messages_up":3`, `"ws_messages_down":3`, `"replaced_personnummer":5`, `"ws_close":1000`, `"ws_closed_by":"client"`}
			if tc.reidentify {
				fields = append(fields, `"reidentified_personnummer":5`)
			}
			h.waitAudit(t, fields...)
		})
	}
	if h.auditHas(t, `"bytes_up":0`, `"upgrade"`) || !h.auditHas(t, `"user":"bob"`, `"upgrade"`, `"reidentified":0`) {
		t.Errorf("audit byte or re-identification counts wrong:\n%s", h.audit.String())
	}
}

// checkTokensOnly fails if b holds a personal value, or no token.
func checkTokensOnly(t *testing.T, what string, b []byte) {
	t.Helper()
	checkNoPersonalValues(t, what, string(b))
	if !tokenRE.Match(b) {
		t.Errorf("%s has no token", what)
	}
}

// TestWebSocketFragments: fragmented messages both ways are reassembled,
// pseudonymized and re-identified whole, with control frames in between.
func TestWebSocketFragments(t *testing.T) {
	c := newCloud(t)
	// The service answers in 16-byte fragments, with a ping in the
	// middle of its answer.
	srv := newWSServer(c, websocket.Upgrader{WriteBufferSize: 16}, func(conn *websocket.Conn, m wsMessage) {
		w, err := conn.NextWriter(websocket.TextMessage)
		if err != nil {
			return
		}
		half := len(m.data) / 2
		w.Write(m.data[:half])
		conn.WriteControl(websocket.PingMessage, []byte("mitt i"), time.Now().Add(5*time.Second))
		w.Write(m.data[half:])
		w.Close()
	}, "/ws/frag")
	h := newHarness(t, wsConfig(t, c, "form"))
	d := h.wsDialer("alice", "a-pass")
	d.WriteBufferSize = 16 // the client sends 16-byte fragments
	conn, _, err := d.Dial(wsURL(c, "/ws/frag"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pings := make(chan string, 4)
	conn.SetPingHandler(func(s string) error {
		pings <- s
		return conn.WriteControl(websocket.PongMessage, []byte(s), time.Now().Add(5*time.Second))
	})
	for _, m := range wsTexts {
		conn.WriteMessage(websocket.TextMessage, []byte(m))
		_, back, err := conn.ReadMessage()
		if err != nil || string(back) != m {
			t.Fatalf("fragmented echo: %v, %q", err, back)
		}
		checkTokensOnly(t, "fragmented message upstream", srv.received()[len(srv.received())-1].data)
	}
	if len(pings) != len(wsTexts) {
		t.Errorf("client saw %d pings inside fragmented messages, want %d", len(pings), len(wsTexts))
	}
	conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	conn.ReadMessage()
	srv.waitDone(t)
	srv.mu.Lock()
	pongs := len(srv.pongs)
	srv.mu.Unlock()
	if pongs != len(wsTexts) {
		t.Errorf("service got %d pongs, want %d", pongs, len(wsTexts))
	}
	h.waitAudit(t, `"upgrade":"websocket"`, `"ws_messages_up":3`, `"ws_messages_down":3`)

	// By hand: a client text message in three fragments with a ping and a
	// pong between them, each frame's length in another form.
	raw := h.rawWebSocket(t, "alice:a-pass", c.host(), "/ws/frag", nil)
	defer raw.conn.Close()
	msg := []byte(wsTexts[0] + strings.Repeat(" och 191212121212", 10) + strings.Repeat(".", 70000))
	cut1, cut2 := 20, 200
	frames := []struct {
		fin     bool
		op      byte
		payload []byte
	}{
		{false, wsText, msg[:cut1]},
		{true, wsPing, []byte("ping 19121212-1212")},
		{false, wsContinuation, msg[cut1:cut2]},
		{true, wsPong, nil},
		{true, wsContinuation, msg[cut2:]},
	}
	for _, f := range frames {
		if err := raw.w.writeFrame(f.fin, f.op, bytes.Clone(f.payload)); err != nil {
			t.Fatal(err)
		}
	}
	var echo []byte
	var pong []byte
	for echo == nil {
		fh, err := raw.r.next()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		p, _ := raw.r.appendPayload(nil)
		switch fh.op {
		case wsPong:
			pong = p
		case wsPing:
			raw.w.writeFrame(true, wsPong, p)
		case wsText, wsContinuation:
			raw.buf = append(raw.buf, p...)
			if fh.fin {
				echo = raw.buf
			}
		}
	}
	if !bytes.Equal(echo, msg) {
		t.Errorf("hand-fragmented message not echoed as sent (%d bytes back, want %d)", len(echo), len(msg))
	}
	if string(pong) != "ping 19121212-1212" {
		t.Errorf("pong %q, want the ping's payload re-identified", pong)
	}
	got := srv.received()
	up := got[len(got)-1].data
	checkTokensOnly(t, "hand-fragmented message upstream", up)
	srv.mu.Lock()
	lastPing := srv.pings[len(srv.pings)-1]
	srv.mu.Unlock()
	checkTokensOnly(t, "ping upstream", []byte(lastPing))
}

// rawWS is a WebSocket connection made by hand through the gateway.
type rawWS struct {
	conn net.Conn
	r    *wsReader
	w    *wsWriter
	buf  []byte
}

// rawWebSocket opens a WebSocket through the gateway by hand: CONNECT,
// TLS with the region CA, the upgrade request with extra headers.
func (h *harness) rawWebSocket(t *testing.T, cred, host, path string, extra http.Header) *rawWS {
	t.Helper()
	conn, br := h.rawInspected(t, cred, host)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	req, _ := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", key)
	for k, v := range extra {
		req.Header[k] = v
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return &rawWS{conn: conn, r: newWSReader(br, false), w: newWSWriter(conn, true)}
}

// rawInspected opens an inspected connection to host through the gateway
// by hand: CONNECT with cred ("user:pass"), then TLS with the region CA.
func (h *harness) rawInspected(t *testing.T, cred, host string) (net.Conn, *bufio.Reader) {
	t.Helper()
	pc, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	fmt.Fprintf(pc, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic %s\r\n\r\n", host, host, base64.StdEncoding.EncodeToString([]byte(cred)))
	pbr := bufio.NewReader(pc)
	resp, err := http.ReadResponse(pbr, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v %v", err, resp)
	}
	pool := x509.NewCertPool()
	pool.AddCert(h.keys.caCert)
	hostname, _, _ := net.SplitHostPort(host)
	tc := tls.Client(pc, &tls.Config{RootCAs: pool, ServerName: hostname})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc, bufio.NewReader(tc)
}

// TestWebSocketBinaryRefused: a binary message closes the session with
// 1003 towards both sides, and never reaches the service; a rule can
// allow binary messages, which then pass unchanged both ways.
func TestWebSocketBinaryRefused(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{}, nil, "/ws/echo", "/ws/binary-ok")
	h := newHarness(t, wsConfig(t, c, "form",
		RuleConfig{Path: "/ws/binary-ok", Request: []string{"pseudonymize"}, Response: []string{"reidentify"}, WebSocketBinary: "allow"}))
	conn, _, err := h.wsDialer("bob", "b-pass").Dial(wsURL(c, "/ws/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteMessage(websocket.TextMessage, []byte("hej"))
	if _, m, err := conn.ReadMessage(); err != nil || string(m) != "hej" {
		t.Fatalf("text before the binary message: %v", err)
	}
	bin := []byte("\x00\x01binary 19121212-1212 Tolvan Tolvansson")
	conn.WriteMessage(websocket.BinaryMessage, bin)
	_, _, err = conn.ReadMessage()
	if closeCode(err) != websocket.CloseUnsupportedData || !strings.Contains(err.Error(), "binary") {
		t.Errorf("client got %v, want close 1003 with a reason", err)
	}
	srv.waitDone(t)
	srv.mu.Lock()
	closes := append([]int(nil), srv.closes...)
	srv.mu.Unlock()
	if len(closes) != 1 || closes[0] != websocket.CloseUnsupportedData {
		t.Errorf("service got closes %v, want [1003]", closes)
	}
	for _, m := range srv.received() {
		if m.typ == websocket.BinaryMessage {
			t.Errorf("the binary message reached the service")
		}
	}
	h.waitAudit(t, `"user":"bob"`, `"ws_close":1003`, `"ws_closed_by":"gateway"`, `"ws_messages_up":1`, `"reason":"binary WebSocket messages are not allowed on this service"`)

	// Allowed by a rule: bytes unchanged both ways, text still
	// pseudonymized.
	conn, _, err = h.wsDialer("bob", "b-pass").Dial(wsURL(c, "/ws/binary-ok"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	big := append(bytes.Clone(bin), content(200<<10, 7)...)
	for _, m := range [][]byte{bin, big} {
		conn.WriteMessage(websocket.BinaryMessage, m)
		typ, back, err := conn.ReadMessage()
		if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(back, m) {
			t.Fatalf("allowed binary echo: %v, %d bytes", err, len(back))
		}
	}
	if got := srv.received(); !bytes.Equal(got[len(got)-1].data, big) {
		t.Errorf("allowed binary message changed on its way")
	}
	conn.WriteMessage(websocket.TextMessage, []byte(wsTexts[0]))
	conn.ReadMessage()
	got := srv.received()
	checkTokensOnly(t, "text next to allowed binary", got[len(got)-1].data)
	conn.Close()
	srv.waitDone(t)
}

// TestWebSocketLimits: a text message over the configured bound closes
// with 1009, invalid UTF-8 with 1007, both towards both sides and with
// nothing of the message upstream.
func TestWebSocketLimits(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{}, nil, "/ws/echo")
	cfg := wsConfig(t, c, "form")
	cfg.Limits.MaxWebSocketMessage = 1 << 10
	h := newHarness(t, cfg)
	for _, tc := range []struct {
		name string
		msg  []byte
		code int
	}{
		{"too big", []byte(strings.Repeat("19121212-1212 ", 100)), websocket.CloseMessageTooBig},
		{"not UTF-8", []byte("Tolvan \xff\xfe 19121212-1212"), websocket.CloseInvalidFramePayloadData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.received())
			d := h.wsDialer("alice", "a-pass")
			d.WriteBufferSize = 100
			conn, _, err := d.Dial(wsURL(c, "/ws/echo"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.WriteMessage(websocket.TextMessage, tc.msg)
			if _, _, err := conn.ReadMessage(); closeCode(err) != tc.code {
				t.Errorf("client got %v, want close %d", err, tc.code)
			}
			srv.waitDone(t)
			srv.mu.Lock()
			last := srv.closes[len(srv.closes)-1]
			srv.mu.Unlock()
			if last != tc.code || len(srv.received()) != before {
				t.Errorf("service got close %d and %d messages", last, len(srv.received())-before)
			}
			h.waitAudit(t, fmt.Sprintf(`"ws_close":%d`, tc.code), `"ws_closed_by":"gateway"`)
		})
	}
}

// TestWebSocketNoExtensions: permessage-deflate offered by the client is
// taken out of the handshake; a service that answers with an extension
// anyway gets its connection closed, and the client a 502.
func TestWebSocketNoExtensions(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{EnableCompression: true}, nil, "/ws/echo")
	var pushy atomic.Int64
	c.mux.HandleFunc("/ws/pushy", func(w http.ResponseWriter, r *http.Request) {
		pushy.Add(1)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		brw.Flush()
		io.Copy(io.Discard, conn)
	})
	h := newHarness(t, wsConfig(t, c, "form"))
	d := h.wsDialer("alice", "a-pass")
	d.EnableCompression = true
	conn, resp, err := d.Dial(wsURL(c, "/ws/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-WebSocket-Extensions") != "" || srv.handshake(0).Get("Sec-WebSocket-Extensions") != "" {
		t.Errorf("an extension was negotiated")
	}
	conn.WriteMessage(websocket.TextMessage, []byte(wsTexts[1]))
	if _, back, err := conn.ReadMessage(); err != nil || string(back) != wsTexts[1] {
		t.Errorf("message after the handshake: %v", err)
	}
	conn.Close()
	srv.waitDone(t)

	_, resp, err = d.Dial(wsURL(c, "/ws/pushy"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway || pushy.Load() != 1 {
		t.Fatalf("service answering with an extension: %v %v", err, resp)
	}
	h.waitAudit(t, `"action":"deny"`, `"status":502`, `"upgrade":"websocket"`, `extension`)
}

// TestWebSocketRefusedOnStorage: storage and webdav services refuse
// upgrades (403, audited as deny), unless a rule allows them.
func TestWebSocketRefusedOnStorage(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{}, nil, "/ws/echo", "/chat/echo")
	for _, profile := range []string{"storage", "webdav"} {
		t.Run(profile, func(t *testing.T) {
			h := newHarness(t, wsConfig(t, c, profile, RuleConfig{Path: "/chat/*", WebSocket: "pseudonymize"}))
			before := srv.accepted.Load()
			_, resp, err := h.wsDialer("alice", "a-pass").Dial(wsURL(c, "/ws/echo"), nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("upgrade on %s: %v %v", profile, err, resp)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), "allows WebSocket") || srv.accepted.Load() != before {
				t.Errorf("refusal: %s", body)
			}
			if !h.auditHas(t, `"action":"deny"`, `"status":403`, `"upgrade":"websocket"`, `"reason":"no rule of service cloud allows WebSocket connections"`) {
				t.Errorf("audit lacks the refusal:\n%s", h.audit.String())
			}
			// The rule for /chat/ allows them, pseudonymized, the URL
			// included.
			conn, _, err := h.wsDialer("bob", "b-pass").Dial(wsURL(c, "/chat/echo?patient=19121212-1212"), nil)
			if err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			q := srv.queries[len(srv.queries)-1]
			srv.mu.Unlock()
			checkTokensOnly(t, "handshake query upstream", []byte(q))
			conn.WriteMessage(websocket.TextMessage, []byte(wsTexts[0]))
			conn.ReadMessage()
			got := srv.received()
			checkTokensOnly(t, "message on an allowed path", got[len(got)-1].data)
			conn.Close()
			srv.waitDone(t)
		})
	}
}

// TestUpgradeH2CRefused: h2c upgrades are refused on every service,
// inspect included, through the MITM and on the plain HTTP proxy path,
// before the service sees anything; so is HTTP/2 with prior knowledge
// inside an inspected connection. The plain-HTTP service is a real h2c
// server, which would switch if asked.
func TestUpgradeH2CRefused(t *testing.T) {
	c := newCloud(t)
	var hits atomic.Int64
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); fmt.Fprint(w, r.Proto) })
	c.mux.Handle("/h2c", count)
	//lint:ignore SA1019 see the import
	plain := httptest.NewServer(h2c.NewHandler(count, &http2.Server{}))
	defer plain.Close()
	cfg := wsConfig(t, c, "inspect")
	cfg.Services[0].Ports = append(cfg.Services[0].Ports, urlPort(plain.URL))
	h := newHarness(t, cfg)
	cl := h.client("alice", "a-pass")
	// Without Upgrade, both answer: the paths work.
	for _, u := range []string{c.URL() + "/h2c", plain.URL + "/h2c"} {
		resp, err := cl.Get(u)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
	}
	before := hits.Load()
	for _, u := range []string{c.URL() + "/h2c", plain.URL + "/h2c"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, u, strings.NewReader("19121212-1212"))
			req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
			req.Header.Set("Upgrade", "h2c")
			req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("%s %s with Upgrade: h2c: %v", method, u, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "h2c") {
				t.Errorf("%s %s with Upgrade: h2c: %d %s", method, u, resp.StatusCode, body)
			}
		}
	}
	// Another protocol, and a list of them.
	for _, up := range []string{"IRC/6.9", "websocket, h2c"} {
		req, _ := http.NewRequest(http.MethodGet, c.URL()+"/h2c", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", up)
		resp, err := cl.Do(req)
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Upgrade: %s: %v %v", up, err, resp)
		}
		resp.Body.Close()
	}
	// HTTP/2 with prior knowledge inside the inspected connection.
	conn, br := h.rawInspected(t, "alice:a-pass", c.host())
	io.WriteString(conn, http2.ClientPreface)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode < 400 {
		t.Errorf("HTTP/2 preface: %v %v", err, resp)
	}
	// And on the proxy listener, where it is no proxy request.
	pc, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	io.WriteString(pc, http2.ClientPreface)
	if resp, err := http.ReadResponse(bufio.NewReader(pc), nil); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("HTTP/2 preface to the proxy listener: %v %v", err, resp)
	}
	if hits.Load() != before {
		t.Errorf("the service saw %d refused requests", hits.Load()-before)
	}
	if !h.auditHas(t, `"action":"deny"`, `"status":403`, `"upgrade":"h2c"`, `"method":"POST"`) || !h.auditHas(t, `"upgrade":"other"`) {
		t.Errorf("audit lacks the refusals:\n%s", h.audit.String())
	}
}

// TestWebSocketInspect: an inspect service relays WebSocket as sent,
// extensions included, and counts bytes and messages each way.
func TestWebSocketInspect(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{EnableCompression: true}, nil, "/ws/echo")
	h := newHarness(t, wsConfig(t, c, "inspect"))
	d := h.wsDialer("bob", "b-pass")
	d.EnableCompression = true
	d.WriteBufferSize = 64
	conn, resp, err := d.Dial(wsURL(c, "/ws/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		t.Errorf("inspect took the extension out")
	}
	conn.EnableWriteCompression(false)
	msgs := []wsMessage{{websocket.TextMessage, []byte("hej")}, {websocket.BinaryMessage, content(100<<10, 3)}, {websocket.TextMessage, []byte(strings.Repeat("x", 300))}}
	for i, m := range msgs {
		conn.EnableWriteCompression(i == 2) // a compressed message too
		conn.WriteMessage(m.typ, m.data)
		typ, back, err := conn.ReadMessage()
		if err != nil || typ != m.typ || !bytes.Equal(back, m.data) {
			t.Fatalf("relayed echo %d: %v", i, err)
		}
		if got := srv.received(); !bytes.Equal(got[len(got)-1].data, m.data) {
			t.Errorf("message %d changed on its way", i)
		}
	}
	conn.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(5*time.Second))
	conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	conn.ReadMessage()
	srv.waitDone(t)
	h.waitAudit(t, `"action":"inspect"`, `"upgrade":"websocket"`, `"status":101`, `"ws_messages_up":3`, `"ws_messages_down":3`)
	if h.auditHas(t, `"upgrade":"websocket"`, `"bytes_up":0`) || h.auditHas(t, `"upgrade":"websocket"`, `"bytes_down":0`) {
		t.Errorf("relayed bytes not counted:\n%s", h.audit.String())
	}
}

// TestWebSocketPlainHTTPTunnel: a tunnel service reached over plain HTTP
// relays a WebSocket untouched and counts its bytes; it reads no message.
func TestWebSocketPlainHTTPTunnel(t *testing.T) {
	up := websocket.Upgrader{}
	var got atomic.Value
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			typ, m, err := conn.ReadMessage()
			if err != nil {
				return
			}
			got.Store(m)
			conn.WriteMessage(typ, m)
		}
	}))
	defer plain.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(plain.URL, "http://"))
	cfg := Config{Services: []ServiceConfig{{Name: "updates", Hosts: []string{"example.com"}, Action: "tunnel", Ports: []int{urlPort(plain.URL)}, AllowLoopback: true}}}
	h := newHarness(t, cfg)
	pc, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	key := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210"))
	fmt.Fprintf(pc, "GET http://example.com:%s/ws HTTP/1.1\r\nHost: example.com:%s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", port, port, key)
	br := bufio.NewReader(pc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade through the plain proxy path: %v %v", err, resp)
	}
	w, r := newWSWriter(pc, true), newWSReader(br, false)
	msg := "Tolvan Tolvansson 19121212-1212"
	w.writeFrame(true, wsText, []byte(msg))
	if _, err := r.next(); err != nil {
		t.Fatal(err)
	}
	if back, _ := r.appendPayload(nil); string(back) != msg || string(got.Load().([]byte)) != msg {
		t.Errorf("a tunnel changed the message")
	}
	w.writeFrame(true, wsClose, closePayload(wsCloseNormal, ""))
	r.next()
	h.waitAudit(t, `"action":"tunnel"`, `"upgrade":"websocket"`, `"status":101`)
	if h.auditHas(t, `"upgrade":"websocket"`, `"bytes_up":0`) || h.auditHas(t, `ws_messages`) {
		t.Errorf("tunnel counts wrong:\n%s", h.audit.String())
	}
}

// TestWebSocketIdle: a session with no traffic for the idle timeout is
// closed, and the audit event says so.
func TestWebSocketIdle(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{}, nil, "/ws/echo")
	cfg := wsConfig(t, c, "form")
	cfg.Limits.IdleTimeout = 300 * time.Millisecond
	h := newHarness(t, cfg)
	conn, _, err := h.wsDialer("alice", "a-pass").Dial(wsURL(c, "/ws/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, _, err := conn.ReadMessage(); err == nil {
		t.Fatal("an idle session got a message")
	}
	srv.waitDone(t)
	h.waitAudit(t, `"upgrade":"websocket"`, `"reason":"idle timeout"`)
}

func TestWebSocketRuleConfig(t *testing.T) {
	for _, tc := range []struct {
		sc   ServiceConfig
		mode WebSocketMode // of the first rule
		err  string
	}{
		{ServiceConfig{Profile: "form"}, WebSocketPseudonymize, ""},
		{ServiceConfig{Profile: "storage"}, WebSocketRefuse, ""},
		{ServiceConfig{Profile: "webdav"}, WebSocketRefuse, ""},
		{ServiceConfig{Profile: "inspect"}, WebSocketRelay, ""},
		{ServiceConfig{Rules: []RuleConfig{{Response: []string{"reidentify"}}}}, WebSocketRefuse, ""},
		{ServiceConfig{Rules: []RuleConfig{{Request: []string{"pseudonymize"}, WebSocketBinary: "allow"}}}, WebSocketPseudonymize, ""},
		{ServiceConfig{Profile: "storage", Rules: []RuleConfig{{Path: "/socket", WebSocket: "relay"}}}, WebSocketRelay, ""},
		{ServiceConfig{Rules: []RuleConfig{{WebSocket: "allow"}}}, "", "websocket must be"},
		{ServiceConfig{Rules: []RuleConfig{{WebSocketBinary: "allow"}}}, "", "applies only to pseudonymized"},
		{ServiceConfig{Rules: []RuleConfig{{WebSocketBinary: "yes"}}}, "", "websocket_binary must be"},
	} {
		rules, err := buildRules(tc.sc, nil)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: error %v, want %q", tc.sc, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%+v: %v", tc.sc, err)
		case tc.err == "" && rules[0].webSocketMode() != tc.mode:
			t.Errorf("%+v: mode %s, want %s", tc.sc, rules[0].webSocketMode(), tc.mode)
		}
	}
}

// TestWebSocketStoreDown: when the re-identification store fails, a
// message with identifiers is not sent at all: the session closes with
// 1011 towards both sides.
func TestWebSocketStoreDown(t *testing.T) {
	c := newCloud(t)
	srv := newWSServer(c, websocket.Upgrader{}, nil, "/ws/echo")
	h := newHarness(t, wsConfig(t, c, "form"))
	conn, _, err := h.wsDialer("alice", "a-pass").Dial(wsURL(c, "/ws/echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h.store.down.Store(true)
	defer h.store.down.Store(false)
	conn.WriteMessage(websocket.TextMessage, []byte(wsTexts[0]))
	if _, _, err := conn.ReadMessage(); closeCode(err) != websocket.CloseInternalServerErr {
		t.Errorf("client got %v, want close 1011", err)
	}
	srv.waitDone(t)
	srv.mu.Lock()
	closes := append([]int(nil), srv.closes...)
	srv.mu.Unlock()
	if len(srv.received()) != 0 || len(closes) != 1 || closes[0] != websocket.CloseInternalServerErr {
		t.Errorf("service got %d messages and closes %v", len(srv.received()), closes)
	}
	h.waitAudit(t, `"ws_close":1011`, `"ws_closed_by":"gateway"`, `"reason":"pseudonymization is unavailable, so the message was not sent"`)
}
