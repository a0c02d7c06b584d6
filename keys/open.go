package keys

import (
	"context"
	"github.com/rs/zerolog"
)

// Open returns the Store for a configuration: Vault when cfg.Vault is set,
// otherwise the embedded file store in cfg.DataDir. It loads every key once
// and fails (with one line naming the location) when that is impossible:
// Vault unreachable, login refused, permission missing, or keys not created
// yet ([ErrNotInitialized]; see [Admin.Init]). A background loop then
// refreshes the keys every cfg.RefreshInterval until Close.
func Open(ctx context.Context, cfg Config, log zerolog.Logger) (Store, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	b, err := openBackend(ctx, s, log)
	if err != nil {
		return nil, err
	}
	st, err := newCachedStore(ctx, b, s, log)
	if err != nil {
		b.close()
		return nil, initHint(err)
	}
	return st, nil
}

// OpenAdmin returns the Admin for a configuration (see Open for how the
// backend is chosen). Nothing is read until a method is called.
func OpenAdmin(ctx context.Context, cfg Config, log zerolog.Logger) (Admin, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	b, err := openBackend(ctx, s, log)
	if err != nil {
		return nil, err
	}
	return &admin{b: b, s: s, log: log}, nil
}

func openBackend(ctx context.Context, s *settings, log zerolog.Logger) (backend, error) {
	if s.Vault != nil {
		return newVaultBackend(ctx, s.vault, s.Clock, log)
	}
	return newFileBackend(s.DataDir), nil
}
