package gateway

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluss/sluss/crypto"
)

const curlHint = "apt-get install -y curl"

// curl runs curl through the gateway and returns its stdout, stderr and
// error.
func (h *harness) curl(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	bin := needTool(t, "curl", curlHint)
	full := append([]string{"-sS", "--proxy", h.proxy, "--cacert", h.caFile, "--max-time", "120"}, args...)
	cmd := exec.Command(bin, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hh := sha256.New()
	io.Copy(hh, f)
	var s [32]byte
	copy(s[:], hh.Sum(nil))
	return s
}

// ageDecrypt decrypts a stored object with the real age CLI.
func (h *harness) ageDecrypt(t *testing.T, stored, out string) {
	t.Helper()
	bin := needTool(t, "age", "go install filippo.io/age/cmd/...@v1.3.1")
	if b, err := exec.Command(bin, "-d", "-i", h.identity, "-o", out, stored).CombinedOutput(); err != nil {
		t.Fatalf("age -d: %v: %s", err, b)
	}
}

func TestCurlStorage(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	for _, size := range []int{0, 1 << 20, 100 << 20} {
		name := fmt.Sprintf("f%d.bin", size)
		src := writeTemp(t, name, content(size, uint64(size)+1))
		if _, e, err := h.curl(t, "-f", "-T", src, c.URL()+"/"+name); err != nil {
			t.Fatalf("PUT %d B: %v: %s", size, err, e)
		}
		stored := filepath.Join(c.dir, name)
		head := make([]byte, crypto.SniffLen)
		f, _ := os.Open(stored)
		io.ReadFull(f, head)
		f.Close()
		if !crypto.IsEncrypted(head) {
			t.Fatalf("PUT %d B: stored object is not an age file", size)
		}
		dec := filepath.Join(t.TempDir(), "dec")
		h.ageDecrypt(t, stored, dec)
		if fileSum(t, dec) != fileSum(t, src) {
			t.Fatalf("PUT %d B: age -d of the stored object differs from the upload", size)
		}
		back := filepath.Join(t.TempDir(), "back")
		if _, e, err := h.curl(t, "-f", "-o", back, c.URL()+"/"+name); err != nil {
			t.Fatalf("GET %d B: %v: %s", size, err, e)
		}
		if fileSum(t, back) != fileSum(t, src) {
			t.Fatalf("GET %d B: download differs from the upload", size)
		}
		hdr, _, err := h.curl(t, "-f", "-I", c.URL()+"/"+name)
		if err != nil || !strings.Contains(strings.ToLower(hdr), fmt.Sprintf("content-length: %d\r", size)) {
			t.Errorf("HEAD %d B: want the plaintext Content-Length, got %v:\n%s", size, err, hdr)
		}
	}

	// Range: exactly the plaintext bytes, 206.
	orig := content(1<<20, 1<<20+1)
	out, e, err := h.curl(t, "-f", "-D", "-", "-o", filepath.Join(t.TempDir(), "r"), "-H", "Range: bytes=70000-200000", c.URL()+"/f1048576.bin")
	if err != nil {
		t.Fatalf("Range GET: %v: %s", err, e)
	}
	if !strings.Contains(out, " 206") || !strings.Contains(out, "bytes 70000-200000/1048576") {
		t.Errorf("Range GET headers:\n%s", out)
	}
	rng := filepath.Join(t.TempDir(), "rng")
	h.curl(t, "-f", "-o", rng, "-H", "Range: bytes=70000-200000", c.URL()+"/f1048576.bin")
	if got, _ := os.ReadFile(rng); !bytes.Equal(got, orig[70000:200001]) {
		t.Errorf("Range GET returned %d bytes, not plaintext 70000-200000", len(got))
	}
	h.curl(t, "-f", "-o", rng, "-H", "Range: bytes=-100", c.URL()+"/f1048576.bin")
	if got, _ := os.ReadFile(rng); !bytes.Equal(got, orig[len(orig)-100:]) {
		t.Errorf("suffix Range GET wrong")
	}

	// Multipart: the file part is stored encrypted, the text part as is.
	part := writeTemp(t, "upload.txt", content(300<<10, 7))
	if _, e, err := h.curl(t, "-f", "-F", "note=hello", "-F", "file=@"+part, c.URL()+"/form"); err != nil {
		t.Fatalf("multipart POST: %v: %s", err, e)
	}
	checkStoredForm(t, h, c.stored(t, "form-1"), content(300<<10, 7))

	if !h.auditHas(t, `"action":"encrypt"`, `"method":"POST"`, `"path":"/form"`) {
		t.Errorf("no audit event for the form upload")
	}
}

func checkStoredForm(t *testing.T, h *harness, body, want []byte) {
	t.Helper()
	i := bytes.Index(body, []byte("\r\n"))
	if i < 2 {
		t.Fatalf("stored form is not multipart")
	}
	mr := multipart.NewReader(bytes.NewReader(body), string(body[2:i]))
	var sawFile, sawNote bool
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(p)
		switch p.FormName() {
		case "note":
			sawNote = string(data) == "hello"
		case "file":
			if !crypto.IsEncrypted(data) {
				t.Fatalf("file part stored unencrypted")
			}
			pt, err := crypto.Decrypt(bytes.NewReader(data), h.keys.id)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(pt)
			sawFile = bytes.Equal(got, want)
			if _, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition")); params["filename"] != "upload.txt" {
				t.Errorf("file name not kept")
			}
		}
	}
	if !sawFile || !sawNote {
		t.Errorf("stored form: file ok %v, note ok %v", sawFile, sawNote)
	}
}

