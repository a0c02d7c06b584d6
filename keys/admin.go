package keys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"

	"github.com/rs/zerolog"
)

// admin implements Admin on any backend.
type admin struct {
	b   backend
	s   *settings
	log zerolog.Logger
}

var _ Admin = (*admin)(nil)

func (a *admin) Location() string { return a.b.location() }
func (a *admin) Close() error     { return a.b.close() }

func (a *admin) Init(ctx context.Context) ([]InitResult, error) {
	if err := a.b.prepare(ctx); err != nil && !errors.Is(err, ErrNotInitialized) {
		return nil, err
	}
	var out []InitResult
	for _, kind := range kinds(a.s.HMACDomains) {
		d, rev, err := a.b.get(ctx, kind)
		if err != nil {
			return out, err
		}
		if d != nil && len(d.Versions) > 0 {
			out = append(out, InitResult{Kind: kind, Version: d.current().Version})
			continue
		}
		if d == nil {
			d = &document{}
		}
		v, err := a.add(ctx, kind, d, rev)
		if err != nil {
			return out, err
		}
		out = append(out, InitResult{Kind: kind, Version: v, Created: true})
	}
	return out, nil
}

// add appends a new version of kind to d (read at revision rev) and writes
// it back.
func (a *admin) add(ctx context.Context, kind string, d *document, rev int) (int, error) {
	e, err := newEntry(kind, a.s.CAName, a.s.Clock())
	if err != nil {
		return 0, err
	}
	n := d.withNew(e)
	if err := a.b.put(ctx, kind, n, rev); err != nil {
		return 0, err
	}
	v := n.current().Version
	a.log.Info().Str("action", "key-created").Str("kind", kind).Int("key_version", v).Str("store", a.b.location()).Msg("new key version")
	return v, nil
}

func (a *admin) rotate(ctx context.Context, kind string) (int, error) {
	if err := a.b.prepare(ctx); err != nil {
		return 0, err
	}
	d, rev, err := a.b.get(ctx, kind)
	if err != nil {
		return 0, err
	}
	if d == nil || len(d.Versions) == 0 {
		return 0, fmt.Errorf("%w: %s does not exist", ErrNotInitialized, a.b.where(kind))
	}
	return a.add(ctx, kind, d, rev)
}

func (a *admin) RotateIdentity(ctx context.Context) (int, error) {
	v, err := a.rotate(ctx, KindIdentity)
	return v, initHint(err)
}

func (a *admin) RotateCA(ctx context.Context) (int, error) {
	v, err := a.rotate(ctx, KindCA)
	return v, initHint(err)
}

func (a *admin) RotateHMAC(ctx context.Context, domain string) (int, error) {
	if !slices.Contains(a.s.HMACDomains, domain) {
		return 0, fmt.Errorf("%w: unknown HMAC domain %q (configured: %v; add it to keys.hmac_domains)", ErrNotFound, domain, a.s.HMACDomains)
	}
	v, err := a.rotate(ctx, hmacKind(domain))
	return v, initHint(err)
}

func (a *admin) List(ctx context.Context) ([]KeyInfo, error) {
	list, err := a.list(ctx)
	return list, initHint(err)
}

func (a *admin) list(ctx context.Context) ([]KeyInfo, error) {
	if err := a.b.prepare(ctx); err != nil {
		return nil, err
	}
	var out []KeyInfo
	for _, kind := range kinds(a.s.HMACDomains) {
		d, _, err := a.b.get(ctx, kind)
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue
		}
		info, err := describe(kind, a.b.where(kind), d)
		if err != nil {
			return nil, err
		}
		out = append(out, info...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no keys in %s", ErrNotInitialized, a.b.location())
	}
	return out, nil
}

func (a *admin) identities(ctx context.Context) ([]Identity, error) {
	ids, err := a.readIdentities(ctx)
	return ids, initHint(err)
}

func (a *admin) readIdentities(ctx context.Context) ([]Identity, error) {
	if err := a.b.prepare(ctx); err != nil {
		return nil, err
	}
	d, _, err := a.b.get(ctx, KindIdentity)
	if err != nil {
		return nil, err
	}
	if d == nil || len(d.Versions) == 0 {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotInitialized, a.b.where(KindIdentity))
	}
	var ids []Identity
	for i := len(d.Versions) - 1; i >= 0; i-- {
		id, err := parseIdentityEntry(d.Versions[i], a.b.where(KindIdentity))
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (a *admin) Recipients(ctx context.Context) (Encryption, error) {
	ids, err := a.identities(ctx)
	if err != nil {
		return Encryption{}, err
	}
	return Encryption{Version: ids[0].Version, Region: ids[0].Recipient(), Escrow: a.s.escrow}, nil
}

func (a *admin) ExportIdentities(ctx context.Context) ([]Identity, error) {
	ids, err := a.identities(ctx)
	if err != nil {
		return nil, err
	}
	versions := make([]int, len(ids))
	for i, id := range ids {
		versions[i] = id.Version
	}
	// The audit event is written at no level, so no log level hides it.
	a.log.Log().Str("action", "export-identity").Str("user", osUser()).Ints("key_versions", versions).
		Str("store", a.b.location()).Time("exported_at", a.s.Clock()).Msg("private identities exported")
	return ids, nil
}

// osUser names who runs the process, for audit events.
func osUser() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	} else if n := os.Getenv("USER"); n != "" {
		name = n
	}
	return fmt.Sprintf("%s (uid %d)", name, os.Getuid())
}

// initHint tells the reader of a "not initialized" error what to do.
func initHint(err error) error {
	if errors.Is(err, ErrNotInitialized) {
		return fmt.Errorf("%w; create them with `sluss keys init`", err)
	}
	return err
}
