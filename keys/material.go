package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/sluss/sluss/crypto"
)

// document is how one kind of key material is stored: as the data of a
// Vault KV v2 secret, or as a JSON file of the embedded store. Versions are
// in ascending order; the last one is current. The S3 document (KindS3)
// has no versions but S3 access keys, sorted by ID.
type document struct {
	Versions []entry   `json:"versions,omitempty"`
	S3       []s3Entry `json:"s3_credentials,omitempty"`
}

// entry is one key version. Secret is the private part: an
// AGE-SECRET-KEY-PQ-1… string for identities, base64 for symmetric keys, a
// PKCS#8 PEM block for the CA. Public is the recipient of an identity or the
// PEM certificate of a CA.
type entry struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Secret  string    `json:"secret"`
	Public  string    `json:"public,omitempty"`
}

// String and GoString keep a document that slips into a format string
// from printing secrets.
func (d *document) String() string {
	if d != nil && len(d.S3) > 0 {
		return fmt.Sprintf("keys document (%d S3 access keys)", len(d.S3))
	}
	if d == nil || len(d.Versions) == 0 {
		return "keys document (empty)"
	}
	return fmt.Sprintf("keys document (%d versions, current v%d)", len(d.Versions), d.current().Version)
}

func (d *document) GoString() string { return d.String() }

func (e entry) String() string   { return "key v" + strconv.Itoa(e.Version) }
func (e entry) GoString() string { return e.String() }

func (d *document) current() *entry {
	if len(d.Versions) == 0 {
		return nil
	}
	return &d.Versions[len(d.Versions)-1]
}

// withNew returns a copy of d with a new version appended.
func (d *document) withNew(e entry) *document {
	n := &document{Versions: slices.Clone(d.Versions)}
	e.Version = 1
	if c := d.current(); c != nil {
		e.Version = c.Version + 1
	}
	n.Versions = append(n.Versions, e)
	return n
}

func (d *document) check(where string) error {
	if len(d.Versions) == 0 {
		return fmt.Errorf("%s holds no key versions", where)
	}
	for i, e := range d.Versions {
		if e.Version < 1 || (i > 0 && e.Version <= d.Versions[i-1].Version) {
			return fmt.Errorf("%s: key versions out of order at entry %d", where, i+1)
		}
	}
	return nil
}

var domainPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func hmacKind(domain string) string { return kindHMACPrefix + domain }

// newEntry generates a fresh key version of a kind.
func newEntry(kind, caName string, now time.Time) (entry, error) {
	e := entry{Created: now.UTC().Truncate(time.Second)}
	switch kind {
	case KindIdentity:
		id, err := crypto.GenerateIdentity()
		if err != nil {
			return e, err
		}
		e.Secret, e.Public = id.SecretKey(), id.Recipient().String()
	case KindCA:
		key, certPEM, err := generateCA(caName, now)
		if err != nil {
			return e, err
		}
		e.Secret, e.Public = key, certPEM
	default: // symmetric keys: HMAC domains, re-identification
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return e, fmt.Errorf("failed to generate key: %w", err)
		}
		e.Secret = base64.StdEncoding.EncodeToString(k)
	}
	return e, nil
}

func generateCA(name string, now time.Time) (keyPEM, certPEM string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("failed to generate CA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	ski := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"sluss"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("failed to create CA certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

func parseIdentityEntry(e entry, where string) (Identity, error) {
	id, err := crypto.ParseIdentity(e.Secret)
	if err != nil {
		// crypto's parse errors never contain the input.
		return Identity{}, fmt.Errorf("%s: identity v%d: %v", where, e.Version, err)
	}
	return Identity{Version: e.Version, Created: e.Created, Identity: id}, nil
}

func parseSymmetricEntry(e entry, where string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(e.Secret)
	if err != nil || len(k) < 32 {
		// Neither the value nor the decoder's error (which quotes an
		// offset, harmless, but keep it uniform) goes into the message.
		return nil, fmt.Errorf("%s: key v%d is not 32 or more bytes of base64", where, e.Version)
	}
	return k, nil
}

func parseCAEntry(e entry, where string) (*CA, error) {
	cb, _ := pem.Decode([]byte(e.Public))
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: CA v%d: no PEM certificate", where, e.Version)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: CA v%d: %v", where, e.Version, err)
	}
	kb, _ := pem.Decode([]byte(e.Secret))
	if kb == nil {
		return nil, fmt.Errorf("%s: CA v%d: private key is not PEM", where, e.Version)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: CA v%d: malformed private key", where, e.Version)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s: CA v%d: private key does not match the certificate", where, e.Version)
	}
	return &CA{Version: e.Version, Cert: cert, Key: key, CertPEM: []byte(e.Public)}, nil
}

func certFingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(h[:])
}

