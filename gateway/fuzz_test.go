package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/pseudonym"
)

// Fuzz targets for the parsers of side doors: run each for a while with
//
//	go test ./gateway -run '^$' -fuzz FuzzMediaParams -fuzztime 30s

// FuzzMediaParams: MIME parameters that parse are written back so that
// they parse to the same values.
func FuzzMediaParams(f *testing.F) {
	for _, s := range []string{
		`attachment; filename*=UTF-8''19121212-1212%20Tolvan.pdf`,
		`form-data; name="a"; filename="x.pdf"; filename*=iso-8859-1'sv'%C5sa.pdf`,
		`attachment; filename*0*=utf-8''%C3%85sa; filename*1=" Berg.pdf"`,
		`attachment; filename="=?UTF-8?B?w4VzYS5wZGY=?="`,
		`multipart/form-data; boundary=----x; charset=utf-8`,
		`text/plain; charset="iso-8859-1"; name=C:\a`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		typ, params, err := parseMediaParams(s)
		if err != nil {
			if !errors.Is(err, errParamSyntax) && !errors.Is(err, errParamCharset) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		out, err := formatMediaParams(typ, params)
		if err != nil {
			return // a value FormatMediaType cannot write: refused
		}
		if !httpguts.ValidHeaderFieldValue(out) {
			t.Fatalf("written back as an invalid header value")
		}
		typ2, params2, err := parseMediaParams(out)
		if err != nil || typ2 != typ || !maps.Equal(params, params2) {
			t.Fatalf("round trip: %q %v %v → %q %v %v", typ, params, err, typ2, params2, s)
		}
	})
}

// FuzzCookies: a Cookie header is written back as it parses.
func FuzzCookies(f *testing.F) {
	for _, s := range []string{`a=1; b="2"; c`, `namn=Tolvan%20Tolvansson;pnr=19121212-1212`, `;;=;`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pairs := parseCookies(s)
		out := formatCookies(pairs)
		if again := parseCookies(out); len(again) != len(pairs) || formatCookies(again) != out {
			t.Fatalf("round trip: %q → %q", s, out)
		}
	})
}

// FuzzRequestHeaders: a header value in any role is rewritten or refused,
// never into an invalid header value; kept headers stay; a text or cookie
// value keeps no personnummer the text detector finds.
func FuzzRequestHeaders(f *testing.F) {
	x := testExchange(f)
	names := []string{"X-Patient", "Cookie", "Referer", "Content-Disposition", "Content-Type", "If", "Authorization", "X-Namn", "Origin"}
	for i, s := range []string{
		"Tolvan Tolvansson 19121212-1212", "namn=Tolvan%20Tolvansson; p=1212121212", "https://h/a/19121212-1212?q=121212-1212#x",
		`attachment; filename*=utf-8''19121212-1212.pdf`, "multipart/form-data; boundary=-19121212-1212-", `<https://h/19121212-1212> (<urn:uuid:1>)`,
		"Basic MTkxMjEyMTItMTIxMg==", "%31%39%31%32%31%32%31%32%2D%31%32%31%32", "null",
	} {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		if !httpguts.ValidHeaderFieldValue(v) || strings.Contains(v, pseudonym.TokenPrefix) {
			return
		}
		name := names[int(which)%len(names)]
		req, _ := http.NewRequest("GET", "https://example.com/", nil)
		req.Header[name] = []string{v}
		_, err := pseudonymizeRequestHeaders(context.Background(), x, req, 64<<10)
		if err != nil {
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("not a refusal: %v", err)
			}
			return
		}
		out := req.Header.Get(name)
		if !httpguts.ValidHeaderFieldValue(out) {
			t.Fatalf("invalid header value written: %q → %q", v, out)
		}
		role := requestHeaderRole(name)
		if role == roleKept && out != v {
			t.Fatalf("kept header changed")
		}
		if role == roleText || role == roleCookie {
			if _, c, err := x.Pseudonymizer.PseudonymizeString(context.Background(), pseudonym.FormatText, out); err != nil || c.Personnummer > 0 {
				t.Fatalf("a personnummer is left in %q → %q", v, out)
			}
		}
	})
}

