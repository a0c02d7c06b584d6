package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/keys"
)

// jumpClock is a wall clock a test can jump, shared by the gateway's leaf
// cache and the client's certificate checks: the machine's clock jumped.
type jumpClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *jumpClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestFaultClockJumpLeaf: the leaf certificates the gateway mints follow
// the wall clock. A jump forward past a cached leaf's NotAfter mints a
// fresh one; a jump backward before a cached leaf's NotBefore (a clock that
// ran ahead and was corrected) mints a fresh one too, instead of serving a
// certificate that is not valid yet; past the region CA's own NotAfter the
// gateway mints nothing and says why. The client verifies each certificate
// with the same clock, as a client on the jumped machine would.
func TestFaultClockJumpLeaf(t *testing.T) {
	st := openKeys(t, keys.Config{DataDir: t.TempDir()}) // its CA is valid for ten years
	t.Cleanup(func() { st.Close() })
	ca, err := st.CA()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.Identities()
	if err != nil {
		t.Fatal(err)
	}
	c := newCloud(t)
	c.mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	h := newHarnessWith(t, storageConfig(c, "inspect"), FromStore(st), ca.CertPEM, ids[0].SecretKey())
	t0 := time.Now()
	clock := &jumpClock{t: t0}
	h.gw.leaves.now = clock.Now // before the first request: no leaf exists yet

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	pu, _ := url.Parse(h.proxy)
	cl := &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyURL(pu),
		TLSClientConfig:   &tls.Config{RootCAs: pool, Time: clock.Now},
		DisableKeepAlives: true, // a handshake, and so a certificate, per request
	}}
	get := func(what string) (*x509.Certificate, error) {
		t.Helper()
		resp, err := cl.Get(c.URL() + "/ping")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "pong" {
			t.Fatalf("%s: %s %q", what, resp.Status, b)
		}
		leaf := resp.TLS.PeerCertificates[0]
		if now := clock.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			t.Fatalf("%s: leaf valid %s–%s, clock at %s", what, leaf.NotBefore, leaf.NotAfter, now)
		}
		return leaf, nil
	}
	mustGet := func(what string) *x509.Certificate {
		t.Helper()
		leaf, err := get(what)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return leaf
	}
	serial := func(c *x509.Certificate) *big.Int { return c.SerialNumber }

	first := mustGet("at t0")
	if again := mustGet("at t0, again"); serial(again).Cmp(serial(first)) != 0 {
		t.Errorf("a second handshake at the same time minted a new leaf")
	}
	// Thirty minutes back stays inside the hour of slack before NotBefore:
	// the cached leaf is still valid and still served.
	clock.Set(t0.Add(-30 * time.Minute))
	if back := mustGet("30 min back"); serial(back).Cmp(serial(first)) != 0 {
		t.Errorf("a small backward jump minted a new leaf")
	}

	// Forward past the leaf's NotAfter (seven days).
	clock.Set(first.NotAfter.Add(time.Hour))
	ahead := mustGet("past NotAfter")
	if serial(ahead).Cmp(serial(first)) == 0 {
		t.Fatal("the expired leaf was served")
	}

	// Back to t0+1 day: the leaf minted at t0+7 days is not valid yet.
	clock.Set(t0.Add(24 * time.Hour))
	corrected, err := get("jumped back before NotBefore")
	if err != nil {
		t.Fatalf("after a backward jump the gateway served a leaf that is not valid yet: %v", err)
	}
	if serial(corrected).Cmp(serial(ahead)) == 0 {
		t.Fatal("the not-yet-valid leaf was served")
	}

	// Past the CA's own NotAfter no leaf can be valid: the handshake fails
	// and the reason (not a certificate that expired with its CA) is in
	// the gateway's log.
	clock.Set(ca.Cert.NotAfter.Add(time.Minute))
	if _, err := get("past the CA's NotAfter"); err == nil {
		t.Fatal("a request succeeded with the region CA expired")
	}
	// The gateway records the failure once its side of the handshake ends,
	// which may be after the client has returned.
	for deadline := time.Now().Add(5 * time.Second); !h.auditHas(t, `"action":"tls_failed"`) || !strings.Contains(h.debug.String(), "region CA expired"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the refused handshake is not audited, or the debug log does not say the region CA expired:\n%s\n%s", h.audit.String(), h.debug.String())
		}
	}
	clock.Set(t0)
	mustGet("back at t0")
	if !h.auditSoon(t, `"method":"GET"`, `"path":"/ping"`, `"status":200`) {
		t.Errorf("audit lacks the requests:\n%s", h.audit.String())
	}
}
