package crypto

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// The payload of an age file is age's STREAM: 64 KiB chunks, each sealed
// with ChaCha20-Poly1305 under a key derived from the file key and the
// 16-byte nonce that follows the header, with an 88-bit big-endian chunk
// counter and a last-chunk flag as the AEAD nonce. age v1.3.1's reader
// allocates a 64 KiB buffer for every chunk and copies each plaintext once
// more (PERFORMANCE.md); payloadReader reads the same format, with the
// same checks in the same order, into buffers it keeps between chunks and
// files, and payloadReaderAt opens chunks straight into the caller's
// buffer. age itself still parses the header, unwraps the file key and
// checks the header MAC (age.DecryptHeader).

// readHeader returns the age header at the start of br: every line up to
// and including the "--- " MAC line. It reads at most 1 MiB; it does not
// check the header, which age does.
func readHeader(br *bufio.Reader) ([]byte, error) {
	var hdr []byte
	lineStart := 0
	for {
		frag, err := br.ReadSlice('\n')
		hdr = append(hdr, frag...)
		switch {
		case len(hdr) > 1<<20:
			return nil, errors.New("header is longer than 1 MiB")
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return nil, errors.New("header is truncated")
		case err != nil:
			return nil, err
		}
		line := hdr[lineStart:]
		if lineStart == 0 && string(line) != magic {
			return nil, errors.New("not an age file: unexpected first line")
		}
		if bytes.HasPrefix(line, []byte("--- ")) {
			return hdr, nil
		}
		lineStart = len(hdr)
	}
}

// decryptPayload checks the header at the start of src with age and returns
// a reader of the payload that follows it.
func decryptPayload(src io.Reader, identities []age.Identity) (io.Reader, error) {
	br := bufio.NewReader(src)
	hdr, err := readHeader(br)
	if err != nil {
		return nil, fmt.Errorf("failed to read header: %w", err)
	}
	// age parses the header, unwraps the file key and checks the MAC.
	fileKey, err := age.DecryptHeader(hdr, slices.Clone(identities)...)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceSize)
	if _, err := io.ReadFull(br, nonce); err != nil {
		return nil, fmt.Errorf("failed to read nonce: %w", err)
	}
	aead, err := payloadAEAD(fileKey, nonce)
	if err != nil {
		return nil, err
	}
	return &payloadReader{aead: aead, src: br}, nil
}

// payloadAEAD is the STREAM cipher of a file: ChaCha20-Poly1305 under
// HKDF-SHA256(file key, salt nonce, "payload").
func payloadAEAD(fileKey, nonce []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("failed to derive payload key: %w", err)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("failed to derive payload key: %w", err)
	}
	return aead, nil
}

// chunkBuffers holds payloadReader buffers between files: most files are
// small, and a new 64 KiB buffer per file (allocated, cleared, collected)
// cost more than the file's own decryption. A buffer goes back only once
// its reader has ended, when nothing refers to it any more.
var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, encChunkSize+ChunkSize); return &b }}

// payloadReader decrypts age's STREAM exactly as age v1.3.1's reader does,
// chunk for chunk and error for error, but into buffers it keeps: a chunk
// is read into the first half and opened into the second, which Read then
// returns from. (age allocates a new 64 KiB buffer per chunk, opens into it
// and copies the plaintext back into its own.) The open cannot be in place:
// a full-size chunk is tried as non-last and then as last, and a failed
// open clears its output.
type payloadReader struct {
	aead   cipher.AEAD
	src    io.Reader
	buf    *[]byte // encChunkSize of ciphertext, then ChunkSize of plaintext
	nonce  [chacha20poly1305.NonceSize]byte
	unread []byte // plaintext not yet returned, in buf
	err    error  // returned once unread is empty: io.EOF after the last chunk
	probe  [1]byte
}

