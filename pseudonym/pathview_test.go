package pseudonym

import (
	"context"
	"strings"
	"testing"
)

// TestPathAndFileNameWords checks that names joined by '_', '-', escaped
// spaces and path separators are found in file names, URL paths and text,
// each word on its own, that the rest of the name stays as it was, and
// that the result round-trips and is stable.
func TestPathAndFileNameWords(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	for _, c := range []struct {
		kind, in string
		names    []string // the words that must be gone
		keep     []string // what must stay
	}{
		{"file", "astrid_lindqvist.txt", []string{"astrid", "lindqvist"}, []string{"_", ".txt"}},
		{"file", "astrid-lindqvist.txt", []string{"astrid", "lindqvist"}, []string{"-", ".txt"}},
		{"file", "intyg-mohammed-ali.pdf", []string{"mohammed"}, []string{"intyg-", ".pdf"}},
		{"file", "LSS-beslut-mall.docx", nil, []string{"LSS-beslut-mall.docx"}},
		{"path", "/arkiv/ansokan%20mirjam%20lindholm.docx", []string{"mirjam", "lindholm"}, []string{"/arkiv/ansokan%20", ".docx"}},
		{"path", "/a/Karlsson_Birgitta/utredning.docx", []string{"Karlsson", "Birgitta"}, []string{"/a/", "/utredning.docx"}},
		{"path", "/fhir/CodeSystem/sol-lss", nil, []string{"/fhir/CodeSystem/sol-lss"}},
		{"text", "Bilaga: S:\\Ärenden\\Karlsson_Birgitta\\läkarintyg_birgitta_karlsson.pdf", []string{"Karlsson", "Birgitta", "birgitta", "karlsson"}, []string{"S:\\Ärenden\\", "\\läkarintyg_", ".pdf"}},
		{"text", "arkiv/2024/03/karin_johansson_utredning.pdf", []string{"karin", "johansson"}, []string{"arkiv/2024/03/", "_utredning.pdf"}},
		{"text", "Insatser enligt SoL/LSS/LVU och/eller HSL, se t.ex. beslut.pdf.", nil, []string{"Insatser enligt SoL/LSS/LVU och/eller HSL, se t.ex. beslut.pdf."}},
	} {
		var out string
		var err error
		switch c.kind {
		case "file":
			out, _, err = p.PseudonymizeFilename(ctx, c.in)
		case "path":
			out, _, err = p.PseudonymizePath(ctx, c.in)
		default:
			out, _, err = p.PseudonymizeString(ctx, FormatText, c.in)
		}
		if err != nil {
			t.Fatalf("%s %q: %v", c.kind, c.in, err)
		}
		for _, n := range c.names {
			if strings.Contains(out, n) {
				t.Errorf("%s %q: %q still holds %q", c.kind, c.in, out, n)
			}
		}
		for _, k := range c.keep {
			if !strings.Contains(out, k) {
				t.Errorf("%s %q: %q lost %q", c.kind, c.in, out, k)
			}
		}
		if back, _, err := p.ReidentifyString(ctx, FormatText, out); err != nil || back != c.in {
			t.Errorf("%s %q: round trip gave %q (%v)", c.kind, c.in, back, err)
		}
		var again string
		switch c.kind {
		case "file":
			again, _, _ = p.PseudonymizeFilename(ctx, out)
		case "path":
			again, _, _ = p.PseudonymizePath(ctx, out)
		default:
			again, _, _ = p.PseudonymizeString(ctx, FormatText, out)
		}
		if again != out {
			t.Errorf("%s %q: pseudonymizing twice changed %q to %q", c.kind, c.in, out, again)
		}
	}
}
