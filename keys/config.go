package keys

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluss/sluss/crypto"
)

// Defaults for a Config's zero fields.
const (
	DefaultDataDir         = "./sluss-data"
	DefaultRefreshInterval = time.Minute
	DefaultMaxStaleness    = 15 * time.Minute
	DefaultVaultMount      = "secret"
	DefaultVaultPrefix     = "sluss"
	DefaultAppRoleMount    = "approle"
	DefaultVaultTimeout    = 10 * time.Second
	DefaultCAName          = "sluss region CA"
)

// DefaultHMACDomains are the pseudonymization domains Init creates keys for.
var DefaultHMACDomains = []string{"pnr", "name"}

// Config says where keys live and how fresh they must be. It is the `keys:`
// section of sluss's YAML configuration file; the zero value means the
// embedded file store in ./sluss-data with default timings.
type Config struct {
	// DataDir holds the embedded key store (in DataDir/keys) when no Vault
	// is configured, and other local state of sluss.
	DataDir string `yaml:"data_dir"`
	// Vault, when present, keeps the keys in Vault instead of DataDir.
	Vault *VaultConfig `yaml:"vault"`
	// RefreshInterval is how often the cache rereads the keys.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MaxStaleness is how long cached keys keep working when refreshing
	// fails (Vault unreachable); past it, the store fails closed.
	MaxStaleness time.Duration `yaml:"max_staleness"`
	// Escrow are public age1pq1… recipients every object is also encrypted
	// to: offline keys kept in a safe.
	Escrow []string `yaml:"escrow"`
	// HMACDomains are the pseudonymization key domains (default pnr, name).
	HMACDomains []string `yaml:"hmac_domains"`
	// CAName is the common name of a newly generated gateway CA.
	CAName string `yaml:"ca_name"`

	// Clock, if set, replaces time.Now for staleness decisions (tests).
	Clock func() time.Time `yaml:"-"`
}

// VaultConfig locates the keys in Vault's KV v2 engine: secrets live at
// Mount/data/Prefix/KIND (identity, hmac/pnr, hmac/name, reidentification,
// ca).
type VaultConfig struct {
	Address   string `yaml:"address"`   // e.g. https://vault.region.se:8200; env VAULT_ADDR
	Mount     string `yaml:"mount"`     // KV v2 mount, default "secret"
	Prefix    string `yaml:"prefix"`    // path prefix inside the mount, default "sluss"
	Namespace string `yaml:"namespace"` // Vault Enterprise namespace; env VAULT_NAMESPACE
	// CACert is a PEM file of CAs that sign Vault's TLS certificate; env
	// VAULT_CACERT. The system roots are used otherwise.
	CACert        string        `yaml:"ca_cert"`
	TLSServerName string        `yaml:"tls_server_name"`
	Timeout       time.Duration `yaml:"timeout"` // per request, default 10s
	Auth          VaultAuth     `yaml:"auth"`

	// Transport, if set, wraps the HTTP transport to Vault (tests count
	// requests with it).
	Transport func(http.RoundTripper) http.RoundTripper `yaml:"-"`
}

// VaultAuth says how sluss logs in to Vault: a token, or AppRole. Prefer
// the _file forms, so secrets stay out of the configuration file.
type VaultAuth struct {
	Token     Secret   `yaml:"token"`      // env VAULT_TOKEN
	TokenFile string   `yaml:"token_file"` // file holding the token
	AppRole   *AppRole `yaml:"approle"`
}

// AppRole is Vault's AppRole login: a role ID and a secret ID.
type AppRole struct {
	Mount        string `yaml:"mount"`   // default "approle"
	RoleID       string `yaml:"role_id"` // env SLUSS_VAULT_ROLE_ID
	RoleIDFile   string `yaml:"role_id_file"`
	SecretID     Secret `yaml:"secret_id"` // env SLUSS_VAULT_SECRET_ID
	SecretIDFile string `yaml:"secret_id_file"`
}

