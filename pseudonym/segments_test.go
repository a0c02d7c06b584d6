package pseudonym

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

var tokenOnlyRE = regexp.MustCompile(`^` + TokenPattern + `$`)

func newTestSegments(t *testing.T) (*Pseudonymizer, *Segments) {
	t.Helper()
	p, err := New(Config{}, NewStaticKeys(bytes.Repeat([]byte{3}, 32)), NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.NewSegments()
	if err != nil {
		t.Fatal(err)
	}
	return p, g
}

func apply(text []byte, rs []Replacement) string {
	var out []byte
	at := 0
	for _, r := range rs {
		out = append(append(out, text[at:r.Start]...), r.Text...)
		at = r.End
	}
	return string(append(out, text[at:]...))
}

func TestSegmentsRoundTrip(t *testing.T) {
	ctx := context.Background()
	p, g := newTestSegments(t)
	pieces := []string{
		"Besök av Tolvan Tolvansson (19121212-1212).",
		"Handläggare Anna Andersson, 811218-9876.",
		"Inget att ersätta här.",
	}
	var pseudo []string
	for _, piece := range pieces {
		rs := g.Text(nil, []byte(piece))
		for i, r := range rs {
			if i > 0 && r.Start < rs[i-1].End {
				t.Fatalf("overlapping replacements in %q", piece)
			}
			if !bytes.HasPrefix(r.Text, []byte(TokenPrefix)) {
				t.Fatalf("replacement is not a token")
			}
		}
		pseudo = append(pseudo, apply([]byte(piece), rs))
	}
	if c := g.Counts(); c.Personnummer != 2 || c.Names < 4 {
		t.Errorf("counts %+v", c)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	name, ok := g.Name([]byte("  Björn Ängström "))
	if !ok || name.Start != 2 || name.End != len("  Björn Ängström") {
		t.Fatalf("Name: %+v %v", name, ok)
	}
	nameTok := string(name.Text)
	num, ok, err := g.Number(ctx, []byte("198003154260"))
	if err != nil || !ok || len(num) != 12 || !IsNumberToken(string(num)) {
		t.Fatalf("Number: %q %v %v", num, ok, err)
	}
	numTok := append([]byte(nil), num...)
	if _, ok, _ := g.Number(ctx, []byte("1234567890")); ok {
		t.Errorf("Number took a number with a wrong check digit")
	}
	label, ok := g.Label([]byte("Karin_Nilsson"))
	if !ok || !tokenOnlyRE.MatchString(string(label.Text)) {
		t.Errorf("Label: %+v %v", label, ok)
	}
	if _, ok := g.Label([]byte("Medlemmar")); ok {
		t.Errorf("Label replaced an ordinary word")
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	back, err := p.NewSegments()
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range pseudo {
		rs, err := back.Reidentify(ctx, nil, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		if got := apply([]byte(s), rs); got != pieces[i] {
			t.Errorf("re-identified %q, want %q", got, pieces[i])
		}
	}
	rs, err := back.Reidentify(ctx, nil, []byte(nameTok))
	if err != nil || apply([]byte(nameTok), rs) != "Björn Ängström" {
		t.Errorf("name back: %v", err)
	}
	orig, ok, err := back.ReidentifyNumber(ctx, numTok)
	if err != nil || !ok || string(orig) != "198003154260" {
		t.Errorf("number back: %q %v %v", orig, ok, err)
	}
	if _, ok, _ := back.ReidentifyNumber(ctx, []byte("1250")); ok {
		t.Errorf("an ordinary number was re-identified")
	}
	if c := back.Counts(); c.ReidentifiedPersonnummer != 3 || c.Unknown != 0 {
		t.Errorf("counts back %+v", c)
	}
}

// TestSegmentsContext: a piece is read with the end of the one before,
// so a name remembered from a whole-name field is found in later text.
func TestSegmentsContext(t *testing.T) {
	_, g := newTestSegments(t)
	g.Name([]byte("Dragana Hodžić"))
	rs := g.Text(nil, []byte("Hodžić"))
	if len(rs) != 1 {
		t.Errorf("a name noted by Name is not found alone later: %d replacements", len(rs))
	}
}
