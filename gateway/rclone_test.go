package gateway

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sluss/sluss/crypto"
)

func TestRcloneWebDAV(t *testing.T) {
	bin := needTool(t, "rclone", "apt-get install -y rclone")
	c := newCloud(t)
	cfg := storageConfig(c, "webdav")
	cfg.Services[0].Hosts = []string{"example.com"}
	cfg.Services[0].AllowLoopback = true // example.com is the test's name for 127.0.0.1
	h := newHarness(t, cfg)

	src := t.TempDir()
	files := map[string]int{"a.txt": 0, "b.bin": 70000, "sub/c.bin": 1 << 20, "sub/deeper/d.bin": 3<<20 + 5}
	for name, size := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, content(size, uint64(size)+3), 0o644)
	}
	rclone := func(args ...string) {
		t.Helper()
		_, port, _ := splitHostPort(c.host())
		cmd := exec.Command(bin, append([]string{
			"--config", "/dev/null", "--ca-cert", h.caFile,
			"--webdav-url", "https://example.com:" + port + "/", "--webdav-vendor", "other",
			"--low-level-retries", "1", "--retries", "1",
		}, args...)...)
		cmd.Env = append(os.Environ(), "HTTPS_PROXY="+h.proxy, "HTTP_PROXY="+h.proxy, "NO_PROXY=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rclone %v: %v\n%s", args, err, out)
		}
	}
	rclone("copy", src, ":webdav:up")
	back := t.TempDir()
	rclone("copy", ":webdav:up", back)

	n := 0
	filepath.WalkDir(filepath.Join(c.dir, "up"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, _ := os.ReadFile(p)
		if !crypto.IsEncrypted(b) {
			t.Errorf("upstream holds plaintext: %s", p)
		}
		return nil
	})
	if n != len(files) {
		t.Errorf("upstream holds %d files, want %d", n, len(files))
	}
	for name := range files {
		a, _ := os.ReadFile(filepath.Join(src, name))
		b, err := os.ReadFile(filepath.Join(back, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: copy back differs (%v)", name, err)
		}
	}
	if !h.auditHas(t, `"method":"PROPFIND"`) || !h.auditHas(t, `"method":"MKCOL"`) {
		t.Errorf("audit lacks WebDAV requests")
	}
}
