// Run alone with:
//
//	SLUSS_VAULT_DEV=$(deploy/vault-dev/build.sh) go test -run FaultVault ./gateway

package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/internal/vaulttest"
	"github.com/sluss/sluss/keys"
)

// vaultKinds are the KV v2 secrets sluss keeps under secret/sluss/.
var vaultKinds = []string{"identity", "hmac/pnr", "hmac/name", "reidentification", "ca"}

// vaultSetup loads sluss's policies and the gateway's AppRole, with a
// fixed role_id and secret_id so that a restarted Vault can be given the
// same ones back, as a restore of its storage would.
func vaultSetup(t *testing.T, v *vaulttest.Server, roleID, secretID string) {
	t.Helper()
	for _, name := range []string{"sluss-gateway", "sluss-operator"} {
		hcl, err := os.ReadFile(filepath.Join("..", "deploy", "vault", name+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		v.WritePolicy(t, name, string(hcl))
	}
	role := "auth/approle/role/sluss-gateway"
	for _, r := range []struct {
		path string
		body map[string]any
	}{
		{role, map[string]any{"token_policies": []string{"sluss-gateway"}}},
		{role + "/role-id", map[string]any{"role_id": roleID}},
		{role + "/custom-secret-id", map[string]any{"secret_id": secretID}},
	} {
		if status, resp := v.Request(t, http.MethodPost, r.path, v.RootToken, r.body); status != http.StatusOK && status != http.StatusNoContent {
			t.Fatalf("vault %s: %d %v", r.path, status, resp["errors"])
		}
	}
}

// TestFaultVaultRestart: Vault is stopped and restarted while clients
// upload through the gateway. The cached keys carry every upload (no client
// error) while Vault is down and while it is back but empty; once its data
// is restored, the gateway's old token is refused and it logs in again by
// itself; an identity rotated in the restarted Vault is picked up without a
// gateway restart, new uploads use it, and every stored object decrypts
// with the age CLI.
func TestFaultVaultRestart(t *testing.T) {
	v := vaulttest.Start(t)
	const roleID, secretID = "5f0c3c7e-role-sluss-gateway", "9d1e7a52-secret-sluss-gateway"
	vaultSetup(t, v, roleID, secretID)
	ctx := context.Background()
	operator := keys.Config{Vault: &keys.VaultConfig{Address: v.Addr, Auth: keys.VaultAuth{Token: keys.Secret(v.RootToken)}}}
	adm, err := keys.OpenAdmin(ctx, operator, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Init(ctx); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	keyLog := &syncBuffer{}
	secretFile := filepath.Join(t.TempDir(), "secret-id")
	os.WriteFile(secretFile, []byte(secretID+"\n"), 0o600)
	const refresh = 200 * time.Millisecond
	st, err := keys.Open(ctx, keys.Config{
		Vault: &keys.VaultConfig{Address: v.Addr, Timeout: 2 * time.Second,
			Auth: keys.VaultAuth{AppRole: &keys.AppRole{RoleID: roleID, SecretIDFile: secretFile}}},
		RefreshInterval: refresh,
		MaxStaleness:    time.Minute, // far longer than the outage
	}, zerolog.New(keyLog))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, _ := st.CA()
	ids, _ := st.Identities()
	c := newCloud(t)
	h := newHarnessWith(t, storageConfig(c, "storage"), FromStore(st), ca.CertPEM, ids[0].SecretKey())
	cl := h.clientWithCA(ca.CertPEM)

	// The load: three clients uploading 32 KiB + 1 files (streamed, not
	// buffered) with distinct names, until told to stop.
	const size = 32<<10 + 1
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		sent    = map[string]uint64{} // name → content seed
		failed  []string
		uploads atomic.Int64
	)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				name, seed := fmt.Sprintf("w%d-%04d.bin", w, i), uint64(w)<<32|uint64(i)
				req, _ := http.NewRequest(http.MethodPut, c.URL()+"/"+name, bytes.NewReader(content(size, seed)))
				resp, err := cl.Do(req)
				mu.Lock()
				switch {
				case err != nil:
					failed = append(failed, fmt.Sprintf("%s: %v", name, err))
				case resp.StatusCode != http.StatusCreated:
					failed = append(failed, fmt.Sprintf("%s: %s", name, resp.Status))
				default:
					sent[name] = seed
				}
				mu.Unlock()
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				uploads.Add(1)
				time.Sleep(30 * time.Millisecond)
			}
		})
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
		}
	}
	// A few uploads go through, then what Vault holds is saved, as its
	// storage would keep it.
	waitFor("uploads run", func() bool { return uploads.Load() >= 10 })
	saved := map[string]map[string]any{}
	for _, kind := range vaultKinds {
		status, resp := v.Request(t, http.MethodGet, "secret/data/sluss/"+kind, v.RootToken, nil)
		data, _ := resp["data"].(map[string]any)
		inner, _ := data["data"].(map[string]any)
		if status != http.StatusOK || inner == nil {
			t.Fatalf("reading %s: %d", kind, status)
		}
		saved[kind] = inner
	}
	failures := func() int { return strings.Count(keyLog.String(), "key refresh failed") }

	// Down: refreshes fail, uploads go on.
	v.Stop()
	n0 := uploads.Load()
	waitFor("refreshes fail against a stopped Vault", func() bool { return strings.Count(keyLog.String(), "cannot reach vault") >= 3 })
	waitFor("uploads continue while Vault is down", func() bool { return uploads.Load() >= n0+10 })

	// Back, but empty: the old token is unknown, the AppRole is gone, the
	// keys are missing; the gateway keeps its cache and says why.
	v.Restart(t)
	n1, f1 := uploads.Load(), failures()
	waitFor("refreshes fail against an empty Vault", func() bool { return failures() >= f1+3 })
	waitFor("uploads continue while Vault is empty", func() bool { return uploads.Load() >= n1+10 })
	if !strings.Contains(keyLog.String(), "AppRole login") {
		t.Errorf("the key log does not say the AppRole login failed:\n%s", keyLog.String())
	}
	if err := st.Ready(); err != nil {
		t.Fatalf("not ready during the restart: %v", err)
	}

	// Restored, then the identity rotated in the restarted Vault.
	vaultSetup(t, v, roleID, secretID)
	for _, kind := range vaultKinds {
		if status, resp := v.Request(t, http.MethodPost, "secret/data/sluss/"+kind, v.RootToken, map[string]any{"data": saved[kind]}); status != http.StatusOK {
			t.Fatalf("restoring %s: %d %v", kind, status, resp["errors"])
		}
	}
	adm, err = keys.OpenAdmin(ctx, operator, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if ver, err := adm.RotateIdentity(ctx); err != nil || ver != 2 {
		t.Fatalf("RotateIdentity in the restarted Vault = %d, %v", ver, err)
	}
	waitFor("the gateway encrypts to identity v2", func() bool { e, err := st.Encryption(); return err == nil && e.Version == 2 })
	waitFor("uploads run with v2", func() bool { return h.auditHas(t, `"action":"encrypt"`, `"key_version":2`) })
	n2 := uploads.Load()
	waitFor("more uploads with v2", func() bool { return uploads.Load() >= n2+10 })
	stop.Store(true)
	wg.Wait()

	if len(failed) > 0 {
		t.Fatalf("%d of %d uploads failed across the Vault restart, first: %s", len(failed), uploads.Load(), failed[0])
	}
	if !strings.Contains(keyLog.String(), "logged in to vault with AppRole") || strings.Count(keyLog.String(), "logged in to vault with AppRole") < 2 {
		t.Errorf("the gateway did not log in again after the restart:\n%s", keyLog.String())
	}

	// Every upload is stored, under the key version its audit event names.
	exported, err := adm.ExportIdentities(ctx)
	if err != nil || len(exported) != 2 {
		t.Fatalf("ExportIdentities: %d, %v", len(exported), err)
	}
	byVersion := map[int]keys.Identity{}
	for _, id := range exported {
		byVersion[id.Version] = id
	}
	waitFor("every upload is audited", func() bool { return len(auditKeyVersions(h.audit.String())) >= len(sent) })
	versions := auditKeyVersions(h.audit.String())
	count := map[int]int{}
	for name, seed := range sent {
		ver := versions["/"+name]
		count[ver]++
		stored := c.stored(t, name)
		r, err := crypto.Decrypt(bytes.NewReader(stored), byVersion[ver].Identity)
		if err != nil {
			t.Fatalf("%s: audited as key v%d but does not decrypt with it: %v", name, ver, err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, content(size, seed)) {
			t.Fatalf("%s: stored object does not decrypt to the upload (%v)", name, err)
		}
	}
	t.Logf("%d uploads (%d with key v1, %d with v2), %d key refreshes failed, none of the uploads did", len(sent), count[1], count[2], failures())
	if count[1] == 0 || count[2] == 0 {
		t.Fatalf("uploads by key version: %v", count)
	}

	// The exit plan holds across the restart: the age CLI decrypts the
	// first and the last object with the exported identities.
	var ring strings.Builder
	for _, id := range exported {
		ring.WriteString(id.SecretKey() + "\n")
	}
	idFile := writeTemp(t, "exported.txt", []byte(ring.String()))
	for _, name := range []string{"w0-0000.bin", lastUpload(sent, versions, 2)} {
		dec := filepath.Join(t.TempDir(), "dec")
		h.identity = idFile
		h.ageDecrypt(t, filepath.Join(c.dir, name), dec)
		if got, _ := os.ReadFile(dec); !bytes.Equal(got, content(size, sent[name])) {
			t.Fatalf("age -d %s differs from the upload", name)
		}
	}
	// And the gateway still decrypts a download from before the restart.
	resp, err := cl.Get(c.URL() + "/w0-0000.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, content(size, sent["w0-0000.bin"])) {
		t.Fatalf("download of a v1 object after the restart: %s", resp.Status)
	}
}

var auditPutRE = regexp.MustCompile(`"method":"PUT","path":"([^"]+)","action":"encrypt".*?"key_version":(\d+)`)

// auditKeyVersions maps each encrypted PUT's path to its key version.
func auditKeyVersions(audit string) map[string]int {
	m := map[string]int{}
	for _, line := range strings.Split(audit, "\n") {
		if s := auditPutRE.FindStringSubmatch(line); s != nil {
			m[s[1]], _ = strconv.Atoi(s[2])
		}
	}
	return m
}

// lastUpload is the name of an object sent with key version ver.
func lastUpload(sent map[string]uint64, versions map[string]int, ver int) string {
	last := ""
	for name := range sent {
		if versions["/"+name] == ver && name > last {
			last = name
		}
	}
	return last
}

// TestFaultVaultWipedAndReinitialised: Vault comes back from a restart
// without its data, and someone runs `sluss keys init` on it. Its keys
// are new ones under the old version numbers: another identity v1 (stored
// objects would no longer decrypt through the gateway), another CA (clients
// would stop trusting new leaves), other HMAC and re-identification keys
// (the same person would get a new token, and the re-identification store
// could no longer be read). A running gateway must not switch to them: it
// keeps its cached keys, says why, and fails closed at max_staleness; a
// restarted gateway takes the new store, as the operator then chose.
func TestFaultVaultWipedAndReinitialised(t *testing.T) {
	v := vaulttest.Start(t)
	const roleID, secretID = "0b7d-role-sluss-gateway", "3c55-secret-sluss-gateway"
	vaultSetup(t, v, roleID, secretID)
	ctx := context.Background()
	operator := keys.Config{Vault: &keys.VaultConfig{Address: v.Addr, Auth: keys.VaultAuth{Token: keys.Secret(v.RootToken)}}}
	initKeys := func() {
		t.Helper()
		adm, err := keys.OpenAdmin(ctx, operator, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		if _, err := adm.Init(ctx); err != nil {
			t.Fatal(err)
		}
	}
	initKeys()
	keyLog := &syncBuffer{}
	secretFile := writeTemp(t, "secret-id", []byte(secretID+"\n"))
	gwConfig := keys.Config{
		Vault:           &keys.VaultConfig{Address: v.Addr, Auth: keys.VaultAuth{AppRole: &keys.AppRole{RoleID: roleID, SecretIDFile: secretFile}}},
		RefreshInterval: 100 * time.Millisecond,
		MaxStaleness:    time.Minute,
	}
	st, err := keys.Open(ctx, gwConfig, zerolog.New(keyLog))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	before, _ := st.Encryption()
	ca, _ := st.CA()
	ids, _ := st.Identities()
	c := newCloud(t)
	h := newHarnessWith(t, storageConfig(c, "storage"), FromStore(st), ca.CertPEM, ids[0].SecretKey())
	cl := h.clientWithCA(ca.CertPEM)
	data := content(100<<10, 77)
	put := func(name string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, c.URL()+"/"+name, bytes.NewReader(data))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %s: %s", name, resp.Status)
		}
	}
	put("before.bin")

	v.Restart(t)
	vaultSetup(t, v, roleID, secretID)
	initKeys()
	fresh, err := keys.Open(ctx, gwConfig, zerolog.Nop()) // what a restarted gateway would load
	if err != nil {
		t.Fatal(err)
	}
	wiped, _ := fresh.Encryption()
	fresh.Close()
	if wiped.Region.String() == before.Region.String() {
		t.Fatal("keys init on the wiped Vault made the same identity")
	}
	// Several refreshes against the re-initialised Vault.
	for deadline := time.Now().Add(10 * time.Second); strings.Count(keyLog.String(), "logged in to vault with AppRole") < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not log in to the restarted Vault:\n%s", keyLog.String())
		}
	}
	time.Sleep(500 * time.Millisecond)

	now, err := st.Encryption()
	if err != nil {
		t.Fatalf("keys during the conflict: %v", err)
	}
	if now.Region.String() != before.Region.String() {
		t.Fatalf("the gateway switched to the identity of a re-initialised Vault under the same version v%d", now.Version)
	}
	if !strings.Contains(keyLog.String(), "identity v1 differs") {
		t.Errorf("the key log does not name the conflict:\n%s", keyLog.String())
	}
	resp, err := cl.Get(c.URL() + "/before.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download of an object from before the wipe: %s", resp.Status)
	}
	put("after.bin")
	if r, err := crypto.Decrypt(bytes.NewReader(c.stored(t, "after.bin")), ids[0].Identity); err != nil {
		t.Fatalf("an upload during the conflict is not encrypted to the cached identity: %v", err)
	} else if b, _ := io.ReadAll(r); !bytes.Equal(b, data) {
		t.Fatal("an upload during the conflict does not decrypt to itself")
	}
	if !h.auditSoon(t, `"method":"GET"`, `"path":"/before.bin"`, `"action":"decrypt"`) {
		t.Errorf("audit lacks the download:\n%s", h.audit.String())
	}
}
