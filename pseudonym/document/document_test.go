package document

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluss/sluss/pseudonym"
)

// fixtures are the documents testdata/make-fixtures.sh made with
// LibreOffice from the flat ODF sources in testdata/src.
var fixtures = []string{"letter.docx", "letter.odt", "register.xlsx", "register.ods", "slides.pptx", "slides.odp"}

// personalValues are the personnummer and names in the fixtures. None may
// be left in a pseudonymized document, nor appear in an error.
var personalValues = []string{
	"Tolvan", "Tolvansson", "19121212-1212", "121212-1212", "Andersson", "Björn", "Ängström",
	"Łukasz", "Żółć", "701063-2391", "811218-9876", "8112189876", "198003154260", "194607137454",
	"Karin", "Nilsson",
}

var tokenRE = regexp.MustCompile(pseudonym.TokenPattern)

func newPseudonymizer(t testing.TB) *pseudonym.Pseudonymizer {
	t.Helper()
	p, err := pseudonym.New(pseudonym.Config{}, pseudonym.NewStaticKeys(bytes.Repeat([]byte{7}, 32)), pseudonym.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pseudonymizeBytes(t testing.TB, p *pseudonym.Pseudonymizer, in []byte) ([]byte, Result) {
	t.Helper()
	var out bytes.Buffer
	res, err := Pseudonymize(context.Background(), p, bytes.NewReader(in), int64(len(in)), &out, Limits{})
	if err != nil {
		t.Fatalf("Pseudonymize: %v", err)
	}
	return out.Bytes(), res
}

func reidentifyBytes(t testing.TB, p *pseudonym.Pseudonymizer, in []byte) ([]byte, Result) {
	t.Helper()
	var out bytes.Buffer
	res, err := Reidentify(context.Background(), p, bytes.NewReader(in), int64(len(in)), &out, Limits{})
	if err != nil {
		t.Fatalf("Reidentify: %v", err)
	}
	return out.Bytes(), res
}

// parts returns a document's files by name, in archive order.
func parts(t testing.TB, doc []byte) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("not a zip archive: %v", err)
	}
	var names []string
	m := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("part %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("part %s: %v", f.Name, err)
		}
		names = append(names, f.Name)
		m[f.Name] = b
	}
	return names, m
}

func isXMLPart(name string) bool {
	switch filepath.Ext(name) {
	case ".xml", ".rels", ".vml", ".rdf":
		return true
	}
	return false
}

// xmlView is what a part says, apart from how its text is cut into
// runs: its markup (elements and attributes, without xml:space) and its
// text, joined.
func xmlView(b []byte) (markup, text string, err error) {
	var m, tx strings.Builder
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return m.String(), tx.String(), nil
		}
		if err != nil {
			return "", "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			fmt.Fprintf(&m, "<%s %s", t.Name.Space, t.Name.Local)
			var as []string
			for _, a := range t.Attr {
				if a.Name.Local == "space" && a.Name.Space == "http://www.w3.org/XML/1998/namespace" {
					continue
				}
				as = append(as, a.Name.Space+" "+a.Name.Local+"="+a.Value)
			}
			slices.Sort(as)
			fmt.Fprintf(&m, "%q>", as)
		case xml.EndElement:
			fmt.Fprintf(&m, "</%s>", t.Name.Local)
		case xml.CharData:
			tx.Write(t)
		}
	}
}

// sameDocument checks that got says what want says: the same parts in
// the same order, XML parts byte for byte or, where a name was split over
// runs (it comes back whole in the first run), the same markup and text;
// skip names parts that may differ (the blanked thumbnail).
func sameDocument(t *testing.T, want, got []byte, skip ...string) {
	t.Helper()
	wn, wp := parts(t, want)
	gn, gp := parts(t, got)
	if !slices.Equal(wn, gn) {
		t.Fatalf("parts differ:\n want %q\n  got %q", wn, gn)
	}
	for _, n := range wn {
		if slices.Contains(skip, n) || bytes.Equal(wp[n], gp[n]) {
			continue
		}
		if !isXMLPart(n) {
			t.Errorf("%s: binary part changed", n)
			continue
		}
		wm, wt, err1 := xmlView(wp[n])
		gm, gt, err2 := xmlView(gp[n])
		if err1 != nil || err2 != nil {
			t.Errorf("%s: %v, %v", n, err1, err2)
			continue
		}
		if wm != gm {
			t.Errorf("%s: markup differs", n)
		}
		if wt != gt {
			t.Errorf("%s: text differs:\n want %q\n  got %q", n, wt, gt)
		}
	}
}

// checkPseudonymized checks a pseudonymized document: a valid archive
// with the parts of the original, well-formed XML, tokens, and no
// personal value in any part.
func checkPseudonymized(t *testing.T, orig, doc []byte) {
	t.Helper()
	on, _ := parts(t, orig)
	names, ps := parts(t, doc)
	if !slices.Equal(on, names) {
		t.Errorf("parts differ:\n want %q\n  got %q", on, names)
	}
	if names[0] == "mimetype" {
		zr, _ := zip.NewReader(bytes.NewReader(doc), int64(len(doc)))
		if f := zr.File[0]; f.Method != zip.Store || f.Flags&0x8 != 0 {
			t.Errorf("mimetype is not stored first without a data descriptor")
		}
	}
	tokens := 0
	for _, n := range names {
		b := ps[n]
		if isXMLPart(n) {
			if _, _, err := xmlView(b); err != nil {
				t.Errorf("%s is not well-formed: %v", n, err)
			}
		}
		tokens += len(tokenRE.FindAll(b, -1))
		for _, v := range personalValues {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s still holds %q", n, v)
			}
		}
	}
	if tokens == 0 {
		t.Errorf("no tokens")
	}
}

