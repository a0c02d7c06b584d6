package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPersonnummer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // normalised, "" = no match
	}{
		{"121212-1212", "201212121212"}, // the most recent 12 Dec 2012 before now
		{"19121212-1212", "191212121212"},
		{"191212121212", "191212121212"},
		{"1212121212", "201212121212"},
		{"121212+1212", "191212121212"}, // 100+ years: one century back
		{"180514+1239", "191805141239"},
		{"200202086450", "200202086450"},
		{"020208-6450", "200202086450"},
		{"710373-6661", "197103736661"},                // samordningsnummer, day 13 + 60
		{"121212-1213", ""},                            // check digit
		{"556677-8899", ""},                            // organisation number (month 66)
		{"16556036-0793", ""},                          // organisation number with prefix
		{"1191212121212", ""},                          // part of a longer run
		{"x191212121212", ""},                          // glued to a letter (a code or token)
		{"191302301234", ""},                           // 30 February... month 13 anyway
		{"20300101-0008", ""},                          // in the future
		{"tel 0701234567", ""},                         // phone cue
		{"Mobil: 070123-4569", ""},                     // a mobile number after its label, dashed like a personnummer
		{"Mobil: 0\nPnr: 070123-4569", "200701234569"}, // … but the label is on the line before
		{"Elev 070123-4569", "200701234569"},
		{"pnr:121212-1212.", "201212121212"},
		// Ten digits from 07 beside a number that can only be a phone's.
		{"Larm: 0701234567 (natt: 0701234569)", ""},
		{"Jour 070-123 45 67, natt 0701234569", ""},
		{"+46 70 123 45 67 eller 0701234569", ""},
		{"Elev 0701234569, rum 0712", "200701234569"},
	} {
		ms := findPersonnummer(nil, []byte(tc.in), 0, corpusNow)
		got := ""
		if len(ms) == 1 {
			got = string(ms[0].norm[:])
			var b []byte
			b = appendPersonnummer(b, ms[0].norm[:], ms[0].layout)
			if !strings.Contains(tc.in, string(b)) {
				t.Errorf("%q: renders as %q", tc.in, b)
			}
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPhoneBesideKeepsPersonnummer checks that two personnummer of 2007
// on one line stay personnummer: neither is a phone's number.
func TestPhoneBesideKeepsPersonnummer(t *testing.T) {
	in := "Syskon: 0701234569 och 0701234577"
	if ms := findPersonnummer(nil, []byte(in), 0, corpusNow); len(ms) != 2 {
		t.Errorf("%q: found %d personnummer, want 2", in, len(ms))
	}
}

func TestTokensShareBodyAcrossLayouts(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	out, c, err := p.PseudonymizeString(context.Background(), FormatText, "710373-6661 19710373-6661 197103736661 7103736661")
	if err != nil || c.Personnummer != 4 {
		t.Fatal(out, c, err)
	}
	bodies := map[string]bool{}
	for _, f := range strings.Fields(out) {
		bodies[f[len(f)-bodyLen:]] = true
		if !regexp.MustCompile(`^` + TokenPattern + `$`).MatchString(f) {
			t.Errorf("token %q does not match TokenPattern", f)
		}
		if ms := findPersonnummer(nil, []byte(f), 0, corpusNow); len(ms) != 0 {
			t.Errorf("token %q is a personnummer", f)
		}
	}
	if len(bodies) != 1 {
		t.Errorf("layouts got different token bodies: %s", out)
	}
}

// TestWideDashes: a personnummer written with an en dash, a minus sign or a
// non-breaking hyphen (as word processors write it) is found, shares the
// token body of the hyphen form, and comes back exactly as written; a
// space is no separator (the personnummer/meta data holds it invalid).
func TestWideDashes(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	in := "Pnr 710373\u20136661, 19710373\u22126661 och 710373\u20116661; 710373-6661. Ej: 710373 6661."
	out, c, err := p.PseudonymizeString(context.Background(), FormatText, in)
	if err != nil || c.Personnummer != 4 {
		t.Fatal(out, c, err)
	}
	if !strings.Contains(out, "710373 6661") || strings.Contains(out, "6661,") || strings.Contains(out, "6661 och") {
		t.Errorf("pseudonymized: %s", out)
	}
	toks := regexp.MustCompile(TokenPattern).FindAllString(out, -1)
	bodies := map[string]bool{}
	for _, tok := range toks {
		bodies[tok[len(tok)-bodyLen:]] = true
	}
	if len(toks) != 4 || len(bodies) != 1 {
		t.Errorf("tokens %q: want 4 of one body", toks)
	}
	back, _, err := p.ReidentifyString(context.Background(), FormatText, out)
	if err != nil || back != in {
		t.Errorf("re-identified %q, %v; want %q", back, err, in)
	}
}

// TestEveryDash: no dash of three bytes is a way past the detector, and
// each comes back as written.
func TestEveryDash(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	for _, dash := range []string{"\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\uff0d"} {
		in := "Pnr 710373" + dash + "6661 och 19710373" + dash + "6661."
		out, c, err := p.PseudonymizeString(context.Background(), FormatText, in)
		if err != nil || c.Personnummer != 2 || strings.Contains(out, "6661") {
			t.Errorf("%U: %q %+v %v", []rune(dash)[0], out, c, err)
			continue
		}
		if toks := regexp.MustCompile(TokenPattern).FindAllString(out, -1); len(toks) != 2 {
			t.Errorf("%U: tokens %q", []rune(dash)[0], toks)
		}
		back, _, err := p.ReidentifyString(context.Background(), FormatText, out)
		if err != nil || back != in {
			t.Errorf("%U: re-identified %q, %v", []rune(dash)[0], back, err)
		}
	}
}

func TestCollisionDetected(t *testing.T) {
	ctx := context.Background()
	bs, err := OpenBoltStore(filepath.Join(t.TempDir(), StoreFile), bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	for _, st := range []Store{NewMemoryStore(), bs} {
		if err := st.Put(ctx, Entry{"name1_aaaaaaaaaaaaaaaa", []byte("Anna")}); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, Entry{"name1_aaaaaaaaaaaaaaaa", []byte("Anna")}); err != nil {
			t.Fatalf("idempotent put: %v", err)
		}
		err := st.Put(ctx, Entry{"name1_aaaaaaaaaaaaaaaa", []byte("Berit")})
		if !errors.Is(err, ErrCollision) {
			t.Fatalf("%T: got %v, want ErrCollision", st, err)
		}
		if strings.Contains(err.Error(), "Berit") || strings.Contains(err.Error(), "Anna") {
			t.Errorf("error leaks a value: %v", err)
		}
	}
}

func TestBoltStoreNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StoreFile)
	key := bytes.Repeat([]byte{9}, 32)
	st, err := OpenBoltStore(path, key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Now: func() time.Time { return corpusNow }}, NewStaticKeys(bytes.Repeat([]byte{7}, 32)), st)
	if err != nil {
		t.Fatal(err)
	}
	docs := loadCorpus(t)
	ctx := context.Background()
	outs := make([]string, len(docs))
	var wg sync.WaitGroup
	for i, d := range docs {
		wg.Add(1)
		go func() { // concurrent streams share the store
			defer wg.Done()
			out, _, err := p.PseudonymizeString(ctx, d.format, d.text)
			if err != nil {
				t.Error(err)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The file is mostly ciphertext: a given 4 or 5 bytes turn up in 128 KiB
	// of it by chance (about 3 % of runs for the corpus's short names).
	// Whole values and words of 6 bytes or more never do (≈ 10⁻⁶); a leak
	// would show dozens of short words, so at most two may appear.
	short := map[string]bool{}
	for _, d := range docs {
		for _, l := range d.labels {
			v := d.text[l.start:l.end]
			if l.kind == KindPersonnummer {
				ms := findPersonnummer(nil, []byte(v), 0, corpusNow)
				v = string(ms[0].norm[:])
			}
			if len(v) >= 6 && bytes.Contains(raw, []byte(v)) {
				t.Errorf("store file contains %q", v)
			}
			for _, w := range strings.Fields(v) {
				switch {
				case len(w) >= 6 && bytes.Contains(raw, []byte(w)):
					t.Errorf("store file contains %q", w)
				case len(w) >= 4 && bytes.Contains(raw, []byte(w)):
					short[w] = true
				}
			}
		}
	}
	if len(short) > 2 {
		t.Errorf("store file contains %d short label words: %v", len(short), short)
	}
	// Reopen: the way back survives, and a wrong key fails closed.
	st, err = OpenBoltStore(path, key)
	if err != nil {
		t.Fatal(err)
	}
	p.store = st
	for i, d := range docs {
		back, _, err := p.ReidentifyString(ctx, d.format, outs[i])
		if err != nil || back != d.text {
			t.Fatalf("%s: after reopen: %v", d.name, err)
		}
	}
	st.Close()
	st, err = OpenBoltStore(path, bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p.store = st
	if _, _, err := p.ReidentifyString(ctx, FormatText, outs[0]); err == nil {
		t.Fatal("wrong store key: want an error")
	}
}

func TestSyntaxErrors(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	for _, tc := range []struct {
		f    Format
		in   string
		line int
	}{
		{FormatJSON, "{\"namn\": \"Anna Berg\",\n \"x\": tru}", 2},
		{FormatJSON, "{\"a\": \"191212121212", 1},
		{FormatJSON, "[1, 2,]", 1},
		{FormatJSON, "", 1},
		{FormatCSV, "namn,pnr\n\"Anna Berg,191212121212\n", 3},
		// (A quote inside an unquoted field is a quote, as Python's csv
		// and LibreOffice read it; text after a closing quote is an error.)
		{FormatCSV, "namn,pnr\n\"Anna\" Berg,x\n", 2},
		{FormatForm, "namn=Anna%2&pnr=191212121212", 1},
	} {
		out, _, err := p.PseudonymizeString(context.Background(), tc.f, tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s %q: got %v (%q), want SyntaxError", tc.f, tc.in, err, out)
			continue
		}
		if se.Line != tc.line {
			t.Errorf("%s %q: line %d, want %d (%v)", tc.f, tc.in, se.Line, tc.line, err)
		}
		for _, v := range []string{"Anna", "Berg", "191212121212"} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("error leaks %q: %v", v, err)
			}
		}
	}
}

func TestURLPartsAndFilenames(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	path, c, err := p.PseudonymizePath(ctx, "/sites/hr/Anna%20Andersson/19121212-1212/intyg.pdf")
	if err != nil || c.Total() != 3 || strings.Contains(path, "Anna") || strings.Contains(path, "1212-") {
		t.Errorf("path: %q %+v %v", path, c, err)
	}
	if _, err := url.Parse(path); err != nil {
		t.Error(err)
	}
	q, c, err := p.PseudonymizeQuery(ctx, url.Values{"namn": {"Anna Berg"}, "q": {"pnr 121212-1212"}, "sida": {"2"}})
	if err != nil || c.Total() != 2 || q.Get("sida") != "2" || strings.Contains(q.Encode(), "Anna") {
		t.Errorf("query: %v %+v %v", q, c, err)
	}
	rq, _, err := p.PseudonymizeRawQuery(ctx, "namn=Anna+Berg&q=Lund")
	if err != nil || strings.Contains(rq, "Anna") || !strings.HasSuffix(rq, "&q=Lund") {
		t.Errorf("raw query: %q %v", rq, err)
	}
	name := "Anna_Andersson_19121212-1212_läkarintyg.pdf"
	fn, c, err := p.PseudonymizeFilename(ctx, name)
	if err != nil || c.Total() != 3 || !strings.HasSuffix(fn, "_läkarintyg.pdf") {
		t.Errorf("filename: %q %+v %v", fn, c, err)
	}
	if again, _, _ := p.PseudonymizeFilename(ctx, fn); again != fn {
		t.Errorf("filename not idempotent: %q → %q", fn, again)
	}
	if back, _, _ := p.ReidentifyString(ctx, FormatText, fn); back != name {
		t.Errorf("filename round trip: %q", back)
	}
}

func TestReaderAndFormats(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	var got Counts
	r := p.Reader(context.Background(), FormatAuto, strings.NewReader(`{"namn":"Anna Berg","pnr":"121212-1212"}`), func(c Counts, err error) { got = c })
	out, err := io.ReadAll(r)
	if err != nil || bytes.Contains(out, []byte("Anna")) || got.Total() != 2 {
		t.Fatalf("%s %v %+v", out, err, got)
	}
	r = p.Reader(context.Background(), FormatJSON, strings.NewReader(`{"namn":`), nil)
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("broken JSON: reader must fail")
	}
	for ct, want := range map[string]Format{
		"application/json; charset=utf-8":   FormatJSON,
		"application/x-www-form-urlencoded": FormatForm,
		"text/csv":                          FormatCSV,
		"text/plain":                        FormatText,
		"text/html; charset=utf-8":          FormatHTML,
	} {
		if f, ok := FormatFromContentType(ct); !ok || f != want {
			t.Errorf("%s: %s", ct, f)
		}
	}
	if _, ok := FormatFromContentType("application/octet-stream"); ok {
		t.Error("octet-stream must not be transformable")
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml): want error")
	}
}

