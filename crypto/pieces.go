package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// Pieces seals the payload of one age file piece by piece, for uploads
// that arrive in parts (S3 multipart, chunked uploads): each piece is
// encrypted on its own once its place in the plaintext is known, and the
// pieces laid end to end after [Pieces.Opening] are one age file that
// `age -d` reads.
//
// The age STREAM seals chunk i with counter i, and the file's last chunk
// with a final flag. A piece therefore needs the index of its first chunk
// (its plaintext offset divided by [ChunkSize]) and whether it ends the
// file. Every piece but the last must be a whole number of chunks.
//
// Releasing two different plaintexts sealed at the same chunk index
// reuses a nonce and breaks the encryption: callers must make sure a chunk
// index is only ever sent again with the same plaintext. A sealed chunk's
// last 16 bytes (its tag) tell: the same index sealed again gives the same
// tag only for the same plaintext, so a caller can keep the tags of what it
// sent and compare before sending again.
type Pieces struct {
	opening []byte // header and nonce
	aead    cipher.AEAD
}

// NewPieces starts a new age file to recipients, with a fresh file key.
func NewPieces(recipients ...age.Recipient) (*Pieces, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	// age writes the header and nonce as soon as Encrypt returns; the file
	// key is taken from the first recipient's Wrap, so the header is
	// age's own, byte for byte.
	capture := &fileKeyCapture{Recipient: recipients[0]}
	rs := append([]age.Recipient{capture}, recipients[1:]...)
	var opening bytes.Buffer
	if _, err := age.Encrypt(&opening, rs...); err != nil {
		return nil, fmt.Errorf("failed to start encryption: %w", err)
	}
	if capture.fileKey == nil {
		return nil, errors.New("failed to start encryption: no file key")
	}
	defer clear(capture.fileKey)
	return newPieces(opening.Bytes(), capture.fileKey)
}

// OpenPieces takes up an age file begun by [NewPieces] from its opening
// (header and nonce, as [Pieces.Opening] returned it), unwrapping the file
// key with identities.
func OpenPieces(opening []byte, identities ...age.Identity) (*Pieces, error) {
	if len(identities) == 0 {
		return nil, ErrNoIdentities
	}
	n, err := ReadHeaderSize(bytes.NewReader(opening))
	if err != nil {
		return nil, err
	}
	if int64(len(opening)) != n+nonceSize {
		return nil, fmt.Errorf("opening of %d bytes is not a %d-byte header and a nonce", len(opening), n)
	}
	fileKey, err := age.DecryptHeader(opening[:n], identities...)
	if err != nil {
		return nil, err
	}
	defer clear(fileKey)
	return newPieces(bytes.Clone(opening), fileKey)
}

func newPieces(opening, fileKey []byte) (*Pieces, error) {
	nonce := opening[len(opening)-nonceSize:]
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, fileKey, nonce, []byte("payload")), key); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	return &Pieces{opening: opening, aead: aead}, nil
}

// Opening returns the file's first bytes: the age header and the payload
// nonce. They hold the file key wrapped to the recipients, so they may be
// stored wherever the upload's state is kept.
func (p *Pieces) Opening() []byte { return bytes.Clone(p.opening) }

// HeaderSize returns the size of the age header (the opening without its
// nonce).
func (p *Pieces) HeaderSize() int64 { return int64(len(p.opening) - nonceSize) }

// SealedSize returns the ciphertext size of a piece of n plaintext bytes:
// each chunk gains a 16-byte tag, and an empty final piece is one empty
// chunk.
func SealedSize(n int64) int64 {
	return payloadSize(n)
}

// SealChunk appends to dst the sealed chunk index of the payload.
// plaintext must be a whole chunk unless final; only the file's first
// chunk may be empty.
func (p *Pieces) SealChunk(dst []byte, index int64, plaintext []byte, final bool) ([]byte, error) {
	switch {
	case index < 0 || index >= 1<<40:
		return nil, fmt.Errorf("chunk index %d out of range", index)
	case len(plaintext) > ChunkSize:
		return nil, fmt.Errorf("chunk of %d bytes is longer than %d", len(plaintext), ChunkSize)
	case !final && len(plaintext) != ChunkSize:
		return nil, fmt.Errorf("chunk %d of %d bytes is short but not final", index, len(plaintext))
	case final && len(plaintext) == 0 && index != 0:
		return nil, fmt.Errorf("final chunk %d is empty: only an empty file ends in an empty chunk", index)
	}
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[3:11], uint64(index))
	if final {
		nonce[11] = 1
	}
	return p.aead.Seal(dst, nonce[:], plaintext, nil), nil
}

// OpenChunk appends to dst the plaintext of the sealed chunk index, or
// fails if it was not sealed there with that final flag.
func (p *Pieces) OpenChunk(dst []byte, index int64, sealed []byte, final bool) ([]byte, error) {
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[3:11], uint64(index))
	if final {
		nonce[11] = 1
	}
	out, err := p.aead.Open(dst, nonce[:], sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("chunk %d failed to authenticate", index)
	}
	return out, nil
}

// fileKeyCapture is the first recipient of a new file: it wraps as the
// real recipient does and keeps a copy of the file key.
type fileKeyCapture struct {
	age.Recipient
	fileKey []byte
}

func (c *fileKeyCapture) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	c.fileKey = bytes.Clone(fileKey)
	return c.Recipient.Wrap(fileKey)
}

func (c *fileKeyCapture) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	c.fileKey = bytes.Clone(fileKey)
	if rl, ok := c.Recipient.(age.RecipientWithLabels); ok {
		return rl.WrapWithLabels(fileKey)
	}
	s, err := c.Recipient.Wrap(fileKey)
	return s, nil, err
}
