package gateway

import (
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
)

// A RequestTransformer rewrites a request on its way upstream: body,
// Content-Length, headers, URL. It runs before anything is sent, so an
// error refuses the request with zero bytes upstream. Return a
// *RefusedError to choose the status and message the client sees.
type RequestTransformer interface {
	TransformRequest(x *Exchange, req *http.Request) error
}

// A ResponseTransformer wraps the upstream round trip: it may change the
// request it forwards, send further requests (as Range decryption does),
// and rewrite the response. next is the rest of the chain.
type ResponseTransformer interface {
	TransformResponse(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error)
}

// Exchange is what transformers know of the request they work on, and
// where they leave what the audit event should say.
type Exchange struct {
	ID      string
	User    *User
	Service *Service
	Rule    *Rule
	Keys    KeySource
	// Log is the debug logger: never give it a value from a body, a path
	// or a header.
	Log zerolog.Logger

	// Set by transformers for the audit event.
	Action     string // encrypt, decrypt, …; empty keeps the service action
	KeyVersion int
}

// RefusedError is a refusal with the status and message the client sees.
type RefusedError struct {
	Status int
	Reason string
	Err    error // the cause, for the debug log; never shown to clients
}

func (e *RefusedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Reason, e.Err)
	}
	return e.Reason
}

func (e *RefusedError) Unwrap() error { return e.Err }

func refuse(status int, reason string, err error) *RefusedError {
	return &RefusedError{Status: status, Reason: reason, Err: err}
}

// builtinTransformers are the names rules may use in configuration.
func builtinTransformers() map[string]any {
	return map[string]any{
		"encrypt":      Encrypt{},
		"decrypt":      Decrypt{},
		"webdav-sizes": WebDAVSizes{},
	}
}

// roundTripperFunc lets a function be a step of the response chain.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// chain builds the round tripper that runs ts outermost first around base.
func chain(x *Exchange, ts []ResponseTransformer, base http.RoundTripper) http.RoundTripper {
	rt := base
	for i := len(ts) - 1; i >= 0; i-- {
		t, next := ts[i], rt
		rt = roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			return t.TransformResponse(x, r, next)
		})
	}
	return rt
}
