package gateway

import (
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/sluss/sluss/pseudonym"
)

// Headers on services that pseudonymize. Every request header value is
// pseudonymized, by its syntax, except the few below whose syntax HTTP or
// the gateway owns or which must reach the provider as sent; response
// headers are re-identified for users with the reidentify right.

// headerRole is how a header value is read.
type headerRole uint8

const (
	// roleText: free text. The detectors run over the value and over
	// what a server that percent-decodes reads; the header's name (less
	// "X-" and dashes) is its field name, so X-Namn and X-Full-Name are
	// name fields as form fields "namn" and "fullName" are.
	roleText        headerRole = iota
	roleKept                   // passed as sent; see requestHeaderRoles
	roleURL                    // a URL: path segments as file names, query as a form
	roleCookie                 // each cookie's value as text, its name as a key
	roleDisposition            // MIME parameters: filename as a file name
	roleContentType            // media type kept; a boundary holding an identifier replaced; other parameters as text
	roleDAVIf                  // WebDAV If: resource URLs in <…> as URLs, state tokens kept
	roleDropped                // removed
	roleMethod                 // a method override: refused unless it names the request's own method
)

// requestHeaderRoles lists the request headers not read as free text.
//
// Kept as sent, and why:
//   - framing and hop-by-hop headers (Content-Length, Transfer-Encoding,
//     Connection, Keep-Alive, Proxy-Connection, TE, Upgrade, Host,
//     Expect): net/http and the gateway write them;
//   - credentials for the provider (Authorization, Proxy-Authorization,
//     which the gateway removes anyway, X-Amz-Security-Token): the
//     user's account at the provider, useless changed;
//   - validators and ranges (If-Match, If-None-Match, If-Modified-Since,
//     If-Unmodified-Since, If-Range, Range): ETags and dates the provider
//     issued, and byte offsets. The gateway never re-identifies an ETag,
//     so no original reaches a client to be echoed in them;
//   - WebSocket handshake headers (Sec-WebSocket-*): nonces and
//     protocol names the two ends must agree on;
//   - signatures and digests of the request (X-Amz-Date,
//     X-Amz-Content-Sha256, X-Amz-Checksum-*, X-Amz-Decoded-Content-Length,
//     X-Ms-Date, Content-MD5, Digest, Content-Digest, Repr-Digest,
//     X-Goog-Hash, OC-Checksum): hex, base64 or dates, which a change
//     breaks (and which the body transformers remove where they would
//     describe plaintext).
//
// Metadata a provider stores (x-amz-meta-*, x-amz-tagging,
// x-ms-meta-*) is not kept: it is pseudonymized, and a signature over a
// value that held an identifier then fails at the provider, which holds
// tokens only.
//
// Trailer is dropped, with the request's trailers: they arrive after the
// body, too late to pseudonymize before anything leaves.
//
// A method override (X-HTTP-Method-Override, X-HTTP-Method,
// X-Method-Override) is refused unless it names the request's own method:
// the rules are chosen by the method the gateway sees, and a provider that
// honours the header would take a body the gateway pseudonymized as
// metadata (a DELETE's) as an upload it should have encrypted. The tus
// adapter, whose protocol has the header, decides on it itself.
var requestHeaderRoles = map[string]headerRole{
	"Content-Length":    roleKept,
	"Transfer-Encoding": roleKept,
	"Connection":        roleKept,
	"Keep-Alive":        roleKept,
	"Proxy-Connection":  roleKept,
	"Te":                roleKept,
	"Upgrade":           roleKept,
	"Host":              roleKept,
	"Expect":            roleKept,

	"Authorization":        roleKept,
	"Proxy-Authorization":  roleKept,
	"X-Amz-Security-Token": roleKept,

	"If-Match":            roleKept,
	"If-None-Match":       roleKept,
	"If-Modified-Since":   roleKept,
	"If-Unmodified-Since": roleKept,
	"If-Range":            roleKept,
	"Range":               roleKept,

	"X-Amz-Date":                   roleKept,
	"X-Amz-Content-Sha256":         roleKept,
	"X-Amz-Decoded-Content-Length": roleKept,
	"X-Ms-Date":                    roleKept,
	"Content-Md5":                  roleKept,
	"Digest":                       roleKept,
	"Content-Digest":               roleKept,
	"Repr-Digest":                  roleKept,
	"X-Goog-Hash":                  roleKept,
	"Oc-Checksum":                  roleKept,

	"Referer":                         roleURL,
	"Origin":                          roleURL,
	"Location":                        roleURL,
	"Content-Location":                roleURL,
	"Destination":                     roleURL,
	"X-Amz-Copy-Source":               roleURL,
	"X-Amz-Website-Redirect-Location": roleURL,
	"X-Ms-Copy-Source":                roleURL,
	"X-Goog-Copy-Source":              roleURL,

	"Cookie":              roleCookie,
	"Content-Disposition": roleDisposition,
	"Content-Type":        roleContentType,
	"If":                  roleDAVIf,
	"Trailer":             roleDropped,

	"X-Http-Method-Override": roleMethod,
	"X-Http-Method":          roleMethod,
	"X-Method-Override":      roleMethod,
}

