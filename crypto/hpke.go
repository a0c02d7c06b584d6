package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
	"golang.org/x/crypto/chacha20poly1305"
)

// This file is the one HPKE suite age's mlkem768x25519 stanza uses (RFC 9180
// base mode, KEM X-Wing 0x647a, KDF HKDF-SHA256, AEAD ChaCha20-Poly1305,
// info "age-encryption.org/mlkem768x25519"), written out so that a file key
// costs the X-Wing encapsulation plus three HMACs and one tiny seal: circl's
// generic hpke recomputes the two constant hashes of the key schedule for
// every file and allocates a sender and a context, and the decapsulation
// side here does the X25519 low-order check on the one scalar
// multiplication X-Wing needs, instead of a second one (see PERFORMANCE.md).
// hpke_test.go checks it byte for byte against circl's hpke and RFC 9180.

// hpkeSuiteID is "HPKE" || kem_id || kdf_id || aead_id (RFC 9180, 5.1).
var hpkeSuiteID = []byte{'H', 'P', 'K', 'E', 0x64, 0x7a, 0x00, 0x01, 0x00, 0x03}

// hpkeContext is the key_schedule_context of base mode for our info: it
// depends on nothing secret and nothing per file, so it is computed once.
var hpkeContext = keyScheduleContext(hpkeSuiteID, []byte(hpkeInfo))

// keyScheduleContext is mode_base || psk_id_hash || info_hash (RFC 9180, 5.1).
func keyScheduleContext(suiteID, info []byte) []byte {
	ctx := []byte{0x00} // mode_base
	ctx = append(ctx, labeledExtract(suiteID, nil, "psk_id_hash", nil)...)
	return append(ctx, labeledExtract(suiteID, nil, "info_hash", info)...)
}

// keySchedule derives the AEAD key and base nonce of a base-mode context
// from the KEM's shared secret. The PSK is empty in base mode.
func keySchedule(suiteID, ctx, sharedSecret []byte) (key, baseNonce []byte) {
	secret := labeledExtract(suiteID, sharedSecret, "secret", nil)
	key = labeledExpand(suiteID, secret, "key", ctx, chacha20poly1305.KeySize)
	baseNonce = labeledExpand(suiteID, secret, "base_nonce", ctx, chacha20poly1305.NonceSize)
	return key, baseNonce
}

func labeledExtract(suiteID, salt []byte, label string, ikm []byte) []byte {
	in := make([]byte, 0, len("HPKE-v1")+len(suiteID)+len(label)+len(ikm))
	in = append(append(append(append(in, "HPKE-v1"...), suiteID...), label...), ikm...)
	prk, err := hkdf.Extract(sha256.New, in, salt)
	if err != nil {
		panic("crypto: HKDF-SHA256 extract failed: " + err.Error()) // only for a non-FIPS hash in FIPS mode
	}
	return prk
}

func labeledExpand(suiteID, prk []byte, label string, info []byte, length int) []byte {
	in := make([]byte, 0, 2+len("HPKE-v1")+len(suiteID)+len(label)+len(info))
	in = append(in, byte(length>>8), byte(length))
	in = append(append(append(append(in, "HPKE-v1"...), suiteID...), label...), info...)
	out, err := hkdf.Expand(sha256.New, prk, string(in), length)
	if err != nil {
		panic("crypto: HKDF-SHA256 expand failed: " + err.Error()) // length is a constant ≤ 32
	}
	return out
}

// sealFileKey is HPKE's single-shot seal of the file key under the context
// derived from sharedSecret: sequence number 0, so the nonce is the base
// nonce, and no associated data.
func sealFileKey(sharedSecret, fileKey []byte) []byte {
	key, nonce := keySchedule(hpkeSuiteID, hpkeContext, sharedSecret)
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		panic("crypto: ChaCha20-Poly1305 refused a 32-byte key: " + err.Error())
	}
	return aead.Seal(make([]byte, 0, len(fileKey)+aead.Overhead()), nonce, fileKey, nil)
}

// openFileKey is the inverse of sealFileKey.
func openFileKey(sharedSecret, body []byte) ([]byte, error) {
	key, nonce := keySchedule(hpkeSuiteID, hpkeContext, sharedSecret)
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		panic("crypto: ChaCha20-Poly1305 refused a 32-byte key: " + err.Error())
	}
	return aead.Open(nil, nonce, body, nil)
}

// xwingLabel ends the X-Wing combiner's input ("\./" over "/^\").
const xwingLabel = `\.//^\`

// xwingPrivateKey is an X-Wing decapsulation key, expanded from its seed as
// the X-Wing draft (and circl's kem/xwing) does.
type xwingPrivateKey struct {
	mlkem *mlkem768.PrivateKey
	x     x25519.Key // the X25519 scalar
	xpk   x25519.Key // its public key, part of the combiner's input
}

// errLowOrderShare is a stanza whose X25519 share is a low-order point: the
// X25519 shared secret is all zeros. age rejects it, and so do we.
var errLowOrderShare = errors.New("low-order X25519 share")

// newXWingPrivateKey expands a 32-byte seed: SHAKE256(seed, 96) is the
// ML-KEM-768 seed (d || z) followed by the X25519 scalar.
func newXWingPrivateKey(seed []byte) (*xwingPrivateKey, []byte) {
	expanded := sha3.SumSHAKE256(seed, mlkem768.KeySeedSize+x25519.Size)
	pkm, skm := mlkem768.NewKeyFromSeed(expanded[:mlkem768.KeySeedSize])
	leaveAVX()
	sk := &xwingPrivateKey{mlkem: skm}
	copy(sk.x[:], expanded[mlkem768.KeySeedSize:])
	x25519.KeyGen(&sk.xpk, &sk.x)
	pub := make([]byte, PublicKeySize)
	pkm.Pack(pub[:mlkem768.PublicKeySize])
	copy(pub[mlkem768.PublicKeySize:], sk.xpk[:])
	return sk, pub
}

// decapsulate returns the X-Wing shared secret for the 1120-byte ciphertext
// enc (ML-KEM-768 ciphertext || X25519 share). ML-KEM rejects implicitly: a
// ciphertext for another key yields an unrelated secret, not an error. The
// only error is a low-order X25519 share.
func (sk *xwingPrivateKey) decapsulate(enc []byte) ([]byte, error) {
	if len(enc) != encSize {
		return nil, fmt.Errorf("X-Wing ciphertext is %d bytes, want %d", len(enc), encSize)
	}
	var ssm [mlkem768.SharedKeySize]byte
	sk.mlkem.DecapsulateTo(ssm[:], enc[:mlkem768.CiphertextSize])
	leaveAVX()
	var share, ssx x25519.Key
	copy(share[:], enc[mlkem768.CiphertextSize:])
	// The all-zero output, not circl's verdict on the input, is what age's
	// crypto/ecdh rejects; comparing it keeps both sides identical.
	x25519.Shared(&ssx, &sk.x, &share)
	if subtle.ConstantTimeCompare(ssx[:], make([]byte, x25519.Size)) == 1 {
		return nil, errLowOrderShare
	}
	h := sha3.New256()
	h.Write(ssm[:])
	h.Write(ssx[:])
	h.Write(share[:])
	h.Write(sk.xpk[:])
	h.Write([]byte(xwingLabel))
	return h.Sum(nil), nil
}
