package keys

import (
	"context"
	stdcrypto "crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"

	"filippo.io/age"

	"github.com/sluss/sluss/crypto"
)

// Store is the region's key material as the rest of sluss uses it. Every
// method is a memory read from a cache, safe for concurrent use. Returned
// values are shared: callers must not modify them.
type Store interface {
	// Encryption returns what a new object is encrypted to: the current
	// region recipient and the escrow recipients.
	Encryption() (Encryption, error)
	// Identities returns every retained identity version, newest first.
	Identities() ([]Identity, error)
	// Identity returns one identity version.
	Identity(version int) (Identity, error)
	// CurrentHMACKey returns the current pseudonymization key of a domain
	// ("pnr", "name") and its version.
	CurrentHMACKey(domain string) (version int, key []byte, err error)
	// HMACKey returns an earlier (or the current) version of a domain's key.
	HMACKey(domain string, version int) ([]byte, error)
	// ReidentificationKey returns the 32-byte AEAD key that protects the
	// pseudonym re-identification store at rest.
	ReidentificationKey() ([]byte, error)
	// CA returns the current certificate authority of the gateway.
	CA() (*CA, error)
	// S3Credential returns the S3 access key with an ID, to verify a
	// client's signature with; an unknown ID is an error wrapping
	// ErrNotFound. Keys added with Admin.AddS3Credential are seen within
	// a refresh interval.
	S3Credential(accessKeyID string) (S3Credential, error)
	// Ready returns nil while the cached keys are fresh enough to use, and
	// the reason otherwise.
	Ready() error
	// Close stops the refresh loop; later calls fail.
	Close() error
}

// ErrUnavailable is wrapped by every Store error that means "no keys right
// now": the store is closed, or it could not refresh for longer than the
// configured maximum staleness. Callers refuse the operation (fail closed).
var ErrUnavailable = errors.New("keys unavailable")

// ErrNotFound is wrapped by errors for a key version, domain or key kind the
// store does not hold.
var ErrNotFound = errors.New("key not found")

// ErrNotInitialized is wrapped when a backend holds no keys yet; `sluss keys
// init` (Admin.Init) creates them.
var ErrNotInitialized = errors.New("keys not initialized")

// Encryption is what new objects are encrypted to.
type Encryption struct {
	// Version is the region identity's version.
	Version int
	// Region is the current region recipient.
	Region *crypto.Recipient
	// Escrow are offline recipients every object is also encrypted to.
	Escrow []*crypto.Recipient
}

// Recipients returns the region and escrow recipients, for crypto.Encrypt.
func (e Encryption) Recipients() []age.Recipient {
	rs := make([]age.Recipient, 0, 1+len(e.Escrow))
	if e.Region != nil {
		rs = append(rs, e.Region)
	}
	for _, r := range e.Escrow {
		rs = append(rs, r)
	}
	return rs
}

// Identity is one version of the region's identity.
type Identity struct {
	Version int
	Created time.Time
	*crypto.Identity
}

// String names the identity by version and public fingerprint, never by
// its secret.
func (i Identity) String() string {
	if i.Identity == nil {
		return "identity v" + strconv.Itoa(i.Version) + " (empty)"
	}
	return "identity v" + strconv.Itoa(i.Version) + " " + i.Recipient().Fingerprint()
}

// GoString keeps %#v from printing the secret.
func (i Identity) GoString() string { return "keys.Identity(" + i.String() + ")" }

// AgeIdentities converts identities for crypto.Decrypt.
func AgeIdentities(ids []Identity) []age.Identity {
	out := make([]age.Identity, len(ids))
	for i, id := range ids {
		out[i] = id.Identity
	}
	return out
}

// CA is the certificate authority the gateway issues leaf certificates
// from. Clients trust CertPEM.
type CA struct {
	Version int
	Cert    *x509.Certificate
	Key     stdcrypto.Signer // an *ecdsa.PrivateKey on P-256
	CertPEM []byte
}

// String names the CA by version and certificate fingerprint.
func (c *CA) String() string {
	if c == nil || c.Cert == nil {
		return "CA (empty)"
	}
	return fmt.Sprintf("CA v%d %q %s", c.Version, c.Cert.Subject.CommonName, certFingerprint(c.Cert.Raw))
}

// GoString keeps %#v from printing the private key.
func (c *CA) GoString() string { return "keys.CA(" + c.String() + ")" }

// Admin creates, rotates, lists and exports key material. It talks to the
// backend directly (no cache) and is meant for the CLI and for a gateway's
// first start on the embedded store. With Vault it needs an operator token
// (deploy/vault/sluss-operator.hcl).
type Admin interface {
	// Init creates the first version of every key that does not exist yet
	// and reports, per kind, what exists now. Running it again changes
	// nothing.
	Init(ctx context.Context) ([]InitResult, error)
	// RotateIdentity adds a new identity version and makes it current;
	// earlier versions stay for decryption.
	RotateIdentity(ctx context.Context) (version int, err error)
	// RotateHMAC adds a new key version for a pseudonymization domain.
	RotateHMAC(ctx context.Context, domain string) (version int, err error)
	// RotateCA replaces the gateway CA with a new one (a new version).
	RotateCA(ctx context.Context) (version int, err error)
	// List describes every stored key version: kinds, versions, creation
	// times and public fingerprints, never a secret.
	List(ctx context.Context) ([]KeyInfo, error)
	// Recipients returns what new objects are encrypted to, read from the
	// backend.
	Recipients(ctx context.Context) (Encryption, error)
	// ExportIdentities returns every identity version, newest first, for
	// the exit plan, and writes an audit event (who, when, which versions)
	// to the logger.
	ExportIdentities(ctx context.Context) ([]Identity, error)
	// AddS3Credential stores an S3 access key (c.Created is set to now);
	// one with the same ID is replaced. The change is audited, without
	// the secret.
	AddS3Credential(ctx context.Context, c S3Credential) error
	// ListS3Credentials returns every S3 access key, sorted by ID, with
	// Secret empty.
	ListS3Credentials(ctx context.Context) ([]S3Credential, error)
	// RemoveS3Credential deletes an S3 access key; an unknown ID is an
	// error wrapping ErrNotFound. The change is audited.
	RemoveS3Credential(ctx context.Context, accessKeyID string) error
	// Location names where keys are kept (a directory, or Vault's address
	// and path), for messages.
	Location() string
	Close() error
}

// Kinds of key material, as Init and List name them. HMAC keys are
// "hmac/" + domain.
const (
	KindIdentity         = "identity"
	KindReidentification = "reidentification"
	KindCA               = "ca"
	kindHMACPrefix       = "hmac/"
)

// InitResult says what Init found or made for one kind of key.
type InitResult struct {
	Kind    string
	Version int  // the current version
	Created bool // false when it existed already
}

// KeyInfo describes one stored key version without its secret.
type KeyInfo struct {
	Kind    string
	Version int
	Current bool
	Created time.Time
	// Fingerprint is the recipient's fingerprint for identities, the
	// certificate's SHA-256 for the CA, and a one-way key ID (SHA-256 of a
	// label and the key, truncated) for symmetric keys: enough to compare
	// two deployments, useless for recovering the key.
	Fingerprint string
	// Public is the age1pq1… recipient of an identity version.
	Public string
	// Expires is the CA certificate's NotAfter.
	Expires time.Time
}