func TestCurlBlocked(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	out, e, err := h.curl(t, "-w", "%{http_connect}", "https://blocked.test/")
	if err == nil || out != "403" {
		t.Errorf("CONNECT to a blocked host: %v: %s%s", err, out, e)
	}
	out, _, _ = h.curl(t, "-D", "-", "http://blocked.test/page")
	if !strings.Contains(out, " 403") || !strings.Contains(out, "blocked.test is not on the region&#39;s list") || !strings.Contains(out, "request ID") {
		t.Errorf("block page:\n%s", out)
	}
	out, _, _ = h.curl(t, "-H", "Accept: application/json", "http://blocked.test/page")
	if !strings.Contains(out, `"request_id":"`) || !strings.Contains(out, `"status":403`) {
		t.Errorf("JSON block answer: %s", out)
	}
	if !h.auditHas(t, `"action":"block"`, `"method":"CONNECT"`, `"host":"blocked.test"`) ||
		!h.auditHas(t, `"action":"block"`, `"method":"GET"`, `"host":"blocked.test"`, `"status":403`) {
		t.Errorf("audit lacks the blocks:\n%s", h.audit.String())
	}
}

func writeUsers(t *testing.T, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	for u, p := range users {
		hash, _ := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		fmt.Fprintf(&b, "%s:%s\n", u, hash)
	}
	return writeTemp(t, "users", []byte(b.String()))
}

func TestCurlUsers(t *testing.T) {
	c := newCloud(t)
	cfg := storageConfig(c, "storage")
	cfg.UsersFile = writeUsers(t, map[string]string{"alice": "a-pass", "bob": "b-pass"})
	cfg.Groups = []GroupConfig{{Name: "staff", Members: []string{"alice"}, Rights: []string{"decrypt"}}}
	h := newHarness(t, cfg)
	src := writeTemp(t, "x.bin", content(200<<10, 3))

	out, e, err := h.curl(t, "-w", "%{http_connect}", "-T", src, c.URL()+"/x.bin")
	if err == nil || out != "407" {
		t.Errorf("unauthenticated CONNECT: %v: %s%s", err, out, e)
	}
	out, _, _ = h.curl(t, "-o", "/dev/null", "-w", "%{http_code}", "http://blocked.test/")
	if out != "407" {
		t.Errorf("unauthenticated plain HTTP: %s", out)
	}
	out, e, err = h.curl(t, "-w", "%{http_connect}", "--proxy-user", "alice:wrong", c.URL()+"/x.bin")
	if err == nil || out != "407" {
		t.Errorf("wrong password: %v: %s%s", err, out, e)
	}
	if _, e, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", "-T", src, c.URL()+"/x.bin"); err != nil {
		t.Fatalf("bob uploads: %v: %s", err, e)
	}
	out, _, _ = h.curl(t, "--proxy-user", "bob:b-pass", "-H", "Accept: application/json", "-w", "\n%{http_code}", c.URL()+"/x.bin")
	if !strings.HasSuffix(out, "\n403") || !strings.Contains(out, "not allowed to decrypt") {
		t.Errorf("bob without decrypt: %s", out)
	}
	back := filepath.Join(t.TempDir(), "back")
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-o", back, c.URL()+"/x.bin"); err != nil || fileSum(t, back) != fileSum(t, src) {
		t.Errorf("alice downloads: %v: %s", err, e)
	}
	if !h.auditHas(t, `"user":"bob"`, `"action":"deny"`, `"status":403`) || !h.auditHas(t, `"action":"deny"`, `"status":407`) {
		t.Errorf("audit lacks the denials:\n%s", h.audit.String())
	}
}

