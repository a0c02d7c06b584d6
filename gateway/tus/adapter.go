package tus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
	"github.com/sluss/sluss/gateway/uploads"
)

// Adapter is the tus profile: register [Adapter.Profile] as the gateway's
// "tus" profile. It needs the shared upload-state store; Keys may be left
// nil, and each request then uses the gateway's keys.
type Adapter struct {
	State uploads.Store
	Keys  resumable.Keys
	// TTL is how long an unfinished upload is kept; default the engine's.
	TTL time.Duration
	Log zerolog.Logger

	once   sync.Once
	engine *resumable.Engine
}

// Profile builds the rules of a tus service: every request goes to the
// adapter. One option: documents "true" makes office documents (by the
// filename and filetype of the upload's metadata, [gateway.IsDocument])
// pseudonymized inside instead of encrypted: their pieces are kept in the
// state store ([uploads.Spool]) until the upload is whole, and only the
// rewritten document goes to the provider; downloads of them are
// re-identified for users with the reidentify right
// ([gateway.ReidentifyDocuments]).
func (a *Adapter) Profile(options map[string]string) ([]gateway.Rule, error) {
	documents := false
	for k, v := range options {
		switch {
		case k == "documents" && v == "true":
			documents = true
		case k == "documents":
			return nil, fmt.Errorf("option documents is %q; it takes only \"true\" (leave it out for encryption of every file)", v)
		default:
			return nil, fmt.Errorf("unknown option %q (the tus profile has one: documents)", k)
		}
	}
	if !documents {
		return []gateway.Rule{{
			Response:  []gateway.ResponseTransformer{a},
			WebSocket: gateway.WebSocketRefuse,
		}}, nil
	}
	// ReidentifyDocuments sits outside the adapter: it gets the gateway's
	// limits, and it sees the download as tusd describes it (Content-Type
	// and Content-Disposition from the upload's metadata). An age file
	// the adapter decrypted passes it untouched.
	return []gateway.Rule{{
		Response:  []gateway.ResponseTransformer{gateway.ReidentifyDocuments{}, documentsService{a}},
		WebSocket: gateway.WebSocketRefuse,
	}}, nil
}

// documentsService is the adapter of a service with documents "true".
type documentsService struct{ a *Adapter }

func (d documentsService) TransformResponse(x *gateway.Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	return d.a.transform(x, req, next, true)
}

// engineFor returns the engine that seals x's pieces.
func (a *Adapter) engineFor(x *gateway.Exchange) *resumable.Engine {
	if a.Keys == nil {
		return &resumable.Engine{State: a.State, Keys: x.Keys, TTL: a.TTL}
	}
	a.once.Do(func() { a.engine = &resumable.Engine{State: a.State, Keys: a.Keys, TTL: a.TTL} })
	return a.engine
}

// The protocol's words.
const (
	tusVersion  = "1.0.0"
	offsetOctet = "application/offset+octet-stream"
	keyPrefix   = "tus/"
)

// managedHeaders are the request headers the adapter reads and writes
// itself; every other header goes upstream through the gateway's header
// pass. A number such as an Upload-Offset must not meet the personnummer
// detector, and a plaintext digest must not leave at all.
var managedHeaders = []string{
	"Tus-Resumable", "Upload-Offset", "Upload-Length", "Upload-Defer-Length", "Upload-Metadata",
	"Upload-Checksum", "Upload-Concat", "X-Http-Method-Override", "Content-Type", "Content-Length",
	"Transfer-Encoding", "Content-Encoding", "Range", "If-Range", "Expect",
	// The IETF resumable-upload draft's words, which tusd also reads.
	"Upload-Complete", "Upload-Incomplete", "Upload-Draft-Interop-Version",
}

func (a *Adapter) TransformResponse(x *gateway.Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	return a.transform(x, req, next, false)
}

func (a *Adapter) transform(x *gateway.Exchange, req *http.Request, next http.RoundTripper, documents bool) (*http.Response, error) {
	c := &call{a: a, x: x, req: req, next: next, eng: a.engineFor(x), documents: documents}
	resp, err := c.serve()
	if req.Body != nil {
		req.Body.Close()
	}
	if err != nil {
		return c.errorResponse(err), nil
	}
	return resp, nil
}

// call is one client request on its way through the adapter.
type call struct {
	a    *Adapter
	x    *gateway.Exchange
	req  *http.Request
	next http.RoundTripper
	eng  *resumable.Engine
	base http.Header // the client's other headers, pseudonymized
	// documents: the service pseudonymizes office documents inside.
	documents bool
}

func (c *call) ctx() context.Context { return c.req.Context() }

