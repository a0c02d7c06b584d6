// Package postgres keeps sluss's shared state in PostgreSQL, so several
// gateways can serve one region: the re-identification store
// ([DB.PseudonymStore], a pseudonym.Store) and the upload state
// ([DB.UploadStore], an uploads.Store).
//
// Open a [DB] with a libpq URL, run [DB.Migrate] once at start (any number
// of gateways may do so at the same time), and ask [DB.Ping] for
// readiness. Values are sealed before they reach the database exactly as
// the embedded bbolt stores seal them; the database sees tokens and
// upload-state keys, never a personnummer, a name or a file key.
//
// Every operation has a deadline (Options.OpTimeout when the caller's
// context has none), so an unreachable database turns into an error
// quickly and the caller can fail closed; the pool reconnects by itself
// when the database returns.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune a DB; the zero value is ready to use.
type Options struct {
	// MaxConns bounds the connection pool (default 16).
	MaxConns int32
	// ConnectTimeout bounds establishing one connection (default 5s).
	ConnectTimeout time.Duration
	// OpTimeout bounds one operation whose context has no deadline
	// (default 5s).
	OpTimeout time.Duration
	// CacheSize bounds the re-identification read-through cache, in
	// tokens (default 100 000; negative: no cache).
	CacheSize int
}

// DB is a pool of connections to one PostgreSQL database. Safe for
// concurrent use.
type DB struct {
	pool *pgxpool.Pool
	opts Options
}

// Open parses url (a libpq URL or key=value string) and returns a DB. It
// does not connect: use Ping or Migrate to find out whether the database
// is there.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 5 * time.Second
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 100_000
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's error shows the URL with its password redacted.
		return nil, fmt.Errorf("postgres: invalid database URL: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: failed to create pool: %w", err)
	}
	return &DB{pool: pool, opts: opts}, nil
}

// Close closes every connection of the pool; the stores of the DB stop
// working.
func (db *DB) Close() { db.pool.Close() }

// Ping reports whether the database answers: for a readiness check.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.deadline(ctx, db.opts.OpTimeout)
	defer cancel()
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: database not reachable: %w", err)
	}
	return nil
}

// deadline gives ctx a timeout if it has no deadline of its own.
func (db *DB) deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order; a file is
// named NNNN_what.sql.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrateLock is the advisory lock key that serializes Migrate across
// processes ("sluss" in ASCII).
const migrateLock = 0x736c757373

// Migrate brings the schema to the newest embedded version, recording each
// applied migration in schema_migrations. It runs in one transaction under
// an advisory lock, so gateways starting together apply each migration
// once and the others wait and find nothing to do. Without a deadline in
// ctx it waits at most a minute.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	ctx, cancel := db.deadline(ctx, time.Minute)
	defer cancel()
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
			return fmt.Errorf("failed to take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("failed to create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("failed to read the schema version: %w", err)
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s failed: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("failed to record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Version returns the newest migration applied to the database, 0 for
// none.
func (db *DB) Version(ctx context.Context) (int, error) {
	ctx, cancel := db.deadline(ctx, db.opts.OpTimeout)
	defer cancel()
	var v int
	err := db.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: failed to read the schema version: %w", err)
	}
	return v, nil
}

// retryable reports whether a transaction failed without having run: it
// met another one (serialization failure, deadlock), or its connection
// was already dead — the server terminated it (a restart: the pool keeps
// connections from before) or nothing of the query was sent. Running it
// again may succeed.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return false
	}
	return err != nil && pgconn.SafeToRetry(err)
}

// staleConnection reports whether a read failed on a connection the
// server had closed: a read is safe to run again on another.
func staleConnection(err error) bool {
	return retryable(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// maxAttempts bounds the retries of a transaction that keeps meeting
// concurrent ones.
const maxAttempts = 10
