package s3

import (
	"encoding/xml"
	"errors"
	"net/http"
)

// Error is an S3 error as S3 returns it: an HTTP status and an XML body with
// Code and Message. Messages never hold secrets, object keys or payload
// data; a cause kept for the gateway's own logs is reachable with
// errors.Unwrap but never written to the client.
type Error struct {
	Status        int
	Code, Message string
	cause         error
}

func (e *Error) Error() string {
	s := "s3: " + e.Code + ": " + e.Message
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns what caused the error, if the gateway knows it.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrSignatureDoesNotMatch) holds whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// withCause returns a copy of e that wraps cause.
func (e *Error) withCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// withMessage returns a copy of e with another message.
func (e *Error) withMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// The S3 errors the gateway answers with. Compare with errors.Is (the Code
// decides); the functions below make ones with a more precise message.
var (
	ErrAccessDenied                 = newError(http.StatusForbidden, "AccessDenied", "Access Denied")
	ErrSignatureDoesNotMatch        = newError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	ErrRequestTimeTooSkewed         = newError(http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.")
	ErrInvalidAccessKeyID           = newError(http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
	ErrAuthorizationHeaderMalformed = newError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed.")
	ErrAuthorizationQueryParameters = newError(http.StatusBadRequest, "AuthorizationQueryParametersError", "The query parameters of the presigned URL are malformed.")
	ErrMissingSecurityHeader        = newError(http.StatusBadRequest, "MissingSecurityHeader", "Your request is missing a required header.")
	ErrXAmzContentSHA256Mismatch    = newError(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	ErrBadDigest                    = newError(http.StatusBadRequest, "BadDigest", "The Content-MD5 or checksum you specified did not match what we received.")
	ErrInvalidDigest                = newError(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 or checksum you specified is not valid.")
	ErrIncompleteBody               = newError(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	ErrInvalidRequest               = newError(http.StatusBadRequest, "InvalidRequest", "Invalid Request")
	ErrNotImplemented               = newError(http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented.")
	ErrInternalError                = newError(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	ErrSlowDown                     = newError(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
)

// InvalidRequest returns an InvalidRequest error (400) with msg.
func InvalidRequest(msg string) *Error { return ErrInvalidRequest.withMessage(msg) }

// AccessDenied returns an AccessDenied error (403) with msg, as S3 words
// "Request has expired".
func AccessDenied(msg string) *Error { return ErrAccessDenied.withMessage(msg) }

// NotImplemented returns a NotImplemented error (501) with msg.
func NotImplemented(msg string) *Error { return ErrNotImplemented.withMessage(msg) }

// InternalError returns an InternalError (500) that wraps cause for the
// gateway's logs; the client sees only the generic message.
func InternalError(cause error) *Error { return ErrInternalError.withCause(cause) }

// ErrorFrom returns err as an *Error: itself if it is one (or wraps one),
// otherwise an InternalError wrapping it.
func ErrorFrom(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return InternalError(err)
}

type errorDocument struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

// WriteError writes e as S3's XML error document
// (<Error><Code/><Message/><Resource/><RequestId/></Error>, Content-Type
// application/xml). resource is the request path, or "" to leave
// Resource out; requestID the gateway's request id, also sent as
// x-amz-request-id.
func WriteError(w http.ResponseWriter, e *Error, resource, requestID string) {
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	body, err := xml.Marshal(errorDocument{Code: e.Code, Message: e.Message, Resource: resource, RequestID: requestID})
	if err != nil {
		// Strings always marshal; this would be a bug in errorDocument.
		body = []byte("<Error><Code>InternalError</Code></Error>")
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	if requestID != "" {
		h.Set("X-Amz-Request-Id", requestID)
	}
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}
