package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"github.com/cloudflare/circl/kem/xwing"
)

const (
	// StanzaType is the age stanza type of the X-Wing recipient.
	StanzaType = "mlkem768x25519"
	// hpkeInfo is both the HPKE info string and the age label of the type.
	hpkeInfo = "age-encryption.org/mlkem768x25519"

	recipientPrefix = "age1pq"
	identityPrefix  = "AGE-SECRET-KEY-PQ-"

	// SeedSize is the size of an identity's secret: an X-Wing seed.
	SeedSize = xwing.SeedSize
	// PublicKeySize is the size of an X-Wing public key (ML-KEM-768 || X25519).
	PublicKeySize = xwing.PublicKeySize

	encSize     = xwing.CiphertextSize // 1120: ML-KEM ciphertext || X25519 share
	fileKeySize = 16
	bodySize    = fileKeySize + 16 // sealed file key plus Poly1305 tag
)

// pqLabel makes age refuse to mix this recipient with classic ones: a file
// also wrapped to X25519 would lose its post-quantum protection.
var pqLabels = []string{"postquantum"}

// b64 is age's strict, unpadded base64: non-canonical encodings are errors.
var b64 = base64.RawStdEncoding.Strict()

// Recipient is the public half of an X-Wing (ML-KEM-768 + X25519) key pair:
// an age recipient of type mlkem768x25519, written age1pq1….
// It is safe for concurrent use.
type Recipient struct {
	pk  *xwing.PublicKey
	raw []byte
}

var (
	_ age.Recipient           = (*Recipient)(nil)
	_ age.RecipientWithLabels = (*Recipient)(nil)
)

// NewRecipient returns the recipient for a 1216-byte X-Wing public key.
func NewRecipient(publicKey []byte) (*Recipient, error) {
	if len(publicKey) != PublicKeySize {
		return nil, fmt.Errorf("invalid mlkem768x25519 public key: %d bytes, want %d", len(publicKey), PublicKeySize)
	}
	var pk xwing.PublicKey
	err := pk.Unpack(publicKey)
	leaveAVX()
	if err != nil {
		return nil, fmt.Errorf("invalid mlkem768x25519 public key: %w", err)
	}
	return &Recipient{pk: &pk, raw: append([]byte(nil), publicKey...)}, nil
}

// ParseRecipient parses an age1pq1… string, as printed by age-keygen -pq.
func ParseRecipient(s string) (*Recipient, error) {
	hrp, data, err := bech32Decode(s)
	if err != nil {
		return nil, fmt.Errorf("malformed recipient %s: %v", abbreviate(s), err)
	}
	if hrp != recipientPrefix {
		return nil, fmt.Errorf("malformed recipient %s: type %q is not %q", abbreviate(s), hrp, recipientPrefix)
	}
	r, err := NewRecipient(data)
	if err != nil {
		return nil, fmt.Errorf("malformed recipient %s: %v", abbreviate(s), err)
	}
	return r, nil
}

// Wrap implements age.Recipient.
func (r *Recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	s, _, err := r.WrapWithLabels(fileKey)
	return s, err
}

// WrapWithLabels implements age.RecipientWithLabels. The "postquantum" label
// makes age refuse to encrypt to this recipient together with a classic one.
func (r *Recipient) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	seed := make([]byte, xwing.EncapsulationSeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, fmt.Errorf("failed to encapsulate: %w", err)
	}
	enc, body := r.wrap(fileKey, seed)
	return []*age.Stanza{{
		Type: StanzaType,
		Args: []string{b64.EncodeToString(enc)},
		Body: body,
	}}, pqLabels, nil
}

// wrap is HPKE SetupBaseS + Seal of the file key with the X-Wing
// encapsulation seed given, so that tests can compare it with circl's hpke.
func (r *Recipient) wrap(fileKey, seed []byte) (enc, body []byte) {
	enc = make([]byte, encSize)
	var ss [xwing.SharedKeySize]byte
	r.encapsulate(enc, ss[:], seed)
	return enc, sealFileKey(ss[:], fileKey)
}

// encapsulate is X-Wing's encapsulation, leaving no AVX state behind
// (avx_amd64.go).
func (r *Recipient) encapsulate(enc, ss, seed []byte) {
	r.pk.EncapsulateTo(enc, ss, seed)
	leaveAVX()
}

// Bytes returns a copy of the raw 1216-byte public key.
func (r *Recipient) Bytes() []byte { return append([]byte(nil), r.raw...) }

// String returns the age1pq1… encoding.
func (r *Recipient) String() string { return bech32Encode(recipientPrefix, r.raw) }

// Fingerprint is a short, stable name for the key, safe to log:
// the first 8 bytes of SHA-256 of the public key, in hex.
func (r *Recipient) Fingerprint() string {
	h := sha256.Sum256(r.raw)
	return hex.EncodeToString(h[:8])
}

