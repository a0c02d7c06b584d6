package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
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

// openDatabase opens the shared database and brings its schema up to
// date (safe from several gateways at once).
func openDatabase(ctx context.Context, dbURL string, maxConns int32) (*postgres.DB, error) {
	db, err := postgres.Open(ctx, dbURL, postgres.Options{MaxConns: maxConns})
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	return db, nil
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
	if s.db, err = openDatabase(ctx, dbURL, fc.Store.MaxConns); err != nil {
		return nil, err
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
  status    print the schema version and whether the database answers
  export    [--from bbolt|postgres] [-o FILE]
            write every re-identification mapping, sealed, as JSON lines
            (default: from the configured store), and print the count and
            a checksum
  import    [--to bbolt|postgres] FILE
            store the mappings of an export (default: in the configured
            store), read every one back, and print the count and checksum,
            which must be the export's`

func runDB(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("%s", dbUsage)
	}
	switch args[0] {
	case "export", "import":
		return runDBMove(ctx, e, args[0], args[1:])
	case "migrate", "status":
	default:
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

// movedRecord is one line of an export: a mapping sealed under the
// re-identification key, as the stores keep it.
type movedRecord struct {
	Token  string `json:"token"`
	Sealed []byte `json:"sealed"`
}

// mappingSum is the count and checksum of a set of mappings: SHA-256 over
// the tokens and originals in token order. One digest of the whole set,
// so it identifies no single person.
type mappingSum struct {
	n int
	h hash.Hash
}

func newMappingSum() *mappingSum { return &mappingSum{h: sha256.New()} }

func (m *mappingSum) add(e pseudonym.Entry) {
	m.n++
	fmt.Fprintf(m.h, "%d:%s%d:", len(e.Token), e.Token, len(e.Value))
	m.h.Write(e.Value)
}

func (m *mappingSum) String() string {
	return fmt.Sprintf("%d mappings, checksum %s", m.n, hex.EncodeToString(m.h.Sum(nil)))
}

// openMappingStore opens the re-identification store of kind ("bbolt",
// "postgres", or "" for the configured one).
func openMappingStore(ctx context.Context, e *env, fc *fileConfig, kind string, key []byte) (pseudonym.Store, func(), error) {
	dbURL, err := fc.Store.databaseURL(e.getenv)
	if err != nil {
		return nil, nil, err
	}
	if kind == "" {
		kind = "bbolt"
		if dbURL != "" {
			kind = "postgres"
		}
	}
	switch kind {
	case "bbolt":
		s, err := pseudonym.OpenBoltStore(filepath.Join(fc.Keys.DataDir, pseudonym.StoreFile), key)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	case "postgres":
		if dbURL == "" {
			return nil, nil, fmt.Errorf("no database configured: set store.postgres_url or SLUSS_DATABASE_URL")
		}
		db, err := openDatabase(ctx, dbURL, 4)
		if err != nil {
			return nil, nil, err
		}
		s, err := db.PseudonymStore(key)
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		return s, func() { s.Close(); db.Close() }, nil
	}
	return nil, nil, usagef("the store is bbolt or postgres, not %q", kind)
}

func runDBMove(ctx context.Context, e *env, cmd string, args []string) error {
	fs := newFlagSet(e, "db "+cmd, "[--config FILE]")
	sf := addStoreFlags(fs)
	from := fs.String("from", "", "export from `STORE`: bbolt (the data dir) or postgres (default: the configured one)")
	to := fs.String("to", "", "import into `STORE`: bbolt or postgres (default: the configured one)")
	out := fs.String("o", "", "write the export to `FILE` (default: standard output)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	fc, err := sf.load(e)
	if err != nil {
		return err
	}
	ks, err := openStore(ctx, fc.Keys, cliLogger(e))
	if err != nil {
		return err
	}
	defer ks.Close()
	key, err := ks.ReidentificationKey()
	if err != nil {
		return err
	}
	sealer, err := pseudonym.NewSealer(key)
	if err != nil {
		return err
	}
	if cmd == "export" {
		if len(pos) > 0 {
			return usagef("unexpected argument %q", pos[0])
		}
		store, done, err := openMappingStore(ctx, e, fc, *from, key)
		if err != nil {
			return err
		}
		defer done()
		w, ok := store.(pseudonym.Walker)
		if !ok {
			return fmt.Errorf("this store cannot list its mappings")
		}
		sum := newMappingSum()
		err = writeOutput(e, *out, func(dst io.Writer) error {
			bw := bufio.NewWriter(dst)
			enc := json.NewEncoder(bw)
			err := w.Walk(ctx, func(en pseudonym.Entry) error {
				sum.add(en)
				return enc.Encode(movedRecord{Token: en.Token, Sealed: sealer.Seal(en.Token, en.Value)})
			})
			if err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "exported %s\n", sum)
		return nil
	}
	if len(pos) != 1 {
		return usagef("usage: sluss db import [--to bbolt|postgres] FILE")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	store, done, err := openMappingStore(ctx, e, fc, *to, key)
	if err != nil {
		return err
	}
	defer done()
	var batch []pseudonym.Entry
	var tokens []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := store.Put(ctx, batch...)
		batch = batch[:0]
		return err
	}
	dec := json.NewDecoder(bufio.NewReader(f))
	for line := 1; ; line++ {
		var r movedRecord
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("%s: record %d: %v", pos[0], line, err)
		}
		v, err := sealer.Open(r.Token, r.Sealed)
		if err != nil {
			return fmt.Errorf("%s: record %d: %w (exported under another re-identification key?)", pos[0], line, err)
		}
		batch = append(batch, pseudonym.Entry{Token: r.Token, Value: v})
		tokens = append(tokens, r.Token)
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	// Read every mapping back from the store, in token order, for the
	// checksum the export printed.
	sort.Strings(tokens)
	sum := newMappingSum()
	for _, t := range tokens {
		v, err := store.Get(ctx, t)
		if err != nil {
			return fmt.Errorf("a mapping imported is not in the store: %w", err)
		}
		sum.add(pseudonym.Entry{Token: t, Value: v})
	}
	fmt.Fprintf(e.stderr, "imported %s (read back from the store)\n", sum)
	return nil
}
