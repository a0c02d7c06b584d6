package crypto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

const (
	// ChunkSize is the plaintext size of one age STREAM chunk.
	ChunkSize = 64 << 10
	// chunkOverhead is the Poly1305 tag on each chunk.
	chunkOverhead = 16
	// encChunkSize is the ciphertext size of one full chunk.
	encChunkSize = ChunkSize + chunkOverhead
	// nonceSize is the payload nonce that follows the header.
	nonceSize = 16

	magic       = "age-encryption.org/v1\n"
	armorHeader = "-----BEGIN AGE ENCRYPTED FILE-----"
)

// ErrNoRecipients is returned when asked to encrypt to nobody.
var ErrNoRecipients = errors.New("no recipients: refusing to encrypt to nobody")

// ErrNoIdentities is returned when asked to decrypt with no identity.
var ErrNoIdentities = errors.New("no identities to decrypt with")

// Encrypt returns a writer that encrypts what is written to it to all
// recipients and writes the age file to dst. Close must be called to write
// the last chunk; until then the output is not a valid file.
//
// Mixing post-quantum and classic recipients is refused, as age refuses it.
func Encrypt(dst io.Writer, recipients ...age.Recipient) (io.WriteCloser, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	w, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("failed to start encryption: %w", err)
	}
	return w, nil
}

// EncryptReader returns a reader of the age file that encrypts src to all
// recipients, for callers that pull (an HTTP request body, for example).
func EncryptReader(src io.Reader, recipients ...age.Recipient) (io.Reader, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	r, err := age.EncryptReader(src, recipients...)
	if err != nil {
		return nil, fmt.Errorf("failed to start encryption: %w", err)
	}
	return r, nil
}

// Decrypt returns a reader of the plaintext of the age file read from src.
// The header is authenticated before Decrypt returns; each 64 KiB chunk is
// authenticated before any of its bytes are returned, and a truncated or
// tampered file ends in an error, never in unauthenticated plaintext.
//
// If no identity matches, the error is an *age.NoIdentityMatchError.
func Decrypt(src io.Reader, identities ...age.Identity) (io.Reader, error) {
	if len(identities) == 0 {
		return nil, ErrNoIdentities
	}
	return decryptPayload(src, identities)
}

// NewReaderAt opens an age file of encryptedSize bytes for random access,
// as age.DecryptReaderAt does (payload.go): it reads the header and authenticates the
// final chunk (and so the plaintext size), then each ReadAt reads and
// authenticates only the chunks it covers. It returns the plaintext size.
func NewReaderAt(src io.ReaderAt, encryptedSize int64, identities ...age.Identity) (io.ReaderAt, int64, error) {
	if len(identities) == 0 {
		return nil, 0, ErrNoIdentities
	}
	return decryptPayloadAt(src, encryptedSize, identities)
}

// DecryptRange returns a reader of plaintext bytes [off, off+length) of the
// age file in src, reading only the header, the final chunk and the chunks
// that cover the range. A range past the end is clipped, as io.SectionReader
// does; off beyond the plaintext size is an error.
func DecryptRange(src io.ReaderAt, encryptedSize, off, length int64, identities ...age.Identity) (io.Reader, error) {
	ra, size, err := NewReaderAt(src, encryptedSize, identities...)
	if err != nil {
		return nil, err
	}
	if off < 0 || length < 0 || off > size {
		return nil, fmt.Errorf("range %d+%d outside plaintext of %d bytes", off, length, size)
	}
	return io.NewSectionReader(ra, off, min(length, size-off)), nil
}

// HeaderSize returns the exact size of the age header (intro line, one
// stanza per recipient, MAC line) for these recipients.
func HeaderSize(recipients ...age.Recipient) (int64, error) {
	if len(recipients) == 0 {
		return 0, ErrNoRecipients
	}
	const intro = int64(len(magic))
	const footer = int64(len("--- ")) + 43 + 1 // base64 of a 32-byte HMAC
	n := intro + footer
	for _, r := range recipients {
		s, err := stanzasSize(r)
		if err != nil {
			return 0, err
		}
		n += s
	}
	return n, nil
}

