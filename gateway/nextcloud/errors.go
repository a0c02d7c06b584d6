package nextcloud

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"hash/adler32"
	"io"
	"net/http"
	"strings"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
)

// refusal is an answer of the gateway's own; reason is shown to the
// client and must hold no personal data.
func refusal(status int, reason string, err error) *gateway.RefusedError {
	return &gateway.RefusedError{Status: status, Reason: reason, Err: err}
}

// upstreamError is a provider's answer that ends the request (507
// insufficient storage, 401, 404…): it goes back to the client as it is.
type upstreamError struct{ resp *http.Response }

func (e *upstreamError) Error() string { return "the server answered " + e.resp.Status }

// errorResponse turns what went wrong into the client's answer: the
// provider's own, or a Sabre-style DAV error.
func (c *call) errorResponse(err error) *http.Response {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue.resp
	}
	status, reason := http.StatusBadGateway, "the server could not be reached"
	var re *gateway.RefusedError
	var oe *resumable.OffsetError
	switch {
	case errors.As(err, &re):
		status, reason = re.Status, re.Reason
	case errors.Is(err, resumable.ErrNotFound):
		status, reason = http.StatusNotFound, "no such upload at the gateway: start it again with MKCOL"
	case errors.As(err, &oe):
		status, reason = http.StatusBadRequest, fmt.Sprintf("the chunk starts at offset %d, but the upload continues at %d", oe.Got, oe.Want)
	case errors.Is(err, resumable.ErrChanged):
		status, reason = http.StatusConflict, "this chunk was sent before with other bytes; the gateway refuses to encrypt other data in its place: start a new upload"
	case errors.Is(err, resumable.ErrBusy):
		status, reason = http.StatusLocked, "another chunk of this upload is in progress, or the chunk before this one did not arrive"
	case errors.Is(err, resumable.ErrTooLarge), errors.Is(err, resumable.ErrSize):
		status, reason = http.StatusBadRequest, "the chunks do not add up to the upload's OC-Total-Length"
	case errors.Is(err, resumable.ErrDone):
		status, reason = http.StatusBadRequest, "the upload is complete; no chunk can be added"
	case errors.Is(err, resumable.ErrClientBody):
		status, reason = http.StatusBadRequest, "the chunk's body ended before its Content-Length"
	case errors.Is(err, resumable.ErrCheck):
		status, reason = http.StatusBadRequest, "the chunk does not match its OC-Checksum"
	case errors.Is(err, resumable.ErrProvider):
		status, reason = http.StatusBadGateway, "the server holds less of the upload than it acknowledged"
	case errors.Is(err, resumable.ErrState):
		status, reason = http.StatusServiceUnavailable, "the gateway's upload state is unavailable; try again"
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns"><s:exception>sluss</s:exception><s:message>`)
	b.WriteString(xmlText(reason))
	b.WriteString("</s:message></d:error>\n")
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/xml; charset=utf-8"}},
		Body:          io.NopCloser(strings.NewReader(b.String())),
		ContentLength: int64(b.Len()), Request: c.req,
	}
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// checksum is a client's OC-Checksum of a chunk, computed as the chunk
// streams through.
type checksum struct {
	hash.Hash
	want string
}

// newChecksum parses "TYPE:hex" (SHA1, MD5, Adler32; several may be
// given, space-separated: the first known one is checked).
func newChecksum(v string) (*checksum, error) {
	for _, f := range strings.Fields(v) {
		typ, sum, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		var h hash.Hash
		switch strings.ToUpper(typ) {
		case "SHA1":
			h = sha1.New()
		case "MD5":
			h = md5.New()
		case "ADLER32":
			h = adler32.New()
		default:
			continue
		}
		return &checksum{Hash: h, want: strings.ToLower(sum)}, nil
	}
	return nil, refusal(http.StatusBadRequest, "OC-Checksum names no type the gateway can check (SHA1, MD5, Adler32)", nil)
}

func (c *checksum) verify() error {
	if got := hex.EncodeToString(c.Sum(nil)); got != c.want {
		return errors.New("checksum mismatch")
	}
	return nil
}
