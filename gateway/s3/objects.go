package s3

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/uploads"
)

// objectRecord is what the gateway remembers of an object it stored: the
// provider's ETag of the ciphertext, and what the client knows instead.
// Its key is a digest of the host and the path as sent upstream.
type objectRecord struct {
	CT   string `json:"ct"`   // upstream ETag, unquoted
	PT   string `json:"pt"`   // client's ETag, unquoted
	Size int64  `json:"size"` // plaintext size
	// PartSize and Parts of a multipart object, for GETs by part number.
	PartSize int64 `json:"part_size,omitempty"`
	Parts    int   `json:"parts,omitempty"`
	// Document is the Content-Type of an office document stored
	// pseudonymized inside (not encrypted); Size is then its stored size.
	Document string `json:"document,omitempty"`
}

// objectTTL keeps object records as long as the objects may live.
const objectTTL = 100 * 365 * 24 * time.Hour

func objectKey(host, path string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(host) + "\x00" + path))
	return "s3/obj/" + hex.EncodeToString(sum[:20])
}

// objectKey is the record key of the request's object, by its path as
// sent upstream.
func (c *call) objectKey() string { return objectKey(c.req.URL.Host, c.upstreamPath()) }

func (c *call) upstreamPath() string {
	if c.upRawPath != "" {
		return c.upPath
	}
	return c.req.URL.Path
}

func (c *call) lookupObject(key string) *objectRecord {
	v, err := c.s.a.State.Get(c.req.Context(), key)
	if err != nil {
		if !errors.Is(err, uploads.ErrNotFound) {
			c.x.Log.Warn().Err(err).Msg("s3 object record unreadable")
		}
		return nil
	}
	var rec objectRecord
	if json.Unmarshal(v, &rec) != nil {
		return nil
	}
	return &rec
}

func (c *call) recordObject(key string, rec objectRecord) error {
	v, _ := json.Marshal(rec)
	return c.s.a.State.Update(c.req.Context(), key, objectTTL, func([]byte) ([]byte, error) { return v, nil })
}

func unquote(etag string) string { return strings.Trim(strings.TrimSpace(etag), `"`) }
func quote(etag string) string   { return `"` + etag + `"` }

// clientETag rewrites resp's ETag to what the client knows, when the
// record describes this very version of the object.
func clientETag(h http.Header, rec *objectRecord) {
	if rec != nil && unquote(h.Get("Etag")) == rec.CT {
		h.Set("Etag", quote(rec.PT))
	}
}

// Metadata: user metadata (x-amz-meta-*) may hold file names, and rclone
// keeps the plaintext's MD5 there; values leave sealed with a key derived
// from the region identity, names stay readable.
const metaPrefix = "sluss1."

type metaKey struct {
	id   [4]byte
	aead interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
		NonceSize() int
	}
}

// metaKeys returns the metadata keys of the region's identities, newest
// first. Each is derived once per identity and kept (metaKeyCache).
func (c *call) metaKeys() ([]metaKey, error) {
	ids, err := c.x.Keys.DecryptionKeys()
	if err != nil {
		return nil, err
	}
	var out []metaKey
	for _, id := range ids {
		ci, ok := id.(*crypto.Identity)
		if !ok {
			continue
		}
		mk, err := c.s.a.metaKeys.get(ci)
		if err != nil {
			return nil, err
		}
		out = append(out, mk)
	}
	if len(out) == 0 {
		return nil, errors.New("no region identity to seal metadata with")
	}
	return out, nil
}

// metaKeyCache keeps the metadata key derived from each identity.
type metaKeyCache struct {
	mu   sync.Mutex
	keys map[*crypto.Identity]metaKey
}

func (m *metaKeyCache) get(id *crypto.Identity) (metaKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mk, ok := m.keys[id]; ok {
		return mk, nil
	}
	k := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, id.Seed(), nil, []byte("sluss s3 metadata v1")), k); err != nil {
		return metaKey{}, err
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return metaKey{}, err
	}
	h := hmac.New(sha256.New, k)
	h.Write([]byte("key id"))
	mk := metaKey{aead: aead}
	copy(mk.id[:], h.Sum(nil))
	clear(k)
	if m.keys == nil || len(m.keys) >= 64 {
		m.keys = map[*crypto.Identity]metaKey{} // identities rotate rarely
	}
	m.keys[id] = mk
	return mk, nil
}

// sealMetadata seals every x-amz-meta-* value of h.
func (c *call) sealMetadata(h http.Header) error {
	var keys []metaKey
	for name, vs := range h {
		if !strings.HasPrefix(name, "X-Amz-Meta-") {
			continue
		}
		if keys == nil {
			var err error
			if keys, err = c.metaKeys(); err != nil {
				return newError(http.StatusServiceUnavailable, "ServiceUnavailable", "the region's keys are unavailable")
			}
		}
		k := keys[0]
		for i, v := range vs {
			nonce := make([]byte, k.aead.NonceSize())
			rand.Read(nonce)
			out := append(k.id[:], nonce...)
			out = k.aead.Seal(out, nonce, []byte(v), []byte(strings.ToLower(name)))
			vs[i] = metaPrefix + base64.RawURLEncoding.EncodeToString(out)
		}
	}
	return nil
}

// openMetadata opens the sealed x-amz-meta-* values of h for users who
// may decrypt; others see them sealed.
func (c *call) openMetadata(h http.Header) {
	if !c.x.User.Can(gateway.RightDecrypt) {
		return
	}
	var keys []metaKey
	for name, vs := range h {
		if !strings.HasPrefix(name, "X-Amz-Meta-") {
			continue
		}
		if keys == nil {
			var err error
			if keys, err = c.metaKeys(); err != nil {
				return
			}
		}
		for i, v := range vs {
			if p, ok := openMeta(keys, name, v); ok {
				vs[i] = p
			}
		}
	}
}

func openMeta(keys []metaKey, name, v string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(v, metaPrefix))
	if !strings.HasPrefix(v, metaPrefix) || err != nil || len(raw) < 4+chacha20poly1305.NonceSizeX {
		return "", false
	}
	for _, k := range keys {
		if string(k.id[:]) != string(raw[:4]) {
			continue
		}
		p, err := k.aead.Open(nil, raw[4:4+chacha20poly1305.NonceSizeX], raw[4+chacha20poly1305.NonceSizeX:], []byte(strings.ToLower(name)))
		if err == nil {
			return string(p), true
		}
	}
	return "", false
}
