package gateway

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluss/sluss/pseudonym/document"
)

// documentValues are the personal values of the document fixtures that
// personalValues lacks.
var documentValues = []string{"Karin", "Nilsson", "Łukasz", "Żółć", "8112189876", "198003154260", "194607137454"}

func documentFixture(t *testing.T, name string) (string, []byte) {
	t.Helper()
	p := filepath.Join("..", "pseudonym", "document", "testdata", name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

// documentText returns the joined character data of each XML part of a
// document, which fails the test when it is no valid archive of
// well-formed parts.
func documentText(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("not a document: %v", err)
	}
	texts := map[string]string{}
	for _, f := range zr.File {
		if ext := filepath.Ext(f.Name); ext != ".xml" && ext != ".rels" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		dec := xml.NewDecoder(rc)
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed: %v", f.Name, err)
			}
			if cd, ok := tok.(xml.CharData); ok {
				b.Write(cd)
			}
		}
		rc.Close()
		texts[f.Name] = b.String()
	}
	return texts
}

func checkPseudonymizedDocument(t *testing.T, what string, doc []byte) {
	t.Helper()
	tokens := 0
	for name, text := range documentText(t, doc) {
		for _, v := range append(personalValues, documentValues...) {
			if strings.Contains(text, v) {
				t.Errorf("%s: %s holds a personal value", what, name)
			}
		}
		tokens += len(tokenRE.FindAllString(text, -1))
	}
	if tokens == 0 {
		t.Errorf("%s: no tokens", what)
	}
}

func sameDocumentText(t *testing.T, what string, want, got []byte) {
	t.Helper()
	w, g := documentText(t, want), documentText(t, got)
	if len(w) != len(g) {
		t.Errorf("%s: %d XML parts, want %d", what, len(g), len(w))
	}
	for name, text := range w {
		if g[name] != text {
			t.Errorf("%s: %s reads differently", what, name)
		}
	}
}

func documentsConfig(t *testing.T, c *cloud) Config {
	cfg := storageConfig(c, "documents")
	cfg.UsersFile = writeUsers(t, map[string]string{"alice": "a-pass", "bob": "b-pass"})
	cfg.Groups = []GroupConfig{
		{Name: "staff", Members: []string{"alice", "bob"}, Rights: []string{"decrypt"}},
		{Name: "registry", Members: []string{"alice"}, Rights: []string{"reidentify"}},
	}
	return cfg
}

