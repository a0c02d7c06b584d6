package pseudonym

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
)

// Entry binds a token to its original. Token is the mapping key (kind, key
// version and HMAC body, e.g. "pnr1_4k2m9xq0b7c1d3ef"; see Token text form);
// Value is the normalised original: 12 digits for a personnummer, the exact
// text for a name. A numeric token (see IsNumberToken) is kept as
// "pnrnum_<digits>" with the value "YYYYMMDDNNNC/<key version>/<probe>".
type Entry struct {
	Token string
	Value []byte
}

// ErrNotFound is returned (wrapped) by Store.Get for a token it does not hold.
var ErrNotFound = errors.New("pseudonym: token not in store")

// ErrCollision is returned (wrapped) by Store.Put when a token is already
// bound to a different original: two values share a truncated HMAC. The
// token must not be used.
var ErrCollision = errors.New("pseudonym: token collision")

// Store keeps the way back from tokens to originals. Put must be idempotent
// (putting the same entry again succeeds and changes nothing), must refuse a
// token bound to another value with ErrCollision, must be safe for
// concurrent use and must keep values confidential at rest. BoltStore is the
// embedded implementation; MemoryStore is for tests.
type Store interface {
	// Put stores entries, all or none. Callers batch: one Put per chunk of a
	// stream, not one per identifier.
	Put(ctx context.Context, entries ...Entry) error
	// Get returns the original of a token, or an error wrapping ErrNotFound.
	Get(ctx context.Context, token string) ([]byte, error)
	Close() error
}

// A Walker lists every entry of a store, in token order, to move a
// region's mappings to another store (sluss db export). BoltStore and the
// PostgreSQL store implement it.
type Walker interface {
	Walk(ctx context.Context, fn func(Entry) error) error
}

// batchCollision returns ErrCollision when entries offer one token with
// two values: pairwise for the few entries of a request, with a map for
// the thousands of a document.
func batchCollision(entries []Entry) error {
	if len(entries) <= 16 {
		for i, e := range entries {
			for _, o := range entries[:i] {
				if o.Token == e.Token && !bytes.Equal(o.Value, e.Value) {
					return fmt.Errorf("%w: token %s", ErrCollision, e.Token)
				}
			}
		}
		return nil
	}
	seen := make(map[string][]byte, len(entries))
	for _, e := range entries {
		if v, ok := seen[e.Token]; ok && !bytes.Equal(v, e.Value) {
			return fmt.Errorf("%w: token %s", ErrCollision, e.Token)
		}
		seen[e.Token] = e.Value
	}
	return nil
}

// MemoryStore is a Store in process memory, for tests and benchmarks. The
// zero value is ready to use.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, entries ...Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	for _, e := range entries {
		if old, ok := s.m[e.Token]; ok && !bytes.Equal(old, e.Value) {
			return fmt.Errorf("%w: token %s", ErrCollision, e.Token)
		}
	}
	if err := batchCollision(entries); err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := s.m[e.Token]; !ok {
			s.m[e.Token] = append([]byte(nil), e.Value...)
		}
	}
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, token string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[token]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, token)
	}
	return append([]byte(nil), v...), nil
}

// Len returns the number of stored tokens.
func (s *MemoryStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }
