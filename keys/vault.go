package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"
)

// Policies a token needs, as shipped in deploy/vault/: the gateway only
// reads, operators also create and update.
const (
	gatewayPolicyHint = `a policy granting "read" on %s/data/%s/* (deploy/vault/sluss-gateway.hcl)`
	adminPolicyHint   = `a policy granting "create", "update" and "read" on %s/data/%s/* (deploy/vault/sluss-operator.hcl)`
)

// vaultBackend keeps each kind of key material as one KV v2 secret at
// Mount/data/Prefix/KIND. Writes use check-and-set, so two operators
// rotating at once cannot lose a version.
type vaultBackend struct {
	c     *vault.Client
	kv    *vault.KVv2
	cfg   VaultConfig
	log   zerolog.Logger
	clock func() time.Time

	mu sync.Mutex
	// renewAt is when the token should next be renewed (zero: it does
	// not expire, as a root token).
	renewAt   time.Time
	renewable bool
}

func newVaultBackend(ctx context.Context, cfg VaultConfig, clock func() time.Time, log zerolog.Logger) (*vaultBackend, error) {
	conf := vault.DefaultConfig()
	if conf.Error != nil {
		return nil, fmt.Errorf("vault client: %w", conf.Error)
	}
	// Only sluss's configuration decides where to go and whom to trust;
	// ApplyEnv already folded in the documented VAULT_* variables.
	conf.Address, conf.AgentAddress = cfg.Address, ""
	conf.Timeout = cfg.Timeout
	if err := conf.ConfigureTLS(&vault.TLSConfig{CACert: cfg.CACert, TLSServerName: cfg.TLSServerName}); err != nil {
		return nil, fmt.Errorf("vault TLS configuration (ca_cert %s): %w", cfg.CACert, err)
	}
	if cfg.Transport != nil {
		conf.HttpClient.Transport = cfg.Transport(conf.HttpClient.Transport)
	}
	c, err := vault.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", cfg.Address, err)
	}
	c.ClearToken()
	c.ClearNamespace()
	if cfg.Namespace != "" {
		c.SetNamespace(cfg.Namespace)
	}
	v := &vaultBackend{c: c, kv: c.KVv2(cfg.Mount), cfg: cfg, log: log, clock: clock}
	if err := v.login(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *vaultBackend) path(kind string) string { return v.cfg.Prefix + "/" + kind }

func (v *vaultBackend) where(kind string) string {
	return v.cfg.Mount + "/data/" + v.path(kind)
}

func (v *vaultBackend) location() string {
	loc := "vault " + v.cfg.Address + " " + v.cfg.Mount + "/data/" + v.cfg.Prefix
	if v.cfg.Namespace != "" {
		loc += " (namespace " + v.cfg.Namespace + ")"
	}
	return loc
}

func (v *vaultBackend) close() error { return nil }

// login gets a token (from the configuration, or by AppRole) and learns
// its lifetime.
func (v *vaultBackend) login(ctx context.Context) error {
	a := v.cfg.Auth
	var ttl time.Duration
	renewable := false
	switch {
	case a.AppRole != nil:
		roleID, err := readSecret(a.AppRole.RoleID, a.AppRole.RoleIDFile, "auth.approle.role_id", "SLUSS_VAULT_ROLE_ID")
		if err != nil {
			return err
		}
		secretID, err := readSecret(string(a.AppRole.SecretID), a.AppRole.SecretIDFile, "auth.approle.secret_id", "SLUSS_VAULT_SECRET_ID")
		if err != nil {
			return err
		}
		path := "auth/" + a.AppRole.Mount + "/login"
		sec, err := v.c.Logical().WriteWithContext(ctx, path, map[string]any{"role_id": roleID, "secret_id": secretID})
		if err != nil {
			return v.loginError(path, err)
		}
		if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
			return fmt.Errorf("vault AppRole login at %s/v1/%s returned no token", v.cfg.Address, path)
		}
		v.c.SetToken(sec.Auth.ClientToken)
		ttl, renewable = time.Duration(sec.Auth.LeaseDuration)*time.Second, sec.Auth.Renewable
		v.log.Info().Str("store", v.location()).Dur("ttl", ttl).Msg("logged in to vault with AppRole")
	default:
		tok, err := readSecret(string(a.Token), a.TokenFile, "auth.token", "VAULT_TOKEN")
		if err != nil {
			return err
		}
		v.c.SetToken(tok)
		sec, err := v.c.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return v.loginError("auth/token/lookup-self", err)
		}
		if sec != nil {
			if t, err := sec.TokenTTL(); err == nil {
				ttl = t
			}
			renewable, _ = sec.TokenIsRenewable()
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.renewable = renewable
	v.renewAt = time.Time{}
	if ttl > 0 {
		v.renewAt = v.clock().Add(ttl / 2)
	}
	return nil
}

