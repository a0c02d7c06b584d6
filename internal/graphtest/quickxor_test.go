package graphtest

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuickXorHash(t *testing.T) {
	// Vectors from rclone (verified by rclone against Microsoft's C#
	// reference implementation).
	for in, want := range map[string]string{
		"": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"hello world, this is a test of quickxor with more than twenty bytes in it!": "ac72rr0kZwf9ZBnJqsADm9sW8oE=",
	} {
		var h QuickXorHash
		h.Write([]byte(in))
		if got := h.Base64(); got != want {
			t.Errorf("quickXorHash(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestQuickXorHashRclone compares odd-sized data written in odd pieces
// with rclone's own quickxor.
func TestQuickXorHashRclone(t *testing.T) {
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		t.Skip("rclone is not installed")
	}
	dir := t.TempDir()
	data := make([]byte, 1_000_003)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "f"), data, 0o600)
	cmd := exec.Command(rclone, "hashsum", "quickxor", "--base64", dir)
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := strings.Cut(string(out), " ")
	// rclone prints URL-safe base64; Graph uses the standard alphabet.
	want = strings.NewReplacer("_", "/", "-", "+").Replace(want)
	var h QuickXorHash
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+len(rest)%7919)
		h.Write(rest[:n])
		rest = rest[n:]
	}
	if got := h.Base64(); got != want {
		t.Errorf("quickXorHash = %s, rclone says %s", got, want)
	}
}
