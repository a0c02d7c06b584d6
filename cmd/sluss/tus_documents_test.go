package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluss/sluss/pseudonym"
	"github.com/sluss/sluss/pseudonym/document"
)

// tusDocumentValues are the personal values of the document fixtures
// (pseudonym/document/testdata) and of the tests' file names.
var tusDocumentValues = []string{
	"19121212-1212", "121212-1212", "191212121212", "701063-2391", "19701063-2391",
	"811218-9876", "Tolvan", "Tolvansson", "Anna Andersson", "Andersson", "1212121212",
	"Björn", "Ängström", "Karin", "Nilsson", "Łukasz", "Żółć", "8112189876", "198003154260", "194607137454",
}

var tusTokenRE = regexp.MustCompile(pseudonym.TokenPattern)

// checkTusPseudonymized: doc is a valid document with tokens and none of
// the personal values in its XML.
func checkTusPseudonymized(t *testing.T, what string, doc []byte) {
	t.Helper()
	tokens := 0
	for name, text := range documentXMLText(t, what, doc) {
		for _, v := range tusDocumentValues {
			if strings.Contains(text, v) {
				t.Errorf("%s: %s holds a personal value", what, name)
			}
		}
		tokens += len(tusTokenRE.FindAllString(text, -1))
	}
	if tokens == 0 {
		t.Errorf("%s: no tokens", what)
	}
}

