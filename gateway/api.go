package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/pseudonym"
)

// Role is what an API token may do.
type Role string

// API roles.
const (
	RoleEncrypt      Role = "encrypt"
	RoleDecrypt      Role = "decrypt"
	RolePseudonymize Role = "pseudonymize"
	RoleReidentify   Role = "reidentify"
	// RoleAudit reads the service inventory (/v1/services): hosts and
	// counts, no personal data, but who uses what is the region's business.
	RoleAudit Role = "audit"
)

// apiAuth checks the bearer tokens of API calls.
type apiAuth struct {
	tokens []apiToken
	// fromGateway reports whether a remote address is one of the
	// gateway's own upstream connections: a proxied request is never a
	// local caller, even if the egress rules were to let one through.
	fromGateway func(remote, local string) bool
}

type apiToken struct {
	name  string
	hash  [sha256.Size]byte
	roles map[Role]bool
}

func newAPIAuth(c APIConfig) (*apiAuth, error) {
	a := &apiAuth{}
	for i, t := range c.Tokens {
		raw, err := hex.DecodeString(strings.TrimSpace(t.SHA256))
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("api token %d (%s): sha256 must be 64 hex digits (printf %%s \"$token\" | sha256sum)", i+1, t.Name)
		}
		at := apiToken{name: t.Name, roles: map[Role]bool{}}
		copy(at.hash[:], raw)
		if at.name == "" {
			at.name = "token-" + strconv.Itoa(i+1)
		}
		for _, r := range t.Roles {
			switch Role(r) {
			case RoleEncrypt, RoleDecrypt, RolePseudonymize, RoleReidentify, RoleAudit:
				at.roles[Role(r)] = true
			default:
				return nil, fmt.Errorf("api token %d (%s): unknown role %q (known: encrypt, decrypt, pseudonymize, reidentify, audit)", i+1, t.Name, r)
			}
		}
		a.tokens = append(a.tokens, at)
	}
	return a, nil
}

// caller is who an API call is made for.
type caller struct {
	name  string
	roles map[Role]bool // nil: every role (the local caller)
}

func (c *caller) can(r Role) bool { return c.roles == nil || c.roles[r] }

// authenticate returns the caller of r, or the status and reason to refuse
// it with. Without configured tokens, a loopback caller on a loopback
// listener is the local user; with tokens, or off loopback, every call
// needs a bearer token.
func (a *apiAuth) authenticate(r *http.Request) (*caller, int, string) {
	v := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(v, " ")
	if v == "" || !strings.EqualFold(scheme, "Bearer") {
		if len(a.tokens) == 0 && loopbackCall(r) && !a.proxied(r) {
			return &caller{name: "local"}, 0, ""
		}
		return nil, http.StatusUnauthorized, "this API needs a bearer token (Authorization: Bearer …)"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	var found *apiToken
	for i := range a.tokens {
		// Compare with every token, so timing says nothing.
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].hash[:]) == 1 {
			found = &a.tokens[i]
		}
	}
	if found == nil {
		return nil, http.StatusUnauthorized, "the bearer token is not known"
	}
	return &caller{name: found.name, roles: found.roles}, 0, ""
}

