package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/pseudonym"
)

// ncDocumentValues are the personal values of the document fixtures
// (pseudonym/document/testdata): none may reach the server's copy or the
// gateway's logs.
var ncDocumentValues = []string{
	"19121212-1212", "191212121212", "701063-2391", "811218-9876", "8112189876", "198003154260", "194607137454",
	"Tolvansson", "Björn", "Anna Andersson", "Andersson", "Łukasz", "Żółć", "Karin", "Nilsson",
}

var ncTokenRE = regexp.MustCompile(pseudonym.TokenPattern)

func ncDocumentFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pseudonym", "document", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ncTokensOnly fails unless doc is a valid document (not an age file)
// with tokens and none of the fixtures' personal values in its text.
func ncTokensOnly(t *testing.T, what string, doc []byte) {
	t.Helper()
	if crypto.IsEncrypted(doc) {
		t.Fatalf("%s is an age file, not a pseudonymized document", what)
	}
	tokens := 0
	for name, text := range documentXMLText(t, what, doc) {
		for _, v := range ncDocumentValues {
			if strings.Contains(text, v) {
				t.Errorf("%s: %s holds a personal value", what, name)
			}
		}
		tokens += len(ncTokenRE.FindAllString(text, -1))
	}
	if tokens == 0 {
		t.Errorf("%s: no tokens", what)
	}
}

// ncNoPersonalValues fails if a fixture's personal value is in s.
func ncNoPersonalValues(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range append(ncDocumentValues, personal...) {
		if strings.Contains(s, v) {
			t.Errorf("%s contains a personal value of the fixtures (%d bytes in)", what, strings.Index(s, v))
		}
	}
}

// serverFile is what the test server stores under a name.
func (g *ncGateway) serverFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(g.srv.FilePath(name))
	if err != nil {
		t.Fatalf("the server holds no %s: %v", name, err)
	}
	return b
}

// serverDocuments are the files on the server that are not age files.
func (g *ncGateway) serverDocuments(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	root := g.srv.FilePath("")
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !crypto.IsEncrypted(b) {
			rel, _ := filepath.Rel(root, p)
			out[rel] = b
		}
		return nil
	})
	return out
}

// TestNextcloudDocumentsDesktop: through a nextcloud service with
// documents: "true", the real desktop client syncs up a DOCX and an XLSX
// in 3 001-byte chunks (so each is several chunks, no boundary on
// anything), a small DOCX in one PUT and a file that is not a document in
// chunks. The server holds the documents as valid documents with tokens
// and none of the personal values, the other file as an age file that
// `age -d` opens; a fresh folder synced down through the gateway (the
// local user may re-identify) holds documents whose text is the
// originals'. The audit log saw the chunks; neither log holds a personal
// value.
func TestNextcloudDocumentsDesktop(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	bin := nextcloudcmd(t)
	g := startNextcloudGatewayWith(t, ncSetup{options: "      options:\n        documents: \"true\"\n"})
	g.chunkSize = 3001
	g.srv.KeepRequests(true)
	src := t.TempDir()
	letter, register := ncDocumentFixture(t, "letter.docx"), ncDocumentFixture(t, "register.xlsx")
	other := randomBytes(20_000)
	files := map[string][]byte{"letter.docx": letter, "register.xlsx": register, "other.bin": other}
	for name, b := range files {
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	if out, err := g.sync(t, bin, src, true); err != nil {
		t.Fatalf("nextcloudcmd (up): %v\n%s", err, lastLines(out, 60))
	}
	chunks := 0
	for _, r := range g.srv.Requests() {
		if r.Method == http.MethodPut && strings.HasPrefix(r.Path, "/remote.php/dav/uploads/") {
			chunks++
		}
	}
	// The gateway stores each document as one chunk; other.bin is 7.
	if chunks < 3 {
		t.Errorf("the server saw %d chunk PUTs, want the documents' and other.bin's", chunks)
	}
	docs := g.serverDocuments(t)
	if len(docs) != 2 {
		t.Errorf("the server holds %d files that are not age files, want the 2 documents", len(docs))
	}
	for rel, b := range docs {
		ncTokensOnly(t, "the server's "+rel, b)
	}
	if got := g.storedFiles2(t, other); !got {
		t.Error("other.bin is not stored as an age file of its content")
	}

	dst := t.TempDir()
	if out, err := g.sync(t, bin, dst, true); err != nil {
		t.Fatalf("nextcloudcmd (down): %v\n%s", err, lastLines(out, 60))
	}
	for name, b := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil {
			t.Errorf("%s was not synced down: %v", name, err)
			continue
		}
		if name == "other.bin" {
			if !bytes.Equal(got, b) {
				t.Errorf("other.bin synced down differs")
			}
			continue
		}
		sameXMLText(t, name+" synced down", b, got)
	}
	// The listings give the documents' stored sizes, which are not the
	// local files': the client goes by ETags and moves nothing again.
	before := contentRequests(g.srv.Requests())
	for _, dir := range []string{src, dst} {
		if out, err := g.sync(t, bin, dir, true); err != nil {
			t.Fatalf("nextcloudcmd (again): %v\n%s", err, lastLines(out, 60))
		}
	}
	if n := contentRequests(g.srv.Requests()) - before; n != 0 {
		t.Errorf("a second sync moved file content: %d PUT/GET requests", n)
	}
	audit := g.p.audit.String()
	if n := strings.Count(audit, `"method":"PUT"`); n < 6 {
		t.Errorf("the audit log has %d PUTs; want every chunk of the client", n)
	}
	if !strings.Contains(audit, `"action":"pseudonymize"`) {
		t.Error("the audit log has no pseudonymize action")
	}
	ncNoPersonalValues(t, "the audit log", audit)
	ncNoPersonalValues(t, "the gateway's debug log", g.p.stderr.String())
}

