package graph

import (
	"crypto/rand"
	"testing"
)

// TestQuickXorPieces: the XOR of the rings of pieces hashed at their
// offsets is the ring of the whole, for piece boundaries anywhere; and
// the digest matches rclone's vector.
func TestQuickXorPieces(t *testing.T) {
	h := newQuickXorAt(0)
	h.Write([]byte("hello world, this is a test of quickxor with more than twenty bytes in it!"))
	if got, want := quickXorSum(h.ring(), h.n), "ac72rr0kZwf9ZBnJqsADm9sW8oE="; got != want {
		t.Fatalf("quickXorHash = %s, want %s (rclone)", got, want)
	}
	data := make([]byte, 1_000_003)
	rand.Read(data)
	whole := newQuickXorAt(0)
	whole.Write(data)
	for _, cuts := range [][]int{{0}, {1}, {159, 160, 161}, {327680, 655360}, {7, 999_999}} {
		var ring [20]byte
		from := 0
		for _, to := range append(cuts, len(data)) {
			p := newQuickXorAt(int64(from))
			// Written in odd slices, as a body is read.
			for rest := data[from:to]; len(rest) > 0; {
				k := min(len(rest), 1+len(rest)%997)
				p.Write(rest[:k])
				rest = rest[k:]
			}
			pr := p.ring()
			for i := range ring {
				ring[i] ^= pr[i]
			}
			from = to
		}
		if quickXorSum(ring, int64(len(data))) != quickXorSum(whole.ring(), whole.n) {
			t.Errorf("pieces cut at %v hash differently from the whole", cuts)
		}
	}
}

func BenchmarkQuickXor(b *testing.B) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	h := newQuickXorAt(7)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h.Write(data)
	}
}
