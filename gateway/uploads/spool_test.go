package uploads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func TestSpool(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	sp := &Spool{State: st}
	rnd := rand.NewChaCha8([32]byte{1})
	piece := func(n int) []byte { b := make([]byte, n); rnd.Read(b); return b }
	a, b, c := piece(SpoolBlock*2+17), piece(0), piece(SpoolBlock)
	for _, p := range []struct {
		name string
		body []byte
	}{{"00002", c}, {"00001", piece(1000)}, {"00003", b}, {"00001", a}} { // 00001 put twice: the second replaces
		if _, err := sp.Put(ctx, "up/x", p.name, bytes.NewReader(p.body), 1<<30); err != nil {
			t.Fatal(err)
		}
	}
	pieces, err := sp.Pieces(ctx, "up/x")
	if err != nil || len(pieces) != 3 || pieces[0].Name != "00001" || pieces[0].Size != int64(len(a)) {
		t.Fatalf("pieces %+v, %v", pieces, err)
	}
	got, err := io.ReadAll(sp.Open(ctx, "up/x", pieces))
	if want := append(append(append([]byte{}, a...), c...), b...); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
	}
	if n, _ := sp.Size(ctx, "up/x"); n != int64(len(a)+len(c)) {
		t.Errorf("size %d", n)
	}
	// The replaced piece's blocks are gone: only the live generation's remain.
	blocks := 0
	st.List(ctx, spoolBlocks("up/x"), func(string, []byte) error { blocks++; return nil })
	if blocks != 3+1 {
		t.Errorf("%d blocks stored, want 4", blocks)
	}

	// Past the limit: refused, nothing of the piece kept, the others intact.
	if _, err := sp.Put(ctx, "up/x", "00004", bytes.NewReader(piece(SpoolBlock*3)), int64(len(a)+len(c))+SpoolBlock); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("over the limit: %v", err)
	}
	if p, _ := sp.Pieces(ctx, "up/x"); len(p) != 3 {
		t.Errorf("%d pieces after a refused one", len(p))
	}
	blocks = 0
	st.List(ctx, spoolBlocks("up/x"), func(string, []byte) error { blocks++; return nil })
	if blocks != 4 {
		t.Errorf("%d blocks after a refused piece, want 4", blocks)
	}

	// A piece cut off halfway does not count.
	if _, err := sp.Put(ctx, "up/x", "00005", io.MultiReader(bytes.NewReader(piece(SpoolBlock+5)), errReader{}), 1<<30); err == nil {
		t.Fatal("a broken body was taken")
	}
	if p, _ := sp.Pieces(ctx, "up/x"); len(p) != 3 {
		t.Errorf("%d pieces after a broken one", len(p))
	}

	if _, err := sp.Put(ctx, "up/x", "00006", io.MultiReader(strings.NewReader("short"), eofReader{io.ErrUnexpectedEOF}), 1<<30); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a body cut short was taken: %v", err)
	}
	if p, _ := sp.Pieces(ctx, "up/x"); len(p) != 3 {
		t.Errorf("%d pieces after a body cut short", len(p))
	}

	// A block that changed under the index fails the read.
	pieces, _ = sp.Pieces(ctx, "up/x")
	key := spoolBlocks("up/x") + "00002/" + pieces[1].Gen + "/000000"
	st.Update(ctx, key, sp.ttl(), func(old []byte) ([]byte, error) { v := bytes.Clone(old); v[0] ^= 1; return v, nil })
	if _, err := io.ReadAll(sp.Open(ctx, "up/x", pieces)); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Errorf("a changed block read as %v", err)
	}

	if _, err := sp.Put(ctx, "up/x", "a/b", strings.NewReader("x"), 10); err == nil {
		t.Error("a piece name with a slash was taken")
	}
	if err := sp.Delete(ctx, "up/x"); err != nil {
		t.Fatal(err)
	}
	left := 0
	st.List(ctx, "up/x/", func(string, []byte) error { left++; return nil })
	if left != 0 {
		t.Errorf("%d values left after Delete", left)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

type eofReader struct{ err error }

func (r eofReader) Read([]byte) (int, error) { return 0, r.err }

// Pieces put at the same time share the upload's bound: however they
// interleave, what is stored never passes it, and a refused or broken
// piece gives its reservation back.
func TestSpoolConcurrentBound(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	sp := &Spool{State: st}
	const piece, max = 4 * SpoolBlock, 10 * SpoolBlock
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp.Put(ctx, "up/c", fmt.Sprintf("%05d", i), bytes.NewReader(make([]byte, piece)), max)
		}()
	}
	wg.Wait()
	// Together they are past the bound, so some (or, as they interleave,
	// all) are refused; what is stored is within it.
	n, err := sp.Size(ctx, "up/c")
	if err != nil || n > max {
		t.Fatalf("%d bytes stored under a bound of %d (%v)", n, max, err)
	}
	// The refused pieces left no reservation: what is left of the bound
	// can be filled.
	if _, err := sp.Put(ctx, "up/c", "99999", bytes.NewReader(make([]byte, max-n)), max); err != nil {
		t.Fatalf("the rest of the bound (%d bytes) was refused: %v", max-n, err)
	}
	blocks := 0
	st.List(ctx, spoolBlocks("up/c"), func(string, []byte) error { blocks++; return nil })
	if want := int(max / SpoolBlock); blocks != want {
		t.Errorf("%d blocks stored, want %d: refused pieces left blocks behind", blocks, want)
	}
	// The same piece put twice at once: one wins, the other's blocks go.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp.Put(ctx, "up/d", "00001", bytes.NewReader(make([]byte, 2*SpoolBlock)), 1<<30)
		}()
	}
	wg.Wait()
	blocks = 0
	st.List(ctx, spoolBlocks("up/d"), func(string, []byte) error { blocks++; return nil })
	if blocks != 2 {
		t.Errorf("%d blocks after two puts of one piece, want 2", blocks)
	}
}

