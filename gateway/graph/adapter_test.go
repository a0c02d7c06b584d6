package graph

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluss/sluss/gateway/resumable"
)

func TestParseContentRange(t *testing.T) {
	for h, want := range map[string][3]int64{
		"bytes 0-327679/1000000": {0, 327679, 1000000},
		"bytes 5-5/6":            {5, 5, 6},
		" bytes 0-0/1 ":          {0, 0, 1},
	} {
		a, b, n, err := parseContentRange(h)
		if err != nil || [3]int64{a, b, n} != want {
			t.Errorf("%q: %d %d %d %v, want %v", h, a, b, n, err, want)
		}
	}
	for _, h := range []string{"", "bytes */100", "bytes 0-9/*", "bytes 0-9/9", "bytes 9-0/10", "bytes -1-5/10", "items 0-9/10", "bytes 0-9"} {
		if _, _, _, err := parseContentRange(h); err == nil {
			t.Errorf("%q: taken", h)
		}
	}
}

func TestSessionKey(t *testing.T) {
	a, _ := sessionKeyOf("https://SN3302.up.1drv.com:443/up/fe69?x=1")
	b := sessionKey("sn3302.up.1drv.com", "/up/fe69", "x=1")
	c, _ := sessionKeyOf("https://sn3302.up.1drv.com/up/fe69?x=2")
	if a != b || a == c {
		t.Errorf("keys: %s %s %s", a, b, c)
	}
	if _, err := sessionKeyOf("/relative"); err == nil {
		t.Error("a relative uploadUrl was taken")
	}
}

func TestPaths(t *testing.T) {
	for p, want := range map[string]string{
		"/v1.0/me/drive/root:/a/b.docx:/createUploadSession":  "b.docx",
		"/v1.0/drives/D/items/P:/x.bin:/createUploadSession":  "x.bin",
		"/v1.0/drives/D/items/I/createUploadSession":          "",
		"/v1.0/me/messages/M/attachments/createUploadSession": "",
	} {
		if got := pathFileName(p); got != want {
			t.Errorf("pathFileName(%q) = %q, want %q", p, got, want)
		}
	}
	for p, want := range map[string]bool{
		"/v1.0/me/drive/root:/a:/createUploadSession":                   true,
		"/v1.0/sites/S/drive/items/I/createUploadSession":               true,
		"/v1.0/drives/D/items/I/createUploadSession":                    true,
		"/v1.0/me/messages/M/attachments/createUploadSession":           false,
		"/v1.0/print/printers/P/jobs/J/documents/D/createUploadSession": false,
	} {
		if got := isDrivePath(p); got != want {
			t.Errorf("isDrivePath(%q) = %v", p, got)
		}
	}
}

func TestErrorStatuses(t *testing.T) {
	for err, want := range map[error]int{
		&resumable.OffsetError{Got: 5, Want: 0}:            http.StatusRequestedRangeNotSatisfiable,
		fmt.Errorf("x: %w", resumable.ErrNotFound):         http.StatusNotFound,
		resumable.ErrBusy:                                  http.StatusConflict,
		resumable.ErrChanged:                               http.StatusConflict,
		resumable.ErrTooLarge:                              http.StatusBadRequest,
		resumable.ErrSize:                                  http.StatusBadRequest,
		resumable.ErrClientBody:                            http.StatusBadRequest,
		fmt.Errorf("%w: down", resumable.ErrState):         http.StatusServiceUnavailable,
		fmt.Errorf("sending: %w", providerError(416, nil)): http.StatusRequestedRangeNotSatisfiable,
		errors.New("anything else"):                        http.StatusBadGateway,
	} {
		if got := asError(err).Status; got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
	// The engine's offset is plaintext and told; no other number is.
	if e := asError(&resumable.OffsetError{Got: 5, Want: 327680}); e.Message == "" || e.Code != "invalidRange" {
		t.Errorf("offset error: %+v", e)
	}
}

func TestProfileOptions(t *testing.T) {
	a := &Adapter{}
	for _, opts := range []map[string]string{nil, {"documents": "true"}, {"documents": "false"}} {
		if _, err := a.Profile(opts); err != nil {
			t.Errorf("%v: %v", opts, err)
		}
	}
	for _, opts := range []map[string]string{{"documents": "yes"}, {"documents": ""}, {"encrypt": "true"}} {
		if _, err := a.Profile(opts); err == nil {
			t.Errorf("%v: taken", opts)
		}
	}
}

func TestDocumentNames(t *testing.T) {
	for p, want := range map[string]string{
		"/v1.0/me/drive/root:/docs/letter.docx:/content":  "letter.docx",
		"/v1.0/drives/D/items/P:/register.xlsx:/content":  "register.xlsx",
		"/v1.0/me/drive/items/0123/content":               "",
		"/v1.0/me/drive/root:/docs/letter.docx:/children": "",
	} {
		if got := contentFileName(p); got != want {
			t.Errorf("contentFileName(%q) = %q, want %q", p, got, want)
		}
	}
	if documentType("a.docx", "") == "" || documentType("a.txt", "") != "" || documentType("", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") == "" {
		t.Error("documentType")
	}
}

func TestExactReader(t *testing.T) {
	r := &exactReader{r: strings.NewReader("abc"), left: 5}
	if _, err := io.ReadAll(r); !errors.Is(err, errShortFragment) {
		t.Errorf("a short body: %v", err)
	}
	r = &exactReader{r: strings.NewReader("abcdef"), left: 3}
	if b, err := io.ReadAll(r); err != nil || string(b) != "abc" {
		t.Errorf("%q %v", b, err)
	}
}
