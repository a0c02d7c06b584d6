package pseudonym

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// TestFormKeys: a personnummer in a form or query key is replaced, also
// when it is percent-encoded; names in keys and the key's escaping
// elsewhere stay, and the value is pseudonymized as before.
func TestFormKeys(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	for _, in := range []string{
		"19121212-1212=ja",
		"%31%39%31%32%31%32%31%32%2D%31%32%31%32=ja",
		"patient[121212-1212]=ja",
		"p_1212121212=ja",
	} {
		out, c, err := p.PseudonymizeRawQuery(ctx, in)
		if err != nil || c.Personnummer != 1 || !strings.HasSuffix(out, "=ja") {
			t.Errorf("%d-byte key: %v, %+v", len(in), err, c)
		}
		q, _ := url.ParseQuery(out)
		for k := range q {
			if strings.Contains(k, "1212") {
				t.Errorf("key still holds the personnummer")
			}
		}
		var back strings.Builder
		if _, err := p.Reidentify(ctx, FormatForm, strings.NewReader(out), &back); err != nil {
			t.Fatal(err)
		}
		if a, b := formPairs(in), formPairs(back.String()); len(a) != 1 || len(b) != 1 || a[0] != b[0] {
			t.Errorf("key not re-identified to the original")
		}
	}
	out, c, err := p.PseudonymizeRawQuery(ctx, "Anna%20Berg=1&sida=2")
	if err != nil || out != "Anna%20Berg=1&sida=2" || c.Total() != 0 {
		t.Errorf("a name in a key was changed: %v %+v", err, c)
	}
}

// TestFormThingFields checks that a pet's or a band's name under its
// field stays, while the people in the same body are found.
func TestFormThingFields(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	in := "namn=Arash+Karimi&husdjur=katt+%28M%C3%A5ns%29&bandnamn=Nova+Supreme&medlemmar=Hevin+Barzani"
	out, c, err := p.PseudonymizeRawQuery(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, kept := range []string{"husdjur=katt+%28M%C3%A5ns%29", "bandnamn=Nova+Supreme"} {
		if !strings.Contains(out, kept) {
			t.Errorf("%s replaced in %s", kept, out)
		}
	}
	for _, gone := range []string{"Arash", "Karimi", "Hevin", "Barzani"} {
		if strings.Contains(out, gone) {
			t.Errorf("%s left in %s", gone, out)
		}
	}
	if c.Names < 3 {
		t.Errorf("names: %d", c.Names)
	}
}