// TestDocumentsEndToEnd: through a service with the documents profile, a
// DOCX uploaded with curl reaches the provider as a valid DOCX with
// tokens, alice (reidentify) downloads the original text, bob the tokens;
// a generic upload named .xlsx and the document part of a multipart form
// are pseudonymized too, a PDF is encrypted, and documents that do not
// parse or hold macros are refused with nothing sent.
func TestDocumentsEndToEnd(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, documentsConfig(t, c))
	docxPath, docx := documentFixture(t, "letter.docx")
	xlsxPath, _ := documentFixture(t, "register.xlsx")

	_, e, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", "-H", "Content-Type: "+document.DOCX.ContentType(), "-T", docxPath, c.URL()+"/letter.docx")
	if err != nil {
		t.Fatalf("PUT: %v: %s\n%s", err, e, h.debug.String())
	}
	stored := c.stored(t, "letter.docx")
	checkPseudonymizedDocument(t, "the stored DOCX", stored)
	var back bytes.Buffer
	if _, err := document.Reidentify(t.Context(), h.pseudo, bytes.NewReader(stored), int64(len(stored)), &back, document.Limits{}); err != nil {
		t.Errorf("the stored DOCX does not re-identify: %v", err)
	}
	if !h.auditSoon(t, `"user":"bob"`, `"method":"PUT"`, `"action":"pseudonymize"`, `"path":"/letter.docx"`, `"replaced_personnummer":`) {
		t.Errorf("audit lacks the document upload:\n%s", h.audit.String())
	}

	got := filepath.Join(t.TempDir(), "alice.docx")
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-o", got, c.URL()+"/letter.docx"); err != nil {
		t.Fatalf("alice GET: %v: %s", err, e)
	}
	alice, _ := os.ReadFile(got)
	sameDocumentText(t, "alice's download", docx, alice)
	if !h.auditSoon(t, `"user":"alice"`, `"method":"GET"`, `"reidentified_personnummer":`) {
		t.Errorf("audit lacks alice's re-identification:\n%s", h.audit.String())
	}
	out, _, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", c.URL()+"/letter.docx")
	if err != nil || out != string(stored) {
		t.Errorf("bob GET: %v: want the document as stored", err)
	}
	// A range of a document is all of it for alice: a range of the
	// tokenized file is none of the original.
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-r", "0-99", "-o", got, c.URL()+"/letter.docx"); err != nil {
		t.Fatalf("alice GET with Range: %v: %s", err, e)
	}
	alice, _ = os.ReadFile(got)
	sameDocumentText(t, "alice's ranged download", docx, alice)

	// A generic type with a document's name: a document.
	if _, e, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", "-H", "Content-Type: application/octet-stream", "-T", xlsxPath, c.URL()+"/register.xlsx"); err != nil {
		t.Fatalf("PUT xlsx: %v: %s", err, e)
	}
	checkPseudonymizedDocument(t, "the stored XLSX", c.stored(t, "register.xlsx"))

	// A form with a document, a PDF and a text field.
	pdf := writeTemp(t, "report.pdf", append([]byte("%PDF-1.7\n"), content(4096, 1)...))
	if _, e, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", "-F", "file=@"+xlsxPath+";type=application/octet-stream",
		"-F", "scan=@"+pdf+";type=application/pdf", "-F", "note=Besök av Tolvan Tolvansson, 19121212-1212", c.URL()+"/form"); err != nil {
		t.Fatalf("POST form: %v: %s", err, e)
	}
	form := c.stored(t, "form-1")
	boundary := form[2:bytes.IndexByte(form, '\r')]
	mr := multipart.NewReader(bytes.NewReader(form), string(boundary))
	seen := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		switch part.FormName() {
		case "file":
			checkPseudonymizedDocument(t, "the form's XLSX", b)
			if _, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition")); params["filename"] != "register.xlsx" {
				t.Errorf("the document part's file name changed")
			}
		case "scan":
			if !bytes.HasPrefix(b, []byte("age-encryption.org/v1")) {
				t.Errorf("the PDF part was not encrypted")
			}
		case "note":
			checkNoPersonalValues(t, "the form's text part", string(b))
		}
		seen++
	}
	if seen != 3 {
		t.Errorf("the stored form has %d parts, want 3", seen)
	}

	// A PDF is encrypted, never pseudonymized.
	if _, e, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", "-H", "Content-Type: application/pdf", "-T", pdf, c.URL()+"/report.pdf"); err != nil {
		t.Fatalf("PUT pdf: %v: %s", err, e)
	}
	if !bytes.HasPrefix(c.stored(t, "report.pdf"), []byte("age-encryption.org/v1")) {
		t.Errorf("the PDF was not encrypted")
	}

	// Refused with nothing sent: a truncated DOCX, one with macros, a
	// body named as a document that is none.
	macro := writeTemp(t, "macro.docx", withPart(t, docx, "word/vbaProject.bin", []byte("Attribute VB_Name = \"Tolvan\"")))
	notZip := writeTemp(t, "notes.docx", []byte("Besök av Tolvan Tolvansson, 19121212-1212"))
	truncated := writeTemp(t, "broken.docx", docx[:len(docx)-100])
	before := c.requests.Load()
	for _, tc := range []struct {
		file, contentType, want string
	}{
		{truncated, document.DOCX.ContentType(), "400"},
		{macro, document.DOCX.ContentType(), "415"},
		{notZip, "application/octet-stream", "400"},
	} {
		out, _, _ := h.curl(t, "--proxy-user", "bob:b-pass", "-H", "Content-Type: "+tc.contentType, "-H", "Accept: application/json",
			"-T", tc.file, "-w", "\n%{http_code}", c.URL()+"/"+filepath.Base(tc.file))
		if !strings.HasSuffix(out, "\n"+tc.want) {
			t.Errorf("%s: %s, want %s", filepath.Base(tc.file), out, tc.want)
		}
		checkNoPersonalValues(t, "the refusal", out)
	}
	if n := c.requests.Load(); n != before {
		t.Errorf("%d refused documents reached the provider", n-before)
	}
	if !h.auditSoon(t, `"action":"deny"`, `"status":415`) {
		t.Errorf("audit lacks the refusal:\n%s", h.audit.String())
	}
	// The harness checks personalValues in the logs; these too.
	for _, v := range documentValues {
		if strings.Contains(h.audit.String()+h.debug.String(), v) {
			t.Errorf("a log holds a personal value of the documents")
		}
	}
}

