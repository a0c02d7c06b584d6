package document

import (
	"bytes"
	"strings"
	"testing"
)

// TestEmbedded: a workbook embedded in a letter under a file name that
// names a person is pseudonymized inside, renamed to a token (with the
// relationship and the content type that refer to it), and all of it
// comes back; an external link's target is pseudonymized as text.
func TestEmbedded(t *testing.T) {
	p := newPseudonymizer(t)
	const name = "word/embeddings/Karin Nilsson 19121212-1212.xlsx"
	const ref = "Karin%20Nilsson%2019121212-1212.xlsx"
	doc := rezip(t, readFixture(t, "letter.docx"), func(n string, b []byte) ([]byte, bool) {
		switch n {
		case "[Content_Types].xml":
			b = bytes.Replace(b, []byte("</Types>"), []byte(`<Override PartName="/word/embeddings/`+ref+`" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"/></Types>`), 1)
		case "word/_rels/document.xml.rels":
			b = bytes.Replace(b, []byte("</Relationships>"), []byte(
				`<Relationship Id="rId90" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/package" Target="embeddings/`+ref+`"/>`+
					`<Relationship Id="rId91" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://journal.example/patient/19121212-1212" TargetMode="External"/>`+
					`</Relationships>`), 1)
		}
		return b, true
	}, entry{name: name, body: readFixture(t, "register.xlsx"), method: 8})

	pseudo, _ := pseudonymizeBytes(t, p, doc)
	names, ps := parts(t, pseudo)
	var renamed string
	for _, n := range names {
		if strings.HasPrefix(n, "word/embeddings/") {
			renamed = n
		}
	}
	if !strings.HasPrefix(renamed, "word/embeddings/sl_name1_") || !strings.HasSuffix(renamed, ".xlsx") || !tokenRE.MatchString(renamed) {
		t.Fatalf("the embedded file is named %q", renamed)
	}
	seg := strings.TrimPrefix(renamed, "word/embeddings/")
	if !bytes.Contains(ps["[Content_Types].xml"], []byte(`PartName="/word/embeddings/`+seg+`"`)) ||
		!bytes.Contains(ps["word/_rels/document.xml.rels"], []byte(`Target="embeddings/`+seg+`"`)) {
		t.Errorf("references do not follow the new name")
	}
	if !bytes.Contains(ps["word/_rels/document.xml.rels"], []byte(`Target="https://journal.example/patient/sl_pnr1c_`)) {
		t.Errorf("the external link's personnummer is not a token")
	}
	for _, v := range personalValues {
		if strings.Contains(string(ps["[Content_Types].xml"])+string(ps["word/_rels/document.xml.rels"]), v) {
			t.Errorf("a reference still holds %q", v)
		}
	}
	// Inside, the workbook is pseudonymized like any other.
	checkPseudonymized(t, readFixture(t, "register.xlsx"), ps[renamed])

	back, _ := reidentifyBytes(t, p, pseudo)
	sameDocument(t, doc, back, name)
	_, bp := parts(t, back)
	sameDocument(t, readFixture(t, "register.xlsx"), bp[name], "docProps/thumbnail.jpeg")
}

// TestUnknownVocabulary: XML in a vocabulary the rewriter does not know
// (custom XML, SharePoint properties) has its text read as free text and
// its numbers as numbers.
func TestUnknownVocabulary(t *testing.T) {
	p := newPseudonymizer(t)
	const item = `<?xml version="1.0"?><p:properties xmlns:p="http://schemas.microsoft.com/office/2006/metadata/properties">` +
		`<Handlaggare>Besök av Karin Nilsson, 19121212-1212</Handlaggare><Nr> 198003154260 </Nr><Belopp>1250</Belopp></p:properties>`
	doc := rezip(t, readFixture(t, "letter.docx"), nil, entry{name: "customXml/item1.xml", body: []byte(item), method: 8})
	pseudo, _ := pseudonymizeBytes(t, p, doc)
	_, ps := parts(t, pseudo)
	got := string(ps["customXml/item1.xml"])
	for _, v := range personalValues {
		if strings.Contains(got, v) {
			t.Errorf("custom XML still holds %q", v)
		}
	}
	if !strings.Contains(got, "<Belopp>1250</Belopp>") || !strings.Contains(got, "<Nr> ") {
		t.Errorf("custom XML: %s", got)
	}
	back, _ := reidentifyBytes(t, p, pseudo)
	sameDocument(t, doc, back)
}

// TestPreviewPicturesPass: pictures are not read, the preview picture of
// an embedded ODF object (no extension) included.
func TestPreviewPicturesPass(t *testing.T) {
	p := newPseudonymizer(t)
	preview := []byte("VCLMTF Karin Nilsson")
	doc := rezip(t, readFixture(t, "letter.odt"), nil, entry{name: "ObjectReplacements/Object 1", body: preview, method: 8},
		entry{name: "Pictures/1000000000000010000000106AE7B5A2.png", body: []byte("\x89PNG"), method: 0})
	pseudo, _ := pseudonymizeBytes(t, p, doc)
	_, ps := parts(t, pseudo)
	if !bytes.Equal(ps["ObjectReplacements/Object 1"], preview) {
		t.Errorf("the preview picture changed")
	}
}