// TestTusDocuments: a tus service with documents "true". tus-js-client
// uploads letter.docx and register.xlsx (one with a deferred length) in
// PATCHes of a few KiB; tusd stores valid documents with tokens in place
// of the names and personnummer, the gateway audited every PATCH and one
// pseudonymization per document, alice (reidentify) downloads documents
// that read like the originals, bob gets tokens. A .docx that is no zip
// and a document past limits.max_document_bytes are refused with nothing
// of them at tusd; a wrong Upload-Checksum on a piece is refused and the
// right one then taken; termination removes a document upload; a
// document sent whole with its creation is pseudonymized too; the mode
// is the creation's (a document in an upload created as data.bin goes
// encrypted); a file that is no document still arrives at tusd as an age
// file. No personal value is in the gateway's logs or tusd's files.
func TestTusDocuments(t *testing.T) {
	const limit = 200_000
	g := startTusRigWith(t, tusRigConfig{
		service: "      options:\n        documents: \"true\"\n",
		gateway: "  limits:\n    max_document_bytes: " + strconv.Itoa(limit) + "\n",
	})
	alice := g.client(t, "alice")
	fixture := func(name string) (string, []byte) {
		p := filepath.Join("..", "..", "pseudonym", "document", "testdata", name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, b
	}

	docxPath, docx := fixture("letter.docx")
	xlsxPath, xlsx := fixture("register.xlsx")
	uploads := []struct {
		what, file string
		want       []byte
		r          jsResult
	}{
		{what: "letter.docx", file: docxPath, want: docx},
		{what: "register.xlsx", file: xlsxPath, want: xlsx},
	}
	uploads[0].r = g.upload(t, jsUpload{File: docxPath, ChunkSize: 2999,
		Metadata: map[string]string{"filename": tusName + " " + tusPnr + " letter.docx", "filetype": document.DOCX.ContentType()}})
	uploads[1].r = g.upload(t, jsUpload{File: xlsxPath, ChunkSize: 3001, DeferLength: true,
		Metadata: map[string]string{"filename": "register.xlsx", "filetype": "application/octet-stream"}})

	for _, u := range uploads {
		id := path.Base(u.r.URL)
		stored, err := os.ReadFile(g.stored(u.r.URL))
		if err != nil {
			t.Fatalf("%s: tusd has no file: %v", u.what, err)
		}
		checkTusPseudonymized(t, u.what+" at tusd", stored)
		// Pieces of 3 KB: three PATCHes (the deferred one may add an
		// empty one for its length), all through the gateway; one
		// pseudonymization, the last.
		if n := g.auditLines(id, `"method":"PATCH"`, `"service":"uploads"`); n < 3 {
			t.Errorf("%s: the audit log has %d PATCH events, want at least 3", u.what, n)
		}
		if n := g.auditLines(id, `"method":"PATCH"`, `"action":"pseudonymize"`); n != 1 {
			t.Errorf("%s: the audit log has %d PATCH events that pseudonymized, want 1", u.what, n)
		}
		// tusd got the rewritten document in one PATCH, never a piece.
		if n := g.tusdSaw("PATCH", id); n != 1 {
			t.Errorf("%s: tusd got %d PATCH requests, want the gateway's 1", u.what, n)
		}

		resp, got := g.download(t, "alice", u.r.URL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: alice's download: %s", u.what, resp.Status)
		}
		sameXMLText(t, u.what+" downloaded by alice", u.want, got)
		resp, got = g.download(t, "bob", u.r.URL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: bob's download: %s", u.what, resp.Status)
		}
		checkTusPseudonymized(t, u.what+" downloaded by bob", got)

		hr := tusDo(t, alice, http.MethodHead, u.r.URL, nil, nil)
		size := strconv.Itoa(len(u.want))
		if hr.StatusCode != http.StatusOK || hr.Header.Get("Upload-Offset") != size || hr.Header.Get("Upload-Length") != size {
			t.Errorf("%s: HEAD: %s, Upload-Offset %q, Upload-Length %q, want %s for both", u.what, hr.Status, hr.Header.Get("Upload-Offset"), hr.Header.Get("Upload-Length"), size)
		}
	}
	if md := decodeMetadata(tusDo(t, alice, http.MethodHead, uploads[0].r.URL, nil, nil).Header.Get("Upload-Metadata")); !strings.HasPrefix(md["filename"], tusName+" "+tusPnr) {
		t.Errorf("alice's HEAD: the file name is not re-identified: %q", md["filename"])
	}
	if g.auditLines(`"method":"GET"`, `"user":"alice"`, `"reidentified_`) < 2 {
		t.Error("the audit log has no re-identified GET of alice's for each document")
	}

	docMeta := func(name string) string {
		return "filename " + base64.StdEncoding.EncodeToString([]byte(name))
	}
	create := func(what string, h map[string]string) (string, string) {
		t.Helper()
		r := tusDo(t, alice, http.MethodPost, g.endpoint, nil, h)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("%s: POST: %s", what, r.Status)
		}
		u := r.Header.Get("Location")
		return u, path.Base(u)
	}

	// A .docx that is no zip: refused at its first piece, and the
	// upload is gone at tusd, which never got a byte of it.
	notZip := []byte("Besök av " + tusName + ", " + tusPnr + ", hemma hos Karin Nilsson.")
	u, id := create("notes.docx", map[string]string{"Upload-Length": strconv.Itoa(len(notZip)), "Upload-Metadata": docMeta("notes.docx")})
	r := tusDo(t, alice, http.MethodPatch, u, notZip, patchHeaders(0))
	if body, _ := io.ReadAll(r.Body); r.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not one") {
		t.Errorf("PATCH of a .docx that is no zip: %s %q, want 400", r.Status, body)
	}
	if n := g.tusdSaw("PATCH", id); n != 0 {
		t.Errorf("tusd got %d PATCH requests of the refused .docx", n)
	}
	if _, err := os.Stat(g.stored(u)); !os.IsNotExist(err) {
		t.Errorf("tusd still has the refused upload (%v)", err)
	}

	// An unfinished document upload is its creator's alone: its pieces
	// have not reached tusd, so tusd cannot guard them.
	bob := g.client(t, "bob")
	half := []byte("PK\x03\x04 half of a document")
	u, _ = create("shared.docx", map[string]string{"Upload-Length": strconv.Itoa(2 * len(half)), "Upload-Metadata": docMeta("shared.docx")})
	if r := tusDo(t, alice, http.MethodPatch, u, half, patchHeaders(0)); r.StatusCode != http.StatusNoContent {
		t.Fatalf("alice's first PATCH of shared.docx: %s", r.Status)
	}
	for _, m := range []string{http.MethodPatch, http.MethodHead, http.MethodDelete} {
		var body []byte
		if m == http.MethodPatch {
			body = half
		}
		if r := tusDo(t, bob, m, u, body, patchHeaders(int64(len(half)))); r.StatusCode != http.StatusNotFound {
			t.Errorf("bob's %s of alice's unfinished document upload: %s, want 404", m, r.Status)
		}
	}
	if r := tusDo(t, alice, http.MethodHead, u, nil, nil); r.StatusCode != http.StatusOK || r.Header.Get("Upload-Offset") != strconv.Itoa(len(half)) {
		t.Errorf("alice's HEAD after bob's attempts: %s, offset %q, want %d", r.Status, r.Header.Get("Upload-Offset"), len(half))
	}

	// A zip that is no document: taken piece by piece, refused when whole
	// (the parser's refusal), the upload gone at tusd, which got nothing.
	fake := make([]byte, 9000)
	rand.Read(fake)
	copy(fake, "PK\x03\x04")
	u, id = create("fake.xlsx", map[string]string{"Upload-Length": strconv.Itoa(len(fake)), "Upload-Metadata": docMeta("fake.xlsx")})
	if r := tusDo(t, alice, http.MethodPatch, u, fake[:5000], patchHeaders(0)); r.StatusCode != http.StatusNoContent {
		t.Errorf("first PATCH of a zip that is no document: %s, want 204", r.Status)
	}
	if r := tusDo(t, alice, http.MethodPatch, u, fake[5000:], patchHeaders(5000)); r.StatusCode != http.StatusBadRequest {
		t.Errorf("last PATCH of a zip that is no document: %s, want 400", r.Status)
	}
	if n := g.tusdSaw("PATCH", id); n != 0 {
		t.Errorf("tusd got %d PATCH requests of the zip that is no document", n)
	}
	if _, err := os.Stat(g.stored(u)); !os.IsNotExist(err) {
		t.Errorf("tusd still has the refused upload (%v)", err)
	}
	if r := tusDo(t, alice, http.MethodHead, u, nil, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD of the refused upload: %s, want 404", r.Status)
	}

	// Past limits.max_document_bytes: with a declared length, at the
	// creation, with nothing at tusd; with a deferred one, at the piece
	// that passes it.
	posts := g.tusdSaw("POST", "")
	if r := tusDo(t, alice, http.MethodPost, g.endpoint, nil, map[string]string{"Upload-Length": strconv.Itoa(limit + 1), "Upload-Metadata": docMeta("big.docx")}); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of a document past the limit: %s, want 413", r.Status)
	}
	if g.tusdSaw("POST", "") != posts {
		t.Error("the creation of a document past the limit reached tusd")
	}
	big := make([]byte, limit+5000)
	rand.Read(big)
	copy(big, "PK\x03\x04")
	u, id = create("big.docx deferred", map[string]string{"Upload-Defer-Length": "1", "Upload-Metadata": docMeta("big.docx")})
	const piece = 60_000
	status := 0
	for off := 0; off < len(big) && status != http.StatusRequestEntityTooLarge; off += piece {
		r := tusDo(t, alice, http.MethodPatch, u, big[off:min(off+piece, len(big))], patchHeaders(int64(off)))
		status = r.StatusCode
		if status != http.StatusNoContent && status != http.StatusRequestEntityTooLarge {
			t.Fatalf("PATCH at %d of the deferred big document: %s", off, r.Status)
		}
	}
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("a deferred document past the limit was taken whole")
	}
	if n := g.tusdSaw("PATCH", id); n != 0 {
		t.Errorf("tusd got %d PATCH requests of the document past the limit", n)
	}

	// Upload-Checksum is checked on each piece's bytes; termination
	// removes an upload in document mode at tusd and at the gateway.
	u, id = create("letter.docx by hand", map[string]string{"Upload-Length": strconv.Itoa(len(docx)), "Upload-Metadata": docMeta("letter.docx")})
	sha1Of := func(b []byte) string { s := sha1.Sum(b); return "sha1 " + base64.StdEncoding.EncodeToString(s[:]) }
	if r := tusDo(t, alice, http.MethodPatch, u, docx[:4000], patchHeaders(0, "Upload-Checksum", sha1Of(docx[:3999]))); r.StatusCode != 460 {
		t.Errorf("PATCH with a wrong Upload-Checksum: %s, want 460", r.Status)
	}
	if r := tusDo(t, alice, http.MethodPatch, u, docx[:4000], patchHeaders(0, "Upload-Checksum", sha1Of(docx[:4000]))); r.StatusCode != http.StatusNoContent || r.Header.Get("Upload-Offset") != "4000" {
		t.Errorf("PATCH with the right Upload-Checksum: %s, Upload-Offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	if r := tusDo(t, alice, http.MethodPatch, u, docx[4000:], patchHeaders(3000)); r.StatusCode != http.StatusConflict {
		t.Errorf("PATCH at a wrong offset: %s, want 409", r.Status)
	}
	if r := tusDo(t, alice, http.MethodGet, u, nil, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("GET of a document upload in progress: %s, want 409", r.Status)
	}
	if r := tusDo(t, alice, http.MethodDelete, u, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE: %s", r.Status)
	}
	if r := tusDo(t, alice, http.MethodHead, u, nil, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD after DELETE: %s, want 404", r.Status)
	}
	if n := g.tusdSaw("PATCH", id); n != 0 {
		t.Errorf("tusd got %d PATCH requests of the terminated document upload", n)
	}

	// creation-with-upload: the whole document in the POST.
	r = tusDo(t, alice, http.MethodPost, g.endpoint, docx, map[string]string{"Upload-Length": strconv.Itoa(len(docx)),
		"Upload-Metadata": docMeta("letter.docx"), "Content-Type": "application/offset+octet-stream"})
	if r.StatusCode != http.StatusCreated || r.Header.Get("Upload-Offset") != strconv.Itoa(len(docx)) {
		t.Fatalf("POST with the whole document: %s, Upload-Offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	withUpload, _ := os.ReadFile(g.stored(r.Header.Get("Location")))
	checkTusPseudonymized(t, "the document created with its body", withUpload)

	// creation-with-upload with a wrong Upload-Checksum: 460 without a
	// Location, so the upload goes at once rather than wait in the spool
	// for nobody (tusd got its creation, never a byte).
	posts, patches := g.tusdSaw("POST", ""), g.tusdSaw("PATCH", "")
	deletes := func() int { return strings.Count(g.tusdLog.String(), "event=RequestIncoming method=DELETE ") }
	deleted := deletes()
	r = tusDo(t, alice, http.MethodPost, g.endpoint, docx, map[string]string{"Upload-Length": strconv.Itoa(len(docx)),
		"Upload-Metadata": docMeta("letter.docx"), "Content-Type": "application/offset+octet-stream", "Upload-Checksum": sha1Of(docx[1:])})
	if r.StatusCode != 460 || r.Header.Get("Location") != "" {
		t.Errorf("POST with the whole document and a wrong Upload-Checksum: %s, Location %q, want 460 and none", r.Status, r.Header.Get("Location"))
	}
	if g.tusdSaw("POST", "") != posts+1 || g.tusdSaw("PATCH", "") != patches {
		t.Errorf("tusd saw %d POST and %d PATCH requests for it, want 1 and 0", g.tusdSaw("POST", "")-posts, g.tusdSaw("PATCH", "")-patches)
	}
	if deletes() != deleted+1 {
		t.Error("the upload created for the refused POST was not terminated at tusd")
	}

	// The mode is the creation's: a document's bytes in an upload created
	// as data.bin go encrypted, whatever a later request says.
	u, _ = create("data.bin holding a document", map[string]string{"Upload-Length": strconv.Itoa(len(docx)), "Upload-Metadata": docMeta("data.bin")})
	if r := tusDo(t, alice, http.MethodPatch, u, docx, patchHeaders(0, "Upload-Metadata", docMeta("letter.docx"))); r.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH of data.bin: %s", r.Status)
	}
	g.checkStored(t, u, docx)

	// Not a document (by name and type): encrypted as without the option.
	src := t.TempDir()
	data := randomFile(t, src, "data", 20_000)
	plain := g.upload(t, jsUpload{File: filepath.Join(src, "data"), ChunkSize: 7000,
		Metadata: map[string]string{"filename": tusName + " data.bin", "filetype": "application/octet-stream"}})
	g.checkStored(t, plain.URL, data)
	if resp, got := g.download(t, "alice", plain.URL); resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("download of the encrypted file: %s, identical %v", resp.Status, bytes.Equal(got, data))
	}

	g.checkNoPersonalData(t)
	for what, text := range map[string]string{"debug log": g.p.stderr.String(), "audit log": g.p.audit.String(), "tusd's log": g.tusdLog.String()} {
		for _, v := range tusDocumentValues {
			if strings.Contains(text, v) {
				t.Errorf("the %s contains a personal value of the documents", what)
			}
		}
	}
}
