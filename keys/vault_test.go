package keys

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/internal/vaulttest"
)

// vaultFixture is a real Vault (deploy/vault-dev) with sluss's policies
// loaded, an operator token and a gateway AppRole.
type vaultFixture struct {
	v                 *vaulttest.Server
	operator          string // token with sluss-operator
	roleID, secretID  string // AppRole login with sluss-gateway
	requests          *requestLog
	clock             *fakeClock
	operatorAdmin     Admin
	escrow            []string
	refresh, maxStale time.Duration
}

func newVaultFixture(t *testing.T) *vaultFixture {
	t.Helper()
	v := vaulttest.Start(t)
	for _, name := range []string{"sluss-gateway", "sluss-operator"} {
		hcl, err := os.ReadFile(filepath.Join("..", "deploy", "vault", name+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		v.WritePolicy(t, name, string(hcl))
	}
	f := &vaultFixture{v: v, requests: &requestLog{}, clock: newFakeClock(), refresh: time.Minute, maxStale: 15 * time.Minute}
	f.operator = v.Token(t, "sluss-operator")
	f.roleID, f.secretID = v.AppRole(t, "sluss-gateway", "sluss-gateway")
	for what, s := range map[string]string{"root token": v.RootToken, "operator token": f.operator, "secret_id": f.secretID} {
		leaks.addString(what, s)
	}
	return f
}

// tokenConfig is a configuration that logs in with a token.
func (f *vaultFixture) tokenConfig(token string) Config {
	return Config{
		Vault: &VaultConfig{
			Address:   f.v.Addr,
			Auth:      VaultAuth{Token: Secret(token)},
			Transport: f.requests.wrap,
		},
		RefreshInterval: f.refresh,
		MaxStaleness:    f.maxStale,
		Escrow:          f.escrow,
		Clock:           f.clock.Now,
	}
}

// gatewayConfig logs in with the gateway's AppRole; secret_id comes from a
// file, as it would in production.
func (f *vaultFixture) gatewayConfig(t *testing.T) Config {
	cfg := f.tokenConfig("")
	p := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(p, []byte(f.secretID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Vault.Auth = VaultAuth{AppRole: &AppRole{RoleID: f.roleID, SecretIDFile: p}}
	return cfg
}

func (f *vaultFixture) admin(t *testing.T) Admin {
	t.Helper()
	if f.operatorAdmin == nil {
		a, err := OpenAdmin(context.Background(), f.tokenConfig(f.operator), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		f.operatorAdmin = a
	}
	return f.operatorAdmin
}

func (f *vaultFixture) init(t *testing.T) {
	t.Helper()
	res, err := f.admin(t).Init(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	collect(res)
	f.register(t)
}

func (f *vaultFixture) register(t *testing.T) {
	t.Helper()
	registerSecrets(t, f.admin(t).(*admin).b, DefaultHMACDomains)
}

func (f *vaultFixture) openGateway(t *testing.T) *cachedStore {
	t.Helper()
	st, err := Open(context.Background(), f.gatewayConfig(t), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*cachedStore)
}

// requestLog is an http.RoundTripper wrapper that records every request
// sluss makes to Vault.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		return next.RoundTrip(r)
	})
}

func (l *requestLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs[n:]...)
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestVaultLifecycle: keys init; encrypt; rotate the identity; a file from
// before the rotation still decrypts and new files use the new version;
// escrow and exported identities decrypt everything with the age CLI.
func TestVaultLifecycle(t *testing.T) {
	escrow, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	leaks.addSecret("escrow seed", escrow.Seed())
	leaks.addString("escrow secret key", escrow.SecretKey())
	f := newVaultFixture(t)
	f.escrow = []string{escrow.Recipient().String()}
	ctx := context.Background()

	first, err := f.admin(t).Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.register(t)
	again, err := f.admin(t).Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	collect(first, again)
	for i := range first {
		if !first[i].Created || again[i].Created || again[i].Version != 1 {
			t.Fatalf("Init: first %+v, again %+v", first[i], again[i])
		}
	}

	st := f.openGateway(t)
	plain := [][]byte{[]byte("före rotationen"), []byte("efter rotationen")}
	var objects [][]byte
	objects = append(objects, encryptWith(t, st, plain[0]))

	if v, err := f.admin(t).RotateIdentity(ctx); err != nil || v != 2 {
		t.Fatalf("RotateIdentity = %d, %v", v, err)
	}
	f.register(t)
	if err := st.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	enc, _ := st.Encryption()
	if enc.Version != 2 {
		t.Fatalf("after rotation and refresh: v%d", enc.Version)
	}
	objects = append(objects, encryptWith(t, st, plain[1]))
	ids, _ := st.Identities()
	if got := decryptWith(t, ids, objects[0]); !bytes.Equal(got, plain[0]) {
		t.Fatal("the file from before the rotation does not decrypt")
	}
	v1, _ := st.Identity(1)
	if _, err := crypto.Decrypt(bytes.NewReader(objects[1]), v1.Identity); err == nil {
		t.Fatal("the new file decrypts with identity v1")
	}
	if got := decryptWith(t, []Identity{ids[0]}, objects[1]); !bytes.Equal(got, plain[1]) {
		t.Fatal("the new file does not decrypt with identity v2")
	}

	// The gateway's policy is read-only: it cannot rotate.
	gwAdmin, err := OpenAdmin(ctx, f.gatewayConfig(t), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer gwAdmin.Close()
	_, err = gwAdmin.RotateIdentity(ctx)
	collect(err)
	if err == nil || !strings.Contains(err.Error(), "secret/data/sluss/identity") || !strings.Contains(err.Error(), "sluss-operator.hcl") {
		t.Fatalf("rotation with the gateway policy: %v, want a 403 naming the path and sluss-operator", err)
	}

	list, err := f.admin(t).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	collect(list)

	// Escrow and exit plan, with the real age CLI.
	dir := t.TempDir()
	escrowFile := filepath.Join(dir, "escrow.txt")
	os.WriteFile(escrowFile, []byte(escrow.SecretKey()+"\n"), 0o600)
	exported, err := f.admin(t).ExportIdentities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, id := range exported {
		b.WriteString(id.SecretKey() + "\n")
	}
	exportFile := filepath.Join(dir, "exported.txt")
	os.WriteFile(exportFile, []byte(b.String()), 0o600)
	for i, ct := range objects {
		if got := ageDecrypt(t, escrowFile, ct); !bytes.Equal(got, plain[i]) {
			t.Fatalf("object %d: escrow identity gives %q", i, got)
		}
		if got := ageDecrypt(t, exportFile, ct); !bytes.Equal(got, plain[i]) {
			t.Fatalf("object %d: exported identities give %q", i, got)
		}
	}
}

// TestVaultAppRole: a wrong secret_id fails clearly and without echoing it.
func TestVaultAppRole(t *testing.T) {
	f := newVaultFixture(t)
	f.init(t)
	f.openGateway(t) // the right secret_id works

	cfg := f.gatewayConfig(t)
	wrong := "0e1a7c2e-0000-4000-8000-5ec2e7000000"
	leaks.addString("wrong secret_id", wrong)
	cfg.Vault.Auth.AppRole.SecretIDFile, cfg.Vault.Auth.AppRole.SecretID = "", Secret(wrong)
	_, err := Open(context.Background(), cfg, testLogger(t))
	collect(err)
	if err == nil || !strings.Contains(err.Error(), "AppRole login") || !strings.Contains(err.Error(), "check role_id and secret_id") {
		t.Fatalf("Open with a wrong secret_id = %v", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatal("the error quotes the secret_id")
	}
}

// TestVaultPermissionDenied: a token without sluss's policy gets an error
// naming the path and the policy it needs; a store not initialised names
// the missing path.
func TestVaultPermissionDenied(t *testing.T) {
	f := newVaultFixture(t)
	bare := f.v.Token(t) // the default policy alone
	leaks.addString("bare token", bare)
	_, err := Open(context.Background(), f.tokenConfig(bare), testLogger(t))
	collect(err)
	want := `vault denied reading secret/data/sluss/identity (403 permission denied): the token needs a policy granting "read" on secret/data/sluss/* (deploy/vault/sluss-gateway.hcl)`
	if err == nil || err.Error() != want {
		t.Fatalf("Open with a bare token:\n got %v\nwant %s", err, want)
	}

	_, err = Open(context.Background(), f.gatewayConfig(t), testLogger(t))
	collect(err)
	if !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "secret/data/sluss/identity") {
		t.Fatalf("Open before init = %v, want ErrNotInitialized naming the path", err)
	}

	_, err = Open(context.Background(), f.tokenConfig("hvs.not-a-token"), testLogger(t))
	collect(err)
	if err == nil || !strings.Contains(err.Error(), "rejected the token") {
		t.Fatalf("Open with a wrong token = %v", err)
	}
}

// TestVaultOutage: with Vault stopped, cached keys keep working up to
// max_staleness, then every method fails closed; and no operation ever
// sends a request to Vault.
func TestVaultOutage(t *testing.T) {
	f := newVaultFixture(t)
	f.init(t)
	st := f.openGateway(t)
	ctx := context.Background()

	before := f.requests.count()
	for range 100000 {
		if _, err := st.Encryption(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Identities(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CurrentHMACKey("pnr"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CA(); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.requests.since(before); len(got) != 0 {
		t.Fatalf("400 000 key lookups sent %d requests to Vault: %v", len(got), got)
	}
	// One refresh is one read per kind of key and one of the S3 access
	// keys: the steady-state load.
	if err := st.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.requests.since(before)
	t.Logf("one refresh: %d requests: %v", len(got), got)
	if want := len(kinds(DefaultHMACDomains)) + 1; len(got) != want {
		t.Fatalf("one refresh sent %d requests, want %d", len(got), want)
	}

	f.v.Stop()
	f.clock.Add(10 * time.Minute)
	err := st.refresh(ctx)
	collect(err)
	if err == nil || !strings.Contains(err.Error(), "cannot reach vault at "+f.v.Addr) {
		t.Fatalf("refresh with Vault stopped = %v", err)
	}
	if err := st.Ready(); err != nil {
		t.Fatalf("Ready 10 min into the outage: %v", err)
	}
	ct := encryptWith(t, st, []byte("during the outage"))
	ids, _ := st.Identities()
	if got := decryptWith(t, ids, ct); string(got) != "during the outage" {
		t.Fatal("round trip during the outage")
	}
	f.clock.Add(5*time.Minute + time.Second) // 15m1s since the last refresh
	checkFailsClosed(t, st, "cannot reach vault")

	// Starting without a reachable Vault is one clear error.
	_, err = Open(ctx, f.gatewayConfig(t), testLogger(t))
	collect(err)
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach vault at "+f.v.Addr) {
		t.Fatalf("Open with Vault stopped = %v", err)
	}
}

// TestVaultTokenRenewal: the gateway's AppRole token is renewed once half
// its TTL has passed, at the next refresh.
func TestVaultTokenRenewal(t *testing.T) {
	f := newVaultFixture(t)
	f.init(t)
	if status, resp := f.v.Request(t, http.MethodPost, "auth/approle/role/sluss-gateway", f.v.RootToken,
		map[string]any{"token_policies": []string{"sluss-gateway"}, "token_ttl": "1h", "token_max_ttl": "24h"}); status != http.StatusNoContent {
		t.Fatalf("setting the role's TTL: %d %v", status, resp)
	}
	st := f.openGateway(t)
	ctx := context.Background()

	before := f.requests.count()
	f.clock.Add(20 * time.Minute)
	if err := st.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.requests.since(before); strings.Contains(strings.Join(got, " "), "renew-self") {
		t.Fatalf("renewed at a third of the TTL: %v", got)
	}
	before = f.requests.count()
	f.clock.Add(11 * time.Minute)
	if err := st.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.requests.since(before)
	if !strings.Contains(strings.Join(got, " "), "PUT /v1/auth/token/renew-self") {
		t.Fatalf("no renewal past half the TTL: %v", got)
	}
}
