// Package pgtest runs a real PostgreSQL server for tests: [Start] creates
// a cluster in a temporary directory (initdb as the unprivileged postgres
// user when the test runs as root), serves it on a free 127.0.0.1 port and
// removes it when the test ends. Its URL logs in as the password user
// sluss to the database sluss.
//
// Without PostgreSQL installed the test is skipped, unless the environment
// sets CI or SLUSS_REQUIRE_PG: then it fails. [Launch] starts the same
// cluster outside a test (sluss bench).
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one PostgreSQL cluster of a test.
type Server struct {
	// URL connects as sluss (password auth over TCP) to the database sluss.
	URL string

	t        testing.TB // nil when launched outside a test
	bin      string
	dir      string // owned by the server's user; holds data, socket, log
	port     int
	cred     *syscall.Credential // nil: run as ourselves
	password string
	durable  bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the running server's exit status
}

// binDir finds the PostgreSQL 15 binaries: $PG_BIN, then Debian's path,
// then pg_config on PATH.
func binDir() string {
	candidates := []string{os.Getenv("PG_BIN"), "/usr/lib/postgresql/15/bin"}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	for _, d := range candidates {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// ErrNotInstalled is Launch's error when there is no initdb.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL is not installed (initdb not found; set PG_BIN or install Debian's postgresql)")

// Start initialises and starts a server; it is stopped and removed at the
// end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch(Options{})
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("CI") != "" || os.Getenv("SLUSS_REQUIRE_PG") != "" {
			t.Fatal("pgtest: PostgreSQL is not installed (initdb not found) and CI or SLUSS_REQUIRE_PG is set")
		}
		t.Skip("pgtest: PostgreSQL is not installed (initdb not found)")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	t.Cleanup(func() { s.Close() })
	return s
}

// Options change the cluster Launch starts.
type Options struct {
	// Durable keeps PostgreSQL's defaults fsync, synchronous_commit and
	// full_page_writes on (Start turns them off: tests need no
	// durability), for measuring what a commit costs.
	Durable bool
}

// Launch is Start outside a test (sluss bench): the same cluster, whose
// owner must call Close. Its Start and Stop methods are for tests only.
func Launch(o Options) (*Server, error) {
	bin := binDir()
	if bin == "" {
		return nil, ErrNotInstalled
	}
	s := &Server{bin: bin, password: randomHex(16), durable: o.Durable}
	dir, err := os.MkdirTemp("", "pgtest")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s.dir = dir
	if err := s.launch(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) launch() error {
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("pgtest: running as root needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte("postgres-"+s.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	s.chown(pwfile)
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	os.Remove(pwfile)

	// The port is chosen free and may be taken before postgres binds it;
	// try a few.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		s.port = port
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 4 {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	s.URL = (&url.URL{
		Scheme: "postgres",
		User:   url.UserPassword("sluss", s.password),
		Host:   net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:   "/sluss",
	}).String() + "?sslmode=disable"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.socketURL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect as postgres: %w", err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"CREATE ROLE sluss LOGIN PASSWORD '" + s.password + "'",
		"CREATE DATABASE sluss OWNER sluss",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgtest: %s: %w", strings.Fields(q)[1], err)
		}
	}
	return nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.stop()
	if rmErr := os.RemoveAll(s.dir); err == nil && rmErr != nil {
		err = fmt.Errorf("pgtest: %w", rmErr)
	}
	return err
}

// NewDatabase creates another empty database owned by sluss and returns
// its URL: a fresh store for one subtest without a new server.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.socketURL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect as postgres: %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" OWNER sluss"); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	u, _ := url.Parse(s.URL)
	u.Path = "/" + name
	return u.String()
}

func (s *Server) data() string   { return filepath.Join(s.dir, "data") }
func (s *Server) socket() string { return s.dir }

// socketURL connects as postgres over the unix socket (trust auth).
func (s *Server) socketURL(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.socket(), s.port, db)
}

func (s *Server) chown(path string) {
	if s.cred != nil {
		os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
}

// command runs one of the PostgreSQL binaries as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Env = append(cmd.Env, "HOME="+s.dir)
	}
	return cmd
}

// Start starts the server again after Stop, on the same data directory
// and port, and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("server already running")
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	args := []string{"-D", s.data(),
		"-p", strconv.Itoa(s.port), "-k", s.socket(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200"}
	if !s.durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = log, log
	// A test binary that dies without its cleanups takes the server along.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("postgres exited while starting: %v\n%s", err, tail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.socketURL("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			break
		}
		cancel()
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("postgres not ready after 30s: %v\n%s", err, tail(logPath))
		}
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

// Stop shuts the server down (fast: open connections are cut) and waits
// until it is gone. Start brings it back.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	var err error
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		err = errors.New("postgres did not stop within 30s; killed")
	}
	s.cmd = nil
	return err
}

// Dump returns pg_dump's plain SQL dump of the database sluss.
func (s *Server) Dump(t testing.TB) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := s.command("pg_dump", "-h", s.socket(), "-p", strconv.Itoa(s.port), "-U", "postgres", "sluss")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("pgtest: pg_dump: %v\n%s", err, errOut.String())
	}
	return out.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the end of the server's log, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
