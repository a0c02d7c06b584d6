// Package s3test starts a real S3 server, and finds real S3 clients, for
// end-to-end tests.
//
// Start runs versitygw (https://github.com/versity/versitygw) with its posix
// backend in a temporary directory, on a free loopback port, with a random
// root access key; it checks every request's SigV4 signature as AWS does,
// and it stops when the test ends:
//
//	s := s3test.Start(t)
//	s.CreateBucket(t, "reports")
//	// … upload through the code under test to s.URL …
//	got, _ := os.ReadFile(s.ObjectPath("reports", "q3.pdf"))
//
// FindClients finds the AWS CLI v2, s3cmd and rclone; CleanEnv gives them an
// environment that holds nothing from the developer's own. CLIENTS.md
// records what each client sends.
//
// ./test.sh installs all of them. Without them the tests are skipped, or
// fail when CI or SLUSS_REQUIRE_S3 is set.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvRequire names the environment variable that, like CI, turns a missing
// server or client into a failure instead of a skip.
const EnvRequire = "SLUSS_REQUIRE_S3"

// Region is the region the server answers for and signatures must name.
const Region = "us-east-1"

// startTimeout bounds how long Start waits for a server that hangs; a healthy
// one serves in well under a second.
const startTimeout = time.Minute

// Server is a running versitygw with the posix backend in a temporary
// directory, checking SigV4 signatures.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT (https with the TLS option).
	URL string
	// Addr is the listen address, 127.0.0.1:PORT.
	Addr string
	// Dir is the posix root: one directory per bucket, each object a plain
	// file at its key (see ObjectPath).
	Dir string
	// AccessKey and SecretKey are the root user's credentials.
	AccessKey, SecretKey string
	// CAFile is, with the TLS option, the PEM file of the CA that issued the
	// server's certificate; CertPool holds the same CA. Both are empty
	// without TLS.
	CAFile   string
	CertPool *x509.CertPool

	client *http.Client
	stderr *syncBuffer
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	stop   sync.Once
}

// Option changes how Start runs the server.
type Option func(*config)

type config struct {
	tlsHost       string
	virtualDomain string
}

// TLS serves HTTPS with a certificate for host and for 127.0.0.1, issued by
// a CA made for this server alone (Server.CAFile, Server.CertPool).
func TLS(host string) Option {
	return func(c *config) { c.tlsHost = host }
}

// VirtualHosts has the server also accept virtual-hosted-style requests, the
// bucket named in the Host header as BUCKET.domain. Path-style requests keep
// working. Clients need domain and its subdomains to reach 127.0.0.1, for
// example through a proxy.
func VirtualHosts(domain string) Option {
	return func(c *config) { c.virtualDomain = domain }
}

// Start starts a versitygw server for the test and stops it at cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	bin := findBinary(t)
	s := &Server{
		Dir:       t.TempDir(),
		AccessKey: "AK" + randomHex(t, 9),
		SecretKey: randomHex(t, 20),
		stderr:    &syncBuffer{},
		exited:    make(chan struct{}),
	}
	tlsConfig := &tls.Config{}
	args := []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--region", Region, "--quiet"}
	scheme := "http"
	if c.tlsHost != "" {
		scheme = "https"
		s.CAFile, s.CertPool = writeCertificates(t, c.tlsHost, t.TempDir(), &args)
		tlsConfig.RootCAs = s.CertPool
	}
	if c.virtualDomain != "" {
		args = append(args, "--virtual-domain", c.virtualDomain)
	}
	s.Addr = freeAddr(t)
	s.URL = scheme + "://" + s.Addr
	args = append(args, "--port", s.Addr, "posix", s.Dir)
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}

	s.cmd = exec.Command(bin, args...)
	// Only what the server needs: versitygw reads flags from VGW_* and
	// ROOT_* variables too, which must not leak in from the developer's.
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	s.cmd.Stdout = s.stderr
	s.cmd.Stderr = s.stderr
	setProcAttr(s.cmd)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("s3test: failed to start %s: %v", bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() && s.stderr.Len() > 0 {
			t.Logf("versitygw output:\n%s", s.stderr)
		}
	})
	if err := s.waitReady(); err != nil {
		t.Fatalf("s3test: %v\nversitygw output:\n%s", err, s.stderr)
	}
	return s
}

// Stop stops the server and waits for it to exit. Calling it again does
// nothing; Start registers it as a cleanup.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// CreateBucket creates a bucket through the S3 API, with a signed request.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	resp, body, err := s.do(context.Background(), http.MethodPut, "/"+name, nil)
	if err != nil {
		t.Fatalf("s3test: failed to create bucket: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("s3test: failed to create bucket: %s: %s", resp.Status, body)
	}
}

// ObjectPath is the file in which the posix backend keeps the object's
// bytes, exactly as uploaded. Keys with slashes are nested directories.
func (s *Server) ObjectPath(bucket, key string) string {
	return filepath.Join(s.Dir, bucket, filepath.FromSlash(key))
}

// do sends a signed request with body to the server and reads the answer.
func (s *Server) do(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("failed to build request: %w", err)
	}
	signV4(req, body, s.AccessKey, s.SecretKey, Region, time.Now())
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to send %s request: %w", method, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return resp, nil, fmt.Errorf("failed to read %s answer: %w", method, err)
	}
	return resp, buf.Bytes(), nil
}

// waitReady waits until a signed ListBuckets succeeds, which proves the
// server listens, serves and accepts its root key.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, body, err := s.do(ctx, http.MethodGet, "/", nil)
		cancel()
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s: %s", resp.Status, body)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("versitygw exited before it was ready (%v)", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw not ready within %v: %w", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findBinary finds versitygw on PATH or in GOPATH/bin, where go install puts
// it, and skips the test (fails it under CI) when it is in neither.
func findBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	missing(t, "versitygw not found on PATH or in GOPATH/bin; run ./test.sh, which installs it")
	return ""
}

// missing skips the test, or fails it when CI or EnvRequire is set.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" || os.Getenv(EnvRequire) != "" {
		t.Fatal("s3test: " + msg)
	}
	t.Skip("s3test: " + msg)
}

// freeAddr finds a free loopback port. versitygw cannot be handed a
// listener, so the port is closed again before it binds; another process
// taking it in between makes Start fail, not pass wrongly.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3test: failed to find a free port: %v", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer collects the server's output while tests read it.
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
