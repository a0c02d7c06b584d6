package pseudonym

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var boltBucket = []byte("tokens")

const (
	maxKnown  = 1 << 20 // tokens remembered in memory as already stored
	StoreFile = "pseudonyms.db"
)

// BoltStore is the embedded Store: one bbolt file, each original sealed by
// a Sealer under a key the caller supplies (from the key store). Writes
// are batched per Put and tokens already stored are remembered in memory,
// so the hot path does no disk I/O for identifiers it has seen. Safe for
// concurrent use.
type BoltStore struct {
	db     *bolt.DB
	sealer *Sealer

	mu    sync.Mutex
	seed  maphash.Seed
	known map[string]uint64 // token → hash of its value
}

// OpenBoltStore opens or creates the store file at path. key is the 32-byte
// at-rest encryption key.
func OpenBoltStore(path string, key []byte) (*BoltStore, error) {
	sealer, err := NewSealer(key)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("pseudonym: failed to open store: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("pseudonym: failed to initialise store: %w", err)
	}
	return &BoltStore{db: db, sealer: sealer, seed: maphash.MakeSeed(), known: map[string]uint64{}}, nil
}

// Put implements Store: one transaction for all new entries.
func (s *BoltStore) Put(ctx context.Context, entries ...Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var todo []Entry
	s.mu.Lock()
	for _, e := range entries {
		if h, ok := s.known[e.Token]; ok && h == maphash.Bytes(s.seed, e.Value) {
			continue
		}
		todo = append(todo, e)
	}
	s.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	// A batch may offer one token twice; with different values, that is
	// a collision.
	if err := batchCollision(todo); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for _, e := range todo {
			if old := b.Get([]byte(e.Token)); old != nil {
				v, err := s.sealer.Open(e.Token, old)
				if err != nil {
					return err
				}
				if !bytes.Equal(v, e.Value) {
					return fmt.Errorf("%w: token %s", ErrCollision, e.Token)
				}
				continue
			}
			if err := b.Put([]byte(e.Token), s.sealer.Seal(e.Token, e.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.known)+len(todo) > maxKnown {
		clear(s.known)
	}
	for _, e := range todo {
		s.known[e.Token] = maphash.Bytes(s.seed, e.Value)
	}
	s.mu.Unlock()
	return nil
}

// Get implements Store.
func (s *BoltStore) Get(ctx context.Context, token string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		sealed := tx.Bucket(boltBucket).Get([]byte(token))
		if sealed == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, token)
		}
		var err error
		v, err = s.sealer.Open(token, sealed)
		return err
	})
	return v, err
}

// Close implements Store.
func (s *BoltStore) Close() error { return s.db.Close() }

// Walk calls fn for every entry, in token order (see Walker).
func (s *BoltStore) Walk(ctx context.Context, fn func(Entry) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(boltBucket).ForEach(func(k, sealed []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			token := string(k)
			v, err := s.sealer.Open(token, sealed)
			if err != nil {
				return err
			}
			return fn(Entry{Token: token, Value: v})
		})
	})
}