// TestStreamingBoundaries streams a text much larger than a chunk, with
// identifiers everywhere, and checks counts and the round trip.
func TestStreamingBoundaries(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	var b strings.Builder
	n := 0
	for b.Len() < 3*chunkSize {
		b.WriteString("Anna Berg 19121212-1212 ")
		b.WriteString(strings.Repeat("x", n%97) + " ")
		if n%5 == 0 {
			b.WriteString("\n")
		}
		n++
	}
	in := b.String()
	out, c, err := p.PseudonymizeString(context.Background(), FormatText, in)
	if err != nil || c.Personnummer != n || c.Names != 2*n {
		t.Fatalf("counts %+v for %d lines, err %v", c, n, err)
	}
	back, _, err := p.ReidentifyString(context.Background(), FormatText, out)
	if err != nil || back != in {
		t.Fatal("round trip failed", err)
	}
}

// TestReidentifyCountsByType checks that re-identification counts
// personnummer and name tokens apart, and unknown tokens on their own.
func TestReidentifyCountsByType(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	out, c, err := p.PseudonymizeString(ctx, FormatText, "Hej Anna Berg, 121212-1212 och 19121212-1212 är samma.")
	if err != nil || c.Personnummer != 2 || c.Names != 2 {
		t.Fatalf("pseudonymize: %+v %v", c, err)
	}
	unknown := "sl_name1_00000000000000000"
	if _, _, _, ok := parseToken([]byte(unknown), 0); !ok {
		t.Fatalf("%q is not a token", unknown)
	}
	back, c, err := p.ReidentifyString(ctx, FormatText, out+" "+unknown)
	if err != nil || !strings.HasPrefix(back, "Hej Anna Berg") {
		t.Fatalf("reidentify: %q %v", back, err)
	}
	want := Counts{ReidentifiedPersonnummer: 2, ReidentifiedNames: 2, Unknown: 1}
	if c != want || c.Reidentified() != 4 || c.Total() != 0 {
		t.Errorf("counts %+v, want %+v", c, want)
	}
}

