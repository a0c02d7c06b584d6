package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway/s3"
	"github.com/sluss/sluss/internal/s3test"
	"github.com/sluss/sluss/pseudonym"
)

// s3DocumentValues are the personal values of the document fixtures
// (pseudonym/document/testdata): none may reach the provider's copy or
// the gateway's logs.
var s3DocumentValues = []string{
	"19121212-1212", "191212121212", "701063-2391", "811218-9876", "8112189876", "198003154260", "194607137454",
	"Tolvansson", "Björn", "Ängström", "Anna Andersson", "Andersson", "Łukasz", "Żółć", "Karin", "Nilsson",
}

var s3TokenRE = regexp.MustCompile(pseudonym.TokenPattern)

func s3DocumentFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pseudonym", "document", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// paddedDocument is doc with a stored (uncompressed) part of pad random
// bytes (a picture, which passes as it is), so that it is larger than
// S3's 5 MiB part minimum.
func paddedDocument(t *testing.T, doc []byte, pad int) []byte {
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
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "word/media/padding.png", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, pad)
	rand.Read(b)
	w.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// documentXMLText is the joined character data of each XML part of a
// document; the test fails when it is no valid archive of well-formed
// parts.
func documentXMLText(t *testing.T, what string, doc []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatalf("%s: not a document: %v", what, err)
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
				t.Fatalf("%s: %s is not well-formed: %v", what, f.Name, err)
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

// checkTokensOnly fails unless doc is a valid document with tokens and
// none of the fixtures' personal values in its text.
func checkTokensOnly(t *testing.T, what string, doc []byte) {
	t.Helper()
	if crypto.IsEncrypted(doc) {
		t.Fatalf("%s is an age file, not a pseudonymized document", what)
	}
	tokens := 0
	for name, text := range documentXMLText(t, what, doc) {
		for _, v := range s3DocumentValues {
			if strings.Contains(text, v) {
				t.Errorf("%s: %s holds a personal value", what, name)
			}
		}
		tokens += len(s3TokenRE.FindAllString(text, -1))
	}
	if tokens == 0 {
		t.Errorf("%s: no tokens", what)
	}
}

func sameXMLText(t *testing.T, what string, want, got []byte) {
	t.Helper()
	w, g := documentXMLText(t, what+" (original)", want), documentXMLText(t, what, got)
	if len(w) != len(g) {
		t.Errorf("%s: %d XML parts, want %d", what, len(g), len(w))
	}
	for name, text := range w {
		if g[name] != text {
			t.Errorf("%s: %s reads differently from the original", what, name)
		}
	}
}

// direct sends a signed request straight to versitygw, as the provider
// would answer anyone.
func (g *s3Gateway) direct(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, g.srv.URL+path, nil)
	if err := s3.Sign(req, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(resp)
}

// TestS3Documents: through an s3 service with documents: "true", office
// documents uploaded whole or in parts (kept across a gateway restart;
// the aws cli's multipart upload
// of a DOCX over 5 MiB, a signed multipart of small unaligned parts, the
// cli's PutObject of an XLSX, minio-go's aws-chunked bodies with
// checksum trailers) reach versitygw as valid documents with
// tokens; alice (reidentify) downloads them re-identified, whole and in
// ranges, bob gets the tokens; a .docx that is no zip, whole or in
// parts, and a document over limits.max_document_bytes are refused with
// nothing of them stored; a file that is not a document is still one age
// file; neither log holds a personal value.
func TestS3Documents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t).AWS
	alice := s3User{"alice", "a-pass", []string{"decrypt", "reidentify"}}
	bob := s3User{"bob", "b-pass", []string{"decrypt"}}
	const limit = 10 * mib
	g := startS3GatewayWith(t, s3Setup{
		users:   []s3User{alice, bob},
		options: "      options:\n        documents: \"true\"\n",
		gateway: fmt.Sprintf("  limits:\n    max_document_bytes: %d\n    max_spool_bytes_per_user: %d\n", limit, 2*limit),
	})
	src := t.TempDir()
	letter, register := s3DocumentFixture(t, "letter.docx"), s3DocumentFixture(t, "register.xlsx")
	big := paddedDocument(t, letter, 7*mib+12345) // two parts of the cli's 5 MiB
	over := paddedDocument(t, letter, limit+mib)
	plain := make([]byte, 6*mib)
	rand.Read(plain)
	files := map[string][]byte{"big.docx": big, "register.xlsx": register, "over.docx": over, "data.bin": plain}
	for name, b := range files {
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	envAs := func(u s3User) []string {
		env := append(g.clientEnv(t), "HTTP_PROXY="+g.proxyAs(u), "http_proxy="+g.proxyAs(u))
		for _, kv := range env {
			if f, ok := strings.CutPrefix(kv, "AWS_CONFIG_FILE="); ok {
				// Parts of 5 MiB (S3's minimum), for uploads and downloads.
				os.WriteFile(f, []byte("[default]\ns3 =\n    multipart_threshold = 5MB\n    multipart_chunksize = 5MB\n"), 0o600)
			}
		}
		return env
	}
	awsAs := func(u s3User, args ...string) (string, error) {
		cmd := exec.Command(cl, append([]string{"--endpoint-url", g.endpoint}, args...)...)
		cmd.Env = envAs(u)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustAWS := func(u s3User, args ...string) {
		t.Helper()
		if out, err := awsAs(u, args...); err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	stored := func(key string) []byte {
		t.Helper()
		b, err := os.ReadFile(g.srv.ObjectPath(s3Bucket, key))
		if err != nil {
			t.Fatalf("%s: not stored: %v", key, err)
		}
		return b
	}

	// The aws cli: a multipart upload of a document, a PutObject of one,
	// and a file that is no document.
	for _, name := range []string{"big.docx", "register.xlsx", "data.bin"} {
		mustAWS(alice, "s3", "cp", filepath.Join(src, name), "s3://"+s3Bucket+"/docs/"+name)
	}
	checkTokensOnly(t, "the provider's big.docx", stored("docs/big.docx"))
	checkTokensOnly(t, "the provider's register.xlsx", stored("docs/register.xlsx"))
	g.checkStored(t, "docs/data.bin", plain)

	// minio-go: aws-chunked bodies with a CRC32C trailer, whole and in
	// parts of 5 MiB.
	aliceProxy, _ := url.Parse(g.proxyAs(alice))
	mc, err := minio.New(strings.TrimPrefix(g.endpoint, "http://"), &minio.Options{
		Creds:           credentials.NewStaticV4(g.srv.AccessKey, g.srv.SecretKey, ""),
		Transport:       &http.Transport{Proxy: http.ProxyURL(aliceProxy)},
		BucketLookup:    minio.BucketLookupPath,
		Region:          "us-east-1",
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{"register.xlsx": register, "big.docx": big} {
		opts := minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C, PartSize: 5 * mib}
		if _, err := mc.PutObject(t.Context(), s3Bucket, "minio/"+name, bytes.NewReader(doc), int64(len(doc)), opts); err != nil {
			t.Fatalf("minio-go PutObject %s: %v", name, err)
		}
		checkTokensOnly(t, "the provider's minio/"+name, stored("minio/"+name))
		obj, err := mc.GetObject(t.Context(), s3Bucket, "minio/"+name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("minio-go GetObject %s: %v", name, err)
		}
		sameXMLText(t, "minio-go's "+name, doc, got)
	}

	back := t.TempDir()
	for _, name := range []string{"big.docx", "register.xlsx"} {
		// alice gets the originals back (big.docx in 5 MiB ranges after
		// a HEAD), bob the tokens.
		mustAWS(alice, "s3", "cp", "s3://"+s3Bucket+"/docs/"+name, filepath.Join(back, "alice-"+name))
		got, _ := os.ReadFile(filepath.Join(back, "alice-"+name))
		sameXMLText(t, "alice's "+name, files[name], got)
		mustAWS(bob, "s3", "cp", "s3://"+s3Bucket+"/docs/"+name, filepath.Join(back, "bob-"+name))
		got, _ = os.ReadFile(filepath.Join(back, "bob-"+name))
		checkTokensOnly(t, "bob's "+name, got)
	}
	mustAWS(bob, "s3", "cp", "s3://"+s3Bucket+"/docs/data.bin", filepath.Join(back, "data.bin"))
	if got, _ := os.ReadFile(filepath.Join(back, "data.bin")); !bytes.Equal(got, plain) {
		t.Error("data.bin does not come back as it was uploaded")
	}

	// A document over the limit: refused at the part that passes it.
	if out, err := awsAs(alice, "s3", "cp", filepath.Join(src, "over.docx"), "s3://"+s3Bucket+"/docs/over.docx"); err == nil || !strings.Contains(out, "EntityTooLarge") {
		t.Errorf("aws s3 cp of a document over the limit: %v\n%s", err, out)
	}
	g.notStored(t, "docs/over.docx")

	// Parts of the test's own: not aligned to anything, part 2 sent
	// twice (the second replaces the first), listed before completing.
	as := func(u s3User, c s3Call) (*http.Response, string) {
		c.proxy = g.proxyAs(u)
		return g.do(t, c)
	}
	key := "/" + s3Bucket + "/small/letter.docx"
	resp, body := as(alice, s3Call{method: "POST", path: key + "?uploads=", header: http.Header{"Content-Type": {"application/octet-stream"}}})
	upload, ok := xmlText(body, "UploadId")
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("CreateMultipartUpload: %d %s", resp.StatusCode, body)
	}
	partPath := func(key, upload string, n int) string {
		return fmt.Sprintf("%s?partNumber=%d&uploadId=%s", key, n, url.QueryEscape(upload))
	}
	pieces := [][]byte{letter[:1000], letter[1000:4321], letter[4321:]}
	var etags []string
	for i, p := range []struct {
		n    int
		body []byte
	}{{1, pieces[0]}, {2, []byte("not the second part")}, {2, pieces[1]}, {3, pieces[2]}} {
		resp, body := as(alice, s3Call{method: "PUT", path: partPath(key, upload, p.n), body: p.body})
		if resp.StatusCode != 200 || resp.Header.Get("Etag") != `"`+md5hex(p.body)+`"` {
			t.Fatalf("part %d: %d %s, ETag %s", p.n, resp.StatusCode, body, resp.Header.Get("Etag"))
		}
		if i != 1 {
			etags = append(etags, resp.Header.Get("Etag"))
		}
	}
	// Nobody but alice reaches her document upload, and not under
	// another key: the provider, which has seen none of its parts, cannot
	// guard them.
	for _, c := range []struct {
		who  s3User
		call s3Call
	}{
		{bob, s3Call{method: "PUT", path: partPath(key, upload, 4), body: []byte("bob's part")}},
		{bob, s3Call{method: "GET", path: key + "?uploadId=" + url.QueryEscape(upload)}},
		{bob, s3Call{method: "POST", path: key + "?uploadId=" + url.QueryEscape(upload), body: []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"00"</ETag></Part></CompleteMultipartUpload>`)}},
		{alice, s3Call{method: "PUT", path: partPath("/"+s3Bucket+"/small/other.docx", upload, 4), body: []byte("elsewhere")}},
	} {
		if resp, body := as(c.who, c.call); resp.StatusCode != 404 || !strings.Contains(body, "NoSuchUpload") {
			t.Errorf("%s %s as %s: %d %s, want 404 NoSuchUpload", c.call.method, c.call.path, c.who.name, resp.StatusCode, body)
		}
	}
	// The parts are in the shared upload state: a restarted gateway
	// lists and completes them.
	earlierAudit, earlierLog := g.p.audit.String(), g.p.stderr.String()
	g.p.cmd.Process.Kill()
	<-g.p.exited
	g.start(t)
	// Nothing of the document has reached the provider.
	if code, body := g.direct(t, "GET", key+"?uploadId="+url.QueryEscape(upload)); code != 200 || strings.Contains(body, "<Part>") {
		t.Errorf("versitygw's own ListParts of the document upload: %d %s", code, body)
	}
	resp, body = as(alice, s3Call{method: "GET", path: key + "?uploadId=" + url.QueryEscape(upload)})
	for i, p := range pieces {
		if !strings.Contains(body, fmt.Sprintf("<PartNumber>%d</PartNumber>", i+1)) || !strings.Contains(body, fmt.Sprintf("<Size>%d</Size>", len(p))) {
			t.Errorf("ListParts: %d %s, want part %d of %d bytes", resp.StatusCode, body, i+1, len(p))
		}
	}
	completeXML := func(etags []string, numbers ...int) []byte {
		var b strings.Builder
		b.WriteString("<CompleteMultipartUpload>")
		for i, e := range etags {
			fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", numbers[i], e)
		}
		b.WriteString("</CompleteMultipartUpload>")
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name    string
		numbers []int
		etags   []string
		code    string
	}{
		{"parts out of order", []int{2, 1, 3}, []string{etags[1], etags[0], etags[2]}, "InvalidPartOrder"},
		{"a part not uploaded", []int{1, 2, 4}, etags, "InvalidPart"},
		{"the replaced part's ETag", []int{1, 2, 3}, []string{etags[0], `"` + md5hex([]byte("not the second part")) + `"`, etags[2]}, "InvalidPart"},
	} {
		resp, body := as(alice, s3Call{method: "POST", path: key + "?uploadId=" + url.QueryEscape(upload), body: completeXML(tc.etags, tc.numbers...)})
		if s3Code(body) != tc.code {
			t.Errorf("%s: %d %s, want %s", tc.name, resp.StatusCode, body, tc.code)
		}
	}
	g.notStored(t, "small/letter.docx")
	resp, body = as(alice, s3Call{method: "POST", path: key + "?uploadId=" + url.QueryEscape(upload), body: completeXML(etags, 1, 2, 3)})
	if resp.StatusCode != 200 || !strings.Contains(body, "-3&#34;") && !strings.Contains(body, "-3&quot;") {
		t.Fatalf("CompleteMultipartUpload: %d %s", resp.StatusCode, body)
	}
	checkTokensOnly(t, "the provider's small/letter.docx", stored("small/letter.docx"))
	resp, full := as(alice, s3Call{method: "GET", path: key})
	if resp.StatusCode != 200 {
		t.Fatalf("alice's GET: %d %s", resp.StatusCode, full)
	}
	sameXMLText(t, "alice's small/letter.docx", letter, []byte(full))
	resp, _ = as(alice, s3Call{method: "HEAD", path: key})
	if resp.Header.Get("Content-Length") != fmt.Sprint(len(full)) {
		t.Errorf("alice's HEAD: Content-Length %q, want the re-identified %d", resp.Header.Get("Content-Length"), len(full))
	}
	resp, part := as(alice, s3Call{method: "GET", path: key, header: http.Header{"Range": {"bytes=100-1099"}}})
	if resp.StatusCode != 206 || part != full[100:1100] || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-1099/%d", len(full)) {
		t.Errorf("alice's Range GET: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(part))
	}
	if resp, tokens := as(bob, s3Call{method: "GET", path: key}); resp.StatusCode != 200 {
		t.Errorf("bob's GET: %d", resp.StatusCode)
	} else {
		checkTokensOnly(t, "bob's small/letter.docx", []byte(tokens))
	}

	// Named .docx but no zip, whole and in parts: refused, nothing of it
	// stored or left in the provider's uploads.
	fake := []byte("Besök av Tolvan Tolvansson (19121212-1212), inte ett dokument")
	if resp, body := as(alice, s3Call{method: "PUT", path: "/" + s3Bucket + "/trap/fake.docx", body: fake}); resp.StatusCode != 400 || strings.Contains(body, "Tolvansson") {
		t.Errorf("PutObject of a .docx that is no zip: %d %s", resp.StatusCode, body)
	}
	g.notStored(t, "trap/fake.docx")
	trap := "/" + s3Bucket + "/trap/parts.docx"
	resp, body = as(alice, s3Call{method: "POST", path: trap + "?uploads="})
	trapUpload, ok := xmlText(body, "UploadId")
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("CreateMultipartUpload of the fake document: %d %s", resp.StatusCode, body)
	}
	if resp, body := as(alice, s3Call{method: "PUT", path: partPath(trap, trapUpload, 1), body: fake}); resp.StatusCode != 400 || strings.Contains(body, "Tolvansson") {
		t.Errorf("part 1 of a .docx that is no zip: %d %s", resp.StatusCode, body)
	}
	// A zip's opening, then no zip: refused when the whole is read.
	fake = append([]byte("PK\x03\x04"), fake...)
	resp, _ = as(alice, s3Call{method: "PUT", path: partPath(trap, trapUpload, 1), body: fake})
	if resp.StatusCode != 200 {
		t.Fatalf("part of the fake document: %d", resp.StatusCode)
	}
	if resp, body := as(alice, s3Call{method: "POST", path: trap + "?uploadId=" + url.QueryEscape(trapUpload), body: completeXML([]string{resp.Header.Get("Etag")}, 1)}); resp.StatusCode != 400 || strings.Contains(body, "Tolvansson") {
		t.Errorf("CompleteMultipartUpload of a .docx that is no zip: %d %s", resp.StatusCode, body)
	}
	g.notStored(t, "trap/parts.docx")
	if code, body := g.direct(t, "GET", trap+"?uploadId="+url.QueryEscape(trapUpload)); code != 404 {
		t.Errorf("the refused document's upload is still open at versitygw: %d %s", code, body)
	}
	// The client's digest is checked against what it sent.
	badMD5 := http.Header{"Content-Md5": {md5sum([]byte("other"))}}
	if resp, body := as(alice, s3Call{method: "PUT", path: "/" + s3Bucket + "/trap/badmd5.docx", body: letter, header: badMD5}); s3Code(body) != "BadDigest" {
		t.Errorf("PutObject of a document with a wrong Content-MD5: %d %s", resp.StatusCode, body)
	}
	g.notStored(t, "trap/badmd5.docx")
	// The mode is the upload's, decided when it was created: a document
	// sent as the part of an upload begun for another file is encrypted.
	other := "/" + s3Bucket + "/switch/report.bin"
	resp, body = as(alice, s3Call{method: "POST", path: other + "?uploads="})
	otherUpload, ok := xmlText(body, "UploadId")
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("CreateMultipartUpload of report.bin: %d %s", resp.StatusCode, body)
	}
	resp, _ = as(alice, s3Call{method: "PUT", path: partPath(other, otherUpload, 1), body: letter, header: http.Header{"Content-Type": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}}})
	if resp, body := as(alice, s3Call{method: "POST", path: other + "?uploadId=" + url.QueryEscape(otherUpload), body: completeXML([]string{resp.Header.Get("Etag")}, 1)}); resp.StatusCode != 200 {
		t.Fatalf("CompleteMultipartUpload of report.bin: %d %s", resp.StatusCode, body)
	}
	g.checkStored(t, "switch/report.bin", letter)
	if resp, body := as(alice, s3Call{method: "PUT", path: "/" + s3Bucket + "/trap/over.docx", body: over}); resp.StatusCode != 413 || s3Code(body) != "EntityTooLarge" {
		t.Errorf("PutObject of a document over the limit: %d %s", resp.StatusCode, body)
	}
	g.notStored(t, "trap/over.docx")

	// One user's unfinished document uploads together stay within
	// limits.max_spool_bytes_per_user (here twice the document limit): two
	// uploads each at the document limit fill it, a third's part is
	// refused and the uploads keep what they have; bob has his own
	// account, and an aborted upload gives its bytes back.
	chunk := bytes.Repeat([]byte{'x'}, 5*mib)
	opening := append(append([]byte{}, letter...), chunk...)[:5*mib] // a zip's opening
	begin := func(u s3User, key string) string {
		resp, body := as(u, s3Call{method: "POST", path: "/" + s3Bucket + key + "?uploads="})
		id, ok := xmlText(body, "UploadId")
		if resp.StatusCode != 200 || !ok {
			t.Fatalf("CreateMultipartUpload of %s: %d %s", key, resp.StatusCode, body)
		}
		return id
	}
	putPart := func(u s3User, key, id string, n int, b []byte) (int, string) {
		resp, body := as(u, s3Call{method: "PUT", path: partPath("/"+s3Bucket+key, id, n), body: b})
		return resp.StatusCode, body
	}
	var held []string
	for _, key := range []string{"/quota/a.docx", "/quota/b.docx"} {
		id := begin(alice, key)
		held = append(held, id)
		for n := 1; n <= 2; n++ {
			part := chunk
			if n == 1 {
				part = opening
			}
			if code, body := putPart(alice, key, id, n, part); code != 200 {
				t.Fatalf("part %d of %s, within the bounds: %d %s", n, key, code, body)
			}
		}
	}
	third := begin(alice, "/quota/c.docx")
	if code, body := putPart(alice, "/quota/c.docx", third, 1, opening); code != 413 || s3Code(body) != "EntityTooLarge" || !strings.Contains(body, "max_spool_bytes_per_user") {
		t.Errorf("a part past alice's spool bound: %d %s, want 413 EntityTooLarge naming max_spool_bytes_per_user", code, body)
	}
	if resp, body := as(alice, s3Call{method: "GET", path: "/" + s3Bucket + "/quota/a.docx?uploadId=" + url.QueryEscape(held[0])}); resp.StatusCode != 200 || strings.Count(body, "<Part>") != 2 {
		t.Errorf("ListParts of a.docx after the refusal: %d %s, want its two parts", resp.StatusCode, body)
	}
	bobsID := begin(bob, "/quota/bob.docx")
	if code, body := putPart(bob, "/quota/bob.docx", bobsID, 1, opening); code != 200 {
		t.Errorf("bob's part while alice is at her bound: %d %s", code, body)
	}
	if resp, body := as(alice, s3Call{method: "DELETE", path: "/" + s3Bucket + "/quota/a.docx?uploadId=" + url.QueryEscape(held[0])}); resp.StatusCode != 204 {
		t.Fatalf("AbortMultipartUpload of a.docx: %d %s", resp.StatusCode, body)
	}
	if code, body := putPart(alice, "/quota/c.docx", third, 1, opening); code != 200 {
		t.Errorf("c.docx's part after a.docx was aborted: %d %s", code, body)
	}
	for _, k := range []string{"quota/a.docx", "quota/b.docx", "quota/c.docx", "quota/bob.docx"} {
		g.notStored(t, k)
	}
	for _, k := range g.storedKeys(t, "") {
		b := stored(k)
		if bytes.Contains(b, []byte("Tolvansson")) || bytes.Contains(b, []byte("19121212-1212")) {
			t.Errorf("the provider's %s holds a personal value", k)
		}
	}

	audit := earlierAudit + g.p.audit.String()
	if n := strings.Count(audit, `"action":"pseudonymize"`); n < 5 {
		t.Errorf("the audit log has %d pseudonymize events, want 5 at least (aws and minio-go's big.docx and register.xlsx, small/letter.docx)", n)
	}
	for _, key := range []string{"docs/big.docx", "docs/register.xlsx", "minio/big.docx", "small/letter.docx", "trap/parts.docx"} {
		if !strings.Contains(audit, `"path":"/`+s3Bucket+"/"+key) {
			t.Errorf("the audit log lacks the requests for %s", key)
		}
	}
	if n := strings.Count(audit, `"action":"encrypt"`); n < 1 {
		t.Errorf("the audit log has %d encrypt events, want data.bin's", n)
	}
	for _, log := range []struct{ name, text string }{{"audit log", audit}, {"debug log", earlierLog + g.p.stderr.String()}} {
		for _, v := range s3DocumentValues {
			if strings.Contains(log.text, v) {
				t.Errorf("the %s holds a personal value of the documents", log.name)
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("audit:\n%s\nstderr:\n%s%s", audit, earlierLog, g.p.stderr)
	}
}

// TestS3DocumentsRclone: rclone uploads documents whole and in parts
// through a documents service and downloads them: alice re-identified,
// bob with tokens. The provider holds another file than the one sent, of
// another size and hash, so rclone must be told not to compare them
// (--ignore-size --ignore-checksum); without, it calls every document
// "corrupted on transfer".
func TestS3DocumentsRclone(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	alice := s3User{"alice", "a-pass", []string{"decrypt", "reidentify"}}
	bob := s3User{"bob", "b-pass", []string{"decrypt"}}
	g := startS3GatewayWith(t, s3Setup{users: []s3User{alice, bob}, options: "      options:\n        documents: \"true\"\n"})
	src := t.TempDir()
	files := map[string][]byte{
		"register.xlsx": s3DocumentFixture(t, "register.xlsx"),
		"big.docx":      paddedDocument(t, s3DocumentFixture(t, "letter.docx"), 6*mib+4321),
	}
	for name, b := range files {
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	remote := ":s3,provider=Other,env_auth=true,endpoint='" + g.endpoint + "':" + s3Bucket + "/rclone"
	rclone := func(u s3User, args ...string) string {
		env := append(g.clientEnv(t), "HTTP_PROXY="+g.proxyAs(u), "http_proxy="+g.proxyAs(u))
		return runTool(t, env, cl.Rclone, append([]string{"--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M",
			"--ignore-size", "--ignore-checksum", "--low-level-retries", "1", "--retries", "1"}, args...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("audit:\n%s\nstderr:\n%s", g.p.audit, g.p.stderr)
		}
	})
	rclone(alice, "copy", src, remote)
	for name := range files {
		b, err := os.ReadFile(g.srv.ObjectPath(s3Bucket, "rclone/"+name))
		if err != nil {
			t.Fatal(err)
		}
		checkTokensOnly(t, "the provider's "+name, b)
	}
	for _, u := range []s3User{alice, bob} {
		back := t.TempDir()
		rclone(u, "copy", remote, back)
		for name, want := range files {
			got, _ := os.ReadFile(filepath.Join(back, name))
			if u.name == "alice" {
				sameXMLText(t, "alice's "+name, want, got)
			} else {
				checkTokensOnly(t, "bob's "+name, got)
			}
		}
	}
}