// storedFiles2 reports whether one file on the server is an age file
// that `age -d` opens to want (the server also holds documents, which
// storedFiles refuses).
func (g *ncGateway) storedFiles2(t *testing.T, want []byte) bool {
	t.Helper()
	root := g.srv.FilePath("")
	found := false
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if !crypto.IsEncrypted(b) {
			return nil
		}
		out, err := exec.Command("age", "-d", "-i", g.identity, p).Output()
		if err == nil && bytes.Equal(out, want) {
			found = true
		}
		return nil
	})
	return found
}

// ncCurl sends a request with curl through the gateway (as user, if not
// empty) and returns the status and body.
func (g *ncGateway) ncCurl(t *testing.T, user, password, method, path string, body []byte, h map[string]string) (int, string) {
	t.Helper()
	args := []string{"-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--proxy", g.p.proxy, "--cacert", g.caFile,
		"-u", g.srv.User + ":" + g.srv.Password}
	if user != "" {
		args = append(args, "--proxy-user", user+":"+password)
	}
	for k, v := range h {
		args = append(args, "-H", k+": "+v)
	}
	if body != nil {
		f := filepath.Join(t.TempDir(), "body")
		os.WriteFile(f, body, 0o600)
		args = append(args, "--data-binary", "@"+f, "-H", "Content-Type:")
	}
	args = append(args, g.base+path)
	out, err := exec.Command("curl", args...).Output()
	if err != nil {
		t.Fatalf("curl %s %s: %v", method, path, err)
	}
	s := string(out)
	i := strings.LastIndex(s, "\n")
	code, _ := strconv.Atoi(s[i+1:])
	return code, s[:i]
}

