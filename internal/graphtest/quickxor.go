package graphtest

import (
	"encoding/base64"
	"encoding/binary"
)

// QuickXorHash is OneDrive's quickXorHash: every byte is XORed into a
// 160-bit ring at a position that advances 11 bits per byte, and the
// length is XORed into the last 8 bytes at the end. Its state is 28
// bytes, so it can be carried between the pieces of an upload.
type QuickXorHash struct {
	ring [20]byte
	n    uint64
}

// Write adds p to the hash.
func (h *QuickXorHash) Write(p []byte) (int, error) {
	pos := (h.n * 11) % 160
	for _, b := range p {
		v := uint16(b) << (pos % 8)
		i := pos / 8
		h.ring[i] ^= byte(v)
		h.ring[(i+1)%20] ^= byte(v >> 8)
		pos += 11
		if pos >= 160 {
			pos -= 160
		}
	}
	h.n += uint64(len(p))
	return len(p), nil
}

// Sum returns the 20-byte digest.
func (h *QuickXorHash) Sum() []byte {
	out := h.ring
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], h.n)
	for i := range l {
		out[12+i] ^= l[i]
	}
	return out[:]
}

// Base64 is the digest as Graph's file.hashes.quickXorHash shows it.
func (h *QuickXorHash) Base64() string { return base64.StdEncoding.EncodeToString(h.Sum()) }
