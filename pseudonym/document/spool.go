package document

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// A Spooled document is held for random access (a zip archive is read
// from its end): in memory up to Limits.SpoolMemory, beyond that in a
// temporary file that is unlinked as soon as it is created, so that it
// has no name and vanishes with the process, and whose contents are
// encrypted (AES-256-CTR) with a key that exists only in this value. A
// document never rests in plaintext on the gateway's disk.
//
// Write appends; ReadAt reads what was written. Close releases the file.
// Not safe for concurrent writes; ReadAt may be called concurrently once
// writing is done.
type Spooled struct {
	mem    []byte
	f      *os.File
	block  cipher.Block
	iv     [aes.BlockSize]byte
	n      int64
	memMax int64
	max    int64
	dir    string
	err    error
}

// NewSpool returns an empty spool for up to lim.MaxBytes.
func NewSpool(lim Limits) *Spooled {
	lim = lim.withDefaults()
	return &Spooled{memMax: lim.SpoolMemory, max: lim.MaxBytes, dir: lim.SpoolDir}
}

// Spool reads r to its end into a new spool. A body larger than
// lim.MaxBytes is an ErrTooLarge.
func Spool(r io.Reader, lim Limits) (*Spooled, error) {
	s := NewSpool(lim)
	if _, err := io.Copy(s, r); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Size is the number of bytes written.
func (s *Spooled) Size() int64 { return s.n }

// Write appends p.
func (s *Spooled) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.n+int64(len(p)) > s.max {
		s.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.max)
		return 0, s.err
	}
	if s.f == nil && s.n+int64(len(p)) <= s.memMax {
		s.mem = append(s.mem, p...)
		s.n += int64(len(p))
		return len(p), nil
	}
	if s.f == nil {
		if err := s.toFile(); err != nil {
			s.err = err
			return 0, err
		}
	}
	buf := make([]byte, min(len(p), 64<<10))
	for done := 0; done < len(p); {
		k := copy(buf, p[done:])
		s.xorAt(buf[:k], p[done:done+k], s.n)
		if _, err := s.f.WriteAt(buf[:k], s.n); err != nil {
			s.err = fmt.Errorf("document: failed to spool: %w", err)
			return done, s.err
		}
		s.n += int64(k)
		done += k
	}
	return len(p), nil
}

// toFile moves what is in memory to a new encrypted, unlinked file.
func (s *Spooled) toFile() error {
	key := make([]byte, 32)
	rand.Read(key)
	rand.Read(s.iv[:])
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	s.block = block
	f, err := os.CreateTemp(s.dir, "sluss-doc-*")
	if err != nil {
		return fmt.Errorf("document: failed to create a spool file: %w", err)
	}
	// Unlinked at once: the open descriptor is the only way to it.
	os.Remove(f.Name())
	s.f = f
	mem := s.mem
	s.mem, s.n = nil, 0
	buf := make([]byte, min(len(mem), 64<<10))
	for done := 0; done < len(mem); {
		k := copy(buf, mem[done:])
		s.xorAt(buf[:k], mem[done:done+k], s.n)
		if _, err := f.WriteAt(buf[:k], s.n); err != nil {
			return fmt.Errorf("document: failed to spool: %w", err)
		}
		s.n += int64(k)
		done += k
	}
	return nil
}

// xorAt writes src encrypted (or decrypted) at stream offset off to dst.
func (s *Spooled) xorAt(dst, src []byte, off int64) {
	var ctr [aes.BlockSize]byte
	copy(ctr[:], s.iv[:])
	// The counter is the IV plus the block number, big-endian over the
	// low eight bytes (with carry into the high eight).
	lo := binary.BigEndian.Uint64(ctr[8:])
	hi := binary.BigEndian.Uint64(ctr[:8])
	nlo := lo + uint64(off/aes.BlockSize)
	if nlo < lo {
		hi++
	}
	binary.BigEndian.PutUint64(ctr[8:], nlo)
	binary.BigEndian.PutUint64(ctr[:8], hi)
	stream := cipher.NewCTR(s.block, ctr[:])
	if skip := int(off % aes.BlockSize); skip > 0 {
		var pad [aes.BlockSize]byte
		stream.XORKeyStream(pad[:skip], pad[:skip])
	}
	stream.XORKeyStream(dst, src)
}

// ReadAt reads len(p) bytes at off.
func (s *Spooled) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("document: negative offset")
	}
	if off >= s.n {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > s.n-off {
		p = p[:s.n-off]
	}
	if s.f == nil {
		n := copy(p, s.mem[off:])
		if n < want {
			return n, io.EOF
		}
		return n, nil
	}
	n, err := s.f.ReadAt(p, off)
	s.xorAt(p[:n], p[:n], off)
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// Reader returns a reader of the whole spool from its start.
func (s *Spooled) Reader() io.Reader { return io.NewSectionReader(s, 0, s.n) }

// Close releases the spool's memory and file.
func (s *Spooled) Close() error {
	s.mem = nil
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}
