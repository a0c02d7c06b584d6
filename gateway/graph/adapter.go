package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
	"github.com/sluss/sluss/gateway/uploads"
)

// Fragment rules of Graph upload sessions, in ciphertext at the provider.
const (
	// Granule: every fragment but the last is a multiple of 320 KiB.
	Granule = 320 << 10
	// MaxFragment is the largest fragment Graph takes (60 MiB).
	MaxFragment = 60 << 20
)

// Adapter is the graph profile: register [Adapter.Profile] as the
// gateway's "graph" profile. It needs the shared upload-state store.
type Adapter struct {
	State uploads.Store
	// TTL is how long an upload session's state lives after its last
	// fragment; default the engine's (7 days).
	TTL time.Duration
	// DocumentFragment is the size of the fragments a pseudonymized
	// document is sent to the provider in: a multiple of [Granule], at
	// most [MaxFragment] (the default).
	DocumentFragment int64
	Log              zerolog.Logger
}

// Profile builds the rules of a graph service: every request goes to
// the adapter. Its one option, documents: "true", has office documents
// pseudonymized inside instead of encrypted (documents.go).
func (a *Adapter) Profile(options map[string]string) ([]gateway.Rule, error) {
	s := &service{a: a}
	for k, v := range options {
		switch {
		case k == "documents" && v == "true":
			s.documents = true
		case k == "documents" && v == "false":
		case k == "documents":
			return nil, fmt.Errorf("option documents is %q: it takes \"true\" or \"false\"", v)
		default:
			return nil, fmt.Errorf("unknown option %q (the graph profile takes documents)", k)
		}
	}
	return []gateway.Rule{{
		Response:  []gateway.ResponseTransformer{s},
		WebSocket: gateway.WebSocketRefuse,
	}}, nil
}

// service is one graph service's transformer.
type service struct {
	a *Adapter
	// documents: office documents are pseudonymized inside.
	documents bool
}

// call is one client request on its way through the adapter.
type call struct {
	a      *Adapter
	x      *gateway.Exchange
	req    *http.Request
	next   http.RoundTripper
	engine *resumable.Engine
	// documents: the service pseudonymizes office documents inside.
	documents bool
}

func (s *service) TransformResponse(x *gateway.Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	c := &call{a: s.a, x: x, req: req, next: next, documents: s.documents,
		engine: &resumable.Engine{State: s.a.State, Keys: x.Keys, TTL: s.a.TTL}}
	resp, err := c.serve()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return c.errorResponse(err), nil
	}
	return resp, nil
}

func (c *call) serve() (*http.Response, error) {
	r := c.req
	key := sessionKey(r.URL.Host, r.URL.EscapedPath(), r.URL.RawQuery)
	if !isAPIPath(r.URL.Path) {
		// A document upload session is in the state whatever the
		// service's options say now: its mode was decided at creation.
		rec, err := c.documentSession(key)
		switch {
		case err == nil:
			c.x.AuditPath = r.URL.EscapedPath()
			return c.docSession(key, rec)
		case errors.Is(err, errNotOwner):
			return nil, graphError(http.StatusNotFound, "itemNotFound", "the gateway knows no such upload session")
		case !errors.Is(err, uploads.ErrNotFound):
			return nil, graphError(http.StatusServiceUnavailable, "serviceNotAvailable", "the gateway's upload state is unavailable; retry later")
		}
	}
	if r.Method == http.MethodPut || r.Method == http.MethodGet || r.Method == http.MethodDelete || r.Method == http.MethodPost {
		info, err := c.engine.Status(r.Context(), key)
		switch {
		case err == nil:
			// The upload URL was made by the provider and holds no
			// personal data; it is logged without its query (a
			// pre-authentication token).
			c.x.AuditPath = r.URL.EscapedPath()
			return c.session(key, info)
		case !errors.Is(err, resumable.ErrNotFound):
			return nil, err
		}
	}
	api := isAPIPath(r.URL.Path)
	switch m := r.Method; {
	case api && m == http.MethodPost && strings.HasSuffix(r.URL.Path, "/createUploadSession"):
		if !isDrivePath(r.URL.Path) {
			// Outlook attachments and print jobs declare sizes and
			// offsets of their own the gateway does not translate.
			return nil, graphError(http.StatusNotImplemented, "notSupported", "only drive items can be uploaded in sessions through sluss")
		}
		return c.createSession()
	case api && m == http.MethodPost && strings.HasSuffix(r.URL.Path, "/$batch"):
		return c.batch()
	case api && m == http.MethodPut && strings.HasSuffix(r.URL.Path, "/content"):
		if c.documents && gateway.IsDocument(contentFileName(r.URL.Path), r.Header.Get("Content-Type")) {
			return c.simpleUploadDocument()
		}
		return c.simpleUpload()
	case !api && m != http.MethodGet && m != http.MethodHead && m != http.MethodDelete:
		// An upload URL the gateway did not create (a session opened
		// around it, or one it has forgotten): the body would reach the
		// provider as the client sent it.
		return nil, graphError(http.StatusNotFound, "itemNotFound", "this upload session is unknown to the gateway (create upload sessions through it)")
	case m == http.MethodGet || m == http.MethodHead:
		return c.read()
	}
	return c.forward()
}

