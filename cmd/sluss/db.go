package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/pseudonym"
	"github.com/sluss/sluss/store/postgres"
)

// storeConfig says where the shared state lives: the re-identification
// store and the upload state. Without a PostgreSQL URL both are bbolt
// files in the data directory (one gateway); with one, every gateway that
// names the same database shares them.
//
//	store:
//	  postgres_url: postgres://sluss@db.region.internal:5432/sluss?sslmode=verify-full
//	  postgres_password_file: /run/secrets/sluss-db-password
//	  max_conns: 16
type storeConfig struct {
	PostgresURL          string `yaml:"postgres_url"`
	PostgresPasswordFile string `yaml:"postgres_password_file"`
	MaxConns             int32  `yaml:"max_conns"`
}

// databaseURL returns the PostgreSQL URL (SLUSS_DATABASE_URL beats the
// file), with the password from its file, or "" for the embedded stores.
func (c storeConfig) databaseURL(getenv func(string) string) (string, error) {
	raw := c.PostgresURL
	if v := getenv("SLUSS_DATABASE_URL"); v != "" {
		raw = v
	}
	file := c.PostgresPasswordFile
	if v := getenv("SLUSS_DATABASE_PASSWORD_FILE"); v != "" {
		file = v
	}
	if raw == "" {
		return "", nil
	}
	if file == "" {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("store.postgres_url is not a postgres:// URL")
	}
	pw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("failed to read the database password: %w", err)
	}
	user := "sluss"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, strings.TrimRight(string(pw), "\r\n"))
	return u.String(), nil
}

// sharedStores are the re-identification store and the upload state a
// gateway (or a CLI command) works with, and how to tell they are usable.
type sharedStores struct {
	pseudonyms pseudonym.Store
	uploads    uploads.Store
	db         *postgres.DB // nil with the embedded stores
}

func (s *sharedStores) Close() {
	if s.pseudonyms != nil {
		s.pseudonyms.Close()
	}
	if s.uploads != nil {
		s.uploads.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// openSharedStores opens PostgreSQL (migrating it, which is safe from
// several gateways at once) when configured, and the bbolt files in the
// data directory otherwise. key is the re-identification key.
func openSharedStores(ctx context.Context, e *env, fc *fileConfig, key []byte, log zerolog.Logger) (*sharedStores, error) {
	dbURL, err := fc.Store.databaseURL(e.getenv)
	if err != nil {
		return nil, err
	}
	s := &sharedStores{}
	if dbURL == "" {
		if s.pseudonyms, err = pseudonym.OpenBoltStore(filepath.Join(fc.Keys.DataDir, pseudonym.StoreFile), key); err != nil {
			return nil, err
		}
		if s.uploads, err = uploads.OpenBolt(filepath.Join(fc.Keys.DataDir, uploads.StoreFile), uploadStateKey(key)); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if s.db, err = postgres.Open(ctx, dbURL, postgres.Options{MaxConns: fc.Store.MaxConns}); err != nil {
		return nil, err
	}
	if err := s.db.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	if s.pseudonyms, err = s.db.PseudonymStore(key); err != nil {
		s.Close()
		return nil, err
	}
	if s.uploads, err = s.db.UploadStore(uploadStateKey(key)); err != nil {
		s.Close()
		return nil, err
	}
	log.Info().Msg("shared state in PostgreSQL")
	return s, nil
}

const dbUsage = `usage: sluss db COMMAND [--config FILE]

  migrate   create or update the PostgreSQL schema (store.postgres_url or
            SLUSS_DATABASE_URL); safe while gateways run, and from several
            at once
  status    print the schema version and whether the database answers`

func runDB(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "migrate" && args[0] != "status") {
		return usagef("%s", dbUsage)
	}
	fs := newFlagSet(e, "db "+args[0], "[--config FILE]")
	sf := addStoreFlags(fs)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	fc, err := sf.load(e)
	if err != nil {
		return err
	}
	dbURL, err := fc.Store.databaseURL(e.getenv)
	if err != nil {
		return err
	}
	if dbURL == "" {
		return fmt.Errorf("no database configured: set store.postgres_url or SLUSS_DATABASE_URL (without one, sluss keeps its state in bbolt files in the data directory)")
	}
	db, err := postgres.Open(ctx, dbURL, postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "migrate" {
		if err := db.Migrate(ctx); err != nil {
			return err
		}
	} else if err := db.Ping(ctx); err != nil {
		return err
	}
	v, err := db.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "database schema version %d\n", v)
	return nil
}
