package graph

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/sluss/sluss/crypto"
	"sort"
	"strconv"
	"time"
)

// quickXor is OneDrive's quickXorHash of bytes placed at an offset of the
// file: the byte at offset k is XORed into a 160-bit ring at bit 11·k mod
// 160, and the length into the ring's last 8 bytes at the end. The ring
// of a file is the XOR of the rings of its pieces, each started at its
// offset, so the gateway can hash the plaintext fragment by fragment
// without keeping any of it.
//
// Bytes 160 apart land on the same bit, so Write only XORs the input
// into 160 columns (a vector XOR per 160 bytes); ring places the columns.
type quickXor struct {
	cols [160]byte // cols[k mod 160] is the XOR of the bytes at offsets k
	off  int64     // offset of the next byte
	n    int64     // bytes hashed
	// marks, when kept, are the columns at every 64 KiB boundary of the
	// file the bytes passed: a fragment that fails part way may be
	// counted up to one of them (the engine resumes the client at a
	// chunk), and its share is then the columns there.
	marks map[int64][160]byte
}

func newQuickXorAt(offset int64) *quickXor { return &quickXor{off: offset} }

// newMarkedQuickXorAt is newQuickXorAt keeping marks.
func newMarkedQuickXorAt(offset int64) *quickXor {
	return &quickXor{off: offset, marks: map[int64][160]byte{}}
}

func (h *quickXor) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := len(p)
		if h.marks != nil {
			k = int(min(int64(k), crypto.ChunkSize-h.off%crypto.ChunkSize))
		}
		h.write(p[:k])
		p = p[k:]
		if h.marks != nil && h.off%crypto.ChunkSize == 0 {
			h.marks[h.off] = h.cols
		}
	}
	return n, nil
}

// upTo returns the hash of the bytes before file offset end, if a mark
// was kept there.
func (h *quickXor) upTo(end int64) (*quickXor, bool) {
	cols, ok := h.marks[end]
	if !ok {
		return nil, false
	}
	return &quickXor{cols: cols, off: end, n: h.n - (h.off - end)}, true
}

func (h *quickXor) write(p []byte) {
	n := len(p)
	if i := int(h.off % 160); i != 0 {
		// The rest of the row first, so that blocks start at column 0.
		k := min(160-i, len(p))
		subtle.XORBytes(h.cols[i:i+k], h.cols[i:i+k], p[:k])
		p = p[k:]
	}
	for len(p) >= 160 {
		subtle.XORBytes(h.cols[:], h.cols[:], p[:160])
		p = p[160:]
	}
	for j, b := range p {
		h.cols[j] ^= b
	}
	h.off += int64(n)
	h.n += int64(n)
}

// ring places the columns on the ring.
func (h *quickXor) ring() [20]byte {
	var r [20]byte
	for k, b := range h.cols {
		pos := k * 11 % 160
		v := uint16(b) << (pos % 8)
		r[pos/8] ^= byte(v)
		r[(pos/8+1)%20] ^= byte(v >> 8)
	}
	return r
}

// quickXorSum is the digest of a file of size bytes whose pieces' rings
// XOR to ring, as Graph's file.hashes.quickXorHash shows it.
func quickXorSum(ring [20]byte, size int64) string {
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(size))
	for i := range l {
		ring[12+i] ^= l[i]
	}
	return base64.StdEncoding.EncodeToString(ring[:])
}

// hashPiece is a fragment's share of the file's quickXorHash, kept in the
// upload state beside the engine's record.
type hashPiece struct {
	Length int64  `json:"n"`
	Ring   []byte `json:"ring"`
}

func hashPrefix(key string) string { return key + "/qx/" }

// hashKey names the share of the fragment at a plaintext offset. The
// engine resumes the client where the last fragment it counted ended, or
// inside a fragment that failed part way (then that fragment's share is
// rewritten for the part counted), so every offset with a share is where
// a counted part starts, and the share a retried fragment writes
// replaces the broken one's.
func hashKey(key string, offset int64) string {
	return hashPrefix(key) + fmt.Sprintf("%020d", offset)
}

func (c *call) ttl() time.Duration {
	if c.a.TTL > 0 {
		return c.a.TTL
	}
	return 7 * 24 * time.Hour
}

// keepShare records a fragment's share; it runs as the piece's check,
// before the engine counts the fragment.
func (c *call) keepShare(ctx context.Context, key string, offset, n int64, h *quickXor) error {
	ring := h.ring()
	v, _ := json.Marshal(hashPiece{Length: n, Ring: ring[:]})
	return c.a.State.Update(ctx, hashKey(key, offset), c.ttl(), func([]byte) ([]byte, error) { return v, nil })
}

// fileQuickXor combines the shares of a finished upload of size bytes
// and removes them. It reports false when they do not cover the file
// exactly (a share lost to a failure of the state store): the driveItem
// then goes without a hash rather than with a wrong one.
func (c *call) fileQuickXor(ctx context.Context, key string, size int64) (string, bool) {
	type share struct {
		off int64
		p   hashPiece
	}
	var shares []share
	prefix := hashPrefix(key)
	err := c.a.State.List(ctx, prefix, func(k string, v []byte) error {
		off, err := strconv.ParseInt(k[len(prefix):], 10, 64)
		if err != nil {
			return err
		}
		var p hashPiece
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		shares = append(shares, share{off, p})
		return nil
	})
	if delErr := c.a.State.DeletePrefix(ctx, prefix); delErr != nil {
		c.x.Log.Warn().Err(delErr).Msg("graph: hash shares not removed")
	}
	if err != nil {
		return "", false
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].off < shares[j].off })
	var ring [20]byte
	next := int64(0)
	for _, s := range shares {
		if s.off != next || len(s.p.Ring) != len(ring) {
			return "", false
		}
		for i := range ring {
			ring[i] ^= s.p.Ring[i]
		}
		next += s.p.Length
	}
	if next != size {
		return "", false
	}
	return quickXorSum(ring, size), true
}