// proxied reports whether r arrived on one of the gateway's own upstream
// connections.
func (a *apiAuth) proxied(r *http.Request) bool {
	if a.fromGateway == nil {
		return false
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return local != nil && a.fromGateway(r.RemoteAddr, local.String())
}

// loopbackCall reports whether both ends of r's connection are loopback.
func loopbackCall(r *http.Request) bool {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil || !IsLoopback(local) {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// apiCall is one API request in flight: its audit event and exchange.
type apiCall struct {
	g   *Gateway
	ev  *auditEvent
	x   *Exchange
	w   *countingWriter
	up  int64
	who *caller
}

// apiHandler wraps an API endpoint: request ID, authentication, the role
// check, byte counting and the audit event.
func (g *Gateway) apiHandler(action string, role Role, fn func(c *apiCall, w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := &auditEvent{id: newRequestID(), start: time.Now(), client: r.RemoteAddr, method: r.Method, path: r.URL.Path, service: "api", action: action}
		cw := &countingWriter{ResponseWriter: w}
		c := &apiCall{g: g, ev: ev, w: cw}
		defer func() {
			ev.bytesDown, ev.bytesUp, ev.status = cw.n, atomic.LoadInt64(&c.up), cw.status
			if ev.status == 0 {
				ev.status = http.StatusOK
			}
			if c.x != nil {
				ev.counts, ev.keyVersion = c.x.Counts(), c.x.KeyVersion
			}
			if p := recover(); p != nil {
				if ev.reason == "" {
					ev.reason = "response cut"
				}
				g.record(ev)
				panic(p)
			}
			g.record(ev)
		}()
		w.Header().Set("X-Sluss-Request-Id", ev.id)
		if rf := g.auditRefusal(); rf != nil {
			ev.deny(rf)
			c.fail(rf.status, rf.title, rf.reason)
			return
		}
		who, status, reason := g.api.authenticate(r)
		if who == nil {
			ev.action, ev.reason = "deny", reason
			cw.Header().Set("WWW-Authenticate", `Bearer realm="sluss"`)
			c.fail(status, "Unauthorized", reason)
			return
		}
		ev.user, c.who = who.name, who
		if role != "" && !who.can(role) {
			ev.action, ev.reason = "deny", "missing role "+string(role)
			c.fail(http.StatusForbidden, "Forbidden", "this token does not have the "+string(role)+" role")
			return
		}
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, n: &c.up}
		}
		c.x = &Exchange{ID: ev.id, Keys: g.keys, Pseudonymizer: g.pseudo, Log: g.log.With().Str("request_id", ev.id).Logger()}
		fn(c, cw, r)
	})
}

