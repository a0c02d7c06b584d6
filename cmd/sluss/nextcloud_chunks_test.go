package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ncUpload is a chunked upload from a Go client, as the web uploader
// (@nextcloud/upload) does it: Destination and OC-Total-Length on every
// request, chunks named 1…N.
type ncUpload struct {
	g      *ncGateway
	client *http.Client
	folder string // path of the upload folder
	dest   string // Destination URL
	total  int    // -1: not said
}

func (g *ncGateway) newUpload(t *testing.T, client *http.Client, id, name string, total int) *ncUpload {
	t.Helper()
	u := &ncUpload{g: g, client: client, total: total,
		folder: "/remote.php/dav/uploads/" + g.srv.User + "/" + id,
		dest:   g.base + (&url.URL{Path: "/remote.php/dav/files/" + g.srv.User + "/" + name}).EscapedPath()}
	if code, body, _ := g.davRequest(t, client, "MKCOL", u.folder, nil, u.headers()); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, body)
	}
	return u
}

func (u *ncUpload) headers() map[string]string {
	h := map[string]string{"Destination": u.dest}
	if u.total >= 0 {
		h["OC-Total-Length"] = strconv.Itoa(u.total)
	}
	return h
}

func (u *ncUpload) put(t *testing.T, n int, b []byte) (int, string) {
	t.Helper()
	code, body, _ := u.g.davRequest(t, u.client, http.MethodPut, fmt.Sprintf("%s/%d", u.folder, n), b, u.headers())
	return code, body
}

func (u *ncUpload) move(t *testing.T, extra map[string]string) (int, string) {
	t.Helper()
	h := u.headers()
	h["X-OC-Mtime"] = "1700000000"
	for k, v := range extra {
		h[k] = v
	}
	code, body, _ := u.g.davRequest(t, u.client, "MOVE", u.folder+"/.file", nil, h)
	return code, body
}

// checkStoredAs fails unless exactly one file on the server decrypts to
// want.
func (g *ncGateway) checkStoredAs(t *testing.T, want []byte) string {
	t.Helper()
	rel, ok := g.storedFiles(t)[sha256.Sum256(want)]
	if !ok {
		t.Fatalf("no file on the server decrypts to the %d bytes uploaded", len(want))
	}
	return rel
}

