package pseudonym

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

const sealAD = "sluss/pseudonym/store/v1\x00"

// Sealer seals originals for a Store at rest: XChaCha20-Poly1305 under a
// 32-byte key, a random nonce before the ciphertext, the token as
// associated data so a sealed value cannot be moved to another token.
// Every Store that keeps mappings outside the process uses it, so a record
// sealed by one store opens in another under the same key.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for the 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("pseudonym: store key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns value sealed for token.
func (s *Sealer) Seal(token string, value []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(value)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("pseudonym: crypto/rand failed: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, value, []byte(sealAD+token))
}

// Open returns the value sealed for token, or an error (without the value)
// if it is truncated, sealed under another key or for another token.
func (s *Sealer) Open(token string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("pseudonym: stored value for %s is truncated", token)
	}
	v, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(sealAD+token))
	if err != nil {
		return nil, fmt.Errorf("pseudonym: stored value for %s fails authentication (wrong key or tampering)", token)
	}
	return v, nil
}