// requestHeaderRole returns the role of a header by its canonical name.
func requestHeaderRole(name string) headerRole {
	if r, ok := requestHeaderRoles[name]; ok {
		return r
	}
	if strings.HasPrefix(name, "Sec-Websocket-") || strings.HasPrefix(name, "X-Amz-Checksum-") {
		return roleKept
	}
	return roleText
}

// headerFieldName is the field name a header's value is pseudonymized
// under: X-Patient-Namn → patientnamn.
func headerFieldName(name string) string {
	n := strings.ToLower(name)
	n = strings.TrimPrefix(n, "x-")
	return strings.ReplaceAll(n, "-", "")
}

// pseudonymizeRequestHeaders replaces the identifiers in req's headers (see
// requestHeaderRoles), drops its trailers, and refuses headers that do
// not parse as their syntax says or that grow past maxBytes. It returns
// the multipart boundary the body must be written with: "" for the
// client's, or a fresh one when the client's held an identifier.
func pseudonymizeRequestHeaders(ctx context.Context, x *Exchange, req *http.Request, maxBytes int) (string, error) {
	h := req.Header
	h.Del("Trailer")
	req.Trailer = nil
	var b textBatch
	var after []func() error
	newBoundary := ""
	for name, vs := range h {
		role := requestHeaderRole(name)
		what := "the " + name + " header"
		for i, v := range vs {
			set := func(s string) { vs[i] = s }
			switch role {
			case roleKept:
			case roleText:
				b.add(headerFieldName(name), v, escapeHeaderText, set)
			case roleURL:
				u, err := pseudonymizeURLValue(ctx, x, v)
				if err != nil {
					return "", urlHeaderRefusal(err, what)
				}
				set(u)
			case roleDAVIf:
				u, err := pseudonymizeDAVIf(ctx, x, v)
				if err != nil {
					return "", urlHeaderRefusal(err, what)
				}
				set(u)
			case roleCookie:
				pairs := parseCookies(v)
				for k := range pairs {
					c := &pairs[k]
					if key, n, err := pseudonymizeKey(ctx, x.Pseudonymizer, c.name); err != nil {
						return "", pseudonymRefusal(err, what)
					} else if n.Total() > 0 {
						x.AddCounts(n)
						c.name = key
					}
					b.add(c.name, c.value, escapeCookieValue, func(s string) { c.value = s })
				}
				after = append(after, func() error { set(formatCookies(pairs)); return nil })
			case roleDisposition:
				d, c, err := pseudonymizeDisposition(ctx, x.Pseudonymizer, v, what)
				x.AddCounts(c)
				if err != nil {
					return "", err
				}
				set(d)
			case roleContentType:
				typ, params, err := parseMediaParams(v)
				if err != nil {
					// Not a media type: whatever it is goes as text, and
					// the body is refused for want of a known type.
					b.add(headerFieldName(name), v, escapeHeaderText, set)
					continue
				}
				changed := false
				for _, k := range sortedKeys(params) {
					switch k {
					case "name", "filename":
						// A legacy file name (RFC 2046 "name").
						pn, c, err := pseudonymizeFilename(ctx, x.Pseudonymizer, params[k])
						if err != nil {
							return "", pseudonymRefusal(err, what)
						}
						if c.Total() > 0 {
							x.AddCounts(c)
							params[k], changed = pn, true
						}
					case "boundary":
						b.add(k, params[k], escapeHeaderText, func(s string) {
							if s != params[k] {
								newBoundary = multipart.NewWriter(nil).Boundary()
								params[k], changed = newBoundary, true
							}
						})
					default:
						b.add(k, params[k], escapeHeaderText, func(s string) {
							if s != params[k] {
								params[k], changed = s, true
							}
						})
					}
				}
				after = append(after, func() error {
					if !changed {
						return nil
					}
					s, err := formatMediaParams(typ, params)
					if err != nil {
						return paramRefusal(err, what)
					}
					set(s)
					return nil
				})
			case roleDropped:
				delete(h, name)
			case roleMethod:
				if !strings.EqualFold(strings.TrimSpace(v), req.Method) {
					return "", refuse(http.StatusBadRequest, what+" asks the provider to take this "+req.Method+
						" request as another method; the gateway applies its rules by the request's own method, so nothing was sent", nil)
				}
			}
		}
	}
	c, err := b.run(ctx, x.Pseudonymizer)
	x.AddCounts(c)
	if err != nil {
		return "", pseudonymRefusal(err, "a request header")
	}
	for _, f := range after {
		if err := f(); err != nil {
			return "", err
		}
	}
	if n := requestHeadSize(req); maxBytes > 0 && n > maxBytes {
		return "", refuse(http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("the request's URL and headers would be longer than the gateway's limit of %d bytes once pseudonymized, so nothing was sent", maxBytes), nil)
	}
	return newBoundary, nil
}

