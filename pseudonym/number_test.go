package pseudonym

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// numberRun finds runs of 10 or more digits, to compare a JSON text with
// its pseudonymized form number by number.
var numberRun = regexp.MustCompile(`[0-9]{10,}`)

func TestJSONNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		pnr  int // personnummer replaced
	}{
		{"12 digits", `{"personnr": 198003154260}`, 1},
		{"10 digits", `{"pnr":8003154260}`, 1},
		{"samordningsnummer 12", `{"pnr":197103736661}`, 1},
		{"samordningsnummer 10", `[7103736661]`, 1},
		{"top level", `198003154260`, 1},
		{"JSON Lines", "198003154260\n8003154260 \n{\"a\":191212121212}\n", 3},
		{"pretty", "{\n  \"a\": [\n    198003154260\n  ],\n  \"b\" :\t8003154260\r\n}", 2},
		{"nested", `{"a":[{"b":[198003154260,[8003154260,{"c":{"d":[[[191212121212]]]}}]]}],"e":{"f":198003154260}}`, 4},
		{"next to strings", `{"s":"121212-1212","n":191212121212}`, 2},
		{"bad check digit", `{"pnr":198003154261,"p":8003154261}`, 0},
		{"11 digits", `{"n":19800315426}`, 0},
		{"13 digits", `{"n":1198003154260}`, 0},
		{"float", `[198003154260.0,8003154260.5,198003154260.25e1]`, 0},
		{"negative", `[-198003154260,-8003154260]`, 0},
		{"exponent", `[198003154260e0,8003154260E+0,198003154260e-0]`, 0},
		{"future", `{"n":203001010008}`, 0},
		{"organisation number", `[5566778899,165566778899,2120000142]`, 0},
		{"amounts and ids", `{"belopp":1234567890,"id":100000000000,"t":1717243200,"ms":1717243200000}`, 0},
		{"numeric-token form, not issued", `{"n":100000000001,"m":5000000001}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, st := newTestPseudonymizer(t, Config{})
			ctx := context.Background()
			out, c, err := p.PseudonymizeString(ctx, FormatJSON, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if c.Personnummer != tc.pnr {
				t.Errorf("replaced %d, want %d: %s", c.Personnummer, tc.pnr, out)
			}
			// Every long number keeps its length; replaced ones have the
			// token form and are no personnummer.
			ins, outs := numberRun.FindAllString(tc.in, -1), numberRun.FindAllString(out, -1)
			if len(ins) != len(outs) {
				t.Fatalf("numbers lost: %s", out)
			}
			tokens := map[string]string{}
			for k := range ins {
				a, b := ins[k], outs[k]
				if len(a) != len(b) {
					t.Fatalf("number %s became %s", a, b)
				}
				if a == b {
					continue
				}
				if !IsNumberToken(b) || len(findPersonnummer(nil, []byte(b), 0, corpusNow)) != 0 {
					t.Errorf("%s → %s: not a numeric token", a, b)
				}
				if o, seen := tokens[b]; seen && o != a {
					t.Errorf("%s and %s share token %s", o, a, b)
				}
				tokens[b] = a
			}
			if json.Valid([]byte(tc.in)) && !json.Valid([]byte(out)) {
				t.Errorf("output is not JSON: %s", out)
			}
			back, rc, err := p.ReidentifyString(ctx, FormatJSON, out)
			if err != nil || back != tc.in {
				t.Errorf("round trip: %q → %q → %q (%v)", tc.in, out, back, err)
			}
			if rc.ReidentifiedPersonnummer != tc.pnr || rc.Unknown != 0 {
				t.Errorf("reidentify counts %+v, want %d personnummer", rc, tc.pnr)
			}
			if again, _, err := p.PseudonymizeString(ctx, FormatJSON, out); err != nil || again != out {
				t.Errorf("not idempotent: %q → %q (%v)", out, again, err)
			}
			if tc.pnr == 0 && st.Len() != 0 {
				t.Errorf("%d mappings stored for no personnummer", st.Len())
			}
		})
	}
}

// TestJSONNumberTokensStable checks that a number keeps its token across
// streams and layouts of the same length, and that 10 and 12 digits of one
// person get tokens of their own length.
func TestJSONNumberTokensStable(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	a, _, err := p.PseudonymizeString(ctx, FormatJSON, `[198003154260,8003154260,198003154260]`)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := p.PseudonymizeString(ctx, FormatJSON, `[198003154260,8003154260,198003154260]`)
	if err != nil || a != b {
		t.Fatalf("not deterministic: %s / %s (%v)", a, b, err)
	}
	var v []int64
	if err := json.Unmarshal([]byte(a), &v); err != nil || len(v) != 3 || v[0] != v[2] || v[0] == v[1] {
		t.Fatalf("%s: %v", a, err)
	}
	if len(fmt.Sprint(v[0])) != 12 || len(fmt.Sprint(v[1])) != 10 {
		t.Errorf("digit counts: %s", a)
	}
}

// TestNumberReidentifyText: a numeric token inside JSON carried by text or
// HTML is put back where it stands as a JSON number, and only there.
func TestNumberReidentifyText(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	out, _, err := p.PseudonymizeString(ctx, FormatJSON, `198003154260`)
	if err != nil || !IsNumberToken(out) {
		t.Fatalf("%q %v", out, err)
	}
	for _, tc := range []struct {
		f        Format
		in, want string
	}{
		{FormatHTML, `<script>var d = {"pnr": T};</script>`, `<script>var d = {"pnr": 198003154260};</script>`},
		{FormatHTML, `<div data-p="{&quot;pnr&quot;:T}">`, `<div data-p="{&quot;pnr&quot;:198003154260}">`},
		{FormatText, "[\n" + strings.Repeat(" ", 300) + "T ,\n" + strings.Repeat("\t", 150) + "1]", "[\n" + strings.Repeat(" ", 300) + "198003154260 ,\n" + strings.Repeat("\t", 150) + "1]"},
		{FormatText, `nummer T i texten`, `nummer T i texten`},
		{FormatText, `fil_T.pdf`, `fil_T.pdf`},
		{FormatText, `{"a": T.5}`, `{"a": T.5}`},
		{FormatText, `{"a": -T}`, `{"a": -T}`},
		{FormatText, `{"a": 1T}`, `{"a": 1T}`},
		{FormatCSV, "a;b\n1;T\n", "a;b\n1;T\n"},
		// A re-identifier that does not parse cannot tell these from
		// numbers: a service that turned the number into a string gets it
		// back too.
		{FormatJSON, `{"a":"T"}`, `{"a":"198003154260"}`},
		{FormatJSON, `{"a":"x T, y"}`, `{"a":"x 198003154260, y"}`},
		{FormatJSON, `"a"T{}Ttrue`, `"a"198003154260{}198003154260true`}, // top-level values
		{FormatJSON, `[T,T]`, `[198003154260,198003154260]`},
		{FormatJSON, `[T.0,T1,xT]`, `[T.0,T1,xT]`},
	} {
		in := strings.ReplaceAll(tc.in, "T", out)
		want := strings.ReplaceAll(tc.want, "T", out)
		got, _, err := p.ReidentifyString(ctx, tc.f, in)
		if err != nil || got != want {
			t.Errorf("%s %.60q:\n got %.80q\nwant %.80q (%v)", tc.f, in, got, want, err)
		}
		if got != in && !MayHoldToken([]byte(in)) {
			t.Errorf("MayHoldToken(%.40q) = false", in)
		}
	}
	if MayHoldToken([]byte(`{"a": 198003154260, "b": 12345}`)) {
		t.Error("MayHoldToken: true for a body without tokens")
	}
}

// TestNumberReidentifyChunked streams many numeric tokens across chunk
// boundaries, with white space of every width around them.
func TestNumberReidentifyChunked(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("[")
	pnrs := []string{"198003154260", "8003154260", "191212121212", "197103736661"}
	for i := 0; b.Len() < 3*chunkSize; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strings.Repeat(" ", i%(2*numberLookahead)))
		b.WriteString(pnrs[i%len(pnrs)])
		b.WriteString(strings.Repeat("\n", i%7))
	}
	b.WriteString("]")
	in := b.String()
	for _, f := range []Format{FormatJSON, FormatText} {
		out, c, err := p.PseudonymizeString(ctx, FormatJSON, in)
		if err != nil || c.Personnummer == 0 {
			t.Fatal(c, err)
		}
		back, rc, err := p.ReidentifyString(ctx, f, out)
		if err != nil || back != in || rc.ReidentifiedPersonnummer != c.Personnummer {
			t.Fatalf("%s: round trip failed (%d of %d back, %v)", f, rc.ReidentifiedPersonnummer, c.Personnummer, err)
		}
	}
}

// TestNumberTokensNeverPersonnummer generates many candidates, for random
// normal forms, probes and keys, and checks that none is a personnummer or
// samordningsnummer in any reading, and that the encoding covers its space
// one to one.
func TestNumberTokensNeverPersonnummer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	var key [32]byte
	var m *numberMacer
	for i := range n {
		if i%1000 == 0 {
			for k := range key {
				key[k] = byte(rng.UintN(256))
			}
			m, _ = newNumberMacer(1+i/1000, key[:])
		}
		var norm [12]byte
		for k := range norm {
			norm[k] = byte('0' + rng.UintN(10))
		}
		digits := 10 + 2*(i%2)
		var tok [12]byte
		m.candidate(&tok, norm[:], digits, int(rng.UintN(maxNumberProbes)), 0)
		checkNotPersonnummer(t, tok[:digits])
	}
	// The edges and a sample of the space: valid, and x comes back.
	for _, digits := range []int{10, 12} {
		space := uint64(numberSpace12)
		if digits == 10 {
			space = numberSpace10
		}
		xs := []uint64{0, 1, 8, 9, space / 2, space - 9, space - 1}
		for range 20000 {
			xs = append(xs, rng.Uint64N(space))
		}
		for _, x := range xs {
			var tok [12]byte
			encodeNumber(&tok, digits, x)
			checkNotPersonnummer(t, tok[:digits])
			if got := decodeNumber(tok[:digits]); got != x {
				t.Fatalf("%d digits: %d encodes as %s, which decodes as %d", digits, x, tok[:digits], got)
			}
		}
	}
}

func checkNotPersonnummer(t *testing.T, tok []byte) {
	t.Helper()
	if !isNumberToken(tok) {
		t.Fatalf("%s does not have the numeric-token form", tok)
	}
	if luhn(tok[len(tok)-10:]) {
		t.Fatalf("%s passes Luhn", tok)
	}
	// Every reading: the detector on its own, in every text layout, and
	// the last ten digits under every century, with a clock far ahead so
	// that no date is rejected as being in the future.
	ten := tok[len(tok)-10:]
	for _, s := range []string{string(tok), string(ten), string(ten[:6]) + "-" + string(ten[6:]), string(ten[:6]) + "+" + string(ten[6:])} {
		if ms := findPersonnummerBefore(nil, []byte(s), 0, 99991231); len(ms) != 0 {
			t.Fatalf("%s: %q reads as a personnummer", tok, s)
		}
	}
	for c := 10; c <= 99; c++ {
		var d [12]byte
		d[0], d[1] = byte('0'+c/10), byte('0'+c%10)
		copy(d[2:], ten)
		if validDateLuhn(&d, 99991231) {
			t.Fatalf("%s: valid with century %d", tok, c)
		}
	}
}

// decodeNumber inverts encodeNumber.
func decodeNumber(d []byte) uint64 {
	n := len(d)
	var x uint64
	if n == 12 {
		x = uint64(d[0] - '1')
		for k := 1; k <= 3; k++ {
			x = x*10 + uint64(d[k]-'0')
		}
	} else {
		x = uint64(d[0]-'5')*10 + uint64(d[1]-'0')
	}
	for k := n - 6; k <= n-2; k++ {
		x = x*10 + uint64(d[k]-'0')
	}
	c := luhnCheck(d[n-10:])
	wrong := (int(d[n-1]-'0') - int(c) - 1 + 20) % 10
	return x*9 + uint64(wrong)
}

// pnrsFrom returns count distinct valid 12-digit personnummer.
func pnrsFrom(count int) []string {
	var out []string
	for serial := 1; len(out) < count; serial++ { // 000 is never issued
		ten := []byte(fmt.Sprintf("800315%03d0", serial))
		ten[9] = '0' + luhnCheck(ten)
		out = append(out, "19"+string(ten))
	}
	return out
}

// TestNumberTokenCollisions shrinks the space so that candidates collide
// all the time, and checks that distinct numbers still get distinct tokens
// that come back, and that a full space fails closed.
func TestNumberTokenCollisions(t *testing.T) {
	ctx := context.Background()
	bs, err := OpenBoltStore(filepath.Join(t.TempDir(), StoreFile), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	for _, st := range []Store{NewMemoryStore(), bs} {
		p, _ := newTestPseudonymizer(t, Config{})
		p.store = st
		p.numberSpace = 16
		pnrs := pnrsFrom(12)
		// Half in one stream, then all of them in another: the second
		// finds the first half's tokens again and probes past them.
		first := "[" + strings.Join(pnrs[:6], ",") + "]"
		all := "[" + strings.Join(pnrs, ",") + "," + strings.Join(pnrs, ",") + "]"
		out1, _, err := p.PseudonymizeString(ctx, FormatJSON, first)
		if err != nil {
			t.Fatalf("%T: %v", st, err)
		}
		out, c, err := p.PseudonymizeString(ctx, FormatJSON, all)
		if err != nil || c.Personnummer != 24 {
			t.Fatalf("%T: %+v %v", st, c, err)
		}
		var toks []int64
		if err := json.Unmarshal([]byte(out), &toks); err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for k, tok := range toks[:12] {
			if seen[tok] {
				t.Errorf("%T: token %d given twice", st, tok)
			}
			seen[tok] = true
			if toks[12+k] != tok {
				t.Errorf("%T: %s got %d and %d", st, pnrs[k], tok, toks[12+k])
			}
		}
		if !strings.HasPrefix(out, strings.TrimSuffix(out1, "]")) {
			t.Errorf("%T: tokens changed between streams:\n%s\n%s", st, out1, out)
		}
		back, rc, err := p.ReidentifyString(ctx, FormatJSON, out)
		if err != nil || back != all || rc.ReidentifiedPersonnummer != 24 {
			t.Errorf("%T: round trip: %v %+v", st, err, rc)
		}
		if ms, ok := st.(*MemoryStore); ok {
			probed := 0
			for _, v := range ms.m {
				if _, _, probe, _ := parseNumberValue(v); probe > 0 {
					probed++
				}
			}
			if probed == 0 {
				t.Error("no number needed a second candidate: the test forced no collision")
			}
		}
		// One more number than the space holds: refused, nothing out.
		p, _ = newTestPseudonymizer(t, Config{})
		p.numberSpace = 2
		var sink bytes.Buffer
		_, err = p.Transform(ctx, FormatJSON, strings.NewReader("["+strings.Join(pnrsFrom(3), ",")+"]"), &sink)
		if !errors.Is(err, ErrNumberSpaceFull) || sink.Len() != 0 {
			t.Errorf("full space: %v, wrote %q", err, sink.String())
		}
	}
}

// TestNumberTokenRace: two streams that claim one free candidate for
// different numbers cannot both store it; the loser fails.
func TestNumberTokenRace(t *testing.T) {
	ctx := context.Background()
	p, _ := newTestPseudonymizer(t, Config{})
	p.numberSpace = 1
	s1, _ := p.newSession()
	s2, _ := p.newSession()
	pnrs := pnrsFrom(2)
	var n1, n2 [12]byte
	copy(n1[:], pnrs[0])
	copy(n2[:], pnrs[1])
	t1, err1 := s1.numberToken(ctx, n1, 12)
	t2, err2 := s2.numberToken(ctx, n2, 12)
	if err1 != nil || err2 != nil || t1 != t2 {
		t.Fatalf("want both streams to claim the one candidate: %s %s %v %v", t1[:], t2[:], err1, err2)
	}
	if err := s1.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.flush(ctx); !errors.Is(err, ErrCollision) {
		t.Fatalf("second claim: got %v, want ErrCollision", err)
	}
	// In one stream the second number probes on, and finds the space full.
	s3, _ := p.newSession()
	if _, err := s3.numberToken(ctx, n2, 12); !errors.Is(err, ErrNumberSpaceFull) {
		t.Fatalf("got %v, want ErrNumberSpaceFull", err)
	}
}

// TestNumberTokenStoreChecked: a store entry that does not match its
// token's HMAC, or is malformed, fails re-identification; a token from an
// earlier key version still comes back.
func TestNumberTokenStoreChecked(t *testing.T) {
	ctx := context.Background()
	keys := NewStaticKeys(bytes.Repeat([]byte{7}, 32))
	st := NewMemoryStore()
	p, err := New(Config{Now: func() time.Time { return corpusNow }}, keys, st)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := p.PseudonymizeString(ctx, FormatJSON, `[198003154260]`)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.Trim(out, "[]")
	keys.Add(DomainPersonnummer, 2, bytes.Repeat([]byte{8}, 32))
	out2, _, err := p.PseudonymizeString(ctx, FormatJSON, `[198003154260]`)
	if err != nil || out2 == out {
		t.Fatalf("key rotation: %s %s %v", out, out2, err)
	}
	back, _, err := p.ReidentifyString(ctx, FormatJSON, out+out2)
	if err != nil || back != `[198003154260][198003154260]` {
		t.Fatalf("after rotation: %q %v", back, err)
	}
	v, _ := st.Get(ctx, numberStoreKey([]byte(tok)))
	var other [12]byte
	encodeNumber(&other, 12, 12345)
	for _, bad := range [][]byte{v, []byte("198003154260"), []byte("19800315426x/1/0"), []byte("198003154260/1/99")} {
		st.m[numberStoreKey(other[:])] = bad
		_, _, err := p.ReidentifyString(ctx, FormatJSON, "["+string(other[:])+"]")
		if err == nil {
			t.Errorf("tampered entry %q: want an error", bad)
		} else if strings.Contains(err.Error(), "198003154260") || strings.Contains(err.Error(), "8003154260") {
			t.Errorf("error leaks the value: %v", err)
		}
	}
}

// TestNumberTokensNotInLogs follows scoreCorpus: with debug logging on,
// neither the log nor an error carries a personnummer that travelled as a
// number.
func TestNumberTokensNotInLogs(t *testing.T) {
	var logBuf bytes.Buffer
	logger := zerolog.New(&logBuf).Level(zerolog.DebugLevel)
	p, _ := newTestPseudonymizer(t, Config{Logger: &logger})
	ctx := context.Background()
	pnrs := pnrsFrom(3)
	in := `{"a":` + pnrs[0] + `,"b":` + pnrs[1][2:] + `,"c":[` + pnrs[2] + `]}`
	out, _, err := p.PseudonymizeString(ctx, FormatJSON, in)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	if _, _, err := p.ReidentifyString(ctx, FormatJSON, out); err != nil {
		t.Fatal(err)
	}
	p.numberSpace = 1
	full := pnrsFrom(5)[3:]
	pnrs = append(pnrs, full...)
	_, _, err = p.PseudonymizeString(ctx, FormatJSON, `[`+strings.Join(full, ",")+`]`)
	errs = append(errs, err)
	if logBuf.Len() == 0 {
		t.Fatal("no debug log written")
	}
	for _, v := range pnrs {
		for _, w := range []string{v, v[2:]} {
			if strings.Contains(logBuf.String(), w) {
				t.Errorf("log contains %s", w)
			}
			for _, e := range errs {
				if e != nil && strings.Contains(e.Error(), w) {
					t.Errorf("error contains %s: %v", w, e)
				}
			}
		}
	}
	if errs[0] == nil {
		t.Error("full space: want an error")
	}
}
