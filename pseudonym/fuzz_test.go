package pseudonym

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func FuzzPersonnummer(f *testing.F) {
	for _, s := range []string{"121212-1212", "19121212-1212", "121212+1212", "7103736661", "556677-8899", "tel 0701234567", "x1212121212"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		for _, m := range findPersonnummer(nil, b, 0, corpusNow) {
			var r []byte
			r = appendPersonnummer(r, m.norm[:], m.layout)
			if !bytes.Equal(r, b[m.start:m.end]) {
				t.Fatalf("match %q renders as %q", b[m.start:m.end], r)
			}
			if !luhn(m.norm[2:]) {
				t.Fatalf("match %q fails Luhn", r)
			}
		}
	})
}

// fuzzRoundTrip pseudonymizes in, and when that succeeds checks that
// re-identification gives it back and that a second pass changes nothing.
func fuzzRoundTrip(t *testing.T, p *Pseudonymizer, f Format, in string, same func(a, b string) bool) {
	ctx := context.Background()
	out, _, err := p.PseudonymizeString(ctx, f, in)
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("non-syntax error: %v", err)
		}
		return
	}
	back, _, err := p.ReidentifyString(ctx, f, out)
	if err != nil {
		t.Fatalf("reidentify: %v", err)
	}
	if !same(in, back) {
		t.Fatalf("round trip:\n in %q\nout %q\nback %q", in, out, back)
	}
	again, _, err := p.PseudonymizeString(ctx, f, out)
	if err != nil || again != out {
		t.Fatalf("not idempotent:\n%q\n%q (%v)", out, again, err)
	}
}

func equal(a, b string) bool { return a == b }

func FuzzText(f *testing.F) {
	p, _ := newTestPseudonymizer(f, Config{})
	for _, s := range []string{"Hej Anna! 121212-1212", "Mamma Björn Lund ringde.", "A. Andersson, Lars-Eriks bok", "ANNA SVENSSON\n/Karin",
		"Hej\n[12:00] - 5\n",                     // a line of a time stamp only (chatLabelLine read past it)
		"SAMTAL Karin Ek YU Bo", "ANNA!AA/Aaa"} { // the line of a token must read in the same case the second time
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if bytes.Contains([]byte(s), []byte(tokenPrefix)) {
			return // a pre-existing token would be re-identified
		}
		fuzzRoundTrip(t, p, FormatText, s, equal)
	})
}