// requestHeadSize is about how many bytes the request line and headers
// take on the wire.
func requestHeadSize(req *http.Request) int {
	n := len(req.Method) + len(req.URL.RequestURI()) + len(" HTTP/1.1\r\n")
	for k, vs := range req.Header {
		for _, v := range vs {
			n += len(k) + len(v) + len(": \r\n")
		}
	}
	return n
}

// urlHeaderRefusal is the refusal for a URL-valued header.
func urlHeaderRefusal(err error, what string) error {
	if err == errNotURL {
		return refuse(http.StatusBadRequest, what+" is not a URL, so nothing was sent", nil)
	}
	return pseudonymRefusal(err, what)
}

var errNotURL = fmt.Errorf("not a URL")

// pseudonymizeURLValue pseudonymizes a URL (absolute or a reference) as the
// request URL is: path segments as file names, so that a Referer or a
// copy source names a resource by the same tokens as the request that
// stored it, and the query as a form. The fragment is read as text;
// credentials in the URL are dropped. A URL without identifiers stays as
// it was written.
func pseudonymizeURLValue(ctx context.Context, x *Exchange, v string) (string, error) {
	t := strings.TrimSpace(v)
	// A query always goes through: its name fields are replaced whatever
	// they hold.
	if t == "" || t == "null" || !pseudonym.MayHoldIdentifier(t) && !strings.ContainsAny(t, "?@") {
		return v, nil
	}
	u, err := url.Parse(t)
	if err != nil {
		return "", errNotURL
	}
	changed := u.User != nil
	u.User = nil
	p := x.Pseudonymizer
	if u.Opaque != "" {
		o, c, err := p.PseudonymizePath(ctx, u.Opaque)
		if err != nil {
			return "", err
		}
		x.AddCounts(c)
		changed = changed || c.Total() > 0
		u.Opaque = o
	} else {
		esc, ch, err := pseudonymizeEscapedPath(ctx, x, u.EscapedPath())
		if err != nil {
			return "", err
		}
		if ch {
			if u.Path, err = url.PathUnescape(esc); err != nil {
				return "", errNotURL
			}
			u.RawPath, changed = esc, true
		}
	}
	if u.RawQuery != "" {
		q, c, err := p.PseudonymizeRawQuery(ctx, u.RawQuery)
		if err != nil {
			return "", err
		}
		x.AddCounts(c)
		changed = changed || c.Total() > 0
		u.RawQuery = q
	}
	if f := u.EscapedFragment(); f != "" && pseudonym.MayHoldIdentifier(f) {
		pf, c, err := p.PseudonymizePath(ctx, f)
		if err != nil {
			return "", err
		}
		x.AddCounts(c)
		if c.Total() > 0 {
			changed = true
			if u.Fragment, err = url.PathUnescape(pf); err != nil {
				return "", errNotURL
			}
			u.RawFragment = pf
		}
	}
	if !changed {
		return v, nil
	}
	return u.String(), nil
}

