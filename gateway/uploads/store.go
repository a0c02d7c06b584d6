// Package uploads keeps upload state: what a protocol adapter (S3
// multipart, chunked uploads) must remember between the pieces of one
// upload — the age file's opening, piece sizes, digests the client will
// check — and what it must know of objects it stored (their plaintext
// ETags). Any piece may reach any gateway, so the state lives in a [Store]
// shared by them: [OpenBolt] on one machine, store/postgres for several
// gateways. Both seal records with [Sealer]; uploadstest holds them to one
// contract.
//
// Values are opaque to the store and sealed at rest; keys are chosen by the
// adapters and must not contain personal data (use digests of paths).
package uploads

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for a key the store does not hold (or holds
// expired).
var ErrNotFound = errors.New("upload state not found")

// Store is a small transactional key-value store with expiry.
type Store interface {
	// Get returns the value at key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Update reads the value at key (nil if absent), calls fn, and stores
	// what fn returns for ttl, atomically: concurrent updates of a key are
	// serialized. fn returning nil deletes the key; fn returning an error
	// changes nothing and Update returns it. fn may be called more than
	// once and must not keep what it is given.
	Update(ctx context.Context, key string, ttl time.Duration, fn func(old []byte) ([]byte, error)) error
	// List calls fn for every live key with the prefix, in key order.
	List(ctx context.Context, prefix string, fn func(key string, value []byte) error) error
	// DeletePrefix removes every key with the prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// Sweep removes expired keys and reports how many.
	Sweep(ctx context.Context) (int, error)
	Close() error
}
