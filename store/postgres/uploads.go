package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluss/sluss/gateway/uploads"
)

// UploadStore returns the upload state in the database, records sealed by
// uploads.Sealer under key (32 bytes), as uploads.BoltStore seals them.
// Expiry is judged by this process's clock. Its Close leaves the DB open.
func (db *DB) UploadStore(key []byte) (uploads.Store, error) {
	sealer, err := uploads.NewSealer(key)
	if err != nil {
		return nil, err
	}
	return &uploadStore{db: db, sealer: sealer, now: time.Now}, nil
}

type uploadStore struct {
	db     *DB
	sealer *uploads.Sealer
	now    func() time.Time
}

func (s *uploadStore) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := s.db.deadline(ctx, s.db.opts.OpTimeout)
	defer cancel()
	now := s.now()
	var raw []byte
	var err error
	for range 3 {
		err = s.db.pool.QueryRow(ctx, "SELECT sealed FROM upload_state WHERE key = $1 AND expires >= $2", key, now.Unix()).Scan(&raw)
		if !staleConnection(err) {
			break
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, uploads.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read upload state from postgres: %w", err)
	}
	v, err := s.sealer.Open(key, raw, now)
	if err == nil && v == nil {
		return nil, uploads.ErrNotFound
	}
	return v, err
}

// Update locks the key's row (SELECT … FOR UPDATE) for the read-modify-write;
// a key no row holds yet is inserted with ON CONFLICT DO NOTHING, and when
// another gateway inserted it first the whole update runs again.
func (s *uploadStore) Update(ctx context.Context, key string, ttl time.Duration, fn func(old []byte) ([]byte, error)) error {
	ctx, cancel := s.db.deadline(ctx, s.db.opts.OpTimeout)
	defer cancel()
	for range maxAttempts {
		var fnErr error
		err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
			var raw []byte
			err := tx.QueryRow(ctx, "SELECT sealed FROM upload_state WHERE key = $1 FOR UPDATE", key).Scan(&raw)
			exists := err == nil
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("failed to read upload state from postgres: %w", err)
			}
			now := s.now()
			var old []byte
			if exists {
				if old, err = s.sealer.Open(key, raw, now); err != nil {
					return err
				}
			}
			v, err := fn(old)
			if err != nil {
				fnErr = err
				return err
			}
			switch {
			case v == nil && exists:
				_, err = tx.Exec(ctx, "DELETE FROM upload_state WHERE key = $1", key)
			case v == nil:
			case exists:
				expires := now.Add(ttl)
				_, err = tx.Exec(ctx, "UPDATE upload_state SET expires = $2, sealed = $3 WHERE key = $1",
					key, expires.Unix(), s.sealer.Seal(key, v, expires))
			default:
				expires := now.Add(ttl)
				var tag pgconn.CommandTag
				tag, err = tx.Exec(ctx, "INSERT INTO upload_state (key, expires, sealed) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
					key, expires.Unix(), s.sealer.Seal(key, v, expires))
				if err == nil && tag.RowsAffected() == 0 {
					return errRaced
				}
			}
			if err != nil {
				return fmt.Errorf("failed to write upload state to postgres: %w", err)
			}
			return nil
		})
		switch {
		case err == nil:
			return nil
		case fnErr != nil && errors.Is(err, fnErr):
			return fnErr
		case errors.Is(err, errRaced) || retryable(err):
			continue
		}
		return fmt.Errorf("upload state: update in postgres: %w", err)
	}
	return fmt.Errorf("upload state: update of one key kept meeting concurrent ones (%d attempts)", maxAttempts)
}

var errRaced = errors.New("another transaction inserted the key first")

// prefixRange returns a condition on key for the prefix that the primary
// key's index can answer: key >= prefix AND key < the next string after
// every one with the prefix (keys sort bytewise, and UTF-8 sorts like its
// code points).
func prefixRange(prefix string) (cond string, args []any) {
	if prefix == "" {
		return "TRUE", nil
	}
	p := prefix
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		if r == utf8.RuneError && size <= 1 || r == utf8.MaxRune {
			continue
		}
		r++
		if r == 0xD800 { // surrogates are not characters
			r = 0xE000
		}
		return "key >= $1 AND key < $2 AND starts_with(key, $1)", []any{prefix, p + string(r)}
	}
	return "key >= $1 AND starts_with(key, $1)", []any{prefix}
}

func (s *uploadStore) List(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	ctx, cancel := s.db.deadline(ctx, s.db.opts.OpTimeout)
	defer cancel()
	now := s.now()
	cond, args := prefixRange(prefix)
	args = append(args, now.Unix())
	rows, err := s.db.pool.Query(ctx, fmt.Sprintf("SELECT key, sealed FROM upload_state WHERE %s AND expires >= $%d ORDER BY key", cond, len(args)), args...)
	if err != nil {
		return fmt.Errorf("failed to list upload state in postgres: %w", err)
	}
	type record struct {
		key string
		raw []byte
	}
	// Collected before fn runs, so fn may use the store without waiting
	// for this query's connection.
	records, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (record, error) {
		var r record
		return r, row.Scan(&r.key, &r.raw)
	})
	if err != nil {
		return fmt.Errorf("failed to list upload state in postgres: %w", err)
	}
	for _, r := range records {
		v, err := s.sealer.Open(r.key, r.raw, now)
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		if err := fn(r.key, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *uploadStore) DeletePrefix(ctx context.Context, prefix string) error {
	ctx, cancel := s.db.deadline(ctx, s.db.opts.OpTimeout)
	defer cancel()
	cond, args := prefixRange(prefix)
	if _, err := s.db.pool.Exec(ctx, "DELETE FROM upload_state WHERE "+cond, args...); err != nil {
		return fmt.Errorf("failed to delete upload state in postgres: %w", err)
	}
	return nil
}

func (s *uploadStore) Sweep(ctx context.Context) (int, error) {
	ctx, cancel := s.db.deadline(ctx, s.db.opts.OpTimeout)
	defer cancel()
	tag, err := s.db.pool.Exec(ctx, "DELETE FROM upload_state WHERE expires < $1", s.now().Unix())
	if err != nil {
		return 0, fmt.Errorf("failed to sweep upload state in postgres: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *uploadStore) Close() error { return nil }