// Secret is a configuration string that never prints: a token or a secret
// ID.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// ApplyEnv fills fields the configuration file left empty from the
// environment: SLUSS_DATA_DIR, SLUSS_ESCROW (recipients separated by commas
// or spaces) and, when a vault section exists, VAULT_ADDR, VAULT_TOKEN,
// VAULT_NAMESPACE, VAULT_CACERT, SLUSS_VAULT_ROLE_ID and
// SLUSS_VAULT_SECRET_ID. A VAULT_ADDR alone does not switch sluss to Vault:
// the configuration file decides where keys live.
func (c *Config) ApplyEnv(getenv func(string) string) {
	set := func(dst *string, env string) {
		if *dst == "" {
			*dst = getenv(env)
		}
	}
	set(&c.DataDir, "SLUSS_DATA_DIR")
	if len(c.Escrow) == 0 {
		c.Escrow = strings.FieldsFunc(getenv("SLUSS_ESCROW"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
	}
	v := c.Vault
	if v == nil {
		return
	}
	set(&v.Address, "VAULT_ADDR")
	set(&v.Namespace, "VAULT_NAMESPACE")
	set(&v.CACert, "VAULT_CACERT")
	if v.Auth.AppRole == nil {
		if v.Auth.Token == "" && v.Auth.TokenFile == "" {
			v.Auth.Token = Secret(getenv("VAULT_TOKEN"))
		}
		return
	}
	a := v.Auth.AppRole
	if a.RoleIDFile == "" {
		set(&a.RoleID, "SLUSS_VAULT_ROLE_ID")
	}
	if a.SecretIDFile == "" && a.SecretID == "" {
		a.SecretID = Secret(getenv("SLUSS_VAULT_SECRET_ID"))
	}
}

// UsesVault reports whether the keys live in Vault.
func (c *Config) UsesVault() bool { return c.Vault != nil }

// settings is a validated Config with defaults applied.
type settings struct {
	Config
	vault  VaultConfig
	escrow []*crypto.Recipient
}

func (c Config) resolve() (*settings, error) {
	s := &settings{Config: c}
	if s.DataDir == "" {
		s.DataDir = DefaultDataDir
	}
	if s.RefreshInterval == 0 {
		s.RefreshInterval = DefaultRefreshInterval
	}
	if s.MaxStaleness == 0 {
		s.MaxStaleness = DefaultMaxStaleness
	}
	if s.RefreshInterval < 0 || s.MaxStaleness < 0 {
		return nil, errors.New("keys.refresh_interval and keys.max_staleness must be positive")
	}
	if s.MaxStaleness < s.RefreshInterval {
		return nil, fmt.Errorf("keys.max_staleness (%s) is shorter than keys.refresh_interval (%s): keys would expire between refreshes", s.MaxStaleness, s.RefreshInterval)
	}
	if len(s.HMACDomains) == 0 {
		s.HMACDomains = DefaultHMACDomains
	}
	for _, d := range s.HMACDomains {
		if !domainPattern.MatchString(d) {
			return nil, fmt.Errorf("keys.hmac_domains: HMAC domain %q: want lower-case letters, digits, _ or -", d)
		}
	}
	if s.CAName == "" {
		s.CAName = DefaultCAName
	}
	if s.Clock == nil {
		s.Clock = time.Now
	}
	for i, r := range s.Escrow {
		r = strings.TrimSpace(r)
		if !strings.HasPrefix(r, "age1pq1") {
			return nil, fmt.Errorf("keys.escrow: escrow recipient %d is not an age1pq1… recipient (post-quantum public key from age-keygen -pq or sluss keygen)", i+1)
		}
		rec, err := crypto.ParseRecipient(r)
		if err != nil {
			return nil, fmt.Errorf("keys.escrow: escrow recipient %d: %v", i+1, err)
		}
		s.escrow = append(s.escrow, rec)
	}
	if c.Vault != nil {
		v := *c.Vault
		if v.Address == "" {
			return nil, errors.New("keys.vault.address (or VAULT_ADDR) is not set")
		}
		if v.Mount == "" {
			v.Mount = DefaultVaultMount
		}
		if v.Prefix == "" {
			v.Prefix = DefaultVaultPrefix
		}
		v.Mount, v.Prefix = strings.Trim(v.Mount, "/"), strings.Trim(v.Prefix, "/")
		if v.Timeout == 0 {
			v.Timeout = DefaultVaultTimeout
		}
		if v.Auth.AppRole != nil {
			a := *v.Auth.AppRole
			if a.Mount == "" {
				a.Mount = DefaultAppRoleMount
			}
			v.Auth.AppRole = &a
		}
		s.vault = v
	}
	s.DataDir = filepath.Clean(s.DataDir)
	return s, nil
}

// String and GoString describe a configuration without its credentials,
// whatever the format verb.
func (c Config) String() string {
	where := "data_dir " + c.DataDir
	if c.Vault != nil {
		where = c.Vault.String()
	}
	return fmt.Sprintf("keys config (%s, refresh %s, max staleness %s, %d escrow recipients)", where, c.RefreshInterval, c.MaxStaleness, len(c.Escrow))
}

func (c Config) GoString() string { return c.String() }

func (v VaultConfig) String() string {
	return fmt.Sprintf("vault %s %s/data/%s namespace %q auth %s", v.Address, v.Mount, v.Prefix, v.Namespace, v.Auth)
}

func (v VaultConfig) GoString() string { return v.String() }

func (a VaultAuth) String() string {
	switch {
	case a.AppRole != nil:
		return a.AppRole.String()
	case a.TokenFile != "":
		return "token from " + a.TokenFile
	case a.Token != "":
		return "token [redacted]"
	}
	return "none"
}

func (a VaultAuth) GoString() string { return a.String() }

func (a AppRole) String() string {
	return fmt.Sprintf("approle at auth/%s (role_id and secret_id [redacted])", a.Mount)
}

func (a AppRole) GoString() string { return a.String() }
