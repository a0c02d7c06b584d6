package keys

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFaultClockJumpVaultToken: the gateway's own clock jumps while Vault's
// does not. Forward, the token's renewal falls due at once and is merely
// early; backward, the renewal is put off past the token's real expiry,
// and the next refresh, denied by Vault, logs in again with AppRole
// instead of failing. Either way the keys keep loading.
//
// In production the clock is time.Now, whose monotonic reading makes
// both the renewal schedule and max_staleness immune to wall-clock jumps;
// the fake clock here jumps what that code sees, which is the worst case.
func TestFaultClockJumpVaultToken(t *testing.T) {
	f := newVaultFixture(t)
	f.init(t)
	const ttl = 3 * time.Second
	if status, resp := f.v.Request(t, http.MethodPost, "auth/approle/role/sluss-gateway", f.v.RootToken,
		map[string]any{"token_policies": []string{"sluss-gateway"}, "token_ttl": "3s", "token_max_ttl": "1h"}); status != http.StatusNoContent {
		t.Fatalf("setting the role's TTL: %d %v", status, resp)
	}
	st := f.openGateway(t)
	ctx := context.Background()
	refresh := func(what string) []string {
		t.Helper()
		before := f.requests.count()
		if err := st.refresh(ctx); err != nil {
			t.Fatalf("refresh %s: %v", what, err)
		}
		if _, err := st.Encryption(); err != nil {
			t.Fatalf("keys %s: %v", what, err)
		}
		return f.requests.since(before)
	}

	// Forward a day: the renewal is due at the next refresh; Vault, whose
	// clock did not move, renews a token that is still valid.
	f.clock.Add(24 * time.Hour)
	got := refresh("after a jump forward")
	if !strings.Contains(strings.Join(got, " "), "PUT /v1/auth/token/renew-self") {
		t.Fatalf("no renewal after a jump forward: %v", got)
	}
	if strings.Contains(strings.Join(got, " "), "approle/login") {
		t.Fatalf("a jump forward needed a new login: %v", got)
	}

	// Back an hour: by this clock the renewal is an hour away, but the
	// token (renewed to 3 s) expires in Vault's time.
	f.clock.Add(-time.Hour)
	time.Sleep(ttl + time.Second)
	got = refresh("after a jump backward and the token's expiry")
	joined := strings.Join(got, " ")
	if strings.Contains(joined, "renew-self") {
		t.Fatalf("renewed although this clock says it is not due: %v", got)
	}
	if !strings.Contains(joined, "PUT /v1/auth/approle/login") {
		t.Fatalf("the expired token was not replaced by a new login: %v", got)
	}
	t.Logf("refresh with an expired token: %v", got)
	// The new login scheduled its renewal by the jumped clock, half its
	// TTL ahead: the schedule is consistent again.
	f.clock.Add(ttl)
	if got := refresh("once the new token's renewal is due"); !strings.Contains(strings.Join(got, " "), "renew-self") {
		t.Fatalf("no renewal of the new token: %v", got)
	}
}

// TestFaultStoreReplaced: the embedded store is wiped and initialised
// again under a running gateway. Its new keys carry the old version
// numbers; the cache refuses them (naming the version, never a key),
// keeps the keys it has until max_staleness, and takes the store again
// once the original is restored.
func TestFaultStoreReplaced(t *testing.T) {
	f := newFileFixture(t)
	st := f.open(t)
	ctx := context.Background()
	before, _ := st.Encryption()
	keysDir := filepath.Join(f.dir, "keys")
	saved := t.TempDir()
	if err := os.CopyFS(saved, os.DirFS(keysDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(keysDir); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAdmin(ctx, f.cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(ctx)
	a.Close()
	collect(res)
	if err != nil {
		t.Fatal(err)
	}
	registerSecrets(t, newFileBackend(f.dir), DefaultHMACDomains)

	err = st.refresh(ctx)
	collect(err)
	if err == nil || !strings.Contains(err.Error(), "identity v1 differs") || !strings.Contains(err.Error(), f.dir) {
		t.Fatalf("refresh from a re-initialised store = %v", err)
	}
	if now, err := st.Encryption(); err != nil || now.Region.String() != before.Region.String() {
		t.Fatalf("after the refused refresh: %v, same identity %v", err, now.Region.String() == before.Region.String())
	}
	f.clock.Add(f.cfg.MaxStaleness + time.Second)
	checkFailsClosed(t, st, "identity v1 differs")

	if err := os.RemoveAll(keysDir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(keysDir, os.DirFS(saved)); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(keysDir, func(p string, d os.DirEntry, err error) error {
		if d.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return os.Chmod(p, 0o600)
	})
	if err := st.refresh(ctx); err != nil {
		t.Fatalf("refresh from the restored store: %v", err)
	}
	if now, err := st.Encryption(); err != nil || now.Region.String() != before.Region.String() {
		t.Fatalf("after the restore: %v", err)
	}
}
