package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluss/sluss/internal/vaulttest"
)

// TestKeysWithVault runs the CLI against a real Vault (deploy/vault-dev):
// an operator initialises and rotates, encrypt and decrypt use the store
// through --config, and a file from before the rotation still decrypts.
func TestKeysWithVault(t *testing.T) {
	v := vaulttest.Start(t)
	for _, name := range []string{"sluss-gateway", "sluss-operator"} {
		hcl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "vault", name+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		v.WritePolicy(t, name, string(hcl))
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	operator := write("operator.yaml", fmt.Sprintf("keys:\n  vault:\n    address: %s\n    auth:\n      token_file: %s\n",
		v.Addr, write("operator-token", v.Token(t, "sluss-operator"))))
	roleID, secretID := v.AppRole(t, "sluss-gateway", "sluss-gateway")
	gateway := write("gateway.yaml", fmt.Sprintf("keys:\n  vault:\n    address: %s\n    auth:\n      approle:\n        role_id: %s\n        secret_id_file: %s\n",
		v.Addr, roleID, write("secret-id", secretID)))
	plain := write("plain.txt", "Journalanteckning för 19121212-1212.\n")

	var out bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	sluss := func(want int, args ...string) string {
		t.Helper()
		out.Reset()
		if got := run(context.Background(), e, args); got != want {
			t.Fatalf("sluss %s: exit %d, want %d:\n%s", strings.Join(args, " "), got, want, out.String())
		}
		return out.String()
	}
	if got := sluss(1, "keys", "list", "--config", gateway); !strings.Contains(got, "keys not initialized: no keys in vault "+v.Addr+" secret/data/sluss") {
		t.Fatalf("list before init: %s", got)
	}
	if got := sluss(0, "keys", "init", "--config", operator); !regexp.MustCompile(`(?m)^identity +v1 +created$`).MatchString(got) || !strings.Contains(got, "vault "+v.Addr) {
		t.Fatalf("init: %s", got)
	}
	before := filepath.Join(dir, "before.age")
	sluss(0, "encrypt", "--config", gateway, "-o", before, plain)
	if got := sluss(1, "keys", "rotate", "--identity", "--config", gateway); !strings.Contains(got, "sluss-operator.hcl") {
		t.Fatalf("rotate with the gateway's policy: %s", got)
	}
	sluss(0, "keys", "rotate", "--identity", "--config", operator)
	after := filepath.Join(dir, "after.age")
	sluss(0, "encrypt", "--config", gateway, "-o", after, plain)
	want, _ := os.ReadFile(plain)
	for _, f := range []string{before, after} {
		if got := sluss(0, "decrypt", "--config", gateway, f); got != string(want) {
			t.Fatalf("decrypt %s: %q", f, got)
		}
	}
	if got := sluss(0, "keys", "list", "--config", gateway); !regexp.MustCompile(`(?m)^identity +v2 +\* `).MatchString(got) {
		t.Fatalf("list: %s", got)
	}

	// S3 access keys: the operator adds and removes, the gateway reads.
	const s3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	e.stdin = strings.NewReader(s3Secret + "\n")
	if got := sluss(1, "keys", "s3", "add", "AKIAVAULT", "--config", gateway); !strings.Contains(got, "secret/data/sluss/s3") || !strings.Contains(got, "sluss-operator.hcl") {
		t.Fatalf("s3 add with the gateway's policy: %s", got)
	}
	e.stdin = strings.NewReader(s3Secret + "\n")
	if got := sluss(0, "keys", "s3", "add", "AKIAVAULT", "--user", "anna", "--issued", "--config", operator); !strings.Contains(got, "added s3 access key AKIAVAULT (issued to anna)") {
		t.Fatalf("s3 add: %s", got)
	}
	if got := sluss(0, "keys", "s3", "list", "--config", gateway); !regexp.MustCompile(`(?m)^AKIAVAULT +issued +anna +\d{4}-`).MatchString(got) || strings.Contains(got, s3Secret[:12]) {
		t.Fatalf("s3 list: %s", got)
	}
	sluss(0, "keys", "s3", "remove", "AKIAVAULT", "--config", operator)
	if got := sluss(0, "keys", "s3", "list", "--config", gateway); got != "" {
		t.Fatalf("s3 list after remove: %q", got)
	}
}
