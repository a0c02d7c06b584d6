package uploads

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const sealAD = "sluss/uploads/v1\x00"

// Sealer seals upload-state records at rest: the expiry (8 bytes, Unix
// seconds), a random nonce and the value under XChaCha20-Poly1305, with the
// record's key and expiry as associated data. Every Store that keeps state
// outside the process uses it, so a record opens in any of them under the
// same key.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for the 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("upload state key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns the record of value at key, live until expires.
func (s *Sealer) Seal(key string, value []byte, expires time.Time) []byte {
	out := make([]byte, 8, 8+chacha20poly1305.NonceSizeX+len(value)+s.aead.Overhead())
	binary.BigEndian.PutUint64(out, uint64(expires.Unix()))
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, value, ad(key, out[:8]))
}

func ad(key string, expiry []byte) []byte {
	return append([]byte(sealAD+key+"\x00"), expiry...)
}

// Open returns the value in the record raw at key, nil if it expired
// before now.
func (s *Sealer) Open(key string, raw []byte, now time.Time) ([]byte, error) {
	if len(raw) < 8+chacha20poly1305.NonceSizeX {
		return nil, errors.New("upload state record is truncated")
	}
	if time.Unix(int64(binary.BigEndian.Uint64(raw)), 0).Before(now) {
		return nil, nil
	}
	nonce, ct := raw[8:8+chacha20poly1305.NonceSizeX], raw[8+chacha20poly1305.NonceSizeX:]
	v, err := s.aead.Open(nil, nonce, ct, ad(key, raw[:8]))
	if err != nil {
		return nil, errors.New("upload state record failed to authenticate (wrong key or tampered)")
	}
	return v, nil
}