// davResource finds the tags of a WebDAV If header (RFC 4918 §10.4).
var davResource = regexp.MustCompile(`<([^<>]*)>`)

// pseudonymizeDAVIf pseudonymizes the resource URLs of a WebDAV If
// header, so that the provider matches them against the resources it
// stores under tokens; state tokens (<urn:uuid:…>, <opaquelocktoken:…>)
// and ETags are the provider's and stay.
func pseudonymizeDAVIf(ctx context.Context, x *Exchange, v string) (string, error) {
	var err error
	out := davResource.ReplaceAllStringFunc(v, func(m string) string {
		inner := m[1 : len(m)-1]
		l := strings.ToLower(inner)
		if err != nil || !(strings.HasPrefix(inner, "/") || strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")) {
			return m
		}
		var u string
		if u, err = pseudonymizeURLValue(ctx, x, inner); err != nil {
			return m
		}
		return "<" + u + ">"
	})
	return out, err
}

// textBatch pseudonymizes many short values in one pseudonymization
// session (two HMAC key setups and a name detector: a session per header
// would cost more than the rest of a small request).
type textBatch struct {
	vals url.Values
	refs []textRef
}

type textRef struct {
	key    string
	i      int
	escape func(string) string // writes a percent-decoded value back
	set    func(string)
}

// add queues v under field name key; set receives the result.
func (b *textBatch) add(key, v string, escape func(string) string, set func(string)) {
	if b.vals == nil {
		b.vals = url.Values{}
	}
	b.refs = append(b.refs, textRef{key: key, i: len(b.vals[key]), escape: escape, set: set})
	b.vals[key] = append(b.vals[key], v)
}

// run pseudonymizes the queued values. First what a server that
// percent-decodes them (and reads '+' as a space) would see: a value in
// which that finds an identifier is replaced by its pseudonymized decoded
// form, escaped again (decoded first, since an identifier seen raw, and
// replaced, would hide the context of a name next to it). Then every
// value as it is.
func (b *textBatch) run(ctx context.Context, p *pseudonym.Pseudonymizer) (pseudonym.Counts, error) {
	var total pseudonym.Counts
	if len(b.refs) == 0 {
		return total, nil
	}
	views := url.Values{}
	type viewRef struct{ ref, i int }
	var vrefs []viewRef
	for k, r := range b.refs {
		if d, ok := percentDecoded(b.vals[r.key][r.i]); ok && pseudonym.MayHoldIdentifier(d) {
			vrefs = append(vrefs, viewRef{k, len(views[r.key])})
			views[r.key] = append(views[r.key], d)
		}
	}
	if len(vrefs) > 0 {
		vout, c, err := p.PseudonymizeQuery(ctx, views)
		if err != nil {
			return total, err
		}
		total.Add(c)
		for _, vr := range vrefs {
			r := b.refs[vr.ref]
			if nv := vout[r.key][vr.i]; nv != views[r.key][vr.i] {
				b.vals[r.key][r.i] = r.escape(nv)
			}
		}
	}
	out, c, err := p.PseudonymizeQuery(ctx, b.vals)
	if err != nil {
		return total, err
	}
	total.Add(c)
	for _, r := range b.refs {
		r.set(out[r.key][r.i])
	}
	return total, nil
}

