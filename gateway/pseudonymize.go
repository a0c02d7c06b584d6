package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/sluss/sluss/pseudonym"
)

// wholeBodyLimit is the largest body the gateway pseudonymizes whole before
// sending anything: a body that does not parse is then refused with nothing
// upstream. Larger bodies stream; a parse error further on aborts the
// upstream request, which by then has received tokens only.
const wholeBodyLimit = 1 << 20

// maxTextPart is the largest multipart text field read into memory, so
// that a field named like a name field ("namn", "fullName") is replaced
// whole; larger text parts stream through the free-text detectors.
const maxTextPart = 64 << 10

// Pseudonymize is the request transformer that replaces personnummer and
// names with tokens before a request leaves: URL path segments, query
// values, header values (see requestHeaderRoles: Referer and other URLs
// like the request URL, cookie values, file names in Content-Disposition,
// custom headers as text) and the body.
//
// Bodies: JSON, application/x-www-form-urlencoded, text/* and CSV are
// pseudonymized in their format; in multipart/form-data the text parts are
// pseudonymized and the file parts encrypted, since a file's content cannot
// be pseudonymized and must not leave in plaintext. Any other body is
// refused (415), and so is one that does not parse as its Content-Type
// says (400). A body is read as a server would read it: its
// Content-Encoding (gzip, deflate, br, stacked) undone within
// Limits.MaxDecodedBytes and MaxDecodeRatio (413 past them), its
// Content-Transfer-Encoding (base64, quoted-printable) undone and redone,
// its text decoded from its charset (UTF-16, ISO-8859-1, ISO-8859-15,
// windows-1252) and encoded back; what the gateway cannot decode is
// refused (415), never passed as it came. It goes on without
// Content-Encoding.
//
// With EncryptedBody set the body is left to an [Encrypt] that follows in
// the same rule (the storage and webdav profiles): only the text parts and
// file names of multipart forms are pseudonymized, file contents pass to
// Encrypt, and other bodies pass untouched.
type Pseudonymize struct {
	EncryptedBody bool
	// MarkupAsText reads XML bodies (and bodies without a Content-Type)
	// as text, for the rules of storage and webdav services that do not
	// encrypt: a WebDAV PROPPATCH or LOCK body (display names, lock
	// owners) or a body on a GET or DELETE must not leave as it came.
	MarkupAsText bool
	// Documents pseudonymizes the office documents among the file parts
	// of multipart forms inside instead of encrypting them (see
	// [PseudonymizeDocuments]).
	Documents bool
	// Limits bounds header growth and body decoding; zero fields take
	// the defaults of [Limits].
	Limits Limits
}