func (v *vaultBackend) loginError(path string, err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusForbidden && strings.Contains(path, "token"):
			return fmt.Errorf("vault at %s rejected the token (403 permission denied on %s): it is wrong, expired or revoked, or lacks Vault's default policy", v.cfg.Address, path)
		case strings.Contains(path, "approle"):
			return fmt.Errorf("vault AppRole login at %s/v1/%s failed (%d %s): check role_id and secret_id (a secret_id may also have expired or run out of uses)", v.cfg.Address, path, re.StatusCode, vaultErrors(re))
		}
		return fmt.Errorf("vault %s/v1/%s: %d %s", v.cfg.Address, path, re.StatusCode, vaultErrors(re))
	}
	return fmt.Errorf("cannot reach vault at %s: %w", v.cfg.Address, err)
}

// prepare renews the token once half its lifetime has passed; when it
// cannot be renewed and AppRole is configured, it logs in again.
func (v *vaultBackend) prepare(ctx context.Context) error {
	v.mu.Lock()
	due := !v.renewAt.IsZero() && !v.clock().Before(v.renewAt)
	renewable := v.renewable
	v.mu.Unlock()
	if !due {
		return nil
	}
	if renewable {
		sec, err := v.c.Auth().Token().RenewSelfWithContext(ctx, 0)
		if err == nil && sec != nil && sec.Auth != nil {
			ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
			v.mu.Lock()
			v.renewAt = v.clock().Add(ttl / 2)
			v.mu.Unlock()
			v.log.Debug().Dur("ttl", ttl).Msg("vault token renewed")
			return nil
		}
		if err != nil {
			v.log.Warn().Err(v.loginError("auth/token/renew-self", err)).Msg("vault token renewal failed")
		}
	}
	if v.cfg.Auth.AppRole != nil {
		return v.login(ctx)
	}
	return nil
}

func (v *vaultBackend) get(ctx context.Context, kind string) (*document, int, error) {
	s, err := v.kv.Get(ctx, v.path(kind))
	var re *vault.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden && v.cfg.Auth.AppRole != nil {
		// The token may have expired (a Vault restart, a missed renewal):
		// log in again once before calling it a permission problem.
		if lerr := v.login(ctx); lerr != nil {
			return nil, 0, lerr
		}
		s, err = v.kv.Get(ctx, v.path(kind))
	}
	if errors.Is(err, vault.ErrSecretNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, v.requestError("reading", kind, err)
	}
	if s == nil || s.Data == nil {
		return nil, 0, nil
	}
	// The data is JSON-shaped; reshape it into a document.
	b, err := json.Marshal(s.Data)
	if err != nil {
		return nil, 0, fmt.Errorf("vault %s: %v", v.where(kind), err)
	}
	var d document
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, 0, fmt.Errorf("vault %s does not hold sluss key versions (malformed data)", v.where(kind))
	}
	rev := 0
	if s.VersionMetadata != nil {
		rev = s.VersionMetadata.Version
	}
	return &d, rev, nil
}

func (v *vaultBackend) put(ctx context.Context, kind string, d *document, rev int) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		return err
	}
	if _, err := v.kv.Put(ctx, v.path(kind), data, vault.WithCheckAndSet(rev)); err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(vaultErrors(re), "check-and-set") {
			return fmt.Errorf("vault %s %w", v.where(kind), errConflict)
		}
		return v.requestError("writing", kind, err)
	}
	return nil
}

// requestError turns a Vault error into one line naming the path and, for
// 403, the policy needed. Vault's error bodies do not carry secret values.
func (v *vaultBackend) requestError(op, kind string, err error) error {
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("cannot reach vault at %s %s %s: %w", v.cfg.Address, op, v.where(kind), err)
	}
	if re.StatusCode == http.StatusForbidden {
		hint := gatewayPolicyHint
		if op != "reading" {
			hint = adminPolicyHint
		}
		return fmt.Errorf("vault denied %s %s (403 permission denied): the token needs "+hint,
			op, v.where(kind), v.cfg.Mount, v.cfg.Prefix)
	}
	if re.StatusCode == http.StatusNotFound {
		return fmt.Errorf("vault %s %s: 404 (is KV v2 mounted at %s/?)", op, v.where(kind), v.cfg.Mount)
	}
	return fmt.Errorf("vault %s %s: %d %s", op, v.where(kind), re.StatusCode, vaultErrors(re))
}

func vaultErrors(re *vault.ResponseError) string {
	if len(re.Errors) == 0 {
		return http.StatusText(re.StatusCode)
	}
	return strings.Join(re.Errors, "; ")
}

// readSecret returns an inline value or the trimmed contents of a file.
// field names the configuration key (keys.vault.FIELD), env its variable.
func readSecret(inline, file, field, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("keys.vault.%s_file: %w", field, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("keys.vault.%s_file: %s is empty", field, file)
		}
		return s, nil
	}
	if inline == "" {
		return "", fmt.Errorf("no vault credential: set keys.vault.%s_file (or keys.vault.%s, or %s)", field, field, env)
	}
	return inline, nil
}
