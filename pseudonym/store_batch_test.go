package pseudonym

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestBatchCollision: a batch that offers one token with two values is
// refused, small or large (a document's batches hold thousands), by both
// stores; one that repeats a token with its value is not.
func TestBatchCollision(t *testing.T) {
	bolt, err := OpenBoltStore(filepath.Join(t.TempDir(), StoreFile), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	for name, st := range map[string]Store{"memory": NewMemoryStore(), "bolt": bolt} {
		for _, n := range []int{3, 5000} {
			batch := make([]Entry, n)
			for i := range batch {
				batch[i] = Entry{Token: fmt.Sprintf("%s_%d_%d", name, n, i), Value: []byte("v")}
			}
			ok := append(batch, batch[n/2])
			if err := st.Put(context.Background(), ok...); err != nil {
				t.Errorf("%s, %d entries, one repeated: %v", name, n, err)
			}
			bad := append(batch[:n:n], Entry{Token: batch[n/2].Token + "x", Value: []byte("v")}, Entry{Token: batch[n/2].Token + "x", Value: []byte("w")})
			if err := st.Put(context.Background(), bad...); !errors.Is(err, ErrCollision) {
				t.Errorf("%s, %d entries, one token with two values: %v", name, n, err)
			}
		}
	}
}
