package check

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildSluss builds cmd/sluss from this repository for the test.
func buildSluss(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluss")
	build := exec.Command(findTool(t, "go"), "build", "-o", bin, "./cmd/sluss")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluss: %v\n%s", err, out)
	}
	return bin
}

var adminRE = regexp.MustCompile(`admin:\s+(http://\S+)/healthz`)

// startServe starts cmd, a sluss serve, and returns the admin listener's
// base URL once sluss prints it, and sluss's output so far and to come.
// The process is stopped when the test ends.
func startServe(t *testing.T, cmd *exec.Cmd) (string, *lockedBuffer) {
	t.Helper()
	output := &lockedBuffer{}
	cmd.Stdout = output
	cmd.Stderr = output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})
	for deadline := time.Now().Add(time.Minute); ; {
		if m := adminRE.FindStringSubmatch(output.String()); m != nil {
			return m[1], output
		}
		select {
		case <-exited:
			t.Fatalf("sluss serve exited (%v):\n%s", cmd.ProcessState, output.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluss serve did not start within a minute:\n%s", output.String())
		}
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