func TestRoundTrip(t *testing.T) {
	p := newPseudonymizer(t)
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			orig := readFixture(t, name)
			doc, res := pseudonymizeBytes(t, p, orig)
			if want, _ := FormatFromName(name); res.Format != want {
				t.Errorf("format %q, want %q", res.Format, want)
			}
			if res.Counts.Personnummer == 0 || res.Counts.Names == 0 {
				t.Errorf("counts %+v", res.Counts)
			}
			checkPseudonymized(t, orig, doc)
			back, rres := reidentifyBytes(t, p, doc)
			// Not equal counts: a sheet's token stands wherever the sheet
			// is named.
			if rres.Counts.ReidentifiedPersonnummer != res.Counts.Personnummer || rres.Counts.ReidentifiedNames < res.Counts.Names || rres.Counts.Unknown != 0 {
				t.Errorf("re-identified %+v after pseudonymizing %+v", rres.Counts, res.Counts)
			}
			sameDocument(t, orig, back, "Thumbnails/thumbnail.png")
			// Twice is once: tokens are not tokenized again.
			again, ares := pseudonymizeBytes(t, p, doc)
			if ares.Counts.Personnummer != 0 {
				t.Errorf("a second pass replaced %d personnummer", ares.Counts.Personnummer)
			}
			_ = again
		})
	}
}

// cellValue returns the <v> of a SpreadsheetML cell.
func cellValue(sheet []byte, ref string) string {
	m := regexp.MustCompile(`<c r="` + ref + `"[^>]*>(?:<f[^>]*>[^<]*</f>)?<v>([^<]*)</v>`).FindSubmatch(sheet)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func TestNumericCells(t *testing.T) {
	p := newPseudonymizer(t)
	doc, _ := pseudonymizeBytes(t, p, readFixture(t, "register.xlsx"))
	_, ps := parts(t, doc)
	sheet := ps["xl/worksheets/sheet1.xml"]
	for ref, n := range map[string]int{"B2": 12, "B3": 10, "B4": 12} {
		v := cellValue(sheet, ref)
		if len(v) != n || !pseudonym.IsNumberToken(v) {
			t.Errorf("%s = %q, want a numeric token of %d digits", ref, v, n)
		}
	}
	// Numbers that are no personnummer stay: an amount, a 10-digit id
	// with a wrong check digit, a formula's result.
	for ref, want := range map[string]string{"D2": "1250", "D3": "1234567890", "D4": "1234569140"} {
		if v := cellValue(sheet, ref); v != want {
			t.Errorf("%s = %q, want %q", ref, v, want)
		}
	}

	// ODS: office:value and the cell's text, the same token.
	doc, _ = pseudonymizeBytes(t, p, readFixture(t, "register.ods"))
	_, ps = parts(t, doc)
	cells := regexp.MustCompile(`office:value="(\d+)"[^>]*><text:p>(\d+)</text:p>`).FindAllSubmatch(ps["content.xml"], -1)
	tokens := 0
	for _, c := range cells {
		if !bytes.Equal(c[1], c[2]) {
			t.Errorf("office:value %s shown as %s", c[1], c[2])
		}
		if pseudonym.IsNumberToken(string(c[1])) {
			tokens++
		}
	}
	if tokens != 3 {
		t.Errorf("%d numeric tokens in the ODS, want 3", tokens)
	}
}

func TestSheetNames(t *testing.T) {
	p := newPseudonymizer(t)
	for _, name := range []string{"register.xlsx", "register.ods"} {
		doc, _ := pseudonymizeBytes(t, p, readFixture(t, name))
		_, ps := parts(t, doc)
		var sheetName, formula *regexp.Regexp
		part := "xl/workbook.xml"
		fpart := "xl/worksheets/sheet1.xml"
		if name == "register.ods" {
			part, fpart = "content.xml", "content.xml"
			sheetName = regexp.MustCompile(`table:name="(sl_[a-z0-9_]+)"`)
			formula = regexp.MustCompile(`of:=\[\$&apos;(sl_[a-z0-9_]+)&apos;\.A1\]\*2`)
		} else {
			sheetName = regexp.MustCompile(`<sheet name="(sl_[a-z0-9_]+)"`)
			formula = regexp.MustCompile(`<f[^>]*>&apos;(sl_[a-z0-9_]+)&apos;!A1\*2</f>`)
		}
		s := sheetName.FindSubmatch(ps[part])
		f := formula.FindSubmatch(ps[fpart])
		if s == nil || f == nil || !bytes.Equal(s[1], f[1]) {
			t.Errorf("%s: the sheet named after a person is not one token that its formula follows", name)
		}
	}
}
