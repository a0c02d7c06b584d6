package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/sluss/sluss/pseudonym"
)

// PseudonymStore returns the re-identification store in the database,
// values sealed by pseudonym.Sealer under key (32 bytes): records are
// those of pseudonym.BoltStore and may move between the two. Its Close
// drops the cache and leaves the DB open.
func (db *DB) PseudonymStore(key []byte) (pseudonym.Store, error) {
	sealer, err := pseudonym.NewSealer(key)
	if err != nil {
		return nil, err
	}
	return &pseudonymStore{db: db, sealer: sealer, cache: newTokenCache(db.opts.CacheSize)}, nil
}

type pseudonymStore struct {
	db     *DB
	sealer *pseudonym.Sealer
	cache  *tokenCache
}

// Put stores entries in one transaction, all or none. A token another
// gateway stored meanwhile is read back and compared: the same original is
// success, another is pseudonym.ErrCollision.
func (s *pseudonymStore) Put(ctx context.Context, entries ...pseudonym.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	todo := make(map[string][]byte, len(entries))
	for _, e := range entries {
		if v, ok := todo[e.Token]; ok {
			if !bytes.Equal(v, e.Value) {
				return fmt.Errorf("%w: token %s", pseudonym.ErrCollision, e.Token)
			}
			continue
		}
		if v, ok := s.cache.get(e.Token); ok {
			if !bytes.Equal(v, e.Value) {
				return fmt.Errorf("%w: token %s", pseudonym.ErrCollision, e.Token)
			}
			continue
		}
		todo[e.Token] = e.Value
	}
	if len(todo) == 0 {
		return nil
	}
	// One order for every gateway, so two transactions inserting the same
	// tokens wait for each other instead of deadlocking.
	tokens := make([]string, 0, len(todo))
	for t := range todo {
		tokens = append(tokens, t)
	}
	sort.Strings(tokens)
	sealed := make([][]byte, len(tokens))
	for i, t := range tokens {
		sealed[i] = s.sealer.Seal(t, todo[t])
	}

	ctx, cancel := s.db.deadline(ctx, s.db.opts.OpTimeout)
	defer cancel()
	var err error
	for range maxAttempts {
		err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
			return s.put(ctx, tx, tokens, sealed, todo)
		})
		// Put is idempotent: a batch whose connection died may run again.
		if !staleConnection(err) {
			break
		}
	}
	if errors.Is(err, pseudonym.ErrCollision) {
		return err
	}
	if err != nil {
		return fmt.Errorf("pseudonym: failed to store %d tokens in postgres: %w", len(tokens), err)
	}
	for _, t := range tokens {
		s.cache.add(t, bytes.Clone(todo[t]))
	}
	return nil
}

func (s *pseudonymStore) put(ctx context.Context, tx pgx.Tx, tokens []string, sealed [][]byte, values map[string][]byte) error {
	rows, err := tx.Query(ctx, `INSERT INTO pseudonyms (token, sealed)
		SELECT * FROM unnest($1::text[], $2::bytea[])
		ON CONFLICT (token) DO NOTHING
		RETURNING token`, tokens, sealed)
	if err != nil {
		return err
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(inserted) == len(tokens) {
		return nil
	}
	fresh := make(map[string]bool, len(inserted))
	for _, t := range inserted {
		fresh[t] = true
	}
	var present []string
	for _, t := range tokens {
		if !fresh[t] {
			present = append(present, t)
		}
	}
	rows, err = tx.Query(ctx, "SELECT token, sealed FROM pseudonyms WHERE token = ANY($1)", present)
	if err != nil {
		return err
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		found++
		var token string
		var old []byte
		if err := rows.Scan(&token, &old); err != nil {
			return err
		}
		v, err := s.sealer.Open(token, old)
		if err != nil {
			return err
		}
		if !bytes.Equal(v, values[token]) {
			return fmt.Errorf("%w: token %s", pseudonym.ErrCollision, token)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if found != len(present) {
		return fmt.Errorf("%d tokens neither inserted nor found", len(present)-found)
	}
	return nil
}

// Get returns the original of token, from the cache when it was seen.
func (s *pseudonymStore) Get(ctx context.Context, token string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if v, ok := s.cache.get(token); ok {
		return bytes.Clone(v), nil
	}
	ctx, cancel := s.db.deadline(ctx, s.db.opts.OpTimeout)
	defer cancel()
	var sealed []byte
	var err error
	for range 3 {
		err = s.db.pool.QueryRow(ctx, "SELECT sealed FROM pseudonyms WHERE token = $1", token).Scan(&sealed)
		if !staleConnection(err) {
			break
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", pseudonym.ErrNotFound, token)
	}
	if err != nil {
		return nil, fmt.Errorf("pseudonym: failed to read token %s from postgres: %w", token, err)
	}
	v, err := s.sealer.Open(token, sealed)
	if err != nil {
		return nil, err
	}
	s.cache.add(token, bytes.Clone(v))
	return v, nil
}

// Close drops the cache; the DB stays open.
func (s *pseudonymStore) Close() error {
	s.cache.reset()
	return nil
}

// Walk calls fn for every entry, in token order (see pseudonym.Walker).
func (s *pseudonymStore) Walk(ctx context.Context, fn func(pseudonym.Entry) error) error {
	rows, err := s.db.pool.Query(ctx, `SELECT token, sealed FROM pseudonyms ORDER BY token COLLATE "C"`)
	if err != nil {
		return fmt.Errorf("pseudonym: failed to list tokens in postgres: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var token string
		var sealed []byte
		if err := rows.Scan(&token, &sealed); err != nil {
			return fmt.Errorf("pseudonym: failed to list tokens in postgres: %w", err)
		}
		v, err := s.sealer.Open(token, sealed)
		if err != nil {
			return err
		}
		if err := fn(pseudonym.Entry{Token: token, Value: v}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pseudonym: failed to list tokens in postgres: %w", err)
	}
	return nil
}