func (t Pseudonymize) TransformRequest(x *Exchange, req *http.Request) error {
	p := x.Pseudonymizer
	if p == nil {
		return refuse(http.StatusServiceUnavailable, "pseudonymization is not available on this gateway, so nothing was sent", nil)
	}
	lim := t.Limits.withDefaults()
	ctx := req.Context()
	// The body is read with the client's boundary, whatever the header
	// pass makes of it.
	contentType := req.Header.Get("Content-Type")
	if err := pseudonymizeURL(ctx, x, req); err != nil {
		return err
	}
	outBoundary, err := pseudonymizeRequestHeaders(ctx, x, req, lim.MaxHeaderBytes)
	if err != nil {
		return err
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return nil
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	multi := mt == "multipart/form-data"
	if t.EncryptedBody && !multi {
		return nil
	}
	f, known := pseudonym.FormatFromContentType(contentType)
	if !known && t.MarkupAsText && (mt == "" || mt == "application/xml" || strings.HasSuffix(mt, "+xml")) {
		// Tokens are letters, digits and underscores: replacing text in
		// XML keeps it well-formed.
		f, known = pseudonym.FormatText, true
	}
	if !multi && !known {
		return refuse(http.StatusUnsupportedMediaType, "this service accepts only bodies the gateway can pseudonymize (JSON, form, text, CSV, multipart forms); nothing was sent", nil)
	}
	const what = "the request body"
	codings, err := contentCodings(req.Header, what)
	if err != nil {
		return err
	}
	cte, err := transferEncoding(req.Header.Get("Content-Transfer-Encoding"), what)
	if err != nil {
		return err
	}
	var transform bodyTransform
	if multi {
		if params["boundary"] == "" {
			return refuse(http.StatusBadRequest, "multipart body without a boundary, so nothing was sent", nil)
		}
		if cte != cteIdentity {
			return refuse(http.StatusUnsupportedMediaType, "a multipart body cannot have a Content-Transfer-Encoding (RFC 2045), so nothing was sent", nil)
		}
		version, recipients, err := x.Keys.EncryptionKeys()
		if err != nil {
			return refuse(http.StatusServiceUnavailable, "the region's encryption key is unavailable, so nothing was sent", err)
		}
		if len(recipients) == 0 {
			return refuse(http.StatusServiceUnavailable, "the region has no encryption recipient, so nothing was sent", nil)
		}
		x.KeyVersion = version
		mp := &multipartPseudonymizer{p: p, recipients: recipients, filesLater: t.EncryptedBody, limits: lim.expansion(), charset: params["charset"]}
		if t.Documents {
			dl := lim.documentLimits()
			mp.documents = &dl
		}
		in, out := params["boundary"], params["boundary"]
		if outBoundary != "" {
			out = outBoundary
		}
		transform = func(r io.Reader, w io.Writer) (pseudonym.Counts, error) { return mp.run(ctx, r, w, in, out, 0) }
	} else {
		if f == pseudonym.FormatForm {
			// The charset of a form applies to its percent-decoded
			// bytes, which the form transformer reads as UTF-8.
			if kind, _ := lookupCharset(params["charset"]); kind != charsetUTF8 && kind != charsetNone {
				return errCharset(what)
			}
		}
		transform, err = inCharset(params["charset"], what, func(r io.Reader, w io.Writer) (pseudonym.Counts, error) { return p.Transform(ctx, f, r, w) })
		if err != nil {
			return err
		}
		transform = inTransferEncoding(cte, what, transform)
	}
	body, err := decodeContent(req.Body, codings, lim.expansion(), what, http.StatusBadRequest)
	if err != nil {
		req.Body.Close()
		return err
	}
	out, n, err := transformBody(x, body, transform)
	if err != nil {
		return err
	}
	x.Pseudonymized()
	removePlaintextDigests(req.Header)
	req.Header.Del("Content-Encoding")
	req.Body, req.ContentLength = out, n
	if n < 0 {
		req.Header.Del("Content-Length")
	}
	return nil
}

// LimitedTransformer is a request transformer of a protocol adapter that
// wraps the core's own (Pseudonymize, PseudonymizeDocuments) and hands
// them the gateway's limits when the service is built, as the core's own
// are given them.
type LimitedTransformer interface {
	RequestTransformer
	WithLimits(Limits) RequestTransformer
}

// setLimits gives the service's transformers the gateway's limits.
func (s *Service) setLimits(l Limits) {
	for i := range s.Rules {
		for k, t := range s.Rules[i].Request {
			switch ps := t.(type) {
			case Pseudonymize:
				ps.Limits = l
				s.Rules[i].Request[k] = ps
			case PseudonymizeDocuments:
				ps.Limits = l
				s.Rules[i].Request[k] = ps
			case LimitedTransformer:
				s.Rules[i].Request[k] = ps.WithLimits(l)
			}
		}
		for k, t := range s.Rules[i].Response {
			switch r := t.(type) {
			case Reidentify:
				r.Limits = l
				s.Rules[i].Response[k] = r
			case ReidentifyDocuments:
				r.Limits = l
				s.Rules[i].Response[k] = r
			}
		}
	}
}

// pseudonymizeURL replaces identifiers in the path and query of req, and
// records the pseudonymized path for the audit log.
func pseudonymizeURL(ctx context.Context, x *Exchange, req *http.Request) error {
	esc, changed, err := pseudonymizeEscapedPath(ctx, x, req.URL.EscapedPath())
	if err != nil {
		return pseudonymRefusal(err, "the URL path")
	}
	if changed {
		path, err := url.PathUnescape(esc)
		if err != nil {
			return refuse(http.StatusBadRequest, "the URL path is not validly escaped, so nothing was sent", err)
		}
		req.URL.Path, req.URL.RawPath = path, esc
	}
	x.AuditPath = req.URL.Path
	if req.URL.RawQuery != "" {
		q, c, err := x.Pseudonymizer.PseudonymizeRawQuery(ctx, req.URL.RawQuery)
		if err != nil {
			return pseudonymRefusal(err, "the URL query")
		}
		x.AddCounts(c)
		req.URL.RawQuery = q
	}
	return nil
}

// pseudonymizeEscapedPath pseudonymizes each segment of an escaped path as
// a file name. It reports whether anything changed.
func pseudonymizeEscapedPath(ctx context.Context, x *Exchange, esc string) (string, bool, error) {
	segs := strings.Split(esc, "/")
	changed := false
	for i, seg := range segs {
		if seg == "" || !pseudonym.MayHoldIdentifier(seg) {
			continue
		}
		name, err := url.PathUnescape(seg)
		if err != nil {
			return "", false, &pseudonym.SyntaxError{Format: "path", Line: 1, Msg: "invalid percent-encoding"}
		}
		pn, c, err := pseudonymizeFilename(ctx, x.Pseudonymizer, name)
		if err != nil {
			return "", false, err
		}
		if c.Total() > 0 {
			x.AddCounts(c)
			segs[i], changed = url.PathEscape(pn), true
		}
	}
	return strings.Join(segs, "/"), changed, nil
}

// pseudonymizeFilename pseudonymizes a file or folder name. A name in which
// the detectors find an identifier is replaced whole (its extension kept)
// by one token: a name next to a personnummer in "19121212-1212 Tolvan
// Tolvansson.pdf" is personal data whether or not the name detector knows
// it. Names without identifiers pass unchanged, so folders like "files"
// stay readable upstream. The counts are what the detectors found.
func pseudonymizeFilename(ctx context.Context, p *pseudonym.Pseudonymizer, name string) (string, pseudonym.Counts, error) {
	pn, c, err := p.PseudonymizeFilename(ctx, name)
	if err != nil || c.Total() == 0 {
		return pn, c, err
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 8 && !strings.ContainsAny(name[i:], " _-") {
		stem, ext = name[:i], name[i:]
	}
	q, _, err := p.PseudonymizeQuery(ctx, url.Values{"name": {stem}})
	if err != nil {
		return "", c, err
	}
	if whole := q.Get("name"); tokenOnly.MatchString(whole) {
		return whole + ext, c, nil
	}
	// "name" is not a configured name field: keep what the detectors did.
	return pn, c, nil
}

var tokenOnly = regexp.MustCompile(`^` + pseudonym.TokenPattern + `$`)

// pseudonymizeDisposition rewrites a Content-Disposition value: the file
// name pseudonymized as a file name, other parameters as keys are (see
// pseudonymizeKey). It is written back from what was parsed, so that a
// parameter the gateway could not read is not sent; one that does not
// parse is refused, since it may hide a file name.
func pseudonymizeDisposition(ctx context.Context, p *pseudonym.Pseudonymizer, v, what string) (string, pseudonym.Counts, error) {
	var total pseudonym.Counts
	disp, params, err := parseMediaParams(v)
	if err != nil {
		return "", total, paramRefusal(err, what)
	}
	for _, k := range sortedKeys(params) {
		var pn string
		var c pseudonym.Counts
		if k == "filename" {
			pn, c, err = pseudonymizeFilename(ctx, p, params[k])
		} else {
			pn, c, err = pseudonymizeKey(ctx, p, params[k])
		}
		if err != nil {
			return "", total, pseudonymRefusal(err, what)
		}
		total.Add(c)
		params[k] = pn
	}
	out, err := formatMediaParams(disp, params)
	if err != nil {
		return "", total, paramRefusal(err, what)
	}
	return out, total, nil
}

// pseudonymizeKey replaces the personnummer in a name that is structure
// rather than content (a form field's name, a cookie's name), as JSON and
// form keys are: names stay, since field names are capitalised words as
// often as people's names are. Only text with ten digits can hold one.
func pseudonymizeKey(ctx context.Context, p *pseudonym.Pseudonymizer, key string) (string, pseudonym.Counts, error) {
	if digits(key) < 10 {
		return key, pseudonym.Counts{}, nil
	}
	q, c, err := p.PseudonymizeRawQuery(ctx, url.QueryEscape(key)+"=")
	if err != nil || c.Total() == 0 {
		return key, c, err
	}
	k, err := url.QueryUnescape(strings.TrimSuffix(q, "="))
	if err != nil {
		return "", c, err
	}
	return k, c, nil
}

func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			n++
		}
	}
	return n
}