func (r *payloadReader) Read(p []byte) (int, error) {
	if len(r.unread) == 0 {
		if r.err != nil {
			r.release()
			return 0, r.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := r.next(); err != nil {
			r.err = err
			r.release()
			return 0, err
		}
	}
	n := copy(p, r.unread)
	r.unread = r.unread[n:]
	return n, nil
}

// WriteTo writes the plaintext from the reader's own buffer, so io.Copy
// does not copy it once more.
func (r *payloadReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(r.unread) > 0 {
			n, err := w.Write(r.unread)
			total += int64(n)
			r.unread = r.unread[n:]
			if err != nil {
				return total, err
			}
		}
		if r.err != nil {
			r.release()
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		if err := r.next(); err != nil {
			r.err = err
		}
	}
}

// next reads and opens the next chunk into r.unread. After the last chunk
// it checks that the source ends there, and returns the error that ends
// the stream (io.EOF if nothing is wrong) together with the chunk: the
// error is r.err from then on, returned once r.unread is empty.
func (r *payloadReader) next() error {
	last, err := r.readChunk()
	if err != nil {
		return err
	}
	if !last {
		return nil
	}
	// Trailing data after a full-length final chunk, checked as age does.
	if _, err := r.src.Read(r.probe[:]); err == nil {
		r.err = errors.New("trailing data after end of encrypted file")
	} else if err != io.EOF {
		r.err = fmt.Errorf("non-EOF error reading after end of encrypted file: %w", err)
	} else {
		r.err = io.EOF
	}
	return nil
}

// readChunk is age's DecryptReader.readChunk with buffers kept.
func (r *payloadReader) readChunk() (last bool, err error) {
	if r.buf == nil {
		r.buf = chunkBuffers.Get().(*[]byte)
	}
	in, out := (*r.buf)[:encChunkSize], (*r.buf)[encChunkSize:encChunkSize]
	n, err := io.ReadFull(r.src, in)
	switch {
	case err == io.EOF:
		// A message cannot end without a chunk marked last: truncated.
		return false, io.ErrUnexpectedEOF
	case err == io.ErrUnexpectedEOF:
		// The last chunk can be short, but not empty unless it is the
		// first and only one.
		if r.nonce != [chacha20poly1305.NonceSize]byte{} && n == chunkOverhead {
			return false, errors.New("last chunk is empty, try age v1.0.0, and please consider reporting this")
		}
		in = in[:n]
		last = true
		r.nonce[len(r.nonce)-1] = 1
	case err != nil:
		return false, err
	}
	plain, err := r.aead.Open(out, r.nonce[:], in, nil)
	if err != nil && !last {
		// A full-length final chunk?
		last = true
		r.nonce[len(r.nonce)-1] = 1
		plain, err = r.aead.Open(out, r.nonce[:], in, nil)
	}
	if err != nil {
		return false, errors.New("failed to decrypt and authenticate payload chunk, file may be corrupted or tampered with")
	}
	incNonce(&r.nonce)
	r.unread = plain
	return last, nil
}

// release gives the buffer back once the stream has ended and all of its
// plaintext has been returned.
func (r *payloadReader) release() {
	if r.buf != nil && len(r.unread) == 0 {
		chunkBuffers.Put(r.buf)
		r.buf = nil
	}
}

// incNonce increments the 88-bit chunk counter in the first 11 bytes.
func incNonce(nonce *[chacha20poly1305.NonceSize]byte) {
	for i := len(nonce) - 2; i >= 0; i-- {
		nonce[i]++
		if nonce[i] != 0 {
			return
		}
	}
	panic("crypto: STREAM chunk counter wrapped around") // after 2^88 chunks
}

// payloadChunks is the number of STREAM chunks in a payload of size bytes,
// or an error if no plaintext gives that size (age's EncryptedChunkCount).
func payloadChunks(size int64) (int64, error) {
	if size < 0 {
		return 0, fmt.Errorf("invalid encrypted payload size: %d", size)
	}
	chunks := (size + encChunkSize - 1) / encChunkSize
	plain := size - chunks*chunkOverhead
	want := (plain + ChunkSize - 1) / ChunkSize
	if plain == 0 {
		want = 1 // an empty plaintext is one empty chunk
	}
	if want != chunks {
		return 0, fmt.Errorf("invalid encrypted payload size: %d", size)
	}
	return chunks, nil
}

// chunkNonce is the STREAM nonce of chunk i.
func chunkNonce(i int64, last bool) [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], uint64(i))
	if last {
		n[11] = 1
	}
	return n
}

// payloadReaderAt decrypts age's STREAM at offsets, as age's
// DecryptReaderAt does, but opens each chunk that a ReadAt covers whole
// straight into the caller's buffer (age opens every chunk into a buffer of
// its own and copies). It keeps the final chunk's plaintext, authenticated
// when the file is opened, and, as age does, the last chunk read in part.
// It is safe for concurrent use.
type payloadReaderAt struct {
	aead   cipher.AEAD
	src    io.ReaderAt // the payload, after the nonce
	size   int64       // plaintext size
	chunks int64
	final  []byte // plaintext of the last chunk
	cache  atomic.Pointer[cachedChunk]
}

// cachedChunk is the plaintext of chunk index; it is never written again.
type cachedChunk struct {
	index int64
	plain []byte
}

