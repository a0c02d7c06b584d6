package document

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// TestSpool: a document past SpoolMemory goes to a file that has no name
// and holds no plaintext; it reads back whole and at any offset.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("Besök av Tolvan Tolvansson, 19121212-1212. "), 3000)
	for _, memory := range []int64{1 << 20, 4096} {
		s := NewSpool(Limits{SpoolMemory: memory, SpoolDir: dir, MaxBytes: 1 << 20})
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+rand.IntN(7000))
			if _, err := s.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if s.Size() != int64(len(data)) {
			t.Fatalf("size %d, want %d", s.Size(), len(data))
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("the spool left a named file")
		}
		if memory == 4096 {
			if s.f == nil {
				t.Fatal("not spooled to a file")
			}
			raw := make([]byte, s.Size())
			if _, err := s.f.ReadAt(raw, 0); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte("Tolvan")) {
				t.Errorf("the spool file holds plaintext")
			}
		}
		all, err := io.ReadAll(s.Reader())
		if err != nil || !bytes.Equal(all, data) {
			t.Fatalf("read back %d bytes (%v)", len(all), err)
		}
		for range 200 {
			off := rand.Int64N(s.Size())
			buf := make([]byte, rand.IntN(300))
			n, err := s.ReadAt(buf, off)
			want := data[off:min(int(off)+len(buf), len(data))]
			if !bytes.Equal(buf[:n], want) || (n < len(buf) && err != io.EOF) {
				t.Fatalf("ReadAt(%d, %d): %d bytes, %v", off, len(buf), n, err)
			}
		}
		s.Close()
	}
	s := NewSpool(Limits{MaxBytes: 10})
	if _, err := s.Write(make([]byte, 11)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("past MaxBytes: %v", err)
	}
}
