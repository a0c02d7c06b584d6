// Package haproxytest starts a real HAProxy in front of test gateways, from
// the example configuration in deploy/haproxy/haproxy.cfg, for tests of
// several gateways behind one load balancer.
//
// Start runs Debian's haproxy with that file's global, defaults, frontend
// and backend settings, with only what a test must change replaced: the
// frontend listens on a loopback port the test picked, the stats socket is
// in a temporary directory, and the example's servers are the test's
// backends (proxy port; health checks on the admin /readyz):
//
//	lb := haproxytest.Start(t, []haproxytest.Backend{
//		{ProxyAddr: gw1.ProxyAddr, AdminAddr: gw1.AdminAddr},
//		{ProxyAddr: gw2.ProxyAddr, AdminAddr: gw2.AdminAddr},
//	})
//	lb.WaitStatus(t, "gw1", "UP")
//	// … clients use http://lb.Addr as their proxy …
//
// ./test.sh installs haproxy. Without it the tests are skipped, or fail
// when CI is set.
package haproxytest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ExampleConfig is the example configuration's path, relative to the root
// of the repository.
const ExampleConfig = "deploy/haproxy/haproxy.cfg"

// checkInterval is how often HAProxy checks a test backend's /readyz: the
// example's 2 s would make tests wait; rise and fall stay as in the example.
const checkInterval = "100ms"

// Backend is one gateway behind HAProxy.
type Backend struct {
	// Name is the server's name in HAProxy (stats, WaitStatus); default
	// gw1, gw2, … by position.
	Name string
	// ProxyAddr is the gateway's proxy listener, HOST:PORT; clients'
	// connections are balanced across these.
	ProxyAddr string
	// AdminAddr is the gateway's admin listener, HOST:PORT, whose /readyz
	// HAProxy checks.
	AdminAddr string
}

// HAProxy is a running haproxy in TCP mode in front of the backends.
type HAProxy struct {
	// Addr is the frontend's address, 127.0.0.1:PORT: the proxy address
	// clients use.
	Addr string
	// ConfigFile is the configuration HAProxy runs with.
	ConfigFile string

	socket string // stats socket (runtime API)
	output *syncBuffer
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	stop   sync.Once
}

// Binary returns the path of haproxy, or skips the test when there is none
// (fails it when CI is set).
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("haproxytest: haproxy is required in CI (./test.sh installs it): %v", err)
		}
		t.Skipf("haproxytest: haproxy not installed (./test.sh installs it): %v", err)
	}
	return bin
}

// RepoFile returns the path of a file given relative to the repository's
// root, found by walking up from the working directory to sluss's go.mod.
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/sluss/sluss\n")) {
			return filepath.Join(dir, filepath.FromSlash(rel))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("haproxytest: no go.mod of github.com/sluss/sluss above the working directory")
		}
		dir = parent
	}
}