// decryptPayloadAt checks the header of the age file in src with age and
// returns a ReaderAt of its plaintext and the plaintext size.
func decryptPayloadAt(src io.ReaderAt, encryptedSize int64, identities []age.Identity) (io.ReaderAt, int64, error) {
	hdr, err := readHeader(bufio.NewReader(io.NewSectionReader(src, 0, encryptedSize)))
	if err != nil {
		return nil, 0, fmt.Errorf("failed to read header: %w", err)
	}
	fileKey, err := age.DecryptHeader(hdr, slices.Clone(identities)...)
	if err != nil {
		return nil, 0, err
	}
	nonce := make([]byte, nonceSize)
	if _, err := io.ReadFull(io.NewSectionReader(src, int64(len(hdr)), encryptedSize-int64(len(hdr))), nonce); err != nil {
		return nil, 0, fmt.Errorf("failed to read nonce: %w", err)
	}
	payloadOff := int64(len(hdr)) + nonceSize
	payloadSize := encryptedSize - payloadOff
	chunks, err := payloadChunks(payloadSize)
	if err != nil {
		return nil, 0, err
	}
	aead, err := payloadAEAD(fileKey, nonce)
	if err != nil {
		return nil, 0, err
	}
	r := &payloadReaderAt{
		aead:   aead,
		src:    io.NewSectionReader(src, payloadOff, payloadSize),
		size:   payloadSize - chunks*chunkOverhead,
		chunks: chunks,
	}
	// The final chunk authenticates the plaintext size.
	finalOff := (chunks - 1) * encChunkSize
	final := make([]byte, payloadSize-finalOff)
	if err := r.readChunk(final, chunks-1); err != nil {
		return nil, 0, fmt.Errorf("failed to read final chunk: %w", err)
	}
	nonceLast := chunkNonce(chunks-1, true)
	if r.final, err = aead.Open(final[:0], nonceLast[:], final, nil); err != nil {
		return nil, 0, fmt.Errorf("failed to decrypt and authenticate final chunk: %w", err)
	}
	return r, r.size, nil
}

// readChunk reads the ciphertext of chunk i, len(ct) bytes, into ct.
func (r *payloadReaderAt) readChunk(ct []byte, i int64) error {
	n, err := r.src.ReadAt(ct, i*encChunkSize)
	if err == io.EOF && n == len(ct) {
		err = nil
	} else if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (r *payloadReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > r.size {
		return 0, fmt.Errorf("offset out of range [0:%d]: %d", r.size, off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	var scratch *[]byte
	defer func() {
		if scratch != nil {
			chunkBuffers.Put(scratch)
		}
	}()
	for len(p) > 0 && off < r.size {
		i := off / ChunkSize
		within := int(off - i*ChunkSize)
		var m int
		if i == r.chunks-1 {
			m = copy(p, r.final[within:])
		} else {
			// Every chunk but the last holds ChunkSize bytes of plaintext.
			nonce := chunkNonce(i, false)
			switch c := r.cache.Load(); {
			case c != nil && c.index == i:
				m = copy(p, c.plain[within:])
			case within == 0 && len(p) >= ChunkSize:
				// p covers the chunk whole: open it straight into p.
				if scratch == nil {
					scratch = chunkBuffers.Get().(*[]byte)
				}
				ct := (*scratch)[:encChunkSize]
				if err := r.readChunk(ct, i); err != nil {
					return n, fmt.Errorf("failed to read chunk at offset %d: %w", i*encChunkSize, err)
				}
				if _, err := r.aead.Open(p[:0], nonce[:], ct, nil); err != nil {
					return n, fmt.Errorf("failed to decrypt and authenticate chunk at offset %d", i*encChunkSize)
				}
				m = ChunkSize
			default:
				// Part of a chunk: keep it for the next ReadAt, which
				// (through an io.SectionReader, say) often wants the rest.
				ct := make([]byte, encChunkSize)
				if err := r.readChunk(ct, i); err != nil {
					return n, fmt.Errorf("failed to read chunk at offset %d: %w", i*encChunkSize, err)
				}
				plain, err := r.aead.Open(ct[:0], nonce[:], ct, nil)
				if err != nil {
					return n, fmt.Errorf("failed to decrypt and authenticate chunk at offset %d", i*encChunkSize)
				}
				r.cache.Store(&cachedChunk{index: i, plain: plain})
				m = copy(p, plain[within:])
			}
		}
		p = p[m:]
		off += int64(m)
		n += m
	}
	if off == r.size {
		return n, io.EOF
	}
	return n, nil
}