// TestNextcloudDocumentsChunks: chunked uploads of documents sent with
// curl through a documents service. The web uploader's numbering (MKCOL
// with a Destination) and the desktop client's (the mode decided at the
// first chunk) store valid documents with tokens, in chunks not aligned
// to anything; alice (reidentify) reads them back re-identified, bob gets
// the tokens; listings give the stored sizes. Refused, with nothing of
// the document at the server: a .docx whose first chunk is no zip, one
// that is a broken zip (at the MOVE; the upload is ended), a document
// past limits.max_document_bytes (at MKCOL and at a chunk), a MOVE to a
// name of the other kind. Whole PUTs of documents are pseudonymized too,
// and refused when they are no zip or past the limit. An upload begun for a .bin stays encrypted when
// its chunks name a .docx. Neither log holds a personal value.
func TestNextcloudDocumentsChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed")
	}
	const limit = 64 << 10
	g := startNextcloudGatewayWith(t, ncSetup{
		users: []s3User{
			{name: "alice", password: "a-pass", rights: []string{"decrypt", "reidentify"}},
			{name: "bob", password: "b-pass", rights: []string{"decrypt"}},
		},
		options: "      options:\n        documents: \"true\"\n",
		gateway: fmt.Sprintf("  limits:\n    max_document_bytes: %d\n", limit),
	})
	g.srv.KeepRequests(true)
	user := g.srv.User
	files := "/remote.php/dav/files/" + user + "/"
	uploads := "/remote.php/dav/uploads/" + user + "/"
	dest := func(name string) string { return g.base + files + name }
	alice := func(method, path string, body []byte, h map[string]string) (int, string) {
		t.Helper()
		return g.ncCurl(t, "alice", "a-pass", method, path, body, h)
	}
	letter, register := ncDocumentFixture(t, "letter.docx"), ncDocumentFixture(t, "register.xlsx")

	// Web uploader numbering: chunks 1…3 of 2 500, 3 001 and the rest.
	h := map[string]string{"Destination": dest("letter.docx"), "OC-Total-Length": strconv.Itoa(len(letter))}
	if code, body := alice("MKCOL", uploads+"web-1", nil, h); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, body)
	}
	cuts := []int{0, 2500, 5501, len(letter)}
	for i := 1; i < len(cuts); i++ {
		if code, body := alice(http.MethodPut, fmt.Sprintf("%sweb-1/%d", uploads, i), letter[cuts[i-1]:cuts[i]], h); code != http.StatusCreated {
			t.Fatalf("chunk %d: %d %s", i, code, body)
		}
	}
	if n := len(g.srv.Requests()); n == 0 {
		t.Fatal("the server saw nothing")
	}
	for _, r := range g.srv.Requests() {
		if r.Method == http.MethodPut {
			t.Fatalf("a chunk of the document reached the server before the MOVE: %s", r.Path)
		}
	}
	// The folder lists the chunks as the client sent them.
	_, listing := alice("PROPFIND", uploads+"web-1", nil, map[string]string{"Depth": "1"})
	for i := 1; i < len(cuts); i++ {
		if !strings.Contains(listing, fmt.Sprintf("web-1/%d</d:href>", i)) || !strings.Contains(listing, fmt.Sprintf("<d:getcontentlength>%d<", cuts[i]-cuts[i-1])) {
			t.Errorf("PROPFIND of the upload folder does not list chunk %d with its size:\n%s", i, listing)
		}
	}
	if code, body := alice("MOVE", uploads+"web-1/.file", nil, h); code/100 != 2 {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	stored := g.serverFile(t, "letter.docx")
	ncTokensOnly(t, "the server's letter.docx", stored)

	// Desktop numbering: MKCOL without a Destination, chunks from 0; the
	// first chunk's Destination decides, a later one cannot switch.
	if code, body := alice("MKCOL", uploads+"4711", nil, nil); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, body)
	}
	cuts = []int{0, 4097, len(register)}
	for i := 1; i < len(cuts); i++ {
		d := dest("register.xlsx")
		if i == 2 {
			d = dest("register.bin")
		}
		hh := map[string]string{"Destination": d, "OC-Chunk-Offset": strconv.Itoa(cuts[i-1])}
		if code, body := alice(http.MethodPut, fmt.Sprintf("%s4711/%016d", uploads, i-1), register[cuts[i-1]:cuts[i]], hh); code != http.StatusCreated {
			t.Fatalf("chunk %d: %d %s", i-1, code, body)
		}
	}
	if code, body := alice("MOVE", uploads+"4711/.file", nil, map[string]string{"Destination": dest("register.xlsx"), "OC-Total-Length": strconv.Itoa(len(register))}); code/100 != 2 {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	ncTokensOnly(t, "the server's register.xlsx", g.serverFile(t, "register.xlsx"))

	// Back: alice re-identified, bob with tokens; listings give the
	// stored size, no age overhead taken off.
	for name, orig := range map[string][]byte{"letter.docx": letter, "register.xlsx": register} {
		code, body := alice(http.MethodGet, files+name, nil, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s by alice: %d", name, code)
		}
		sameXMLText(t, name+" read by alice", orig, []byte(body))
		code, body = g.ncCurl(t, "bob", "b-pass", http.MethodGet, files+name, nil, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s by bob: %d", name, code)
		}
		ncTokensOnly(t, name+" read by bob", []byte(body))
		size := len(g.serverFile(t, name))
		_, listing := alice("PROPFIND", files+name, nil, map[string]string{"Depth": "0"})
		for _, prop := range []string{"d:getcontentlength", "oc:size"} {
			if want := fmt.Sprintf("<%s>%d</%s>", prop, size, prop); !strings.Contains(listing, want) {
				t.Errorf("PROPFIND of %s: no %s, listing:\n%s", name, want, listing)
			}
		}
	}

	// Refusals: nothing of these documents reaches the server.
	before := len(g.srv.Requests())
	h = map[string]string{"Destination": dest("fake.docx")}
	if code, body := alice("MKCOL", uploads+"fake-1", nil, h); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, body)
	}
	if code, body := alice(http.MethodPut, uploads+"fake-1/1", []byte("Journal för 19121212-1212 Tolvan Tolvansson, no zip\n"), h); code != http.StatusBadRequest {
		t.Errorf("a .docx chunk that is no zip: %d %s, want 400", code, body)
	}
	broken := append([]byte("PK\x03\x04"), []byte(strings.Repeat("Tolvan Tolvansson 19121212-1212 ", 100))...)
	h = map[string]string{"Destination": dest("broken.docx")}
	alice("MKCOL", uploads+"broken-1", nil, h)
	for i, part := range [][]byte{broken[:1000], broken[1000:]} {
		if code, body := alice(http.MethodPut, fmt.Sprintf("%sbroken-1/%d", uploads, i+1), part, h); code != http.StatusCreated {
			t.Fatalf("chunk %d of the broken zip: %d %s", i+1, code, body)
		}
	}
	if code, body := alice("MOVE", uploads+"broken-1/.file", nil, h); code != http.StatusBadRequest || !strings.Contains(body, "nothing was sent") {
		t.Errorf("MOVE of a broken zip: %d %s, want 400", code, body)
	}
	if _, err := os.Stat(filepath.Join(g.srv.Dir, "uploads", user, "broken-1")); err == nil {
		t.Error("the refused document's upload folder is still at the server")
	}
	h = map[string]string{"Destination": dest("big.docx"), "OC-Total-Length": strconv.Itoa(limit + 1)}
	if code, body := alice("MKCOL", uploads+"big-1", nil, h); code != http.StatusRequestEntityTooLarge {
		t.Errorf("MKCOL of a document past the limit: %d %s, want 413", code, body)
	}
	h = map[string]string{"Destination": dest("big.docx")}
	alice("MKCOL", uploads+"big-2", nil, h)
	big := append(bytes.Clone(letter), randomBytes(limit)...)
	if code, body := alice(http.MethodPut, uploads+"big-2/1", big[:limit/2], h); code != http.StatusCreated {
		t.Fatalf("chunk 1 of the big document: %d %s", code, body)
	}
	if code, body := alice(http.MethodPut, uploads+"big-2/2", big[limit/2:], h); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a chunk past the limit: %d %s, want 413", code, body)
	}
	alice(http.MethodDelete, uploads+"big-2", nil, nil)
	for _, r := range g.srv.Requests()[before:] {
		if r.Method == http.MethodPut || r.Method == "MOVE" {
			t.Errorf("a refused document reached the server: %s %s", r.Method, r.Path)
		}
	}
	for _, name := range []string{"fake.docx", "broken.docx", "big.docx"} {
		if _, err := os.Stat(g.srv.FilePath(name)); err == nil {
			t.Errorf("the server holds %s", name)
		}
	}

	// The desktop client's upload of a document past the limit names
	// its file only at the MOVE: too late to wait, its chunks went up
	// encrypted; the MOVE is refused and nothing is stored.
	if code, body := alice("MKCOL", uploads+"4712", nil, map[string]string{"OC-Total-Length": strconv.Itoa(len(big))}); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, body)
	}
	if code, body := alice(http.MethodPut, fmt.Sprintf("%s4712/%016d", uploads, 0), big, map[string]string{"OC-Chunk-Offset": "0"}); code != http.StatusCreated {
		t.Fatalf("chunk 0 of a big upload that names no file: %d %s", code, body)
	}
	if code, body := alice("MOVE", uploads+"4712/.file", nil, map[string]string{"Destination": dest("big3.docx")}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("MOVE of a big upload to a .docx: %d %s, want 413", code, body)
	}
	if _, err := os.Stat(g.srv.FilePath("big3.docx")); err == nil {
		t.Error("the server holds big3.docx")
	}

	// Whole PUTs: the documents profile's rules, with the gateway's
	// limits.
	if code, body := alice(http.MethodPut, files+"whole.docx", letter, nil); code/100 != 2 {
		t.Fatalf("PUT of a whole document: %d %s", code, body)
	}
	ncTokensOnly(t, "the server's whole.docx", g.serverFile(t, "whole.docx"))
	if code, body := alice(http.MethodPut, files+"whole-fake.docx", []byte("Tolvan Tolvansson 19121212-1212"), nil); code != http.StatusBadRequest {
		t.Errorf("PUT of a .docx that is no zip: %d %s, want 400", code, body)
	}
	if code, body := alice(http.MethodPut, files+"whole-big.docx", big, nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT of a document past the limit: %d %s, want 413", code, body)
	}
	for _, name := range []string{"whole-fake.docx", "whole-big.docx"} {
		if _, err := os.Stat(g.srv.FilePath(name)); err == nil {
			t.Errorf("the server holds %s", name)
		}
	}

	// An upload begun for a .bin is encrypted, whatever its chunks and
	// MOVE name later; a MOVE to a document's name is refused.
	file := randomBytes(9000)
	h = map[string]string{"Destination": dest("plain.bin")}
	alice("MKCOL", uploads+"bin-1", nil, h)
	hd := map[string]string{"Destination": dest("plain.docx")}
	if code, body := alice(http.MethodPut, uploads+"bin-1/1", file[:5000], hd); code != http.StatusCreated {
		t.Fatalf("chunk 1: %d %s", code, body)
	}
	if code, body := alice(http.MethodPut, uploads+"bin-1/2", file[5000:], h); code != http.StatusCreated {
		t.Fatalf("chunk 2: %d %s", code, body)
	}
	if code, body := alice("MOVE", uploads+"bin-1/.file", nil, hd); code != http.StatusBadRequest {
		t.Errorf("MOVE of a .bin upload to a .docx: %d %s, want 400", code, body)
	}
	if code, body := alice("MOVE", uploads+"bin-1/.file", nil, h); code/100 != 2 {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	if !g.storedFiles2(t, file) {
		t.Error("plain.bin is not stored as an age file of its content")
	}

	audit := g.p.audit.String()
	for _, m := range []string{`"method":"MKCOL"`, `"method":"MOVE"`, `"method":"PUT"`, `"user":"alice"`, `"user":"bob"`} {
		if !strings.Contains(audit, m) {
			t.Errorf("the audit log has no %s", m)
		}
	}
	ncNoPersonalValues(t, "the audit log", audit)
	ncNoPersonalValues(t, "the gateway's debug log", g.p.stderr.String())
}