// TestSpoolOwnerBound: one owner's unfinished uploads together stay within
// OwnerMax, each upload within its own bound; another owner is not
// touched, and a deleted upload gives its bytes back.
func TestSpoolOwnerBound(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	const max = 3 * SpoolBlock // the owner's bound
	alice := &Spool{State: st, Owner: "u:alice", OwnerMax: max}
	bob := &Spool{State: st, Owner: "u:bob", OwnerMax: max}
	body := func(n int) io.Reader { return bytes.NewReader(make([]byte, n)) }

	if _, err := alice.Put(ctx, "up/1", "00001", body(2*SpoolBlock), 1<<30); err != nil {
		t.Fatal(err)
	}
	// A second upload of alice's would take her past the bound.
	_, err := alice.Put(ctx, "up/2", "00001", body(2*SpoolBlock), 1<<30)
	if !errors.Is(err, ErrOwnerFull) || !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("alice's second upload: %v, want ErrOwnerFull", err)
	}
	if n, _ := alice.Size(ctx, "up/2"); n != 0 {
		t.Errorf("the refused piece left %d bytes", n)
	}
	// What fits still goes in, in the same upload or another.
	if _, err := alice.Put(ctx, "up/2", "00001", body(SpoolBlock), 1<<30); err != nil {
		t.Fatalf("alice's piece within the bound: %v", err)
	}
	// Bob has his own account.
	if _, err := bob.Put(ctx, "up/3", "00001", body(3*SpoolBlock), 1<<30); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// While a piece is put again, old and new both count (as in the
	// upload's own bound): at the bound, even a smaller one is refused,
	// and the old piece stays.
	if _, err := alice.Put(ctx, "up/1", "00001", body(100), 1<<30); !errors.Is(err, ErrOwnerFull) {
		t.Fatalf("alice's replacement at the bound: %v, want ErrOwnerFull", err)
	}
	if n, _ := alice.Size(ctx, "up/1"); n != 2*SpoolBlock {
		t.Errorf("up/1 holds %d bytes after the refused replacement, want %d", n, 2*SpoolBlock)
	}
	// Once an upload is deleted, its bytes are the owner's again.
	if err := alice.Delete(ctx, "up/2"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Put(ctx, "up/4", "00001", body(SpoolBlock), 1<<30); err != nil {
		t.Fatalf("after the delete: %v", err)
	}
	if _, err := alice.Put(ctx, "up/5", "00001", body(SpoolBlock), 1<<30); !errors.Is(err, ErrOwnerFull) {
		t.Fatalf("past the bound again: %v, want ErrOwnerFull", err)
	}
	// An upload whose keys an adapter removed by prefix (as the s3 adapter
	// does when it completes or aborts one) no longer counts.
	if err := st.DeletePrefix(ctx, "up/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Put(ctx, "up/5", "00001", body(2*SpoolBlock), 1<<30); err != nil {
		t.Fatalf("after up/1 was removed by prefix: %v", err)
	}
}