// TestNextcloudWebUploader: the web uploader's pattern — MKCOL, five
// chunk PUTs at once (5 000 011 bytes each, the last shorter; none a
// multiple of 64 KiB), MOVE — stores one age file under a pseudonymized
// name that `age -d` opens to the file, and it reads back through the
// gateway by its real name.
func TestNextcloudWebUploader(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	g := startNextcloudGateway(t)
	client := g.proxyClient(t, "", "")
	const chunk = 5_000_011
	file := randomBytes(4*chunk + 1_234_567)
	name := "19121212-1212 Tolvan Tolvansson.txt"
	u := g.newUpload(t, client, "web-file-upload-8f0c2d", name, len(file))
	var wg sync.WaitGroup
	codes := make([]int, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end := min((i+1)*chunk, len(file))
			codes[i], _ = u.put(t, i+1, file[i*chunk:end])
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusCreated {
			t.Fatalf("chunk %d: %d", i+1, c)
		}
	}
	if code, body := u.move(t, map[string]string{"OC-Checksum": "SHA1:" + sha1hex(file)}); code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	rel := g.checkStoredAs(t, file)
	noPersonalData(t, "the stored file's name", rel)
	st, err := os.Stat(g.srv.FilePath(rel))
	if err != nil {
		t.Fatal(err)
	}
	// Upstream, the chunks are the engine's sends, named 00001…, and
	// OC-Total-Length is the age file's size.
	var sends []string
	for _, r := range g.srv.Requests() {
		if strings.HasPrefix(r.Path, "/remote.php/dav/uploads/") && r.Method != http.MethodDelete {
			if tl := r.Header.Get("OC-Total-Length"); tl != strconv.FormatInt(st.Size(), 10) {
				t.Errorf("%s %s: OC-Total-Length %q, want the age file's %d", r.Method, r.Path, tl, st.Size())
			}
		}
		if r.Method == http.MethodPut && strings.HasPrefix(r.Path, "/remote.php/dav/uploads/") {
			sends = append(sends, r.Path[strings.LastIndex(r.Path, "/")+1:])
		}
	}
	slices.Sort(sends)
	if strings.Join(sends, ",") != "00001,00002,00003,00004,00005" {
		t.Errorf("the server got chunks %v, want 00001…00005", sends)
	}
	for _, r := range g.srv.Requests() {
		noPersonalData(t, "a path the server saw", r.Path)
		for k, vs := range r.Header {
			noPersonalData(t, "the server's "+k+" header", strings.Join(vs, " "))
		}
		if r.Header.Get("OC-Checksum") != "" {
			t.Errorf("%s %s reached the server with the plaintext's OC-Checksum", r.Method, r.Path)
		}
	}
	// Listings give the plaintext's size in both properties the desktop
	// client reads.
	code, body, _ := g.davRequest(t, client, "PROPFIND", "/remote.php/dav/files/"+g.srv.User+"/", nil, map[string]string{"Depth": "1"})
	var ms struct {
		Responses []struct {
			Href   string `xml:"href"`
			Length string `xml:"propstat>prop>getcontentlength"`
			Size   string `xml:"http://owncloud.org/ns propstat>prop>size"`
		} `xml:"response"`
	}
	if err := xml.Unmarshal([]byte(body), &ms); code != http.StatusMultiStatus || err != nil {
		t.Fatalf("PROPFIND: %d %v", code, err)
	}
	listed := false
	for _, r := range ms.Responses {
		if strings.HasSuffix(r.Href, "/"+url.PathEscape(name)) {
			listed = true
			if want := strconv.Itoa(len(file)); r.Length != want || r.Size != want {
				t.Errorf("PROPFIND lists getcontentlength %s and oc:size %s, want the plaintext's %s", r.Length, r.Size, want)
			}
		}
	}
	if !listed {
		t.Errorf("PROPFIND does not list %s by its name:\n%s", name, body)
	}
	code, body, _ = g.davRequest(t, client, http.MethodGet, "/remote.php/dav/files/"+g.srv.User+"/"+url.PathEscape(name), nil, nil)
	if code != http.StatusOK || body != string(file) {
		t.Errorf("GET through the gateway: %d, %d bytes; want the %d uploaded", code, len(body), len(file))
	}
	audit := g.p.audit.String()
	if n := strings.Count(audit, `"method":"PUT"`); n < 5 {
		t.Errorf("the audit log has %d PUTs, want the 5 chunks", n)
	}
	noPersonalData(t, "the audit log", audit)
	noPersonalData(t, "the gateway's debug log", g.p.stderr.String())
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// propfindSizes lists an upload folder through the gateway: chunk name →
// getcontentlength.
func (g *ncGateway) propfindSizes(t *testing.T, client *http.Client, folder string) map[string]int64 {
	t.Helper()
	code, body, _ := g.davRequest(t, client, "PROPFIND", folder, nil, map[string]string{"Depth": "1"})
	if code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND %s: %d %s", folder, code, body)
	}
	var ms struct {
		Responses []struct {
			Href   string `xml:"href"`
			Length string `xml:"propstat>prop>getcontentlength"`
		} `xml:"response"`
	}
	if err := xml.Unmarshal([]byte(body), &ms); err != nil {
		t.Fatalf("PROPFIND answer: %v\n%s", err, body)
	}
	sizes := map[string]int64{}
	for _, r := range ms.Responses {
		if r.Length == "" {
			continue
		}
		n, _ := strconv.ParseInt(r.Length, 10, 64)
		sizes[r.Href[strings.LastIndex(r.Href, "/")+1:]] = n
	}
	return sizes
}

