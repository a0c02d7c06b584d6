package keys

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// backend is where documents are kept: the embedded file store or Vault.
type backend interface {
	// get returns a kind's document and its revision, or a nil document if
	// the kind does not exist yet.
	get(ctx context.Context, kind string) (*document, int, error)
	// put writes a kind's document if its revision is still rev (0: it
	// must not exist yet); otherwise it fails with errConflict.
	put(ctx context.Context, kind string, d *document, rev int) error
	// where names a kind's location for messages (a file, a Vault path).
	where(kind string) string
	// location names the whole store for messages.
	location() string
	// prepare runs before each refresh (Vault renews its token here).
	prepare(ctx context.Context) error
	close() error
}

// cachedStore is the Store of every backend: an immutable snapshot in an
// atomic pointer, replaced by a background refresh loop.
type cachedStore struct {
	b    backend
	s    *settings
	log  zerolog.Logger
	snap atomic.Pointer[snapshot]

	mu      sync.Mutex
	lastErr error // of the last refresh; nil after a success
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ Store = (*cachedStore)(nil)

func newCachedStore(ctx context.Context, b backend, s *settings, log zerolog.Logger) (*cachedStore, error) {
	c := &cachedStore{b: b, s: s, log: log, done: make(chan struct{})}
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.loop(loopCtx)
	return c, nil
}

func (c *cachedStore) String() string   { return "keys store at " + c.b.location() }
func (c *cachedStore) GoString() string { return c.String() }

func (c *cachedStore) loop(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.s.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.refresh(ctx) // failures are logged and kept for Ready
		}
	}
}

// refresh rereads every document and swaps in a new snapshot. On failure
// the old snapshot stays, and keeps working until it is MaxStaleness old.
func (c *cachedStore) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*c.s.vaultTimeout())
	defer cancel()
	sn, err := c.load(ctx)
	old := c.snap.Load()
	if err == nil && old != nil {
		if cerr := sn.contradicts(old); cerr != nil {
			err = fmt.Errorf("%s holds other keys than the ones loaded: %w; the store was wiped and re-initialised, or replaced: keeping the cached keys; restore the store, or restart sluss to accept it", c.b.location(), cerr)
		}
	}
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
	if err != nil {
		if old != nil { // the first load's error goes to Open's caller
			c.log.Warn().Err(err).Str("store", c.b.location()).Time("keys_fetched", old.fetched).
				Dur("max_staleness", c.s.MaxStaleness).Msg("key refresh failed; cached keys stay usable until max staleness")
		}
		return err
	}
	c.snap.Store(sn)
	if old == nil || old.enc.Version != sn.enc.Version {
		c.log.Info().Int("key_version", sn.enc.Version).Str("store", c.b.location()).Msg("region identity loaded")
	}
	if old == nil || len(old.s3) != len(sn.s3) {
		c.log.Info().Int("s3_keys", len(sn.s3)).Str("store", c.b.location()).Msg("S3 access keys loaded")
	}
	return nil
}

func (c *cachedStore) load(ctx context.Context) (*snapshot, error) {
	if err := c.b.prepare(ctx); err != nil {
		return nil, err
	}
	docs := map[string]*document{}
	for _, kind := range kinds(c.s.HMACDomains) {
		d, _, err := c.b.get(ctx, kind)
		if err != nil {
			return nil, err
		}
		docs[kind] = d
	}
	// S3 access keys are optional: the store works without any.
	d, _, err := c.b.get(ctx, KindS3)
	if err != nil {
		return nil, err
	}
	docs[KindS3] = d
	sn, err := buildSnapshot(docs, c.b.where, c.s.HMACDomains, c.s.escrow)
	if err != nil {
		return nil, err
	}
	sn.fetched = c.s.Clock()
	return sn, nil
}

// current returns the snapshot if it is fresh enough to use.
func (c *cachedStore) current() (*snapshot, error) {
	sn := c.snap.Load()
	if sn == nil {
		return nil, fmt.Errorf("%w: key store is closed", ErrUnavailable)
	}
	if age := c.s.Clock().Sub(sn.fetched); age > c.s.MaxStaleness {
		return nil, c.staleError(age)
	}
	return sn, nil
}

func (c *cachedStore) staleError(age time.Duration) error {
	c.mu.Lock()
	last := c.lastErr
	c.mu.Unlock()
	reason := "no refresh since"
	if last != nil {
		reason = "last error: " + last.Error()
	}
	return fmt.Errorf("%w: keys from %s were last refreshed %s ago, longer than max_staleness %s (%s)",
		ErrUnavailable, c.b.location(), age.Round(time.Second), c.s.MaxStaleness, reason)
}

func (c *cachedStore) Encryption() (Encryption, error) {
	sn, err := c.current()
	if err != nil {
		return Encryption{}, err
	}
	return sn.enc, nil
}

func (c *cachedStore) Identities() ([]Identity, error) {
	sn, err := c.current()
	if err != nil {
		return nil, err
	}
	return sn.identities, nil
}

func (c *cachedStore) Identity(version int) (Identity, error) {
	sn, err := c.current()
	if err != nil {
		return Identity{}, err
	}
	// Newest first, and versions are dense in practice: index directly.
	if i := sn.identities[0].Version - version; i >= 0 && i < len(sn.identities) && sn.identities[i].Version == version {
		return sn.identities[i], nil
	}
	for _, id := range sn.identities {
		if id.Version == version {
			return id, nil
		}
	}
	return Identity{}, fmt.Errorf("%w: identity version %d", ErrNotFound, version)
}

func (c *cachedStore) CurrentHMACKey(domain string) (int, []byte, error) {
	sn, err := c.current()
	if err != nil {
		return 0, nil, err
	}
	r, ok := sn.hmac[domain]
	if !ok {
		return 0, nil, fmt.Errorf("%w: HMAC domain %q", ErrNotFound, domain)
	}
	return r.current, r.keys[r.current], nil
}

func (c *cachedStore) HMACKey(domain string, version int) ([]byte, error) {
	sn, err := c.current()
	if err != nil {
		return nil, err
	}
	k, ok := sn.hmac[domain].keys[version]
	if !ok {
		return nil, fmt.Errorf("%w: HMAC domain %q version %d", ErrNotFound, domain, version)
	}
	return k, nil
}

func (c *cachedStore) ReidentificationKey() ([]byte, error) {
	sn, err := c.current()
	if err != nil {
		return nil, err
	}
	return sn.reid, nil
}

func (c *cachedStore) CA() (*CA, error) {
	sn, err := c.current()
	if err != nil {
		return nil, err
	}
	return sn.ca, nil
}

func (c *cachedStore) Ready() error {
	_, err := c.current()
	return err
}

func (c *cachedStore) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	<-c.done
	c.snap.Store(nil)
	return c.b.close()
}

func (s *settings) vaultTimeout() time.Duration {
	if s.vault.Timeout > 0 {
		return s.vault.Timeout
	}
	return DefaultVaultTimeout
}