// auditedChunks counts the chunk PUTs the gateway's audit log shows
// answered with 201.
func (g *ncGateway) auditedChunks(t *testing.T) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(g.p.audit.String(), "\n") {
		var ev struct {
			Method, Path string
			Status       int
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Method == http.MethodPut && strings.HasPrefix(ev.Path, "/remote.php/dav/uploads/") && ev.Status == http.StatusCreated {
			n++
		}
	}
	return n
}

// TestNextcloudDocumentsDesktopResume: in a documents service the
// desktop client's upload of a file that is no document (23 MiB, under
// limits.max_document_bytes) is spooled until its MOVE, since its name
// comes only then. nextcloudcmd killed in the middle resumes from the
// chunks the gateway lists for the upload folder, sends only the rest,
// and the server ends up with one age file that `age -d` opens to the
// file; nothing of it reached the server before the MOVE.
func TestNextcloudDocumentsDesktopResume(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	bin := nextcloudcmd(t)
	g := startNextcloudGatewayWith(t, ncSetup{options: "      options:\n        documents: \"true\"\n"})
	g.srv.KeepRequests(true)
	src := t.TempDir()
	file := randomFile(t, src, "resume.bin", 23*mib)
	cmd := g.syncCommand(t, bin, src, true, "--uplimit", "3000")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for g.auditedChunks(t) < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the gateway took %d chunks in two minutes\n%s", g.auditedChunks(t), lastLines(out.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	before := g.auditedChunks(t)
	for _, r := range g.srv.Requests() {
		if r.Method == http.MethodPut {
			t.Errorf("a chunk of an upload that names no file reached the server before its MOVE: %s", r.Path)
		}
	}
	resumed, err := g.sync(t, bin, src, true)
	if err != nil {
		t.Fatalf("nextcloudcmd (resume): %v\n%s", err, lastLines(resumed, 60))
	}
	if !strings.Contains(resumed, "Resuming") {
		t.Errorf("nextcloudcmd did not resume the upload:\n%s", lastLines(resumed, 60))
	}
	// 5 chunks of 5 000 001 bytes; those taken before the kill are not
	// sent again.
	if total := g.auditedChunks(t); total > 5 || total <= before {
		t.Errorf("the gateway took %d chunks before the kill and %d in all, want the rest of 5 after", before, total)
	}
	if !g.storedFiles2(t, file) {
		t.Error("resume.bin on the server does not decrypt to the file")
	}
	t.Logf("%d chunks taken before the kill, %d in all", before, g.auditedChunks(t))
}