// percentDecoded decodes the valid %XX escapes of s and reads '+' as a
// space, as lenient servers do; ok is false when nothing changes.
func percentDecoded(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, false
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]):
			b = append(b, unhexDigit(s[i+1])<<4|unhexDigit(s[i+2]))
			i += 2
		case c == '+':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b), string(b) != s
}

// escapeHeaderText percent-encodes what a decoded header value may not
// hold as is: controls, space, non-ASCII, and the characters that the
// decoding read ('%', '+', '"', '\\'). Tokens need no escaping.
func escapeHeaderText(s string) string {
	return percentEscape(s, func(c byte) bool {
		return c > ' ' && c < 0x7f && c != '%' && c != '+' && c != '"' && c != '\\'
	})
}

// escapeCookieValue percent-encodes what a cookie value may not hold
// (RFC 6265 cookie-octet), and '%' and '+'.
func escapeCookieValue(s string) string {
	return percentEscape(s, func(c byte) bool {
		return c > ' ' && c < 0x7f && c != '"' && c != ',' && c != ';' && c != '\\' && c != '%' && c != '+'
	})
}

func percentEscape(s string, plain func(byte) bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; plain(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// cookie is one name=value pair of a Cookie header.
type cookie struct {
	name, value  string
	hasEq, quote bool
}

// parseCookies splits a Cookie header value into its pairs, leniently (a
// pair without '=' is a value without a name), so that every byte a
// server might read as a cookie is seen.
func parseCookies(v string) []cookie {
	var out []cookie
	for _, part := range strings.Split(v, ";") {
		part = strings.Trim(part, " \t")
		if part == "" {
			continue
		}
		name, value, hasEq := strings.Cut(part, "=")
		if !hasEq {
			name, value = "", part
		}
		c := cookie{name: strings.Trim(name, " \t"), value: strings.Trim(value, " \t"), hasEq: hasEq}
		if len(c.value) >= 2 && c.value[0] == '"' && c.value[len(c.value)-1] == '"' {
			c.value, c.quote = c.value[1:len(c.value)-1], true
		}
		out = append(out, c)
	}
	return out
}

// formatCookies writes pairs back as a Cookie header value.
func formatCookies(pairs []cookie) string {
	var b strings.Builder
	for i, c := range pairs {
		if i > 0 {
			b.WriteString("; ")
		}
		if c.hasEq {
			b.WriteString(c.name)
			b.WriteByte('=')
		}
		if c.quote {
			b.WriteByte('"')
		}
		b.WriteString(c.value)
		if c.quote {
			b.WriteByte('"')
		}
	}
	return b.String()
}

// Response headers, re-identified for users with the reidentify right.
// Kept as sent: ETag (a client echoes it in If-Match and If-None-Match,
// which are passed as sent, so it must keep its tokens), framing
// (Content-Length, Content-Range, Content-Encoding, Transfer-Encoding,
// Connection, Keep-Alive, Upgrade, Trailer), authentication challenges
// (WWW-Authenticate, Proxy-Authenticate, Authentication-Info) and
// Sec-WebSocket-*. Location, Content-Location and Link get their URLs'
// path and query re-identified and escaped again; Set-Cookie its value
// (percent-encoded where a cookie value needs it, as the request side
// decodes) and its Path; Content-Disposition and Content-Type their
// parameters; any other header its text.
func responseHeaderRole(name string) headerRole {
	switch name {
	case "Etag", "Content-Length", "Content-Range", "Content-Encoding", "Transfer-Encoding",
		"Connection", "Keep-Alive", "Upgrade", "Trailer",
		"Www-Authenticate", "Proxy-Authenticate", "Authentication-Info":
		return roleKept
	case "Location", "Content-Location":
		return roleURL
	case "Link":
		return roleDAVIf // <URL>; params
	case "Set-Cookie":
		return roleCookie
	case "Content-Disposition":
		return roleDisposition
	case "Content-Type":
		return roleContentType
	}
	if strings.HasPrefix(name, "Sec-Websocket-") {
		return roleKept
	}
	return roleText
}

// reidentifyHeaders puts originals back in place of the tokens in the
// response headers. A value it cannot read keeps its tokens.
func reidentifyHeaders(ctx context.Context, x *Exchange, h http.Header) {
	for name, vs := range h {
		role := responseHeaderRole(name)
		if role == roleKept {
			continue
		}
		for i, v := range vs {
			if !strings.Contains(v, pseudonym.TokenPrefix) {
				continue
			}
			switch role {
			case roleURL:
				vs[i] = reidentifyURLValue(ctx, x, v)
			case roleDAVIf:
				vs[i] = davResource.ReplaceAllStringFunc(v, func(m string) string {
					return "<" + reidentifyURLValue(ctx, x, m[1:len(m)-1]) + ">"
				})
			case roleCookie:
				vs[i] = reidentifySetCookie(ctx, x, v)
			case roleDisposition, roleContentType:
				typ, params, err := parseMediaParams(v)
				if err != nil {
					continue
				}
				for k, pv := range params {
					if k != "boundary" && k != "charset" && strings.Contains(pv, pseudonym.TokenPrefix) {
						params[k] = reidentifyTokens(ctx, x, pv, nil)
					}
				}
				if s, err := formatMediaParams(typ, params); err == nil {
					vs[i] = s
				}
			default:
				vs[i] = reidentifyTokens(ctx, x, v, nil)
			}
		}
	}
}

// reidentifyURLValue re-identifies the path and query of a URL, escaping
// the originals as each part needs.
func reidentifyURLValue(ctx context.Context, x *Exchange, v string) string {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || u.Opaque != "" {
		return v
	}
	changed := false
	if esc, ok := reidentifyEscapedPath(ctx, x, u.EscapedPath()); ok {
		if path, err := url.PathUnescape(esc); err == nil {
			u.Path, u.RawPath, changed = path, esc, true
		}
	}
	if strings.Contains(u.RawQuery, pseudonym.TokenPrefix) {
		if q, c, err := x.Pseudonymizer.ReidentifyString(ctx, pseudonym.FormatForm, u.RawQuery); err == nil && c.Reidentified() > 0 {
			x.AddCounts(c)
			u.RawQuery, changed = q, true
		}
	}
	if f := u.EscapedFragment(); strings.Contains(f, pseudonym.TokenPrefix) {
		if esc, ok := reidentifyEscapedPath(ctx, x, f); ok {
			if frag, err := url.PathUnescape(esc); err == nil {
				u.Fragment, u.RawFragment, changed = frag, esc, true
			}
		}
	}
	if !changed {
		return v
	}
	return u.String()
}

// reidentifySetCookie re-identifies a Set-Cookie value: the cookie's value
// and its Path; other attributes are the provider's.
func reidentifySetCookie(ctx context.Context, x *Exchange, v string) string {
	parts := strings.Split(v, ";")
	for i, part := range parts {
		name, val, ok := strings.Cut(part, "=")
		if !ok || !strings.Contains(val, pseudonym.TokenPrefix) {
			continue
		}
		switch {
		case i == 0:
			val = reidentifyTokens(ctx, x, val, escapeCookieValue)
		case strings.EqualFold(strings.TrimSpace(name), "path"):
			if esc, ok := reidentifyEscapedPath(ctx, x, strings.TrimSpace(val)); ok {
				val = esc
			}
		default:
			continue
		}
		parts[i] = name + "=" + val
	}
	return strings.Join(parts, ";")
}

var tokenAnywhere = regexp.MustCompile(pseudonym.TokenPattern)

// reidentifyTokens replaces each token in s by its original, written
// through escape when it is not nil. Tokens not in the store, and all of
// them when the store fails, stay.
func reidentifyTokens(ctx context.Context, x *Exchange, s string, escape func(string) string) string {
	return tokenAnywhere.ReplaceAllStringFunc(s, func(tok string) string {
		orig, c, err := x.Pseudonymizer.ReidentifyString(ctx, pseudonym.FormatText, tok)
		if err != nil || c.Reidentified() == 0 {
			return tok
		}
		x.AddCounts(c)
		if escape != nil {
			return escape(orig)
		}
		return orig
	})
}