// FuzzTransferEncoding: base64 and quoted-printable decode what they
// encode, and decoding anything fails cleanly.
func FuzzTransferEncoding(f *testing.F) {
	f.Add([]byte("Tolvan Tolvansson 19121212-1212\r\n"), []byte("=31=39\r\nx="))
	f.Fuzz(func(t *testing.T, data, junk []byte) {
		for _, cte := range []string{cteBase64, cteQP} {
			var enc bytes.Buffer
			w := transferEncoder(cte, &enc)
			w.Write(data)
			w.Close()
			for _, line := range strings.Split(enc.String(), "\r\n") {
				if len(line) > 76 {
					t.Fatalf("%s: line of %d characters", cte, len(line))
				}
			}
			dec, err := io.ReadAll(transferDecoder(cte, &enc, "x"))
			if err != nil || (cte == cteBase64 && !bytes.Equal(dec, data)) {
				t.Fatalf("%s: round trip: %v", cte, err)
			}
			if _, err := io.ReadAll(transferDecoder(cte, bytes.NewReader(junk), "x")); err != nil {
				var re *RefusedError
				if !errors.As(err, &re) || re.Status != http.StatusBadRequest {
					t.Fatalf("%s: junk: %v", cte, err)
				}
			}
		}
	})
}

// FuzzCharsets: text in each charset comes back byte for byte through a
// transform that changes nothing; a body with no charset is read as UTF-8
// or windows-1252 and comes back too, or is refused.
func FuzzCharsets(f *testing.F) {
	f.Add([]byte("\xfe\xffx"), []byte("Tolvan Tolvansson 19121212-1212 \xc5sa"))
	identity := func(r io.Reader, w io.Writer) (pseudonym.Counts, error) {
		_, err := io.Copy(w, r)
		return pseudonym.Counts{}, err
	}
	f.Fuzz(func(t *testing.T, head, b []byte) {
		b = append(head, b...)
		for _, label := range []string{"", "iso-8859-1", "windows-1252", "iso-8859-15", "utf-8"} {
			tr, err := inCharset(label, "x", identity)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, err = tr(bytes.NewReader(b), &out)
			if err != nil {
				if label == "" && refusalStatus(err) == http.StatusUnsupportedMediaType {
					continue
				}
				t.Fatalf("%q: %v", label, err)
			}
			if !bytes.Equal(out.Bytes(), b) && !(label == "" && (bytes.HasPrefix(b, []byte{0xfe, 0xff}) || bytes.HasPrefix(b, []byte{0xff, 0xfe}))) {
				t.Fatalf("%q: round trip differs", label)
			}
		}
	})
}

// FuzzMultipart: the multipart rewriter either refuses a body or writes
// one that parses with as many parts, whose text holds no personnummer
// the text detector finds once decoded, and whose other parts are
// encrypted.
func FuzzMultipart(f *testing.F) {
	x := testExchange(f)
	k := newTestKeys(f)
	const boundary = "sidedoorBOUNDARY"
	for _, tc := range sideDoorCases {
		if tc.request == nil {
			continue
		}
		req, err := tc.request("https://example.com/", sideDoorPnrs[0])
		if err != nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/form-data; boundary="+boundary) {
			continue
		}
		b, _ := io.ReadAll(req.Body)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		mp := &multipartPseudonymizer{p: x.Pseudonymizer, recipients: nil, limits: expansion{maxBytes: 1 << 20, ratio: 100}}
		_, mp.recipients, _ = k.EncryptionKeys()
		var out bytes.Buffer
		_, err := mp.run(context.Background(), bytes.NewReader(body), &out, boundary, boundary, 0)
		if err != nil {
			if re := (*RefusedError)(nil); !errors.As(err, &re) && !errors.Is(err, errMalformed) && !errors.As(err, new(*pseudonym.SyntaxError)) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		in := countParts(body, boundary)
		mr := multipart.NewReader(bytes.NewReader(out.Bytes()), boundary)
		n := 0
		for ; ; n++ {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("output does not parse: part %d: %v", n+1, err)
			}
			b, _ := io.ReadAll(p)
			var v strings.Builder
			viewBody(t, &v, p.Header, b, 1)
			if crypto.IsEncrypted(b) {
				continue
			}
			// JSON numbers and CSV cells have their own rules; plain
			// text parts are the ones the text detector judges.
			if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt != "" && mt != "text/plain" {
				continue
			}
			if _, c, err := x.Pseudonymizer.PseudonymizeString(context.Background(), pseudonym.FormatText, v.String()); err != nil || c.Personnummer > 0 {
				t.Fatalf("part %d keeps a personnummer", n+1)
			}
		}
		if n != in {
			t.Fatalf("%d parts in, %d out", in, n)
		}
	})
}

func countParts(body []byte, boundary string) int {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	n := 0
	for {
		if _, err := mr.NextRawPart(); err != nil {
			return n
		}
		n++
	}
}
