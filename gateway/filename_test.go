package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/sluss/sluss/pseudonym"
)

func TestPseudonymizeFilename(t *testing.T) {
	p, err := pseudonym.New(pseudonym.Config{}, pseudonym.NewStaticKeys(make([]byte, 32)), pseudonym.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		in      string
		changed bool
		ext     string
	}{
		{"files", false, ""},
		{"report 2024.pdf", false, ".pdf"},
		{"19121212-1212 Tolvan Tolvansson.pdf", true, ".pdf"},
		{"Anna Andersson.docx", true, ".docx"},
		{"remiss 811218-9876", true, ""},
		{"19121212-1212.tar.gz", true, ".gz"},
	} {
		out, c, err := pseudonymizeFilename(ctx, p, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if changed := out != tc.in; changed != tc.changed || (tc.changed && (!tokenOnly.MatchString(strings.TrimSuffix(out, tc.ext)) || c.Total() == 0)) {
			t.Errorf("%d-byte name: changed %v, ext %q kept %v", len(tc.in), changed, tc.ext, strings.HasSuffix(out, tc.ext))
		}
		// Idempotent: a pseudonymized name stays as it is.
		again, _, _ := pseudonymizeFilename(ctx, p, out)
		if again != out {
			t.Errorf("pseudonymizing a pseudonymized name changed it")
		}
		// And re-identifies to the original.
		back, _, err := p.ReidentifyString(ctx, pseudonym.FormatText, out)
		if err != nil || back != tc.in {
			t.Errorf("re-identified name differs from the original")
		}
	}
}
