package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/pseudonym"
)

// TestMain lets the test binary run as a gateway subprocess, so the memory
// test can measure the gateway alone.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SLUSS_GATEWAY_CHILD"); dir != "" {
		if err := runChildGateway(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child gateway:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChildGateway serves a gateway with fresh test keys, writes its address,
// CA and identity into dir, and runs until stdin closes.
func runChildGateway(dir string) error {
	keys := newTestKeys(childTB{})
	port, _ := strconv.Atoi(os.Getenv("SLUSS_UPSTREAM_PORT"))
	cfg := Config{UpstreamCA: os.Getenv("SLUSS_UPSTREAM_CA"),
		Services: []ServiceConfig{{Hosts: []string{"127.0.0.1"}, Profile: "storage", Ports: []int{port}}}}
	p, err := pseudonym.New(pseudonym.Config{}, pseudonym.NewStaticKeys(make([]byte, 32)), pseudonym.NewMemoryStore())
	if err != nil {
		return err
	}
	gw, err := New(cfg, keys, zerolog.New(io.Discard), zerolog.Nop(), WithPseudonymizer(p))
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go gw.Serve(l)
	os.WriteFile(filepath.Join(dir, "ca.pem"), keys.caPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "identity"), []byte(keys.id.SecretKey()), 0o600)
	if err := os.WriteFile(filepath.Join(dir, "addr.tmp"), []byte(l.Addr().String()), 0o644); err != nil {
		return err
	}
	os.Rename(filepath.Join(dir, "addr.tmp"), filepath.Join(dir, "addr"))
	io.Copy(io.Discard, os.Stdin)
	return gw.Close()
}

// childTB is enough of testing.TB for newTestKeys outside a test.
type childTB struct{ testing.TB }

func (childTB) Helper()                      {}
func (childTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (childTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// streamReader yields n pseudo-random bytes starting with the marker.
type streamReader struct {
	r    *mrand.ChaCha8
	left int64
	head []byte
}

func newStream(n int64, seed byte) *streamReader {
	return &streamReader{r: mrand.NewChaCha8([32]byte{seed}), left: n, head: []byte(secretMarker)}
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.left)]
	s.r.Read(p)
	if len(s.head) > 0 {
		c := copy(p, s.head)
		s.head = s.head[c:]
	}
	s.left -= int64(len(p))
	return len(p), nil
}

func TestMemoryOneGiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB through the gateway; skipped with -short")
	}
	const size = 1 << 30
	c := newCloud(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SLUSS_GATEWAY_CHILD="+dir, "SLUSS_UPSTREAM_CA="+c.caFile, "SLUSS_UPSTREAM_PORT="+strconv.Itoa(c.port()))
	stdin, _ := cmd.StdinPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var addr []byte
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(filepath.Join(dir, "addr")); err == nil {
			addr = b
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if addr == nil {
		t.Fatal("child gateway did not start")
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	h := &harness{proxy: "http://" + string(addr)}
	cl := h.clientWithCA(caPEM)

	// Warm up with a small round trip, then take the baseline.
	put := func(r io.Reader, n int64) {
		req, _ := http.NewRequest(http.MethodPut, c.URL()+"/big", r)
		req.ContentLength = n
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("PUT: %s", resp.Status)
		}
	}
	get := func() ([]byte, int64) {
		resp, err := cl.Get(c.URL() + "/big")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		hh := sha256.New()
		n, err := io.Copy(hh, resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return hh.Sum(nil), n
	}
	put(bytes.NewReader(make([]byte, 1<<20)), 1<<20)
	get()
	base := vmHWM(t, cmd.Process.Pid)

	start := time.Now()
	want := sha256.New()
	put(io.TeeReader(newStream(size, 42), want), size)
	up := time.Since(start)
	start = time.Now()
	got, n := get()
	down := time.Since(start)
	if n != size || !bytes.Equal(got, want.Sum(nil)) {
		t.Fatalf("1 GiB download differs from the upload (%d bytes)", n)
	}
	peak := vmHWM(t, cmd.Process.Pid)
	growth := peak - base
	t.Logf("gateway VmHWM %d MiB before, %d MiB after 1 GiB up (%.0f MB/s) and down (%.0f MB/s): growth %d MiB",
		base>>20, peak>>20, size/up.Seconds()/1e6, size/down.Seconds()/1e6, growth>>20)
	if growth >= 100<<20 {
		t.Errorf("gateway RSS grew by %d MiB moving 1 GiB; want < 100 MiB", growth>>20)
	}
}