// TestNextcloudUploadOwner: Nextcloud takes an uploads path's account
// segment for nothing (the logged-in user's folder is used), so two
// gateway users naming the same upload folder must not share its state:
// bob, on the same server account, neither lists alice's spooled chunks,
// nor replaces one, nor moves her document to his name, nor discards it,
// and alice's MOVE still stores her document.
func TestNextcloudUploadOwner(t *testing.T) {
	const limit = 64 << 10
	g := startNextcloudGatewayWith(t, ncSetup{
		users: []s3User{
			{name: "alice", password: "a-pass", rights: []string{"decrypt", "reidentify"}},
			{name: "bob", password: "b-pass", rights: []string{"decrypt", "reidentify"}},
		},
		options: "      options:\n        documents: \"true\"\n",
		gateway: fmt.Sprintf("  limits:\n    max_document_bytes: %d\n", limit),
	})
	user := g.srv.User
	files := "/remote.php/dav/files/" + user + "/"
	folder := "/remote.php/dav/uploads/" + user + "/web-1"
	dest := func(name string) string { return g.base + files + name }
	as := func(who, method, path string, body []byte, h map[string]string) (int, string) {
		return g.ncCurl(t, who, who[:1]+"-pass", method, path, body, h)
	}
	letter := ncDocumentFixture(t, "letter.docx")
	h := map[string]string{"Destination": dest("letter.docx"), "OC-Total-Length": strconv.Itoa(len(letter))}
	if code, body := as("alice", "MKCOL", folder, nil, h); code != http.StatusCreated {
		t.Fatalf("alice's MKCOL: %d %s", code, body)
	}
	cuts := []int{0, 2500, 5501, len(letter)}
	for i := 1; i < len(cuts); i++ {
		if code, body := as("alice", http.MethodPut, fmt.Sprintf("%s/%d", folder, i), letter[cuts[i-1]:cuts[i]], h); code != http.StatusCreated {
			t.Fatalf("alice's chunk %d: %d %s", i, code, body)
		}
	}
	if _, listing := as("bob", "PROPFIND", folder, nil, map[string]string{"Depth": "1"}); strings.Contains(listing, ">2500<") || strings.Contains(listing, ">3001<") {
		t.Errorf("bob's PROPFIND lists alice's spooled chunks: %s", listing)
	}
	if code, _ := as("bob", http.MethodPut, folder+"/3", []byte("PK\x03\x04 bob's bytes"), h); code/100 == 2 {
		t.Errorf("bob's chunk in alice's upload: %d", code)
	}
	if code, _ := as("bob", "MOVE", folder+"/.file", nil, map[string]string{"Destination": dest("bob-stolen.docx"), "OC-Total-Length": strconv.Itoa(len(letter))}); code/100 == 2 {
		t.Errorf("bob's MOVE of alice's upload to his name: %d", code)
	}
	if _, err := os.Stat(g.srv.FilePath("bob-stolen.docx")); err == nil {
		t.Error("alice's document was stored under bob's name")
	}
	if code, body := as("alice", "MOVE", folder+"/.file", nil, h); code != http.StatusCreated && code != http.StatusNoContent {
		t.Fatalf("alice's MOVE after bob's attempts: %d %s", code, body)
	}
	stored := g.serverFile(t, "letter.docx")
	ncTokensOnly(t, "alice's stored letter.docx", stored)
	if code, got := as("alice", http.MethodGet, files+"letter.docx", nil, nil); code != http.StatusOK {
		t.Errorf("alice's GET: %d", code)
	} else {
		sameXMLText(t, "alice's letter.docx", letter, []byte(got))
	}
}
