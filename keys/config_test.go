package keys

import (
	"strings"
	"testing"
	"time"
)

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"SLUSS_DATA_DIR":        "/var/lib/sluss",
		"VAULT_ADDR":            "http://127.0.0.1:8200",
		"VAULT_TOKEN":           "hvs.from-env",
		"VAULT_NAMESPACE":       "region",
		"SLUSS_VAULT_ROLE_ID":   "role",
		"SLUSS_VAULT_SECRET_ID": "secret",
		"SLUSS_ESCROW":          "age1pq1a, age1pq1b",
	}
	getenv := func(k string) string { return env[k] }

	var c Config
	c.ApplyEnv(getenv)
	if c.UsesVault() {
		t.Fatal("VAULT_ADDR alone switched to Vault")
	}
	if c.DataDir != "/var/lib/sluss" || len(c.Escrow) != 2 || c.Escrow[1] != "age1pq1b" {
		t.Fatalf("ApplyEnv: %+v", c)
	}

	c = Config{DataDir: "./mine", Vault: &VaultConfig{}}
	c.ApplyEnv(getenv)
	if c.DataDir != "./mine" || c.Vault.Address != env["VAULT_ADDR"] || c.Vault.Auth.Token != "hvs.from-env" || c.Vault.Namespace != "region" {
		t.Fatalf("ApplyEnv with a vault section: %+v", c.Vault)
	}

	c = Config{Vault: &VaultConfig{Address: "https://vault:8200", Auth: VaultAuth{AppRole: &AppRole{}}}}
	c.ApplyEnv(getenv)
	if c.Vault.Address != "https://vault:8200" || c.Vault.Auth.Token != "" || c.Vault.Auth.AppRole.RoleID != "role" || c.Vault.Auth.AppRole.SecretID != "secret" {
		t.Fatalf("ApplyEnv with AppRole: %+v", c.Vault.Auth.AppRole)
	}
	collect(c, *c.Vault)
	leaks.addString("approle secret in config", "hvs.from-env")
}

func TestResolveDefaultsAndErrors(t *testing.T) {
	s, err := Config{Vault: &VaultConfig{Address: "http://127.0.0.1:8200", Auth: VaultAuth{AppRole: &AppRole{}}}}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.DataDir != "sluss-data" || s.RefreshInterval != time.Minute || s.MaxStaleness != 15*time.Minute ||
		s.vault.Mount != "secret" || s.vault.Prefix != "sluss" || s.vault.Auth.AppRole.Mount != "approle" || s.vault.Timeout != 10*time.Second {
		t.Fatalf("defaults: %+v %+v", s.Config, s.vault)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{RefreshInterval: time.Hour, MaxStaleness: time.Minute}, "shorter than keys.refresh_interval"},
		{Config{MaxStaleness: -time.Minute}, "must be positive"},
		{Config{HMACDomains: []string{"PNR"}}, `HMAC domain "PNR"`},
		{Config{Vault: &VaultConfig{}}, "vault.address"},
	} {
		_, err := tc.cfg.resolve()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestSecretNeverPrints: configuration secrets stay out of %v, %+v, %#v.
func TestSecretNeverPrints(t *testing.T) {
	c := Config{Vault: &VaultConfig{Auth: VaultAuth{Token: "hvs.TOPSECRETTOKEN", AppRole: &AppRole{SecretID: "TOPSECRETID"}}}}
	for _, s := range []string{
		fmtAll(c), fmtAll(*c.Vault), fmtAll(c.Vault.Auth), fmtAll(*c.Vault.Auth.AppRole),
	} {
		if strings.Contains(s, "TOPSECRET") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}