// Equal reports whether r and o are the same public key.
func (r *Recipient) Equal(o *Recipient) bool { return o != nil && r.pk.Equal(o.pk) }

// Identity is an X-Wing private key: an age identity of type
// mlkem768x25519, written AGE-SECRET-KEY-PQ-1…. It is safe for concurrent use.
//
// Its String and GoString never print the secret; use [Identity.SecretKey]
// when the secret must be written out, and only then.
type Identity struct {
	seed      [SeedSize]byte
	sk        *xwingPrivateKey
	recipient *Recipient
}

var _ age.Identity = (*Identity)(nil)

// GenerateIdentity returns a new random identity.
func GenerateIdentity() (*Identity, error) {
	var seed [SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("failed to generate identity: %w", err)
	}
	return NewIdentity(seed[:])
}

// NewIdentity returns the identity for a 32-byte X-Wing seed.
func NewIdentity(seed []byte) (*Identity, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("invalid mlkem768x25519 secret key: %d bytes, want %d", len(seed), SeedSize)
	}
	sk, pub := newXWingPrivateKey(seed)
	r, err := NewRecipient(pub)
	if err != nil {
		return nil, fmt.Errorf("invalid mlkem768x25519 secret key: %w", err)
	}
	id := &Identity{sk: sk, recipient: r}
	copy(id.seed[:], seed)
	return id, nil
}

// ParseIdentity parses an AGE-SECRET-KEY-PQ-1… string. Its errors never
// contain the input.
func ParseIdentity(s string) (*Identity, error) {
	hrp, data, err := bech32Decode(s)
	if err != nil {
		return nil, fmt.Errorf("malformed secret key: %v", err)
	}
	if hrp != identityPrefix {
		return nil, fmt.Errorf("malformed secret key: type is not %q", identityPrefix)
	}
	id, err := NewIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("malformed secret key: %v", err)
	}
	return id, nil
}

// Unwrap implements age.Identity.
func (i *Identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		fileKey, err := i.unwrap(s)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			continue
		}
		return fileKey, err
	}
	return nil, age.ErrIncorrectIdentity
}

func (i *Identity) unwrap(s *age.Stanza) ([]byte, error) {
	if s.Type != StanzaType {
		return nil, age.ErrIncorrectIdentity
	}
	if len(s.Args) != 1 {
		return nil, errors.New("invalid mlkem768x25519 recipient block: want 1 argument")
	}
	if strings.ContainsAny(s.Args[0], "\r\n") {
		return nil, errors.New("invalid mlkem768x25519 recipient block: newline in argument")
	}
	enc, err := b64.DecodeString(s.Args[0])
	if err != nil {
		return nil, fmt.Errorf("invalid mlkem768x25519 recipient block: %v", err)
	}
	if len(enc) != encSize {
		return nil, fmt.Errorf("invalid mlkem768x25519 recipient block: share is %d bytes, want %d", len(enc), encSize)
	}
	if len(s.Body) != bodySize {
		return nil, fmt.Errorf("invalid mlkem768x25519 recipient block: body is %d bytes, want %d", len(s.Body), bodySize)
	}
	ss, err := i.sk.decapsulate(enc)
	if err != nil {
		return nil, fmt.Errorf("invalid mlkem768x25519 recipient block: %w", err)
	}
	// ML-KEM rejects implicitly: a share for another key decapsulates to an
	// unrelated secret, and only the AEAD open below tells them apart.
	fileKey, err := openFileKey(ss, s.Body)
	if err != nil {
		return nil, age.ErrIncorrectIdentity
	}
	return fileKey, nil
}

// Recipient returns the public half of i.
func (i *Identity) Recipient() *Recipient { return i.recipient }

// Seed returns a copy of the 32-byte secret seed. Handle it as the key itself.
func (i *Identity) Seed() []byte { return append([]byte(nil), i.seed[:]...) }

// SecretKey returns the AGE-SECRET-KEY-PQ-1… encoding that age -d -i reads.
// It is the private key: write it only where a private key belongs.
func (i *Identity) SecretKey() string { return bech32Encode(identityPrefix, i.seed[:]) }

// String names the identity by its public fingerprint; it never prints the
// secret, so an identity that slips into a log line leaks nothing.
func (i *Identity) String() string {
	return "mlkem768x25519 identity " + i.recipient.Fingerprint()
}

// GoString keeps %#v from printing the seed.
func (i *Identity) GoString() string { return "crypto.Identity(" + i.recipient.Fingerprint() + ")" }

// abbreviate shortens a public string for an error message; a recipient is
// about 1 950 characters long.
func abbreviate(s string) string {
	if len(s) <= 24 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q", s[:16]+"…"+s[len(s)-6:])
}
