package pseudonym

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// metaEntry is one number of the personnummer/meta test data (see
// testdata/personnummer-meta/README.md).
type metaEntry struct {
	Integer         json.Number `json:"integer"`
	LongFormat      string      `json:"long_format"`
	ShortFormat     string      `json:"short_format"`
	SeparatedFormat string      `json:"separated_format"`
	SeparatedLong   string      `json:"separated_long"`
	Valid           bool        `json:"valid"`
	Type            string      `json:"type"` // ssn, con, interim, org
}

func loadMeta(t *testing.T, name string) []metaEntry {
	t.Helper()
	b, err := os.ReadFile("testdata/personnummer-meta/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var es []metaEntry
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&es); err != nil {
		t.Fatal(err)
	}
	return es
}

// TestPersonnummerMeta checks the detector against the public
// personnummer/meta test data, exactly: every valid personnummer and
// samordningsnummer in every written form is found whole, as the right
// type, with the right digits (and century, where the form gives it);
// every invalid one (serial number 000, wrong check digit, no such date,
// a space inside) is not found; interim numbers, which the specification
// accepts only when asked to, and organisation numbers are not
// personnummer. The integer form is checked as a JSON number.
func TestPersonnummerMeta(t *testing.T) {
	ref := dateRef(corpusNow)
	var entries []metaEntry
	for _, f := range []string{"list.json", "interim.json", "orgnumber.json"} {
		entries = append(entries, loadMeta(t, f)...)
	}
	p, _ := newTestPseudonymizer(t, Config{})
	checked := 0
	for _, e := range entries {
		want := e.Valid && (e.Type == "ssn" || e.Type == "con")
		for form, s := range map[string]string{
			"long_format": e.LongFormat, "short_format": e.ShortFormat,
			"separated_format": e.SeparatedFormat, "separated_long": e.SeparatedLong,
		} {
			if s == "" {
				continue
			}
			checked++
			// Alone, and inside a sentence.
			for _, text := range []string{s, "Pnr: " + s + ", se ärendet."} {
				at := strings.Index(text, s)
				ms := findPersonnummerBefore(nil, []byte(text), 0, ref)
				if !want {
					if len(ms) != 0 {
						t.Errorf("%s %q (%s, invalid): found %q", form, s, e.Type, text[ms[0].start:ms[0].end])
					}
					continue
				}
				if len(ms) != 1 || ms[0].start != at || ms[0].end != at+len(s) {
					t.Errorf("%s %q (%s, valid): found %d matches in %q", form, s, e.Type, len(ms), text)
					continue
				}
				m := ms[0]
				if coord := m.norm[6] >= '6'; coord != (e.Type == "con") {
					t.Errorf("%s %q: samordningsnummer %v, want type %s", form, s, coord, e.Type)
				}
				norm := string(m.norm[:])
				switch form {
				case "short_format":
					// No separator: the century is the latest one in which
					// the date has been (090527… is 2009, not 1909).
					if norm[2:] != e.LongFormat[2:] {
						t.Errorf("%s %q: normal form %s, want …%s", form, s, norm, e.LongFormat[2:])
					}
				default:
					if norm != e.LongFormat {
						t.Errorf("%s %q: normal form %s, want %s", form, s, norm, e.LongFormat)
					}
				}
			}
		}
		// As a JSON number.
		if n := e.Integer.String(); n != "0" && n != "" {
			checked++
			in := fmt.Sprintf(`{"pnr": %s}`, n)
			out, c, err := p.PseudonymizeString(context.Background(), FormatJSON, in)
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			if got := c.Personnummer == 1; got != want || (out == in) == want {
				t.Errorf("integer %s (%s, valid %v): %d replaced, output %s", n, e.Type, e.Valid, c.Personnummer, out)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d forms checked", checked)
	}
}

// TestPersonnummerMetaStructured checks the grouped lists of the same data.
func TestPersonnummerMetaStructured(t *testing.T) {
	b, err := os.ReadFile("testdata/personnummer-meta/structured.json")
	if err != nil {
		t.Fatal(err)
	}
	var groups map[string]map[string]map[string][]json.RawMessage
	if err := json.Unmarshal(b, &groups); err != nil {
		t.Fatal(err)
	}
	ref := dateRef(corpusNow)
	n := 0
	for typ, byForm := range groups {
		for _, byValid := range byForm {
			for validity, items := range byValid {
				for _, raw := range items {
					s := strings.Trim(string(raw), `"`)
					if s == "0" {
						continue
					}
					n++
					ms := findPersonnummerBefore(nil, []byte(s), 0, ref)
					found := len(ms) == 1 && ms[0].start == 0 && ms[0].end == len(s)
					if found != (validity == "valid") {
						t.Errorf("%s %s %q: found %v", typ, validity, s, found)
					}
					if found && (ms[0].norm[6] >= '6') != (typ == "con") {
						t.Errorf("%s %q: wrong type", typ, s)
					}
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d numbers checked", n)
	}
}