// TestSniff checks that auto-detection does not take text for JSON or CSV
// only because of its first bytes, which would make the text an error.
func TestSniff(t *testing.T) {
	for in, want := range map[string]Format{
		`{"namn":"Anna Berg"}`:                               FormatJSON,
		`[{"a":1},` + strings.Repeat(`{"b":"x"},`, 500):      FormatJSON, // cut by the peek
		"[09:12] Sanna: hej!\n[09:13] Ali: tjena\n":          FormatText,
		"namn;pnr\nAnna Berg;121212-1212\nBo Ek;1\n":         FormatCSV,
		"Kl 7, dusch.\nKl 12, \"Gullan\" åt.\nKl 19, ok.\n":  FormatText,
		"namn=Anna+Berg&pnr=121212-1212\n":                   FormatForm,
		"namn,roll\n\"Lindqvist, Anna\",ordf\nLiv,ledamot\n": FormatCSV, // a quoted comma
		"Hej Anna!\n": FormatText,
	} {
		if got := sniff(bufio.NewReader(strings.NewReader(in))); got != want {
			t.Errorf("%.40q: %s, want %s", in, got, want)
		}
	}
}

func TestMayHoldIdentifier(t *testing.T) {
	for s, want := range map[string]bool{
		"":                        false,
		"/files/report.pdf":       false,
		"/sink/abc-def_ghi":       false,
		"/patients/19121212-1212": true,
		"/files/Anna":             true,
		"/files/%C3%85sa":         true,
		"/files/åsa":              true,
	} {
		if got := MayHoldIdentifier(s); got != want {
			t.Errorf("MayHoldIdentifier(%q) = %v, want %v", s, got, want)
		}
	}
}

