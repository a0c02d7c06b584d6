package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/rs/zerolog"
	"golang.org/x/net/webdav"

	stdcrypto "crypto"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/pseudonym"
)

// secretMarker is in every test file's contents; no log may contain it.
const secretMarker = "SLUSS-TEST-CONTENT-d41d8cd98f"

// testKeys is a KeySource with a fresh identity and a self-made CA, which
// a test can make unavailable.
type testKeys struct {
	id      *crypto.Identity
	caCert  *x509.Certificate
	caKey   stdcrypto.Signer
	caPEM   []byte
	failing atomic.Bool
}

var errTestKeysDown = errors.New("test key store made unavailable")

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluss test region CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testKeys{id: id, caCert: cert, caKey: key, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (k *testKeys) EncryptionKeys() (int, []age.Recipient, error) {
	if k.failing.Load() {
		return 0, nil, errTestKeysDown
	}
	return 1, []age.Recipient{k.id.Recipient()}, nil
}

func (k *testKeys) DecryptionKeys() ([]age.Identity, error) {
	if k.failing.Load() {
		return nil, errTestKeysDown
	}
	return []age.Identity{k.id}, nil
}

func (k *testKeys) CA() (*x509.Certificate, stdcrypto.Signer, error) { return k.caCert, k.caKey, nil }

func (k *testKeys) Ready() error {
	if k.failing.Load() {
		return errTestKeysDown
	}
	return nil
}

// cloud is the HTTPS "cloud service" upstream: WebDAV over a directory,
// plus /form, which stores multipart bodies raw. It counts what it gets.
type cloud struct {
	dir      string
	srv      *httptest.Server
	caFile   string
	requests atomic.Int64
	bytesIn  atomic.Int64
	forms    atomic.Int64
	// mux serves the paths tests register on it, before WebDAV.
	mux *http.ServeMux
}

func newCloud(t testing.TB) *cloud {
	t.Helper()
	c := &cloud{dir: t.TempDir(), mux: http.NewServeMux()}
	dav := &webdav.Handler{FileSystem: webdav.Dir(c.dir), LockSystem: webdav.NewMemLS()}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		r.Body = &countingBody{ReadCloser: r.Body, n: new(int64)}
		defer func() { c.bytesIn.Add(*r.Body.(*countingBody).n) }()
		if _, pattern := c.mux.Handler(r); pattern != "" {
			c.mux.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			return
		}
		if r.URL.Path == "/form" && r.Method == http.MethodPost {
			n := c.forms.Add(1)
			f, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("form-%d", n)))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			defer f.Close()
			if _, err := io.Copy(f, r.Body); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			fmt.Fprintln(w, "stored")
			return
		}
		dav.ServeHTTP(w, r)
	}))
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	c.caFile = filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(c.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// URL is the cloud's https://127.0.0.1:PORT base.
func (c *cloud) URL() string { return c.srv.URL }

func (c *cloud) host() string { u, _ := url.Parse(c.srv.URL); return u.Host }

// exists reports whether the cloud stored name.
func (c *cloud) exists(name string) (bool, error) {
	_, err := os.Stat(filepath.Join(c.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// port is the cloud's TCP port, for service configurations.
func (c *cloud) port() int { return urlPort(c.srv.URL) }

func urlPort(u string) int {
	pu, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	p, _ := strconv.Atoi(pu.Port())
	return p
}

func (c *cloud) stored(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer is a log sink tests can read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a gateway serving on loopback in-process.
type harness struct {
	keys     *testKeys // nil when the gateway uses a real key store
	gw       *Gateway
	proxy    string // http://127.0.0.1:PORT
	admin    string
	audit    *syncBuffer
	auditLog *AuditLog // chained, over audit, signed with auditKey
	auditKey ed25519.PrivateKey
	debug    *syncBuffer
	caFile   string // region CA, for clients
	identity string // region identity file, for age -d
	pseudo   *pseudonym.Pseudonymizer
	store    *faultStore // the re-identification store

	namesMu     sync.Mutex
	names       map[string][]netip.Addr // what the gateway's resolver answers
	dialHook    func(ctx context.Context, network, addr string) (net.Conn, error)
	resolveHook func(ctx context.Context, host string) ([]netip.Addr, error)
}

// hookDial makes the gateway dial through d (nil: the real dialler).
func (h *harness) hookDial(d func(ctx context.Context, network, addr string) (net.Conn, error)) {
	h.namesMu.Lock()
	h.dialHook = d
	h.namesMu.Unlock()
}

// hookResolve makes the gateway resolve names through r, before h.names.
func (h *harness) hookResolve(r func(ctx context.Context, host string) ([]netip.Addr, error)) {
	h.namesMu.Lock()
	h.resolveHook = r
	h.namesMu.Unlock()
}

// faultStore is the re-identification store of a harness. While down is
// set it answers as the embedded bbolt store does once its file is gone:
// with the errors of a closed database (real ones, from a real store).
type faultStore struct {
	pseudonym.Store
	closed pseudonym.Store
	down   atomic.Bool
}

func newFaultStore(t testing.TB) *faultStore {
	closed, err := pseudonym.OpenBoltStore(filepath.Join(t.TempDir(), pseudonym.StoreFile), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	return &faultStore{Store: pseudonym.NewMemoryStore(), closed: closed}
}

func (s *faultStore) Put(ctx context.Context, entries ...pseudonym.Entry) error {
	if s.down.Load() {
		return s.closed.Put(ctx, entries...)
	}
	return s.Store.Put(ctx, entries...)
}

func (s *faultStore) Get(ctx context.Context, token string) ([]byte, error) {
	if s.down.Load() {
		return s.closed.Get(ctx, token)
	}
	return s.Store.Get(ctx, token)
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	k := newTestKeys(t)
	h := newHarnessWith(t, cfg, k, k.caPEM, k.id.SecretKey())
	h.keys = k
	return h
}

// newHarnessWith starts a gateway over any key source; caPEM and identity
// are what clients and the age CLI need.
func newHarnessWith(t testing.TB, cfg Config, ks KeySource, caPEM []byte, identity string) *harness {
	t.Helper()
	return newHarnessOn(t, cfg, ks, caPEM, identity, nil, nil)
}

// loopbackListeners returns two fresh listeners on 127.0.0.1, for tests
// that must know the gateway's ports before its configuration is made.
func loopbackListeners(t testing.TB) (proxy, admin net.Listener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l, al
}

// newHarnessOn is newHarnessWith on given proxy and admin listeners (nil:
// fresh ones). Each of setup runs on the harness before the gateway is
// built (to give it another re-identification store, say).
func newHarnessOn(t testing.TB, cfg Config, ks KeySource, caPEM []byte, identity string, l, al net.Listener, setup ...func(*harness)) *harness {
	t.Helper()
	h := &harness{audit: &syncBuffer{}, debug: &syncBuffer{}, store: newFaultStore(t)}
	for _, s := range setup {
		s(h)
	}
	hmacKey := make([]byte, 32)
	rand.Read(hmacKey)
	debugLog := zerolog.New(h.debug).Level(zerolog.DebugLevel)
	p, err := pseudonym.New(pseudonym.Config{Logger: &debugLog}, pseudonym.NewStaticKeys(hmacKey), h.store)
	if err != nil {
		t.Fatal(err)
	}
	h.pseudo = p
	_, h.auditKey, _ = ed25519.GenerateKey(rand.Reader)
	if h.auditLog, err = NewAuditLog(h.audit, AuditOptions{Key: h.auditKey, Interval: -1}); err != nil {
		t.Fatal(err)
	}
	gw, err := New(cfg, ks, h.auditLog.Logger(), debugLog, WithPseudonymizer(p), WithAuditLog(h.auditLog))
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw
	// The gateway's resolver knows the test's names: example.com (which
	// the test upstream's certificate names) and whatever h.names adds.
	h.names = map[string][]netip.Addr{"example.com": {netip.MustParseAddr("127.0.0.1")}}
	base, baseDial := gw.resolve, gw.dialAddr
	gw.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
		h.namesMu.Lock()
		hook := h.resolveHook
		as, ok := h.names[strings.ToLower(host)]
		h.namesMu.Unlock()
		if hook != nil {
			return hook(ctx, host)
		}
		if ok {
			return as, nil
		}
		return base(ctx, host)
	}
	gw.dialAddr = func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.namesMu.Lock()
		hook := h.dialHook
		h.namesMu.Unlock()
		if hook != nil {
			return hook(ctx, network, addr)
		}
		return baseDial(ctx, network, addr)
	}
	if l == nil {
		l, al = loopbackListeners(t)
	}
	gw.RegisterListener(l.Addr())
	gw.RegisterListener(al.Addr())
	go gw.Serve(l)
	go gw.ServeAdmin(al)
	h.proxy, h.admin = "http://"+l.Addr().String(), "http://"+al.Addr().String()
	dir := t.TempDir()
	h.caFile = filepath.Join(dir, "region-ca.pem")
	h.identity = filepath.Join(dir, "region.key")
	os.WriteFile(h.caFile, caPEM, 0o644)
	os.WriteFile(h.identity, []byte(identity+"\n"), 0o600)
	t.Cleanup(func() {
		gw.Close()
		h.auditLog.Close()
		for _, log := range []string{h.audit.String(), h.debug.String()} {
			if strings.Contains(log, secretMarker) {
				t.Errorf("a log contains file contents")
			}
			for _, v := range personalValues {
				if strings.Contains(log, v) {
					t.Errorf("a log contains a personal value used by the test")
				}
			}
		}
	})
	return h
}

// client returns an HTTP client that uses the gateway as its proxy and
// trusts the region CA.
func (h *harness) client(user, pass string) *http.Client {
	pu, _ := url.Parse(h.proxy)
	if user != "" {
		pu.User = url.UserPassword(user, pass)
	}
	pool := x509.NewCertPool()
	pool.AddCert(h.keys.caCert)
	return &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyURL(pu),
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: false,
	}}
}

// clientWithCA is client for a gateway whose CA is given as PEM.
func (h *harness) clientWithCA(caPEM []byte) *http.Client {
	pu, _ := url.Parse(h.proxy)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// auditEvents returns the audit log's events that have all of fields.
func (h *harness) auditHas(t testing.TB, fields ...string) bool {
	t.Helper()
	for _, line := range strings.Split(h.audit.String(), "\n") {
		ok := line != ""
		for _, f := range fields {
			ok = ok && strings.Contains(line, f)
		}
		if ok {
			return true
		}
	}
	return false
}

// content returns n bytes of test data: the marker, then pseudo-random
// bytes from seed.
func content(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	copy(b, secretMarker)
	return b
}

// needTool finds an external program, failing under CI and skipping
// otherwise when it is missing.
func needTool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found on PATH; install it: %s", name, hint)
		}
		t.Skipf("%s not found on PATH; install it: %s", name, hint)
	}
	return p
}

func storageConfig(c *cloud, profile string) Config {
	return Config{
		UpstreamCA: c.caFile,
		Services:   []ServiceConfig{{Name: "cloud", Hosts: []string{"127.0.0.1"}, Profile: profile, Ports: []int{c.port()}}},
	}
}

func splitHostPort(hp string) (string, string, error) { return net.SplitHostPort(hp) }
