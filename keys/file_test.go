package keys

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
)

// fileFixture is an initialised embedded store in a temporary directory.
type fileFixture struct {
	dir   string
	cfg   Config
	clock *fakeClock
	admin Admin
}

func newFileFixture(t *testing.T, escrow ...string) *fileFixture {
	t.Helper()
	f := &fileFixture{dir: filepath.Join(t.TempDir(), "sluss-data"), clock: newFakeClock()}
	f.cfg = Config{DataDir: f.dir, Clock: f.clock.Now, RefreshInterval: time.Hour, MaxStaleness: 2 * time.Hour, Escrow: escrow}
	ctx := context.Background()
	a, err := OpenAdmin(ctx, f.cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	f.admin = a
	res, err := a.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	collect(res)
	f.register(t)
	return f
}

func (f *fileFixture) register(t *testing.T) {
	registerSecrets(t, newFileBackend(f.dir), DefaultHMACDomains)
}

func (f *fileFixture) open(t *testing.T) *cachedStore {
	t.Helper()
	st, err := Open(context.Background(), f.cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*cachedStore)
}

func TestInitIsIdempotent(t *testing.T) {
	f := newFileFixture(t)
	again, err := f.admin.Init(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"identity", "hmac/pnr", "hmac/name", "reidentification", "ca"}
	if len(again) != len(want) {
		t.Fatalf("Init reported %d kinds, want %d", len(again), len(want))
	}
	for i, r := range again {
		if r.Kind != want[i] || r.Version != 1 || r.Created {
			t.Errorf("second Init: %+v, want %s v1 existing", r, want[i])
		}
	}
}

func TestFileStoreServesKeys(t *testing.T) {
	f := newFileFixture(t)
	st := f.open(t)

	enc, err := st.Encryption()
	if err != nil {
		t.Fatal(err)
	}
	if enc.Version != 1 || enc.Region == nil || len(enc.Escrow) != 0 || len(enc.Recipients()) != 1 {
		t.Fatalf("Encryption = %+v", enc)
	}
	ids, err := st.Identities()
	if err != nil || len(ids) != 1 || !ids[0].Recipient().Equal(enc.Region) {
		t.Fatalf("Identities = %v, %v", ids, err)
	}
	for _, d := range DefaultHMACDomains {
		v, k, err := st.CurrentHMACKey(d)
		if err != nil || v != 1 || len(k) != 32 {
			t.Fatalf("CurrentHMACKey(%s) = %d, %d bytes, %v", d, v, len(k), err)
		}
		k1, err := st.HMACKey(d, 1)
		if err != nil || !bytes.Equal(k, k1) {
			t.Fatalf("HMACKey(%s, 1): %v", d, err)
		}
	}
	pnr, _ := st.HMACKey("pnr", 1)
	name, _ := st.HMACKey("name", 1)
	if bytes.Equal(pnr, name) {
		t.Fatal("pnr and name share a key")
	}
	_, err = st.HMACKey("pnr", 7)
	collect(err)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("HMACKey(pnr, 7) = %v, want ErrNotFound", err)
	}
	_, _, err = st.CurrentHMACKey("nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("CurrentHMACKey(nope) = %v, want ErrNotFound", err)
	}
	rk, err := st.ReidentificationKey()
	if err != nil || len(rk) != 32 {
		t.Fatalf("ReidentificationKey: %d bytes, %v", len(rk), err)
	}

	ca, err := st.CA()
	if err != nil {
		t.Fatal(err)
	}
	collect(ca, enc, ids, ids[0], st)
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != DefaultCAName {
		t.Fatalf("CA cert: IsCA=%v CN=%q", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CertPEM does not parse")
	}
	if _, err := ca.Cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: time.Now()}); err != nil {
		t.Fatalf("CA does not verify as its own root: %v", err)
	}
	if err := st.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func TestDataDirPermissions(t *testing.T) {
	f := newFileFixture(t)
	keysDir := filepath.Join(f.dir, "keys")
	st, err := os.Stat(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("%s has mode %#o, want 0700", keysDir, st.Mode().Perm())
	}
	files, _ := filepath.Glob(filepath.Join(keysDir, "*.json"))
	if len(files) != 5 {
		t.Fatalf("key files: %v", files)
	}
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", p, st.Mode().Perm())
		}
	}

	id := filepath.Join(keysDir, "identity.json")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(id, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), f.cfg, testLogger(t))
		collect(err)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+id) {
			t.Fatalf("mode %#o: Open = %v, want a refusal saying chmod 600 %s", mode, err, id)
		}
	}
	if err := os.Chmod(id, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), f.cfg, testLogger(t))
	collect(err)
	if err == nil || !strings.Contains(err.Error(), "chmod 700 "+keysDir) {
		t.Fatalf("Open with a 0755 key dir = %v, want a refusal saying chmod 700", err)
	}
	if err := os.Chmod(keysDir, 0o700); err != nil {
		t.Fatal(err)
	}
	f.open(t)
}

