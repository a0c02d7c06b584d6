package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/keys"
)

// TestExampleConfig: the documented example configuration parses strictly
// and gives the documented defaults.
func TestExampleConfig(t *testing.T) {
	fc, err := loadConfig(filepath.Join("..", "..", "deploy", "sluss.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	k := fc.Keys
	if k.DataDir != keys.DefaultDataDir || k.RefreshInterval != time.Minute || k.MaxStaleness != 15*time.Minute || k.UsesVault() {
		t.Fatalf("example keys section: %+v", k)
	}
	k.DataDir = t.TempDir()
	a, err := keys.OpenAdmin(context.Background(), k, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

// TestKeysOutputHasNoSecret runs the keys commands (and their errors)
// in-process, collects everything they print, and searches it for every
// secret in the store: identity seeds in hex, base64 and Bech32, HMAC and
// re-identification keys in hex and base64, the CA key's PEM body, S3
// secret access keys.
func TestKeysOutputHasNoSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	sluss := func(args ...string) {
		fmt.Fprintf(&out, "$ sluss %s\n", strings.Join(args, " "))
		fmt.Fprintf(&out, "exit %d\n", run(context.Background(), e, args))
	}
	sluss("keys", "list", "--data-dir", dir)
	sluss("keys", "init", "--data-dir", dir)
	sluss("keys", "rotate", "--identity", "--data-dir", dir)
	sluss("keys", "rotate", "--hmac", "pnr", "--data-dir", dir)
	sluss("keys", "rotate", "--ca", "--data-dir", dir)
	sluss("keys", "init", "--data-dir", dir)
	sluss("keys", "list", "--data-dir", dir)
	sluss("keys", "recipient", "--data-dir", dir)
	sluss("keys", "export-identity", "--data-dir", dir)
	sluss("keys", "rotate", "--hmac", "nope", "--data-dir", dir)
	exported := filepath.Join(t.TempDir(), "exported.txt")
	sluss("keys", "export-identity", "--i-understand-this-exports-the-private-key", "-o", exported, "--data-dir", dir)
	s3 := func(secret string, args ...string) {
		e.stdin = strings.NewReader(secret + "\n")
		sluss(append([]string{"keys", "s3"}, append(args, "--data-dir", dir)...)...)
	}
	s3("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "add", "AKIAIOSFODNN7EXAMPLE")
	s3("Sy1Rm9vYmFyK3NsdXNzL2lzc3VlZC9rZXkwMQ==", "add", "SLUSSANNA", "--user", "anna", "--issued")
	s3("je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "add", "AKIAREMOVED")
	s3("je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "add", "AKIAREMOVED") // replaced
	s3("bad secret with spaces", "add", "AKIABAD")
	s3("Sy1Rm9vYmFyK3NsdXNzL2lzc3VlZC9rZXkwMQ==", "add", "AKIAISSUED", "--issued")
	s3("", "list")
	secrets := storeSecrets(t, filepath.Join(dir, "keys"))
	s3("", "remove", "AKIAREMOVED")
	s3("", "remove", "AKIAREMOVED")
	s3("", "list")
	secrets["bad secret with spaces"] = "a refused S3 secret"
	for _, f := range []string{"identity.json", "hmac-name.json", "ca.json"} {
		p := filepath.Join(dir, "keys", f)
		os.Chmod(p, 0o644)
		sluss("keys", "list", "--data-dir", dir)
		sluss("encrypt", "--data-dir", dir, "-o", filepath.Join(t.TempDir(), "x"), exported)
		os.Chmod(p, 0o600)
	}
	os.WriteFile(filepath.Join(dir, "keys", "hmac-pnr.json"), []byte(`{"versions":[{"version":1,"secret":"not base64 at all"}]}`), 0o600)
	sluss("keys", "list", "--data-dir", dir)

	if len(secrets) < 20 {
		t.Fatalf("only %d secret encodings found in the store", len(secrets))
	}
	text := out.String()
	for s, what := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s appears in the output of the keys commands", what)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("searched %d bytes of output for %d secret encodings:\n%s", len(text), len(secrets), text)
	}
}

// storeSecrets reads the embedded store's files and returns every secret
// in every text encoding it could leak in.
func storeSecrets(t *testing.T, dir string) map[string]string {
	t.Helper()
	secrets := map[string]string{}
	add := func(what string, raw []byte) {
		for _, s := range []string{
			hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
			base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		} {
			secrets[s[:24]] = what
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Versions []struct {
				Version int
				Secret  string
			}
			S3 []struct{ Secret string } `json:"s3_credentials"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, c := range doc.S3 {
			secrets[c.Secret] = filepath.Base(f) + " S3 secret"
		}
		for _, v := range doc.Versions {
			what := fmt.Sprintf("%s v%d", filepath.Base(f), v.Version)
			switch {
			case strings.HasPrefix(v.Secret, "AGE-SECRET-KEY-PQ-1"):
				id, err := crypto.ParseIdentity(v.Secret)
				if err != nil {
					t.Fatal(err)
				}
				add(what+" seed", id.Seed())
				sk := id.SecretKey()
				secrets[sk[19:60]] = what + " (Bech32)"
				secrets[strings.ToLower(sk[19:60])] = what + " (Bech32, lower case)"
			case strings.HasPrefix(v.Secret, "-----BEGIN"):
				secrets[strings.Split(v.Secret, "\n")[1]] = what + " (PEM)"
			default:
				raw, err := base64.StdEncoding.DecodeString(v.Secret)
				if err != nil {
					continue // the deliberately broken file
				}
				add(what, raw)
			}
		}
	}
	return secrets
}

// TestReadS3Secret: the secret is the first line of standard input,
// without its line ending; nothing else is trimmed (the key store refuses
// whitespace, with a message that does not quote it).
func TestReadS3Secret(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abc/DEF+123\n", "abc/DEF+123", true},
		{"abc/DEF+123", "abc/DEF+123", true},
		{"abc/DEF+123\r\n", "abc/DEF+123", true},
		{"first\nsecond\n", "first", true},
		{" padded \n", " padded ", true},
		{"", "", false},
		{"\n", "", false},
		{"\r\n", "", false},
	} {
		got, err := readS3Secret(strings.NewReader(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("readS3Secret(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