// keyID is a one-way identifier of a symmetric key, for listings.
func keyID(kind string, k []byte) string {
	h := sha256.New()
	h.Write([]byte("sluss key id\x00" + kind + "\x00"))
	h.Write(k)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// snapshot is one parsed, immutable copy of all key material. The cache
// swaps whole snapshots, so readers never see a half-refreshed state.
type snapshot struct {
	fetched    time.Time
	enc        Encryption
	identities []Identity // newest first
	hmac       map[string]hmacRing
	reid       []byte
	ca         *CA
	s3         map[string]S3Credential // by access key ID
}

type hmacRing struct {
	current int
	keys    map[int][]byte
}

func (s *snapshot) String() string   { return "keys snapshot" }
func (s *snapshot) GoString() string { return "keys snapshot" }

// kinds lists every kind of key material, in the order Init creates them.
func kinds(domains []string) []string {
	ks := []string{KindIdentity}
	for _, d := range domains {
		ks = append(ks, hmacKind(d))
	}
	return append(ks, KindReidentification, KindCA)
}

// buildSnapshot parses documents (one per kind, and KindS3 if there is
// one) into a snapshot. where names a kind's location for error messages.
func buildSnapshot(docs map[string]*document, where func(string) string, domains []string, escrow []*crypto.Recipient) (*snapshot, error) {
	s := &snapshot{hmac: make(map[string]hmacRing, len(domains))}
	s3, err := parseS3(docs[KindS3], where(KindS3))
	if err != nil {
		return nil, err
	}
	s.s3 = s3
	for _, kind := range kinds(domains) {
		d := docs[kind]
		if d == nil {
			return nil, fmt.Errorf("%w: %s missing", ErrNotInitialized, where(kind))
		}
		if err := d.check(where(kind)); err != nil {
			return nil, err
		}
	}
	idDoc := docs[KindIdentity]
	for i := len(idDoc.Versions) - 1; i >= 0; i-- {
		id, err := parseIdentityEntry(idDoc.Versions[i], where(KindIdentity))
		if err != nil {
			return nil, err
		}
		s.identities = append(s.identities, id)
	}
	cur := s.identities[0]
	s.enc = Encryption{Version: cur.Version, Region: cur.Recipient(), Escrow: escrow}
	for _, dom := range domains {
		kind := hmacKind(dom)
		r := hmacRing{keys: map[int][]byte{}}
		for _, e := range docs[kind].Versions {
			k, err := parseSymmetricEntry(e, where(kind))
			if err != nil {
				return nil, err
			}
			r.keys[e.Version] = k
			r.current = e.Version
		}
		s.hmac[dom] = r
	}
	reid, err := parseSymmetricEntry(*docs[KindReidentification].current(), where(KindReidentification))
	if err != nil {
		return nil, err
	}
	if len(reid) != 32 {
		return nil, fmt.Errorf("%s: key v%d is %d bytes, want 32", where(KindReidentification), docs[KindReidentification].current().Version, len(reid))
	}
	s.reid = reid
	if s.ca, err = parseCAEntry(*docs[KindCA].current(), where(KindCA)); err != nil {
		return nil, err
	}
	return s, nil
}

// contradicts returns an error if s holds other material than old under a
// version both have, or lacks an identity version old has. Versions are
// never rewritten or removed, so either means the store was wiped and
// re-initialised (or replaced by another region's): taking it would strand
// every object encrypted to the old identities, every token under the old
// HMAC keys, the re-identification store sealed under the old key, and
// clients' trust in the CA.
func (s *snapshot) contradicts(old *snapshot) error {
	have := make(map[int]string, len(s.identities))
	for _, id := range s.identities {
		have[id.Version] = id.Recipient().String()
	}
	for _, id := range old.identities {
		r, ok := have[id.Version]
		switch {
		case !ok:
			return fmt.Errorf("identity v%d is gone", id.Version)
		case r != id.Recipient().String():
			return fmt.Errorf("identity v%d differs", id.Version)
		}
	}
	for dom, r := range old.hmac {
		for v, k := range r.keys {
			if nk, ok := s.hmac[dom].keys[v]; ok && subtle.ConstantTimeCompare(nk, k) != 1 {
				return fmt.Errorf("HMAC key %s v%d differs", dom, v)
			}
		}
	}
	if subtle.ConstantTimeCompare(s.reid, old.reid) != 1 {
		return errors.New("the re-identification key differs")
	}
	if s.ca.Version == old.ca.Version && !bytes.Equal(s.ca.Cert.Raw, old.ca.Cert.Raw) {
		return fmt.Errorf("CA v%d differs", s.ca.Version)
	}
	return nil
}

// describe lists a document's versions without secrets.
func describe(kind, where string, d *document) ([]KeyInfo, error) {
	var out []KeyInfo
	cur := d.current()
	for i := len(d.Versions) - 1; i >= 0; i-- {
		e := d.Versions[i]
		ki := KeyInfo{Kind: kind, Version: e.Version, Current: cur != nil && e.Version == cur.Version, Created: e.Created}
		switch kind {
		case KindIdentity:
			id, err := parseIdentityEntry(e, where)
			if err != nil {
				return nil, err
			}
			ki.Public, ki.Fingerprint = id.Recipient().String(), id.Recipient().Fingerprint()
		case KindCA:
			ca, err := parseCAEntry(e, where)
			if err != nil {
				return nil, err
			}
			ki.Fingerprint, ki.Expires = certFingerprint(ca.Cert.Raw), ca.Cert.NotAfter
		default:
			k, err := parseSymmetricEntry(e, where)
			if err != nil {
				return nil, err
			}
			ki.Fingerprint = keyID(kind, k)
		}
		out = append(out, ki)
	}
	return out, nil
}

var errConflict = errors.New("changed concurrently by someone else; run the command again")