func TestOpenUninitialised(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "empty")
	_, err := Open(context.Background(), Config{DataDir: dir}, testLogger(t))
	collect(err)
	if !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "sluss keys init") {
		t.Fatalf("Open on an empty dir = %v, want ErrNotInitialized naming `sluss keys init`", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created %s: %v", dir, err)
	}
	a, err := OpenAdmin(context.Background(), Config{DataDir: dir}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.RotateIdentity(context.Background())
	collect(err)
	if !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("rotate before init = %v", err)
	}
}

// TestRotateIdentity: after a rotation new objects use the new version, and
// objects from before still decrypt.
func TestRotateIdentity(t *testing.T) {
	f := newFileFixture(t)
	st := f.open(t)
	ctx := context.Background()

	old := encryptWith(t, st, []byte("before rotation"))
	v, err := f.admin.RotateIdentity(ctx)
	if err != nil || v != 2 {
		t.Fatalf("RotateIdentity = %d, %v", v, err)
	}
	f.register(t)
	if enc, _ := st.Encryption(); enc.Version != 1 {
		t.Fatalf("cache changed before a refresh: v%d", enc.Version)
	}
	if err := st.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	enc, err := st.Encryption()
	if err != nil || enc.Version != 2 {
		t.Fatalf("after refresh: v%d, %v", enc.Version, err)
	}
	ids, _ := st.Identities()
	if len(ids) != 2 || ids[0].Version != 2 || ids[1].Version != 1 {
		t.Fatalf("Identities = %v", ids)
	}
	for _, v := range []int{1, 2} {
		if id, err := st.Identity(v); err != nil || id.Version != v {
			t.Fatalf("Identity(%d) = %v, %v", v, id, err)
		}
	}
	if _, err := st.Identity(3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Identity(3) = %v", err)
	}
	fresh := encryptWith(t, st, []byte("after rotation"))
	if got := decryptWith(t, []Identity{ids[1]}, old); string(got) != "before rotation" {
		t.Fatalf("old file: %q", got)
	}
	if got := decryptWith(t, ids, old); string(got) != "before rotation" {
		t.Fatalf("old file with all identities: %q", got)
	}
	if _, err := crypto.Decrypt(bytes.NewReader(fresh), ids[1].Identity); err == nil {
		t.Fatal("new file decrypts with the old identity: it was not encrypted to the new version only")
	}
	if got := decryptWith(t, []Identity{ids[0]}, fresh); string(got) != "after rotation" {
		t.Fatalf("new file: %q", got)
	}

	for _, d := range DefaultHMACDomains {
		if v, err := f.admin.RotateHMAC(ctx, d); err != nil || v != 2 {
			t.Fatalf("RotateHMAC(%s) = %d, %v", d, v, err)
		}
	}
	_, err = f.admin.RotateHMAC(ctx, "shoe-size")
	collect(err)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("RotateHMAC(unknown) = %v", err)
	}
	caBefore, _ := st.CA()
	if v, err := f.admin.RotateCA(ctx); err != nil || v != 2 {
		t.Fatalf("RotateCA = %d, %v", v, err)
	}
	f.register(t)
	if err := st.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	v, k2, _ := st.CurrentHMACKey("pnr")
	k1, _ := st.HMACKey("pnr", 1)
	if v != 2 || bytes.Equal(k1, k2) {
		t.Fatalf("pnr after rotation: v%d, keys equal %v", v, bytes.Equal(k1, k2))
	}
	caAfter, _ := st.CA()
	if caAfter.Version != 2 || caAfter.Cert.Equal(caBefore.Cert) {
		t.Fatalf("CA after rotation: %v", caAfter)
	}

	list, err := f.admin.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	collect(list)
	if len(list) != 9 {
		t.Fatalf("List: %d entries, want 9 (2 per kind, 1 re-identification key)", len(list))
	}
	for _, k := range list {
		if k.Fingerprint == "" || k.Created.IsZero() || k.Current != (k.Version == 2 || k.Kind == KindReidentification) {
			t.Errorf("List entry %+v", k)
		}
	}
}

