// Package vaulttest starts a real Vault server for tests.
//
// Start runs the vault-dev binary (deploy/vault-dev: Vault's own core, in
// memory, KV v2 at secret/ and AppRole at auth/approle) on a free loopback
// port with a random root token, and stops it when the test ends:
//
//	v := vaulttest.Start(t)
//	v.WritePolicy(t, "sluss-gateway", policy)
//	roleID, secretID := v.AppRole(t, "gateway", "sluss-gateway")
//
// The binary is found through the SLUSS_VAULT_DEV environment variable, which
// ./test.sh sets from deploy/vault-dev/build.sh. Without it the test is
// skipped, or fails when CI is set.
package vaulttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvBinary names the environment variable holding the path of the vault-dev
// binary.
const EnvBinary = "SLUSS_VAULT_DEV"

// readyPrefix starts the one line vault-dev prints on stdout when it serves.
const readyPrefix = "vault-dev listening on "

// startTimeout bounds how long Start waits for a server that hangs; a healthy
// one is ready in about a second.
const startTimeout = 2 * time.Minute

// Server is a running vault-dev process.
type Server struct {
	// Addr is the server's base URL, http://127.0.0.1:PORT.
	Addr string
	// RootToken is a token with the root policy.
	RootToken string

	stderr *syncBuffer

	mu   sync.Mutex
	proc *process // the running process; Restart replaces it
}

// process is one vault-dev process.
type process struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been waited for
	stopOnce sync.Once
}

// Start starts a vault-dev server for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(EnvBinary + " not set; CI must run ./test.sh, which builds deploy/vault-dev")
		}
		t.Skip(EnvBinary + " not set; run ./test.sh which builds deploy/vault-dev")
	}

	s := &Server{RootToken: "root-" + randomHex(t, 16), stderr: &syncBuffer{}}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() && s.stderr.Len() > 0 {
			t.Logf("vault-dev stderr:\n%s", s.stderr)
		}
	})
	s.launch(t, bin, "127.0.0.1:0")
	return s
}

// Restart stops the server and starts a new one on the same address with
// the same root token, as a Vault restarted in place. vault-dev keeps
// everything in memory, so it comes back empty: no secrets, policies,
// AppRoles or tokens but the root token. A test that wants the keys back
// writes them again, as a restore from Vault's storage would.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.launch(t, os.Getenv(EnvBinary), strings.TrimPrefix(s.Addr, "http://"))
}

// launch starts vault-dev listening on addr and waits until it serves.
func (s *Server) launch(t testing.TB, bin, addr string) {
	t.Helper()
	p := &process{exited: make(chan struct{})}
	stdout := &firstLine{line: make(chan string, 1)}
	p.cmd = exec.Command(bin, "-addr", addr, "-root-token", s.RootToken)
	p.cmd.Stdout = stdout
	p.cmd.Stderr = s.stderr
	setProcAttr(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("vaulttest: failed to start %s: %v", bin, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	got, err := p.waitListening(stdout)
	if err != nil {
		t.Fatalf("vaulttest: %v\nvault-dev stderr:\n%s", err, s.stderr)
	}
	if s.Addr != "" && got != s.Addr {
		t.Fatalf("vaulttest: restarted on %s, not %s", got, s.Addr)
	}
	s.Addr = got
	if err := s.waitHealthy(p); err != nil {
		t.Fatalf("vaulttest: %v\nvault-dev stderr:\n%s", err, s.stderr)
	}
}

// waitListening waits for the line that says where the server listens.
func (p *process) waitListening(stdout *firstLine) (string, error) {
	select {
	case line := <-stdout.line:
		addr, ok := strings.CutPrefix(line, readyPrefix)
		if !ok || !strings.HasPrefix(addr, "http://127.0.0.1:") {
			return "", fmt.Errorf("unexpected first line from vault-dev: %q", line)
		}
		return addr, nil
	case <-p.exited:
		return "", fmt.Errorf("vault-dev exited before it was ready (%v)", p.cmd.ProcessState)
	case <-time.After(startTimeout):
		return "", fmt.Errorf("vault-dev printed no address within %v", startTimeout)
	}
}

// waitHealthy waits until sys/health reports initialised, unsealed and active.
func (s *Server) waitHealthy(p *process) error {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-p.exited:
			return fmt.Errorf("vault-dev exited before it was healthy (%v)", p.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault-dev not healthy within %v: %v", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server and waits for it to exit, so that its port refuses
// connections when Stop returns: a test can use it to simulate a Vault outage.
// Calling Stop again does nothing. Start registers it as a cleanup.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.stopOnce.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	return hex.EncodeToString(b)
}

// firstLine is the server's stdout: it hands over the first line and
// discards the rest.
type firstLine struct {
	line chan string // receives the first line, without its newline
	buf  []byte
	done bool
}

func (w *firstLine) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
		w.line <- strings.TrimSpace(string(w.buf[:i]))
		w.buf, w.done = nil, true
	}
	return len(p), nil
}

// syncBuffer collects the server's stderr while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