// isAPIPath tells the API's paths (/v1.0/me/drive/…) from the provider's
// upload and download URLs.
func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/v1.0/") || strings.HasPrefix(p, "/beta/")
}

// isDrivePath reports whether an API path addresses a drive
// (/me/drive/…, /drives/{id}/…, /sites/{id}/drive/…).
func isDrivePath(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "drive" || seg == "drives" {
			return true
		}
	}
	return false
}

// forward pseudonymizes a request (path, query, JSON body) and
// re-identifies the answer.
func (c *call) forward() (*http.Response, error) {
	if err := (gateway.Pseudonymize{}).TransformRequest(c.x, c.req); err != nil {
		return nil, err
	}
	return c.reidentify(c.req, c.sizes(c.next))
}

// reidentify runs the gateway's re-identification around next.
func (c *call) reidentify(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	return gateway.Reidentify{}.TransformResponse(c.x, req, next)
}

// answer re-identifies a response the adapter made itself.
func (c *call) answer(resp *http.Response) (*http.Response, error) {
	return c.reidentify(c.req, roundTripper(func(*http.Request) (*http.Response, error) { return resp, nil }))
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Error is an answer in Graph's error format.
type Error struct {
	Status  int
	Code    string
	Message string
	// Body is the provider's own error answer, passed on as it came.
	Body []byte
	err  error
}

func (e *Error) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Code, e.err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

func graphError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// errorResponse turns err into Graph's JSON error answer.
func (c *call) errorResponse(err error) *http.Response {
	e := asError(err)
	if e.Status == http.StatusForbidden {
		c.x.Denied()
	}
	if e.Status >= 500 {
		c.x.Log.Debug().Err(withoutURL(err)).Str("code", e.Code).Msg("graph request failed")
	}
	body := e.Body
	if body == nil {
		body, _ = json.Marshal(map[string]any{"error": map[string]any{
			"code": e.Code, "message": e.Message,
			"innerError": map[string]any{"request-id": c.x.ID},
		}})
	}
	return jsonResponse(c.req, e.Status, body)
}

func asError(err error) *Error {
	var e *Error
	var rf *gateway.RefusedError
	var off *resumable.OffsetError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &rf):
		return &Error{Status: rf.Status, Code: codeOf(rf.Status), Message: rf.Reason, err: err}
	case errors.As(err, &off):
		return &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: "invalidRange",
			Message: fmt.Sprintf("the fragment must start at byte %d, where the upload continues (GET the upload URL for nextExpectedRanges)", off.Want), err: err}
	case errors.Is(err, resumable.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "itemNotFound", Message: "the upload session was not found", err: err}
	case errors.Is(err, resumable.ErrBusy):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: "another fragment of this upload is in progress", err: err}
	case errors.Is(err, resumable.ErrChanged):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: resumable.ErrChanged.Error(), err: err}
	case errors.Is(err, resumable.ErrDone):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: "the upload is already complete", err: err}
	case errors.Is(err, resumable.ErrTooLarge), errors.Is(err, resumable.ErrSize):
		return &Error{Status: http.StatusBadRequest, Code: "invalidRequest", Message: "the fragment does not fit the file's size", err: err}
	case errors.Is(err, resumable.ErrClientBody):
		return &Error{Status: http.StatusBadRequest, Code: "invalidRequest", Message: "the fragment's body ended before its Content-Range did", err: err}
	case errors.Is(err, resumable.ErrState), errors.Is(err, resumable.ErrCheck):
		return &Error{Status: http.StatusServiceUnavailable, Code: "serviceNotAvailable", Message: "the gateway's upload state is unavailable; retry later", err: err}
	}
	return &Error{Status: http.StatusBadGateway, Code: "generalException", Message: "the upload could not be stored at the provider", err: err}
}

