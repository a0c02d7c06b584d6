package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/keys"
)

// openKeys initialises and opens a real key store.
func openKeys(t *testing.T, kc keys.Config) keys.Store {
	t.Helper()
	ctx := context.Background()
	adm, err := keys.OpenAdmin(ctx, kc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Init(ctx); err != nil {
		t.Fatal(err)
	}
	adm.Close()
	st, err := keys.Open(ctx, kc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// storeRoundTrip uploads and downloads through a gateway over a real key
// store, checks the stored object with the age CLI, then makes the store
// unavailable and checks that an upload is refused with nothing upstream.
func storeRoundTrip(t *testing.T, st keys.Store) {
	c := newCloud(t)
	ca, err := st.CA()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.Identities()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, storageConfig(c, "storage"), FromStore(st), ca.CertPEM, ids[0].SecretKey())
	src := writeTemp(t, "x.bin", content(4<<20+3, 5))
	if _, e, err := h.curl(t, "-f", "-T", src, c.URL()+"/x.bin"); err != nil {
		t.Fatalf("PUT: %v: %s", err, e)
	}
	dec := filepath.Join(t.TempDir(), "dec")
	h.ageDecrypt(t, filepath.Join(c.dir, "x.bin"), dec)
	back := filepath.Join(t.TempDir(), "back")
	if _, e, err := h.curl(t, "-f", "-o", back, c.URL()+"/x.bin"); err != nil {
		t.Fatalf("GET: %v: %s", err, e)
	}
	if fileSum(t, dec) != fileSum(t, src) || fileSum(t, back) != fileSum(t, src) {
		t.Fatalf("round trip through the key store differs")
	}
	if !h.auditHas(t, `"action":"encrypt"`, fmt.Sprintf(`"key_version":%d`, ids[0].Version)) {
		t.Errorf("audit lacks the key version")
	}

	st.Close()
	reqs, in := c.requests.Load(), c.bytesIn.Load()
	out, _, _ := h.curl(t, "-w", "\n%{http_code}", "-T", src, c.URL()+"/y.bin")
	if !strings.HasSuffix(out, "\n503") {
		t.Errorf("upload with the key store closed: %s", out)
	}
	if c.requests.Load() != reqs || c.bytesIn.Load() != in {
		t.Errorf("upstream received data while the key store was unavailable")
	}
	if _, err := os.Stat(filepath.Join(c.dir, "y.bin")); err == nil {
		t.Errorf("object stored while the key store was unavailable")
	}
}

func TestEmbeddedKeyStore(t *testing.T) {
	storeRoundTrip(t, openKeys(t, keys.Config{DataDir: t.TempDir()}))
}