func (c *call) serve() (*http.Response, error) {
	method := c.req.Method
	if o := c.req.Header.Get("X-Http-Method-Override"); o != "" {
		// tus lets clients that cannot send PATCH or DELETE tunnel them
		// through POST; tusd honours it, so the gateway decides on it.
		if method != http.MethodPost {
			return nil, badRequest("X-HTTP-Method-Override is only taken on POST")
		}
		method = strings.ToUpper(strings.TrimSpace(o))
	}
	if c.req.Header.Get("Upload-Concat") != "" {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "concatenation (Upload-Concat) is not supported through sluss: a partial upload cannot be placed in one encrypted file; upload the file in one tus upload (tus-js-client: parallelUploads 1)"}
	}
	if err := c.pseudonymizeHeaders(); err != nil {
		return nil, err
	}
	switch method {
	case http.MethodOptions:
		return c.options()
	case http.MethodPost:
		return c.create()
	case http.MethodHead:
		return c.head()
	case http.MethodPatch:
		return c.patch()
	case http.MethodDelete:
		return c.terminate()
	case http.MethodGet:
		return c.download()
	}
	return nil, &Error{Status: http.StatusMethodNotAllowed, Msg: "a tus service takes OPTIONS, POST, HEAD, PATCH, DELETE and GET only",
		Header: http.Header{"Allow": {"OPTIONS, POST, HEAD, PATCH, DELETE, GET"}}}
}

// pseudonymizeHeaders sets base to the client's headers without those the
// adapter manages, through the gateway's header pass.
func (c *call) pseudonymizeHeaders() error {
	h := c.req.Header.Clone()
	for _, k := range managedHeaders {
		h.Del(k)
	}
	tmp := &http.Request{Method: c.req.Method, URL: c.req.URL, Header: h, Host: c.req.Host}
	if err := c.x.PseudonymizeHeaders(tmp.WithContext(c.ctx())); err != nil {
		return err
	}
	c.base = tmp.Header
	// tus uses no query, but one may carry a name: it goes as tokens.
	// The path is the provider's upload id, which must stay as it is.
	if q := c.req.URL.RawQuery; q != "" {
		pq, counts, err := c.x.Pseudonymizer.PseudonymizeRawQuery(c.ctx(), q)
		if err != nil {
			return c.pseudonymError(err)
		}
		c.x.AddCounts(counts)
		c.req.URL.RawQuery = pq
	}
	return nil
}

// request returns a request to send upstream to u with body of n bytes
// (nil: none), carrying the client's pseudonymized headers.
func (c *call) request(ctx context.Context, method string, u *url.URL, body io.Reader, n int64) *http.Request {
	out := c.req.Clone(ctx)
	out.Method = method
	out.URL = u
	out.Host = ""
	out.Header = c.base.Clone()
	out.Header.Set("Tus-Resumable", tusVersion)
	out.TransferEncoding = nil
	out.Trailer = nil
	if body == nil || n == 0 {
		out.Body, out.ContentLength = http.NoBody, 0
		if method == http.MethodPatch || method == http.MethodPost {
			out.Header.Set("Content-Length", "0")
		}
	} else {
		out.Body, out.ContentLength = io.NopCloser(body), n
		out.Header.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	out.GetBody = nil
	return out
}

// roundTrip sends out and reads the answer's body (at most a little: tus
// answers are headers), so that the connection can be reused.
func (c *call) roundTrip(out *http.Request) (*http.Response, []byte, error) {
	resp, err := c.next.RoundTrip(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return resp, body, nil
}

// maxAnswer bounds the body of an upstream answer the adapter reads.
const maxAnswer = 64 << 10

// stateKey is the upload-state key of the upload at u: a digest of its
// URL, so that the store holds no name.
func stateKey(u *url.URL) string {
	host := strings.ToLower(u.Host)
	if h, p, ok := strings.Cut(host, ":"); ok && ((u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80")) {
		host = h
	}
	sum := sha256.Sum256([]byte(u.Scheme + "://" + host + u.EscapedPath()))
	return keyPrefix + hex.EncodeToString(sum[:20])
}

// uploadURL is the URL of the upload the request names.
func (c *call) uploadURL() *url.URL {
	u := *c.req.URL
	u.RawQuery, u.Fragment = "", ""
	return &u
}

// reply builds the adapter's answer to the client.
func (c *call) reply(status int, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Content-Length", "0")
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: http.NoBody, ContentLength: 0, Request: c.req,
	}
}

// keep copies the headers of an upstream answer the client may use.
func keep(dst, src http.Header, names ...string) {
	for _, k := range names {
		if v := src.Values(k); len(v) > 0 {
			dst[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
		}
	}
}

// passOn answers the client with an upstream answer the adapter does not
// translate (an error of the provider's), without what describes
// ciphertext.
func (c *call) passOn(resp *http.Response, body []byte) *http.Response {
	for _, k := range []string{"Upload-Offset", "Upload-Length", "Upload-Metadata", "Content-Length", "Content-Encoding", "Transfer-Encoding"} {
		resp.Header.Del(k)
	}
	c.x.ReidentifyHeaders(c.ctx(), resp.Header)
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.TransferEncoding = nil
	return resp
}

// maxSize bounds sizes and offsets (1 PiB): the age file of a larger
// plaintext would not have a size that fits the protocol's integers.
const maxSize = 1 << 50

func parseSize(v, what string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(what + " is not a non-negative integer")
	}
	if n > maxSize {
		return 0, &Error{Status: http.StatusRequestEntityTooLarge, Msg: what + " is larger than the gateway takes (1 PiB)"}
	}
	return n, nil
}

// statusErr is an upstream answer the adapter did not expect.
type statusErr struct {
	method string
	status int
}

func (e *statusErr) Error() string {
	return fmt.Sprintf("the provider answered %s with %d", e.method, e.status)
}

var errNoOffset = errors.New("the provider's answer has no valid Upload-Offset")
