package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/keys"
)

// fileConfig is sluss's one configuration file (--config, or SLUSS_CONFIG):
// a section per package. deploy/sluss.example.yaml documents it. Unknown
// keys are errors, so a typo cannot silently fall back to a default.
type fileConfig struct {
	Keys    keys.Config    `yaml:"keys"`
	Store   storeConfig    `yaml:"store"`
	Gateway gateway.Config `yaml:"gateway"`
}

// loadConfig reads and strictly parses a configuration file.
func loadConfig(path string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read configuration: %w", err)
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("configuration %s: %v", path, err)
	}
	return &fc, nil
}

// storeFlags are the flags of every command that uses the key store.
type storeFlags struct {
	config  string
	dataDir string
	escrow  stringList
}

func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	f := &storeFlags{}
	fs.StringVar(&f.config, "config", "", "read the configuration (Vault, escrow, data dir) from `FILE`; env SLUSS_CONFIG")
	fs.StringVar(&f.dataDir, "data-dir", "", "keep the embedded key store in `DIR` (default ./sluss-data); env SLUSS_DATA_DIR")
	fs.Var(&f.escrow, "escrow", "also encrypt to the offline escrow `RECIPIENT` (age1pq1…), instead of keys.escrow; repeatable; env SLUSS_ESCROW")
	return f
}

// given reports whether the command line or SLUSS_CONFIG named a store.
func (f *storeFlags) given(e *env) bool {
	return f.config != "" || f.dataDir != "" || e.getenv("SLUSS_CONFIG") != ""
}

// load resolves the configuration: flags first, then the environment, then
// the configuration file, then defaults.
func (f *storeFlags) load(e *env) (*fileConfig, error) {
	path := f.config
	if path == "" {
		path = e.getenv("SLUSS_CONFIG")
	}
	fc := &fileConfig{}
	if path != "" {
		var err error
		if fc, err = loadConfig(path); err != nil {
			return nil, err
		}
	}
	if f.dataDir != "" {
		fc.Keys.DataDir = f.dataDir
	}
	if len(f.escrow) > 0 {
		fc.Keys.Escrow = f.escrow
	}
	fc.Keys.ApplyEnv(e.getenv)
	return fc, nil
}

// cliLogger writes warnings, errors and audit events (which have no level)
// to stderr as JSON lines.
func cliLogger(e *env) zerolog.Logger {
	return zerolog.New(e.stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
}

// openKeyStore opens the key store the flags name.
func (f *storeFlags) openKeyStore(ctx context.Context, e *env) (keys.Store, error) {
	fc, err := f.load(e)
	if err != nil {
		return nil, err
	}
	return keys.Open(ctx, fc.Keys, cliLogger(e))
}

// openKeyAdmin opens the key store the flags name for administration.
func (f *storeFlags) openKeyAdmin(ctx context.Context, e *env) (keys.Admin, error) {
	fc, err := f.load(e)
	if err != nil {
		return nil, err
	}
	return keys.OpenAdmin(ctx, fc.Keys, cliLogger(e))
}
