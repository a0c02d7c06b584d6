package document

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"testing"

	"github.com/sluss/sluss/pseudonym"
)

// fuzzLimits keep a fuzzed document small.
// (instrumented, encoding/xml reads a MiB in about a second).
var fuzzLimits = Limits{MaxBytes: 256 << 10, MaxUncompressed: 1 << 20, MaxUnit: 64 << 10, SpoolMemory: 1 << 20}

// typedError reports whether err is one of the refusals a caller is
// meant to tell apart; anything else from a MemoryStore run is a bug.
func typedError(err error) bool {
	return errors.Is(err, ErrNotDocument) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsupported)
}

// FuzzDocument feeds whole archives to Pseudonymize: it never panics,
// refuses with a typed error, and what it writes is an archive with the
// same parts that Reidentify reads.
func FuzzDocument(f *testing.F) {
	for _, name := range fixtures {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("PK\x03\x04"))
	f.Add(makeZip(f, entry{name: "mimetype", body: []byte("application/vnd.oasis.opendocument.text")}, entry{name: "content.xml", body: []byte("<a/>"), method: zip.Deflate}))
	p := newPseudonymizer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		_, err := Pseudonymize(context.Background(), p, bytes.NewReader(in), int64(len(in)), &out, fuzzLimits)
		if err != nil {
			if !typedError(err) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		zi, _ := zip.NewReader(bytes.NewReader(in), int64(len(in)))
		zo, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("the output is no archive: %v", err)
		}
		if len(zo.File) != len(zi.File) {
			t.Fatalf("%d parts in, %d out", len(zi.File), len(zo.File))
		}
		if _, err := Reidentify(context.Background(), p, bytes.NewReader(out.Bytes()), int64(out.Len()), io.Discard, fuzzLimits); err != nil {
			t.Fatalf("the output does not re-identify: %v", err)
		}
	})
}

// xmlSeeds are the parts FuzzXMLPart puts its input in: one per
// vocabulary the rewriter reads.
var xmlSeeds = []struct{ fixture, part string }{
	{"letter.docx", "word/document.xml"},
	{"letter.docx", "docProps/core.xml"},
	{"register.xlsx", "xl/worksheets/sheet1.xml"},
	{"register.xlsx", "xl/sharedStrings.xml"},
	{"slides.pptx", "ppt/slides/slide1.xml"},
	{"letter.odt", "content.xml"},
	{"register.ods", "content.xml"},
	{"letter.docx", "customXml/item1.xml"},
}

// FuzzXMLPart puts fuzzed XML into a part of a real document. For input
// that encoding/xml reads, the rewriter must not fail to parse it, its
// output must be well-formed, and re-identification must give back the
// same markup and text.
func FuzzXMLPart(f *testing.F) {
	docs := map[string]map[string][]byte{}
	names := map[string][]string{}
	for _, s := range xmlSeeds {
		if docs[s.fixture] == nil {
			names[s.fixture], docs[s.fixture] = parts(f, readFixture(f, s.fixture))
		}
	}
	for i, s := range xmlSeeds {
		body := docs[s.fixture][s.part]
		if body == nil {
			body = []byte(`<?xml version="1.0"?><p:properties xmlns:p="urn:x"><Namn>Besök av Karin Nilsson, 19121212-1212</Namn><Nr>198003154260</Nr></p:properties>`)
		}
		f.Add(uint8(i), body)
	}
	f.Add(uint8(0), []byte(`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Besök av Ka</w:t></w:r><w:ins w:author="Anna Andersson"><w:r><w:t>rin Nilsson</w:t></w:r></w:ins><w:del><w:r><w:delText xml:space="preserve">Björn &#xC4;ngström </w:delText></w:r></w:del></w:p></w:body></w:document>`))
	p := newPseudonymizer(f)
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		s := xmlSeeds[int(which)%len(xmlSeeds)]
		var es []entry
		for _, n := range names[s.fixture] {
			if n == s.part {
				continue
			}
			es = append(es, entry{name: n, body: docs[s.fixture][n], method: zip.Store})
		}
		es = append(es, entry{name: s.part, body: data, method: zip.Store})
		in := makeZip(t, es...)
		var out bytes.Buffer
		_, err := Pseudonymize(context.Background(), p, bytes.NewReader(in), int64(len(in)), &out, fuzzLimits)
		wellFormed := len(data) > 0 && readsAsXML(data)
		if err != nil {
			if !typedError(err) {
				t.Fatalf("untyped error: %v", err)
			}
			var pe *ParseError
			if wellFormed && errors.As(err, &pe) && pe.Msg != "not well-formed XML" {
				t.Fatalf("well-formed XML refused: %v", err)
			}
			return
		}
		_, ps := parts(t, out.Bytes())
		got := ps[s.part]
		if !wellFormed {
			return
		}
		if _, _, err := xmlView(got); err != nil {
			t.Fatalf("the rewritten part is not well-formed: %v", err)
		}
		var back bytes.Buffer
		if _, err := Reidentify(context.Background(), p, bytes.NewReader(out.Bytes()), int64(out.Len()), &back, fuzzLimits); err != nil {
			t.Fatalf("the output does not re-identify: %v", err)
		}
		if bytes.Contains(data, []byte("Hyphen")) {
			return // a name over a hyphen element comes back as text
		}
		_, bp := parts(t, back.Bytes())
		wm, _, _ := xmlView(data)
		gm, _, err := xmlView(bp[s.part])
		if err != nil || wm != gm {
			t.Fatalf("re-identified, the part's markup differs (%v)", err)
		}
		if want, got := unitText(t, p, in), unitText(t, p, back.Bytes()); want != got {
			t.Fatalf("re-identified, the text differs:\n want %q\n  got %q", want, got)
		}
	})
}

// unitText is the text of a document as the rewriter reads it, unit by
// unit (paragraphs, cells, properties), each with all its versions.
func unitText(t testing.TB, p *pseudonym.Pseudonymizer, doc []byte) string {
	t.Helper()
	g, err := p.NewSegments()
	if err != nil {
		t.Fatal(err)
	}
	j := &job{ctx: context.Background(), g: g, mode: modeExtract, lim: fuzzLimits.withDefaults(), budget: 1 << 30}
	if _, err := j.rewritePackage(bytes.NewReader(doc), int64(len(doc)), io.Discard, 0); err != nil {
		t.Fatalf("extract: %v", err)
	}
	return j.text.String()
}

func readsAsXML(b []byte) bool {
	dec := xml.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return depth == 0
		}
		if err != nil {
			return false
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
}