// TestNextcloudResume: mid-upload, a PROPFIND of the upload folder lists
// the chunks sent with their plaintext sizes (what the desktop client adds
// up to resume); a chunk sent again with the same bytes is accepted, with
// other bytes refused; the upload then completes and decrypts. DELETE of
// the folder aborts at the gateway too.
func TestNextcloudResume(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	g := startNextcloudGateway(t)
	client := g.proxyClient(t, "", "")
	sizes := []int{3_000_017, 2_999_999, 1_000_003}
	file := randomBytes(sizes[0] + sizes[1] + sizes[2])
	parts := [][]byte{file[:sizes[0]], file[sizes[0] : sizes[0]+sizes[1]], file[sizes[0]+sizes[1]:]}
	u := g.newUpload(t, client, "resume-1", "resumed.bin", len(file))
	for i := range 2 {
		if code, body := u.put(t, i+1, parts[i]); code != http.StatusCreated {
			t.Fatalf("chunk %d: %d %s", i+1, code, body)
		}
	}
	got := g.propfindSizes(t, client, u.folder)
	want := map[string]int64{"1": int64(sizes[0]), "2": int64(sizes[1])}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PROPFIND of the upload folder lists %v, want the plaintext chunks %v", got, want)
	}
	if code, body := u.put(t, 2, parts[1]); code/100 != 2 {
		t.Errorf("chunk 2 again with the same bytes: %d %s", code, body)
	}
	other := bytes.Clone(parts[1])
	other[100] ^= 1
	if code, _ := u.put(t, 2, other); code != http.StatusConflict {
		t.Errorf("chunk 2 again with other bytes: %d, want 409", code)
	}
	if code, _ := u.move(t, nil); code != http.StatusBadRequest {
		t.Errorf("MOVE before the last chunk: %d, want 400", code)
	}
	if code, body := u.put(t, 3, parts[2]); code != http.StatusCreated {
		t.Fatalf("chunk 3: %d %s", code, body)
	}
	if code, body := u.move(t, nil); code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	g.checkStoredAs(t, file)

	// Abort: DELETE of the folder forgets the upload.
	a := g.newUpload(t, client, "resume-2", "aborted.bin", 2_000_000)
	if code, _ := a.put(t, 1, randomBytes(1_000_000)); code != http.StatusCreated {
		t.Fatalf("chunk 1 of the upload to abort: %d", code)
	}
	if code, _, _ := g.davRequest(t, client, http.MethodDelete, a.folder, nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE of the upload folder: %d", code)
	}
	if code, _ := a.put(t, 2, randomBytes(1_000_000)); code != http.StatusNotFound {
		t.Errorf("a chunk after DELETE: %d, want 404", code)
	}
}

