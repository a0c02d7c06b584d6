package nextcloudtest

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNextcloudcmdDirect: the real desktop client syncs a folder with the
// test server, a file in chunks, and back into a fresh folder.
func TestNextcloudcmdDirect(t *testing.T) {
	bin, err := exec.LookPath("nextcloudcmd")
	if err != nil {
		if os.Getenv("SLUSS_REQUIRE_NEXTCLOUD") == "1" {
			t.Fatal("nextcloudcmd not found (Debian nextcloud-desktop-cmd; test.sh installs it)")
		}
		t.Skip("nextcloudcmd not found (Debian nextcloud-desktop-cmd)")
	}
	s := Start(t)
	src := t.TempDir()
	big := make([]byte, 12_345_678)
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "small.txt"), []byte("hello"), 0o644)
	run := func(dir string) string {
		cmd := exec.Command(bin, "--non-interactive", "--trust", "-u", s.User, "-p", s.Password, dir, s.URL)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "OWNCLOUD_CHUNK_SIZE=5000001", "OWNCLOUD_MIN_CHUNK_SIZE=5000001", "OWNCLOUD_MAX_CHUNK_SIZE=5000001", "OWNCLOUD_TARGET_CHUNK_UPLOAD_DURATION=0"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nextcloudcmd: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run(src)
	os.WriteFile("/tmp/ncdbg/up.log", []byte(out), 0o644)
	got, err := os.ReadFile(s.FilePath("big.bin"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big.bin on the server: %d bytes, %v", len(got), err)
	}
	chunks := 0
	var log strings.Builder
	for _, r := range s.Requests() {
		log.WriteString(r.Method + " " + r.Path + " " + strings.Join(r.Header["Oc-Chunk-Offset"], ",") + " " + strings.Join(r.Header["Oc-Total-Length"], ",") + "\n")
		if r.Method == "PUT" && strings.Contains(r.Path, "/uploads/") {
			chunks++
		}
	}
	os.WriteFile("/tmp/ncdbg/requests.log", []byte(log.String()), 0o644)
	if chunks != 3 {
		t.Errorf("%d chunk PUTs, want 3", chunks)
	}
	dst := t.TempDir()
	run(dst)
	back, err := os.ReadFile(filepath.Join(dst, "big.bin"))
	if err != nil || !bytes.Equal(back, big) {
		t.Fatalf("big.bin synced back: %d bytes, %v", len(back), err)
	}
}

func TestNaturalLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{
		{"2", "10", true}, {"10", "2", false}, {"00001", "2", true}, {"0000000000000009", "0000000000000010", true},
		{"a2", "a10", true}, {"1", "1", false}, {"000000000000000-000000010485759", "000000010485760-000000020971519", true},
	} {
		if got := naturalLess(c.a, c.b); got != c.less {
			t.Errorf("naturalLess(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
