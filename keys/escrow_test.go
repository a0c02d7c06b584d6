package keys

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluss/sluss/crypto"
)

// TestEscrowAndExitPlan: with an escrow recipient configured, every object
// encrypted to the store's recipients decrypts with the escrow identity
// alone, and after ExportIdentities with the exported file alone, both with
// the real age CLI.
func TestEscrowAndExitPlan(t *testing.T) {
	ageCLI(t)
	escrow, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	leaks.addSecret("escrow seed", escrow.Seed())
	leaks.addString("escrow secret key", escrow.SecretKey())
	dir := t.TempDir()
	escrowFile := filepath.Join(dir, "escrow.txt")
	if err := os.WriteFile(escrowFile, []byte(escrow.SecretKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	f := newFileFixture(t, escrow.Recipient().String())
	st := f.open(t)
	ctx := context.Background()
	enc, _ := st.Encryption()
	if len(enc.Escrow) != 1 || len(enc.Recipients()) != 2 || !enc.Escrow[0].Equal(escrow.Recipient()) {
		t.Fatalf("Encryption = %v", enc)
	}

	var objects [][]byte
	plain := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 1000*i+1) }
	objects = append(objects, encryptWith(t, st, plain(0)))
	for i := 1; i <= 2; i++ {
		if _, err := f.admin.RotateIdentity(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, encryptWith(t, st, plain(i)))
	}
	f.register(t)

	for i, ct := range objects {
		if got := ageDecrypt(t, escrowFile, ct); !bytes.Equal(got, plain(i)) {
			t.Fatalf("object %d: escrow identity decrypts to %d wrong bytes", i, len(got))
		}
	}

	ids, err := f.admin.ExportIdentities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[0].Version != 3 {
		t.Fatalf("exported %v", ids)
	}
	var exported strings.Builder
	for _, id := range ids {
		exported.WriteString(id.SecretKey() + "\n")
	}
	exportFile := filepath.Join(dir, "exported.txt")
	if err := os.WriteFile(exportFile, []byte(exported.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, ct := range objects {
		if got := ageDecrypt(t, exportFile, ct); !bytes.Equal(got, plain(i)) {
			t.Fatalf("object %d: exported identities decrypt to %d wrong bytes", i, len(got))
		}
	}
}

// TestEscrowConfig: escrow entries must be post-quantum recipients, and
// errors never quote the value (someone may paste a secret key there).
func TestEscrowConfig(t *testing.T) {
	id, _ := crypto.GenerateIdentity()
	leaks.addString("pasted secret key", id.SecretKey())
	for _, bad := range []string{id.SecretKey(), "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", "age1pq1qqqq"} {
		_, err := OpenAdmin(context.Background(), Config{DataDir: t.TempDir(), Escrow: []string{bad}}, testLogger(t))
		collect(err)
		if err == nil || !strings.Contains(err.Error(), "escrow recipient 1") {
			t.Errorf("escrow %.12q…: %v", bad, err)
		}
	}
}

// TestLeakCheckFindsPlantedSecret makes sure the leak search would notice.
func TestLeakCheckFindsPlantedSecret(t *testing.T) {
	id, _ := crypto.GenerateIdentity()
	l := &leakCheck{secrets: map[string]string{}}
	l.addSecret("seed", id.Seed())
	l.addString("secret key", id.SecretKey())
	for _, planted := range []string{
		"x" + id.SecretKey()[10:60] + "y",
		strings.ToLower(id.SecretKey()),
		"error: seed " + hex.EncodeToString(id.Seed()),
	} {
		l.output.Reset()
		l.output.WriteString(planted)
		var report bytes.Buffer
		if l.check(&report) {
			t.Errorf("planted %q not found", planted[:20])
		}
	}
}