// TestNextcloudRefusals: what would pass plaintext or a broken file is
// refused, and the provider's own refusals (quota) come back.
func TestNextcloudRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	g := startNextcloudGateway(t)
	client := g.proxyClient(t, "", "")
	user := g.srv.User

	code, body, _ := g.davRequest(t, client, http.MethodGet, "/ocs/v2.php/cloud/capabilities?format=json", nil, map[string]string{"OCS-APIRequest": "true"})
	if code != http.StatusOK || !strings.Contains(body, `"chunking":"1.0"`) || strings.Contains(body, "bulkupload") {
		t.Errorf("capabilities: %d %s; want chunking offered and no bulk upload", code, body)
	}
	if code, _, _ := g.davRequest(t, client, http.MethodPost, "/remote.php/dav/bulk", []byte("--x\r\n\r\nplain\r\n--x--\r\n"), map[string]string{"Content-Type": "multipart/related; boundary=x"}); code != http.StatusForbidden {
		t.Errorf("bulk upload: %d, want 403", code)
	}
	if code, _, _ := g.davRequest(t, client, http.MethodPut, "/remote.php/dav/files/"+user+"/f.bin-chunking-4711-2-0", []byte("plain"), map[string]string{"OC-Chunked": "1"}); code != http.StatusNotImplemented {
		t.Errorf("chunking v1: %d, want 501", code)
	}
	u := g.newUpload(t, client, "refusals-1", "r.bin", 1_000_000)
	if code, _ := u.put(t, 0, randomBytes(10)); code != http.StatusBadRequest {
		t.Errorf("chunk 0 of a v2 upload: %d, want 400", code)
	}
	if code, _ := u.put(t, 10001, randomBytes(10)); code != http.StatusBadRequest {
		t.Errorf("chunk 10001: %d, want 400", code)
	}
	if code, _ := u.put(t, 1, randomBytes(1_000_001)); code != http.StatusBadRequest {
		t.Errorf("a chunk past OC-Total-Length: %d, want 400", code)
	}
	part := randomBytes(1_000_000)
	code, _, _ = g.davRequest(t, client, http.MethodPut, u.folder+"/1", part, map[string]string{"OC-Checksum": "SHA1:" + sha1hex([]byte("other"))})
	if code != http.StatusBadRequest {
		t.Errorf("a chunk that does not match its OC-Checksum: %d, want 400", code)
	}
	code, body, _ = g.davRequest(t, client, http.MethodPut, u.folder+"/1", part, map[string]string{"OC-Checksum": "SHA1:" + sha1hex(part)})
	if code != http.StatusCreated {
		t.Errorf("a chunk that matches its OC-Checksum: %d %s", code, body)
	}
	if code, _, _ := g.davRequest(t, client, http.MethodDelete, u.folder+"/1", nil, nil); code != http.StatusForbidden {
		t.Errorf("DELETE of one chunk: %d, want 403", code)
	}
	if code, _, _ := g.davRequest(t, client, http.MethodGet, u.folder+"/1", nil, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of a chunk: %d, want 405", code)
	}
	if code, body := u.move(t, map[string]string{"OC-Total-Length": "999999"}); code != http.StatusBadRequest {
		t.Errorf("MOVE with another OC-Total-Length: %d %s, want 400", code, body)
	}
	if code, body := u.move(t, nil); code != http.StatusCreated {
		t.Errorf("MOVE: %d %s", code, body)
	}
	g.checkStoredAs(t, part)

	// Quota: the server's 507 comes back, at MKCOL and at a chunk.
	g.srv.SetQuota(10 << 20)
	code, body, _ = g.davRequest(t, client, "MKCOL", "/remote.php/dav/uploads/"+user+"/big", nil, map[string]string{"OC-Total-Length": strconv.Itoa(20 << 20)})
	if code != http.StatusInsufficientStorage || !strings.Contains(body, "InsufficientStorage") {
		t.Errorf("MKCOL past the quota: %d %s, want 507", code, body)
	}
	g.srv.SetQuota(-1)
	q := g.newUpload(t, client, "quota-2", "q.bin", 5<<20)
	g.srv.SetQuota(2 << 20)
	if code, body := q.put(t, 1, randomBytes(5<<20)); code != http.StatusInsufficientStorage {
		t.Errorf("a chunk past the quota: %d %s, want 507", code, body)
	}
}

// TestNextcloudNoDecrypt: a user without the decrypt right uploads
// (encrypted) but gets 403 for the file's content; one with it reads it.
func TestNextcloudNoDecrypt(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	g := startNextcloudGateway(t,
		s3User{name: "writer", password: "writer-pw"},
		s3User{name: "reader", password: "reader-pw", rights: []string{"decrypt"}})
	writer := g.proxyClient(t, "writer", "writer-pw")
	file := randomBytes(6_000_001)
	u := g.newUpload(t, writer, "nodecrypt-1", "journal.bin", len(file))
	if code, body := u.put(t, 1, file[:5_000_000]); code != http.StatusCreated {
		t.Fatalf("chunk 1: %d %s", code, body)
	}
	if code, body := u.put(t, 2, file[5_000_000:]); code != http.StatusCreated {
		t.Fatalf("chunk 2: %d %s", code, body)
	}
	if code, body := u.move(t, nil); code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	g.checkStoredAs(t, file)
	path := "/remote.php/dav/files/" + g.srv.User + "/journal.bin"
	if code, body, _ := g.davRequest(t, writer, http.MethodGet, path, nil, nil); code != http.StatusForbidden || strings.Contains(body, string(file[:64])) {
		t.Errorf("GET by a user without decrypt: %d, want 403", code)
	}
	if code, body, _ := g.davRequest(t, g.proxyClient(t, "reader", "reader-pw"), http.MethodGet, path, nil, nil); code != http.StatusOK || body != string(file) {
		t.Errorf("GET by a user with decrypt: %d, %d bytes", code, len(body))
	}
	if !strings.Contains(g.p.audit.String(), `"user":"writer"`) {
		t.Error("the audit log has no request of the writer")
	}
}

