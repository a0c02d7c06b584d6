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

// TestQuickXorMarks: the hash of a fragment up to a 64 KiB boundary of
// the file, taken from its marks, is the hash of those bytes alone.
func TestQuickXorMarks(t *testing.T) {
	data := make([]byte, 700_001)
	rand.Read(data)
	const first = 100_000
	h := newMarkedQuickXorAt(first)
	for rest := data[first:]; len(rest) > 0; {
		k := min(len(rest), 1+len(rest)%4099)
		h.Write(rest[:k])
		rest = rest[k:]
	}
	for _, end := range []int64{2 << 16, 5 << 16, 10 << 16} {
		part, ok := h.upTo(end)
		if !ok {
			t.Fatalf("no mark at %d", end)
		}
		want := newQuickXorAt(first)
		want.Write(data[first:end])
		if part.ring() != want.ring() || part.n != want.n {
			t.Fatalf("hash up to %d differs (n %d, want %d)", end, part.n, want.n)
		}
	}
	if _, ok := h.upTo(first + 1); ok {
		t.Fatal("a mark off a 64 KiB boundary")
	}
}