// transformBody runs transform over body: whole, into memory, when the
// body is at most wholeBodyLimit (so that an error refuses the request with
// nothing sent, and the length is exact), and as a stream otherwise (length
// -1). Counts go to x.
func transformBody(x *Exchange, body io.ReadCloser, transform bodyTransform) (io.ReadCloser, int64, error) {
	var head bytes.Buffer
	n, err := io.CopyN(&head, body, wholeBodyLimit+1)
	if err != nil && err != io.EOF {
		body.Close()
		if re := (*RefusedError)(nil); errors.As(err, &re) {
			return nil, 0, re
		}
		return nil, 0, refuse(http.StatusBadRequest, "the request body could not be read, so nothing was sent", err)
	}
	if n <= wholeBodyLimit {
		var out bytes.Buffer
		out.Grow(int(n) + int(n)/4)
		c, err := transform(&head, &out)
		x.AddCounts(c)
		if err != nil {
			body.Close()
			return nil, 0, pseudonymRefusal(err, "the request body")
		}
		return readCloser{bytes.NewReader(out.Bytes()), body}, int64(out.Len()), nil
	}
	pr, pw := io.Pipe()
	go func() {
		var c pseudonym.Counts
		err := guard(func() (err error) {
			c, err = transform(&headedBody{&head, body}, pw)
			return err
		})
		x.AddCounts(c)
		if err != nil {
			x.Log.Debug().Err(err).Msg("pseudonymization failed mid-stream; upstream request aborted")
			err = fmt.Errorf("pseudonymization failed: %w", err)
		}
		pw.CloseWithError(err)
	}()
	return pipeBody{pr, body}, -1, nil
}

