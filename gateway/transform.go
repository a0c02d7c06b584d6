package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/pseudonym"
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

	// Pseudonymizer replaces identifiers with tokens and back; nil when
	// the gateway has no re-identification store (pseudonymizing rules
	// then refuse).
	Pseudonymizer *pseudonym.Pseudonymizer

	// Set by transformers for the audit event (and through the outcome
	// methods: Encrypted, Decrypted, Pseudonymized, Denied).
	KeyVersion int
	// AuditPath is the request path as the audit log may show it, set by
	// transformers that pseudonymize it. On services that pseudonymize,
	// the log shows no path until it is set.
	AuditPath string

	limits  Limits // the gateway's; zero (the defaults) outside a gateway
	mu      sync.Mutex
	counts  pseudonym.Counts
	outcome Outcome
}

// Outcome is what the gateway did with an exchange, as its audit event
// and metrics name it.
type Outcome string

// Outcomes, weakest first: a stronger one recorded later wins, so a
// refusal is never reported as the encryption it interrupted.
const (
	OutcomeInspect      Outcome = "inspect"
	OutcomeTunnel       Outcome = "tunnel"
	OutcomePseudonymize Outcome = "pseudonymize"
	OutcomeEncrypt      Outcome = "encrypt"
	OutcomeDecrypt      Outcome = "decrypt"
	OutcomeDeny         Outcome = "deny"
)

var outcomeRank = map[Outcome]int{OutcomeInspect: 1, OutcomeTunnel: 1, OutcomePseudonymize: 2, OutcomeEncrypt: 3, OutcomeDecrypt: 3, OutcomeDeny: 4}

func (x *Exchange) settle(o Outcome) {
	x.mu.Lock()
	if outcomeRank[o] >= outcomeRank[x.outcome] {
		x.outcome = o
	}
	x.mu.Unlock()
}

// Encrypted records that the body left encrypted to key version v.
func (x *Exchange) Encrypted(v int) {
	x.settle(OutcomeEncrypt)
	x.mu.Lock()
	x.KeyVersion = v
	x.mu.Unlock()
}

// Decrypted records that the response was decrypted for the user.
func (x *Exchange) Decrypted() { x.settle(OutcomeDecrypt) }

// Pseudonymized records that identifiers were replaced in what left.
func (x *Exchange) Pseudonymized() { x.settle(OutcomePseudonymize) }

// Denied records that the exchange was refused.
func (x *Exchange) Denied() { x.settle(OutcomeDeny) }

// Outcome returns the strongest outcome recorded so far.
func (x *Exchange) Outcome() Outcome {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.outcome
}

// AddCounts adds what a transform replaced to the exchange's totals, for
// the audit event and metrics. Safe for concurrent use: request and
// response bodies stream in their own goroutines.
func (x *Exchange) AddCounts(c pseudonym.Counts) {
	x.mu.Lock()
	x.counts.Add(c)
	x.mu.Unlock()
}

// Counts returns the totals added so far.
func (x *Exchange) Counts() pseudonym.Counts {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.counts
}

// PseudonymizeHeaders replaces the identifiers in req's headers by their
// syntax, as pseudonymizing rules do (URLs, Content-Disposition file
// names, MIME parameters, free text; see requestHeaderRoles), for protocol
// adapters that sign what they send themselves. A header that does not
// parse as its syntax says, or grows past the default limit, is refused.
func (x *Exchange) PseudonymizeHeaders(req *http.Request) error {
	if x.Pseudonymizer == nil {
		return refuse(http.StatusServiceUnavailable, "pseudonymization is not available on this gateway, so nothing was sent", nil)
	}
	_, err := pseudonymizeRequestHeaders(req.Context(), x, req, Limits{}.withDefaults().MaxHeaderBytes)
	return err
}

// PseudonymizeFilename pseudonymizes a file name as the gateway's own
// file-name pass does (Content-Disposition filename): the extension stays,
// and a name beside a personnummer goes as one token with it. For protocol
// adapters that carry file names in fields of their own (tus
// Upload-Metadata).
func (x *Exchange) PseudonymizeFilename(ctx context.Context, name string) (string, error) {
	if x.Pseudonymizer == nil {
		return "", refuse(http.StatusServiceUnavailable, "pseudonymization is not available on this gateway, so nothing was sent", nil)
	}
	pn, c, err := pseudonymizeFilename(ctx, x.Pseudonymizer, name)
	if err != nil {
		return "", pseudonymRefusal(err, "a file name")
	}
	x.AddCounts(c)
	return pn, nil
}

// ReidentifyHeaders puts the originals back in place of tokens in a
// response's headers, for users with the reidentify right.
func (x *Exchange) ReidentifyHeaders(ctx context.Context, h http.Header) {
	if x.User.Can(RightReidentify) && x.Pseudonymizer != nil {
		reidentifyHeaders(ctx, x, h)
	}
}

// RefusedError is a refusal with the status and message the client sees.
type RefusedError struct {
	Status int
	Reason string
	Err    error // the cause, for the debug log; never shown to clients
	// KeyFailure names the key or store operation that failed, if that
	// is why (for the key store error metric).
	KeyFailure string
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
		"pseudonymize": Pseudonymize{},
		// pseudonymize-metadata goes before encrypt: names, paths and
		// the text parts of forms pseudonymized, the body left to encrypt.
		"pseudonymize-metadata": Pseudonymize{EncryptedBody: true},
		"reidentify":            Reidentify{},
		// Office documents pseudonymized inside, other uploads encrypted.
		"pseudonymize-documents": PseudonymizeDocuments{},
		"reidentify-documents":   ReidentifyDocuments{},
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
