package s3

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteError(t *testing.T) {
	for _, tt := range []struct {
		resource, want string
	}{
		{"/bucket/key", "<Error><Code>AccessDenied</Code><Message>Request has expired</Message><Resource>/bucket/key</Resource><RequestId>req-1</RequestId></Error>"},
		// The adapter leaves Resource out: a key may hold personal data.
		{"", "<Error><Code>AccessDenied</Code><Message>Request has expired</Message><RequestId>req-1</RequestId></Error>"},
	} {
		w := httptest.NewRecorder()
		WriteError(w, AccessDenied("Request has expired"), tt.resource, "req-1")
		if w.Code != http.StatusForbidden {
			t.Errorf("status %d, want 403", w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/xml" {
			t.Errorf("Content-Type %q", ct)
		}
		if id := w.Header().Get("X-Amz-Request-Id"); id != "req-1" {
			t.Errorf("x-amz-request-id %q", id)
		}
		body := w.Body.String()
		if !strings.HasPrefix(body, xml.Header) {
			t.Errorf("no XML declaration: %q", body)
		}
		if got := strings.TrimPrefix(body, xml.Header); got != tt.want {
			t.Errorf("resource %q: body\n%s\nwant\n%s", tt.resource, got, tt.want)
		}
	}
}

func TestWriteErrorEscapes(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, InvalidRequest("a <b> & c"), "/bucket/<key>", "")
	var doc errorDocument
	if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v: %q", err, w.Body.String())
	}
	if doc.Message != "a <b> & c" || doc.Resource != "/bucket/<key>" || w.Code != 400 {
		t.Errorf("got %+v, status %d", doc, w.Code)
	}
}

func TestErrorIsAndCause(t *testing.T) {
	cause := errors.New("disk on fire")
	tests := []struct {
		name     string
		err      error
		is       *Error
		isNot    *Error
		status   int
		hasCause bool
	}{
		{"sentinel", ErrSignatureDoesNotMatch, ErrSignatureDoesNotMatch, ErrAccessDenied, 403, false},
		{"own message", AccessDenied("Request has expired"), ErrAccessDenied, ErrSignatureDoesNotMatch, 403, false},
		{"wrapped", fmt.Errorf("verifying: %w", InvalidRequest("x")), ErrInvalidRequest, ErrNotImplemented, 400, false},
		{"internal", InternalError(cause), ErrInternalError, ErrSlowDown, 500, true},
		{"plain error", cause, ErrInternalError, ErrAccessDenied, 500, true},
	}
	for _, tt := range tests {
		e := ErrorFrom(tt.err)
		if !errors.Is(e, tt.is) || errors.Is(e, tt.isNot) || e.Status != tt.status || errors.Is(e, cause) != tt.hasCause {
			t.Errorf("%s: ErrorFrom = %v (status %d)", tt.name, e, e.Status)
		}
	}
	if ErrAccessDenied.Message != "Access Denied" {
		t.Errorf("AccessDenied(msg) changed the shared error: %q", ErrAccessDenied.Message)
	}
	if got := ErrSlowDown.Error(); got != "s3: SlowDown: Please reduce your request rate." {
		t.Errorf("Error() = %q", got)
	}
}