func FuzzJSON(f *testing.F) {
	p, _ := newTestPseudonymizer(f, Config{})
	for _, s := range []string{
		`{"namn":"Anna Berg","pnr":"121212-1212","n":[1,2.5e3,true,null]}`, `["G\u00f6ran Persson \"x\""]`, `{"a":{"b":[]}}`,
		`{"personnr":198003154260,"pnr":8003154260,"x":[197103736661,198003154261,-191212121212,1.5,191212121212e0]}`,
		"191212121212\n[ 7103736661 ,\n\t1212121212]", `{"a":"x 191212121212, y","b":1912121212120}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if MayHoldToken([]byte(s)) {
			return // a pre-existing token, text or numeric, would be re-identified
		}
		fuzzRoundTrip(t, p, FormatJSON, s, func(a, b string) bool {
			if a == b {
				return true
			}
			// Escaped originals come back unescaped: compare values.
			var x, y any
			dx := json.NewDecoder(bytes.NewReader([]byte(a)))
			dy := json.NewDecoder(bytes.NewReader([]byte(b)))
			for {
				ex, ey := dx.Decode(&x), dy.Decode(&y)
				if ex != nil || ey != nil {
					return (ex == nil) == (ey == nil)
				}
				xj, _ := json.Marshal(x)
				yj, _ := json.Marshal(y)
				if !bytes.Equal(xj, yj) {
					return false
				}
			}
		})
		out, _, err := p.PseudonymizeString(context.Background(), FormatJSON, s)
		if err == nil && json.Valid([]byte(s)) && !json.Valid([]byte(out)) {
			t.Fatalf("valid JSON became invalid: %q", out)
		}
		if err == nil {
			checkNoPersonnummerNumber(t, p, out)
		}
	})
}

func FuzzCSV(f *testing.F) {
	p, _ := newTestPseudonymizer(f, Config{})
	for _, s := range []string{"namn;pnr\nAnna Berg;121212-1212\n", "a,b\r\n\"x, \"\"y\"\"\",Lars Holm\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if bytes.Contains([]byte(s), []byte(tokenPrefix)) {
			return
		}
		fuzzRoundTrip(t, p, FormatCSV, s, equal)
	})
}

func FuzzForm(f *testing.F) {
	p, _ := newTestPseudonymizer(f, Config{})
	for _, s := range []string{"namn=Anna+Berg&pnr=121212-1212", "q=Hej%20Lars%21&x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if bytes.Contains([]byte(s), []byte(tokenPrefix)) {
			return
		}
		// Originals come back form-serialized (";" as %3B, a space as
		// "+"), so compare what a form parser reads, pair by pair in order.
		fuzzRoundTrip(t, p, FormatForm, s, func(a, b string) bool {
			return slices.Equal(formPairs(a), formPairs(b))
		})
	})
}

// formPair is one &-separated sequence of a form body, decoded.
type formPair struct {
	name, value string
	hasEq       bool
}

// formPairs parses an application/x-www-form-urlencoded body as the WHATWG
// URL standard does (split on '&', then at the first '=', '+' is a space,
// a malformed %-escape stays as written), except that empty sequences and
// the presence of '=' are kept: stricter than url.Values, which also
// forgets the order of keys and rejects a raw ';'.
func formPairs(body string) []formPair {
	var pairs []formPair
	for _, seq := range strings.Split(body, "&") {
		name, value, hasEq := strings.Cut(seq, "=")
		pairs = append(pairs, formPair{formUnescape(name), formUnescape(value), hasEq})
	}
	return pairs
}

func formUnescape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func FuzzFilename(f *testing.F) {
	p, _ := newTestPseudonymizer(f, Config{})
	f.Add("Anna_Andersson_19121212-1212.pdf")
	f.Fuzz(func(t *testing.T, s string) {
		if bytes.Contains([]byte(s), []byte(tokenPrefix)) {
			return
		}
		ctx := context.Background()
		out, _, err := p.PseudonymizeFilename(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := p.ReidentifyString(ctx, FormatText, out)
		if err != nil || back != s {
			t.Fatalf("round trip %q → %q → %q (%v)", s, out, back, err)
		}
	})
}

// FuzzMayHoldIdentifier: when MayHoldIdentifier says no, the path and text
// transforms change nothing.
func FuzzMayHoldIdentifier(f *testing.F) {
	p, _ := newTestPseudonymizer(f, Config{})
	for _, s := range []string{"/files/report.pdf", "hej anna andersson", "/a/b-c_d.txt", "/patients/19121212-1212", "/Anna"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if MayHoldIdentifier(s) {
			return
		}
		ctx := context.Background()
		if out, c, err := p.PseudonymizePath(ctx, s); err == nil && (out != s || c != (Counts{})) {
			t.Fatalf("path %q changed to %q, but MayHoldIdentifier is false", s, out)
		}
		if out, c, err := p.PseudonymizeString(ctx, FormatText, s); err != nil || out != s || c != (Counts{}) {
			t.Fatalf("text %q changed to %q (%v), but MayHoldIdentifier is false", s, out, err)
		}
	})
}

// checkNoPersonnummerNumber fails if a JSON number in out is a
// personnummer or samordningsnummer.
func checkNoPersonnummerNumber(t *testing.T, p *Pseudonymizer, out string) {
	t.Helper()
	s, err := p.newSession()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		if n, ok := tok.(json.Number); ok {
			if _, ok := s.wholePersonnummer([]byte(n)); ok {
				t.Fatalf("personnummer %s left as a JSON number in %q", n, out)
			}
		}
	}
}