// EncryptedSize returns the exact size of the age file that encrypting
// plaintextSize bytes to these recipients produces, so that a proxy can send
// Content-Length before it has encrypted anything.
func EncryptedSize(plaintextSize int64, recipients ...age.Recipient) (int64, error) {
	if plaintextSize < 0 {
		return 0, fmt.Errorf("negative plaintext size %d", plaintextSize)
	}
	h, err := HeaderSize(recipients...)
	if err != nil {
		return 0, err
	}
	return h + nonceSize + payloadSize(plaintextSize), nil
}

// payloadSize is the STREAM ciphertext size of n plaintext bytes: every
// chunk carries a tag, and an empty plaintext is still one (empty) chunk.
func payloadSize(n int64) int64 {
	chunks := max(1, (n+ChunkSize-1)/ChunkSize)
	return n + chunks*chunkOverhead
}

// PlaintextSize returns the plaintext size of an age file of encryptedSize
// bytes whose header is headerSize bytes long, or an error if no plaintext
// size gives that ciphertext size.
func PlaintextSize(encryptedSize, headerSize int64) (int64, error) {
	p := encryptedSize - headerSize - nonceSize
	if headerSize <= 0 || p < chunkOverhead {
		return 0, fmt.Errorf("%d bytes is too short for an age file with a %d-byte header", encryptedSize, headerSize)
	}
	chunks := (p + encChunkSize - 1) / encChunkSize
	if last := p - (chunks-1)*encChunkSize; last == chunkOverhead && chunks > 1 {
		// Only an empty file may end in an empty chunk.
		return 0, fmt.Errorf("%d bytes is not a valid age file size", encryptedSize)
	}
	return p - chunks*chunkOverhead, nil
}

// ReadHeaderSize reads the age header from r (positioned at the start of
// the file) and returns its size in bytes, without decrypting anything. It
// reads at most 1 MiB, and may read past the header.
func ReadHeaderSize(r io.Reader) (int64, error) {
	br := bufio.NewReader(io.LimitReader(r, 1<<20))
	var n int64
	for first := true; ; first = false {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return 0, errors.New("age header is truncated or longer than 1 MiB")
		}
		if err != nil {
			return 0, fmt.Errorf("failed to read age header: %w", err)
		}
		if first && string(line) != magic {
			return 0, errors.New("not an age file: unexpected first line")
		}
		n += int64(len(line))
		if bytes.HasPrefix(line, []byte("--- ")) {
			return n, nil
		}
	}
}

// IsEncrypted reports whether prefix, the first bytes of a body, starts an
// age v1 file (binary, or armored). It needs at least 22 bytes to say yes.
func IsEncrypted(prefix []byte) bool {
	return bytes.HasPrefix(prefix, []byte(magic)) || bytes.HasPrefix(prefix, []byte(armorHeader))
}

// SniffLen is how many bytes IsEncrypted needs to decide.
const SniffLen = len(armorHeader)

// stanzasSize returns the serialised size of the stanzas r produces. The
// sizes of the known types are computed; any other recipient is asked to
// wrap a throwaway file key and its stanzas are measured.
func stanzasSize(r age.Recipient) (int64, error) {
	switch r.(type) {
	case *Recipient, *age.HybridRecipient:
		return stanzaSize(StanzaType, []int{b64.EncodedLen(encSize)}, bodySize), nil
	case *age.X25519Recipient:
		return stanzaSize("X25519", []int{43}, 32), nil
	}
	stanzas, err := r.Wrap(make([]byte, fileKeySize))
	if err != nil {
		return 0, fmt.Errorf("failed to size recipient stanza: %w", err)
	}
	var n int64
	for _, s := range stanzas {
		lens := make([]int, len(s.Args))
		for i, a := range s.Args {
			lens[i] = len(a)
		}
		n += stanzaSize(s.Type, lens, len(s.Body))
	}
	return n, nil
}

// stanzaSize mirrors age's stanza encoding: "->", the type and arguments
// separated by spaces, a newline, then the body in base64 wrapped at 64
// columns and always ending with a line shorter than 64 (possibly empty).
func stanzaSize(typ string, argLens []int, body int) int64 {
	n := len("->") + 1 + len(typ) + 1
	for _, l := range argLens {
		n += 1 + l
	}
	b := b64.EncodedLen(body)
	n += b + b/64 + 1
	return int64(n)
}
