package bench

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SinkCAFile is the name of the sink's CA certificate in its directory;
// its key is beside it in sink-ca.key, so a later run in the same
// directory reuses the CA (a gateway already running keeps trusting it).
const (
	SinkCAFile    = "sink-ca.pem"
	SinkPortFile  = "sink-port" // the port it listened on last
	sinkCAKeyFile = "sink-ca.key"
)

// sinkReadyPrefix starts the one line a sink prints on standard output
// when it accepts connections; the address follows.
const sinkReadyPrefix = "sink listening on "

// ServeSink runs the HTTPS upstream the benchmark sends its requests to,
// until ctx is done. It listens on addr (127.0.0.1:0 picks a port), uses
// the CA in dir or writes a new self-signed one to dir/sink-ca.pem, then
// prints "sink listening on 127.0.0.1:PORT" on ready.
//
// Routes: PUT or POST /sink/… reads and counts the body; PUT or POST
// /store/NAME keeps it in memory and GET /store/NAME serves it back with a
// Content-Length; POST /echo/… answers with the body it received, same
// content type (a form that shows what was submitted); GET /stats reports
// the counts as JSON.
func ServeSink(ctx context.Context, addr, dir string, ready io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ca, err := sinkCA(dir)
	if err != nil {
		return err
	}
	leaf, err := ca.leaf()
	if err != nil {
		return err
	}
	// The sink keeps its port in dir too, so a gateway configured for it
	// (which allows only the ports it is told) can be used again.
	portFile := filepath.Join(dir, SinkPortFile)
	listen := addr
	if host, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		if b, err := os.ReadFile(portFile); err == nil {
			listen = net.JoinHostPort(host, strings.TrimSpace(string(b)))
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil && listen != addr {
		ln, err = net.Listen("tcp", addr) // the saved port is taken
	}
	if err != nil {
		return err
	}
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		os.WriteFile(portFile, []byte(port+"\n"), 0o644)
	}
	s := &sink{objects: map[string][]byte{}}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// HTTP/1.1 only, like what the proxies speak upstream, so every
		// mode is measured on the same protocol.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12},
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	fmt.Fprintf(ready, "%s%s\n", sinkReadyPrefix, ln.Addr())
	select {
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
		return nil
	case err := <-done:
		return err
	}
}

// sinkCA loads the CA kept in dir, or makes and keeps a new one.
func sinkCA(dir string) (*testCA, error) {
	certFile, keyFile := filepath.Join(dir, SinkCAFile), filepath.Join(dir, sinkCAKeyFile)
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		cert, err := x509.ParseCertificate(c.Certificate[0])
		key, ok := c.PrivateKey.(*ecdsa.PrivateKey)
		if err == nil && ok && cert.IsCA && time.Now().Before(cert.NotAfter.Add(-time.Hour)) {
			return &testCA{cert: cert, key: key, der: c.Certificate[0]}, nil
		}
	}
	ca, err := newTestCA("sluss bench sink CA")
	if err != nil {
		return nil, err
	}
	key, err := ca.keyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return nil, fmt.Errorf("failed to write sink CA key: %w", err)
	}
	if err := os.WriteFile(certFile, ca.certPEM(), 0o644); err != nil {
		return nil, fmt.Errorf("failed to write sink CA: %w", err)
	}
	return ca, nil
}

type sink struct {
	mu       sync.Mutex
	objects  map[string][]byte
	requests atomic.Int64
	received atomic.Int64
	sent     atomic.Int64
}

// sinkStats is the body of GET /stats.
type sinkStats struct {
	Requests int64 `json:"requests"`
	Received int64 `json:"received_bytes"`
	Sent     int64 `json:"sent_bytes"`
	Objects  int   `json:"objects"`
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	switch {
	case r.URL.Path == "/stats" && r.Method == http.MethodGet:
		s.mu.Lock()
		st := sinkStats{s.requests.Load(), s.received.Load(), s.sent.Load(), len(s.objects)}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	case strings.HasPrefix(r.URL.Path, "/sink/") && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		n, err := io.Copy(io.Discard, r.Body)
		s.received.Add(n)
		if err != nil {
			http.Error(w, "failed to read body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"received":%d}`, n)
	case strings.HasPrefix(r.URL.Path, "/store/") && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		b, err := io.ReadAll(r.Body)
		s.received.Add(int64(len(b)))
		if err != nil {
			http.Error(w, "failed to read body", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.objects[r.URL.Path] = b
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"stored":%d}`, len(b))
	case strings.HasPrefix(r.URL.Path, "/store/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.mu.Lock()
		b, ok := s.objects[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method == http.MethodHead {
			return
		}
		n, _ := w.Write(b)
		s.sent.Add(int64(n))
	case strings.HasPrefix(r.URL.Path, "/echo/") && r.Method == http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		s.received.Add(int64(len(b)))
		if err != nil {
			http.Error(w, "failed to read body", http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		n, _ := w.Write(b)
		s.sent.Add(int64(n))
	default:
		http.Error(w, "no such route on the bench sink", http.StatusNotFound)
	}
}

// sinkProcess is a running `sluss bench --serve-sink`.
type sinkProcess struct {
	*process
	addr   string
	caFile string
}

// startSink starts the sink as a child process of exe (a sluss binary) and
// waits until it listens.
func startSink(ctx context.Context, exe, dir string) (*sinkProcess, error) {
	cmd := exec.Command(exe, "bench", "--serve-sink", dir)
	p, out, err := startProcess(cmd, "sink")
	if err != nil {
		return nil, err
	}
	line, err := readLineWithin(ctx, out, 15*time.Second)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("sink did not start: %w%s", err, p.stderrTail())
	}
	addr, ok := strings.CutPrefix(line, sinkReadyPrefix)
	if !ok {
		p.stop()
		return nil, fmt.Errorf("sink said %q, not %q…%s", line, sinkReadyPrefix, p.stderrTail())
	}
	go io.Copy(io.Discard, out)
	return &sinkProcess{process: p, addr: addr, caFile: filepath.Join(dir, SinkCAFile)}, nil
}

// readLineWithin reads one line from r, giving up after d or when ctx ends.
func readLineWithin(ctx context.Context, r io.Reader, d time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{strings.TrimSpace(line), err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case res := <-ch:
		if res.err != nil && res.line == "" {
			return "", res.err
		}
		return res.line, nil
	case <-t.C:
		return "", errors.New("timed out")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