func codeOf(status int) string {
	switch status {
	case http.StatusForbidden:
		return "accessDenied"
	case http.StatusBadRequest:
		return "invalidRequest"
	case http.StatusNotFound:
		return "itemNotFound"
	case http.StatusRequestEntityTooLarge:
		return "requestTooLarge"
	case http.StatusUnsupportedMediaType:
		return "unsupportedMediaType"
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable"
	}
	return "generalException"
}

func jsonResponse(req *http.Request, status int, body []byte) *http.Response {
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"application/json"},
			"Content-Length": {strconv.Itoa(len(body))},
		},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// maxJSON bounds the JSON answers the adapter reads whole (sessions,
// driveItems, listings).
const maxJSON = 16 << 20

// readJSON reads a small JSON body into a generic document, numbers kept
// as they were written.
func readJSON(r io.Reader, limit int64) (map[string]any, []byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > limit {
		return nil, b, fmt.Errorf("a JSON body larger than %d bytes", limit)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		return nil, b, err
	}
	return doc, b, nil
}

// maxBatch bounds a JSON batch body.
const maxBatch = 4 << 20

// batch forwards a JSON batch ($batch) whose requests carry no file:
// one that uploads (PUT, …/content, createUploadSession) would put the
// file in the JSON, past the encryption, and is refused.
func (c *call) batch() (*http.Response, error) {
	doc, raw, err := readJSON(c.req.Body, maxBatch)
	c.req.Body.Close()
	if err != nil {
		return nil, graphError(http.StatusBadRequest, "invalidRequest", "the batch is not a JSON object the gateway can read")
	}
	reqs, _ := doc["requests"].([]any)
	for _, v := range reqs {
		r, _ := v.(map[string]any)
		method, _ := r["method"].(string)
		u, _ := r["url"].(string)
		path, _, _ := strings.Cut(u, "?")
		if !strings.EqualFold(method, http.MethodGet) && !strings.EqualFold(method, http.MethodDelete) &&
			(strings.EqualFold(method, http.MethodPut) || strings.Contains(path, "/content") || strings.Contains(path, "createUploadSession") || r["body"] != nil && !isJSONBody(r)) {
			return nil, graphError(http.StatusNotImplemented, "notSupported", "a batch that uploads a file is not supported through sluss: upload it on its own")
		}
	}
	c.req.Body, c.req.ContentLength = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
	return c.forward()
}

// isJSONBody reports whether a batch request's body is JSON (a driveItem
// update, a folder), not a file.
func isJSONBody(r map[string]any) bool {
	h, _ := r["headers"].(map[string]any)
	for k, v := range h {
		if strings.EqualFold(k, "Content-Type") {
			s, _ := v.(string)
			return strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "application/json")
		}
	}
	_, obj := r["body"].(map[string]any)
	return obj
}

// withoutURL is err for the debug log: a transport error names the URL
// it failed on, and an upload URL's query is its pre-authentication.
func withoutURL(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return fmt.Errorf("%s: %w", u.Op, u.Err)
	}
	return err
}
