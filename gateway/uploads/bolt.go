package uploads

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StoreFile is the embedded store's file name in the data directory.
const StoreFile = "uploads.db"

var boltBucket = []byte("uploads")

// BoltStore is the embedded Store: one bbolt file, each value sealed by a
// Sealer under the caller's key.
type BoltStore struct {
	db     *bolt.DB
	sealer *Sealer
	now    func() time.Time
}

// OpenBolt opens or creates the store at path; key is 32 bytes from the
// key store.
func OpenBolt(path string, key []byte) (*BoltStore, error) {
	sealer, err := NewSealer(key)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("failed to open upload state %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to prepare upload state %s: %w", path, err)
	}
	return &BoltStore{db: db, sealer: sealer, now: time.Now}, nil
}

func (s *BoltStore) seal(key string, value []byte, expires time.Time) []byte {
	return s.sealer.Seal(key, value, expires)
}

func (s *BoltStore) open(key string, raw []byte) ([]byte, error) {
	return s.sealer.Open(key, raw, s.now())
}

func (s *BoltStore) Get(_ context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(boltBucket).Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		var err error
		if v, err = s.open(key, raw); err == nil && v == nil {
			return ErrNotFound
		}
		return err
	})
	return v, err
}

func (s *BoltStore) Update(_ context.Context, key string, ttl time.Duration, fn func(old []byte) ([]byte, error)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		var old []byte
		if raw := b.Get([]byte(key)); raw != nil {
			var err error
			if old, err = s.open(key, raw); err != nil {
				return err
			}
		}
		v, err := fn(old)
		if err != nil {
			return err
		}
		if v == nil {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), s.seal(key, v, s.now().Add(ttl)))
	})
}

func (s *BoltStore) List(_ context.Context, prefix string, fn func(key string, value []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, raw := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, raw = c.Next() {
			v, err := s.open(string(k), raw)
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			if err := fn(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *BoltStore) DeletePrefix(_ context.Context, prefix string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Seek([]byte(prefix)) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *BoltStore) Sweep(_ context.Context) (int, error) {
	n := 0
	now := uint64(s.now().Unix())
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		var expired [][]byte
		b.ForEach(func(k, raw []byte) error {
			if len(raw) >= 8 && binary.BigEndian.Uint64(raw) < now {
				expired = append(expired, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	return n, err
}

func (s *BoltStore) Close() error { return s.db.Close() }