func TestCurlHostHeaderMismatch(t *testing.T) {
	c := newCloud(t)
	other := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	out, _, _ := h.curl(t, "-w", "\n%{http_code}", "-H", "Host: "+other.host(), c.URL()+"/x")
	if !strings.HasSuffix(out, "\n421") {
		t.Errorf("differing Host: %s", out)
	}
	if n := other.requests.Load() + c.requests.Load(); n != 0 {
		t.Errorf("upstreams got %d requests", n)
	}
}

func TestCurlFailClosed(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	h.keys.failing.Store(true)
	src := writeTemp(t, "x.bin", content(1<<20, 9))
	out, _, _ := h.curl(t, "-w", "\n%{http_code}", "-T", src, c.URL()+"/x.bin")
	if !strings.HasSuffix(out, "\n503") || !strings.Contains(out, "nothing was sent") {
		t.Errorf("upload with keys unavailable: %s", out)
	}
	out, _, _ = h.curl(t, "-w", "\n%{http_code}", "-F", "file=@"+src, c.URL()+"/form")
	if !strings.HasSuffix(out, "\n503") {
		t.Errorf("form upload with keys unavailable: %s", out)
	}
	if n, b := c.requests.Load(), c.bytesIn.Load(); n != 0 || b != 0 {
		t.Errorf("upstream received %d requests, %d bytes", n, b)
	}
	if !h.auditHas(t, `"action":"deny"`, `"status":503`) {
		t.Errorf("audit lacks the refusal:\n%s", h.audit.String())
	}
}

func TestCurlTampered(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	orig := content(1<<20, 11)
	src := writeTemp(t, "x.bin", orig)
	if _, e, err := h.curl(t, "-f", "-T", src, c.URL()+"/x.bin"); err != nil {
		t.Fatalf("PUT: %v: %s", err, e)
	}
	stored := c.stored(t, "x.bin")
	hs, _ := crypto.ReadHeaderSize(bytes.NewReader(stored))
	const chunk = 5
	stored[hs+16+chunk*(crypto.ChunkSize+16)+100] ^= 1
	os.WriteFile(filepath.Join(c.dir, "x.bin"), stored, 0o644)

	for _, rng := range []string{"", "bytes=300000-400000"} {
		back := filepath.Join(t.TempDir(), "back")
		args := []string{"-f", "-o", back}
		if rng != "" {
			args = append(args, "-H", "Range: "+rng)
		}
		_, e, err := h.curl(t, append(args, c.URL()+"/x.bin")...)
		if err == nil {
			t.Errorf("download %q of tampered ciphertext succeeded", rng)
		}
		got, _ := os.ReadFile(back)
		start := 0
		if rng != "" {
			start = 300000
		}
		if start+len(got) > chunk*crypto.ChunkSize {
			t.Errorf("download %q got %d bytes, reaching into the tampered chunk (%s)", rng, len(got), e)
		}
		if !bytes.Equal(got, orig[start:start+len(got)]) {
			t.Errorf("download %q returned bytes that are not the plaintext", rng)
		}
	}
	if !h.auditHas(t, `"reason":"response cut"`) {
		t.Errorf("audit does not record the cut download:\n%s", h.audit.String())
	}
}