// fail answers with a JSON error carrying the request ID.
func (c *apiCall) fail(status int, title, reason string) {
	if c.ev.reason == "" {
		c.ev.reason = reason
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	c.w.WriteHeader(status)
	writeJSONBody(c.w, apiError{Error: title, Reason: reason, Status: status, RequestID: c.ev.id})
}

// failErr answers with the refusal err carries, or 500.
func (c *apiCall) failErr(err error) {
	var re *RefusedError
	if errors.As(err, &re) {
		c.ev.keyFailure = re.KeyFailure
		c.x.Log.Debug().Err(err).Int("status", re.Status).Msg("api call refused")
		c.fail(re.Status, http.StatusText(re.Status), re.Reason)
		return
	}
	c.x.Log.Debug().Err(err).Msg("api call failed")
	c.fail(http.StatusInternalServerError, "Internal Server Error", "the request failed")
}

// cut ends a response that has started and cannot be completed: the
// client sees a truncated body, never a complete-looking one.
func (c *apiCall) cut(err error) {
	c.ev.reason = "response cut"
	c.x.Log.Debug().Err(err).Msg("api response cut")
	panic(http.ErrAbortHandler)
}

type apiError struct {
	Error     string `json:"error"`
	Reason    string `json:"reason"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
}

func (g *Gateway) apiEncrypt(c *apiCall, w http.ResponseWriter, r *http.Request) {
	version, recipients, err := g.keys.EncryptionKeys()
	if err != nil || len(recipients) == 0 {
		c.fail(http.StatusServiceUnavailable, "Service Unavailable", "the region's encryption key is unavailable")
		return
	}
	c.x.KeyVersion = version
	http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.ContentLength >= 0 {
		if n, err := crypto.EncryptedSize(r.ContentLength, recipients...); err == nil {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
	}
	ew, err := crypto.Encrypt(w, recipients...)
	if err != nil {
		c.failErr(err)
		return
	}
	if _, err := io.Copy(ew, r.Body); err != nil {
		c.cut(err)
	}
	if err := ew.Close(); err != nil {
		c.cut(err)
	}
}

func (g *Gateway) apiDecrypt(c *apiCall, w http.ResponseWriter, r *http.Request) {
	ids, err := g.keys.DecryptionKeys()
	if err != nil {
		c.fail(http.StatusServiceUnavailable, "Service Unavailable", "the region's decryption keys are unavailable")
		return
	}
	br := bufio.NewReaderSize(r.Body, probeSize)
	head, _ := br.Peek(probeSize)
	if !crypto.IsEncrypted(head) {
		c.fail(http.StatusBadRequest, "Bad Request", "the body is not an age file")
		return
	}
	size := int64(-1)
	if r.ContentLength >= 0 {
		if hs, err := crypto.ReadHeaderSize(bytes.NewReader(head)); err == nil {
			if ps, err := crypto.PlaintextSize(r.ContentLength, hs); err == nil {
				size = ps
			}
		}
	}
	pt, err := crypto.Decrypt(br, ids...)
	if err != nil {
		var re *RefusedError
		if errors.As(decryptError(err), &re) {
			status := http.StatusBadRequest
			if strings.Contains(re.Reason, "does not hold") {
				status = http.StatusUnprocessableEntity
			}
			c.fail(status, http.StatusText(status), strings.Replace(re.Reason, "stored object", "body", 1))
		}
		return
	}
	http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", "application/octet-stream")
	if size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	}
	// The age stream returns only authenticated chunks; a failure cuts
	// the response, before its last byte (endCheckedReader).
	if _, err := io.Copy(w, &endCheckedReader{r: pt}); err != nil {
		c.cut(err)
	}
}

// apiFormat is the format of an API body: ?format= or the Content-Type.
func apiFormat(r *http.Request) (pseudonym.Format, bool) {
	if f := r.URL.Query().Get("format"); f != "" {
		pf, err := pseudonym.ParseFormat(f)
		return pf, err == nil
	}
	return pseudonym.FormatFromContentType(r.Header.Get("Content-Type"))
}

func (g *Gateway) apiPseudonymize(c *apiCall, w http.ResponseWriter, r *http.Request) {
	if g.pseudo == nil {
		c.fail(http.StatusServiceUnavailable, "Service Unavailable", "pseudonymization is not available on this gateway")
		return
	}
	f, ok := apiFormat(r)
	if !ok {
		c.fail(http.StatusUnsupportedMediaType, "Unsupported Media Type", "send JSON, CSV, text, HTML or form data (Content-Type or ?format=auto|text|json|csv|form)")
		return
	}
	ctx := r.Context()
	out, n, err := transformBody(c.x, r.Body, func(in io.Reader, out io.Writer) (pseudonym.Counts, error) {
		return g.pseudo.Transform(ctx, f, in, out)
	})
	if err != nil {
		c.failErr(err)
		return
	}
	defer out.Close()
	http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", orDefault(r.Header.Get("Content-Type"), "text/plain; charset=utf-8"))
	if n >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	}
	if _, err := io.Copy(w, out); err != nil {
		c.cut(err)
	}
}

func (g *Gateway) apiReidentify(c *apiCall, w http.ResponseWriter, r *http.Request) {
	if g.pseudo == nil {
		c.fail(http.StatusServiceUnavailable, "Service Unavailable", "re-identification is not available on this gateway")
		return
	}
	f, ok := apiFormat(r)
	if !ok {
		f = pseudonym.FormatText
	}
	http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", orDefault(r.Header.Get("Content-Type"), "text/plain; charset=utf-8"))
	cnt, err := g.pseudo.Reidentify(r.Context(), f, r.Body, w)
	c.x.AddCounts(cnt)
	if err != nil {
		if c.w.status == 0 {
			c.fail(http.StatusServiceUnavailable, "Service Unavailable", "re-identification is unavailable (keys or re-identification store)")
			return
		}
		c.cut(err)
	}
}

func (g *Gateway) apiRecipient(c *apiCall, w http.ResponseWriter, r *http.Request) {
	version, recipients, err := g.keys.EncryptionKeys()
	if err != nil {
		c.fail(http.StatusServiceUnavailable, "Service Unavailable", "the region's encryption key is unavailable")
		return
	}
	out := struct {
		KeyVersion int      `json:"key_version"`
		Recipients []string `json:"recipients"`
	}{KeyVersion: version, Recipients: []string{}}
	for _, rc := range recipients {
		if s, ok := rc.(fmt.Stringer); ok {
			out.Recipients = append(out.Recipients, s.String())
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