// withPart returns doc with one more part.
func withPart(t *testing.T, doc []byte, name string, body []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := zw.Create(name)
	w.Write(body)
	zw.Close()
	return buf.Bytes()
}

// TestDocumentsRule: pseudonymize-documents and reidentify-documents as
// a custom rule of a storage service; other paths keep encrypting.
func TestDocumentsRule(t *testing.T) {
	c := newCloud(t)
	cfg := storageConfig(c, "storage")
	cfg.Services[0].Rules = []RuleConfig{
		{Methods: []string{"PUT"}, Path: "/shared/*", Request: []string{"pseudonymize-documents"}, Response: []string{"reidentify"}},
		{Methods: []string{"GET"}, Path: "/shared/*", Request: []string{"pseudonymize-metadata"}, Response: []string{"reidentify-documents", "decrypt"}},
	}
	if err := os.Mkdir(filepath.Join(c.dir, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, cfg)
	odtPath, odt := documentFixture(t, "letter.odt")
	for _, p := range []string{"/shared/letter.odt", "/letter.odt"} {
		if _, e, err := h.curl(t, "-f", "-H", "Content-Type: "+document.ODT.ContentType(), "-T", odtPath, c.URL()+p); err != nil {
			t.Fatalf("PUT: %v: %s", err, e)
		}
	}
	// A path that matches /shared/* here but is another file at the
	// provider is refused, not pseudonymized where it should be encrypted.
	before := c.requests.Load()
	if _, _, err := h.curl(t, "-f", "--path-as-is", "-H", "Content-Type: "+document.ODT.ContentType(), "-T", odtPath, c.URL()+"/shared/../other.odt"); err == nil {
		t.Error("PUT /shared/../other.odt was accepted")
	}
	if n := c.requests.Load() - before; n != 0 {
		t.Errorf("PUT /shared/../other.odt: %d requests reached the provider", n)
	}
	checkPseudonymizedDocument(t, "the shared ODT", c.stored(t, "shared/letter.odt"))
	if !bytes.HasPrefix(c.stored(t, "letter.odt"), []byte("age-encryption.org/v1")) {
		t.Errorf("outside /shared/ the ODT was not encrypted")
	}
	got := filepath.Join(t.TempDir(), "back.odt")
	if _, e, err := h.curl(t, "-f", "-o", got, c.URL()+"/shared/letter.odt"); err != nil {
		t.Fatalf("GET: %v: %s", err, e)
	}
	back, _ := os.ReadFile(got)
	sameDocumentText(t, "the local user's download", odt, back)
	if !h.auditSoon(t, `"method":"GET"`, `"path":"/shared/letter.odt"`, `"reidentified_names":`) {
		t.Errorf("audit lacks the download:\n%s", h.audit.String())
	}
}
