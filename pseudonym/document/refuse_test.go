package document

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// entry is one file of an archive a test makes.
type entry struct {
	name   string
	body   []byte
	method uint16
	flags  uint16
}

// rezip rewrites doc: edit may change a part (return its new body) or
// drop it (ok false); add appends parts.
func rezip(t testing.TB, doc []byte, edit func(name string, b []byte) ([]byte, bool), add ...entry) []byte {
	t.Helper()
	names, ps := parts(t, doc)
	var es []entry
	for _, n := range names {
		b := ps[n]
		if edit != nil {
			var keep bool
			if b, keep = edit(n, b); !keep {
				continue
			}
		}
		m := zip.Deflate
		if n == "mimetype" {
			m = zip.Store
		}
		es = append(es, entry{name: n, body: b, method: m})
	}
	return makeZip(t, append(es, add...)...)
}

func makeZip(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method, Flags: e.flags})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func replacePart(name string, old, new string) func(string, []byte) ([]byte, bool) {
	return func(n string, b []byte) ([]byte, bool) {
		if n == name {
			b = bytes.Replace(b, []byte(old), []byte(new), 1)
		}
		return b, true
	}
}

func TestRefusals(t *testing.T) {
	p := newPseudonymizer(t)
	docx := readFixture(t, "letter.docx")
	bomb := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("[Content_Types].xml")
		w.Write([]byte(`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`))
		w, _ = zw.Create("word/document.xml")
		w.Write(bytes.Repeat([]byte(" "), 64<<20))
		zw.Close()
		return buf.Bytes()
	}()
	for _, tc := range []struct {
		name string
		doc  []byte
		lim  Limits
		want error
	}{
		{"not a zip", []byte("Besök av Tolvan Tolvansson 19121212-1212"), Limits{}, ErrNotDocument},
		{"truncated", docx[:len(docx)/2], Limits{}, ErrNotDocument},
		{"no document parts", makeZip(t, entry{name: "notes.txt", body: []byte("Tolvan Tolvansson")}), Limits{}, ErrNotDocument},
		{"macro project", rezip(t, docx, nil, entry{name: "word/vbaProject.bin", body: []byte("Attribute VB_Name")}), Limits{}, ErrUnsupported},
		{"OLE object", rezip(t, docx, nil, entry{name: "word/embeddings/oleObject1.bin", body: []byte("\xd0\xcf\x11\xe0 Tolvan Tolvansson")}), Limits{}, ErrUnsupported},
		{"ODF macros", rezip(t, readFixture(t, "letter.odt"), nil, entry{name: "Basic/Standard/Module1.xml", body: []byte(`<script:module xmlns:script="http://openoffice.org/2000/script">Sub Main</script:module>`)}), Limits{}, ErrUnsupported},
		{"encrypted part", rezip(t, docx, nil, entry{name: "word/extra.xml", body: []byte("<a/>"), flags: 1}), Limits{}, ErrUnsupported},
		{"not well-formed", rezip(t, docx, replacePart("word/document.xml", "</w:body>", "<w:p>Tolvan Tolvansson</w:body>")), Limits{}, ErrNotDocument},
		{"not UTF-8", rezip(t, docx, replacePart("word/document.xml", `encoding="UTF-8"`, `encoding="ISO-8859-1"`)), Limits{}, ErrNotDocument},
		{"undefined entity", rezip(t, docx, replacePart("word/document.xml", "Besök", "&tolvan;")), Limits{}, ErrNotDocument},
		{"duplicate part", rezip(t, docx, nil, entry{name: "word/document.xml", body: []byte("<w:document/>")}), Limits{}, ErrNotDocument},
		{"duplicate part by case", rezip(t, docx, nil, entry{name: "WORD/document.xml", body: []byte("<w:document/>")}), Limits{}, ErrNotDocument},
		{"climbing name", rezip(t, docx, nil, entry{name: "word/../../evil.xml", body: []byte("<a/>")}), Limits{}, ErrNotDocument},
		{"absolute name", rezip(t, docx, nil, entry{name: "/evil.xml", body: []byte("<a/>")}), Limits{}, ErrNotDocument},
		{"zip bomb", bomb, Limits{}, ErrTooLarge},
		{"too many bytes decompressed", docx, Limits{MaxUncompressed: 4096}, ErrTooLarge},
		{"too large", docx, Limits{MaxBytes: 1024}, ErrTooLarge},
		{"too many parts", docx, Limits{MaxParts: 3}, ErrTooLarge},
		{"a paragraph past the unit limit", rezip(t, docx, replacePart("word/document.xml", "Besök av", strings.Repeat("Besök av ", 2000))), Limits{MaxUnit: 8 << 10}, ErrTooLarge},
		{"a nested document past the depth", rezip(t, docx, nil, entry{name: "word/embeddings/inner.docx", body: rezip(t, docx, nil, entry{name: "word/embeddings/inner2.docx", body: docx})}), Limits{MaxDepth: 1}, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Pseudonymize(context.Background(), p, bytes.NewReader(tc.doc), int64(len(tc.doc)), &out, tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, v := range append(personalValues, "evil") {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error quotes the document: %v", err)
				}
			}
			// Re-identification refuses the same.
			_, err = Reidentify(context.Background(), p, bytes.NewReader(tc.doc), int64(len(tc.doc)), io.Discard, tc.lim)
			if !errors.Is(err, tc.want) {
				t.Errorf("Reidentify: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseErrorNamesPartAndLine(t *testing.T) {
	p := newPseudonymizer(t)
	doc := rezip(t, readFixture(t, "letter.docx"), replacePart("word/document.xml", "</w:body>", "\n<w:p></w:body>"))
	_, err := Pseudonymize(context.Background(), p, bytes.NewReader(doc), int64(len(doc)), io.Discard, Limits{})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Part != 5 || pe.Line != 3 {
		t.Fatalf("got %v, want a ParseError for part 5 (word/document.xml), line 3", err)
	}
}
