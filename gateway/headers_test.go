package gateway

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/pseudonym"
)

func testExchange(t testing.TB) *Exchange {
	t.Helper()
	p, err := pseudonym.New(pseudonym.Config{}, pseudonym.NewStaticKeys(make([]byte, 32)), pseudonym.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	return &Exchange{Pseudonymizer: p, Log: zerolog.Nop()}
}

// TestRequestHeaderRoles: which headers are kept, and how the others are
// read.
func TestRequestHeaderRoles(t *testing.T) {
	x := testExchange(t)
	const pnr = "19121212-1212"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(pnr+":hemligt"))
	kept := map[string]string{
		"Authorization":          basic,
		"Range":                  "bytes=0-1212121212",
		"If-None-Match":          `"` + pnr + `"`,
		"If-Match":               `W/"` + pnr + `"`,
		"Sec-Websocket-Key":      "dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-Websocket-Protocol": "chat." + pnr,
		"X-Amz-Date":             "20240101T000000Z",
		"X-Amz-Checksum-Sha256":  "1212121212" + pnr,
		"X-Amz-Security-Token":   pnr,
		"User-Agent":             "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Accept":                 "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Language":        "sv-SE,sv;q=0.9,en;q=0.8",
		"Origin":                 "https://portal.example",
		"Content-Encoding":       "gzip",
		"X-Http-Method-Override": "put", // the request's own method
	}
	req, _ := http.NewRequest("PUT", "https://example.com/x", nil)
	for k, v := range kept {
		req.Header.Set(k, v)
	}
	req.Header.Add("X-Patient", "första "+pnr)
	req.Header.Add("X-Patient", "andra 121212-1212")
	req.Header.Set("X-Amz-Meta-Patient", pnr)
	req.Header.Set("X-Full-Name", "Tolvan Tolvansson")
	req.Header.Set("Content-Type", "multipart/form-data; boundary=-"+pnr+"-; patient="+pnr)
	req.Header.Set("If", `<https://example.com/files/`+pnr+`.pdf> (<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> ["`+pnr+`"])`)
	req.Header.Set("Destination", "https://example.com/files/Tolvan%20Tolvansson%20"+pnr+".pdf")
	req.Header.Set("Referer", "https://portal.example/sok?namn=tolvan+tolvansson&sida=2")
	req.Header.Set("Trailer", "X-Patient")
	req.Trailer = http.Header{"X-Patient": nil}
	boundary, err := pseudonymizeRequestHeaders(context.Background(), x, req, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range kept {
		if req.Header.Get(k) != v {
			t.Errorf("%s changed", k)
		}
	}
	for _, k := range []string{"X-Patient", "X-Amz-Meta-Patient", "X-Full-Name", "Content-Type", "Destination"} {
		for _, v := range req.Header.Values(k) {
			checkNoPersonalValues(t, k, v)
			if !tokenRE.MatchString(v) && k != "Content-Type" {
				t.Errorf("%s has no token", k)
			}
		}
	}
	if n := len(req.Header.Values("X-Patient")); n != 2 {
		t.Errorf("X-Patient has %d values", n)
	}
	if !tokenOnly.MatchString(req.Header.Get("X-Full-Name")) {
		t.Errorf("X-Full-Name is a name field, but not replaced whole")
	}
	if boundary == "" || !strings.Contains(req.Header.Get("Content-Type"), "boundary="+boundary) {
		t.Errorf("a boundary holding a personnummer was not replaced")
	}
	if ifh := req.Header.Get("If"); strings.Contains(ifh, "files/19121212") || !strings.Contains(ifh, `<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> ["`+pnr+`"]`) {
		t.Errorf("If: resource not pseudonymized, or state token or ETag changed")
	}
	if ref := req.Header.Get("Referer"); !strings.HasPrefix(ref, "https://portal.example/sok?namn=sl_name") || !strings.HasSuffix(ref, "&sida=2") {
		t.Errorf("Referer: a name field in the query, in lower case, not replaced")
	}
	if req.Header.Get("Trailer") != "" || req.Trailer != nil {
		t.Errorf("trailers kept")
	}
}

// TestRequestHeaderRefusals: headers that cannot be read, or that grow
// past the limit, refuse the request.
func TestRequestHeaderRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, header, value string
		max, status         int
	}{
		{"referer not a URL", "Referer", "https://[x/19121212-1212", 0, 400},
		{"destination not escaped", "Destination", "https://h/a%zz19121212-1212", 0, 400},
		{"disposition unparsable", "Content-Disposition", `attachment; filename="19121212-1212.pdf`, 0, 400},
		{"disposition gap", "Content-Disposition", `attachment; filename*0=1912; filename*2=1212-1212`, 0, 400},
		{"disposition charset", "Content-Disposition", `attachment; filename*=koi8-r''19121212-1212`, 0, 415},
		{"method override", "X-Http-Method-Override", "PUT", 0, 400},
		{"method override, other name", "X-Http-Method", "put", 0, 400},
		{"method override, third name", "X-Method-Override", " POST", 0, 400},
		{"grows past the limit", "X-Patient", strings.Repeat("19121212-1212 ", 200), 4 << 10, 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "https://example.com/", nil)
			req.Header.Set(tc.header, tc.value)
			max := tc.max
			if max == 0 {
				max = 64 << 10
			}
			_, err := pseudonymizeRequestHeaders(context.Background(), testExchange(t), req, max)
			if got := refusalStatus(err); got != tc.status {
				t.Errorf("status %d, want %d (%v)", got, tc.status, err)
			}
			if err != nil {
				checkNoPersonalValues(t, "the error", err.Error())
			}
		})
	}
}

func TestCookies(t *testing.T) {
	for in, want := range map[string]string{
		"a=1; b=2":           "a=1; b=2",
		"a=1;b=2;;":          "a=1; b=2",
		` a = "x y" ; bare `: `a="x y"; bare`,
		"a==b; c=":           "a==b; c=",
	} {
		if got := formatCookies(parseCookies(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