// TestNextcloudMemoryFlat: a 1 GiB chunked upload, 103 chunks of
// 10 000 019 bytes, four in flight at a time, grows the gateway's peak
// RSS by less than 100 MiB; the stored file decrypts to the same digest.
func TestNextcloudMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1 GiB")
	}
	g := startNextcloudGateway(t)
	client := g.proxyClient(t, "", "")
	const size, chunk = 1 << 30, 10_000_019
	// The file is a keyed stream, made again for each chunk, so the test
	// holds no more than the chunks in flight.
	seed := randomBytes(32)
	chunkBytes := func(i int) []byte {
		b := make([]byte, min(chunk, size-i*chunk))
		stream := sha256.Sum256(append(bytes.Clone(seed), byte(i), byte(i>>8)))
		for j := range b {
			b[j] = stream[j%32] ^ byte(j>>5)
		}
		return b
	}
	n := (size + chunk - 1) / chunk
	warm := g.newUpload(t, client, "mem-warm", "warm.bin", 2*chunk)
	warm.put(t, 1, chunkBytes(0))
	warm.put(t, 2, chunkBytes(1))
	warm.move(t, nil)
	pid := g.p.cmd.Process.Pid
	before := vmKiB(t, pid, "VmRSS")
	u := g.newUpload(t, client, "mem-big", "big.bin", size)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	var failed sync.Map
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if code, body := u.put(t, i+1, chunkBytes(i)); code != http.StatusCreated {
				failed.Store(i+1, fmt.Sprintf("%d %s", code, body))
			}
		}()
	}
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Fatalf("chunk %v: %v", k, v); return false })
	if code, body := u.move(t, nil); code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	peak := vmKiB(t, pid, "VmHWM")
	t.Logf("gateway RSS before %d MiB, peak during a 1 GiB chunked upload %d MiB", before>>10, peak>>10)
	if growth := peak - before; growth > 100<<10 {
		t.Errorf("peak RSS grew by %d MiB during a 1 GiB upload, want < 100", growth>>10)
	}
	h := sha256.New()
	for i := range n {
		h.Write(chunkBytes(i))
	}
	age := exec.Command("age", "-d", "-i", g.identity, g.srv.FilePath("big.bin"))
	out, err := age.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := age.Start(); err != nil {
		t.Fatalf("age: %v", err)
	}
	d := sha256.New()
	io.Copy(d, out)
	if err := age.Wait(); err != nil {
		t.Fatalf("age -d of the 1 GiB file: %v", err)
	}
	if !bytes.Equal(d.Sum(nil), h.Sum(nil)) {
		t.Error("the 1 GiB file does not decrypt to what was uploaded")
	}
}