// Start starts HAProxy from the example configuration in front of the
// backends, and stops it when the test ends. It returns once HAProxy
// answers on its stats socket; the backends' health is then HAProxy's
// business (see WaitStatus).
func Start(t testing.TB, backends []Backend) *HAProxy {
	t.Helper()
	bin := Binary(t)
	if len(backends) == 0 {
		t.Fatalf("haproxytest: no backends")
	}
	example, err := os.ReadFile(RepoFile(t, ExampleConfig))
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	dir := t.TempDir()
	h := &HAProxy{
		ConfigFile: filepath.Join(dir, "haproxy.cfg"),
		socket:     filepath.Join(dir, "admin.sock"),
		output:     &syncBuffer{},
		exited:     make(chan struct{}),
	}
	cfg, err := Config(string(example), h.socket, backends)
	if err != nil {
		t.Fatalf("haproxytest: %s: %v", ExampleConfig, err)
	}
	if err := os.WriteFile(h.ConfigFile, []byte(cfg), 0o600); err != nil {
		t.Fatalf("haproxytest: %v", err)
	}

	// HAProxy gets the frontend's socket already bound (bind fd@3), so the
	// port is the test's from the start and no other process can take it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	h.Addr = ln.Addr().String()
	lnFile, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	defer lnFile.Close()

	// -db: stay in the foreground, log to our buffer.
	h.cmd = exec.Command(bin, "-db", "-f", h.ConfigFile)
	h.cmd.ExtraFiles = []*os.File{lnFile}
	h.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	h.cmd.Stdout = h.output
	h.cmd.Stderr = h.output
	setProcAttr(h.cmd)
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("haproxytest: failed to start %s: %v", bin, err)
	}
	go func() {
		h.cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() {
		h.Stop()
		if t.Failed() && h.output.Len() > 0 {
			t.Logf("haproxy output:\n%s", h.output)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := h.stats(); err == nil {
			return h
		} else if time.Now().After(deadline) {
			t.Fatalf("haproxytest: haproxy does not answer on its stats socket: %v\nhaproxy output:\n%s", err, h.output)
		}
		select {
		case <-h.exited:
			t.Fatalf("haproxytest: haproxy exited: %v\nhaproxy output:\n%s", h.cmd.ProcessState, h.output)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Config rewrites the example configuration for a test: the frontend
// binds the inherited file descriptor 3, the stats socket is socket, the
// process stays in the foreground, unprivileged, logs to standard error
// and holds at most 1000 connections (the example's maxconn needs more
// descriptors than a test may open), and the backend's servers are the given backends, checked every
// checkInterval on their admin address. Everything else is the example's.
func Config(example, socket string, backends []Backend) (string, error) {
	var out strings.Builder
	section := ""
	var binds, servers int
	for _, line := range strings.SplitAfter(example, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			out.WriteString(line)
			continue
		}
		switch fields[0] {
		case "global", "defaults", "frontend", "backend", "listen":
			section = fields[0]
			out.WriteString(line)
			if section == "global" {
				out.WriteString("\tlog stderr format raw local0\n")
			}
			continue
		}
		switch {
		case section == "global" && oneOf(fields[0], "log", "chroot", "user", "group", "daemon"):
			continue
		case section == "global" && fields[0] == "maxconn":
			// Twice maxconn descriptors, within a test's limit.
			out.WriteString("\tmaxconn 1000\n")
			continue
		case section == "global" && len(fields) > 1 && fields[0] == "stats" && fields[1] == "socket":
			fmt.Fprintf(&out, "\tstats socket %s mode 600 level admin\n", socket)
			continue
		case fields[0] == "bind":
			binds++
			out.WriteString("\tbind fd@3\n")
			continue
		case fields[0] == "server":
			if servers++; servers > 1 {
				continue
			}
			for i, b := range backends {
				line, err := serverLine(i, b)
				if err != nil {
					return "", err
				}
				out.WriteString(line)
			}
			continue
		}
		out.WriteString(line)
	}
	if binds != 1 || servers == 0 {
		return "", fmt.Errorf("want one bind line and server lines, found %d and %d", binds, servers)
	}
	return out.String(), nil
}

func serverLine(i int, b Backend) (string, error) {
	name := b.Name
	if name == "" {
		name = fmt.Sprintf("gw%d", i+1)
	}
	host, port, err := net.SplitHostPort(b.AdminAddr)
	if err != nil {
		return "", fmt.Errorf("backend %s: admin address: %w", name, err)
	}
	if _, _, err := net.SplitHostPort(b.ProxyAddr); err != nil {
		return "", fmt.Errorf("backend %s: proxy address: %w", name, err)
	}
	return fmt.Sprintf("\tserver %s %s addr %s port %s inter %s fastinter %[5]s downinter %[5]s\n",
		name, b.ProxyAddr, host, port, checkInterval), nil
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// Status returns each server's status as HAProxy's stats report it: UP,
// DOWN, "UP 1/2" (going down), "DOWN 1/2" (going up), MAINT, …
func (h *HAProxy) Status(t testing.TB) map[string]string {
	t.Helper()
	rows, err := h.stats()
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	status := map[string]string{}
	for _, r := range rows {
		if r["svname"] != "FRONTEND" && r["svname"] != "BACKEND" {
			status[r["svname"]] = r["status"]
		}
	}
	return status
}

// Stat returns one field of "show stat" (the runtime API's CSV, field
// names as in its header: status, scur, stot, wretr, wredis, …) for a
// proxy's server, or its FRONTEND or BACKEND line; "" when there is none.
func (h *HAProxy) Stat(t testing.TB, proxy, server, field string) string {
	t.Helper()
	rows, err := h.stats()
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	for _, r := range rows {
		if r["pxname"] == proxy && r["svname"] == server {
			return r[field]
		}
	}
	return ""
}

// WaitStatus waits until HAProxy reports the server's status as want (see
// Status), for at most 30 seconds.
func (h *HAProxy) WaitStatus(t testing.TB, server, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := h.Status(t)
		if got[server] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxytest: server %s is %q after 30s, want %q (all: %v)", server, got[server], want, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops HAProxy and waits for it to exit. Calling it again does
// nothing; Start registers it as a cleanup.
func (h *HAProxy) Stop() {
	h.stop.Do(func() {
		h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(10 * time.Second):
			h.cmd.Process.Kill()
			<-h.exited
		}
	})
}

// stats asks the runtime API for "show stat": one map per proxy and
// server, keyed by the CSV header's field names.
func (h *HAProxy) stats() ([]map[string]string, error) {
	conn, err := net.DialTimeout("unix", h.socket, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("failed to reach the stats socket: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		return nil, fmt.Errorf("failed to ask for stats: %w", err)
	}
	raw, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		return nil, fmt.Errorf("failed to read stats: %w", err)
	}
	// The header line starts "# pxname,svname,…".
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("# "))))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("failed to parse stats: %w", err)
	}
	if len(records) == 0 {
		return nil, errors.New("empty stats")
	}
	header := records[0]
	var rows []map[string]string
	for _, rec := range records[1:] {
		row := map[string]string{}
		for i, v := range rec {
			if i < len(header) {
				row[header[i]] = v
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// syncBuffer is a bytes.Buffer safe for HAProxy's output and the test to
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