// errTransformPanic is what guard returns for a transformer that
// panicked: the request or response is refused, the process keeps
// serving.
var errTransformPanic = errors.New("internal error in a body transformer")

// guard runs f and turns a panic in it into errTransformPanic. The body
// transformers run in goroutines of their own, where a panic (a bug met by
// one crafted body) would end the whole gateway: with guard it fails that
// one exchange, closed, as any transform error does. The panic's value is
// not kept: it may quote the input.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errTransformPanic
		}
	}()
	return f()
}

// errMalformed marks input that is not what its Content-Type claims.
var errMalformed = errors.New("malformed input")

// pseudonymRefusal turns a pseudonymization error into the refusal the
// client sees: 400 for input that does not parse, 503 when the keys or the
// re-identification store fail. Messages are ours and positions only.
func pseudonymRefusal(err error, what string) error {
	var se *pseudonym.SyntaxError
	var re *RefusedError
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &se):
		return refuse(http.StatusBadRequest, fmt.Sprintf("%s could not be pseudonymized (%s), so nothing was sent", what, se.Error()), err)
	case errors.Is(err, errMalformed):
		return refuse(http.StatusBadRequest, what+" is a malformed multipart body, so nothing was sent", err)
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, pseudonym.ErrInternal) || errors.Is(err, errTransformPanic):
		return refuse(http.StatusInternalServerError, what+" could not be pseudonymized (internal error), so nothing was sent", err)
	}
	re = refuse(http.StatusServiceUnavailable, "pseudonymization is unavailable (keys or re-identification store), so nothing was sent", err)
	re.KeyFailure = "pseudonym"
	return re
}