// TestNextcloudDesktopNumbering: the desktop client's form — MKCOL
// without a Destination, chunks counted from 0 in 16 digits with
// OC-Chunk-Offset — is listed back by those names with plaintext sizes; a
// wrong offset is refused. An upload of unknown size (no
// OC-Total-Length) is finished by the MOVE.
func TestNextcloudDesktopNumbering(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	g := startNextcloudGateway(t)
	client := g.proxyClient(t, "", "")
	user := g.srv.User
	dest := g.base + "/remote.php/dav/files/" + user + "/desktop.bin"
	file := randomBytes(2*ncChunkSize + 777)
	folder := "/remote.php/dav/uploads/" + user + "/4711"
	if code, body, _ := g.davRequest(t, client, "MKCOL", folder, nil, map[string]string{"OC-Total-Length": strconv.Itoa(len(file))}); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, body)
	}
	put := func(n, off int, b []byte) int {
		code, _, _ := g.davRequest(t, client, http.MethodPut, fmt.Sprintf("%s/%016d", folder, n), b, map[string]string{"OC-Chunk-Offset": strconv.Itoa(off)})
		return code
	}
	if code := put(0, 0, file[:ncChunkSize]); code != http.StatusCreated {
		t.Fatalf("chunk 0: %d", code)
	}
	if code := put(1, ncChunkSize+1, file[ncChunkSize:2*ncChunkSize]); code != http.StatusBadRequest {
		t.Errorf("chunk 1 at a wrong OC-Chunk-Offset: %d, want 400", code)
	}
	if code := put(1, ncChunkSize, file[ncChunkSize:2*ncChunkSize]); code != http.StatusCreated {
		t.Fatalf("chunk 1: %d", code)
	}
	got := g.propfindSizes(t, client, folder)
	want := map[string]int64{"0000000000000000": ncChunkSize, "0000000000000001": ncChunkSize}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PROPFIND of the upload folder lists %v, want %v", got, want)
	}
	if code := put(2, 2*ncChunkSize, file[2*ncChunkSize:]); code != http.StatusCreated {
		t.Fatalf("chunk 2: %d", code)
	}
	if code, body, _ := g.davRequest(t, client, "MOVE", folder+"/.file", nil, map[string]string{"Destination": dest, "OC-Total-Length": strconv.Itoa(len(file))}); code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	g.checkStoredAs(t, file)

	// Size unknown: the engine holds the end back until the MOVE.
	u := g.newUpload(t, client, "unknown-size", "unknown.bin", -1)
	h := u.headers()
	second := randomBytes(3 << 16) // ends on an age chunk boundary
	for i, b := range [][]byte{file[:ncChunkSize], second} {
		if code, body, _ := g.davRequest(t, client, http.MethodPut, fmt.Sprintf("%s/%d", u.folder, i+1), b, h); code != http.StatusCreated {
			t.Fatalf("chunk %d: %d %s", i+1, code, body)
		}
	}
	if code, body, _ := g.davRequest(t, client, "MOVE", u.folder+"/.file", nil, h); code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	g.checkStoredAs(t, append(bytes.Clone(file[:ncChunkSize]), second...))
}

// TestNextcloudAccountName: an account whose id is a person's name (the
// server's own name for the user, in the clear in Authorization anyway)
// stays in WebDAV paths as it is, so the server finds the user; the file
// names below it are still pseudonymized, and the audit log has neither.
func TestNextcloudAccountName(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	g := startNextcloudGateway(t)
	if err := g.srv.SetUser("Tolvan Tolvansson"); err != nil {
		t.Fatal(err)
	}
	client := g.proxyClient(t, "", "")
	account := url.PathEscape(g.srv.User)
	if code, body, _ := g.davRequest(t, client, "PROPFIND", "/remote.php/dav/files/"+account+"/", nil, map[string]string{"Depth": "1"}); code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND of the account's files: %d %s", code, body)
	}
	file := randomBytes(5_000_000 + 4321)
	u := &ncUpload{g: g, client: client, total: len(file),
		folder: "/remote.php/dav/uploads/" + account + "/acct-1",
		dest:   g.base + "/remote.php/dav/files/" + account + "/" + url.PathEscape("19121212-1212.txt")}
	if code, body, _ := g.davRequest(t, client, "MKCOL", u.folder, nil, u.headers()); code != http.StatusCreated {
		t.Fatalf("MKCOL: %d %s", code, body)
	}
	for i, b := range [][]byte{file[:5_000_000], file[5_000_000:]} {
		if code, body := u.put(t, i+1, b); code != http.StatusCreated {
			t.Fatalf("chunk %d: %d %s", i+1, code, body)
		}
	}
	if code, body := u.move(t, nil); code != http.StatusCreated {
		t.Fatalf("MOVE: %d %s", code, body)
	}
	rel := g.checkStoredAs(t, file)
	if strings.Contains(rel, "19121212") {
		t.Errorf("the file is stored as %q, with the personnummer", rel)
	}
	code, body, _ := g.davRequest(t, client, http.MethodGet, "/remote.php/dav/files/"+account+"/"+url.PathEscape("19121212-1212.txt"), nil, nil)
	if code != http.StatusOK || body != string(file) {
		t.Errorf("GET by the real name: %d, %d bytes", code, len(body))
	}
	for _, r := range g.srv.Requests() {
		if strings.Contains(r.Path, "19121212") || strings.Contains(r.Header.Get("Destination"), "19121212") {
			t.Errorf("%s %s reached the server with the personnummer", r.Method, r.Path)
		}
	}
	noPersonalData(t, "the audit log", g.p.audit.String())
}
