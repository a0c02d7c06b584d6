package pseudonym

import (
	"context"
	"strings"
	"testing"
)

// TestCleanValuesFollowSeenNames checks that a value noted clean is read
// again once the stream has learnt a name it holds, and that a JSON key
// (read for personnummer only) is never taken as clean for a value.
func TestCleanValuesFollowSeenNames(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	note := "Mötet gick bra och Ploy var med på det hela i dag"
	in := `[{"anteckning":"` + note + `"},{"namn":"Ploy Chaiyaporn"},{"anteckning":"` + note + `"}]`
	out, _, err := p.PseudonymizeString(ctx, FormatJSON, in)
	if err != nil {
		t.Fatal(err)
	}
	// The first note comes before the stream knows the name; the second
	// must not be taken for the clean first.
	if strings.Count(out, note) != 1 || strings.Count(out, "Ploy") != 1 {
		t.Errorf("the note after the name field kept the name: %s", out)
	}

	key := "Vi träffade Anna Berg och hennes dotter i går"
	in = `{"` + key + `":1,"anteckning":"` + key + `"}`
	out, _, err = p.PseudonymizeString(ctx, FormatJSON, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "Anna Berg") != 1 {
		t.Errorf("want the name replaced in the value (only): %s", out)
	}

	// The same clean value many times, then a personnummer in it.
	var b strings.Builder
	b.WriteString("[")
	for range 50 {
		b.WriteString(`{"a":"Vi ses igen i september för uppföljning av alla delar."},`)
	}
	b.WriteString(`{"a":"Vi ses igen i september för uppföljning, 19121212-1212."}]`)
	out, _, err = p.PseudonymizeString(ctx, FormatJSON, b.String())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "19121212-1212") || strings.Count(out, "uppföljning av alla delar") != 50 {
		t.Errorf("clean values changed or personnummer kept: %.200s", out)
	}
}