// A key that points at a person (a message's sender, an author) makes a
// value shaped like a name a name, whole, even one no list holds; other
// values of such keys (a place, an id, a channel) stay.
func TestJSONPersonKeys(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	in := `{"messages":[{"from":"Wanida Chaiyasit","text":"ja"},{"from":"Stockholm","to":"2024-05-01"},` +
		`{"author":{"user":"u123","displayName":"Allmänt"}},{"createdBy":{"displayName":"Hibaaq Jaamac"}}]}`
	out, err := io.ReadAll(p.Reader(context.Background(), FormatJSON, strings.NewReader(in), nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"Wanida", "Chaiyasit", "Hibaaq", "Jaamac"} {
		if bytes.Contains(out, []byte(gone)) {
			t.Errorf("%s left in %s", gone, out)
		}
	}
	for _, kept := range []string{`"Stockholm"`, `"2024-05-01"`, `"u123"`, `"Allmänt"`, `"ja"`} {
		if !bytes.Contains(out, []byte(kept)) {
			t.Errorf("%s replaced in %s", kept, out)
		}
	}
}

// TestJSONThingKeys checks that a cabin's, a dog's or a boat's name under
// its key stays, in a list too, while a person's name typed there and
// the people around it are found.
func TestJSONThingKeys(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	in := `{"stugor":["Pippi","Emil","Ronja"],"deltagare":[{"namn":"Ali Hassan","stuga":"Emil","hund":"Stella"},` +
		`{"namn":"Sara Berg","stuga":"Ronja","båt":"Lindqvist, Bo"},{"namn":"okänd man ca 30 år"},` +
		`{"namn":"Förskolan Pippi Långstrump"},{"hund":"Karin Holmqvist"},` + // a person's name put under a thing's key
		`{"namn":"Nowruz-fest"},{"namn":"Hantverk – textil och vävning"},{"namn":"reservplats"},{"namn":"Anna von Berg"},{"fastighet":"Tallåsa Vilja 3"},` +
		`{"onskadHast":"Pontus","favorit_hund":"Stella","batnamn":"Ronja","onskadHast2":"x"},` +
		`{"art":"katt","namn":"Majken","kontaktperson":"Stina"},{"art":"hund","namn":"Karin Holmqvist"},` + // an animal's record and its owner
		`{"namn":"KIANOUSH ZAND"},{"namn":"IFK LILLBY"}]}` // a register's capitals // events, courses, notes; a particle
	out, err := io.ReadAll(p.Reader(context.Background(), FormatJSON, strings.NewReader(in), nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"Ali", "Hassan", "Sara", "Berg", "Lindqvist", "Karin", "Holmqvist", "Anna", "KIANOUSH", "ZAND", "Stina"} {
		if bytes.Contains(out, []byte(gone)) {
			t.Errorf("%s left in %s", gone, out)
		}
	}
	for _, kept := range []string{`["Pippi","Emil","Ronja"]`, `"stuga":"Emil"`, `"hund":"Stella"`, `"stuga":"Ronja"`,
		`"namn":"okänd man ca 30 år"`, `"namn":"Förskolan Pippi Långstrump"`, // no one, in a name field
		`"namn":"Nowruz-fest"`, `"namn":"Hantverk – textil och vävning"`, `"namn":"reservplats"`, `"fastighet":"Tallåsa Vilja 3"`,
		`"onskadHast":"Pontus"`, `"favorit_hund":"Stella"`, `"batnamn":"Ronja"`, // a thing's key in a system's spelling
		`"namn":"Majken"`, `"namn":"IFK LILLBY"`} {
		if !bytes.Contains(out, []byte(kept)) {
			t.Errorf("%s replaced in %s", kept, out)
		}
	}
}

// TestCSVRoundTripQuotes: a name field's whole value with quotes in it
// comes back with its quotes doubled, as it was written, and a name with
// the separator in it stays unquoted where the separator is another.
func TestCSVRoundTripQuotes(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	for _, in := range []string{
		"kurs,barnets_namn,betalt\nGroda,\"Ask Jönsson (kallas \"\"Acke\"\")\",ja\n",
		"nr;namn;pnr\n20126;Kovačević, Luka;140903-3519\n",
		// A quote inside an unquoted field is a quote, and the separator
		// after it still ends the field.
		"stamma;namn;kommentar\nsopran;Jönsson, Luka;Solo i \"Vem kan segla\", vers 2;x\n",
		// … also in a name field replaced whole, and a bare quote before
		// a quoted field on the same row does not open quotes.
		"namn;pnr\nJö\"nsson Luka;x\n",
		"mått;namn;not\n5\" skärm;Luka Jönsson;\"Jönsson, \"\"Luka\"\"\"\n",
	} {
		out, c, err := p.PseudonymizeString(context.Background(), FormatCSV, in)
		if err != nil || c.Names == 0 || strings.Contains(out, "Jönsson") || strings.Contains(out, "Luka") {
			t.Fatalf("%q: %q %+v %v", in, out, c, err)
		}
		back, _, err := p.ReidentifyString(context.Background(), FormatCSV, out)
		if err != nil || back != in {
			t.Errorf("round trip of %q: %q, %v", in, back, err)
		}
	}
}

// TestNumberedNameFields: a name field with a number after it is the same
// field (vardnadshavare1, "Förälder 2", namn_1), the parents' fields are
// name fields, and a yes or no in one is no name.
func TestNumberedNameFields(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	in := `{"vardnadshavare1":"Stig Malm","namn_2":"Saga Holm","mamma":"Lo Ek","forelder":"ja","antal2":"Bo Ek"}`
	out, c, err := p.PseudonymizeString(context.Background(), FormatJSON, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"Malm", "Holm", "Lo Ek"} {
		if strings.Contains(out, gone) {
			t.Errorf("%s left in %s", gone, out)
		}
	}
	if !strings.Contains(out, `"forelder":"ja"`) || c.Names < 3 {
		t.Errorf("%s (%+v)", out, c)
	}
	out, _, err = p.PseudonymizeString(context.Background(), FormatForm, "sokande_fornamn=Bj%C3%B6rn&sokande_efternamn=Sundqvist-Aho&skola_namn=Ekskolan")
	if err != nil || strings.Contains(out, "Bj%C3%B6rn") || strings.Contains(out, "Sundqvist") || !strings.Contains(out, "skola_namn=Ekskolan") {
		t.Errorf("%q, %v", out, err)
	}
	out, _, err = p.PseudonymizeString(context.Background(), FormatCSV, "Förälder 1;Klass\nSaga;5B\nStig Malm;4A\n")
	if err != nil || strings.Contains(out, "Saga") || strings.Contains(out, "Malm") || !strings.Contains(out, "5B") {
		t.Errorf("%q, %v", out, err)
	}
}

// TestCSVHeaderRow checks that the first row of a CSV file goes through
// the detectors (a file without a header starts with a record: it used to
// be copied untouched), that title rows above the header do not hide it,
// and that counts and roles under a name column are not replaced whole.
func TestCSVHeaderRow(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	for _, tc := range []struct {
		name, in string
		gone     []string // personal values that must not be left
		kept     []string // text that must stay as it is
	}{
		{"no header", "Anna Svensson,19121212-1212\nBo Ek,19121212-1212\n",
			[]string{"Anna", "Svensson", "19121212-1212", "Ek"}, nil},
		{"header", "namn;pnr\nAnna Svensson;19121212-1212\n",
			[]string{"Anna", "Svensson", "1212-1212"}, []string{"namn;pnr"}},
		{"title rows", "Register, export 2024-03-01;;\nUrval: F11;;\nEfternamn;Förnamn;Pnr\nSalonen;Aarne;19121212-1212\nHellberg;Linnea;\nAntal;12;\n",
			[]string{"Salonen", "Aarne", "Hellberg", "Linnea", "1212-1212"},
			[]string{"Register, export 2024-03-01;;", "Efternamn;Förnamn;Pnr", ";12;"}},
		{"one column", "Namn\nsara\nXiu\nbo ek\nvår\nTindra\n",
			[]string{"sara", "Xiu", "bo ek", "vår", "Tindra"}, []string{"Namn\n"}},
		{"one filled header cell", "Kontaktperson;\nvår blom;\nstig;\n",
			[]string{"vår blom", "stig"}, []string{"Kontaktperson;"}},
		{"role in a name column", "efternamn,fornamn\nLedare,Tilda Grahn\n",
			[]string{"Tilda", "Grahn"}, []string{"Ledare,"}},
		// A body in definite form before a name in a name field is the
		// body's name; a name in the same shape is a person's.
		{"body in a name field", "Efternamn;Förnamn\nSparbanken Bergslagen;\nFamiljecentralen Vivalla (grupp);\nHalvorsen Kari;\nFamiljehemmet Karin Ek;\n",
			[]string{"Halvorsen", "Kari", "Karin Ek"}, []string{"Sparbanken Bergslagen;", "Familjecentralen Vivalla (grupp);"}},
		// An ordinary word shaped like a surname is the surname here.
		{"surname that is a word", "efternamn;fornamn\nBäckström;Maj-Britt\nStrandberg;Bo\nStjärna;Lo\n",
			[]string{"Bäckström", "Maj-Britt", "Strandberg", "Stjärna"}, []string{"efternamn;fornamn\n"}},
		// A title row with a comma above a file of semicolons.
		{"title row with a comma", "Deltagarlista Vård, kursstart 2024-08-19\nPersonnummer;Efternamn;Förnamn;Modersmål\n19121212-1212;Sahak;Freshta;dari\n;Kidane;Luwam;tigrinja\n",
			[]string{"Sahak", "Freshta", "Kidane", "Luwam", "1212-1212"}, []string{"Personnummer;Efternamn;Förnamn;Modersmål\n", ";dari\n"}},
		// A town under Postort stays, also when a member has its name; a
		// person's name typed there does not.
		// An animal, a boat or a cabin under its header is no one; the
		// owner beside it, and a person's name typed there, are.
		{"thing columns", "ägare,personnummer,hund,båt\n\"Öberg, Lena\",19121212-1212,Stella,Blå Saga\nMilo Berg,,Ronja,\"Lind, Sara\"\n",
			[]string{"Öberg", "Lena", "1212-1212", "Milo", "Berg", "Lind", "Sara"}, []string{",Stella,Blå Saga\n", ",Ronja,"}},
		{"person under a thing's header", "ägare;hund\nBo Ek;Karin Holmqvist\n",
			[]string{"Karin", "Holmqvist"}, []string{"ägare;hund\n"}},
		{"place column", "Efternamn;Förnamn;Postort\nWahlström;Hilding;Nora\nHeikkinen;Nora;Nora\nEk;Bo;Anna Lind\nLund;Sara;Lindesberg\n",
			[]string{"Wahlström", "Hilding", "Heikkinen", ";Nora;", "Anna", "Lind\n", "Sara"}, []string{";Nora\n", ";Lindesberg\n"}},
		// A desk, a board or a note in a contact column is no one; a
		// surname that is an ordinary compound (Sjöstrand) is one.
		{"desk in a contact column", "Leverantör;Kontaktperson\nClas Ohlson AB;Kundtjänst företag\nStiftelsen X;Styrelsen\nKjell & Company;Kundservice\nIF;Ledarkonto P10\nY;Sjöstrand\nZ;Hansen\nW;Agnes Kundtjänst\n",
			[]string{"Sjöstrand", "Hansen", "Agnes"}, []string{";Kundtjänst företag\n", ";Styrelsen\n", ";Kundservice\n", ";Ledarkonto P10\n"}},
		// A housing cooperative, an estate or a diocese as the customer;
		// an estate's named owner is still found.
		{"customers that are no one", "Kundnr;Namn;Pnr\n1;Brf Tallbacken;\n2;Dödsbo;\n3;Lunds stift;\n4;Dödsbo efter Algot Lundström;\n",
			[]string{"Algot", "Lundström"}, []string{";Brf Tallbacken;", ";Dödsbo;", ";Lunds stift;"}},
		// A name the lists lack under a person's header, one of its words
		// splitting into two ordinary ones (Som|chai); a long compound
		// there is no name.
		{"unknown names under a person's header", "tid;patient;personnummer\n08:00;Somchai Wongsakul;197308159156\n09:00;Lillby Hembygdsförening;\n10:00;\"Somsri, Wanida\";\n",
			[]string{"Somchai", "Wongsakul", "Somsri", "Wanida"}, []string{";Lillby Hembygdsförening;"}},
		// A vacancy, a sum, a role, a time, a phone number or a group in a
		// name column is no one; a name beside them still is.
		{"fillers in a name column", "Namn;Adress\nVakant;Östra vägen 12\nSumma;9 medlemmar\nAntal konfirmander;8\nSponsor;Bygg AB\nHedersmedlem;Kyrkogatan 2\nmåndag och onsdag;sal 204\ntel 0520-49 70 00;\nÖrebro Stadsmission (grupp);\nTindra;\nSaga Ek;\n",
			[]string{"Tindra", "Saga", "Ek"}, []string{"Vakant;", "Summa;", "Antal konfirmander;", "Sponsor;", "Hedersmedlem;", "måndag och onsdag;", "tel 0520-49 70 00;", "Örebro Stadsmission (grupp);"}},
	} {
		out, _, err := p.PseudonymizeString(ctx, FormatCSV, tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, v := range tc.gone {
			if strings.Contains(out, v) {
				t.Errorf("%s: %q left in %q", tc.name, v, out)
			}
		}
		for _, v := range tc.kept {
			if !strings.Contains(out, v) {
				t.Errorf("%s: %q changed in %q", tc.name, v, out)
			}
		}
		if strings.Count(out, "\n") != strings.Count(tc.in, "\n") {
			t.Errorf("%s: rows changed: %q", tc.name, out)
		}
	}
}

// TestSniffComma checks that the separator is taken from the first line
// that has one: a title row above a semicolon header does not make it a
// comma.
func TestSniffComma(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want byte
	}{
		{"a;b;c\n1;2;3\n", ';'},
		{"a,b\n1,2\n", ','},
		{"Medlemsförteckning 2024\nEfternamn;Förnamn;Ort\nEk;Bo;Lund\n", ';'},
		{"Titel\n\nNamn\tOrt\n", '\t'},
		{"\"x;y\",z\n", ','},
		{"bara text\n", ','},
		{"Deltagarlista Vård, kursstart 2024-08-19\nPnr;Efternamn;Förnamn\n1;Kidane;Luwam\n2;Sahak;Freshta\n", ';'},
		{"Namn,Kommentar\nBo Ek,\"ring; sen\"\nAnna Lind,ok; klart\n", ','},
	} {
		if got := sniffComma(bufio.NewReader(strings.NewReader(tc.in))); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

// panicWriter panics on its first write, standing in for a bug met
// mid-stream.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("bug") }

// A panic inside a transform is the caller's ErrInternal, not the
// process's end, and the pooled buffers it left are not reused.
func TestTransformRecoversPanic(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	in := "Patienten Anna Svensson 19121212-1212 ringde.\n"
	if _, err := p.Transform(ctx, FormatText, strings.NewReader(in), panicWriter{}); !errors.Is(err, ErrInternal) {
		t.Fatalf("Transform into a panicking writer: %v, want ErrInternal", err)
	}
	if _, err := p.Reidentify(ctx, FormatText, strings.NewReader("sl_name1_0000000000000000 x\n"), panicWriter{}); !errors.Is(err, ErrInternal) {
		t.Fatalf("Reidentify into a panicking writer: %v, want ErrInternal", err)
	}
	for range 3 {
		out, _, err := p.PseudonymizeString(ctx, FormatText, in)
		if err != nil || strings.Contains(out, "Svensson") || strings.Contains(out, "1212-1212") {
			t.Fatalf("after a recovered panic: %q, %v", out, err)
		}
	}
}