// TestStaleness proves the bounded life of cached keys: when refreshing
// fails, keys keep working until MaxStaleness, then every method fails
// closed, and a successful refresh brings them back.
func TestStaleness(t *testing.T) {
	f := newFileFixture(t)
	st := f.open(t)
	ctx := context.Background()
	id := filepath.Join(f.dir, "keys", "identity.json")
	if err := os.Chmod(id, 0o644); err != nil { // makes the next refresh fail
		t.Fatal(err)
	}
	f.clock.Add(time.Hour)
	err := st.refresh(ctx)
	collect(err)
	if err == nil {
		t.Fatal("refresh of a group-readable key file succeeded")
	}
	f.clock.Add(59 * time.Minute) // 1h59m since the last good refresh
	if err := st.Ready(); err != nil {
		t.Fatalf("Ready within max staleness: %v", err)
	}
	if _, err := st.Encryption(); err != nil {
		t.Fatalf("Encryption within max staleness: %v", err)
	}
	f.clock.Add(2 * time.Minute) // past 2h
	checkFailsClosed(t, st, "chmod 600")
	if err := os.Chmod(id, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(); err != nil {
		t.Fatalf("Ready after a good refresh: %v", err)
	}
}

// checkFailsClosed asserts that every key method of st fails with
// ErrUnavailable and that Ready explains why, mentioning reason.
func checkFailsClosed(t *testing.T, st Store, reason string) {
	t.Helper()
	var errs []error
	_, err := st.Encryption()
	errs = append(errs, err)
	_, err = st.Identities()
	errs = append(errs, err)
	_, err = st.Identity(1)
	errs = append(errs, err)
	_, _, err = st.CurrentHMACKey("pnr")
	errs = append(errs, err)
	_, err = st.HMACKey("pnr", 1)
	errs = append(errs, err)
	_, err = st.ReidentificationKey()
	errs = append(errs, err)
	_, err = st.CA()
	errs = append(errs, err)
	_, err = st.S3Credential("AKIAFAILSCLOSED")
	errs = append(errs, err)
	errs = append(errs, st.Ready())
	for i, err := range errs {
		collect(err)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("method %d past max staleness: %v, want ErrUnavailable", i, err)
		}
	}
	if err := st.Ready(); err == nil || !strings.Contains(err.Error(), "max_staleness") || !strings.Contains(err.Error(), reason) {
		t.Errorf("Ready = %v, want the staleness and %q", err, reason)
	}
}

func TestClose(t *testing.T) {
	f := newFileFixture(t)
	st := f.open(t)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Encryption(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Encryption after Close = %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestConcurrentReadsAndRefreshes is for the race detector: readers on
// every method while the store refreshes and an admin rotates.
func TestConcurrentReadsAndRefreshes(t *testing.T) {
	f := newFileFixture(t)
	st := f.open(t)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				enc, err := st.Encryption()
				if err != nil || len(enc.Recipients()) != 1 {
					t.Error(err)
					return
				}
				ids, _ := st.Identities()
				if _, err := st.Identity(ids[len(ids)-1].Version); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := st.CurrentHMACKey("name"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 5 {
		if _, err := f.admin.RotateIdentity(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	f.register(t)
	if enc, _ := st.Encryption(); enc.Version != 6 {
		t.Fatalf("after 5 rotations: v%d", enc.Version)
	}
}

// TestConcurrentRotations: two admins rotating at once never lose a
// version (the file store locks and compares revisions).
func TestConcurrentRotations(t *testing.T) {
	f := newFileFixture(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := OpenAdmin(ctx, f.cfg, testLogger(t))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := a.RotateHMAC(ctx, "pnr"); err != nil {
				collect(err)
				if !errors.Is(err, errConflict) {
					t.Error(err)
				}
				mu.Lock()
				conflicts++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	f.register(t)
	d, _, err := newFileBackend(f.dir).get(ctx, "hmac/pnr")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(d.Versions); got != 1+8-conflicts {
		t.Fatalf("%d versions after 8 rotations with %d conflicts", got, conflicts)
	}
}

func encryptWith(t testing.TB, st Store, plain []byte) []byte {
	t.Helper()
	enc, err := st.Encryption()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := crypto.Encrypt(&buf, enc.Recipients()...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decryptWith(t testing.TB, ids []Identity, ct []byte) []byte {
	t.Helper()
	r, err := crypto.Decrypt(bytes.NewReader(ct), AgeIdentities(ids)...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
