package keys

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newS3Secret returns a fresh secret shaped like an AWS secret access key
// (40 characters of base64) and registers it for the leak check.
func newS3Secret(t testing.TB, what string) string {
	t.Helper()
	b := make([]byte, 30)
	rand.Read(b)
	s := base64.StdEncoding.EncodeToString(b)
	leaks.addString("S3 secret "+what, s)
	return s
}

// checkS3Lifecycle adds, lists, replaces and removes S3 access keys with
// adm and checks what a running store st sees after each refresh.
func checkS3Lifecycle(t *testing.T, adm Admin, st *cachedStore, clock *fakeClock) {
	t.Helper()
	ctx := context.Background()
	lookup := func(id string) (S3Credential, error) {
		t.Helper()
		if err := st.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := st.S3Credential(id)
		collect(c, err)
		return c, err
	}

	// No document yet: no keys, and that is not an error.
	if list, err := adm.ListS3Credentials(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListS3Credentials on a fresh store = %v, %v", list, err)
	}
	if _, err := lookup("AKIAEXAMPLE"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"AKIAEXAMPLE"`) {
		t.Fatalf("S3Credential before any was added = %v, want ErrNotFound naming the ID", err)
	}

	client := newS3Secret(t, "client")
	service := newS3Secret(t, "service")
	issued := newS3Secret(t, "issued")
	for _, c := range []S3Credential{
		{AccessKeyID: "AKIACLIENT", Secret: client},
		{AccessKeyID: "AKIASERVICE", Secret: service},
		{AccessKeyID: "SLUSS.anna_1", Secret: issued, User: "anna", Issued: true},
	} {
		if err := adm.AddS3Credential(ctx, c); err != nil {
			t.Fatalf("AddS3Credential(%v): %v", c, err)
		}
	}
	// The running store sees them at its next refresh, not before.
	if _, err := st.S3Credential("AKIACLIENT"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("S3Credential before the refresh = %v, want ErrNotFound", err)
	}
	got, err := lookup("SLUSS.anna_1")
	want := S3Credential{AccessKeyID: "SLUSS.anna_1", Secret: issued, User: "anna", Issued: true, Created: clock.Now()}
	if err != nil || !got.Created.Equal(want.Created) || got.Created.Location() != time.UTC {
		t.Fatalf("S3Credential(SLUSS.anna_1) = %v created %v, %v; want created %v UTC", got, got.Created, err, want.Created)
	}
	if got.Created = want.Created; got != want {
		t.Fatalf("S3Credential(SLUSS.anna_1) = %v, %v; want %v", got, err, want)
	}
	if got, err := st.S3Credential("AKIACLIENT"); err != nil || got.Secret != client || got.Issued || got.User != "" {
		t.Fatalf("S3Credential(AKIACLIENT) = %v, %v", got, err)
	}

	// A client that sends a secret where the ID goes (secrets hold '/'
	// and '+', IDs never do) does not see it quoted back.
	pasted := "K7MDENG/" + client
	leaks.addString("S3 secret sent as an ID", pasted)
	_, err = st.S3Credential(pasted)
	collect(err)
	if !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), client) {
		t.Fatalf("S3Credential(a secret) = %v, want ErrNotFound without the value", err)
	}

	list, err := adm.ListS3Credentials(ctx)
	collect(list, err)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.AccessKeyID
		if c.Secret != "" {
			t.Errorf("ListS3Credentials returned %s with its secret", c.AccessKeyID)
		}
	}
	if strings.Join(ids, " ") != "AKIACLIENT AKIASERVICE SLUSS.anna_1" {
		t.Fatalf("ListS3Credentials IDs = %v, want sorted", ids)
	}
	if !list[2].Issued || list[2].User != "anna" || !list[2].Created.Equal(clock.Now()) || list[0].Issued {
		t.Fatalf("ListS3Credentials = %v", list)
	}

	// Adding an ID again replaces its secret (and mode); the others stay.
	clock.Add(time.Hour)
	rotated := newS3Secret(t, "client, rotated")
	if err := adm.AddS3Credential(ctx, S3Credential{AccessKeyID: "AKIACLIENT", Secret: rotated, User: "bo"}); err != nil {
		t.Fatal(err)
	}
	if got, err := lookup("AKIACLIENT"); err != nil || got.Secret != rotated || got.User != "bo" || !got.Created.Equal(clock.Now()) {
		t.Fatalf("after replacing: %v, %v", got, err)
	}
	if list, _ := adm.ListS3Credentials(ctx); len(list) != 3 {
		t.Fatalf("after replacing: %d keys, want 3", len(list))
	}

	if err := adm.RemoveS3Credential(ctx, "AKIACLIENT"); err != nil {
		t.Fatal(err)
	}
	if _, err := lookup("AKIACLIENT"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("S3Credential after removal = %v, want ErrNotFound", err)
	}
	if got, err := st.S3Credential("AKIASERVICE"); err != nil || got.Secret != service {
		t.Fatalf("the other keys after a removal: %v, %v", got, err)
	}
	err = adm.RemoveS3Credential(ctx, "AKIACLIENT")
	collect(err)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing twice = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"AKIASERVICE", "SLUSS.anna_1"} {
		if err := adm.RemoveS3Credential(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := adm.ListS3Credentials(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after removing every key: %v, %v", list, err)
	}
	if _, err := lookup("AKIASERVICE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("S3Credential after removing every key = %v", err)
	}
	// The other keys were not touched.
	if err := st.Ready(); err != nil {
		t.Fatal(err)
	}
}

func TestFileS3Credentials(t *testing.T) {
	f := newFileFixture(t)
	checkS3Lifecycle(t, f.admin, f.open(t), f.clock)
	p := filepath.Join(f.dir, "keys", "s3.json")
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want mode 0600", p, st, err)
	}
}

func TestVaultS3Credentials(t *testing.T) {
	f := newVaultFixture(t)
	f.init(t)
	st := f.openGateway(t) // reads S3 keys with the gateway's read-only policy
	checkS3Lifecycle(t, f.admin(t), st, f.clock)

	gw, err := OpenAdmin(context.Background(), f.gatewayConfig(t), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	err = gw.AddS3Credential(context.Background(), S3Credential{AccessKeyID: "AKIAGATEWAY", Secret: newS3Secret(t, "gateway")})
	collect(err)
	if err == nil || !strings.Contains(err.Error(), "secret/data/sluss/s3") || !strings.Contains(err.Error(), "sluss-operator.hcl") {
		t.Fatalf("adding with the gateway policy = %v, want a 403 naming the path and sluss-operator", err)
	}
}

// TestS3CredentialRefused: what AddS3Credential refuses, and that its
// messages never quote the secret.
func TestS3CredentialRefused(t *testing.T) {
	f := newFileFixture(t)
	secret := newS3Secret(t, "refused")
	long := strings.Repeat("k", 257)
	leaks.addString("long secret", long)
	// AWS secrets usually hold a '/' or '+', which IDs never do.
	pasted := "wJalrXUtnFEMI/K7MDENG/" + secret[:18]
	leaks.addString("secret pasted as ID", pasted)
	for _, tc := range []struct {
		name string
		c    S3Credential
		want string
	}{
		{"short ID", S3Credential{AccessKeyID: "AK", Secret: secret}, "3 to 128 characters"},
		{"long ID", S3Credential{AccessKeyID: strings.Repeat("A", 129), Secret: secret}, "(malformed, 129 bytes)"},
		{"ID with a slash", S3Credential{AccessKeyID: "AKIA/X", Secret: secret}, "(malformed, 6 bytes)"},
		// A secret pasted as the ID is not quoted back.
		{"secret as ID", S3Credential{AccessKeyID: pasted, Secret: secret}, "(malformed, 40 bytes)"},
		{"empty secret", S3Credential{AccessKeyID: "AKIAEMPTY"}, "the secret is empty"},
		{"long secret", S3Credential{AccessKeyID: "AKIALONG", Secret: long}, "257 bytes, longer than 256"},
		{"space in secret", S3Credential{AccessKeyID: "AKIASPACE", Secret: secret[:20] + " " + secret[20:]}, "whitespace"},
		{"newline in secret", S3Credential{AccessKeyID: "AKIANL", Secret: secret + "\n"}, "whitespace"},
		{"issued to nobody", S3Credential{AccessKeyID: "AKIANOBODY", Secret: secret, Issued: true}, "needs the user"},
		{"colon in user", S3Credential{AccessKeyID: "AKIACOLON", Secret: secret, User: "a:b", Issued: true}, "':'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.admin.AddS3Credential(context.Background(), tc.c)
			collect(err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AddS3Credential = %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), long) || strings.Contains(err.Error(), pasted) {
				t.Fatal("the error quotes the secret")
			}
		})
	}
	if list, err := f.admin.ListS3Credentials(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("after refusals: %v, %v", list, err)
	}
}

// TestS3CredentialFormatting: String, %v, %+v, %#v and %q name the key,
// never its secret.
func TestS3CredentialFormatting(t *testing.T) {
	secret := newS3Secret(t, "formatting")
	for _, tc := range []struct {
		c    S3Credential
		want string
	}{
		{S3Credential{AccessKeyID: "AKIAFMT", Secret: secret}, `S3 access key "AKIAFMT" (transparent)`},
		{S3Credential{AccessKeyID: "AKIAFMT", Secret: secret, User: "anna", Issued: true}, `S3 access key "AKIAFMT" (issued, user "anna")`},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		for _, v := range []any{tc.c, &tc.c, []S3Credential{tc.c}, map[string]S3Credential{"k": tc.c}, s3EntryOf(tc.c), &document{S3: []s3Entry{s3EntryOf(tc.c)}}} {
			if s := fmtAll(v); strings.Contains(s, secret) {
				t.Errorf("formatting %T prints the secret: %s", v, s)
			}
			collect(v)
		}
	}
}

// TestS3DocumentMalformed: a hand-edited S3 file that does not hold valid
// keys is refused by name, without quoting a secret.
func TestS3DocumentMalformed(t *testing.T) {
	secret := newS3Secret(t, "malformed")
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"bad mode", `{"s3_credentials":[{"access_key_id":"AKIABAD","secret":"` + secret + `","mode":"both"}]}`, `mode "both"`},
		{"duplicate", `{"s3_credentials":[{"access_key_id":"AKIADUP","secret":"` + secret + `","mode":"transparent"},{"access_key_id":"AKIADUP","secret":"` + secret + `","mode":"transparent"}]}`, "twice"},
		{"no secret", `{"s3_credentials":[{"access_key_id":"AKIANOSECRET","mode":"transparent"}]}`, "secret is empty"},
		{"not JSON", `{"s3_credentials":[` + secret, "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFileFixture(t)
			p := filepath.Join(f.dir, "keys", "s3.json")
			if err := os.WriteFile(p, []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), f.cfg, testLogger(t))
			collect(err)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error naming %s and saying %q", err, p, tc.want)
			}
			_, err = f.admin.ListS3Credentials(context.Background())
			collect(err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ListS3Credentials = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestS3AddBeforeInit: S3 keys can be stored before `keys init`, and the
// store opened after it serves them.
func TestS3AddBeforeInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	clock := newFakeClock()
	cfg := Config{DataDir: dir, Clock: clock.Now}
	ctx := context.Background()
	adm, err := OpenAdmin(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if list, err := adm.ListS3Credentials(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListS3Credentials on an empty data dir = %v, %v", list, err)
	}
	if err := adm.RemoveS3Credential(ctx, "AKIANONE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveS3Credential on an empty data dir = %v, want ErrNotFound", err)
	}
	secret := newS3Secret(t, "before init")
	if err := adm.AddS3Credential(ctx, S3Credential{AccessKeyID: "AKIAEARLY", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "keys")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("keys dir: %v, %v", st, err)
	}
	if _, err := adm.Init(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if c, err := st.S3Credential("AKIAEARLY"); err != nil || c.Secret != secret {
		t.Fatalf("S3Credential = %v, %v", c, err)
	}
}
