package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
)

// Error is a refusal with the status and message the client sees; Cause
// is for the debug log only.
type Error struct {
	Status int
	Msg    string
	Header http.Header
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Cause)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Cause }

func badRequest(msg string) *Error { return &Error{Status: http.StatusBadRequest, Msg: msg} }

// statusChecksumMismatch is tus's answer to an Upload-Checksum that does
// not match the body.
const statusChecksumMismatch = 460

// engineError turns an error of the engine (or of the provider, which the
// engine returns wrapped) into the client's answer. Messages name no
// value of the request beyond numbers.
func engineError(err error) *Error {
	var oe *resumable.OffsetError
	var se *statusErr
	var re *gateway.RefusedError
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &re):
		return &Error{Status: re.Status, Msg: re.Reason, Cause: err}
	case errors.As(err, &oe):
		return &Error{Status: http.StatusConflict, Msg: "Upload-Offset is not the upload's offset " + strconv.FormatInt(oe.Want, 10) + "; nothing was sent (HEAD the upload and resume from its offset)", Cause: err}
	case errors.Is(err, resumable.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Msg: "the gateway knows no such upload (unknown, finished long ago, terminated or expired): create a new one", Cause: err}
	case errors.Is(err, resumable.ErrBusy):
		return &Error{Status: http.StatusLocked, Msg: "another request of this upload is in progress; retry when it has finished", Cause: err}
	case errors.Is(err, resumable.ErrChanged):
		return &Error{Status: http.StatusConflict, Msg: "these bytes differ from those the gateway already encrypted and sent at this offset; an encrypted upload cannot take other bytes there: start a new upload", Cause: err}
	case errors.Is(err, resumable.ErrCheck):
		return &Error{Status: statusChecksumMismatch, Msg: "Upload-Checksum does not match the body; the piece was not stored", Cause: err}
	case errors.Is(err, resumable.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Msg: "the body goes past the upload's Upload-Length", Cause: err}
	case errors.Is(err, resumable.ErrDone):
		return &Error{Status: http.StatusConflict, Msg: "the upload is complete and takes no more bytes", Cause: err}
	case errors.Is(err, resumable.ErrClientBody):
		return &Error{Status: http.StatusBadRequest, Msg: "the request body ended before its Content-Length or broke; what was received whole is kept (HEAD the upload for its offset)", Cause: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusBadRequest, Msg: "the request was cancelled", Cause: err}
	case errors.As(err, &se) && (se.status == http.StatusNotFound || se.status == http.StatusGone):
		return &Error{Status: se.status, Msg: "the provider no longer has this upload: create a new one", Cause: err}
	case errors.As(err, &se) && se.status == http.StatusRequestEntityTooLarge:
		return &Error{Status: se.status, Msg: "the provider refuses an upload this large", Cause: err}
	case errors.As(err, &se):
		return &Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("the provider refused the encrypted piece (%d); HEAD the upload and resume", se.status), Cause: err}
	case errors.Is(err, resumable.ErrState), errors.Is(err, errKeys), errors.Is(err, errDocState):
		return &Error{Status: http.StatusServiceUnavailable, Msg: "the upload state store or the keys are unavailable, so nothing was sent", Cause: err}
	case errors.Is(err, resumable.ErrSize):
		return &Error{Status: http.StatusBadRequest, Msg: "Upload-Length does not match the upload's length, or the last piece ends short of it", Cause: err}
	case errors.Is(err, resumable.ErrProvider):
		return &Error{Status: http.StatusBadGateway, Msg: "the provider holds less of the upload than it acknowledged; the upload cannot continue: start a new one", Cause: err}
	}
	return &Error{Status: http.StatusBadGateway, Msg: "the encrypted piece could not be stored at the provider; HEAD the upload and resume", Cause: err}
}

// errKeys marks a failure of the region's keys, met before anything
// went upstream.
var errKeys = errors.New("the region's keys are unavailable")

// errorResponse answers a refused request in text, as tusd does.
func (c *call) errorResponse(err error) *http.Response {
	e := engineError(err)
	if e.Status == http.StatusForbidden {
		c.x.Denied()
	}
	if e.Cause != nil || e.Status >= 500 {
		c.x.Log.Debug().Err(err).Int("status", e.Status).Msg("tus request refused")
	}
	h := e.Header
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	resp := c.reply(e.Status, h)
	body := "sluss: " + e.Msg + " (request " + c.x.ID + ")\n"
	if c.req.Method != http.MethodHead {
		resp.Body = readCloser(body)
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return resp
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
