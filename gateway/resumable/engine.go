package resumable

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway/uploads"
)

// Errors of the engine; adapters map them to their protocol's answers.
var (
	// ErrNotFound: no such upload (never created, aborted or expired).
	ErrNotFound = errors.New("no such upload")
	// ErrBusy: another piece of the upload is being appended.
	ErrBusy = errors.New("another piece of this upload is in progress")
	// ErrChanged: the client sent other bytes where ciphertext of earlier
	// bytes has already left; sealing them would reuse a nonce.
	ErrChanged = errors.New("the upload's data changed where it was already sent; start a new upload")
	// ErrTooLarge: the piece goes past the upload's size.
	ErrTooLarge = errors.New("the piece goes past the upload's size")
	// ErrSize: the size declared does not match the upload's, or a final
	// piece ends short of it.
	ErrSize = errors.New("the upload's size does not match")
	// ErrDone: the upload is complete; nothing more can be appended.
	ErrDone = errors.New("the upload is already complete")
	// ErrClientBody: the piece's body ended early or broke off.
	ErrClientBody = errors.New("the piece's body ended before its length")
	// ErrCheck wraps what a piece's Check returned.
	ErrCheck = errors.New("the piece failed its check")
	// ErrProvider: the provider's account of what it holds contradicts
	// what it acknowledged.
	ErrProvider = errors.New("the provider holds less of the upload than it acknowledged")
	// ErrState wraps failures of the upload-state store.
	ErrState = errors.New("the gateway's upload state is unavailable")
)

// OffsetError is returned for a piece that does not start where the
// upload resumes; Want is the plaintext offset it must start at.
type OffsetError struct{ Got, Want int64 }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("the piece starts at offset %d but the upload continues at %d", e.Got, e.Want)
}

// Keys is what the engine needs of the region's key store
// (gateway.KeySource has it).
type Keys interface {
	EncryptionKeys() (version int, recipients []age.Recipient, err error)
	DecryptionKeys() ([]age.Identity, error)
}

// Engine appends pieces of uploads to one age file each. Its zero value
// is not usable: set State and Keys.
type Engine struct {
	State uploads.Store
	Keys  Keys
	// TTL is how long an upload lives after its last piece; default 7
	// days.
	TTL time.Duration
	// SeqWait is how long a piece ordered by Seq waits for its
	// predecessor; default 5 minutes.
	SeqWait time.Duration
	// Now is the clock leases are judged by; default time.Now.
	Now func() time.Time
}

// Options describe a new upload.
type Options struct {
	// Size is the plaintext size, -1 if not known yet.
	Size int64
	// Granule: the provider takes ciphertext only in multiples of it
	// (except the file's end); 0 or 1 for any.
	Granule int64
	// MaxSend is the most ciphertext one upstream request may carry
	// (a multiple of Granule is used); 0 for no limit.
	MaxSend int64
	// Pieces keeps a record of every piece (resume listings, idempotent
	// repeats of a Seq).
	Pieces bool
}

// Piece is one piece a client sends.
type Piece struct {
	// Seq > 0 orders the piece by number instead of offset: it waits
	// until Seq-1 is appended, and a repeated Seq with the same bytes is
	// a no-op. With Seq, Offset may be -1 (not said by the client).
	Seq int
	// Offset is the plaintext offset the client says the piece starts at.
	Offset int64
	// Length is the exact number of bytes in Body.
	Length int64
	// Final: the client says this piece ends the file; implied when the
	// size is known and the piece reaches it.
	Final bool
	// Size is the total plaintext size declared with this piece, -1 if
	// none.
	Size int64
	Body io.Reader
	// Check, if set, is called when the body has been read whole, before
	// the piece's last ciphertext leaves and before it is committed: an
	// error aborts the piece (wrapped in ErrCheck). Chunks sent before
	// the check stay recorded, so a retry with other bytes may meet
	// ErrChanged.
	Check func() error
}

// Info is where an upload stands.
type Info struct {
	// Size is the plaintext size, -1 if not known yet.
	Size int64
	// Offset is where the client resumes: the plaintext the gateway has
	// taken charge of, stored at the provider or carried in the state.
	Offset int64
	// CipherSize is the size of the whole age file, -1 while Size is
	// unknown.
	CipherSize int64
	// Stored is the ciphertext the provider acknowledged.
	Stored int64
	// HeaderSize is the age header's size (the opening without its
	// nonce), for translating the stored file's sizes.
	HeaderSize int64
	Done       bool
	Pieces     []PieceInfo
	Meta       map[string]string
	KeyVersion int
}

// PieceInfo records one appended piece (with Options.Pieces).
type PieceInfo struct {
	Seq    int    `json:"seq"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 []byte `json:"sha256"`
}

// Result is the outcome of a piece.
type Result struct {
	Info
	// Reply is what the last Upstream.Send of the piece returned; nil if
	// nothing was sent.
	Reply any
	// Duplicate: the piece repeated one already appended; nothing was
	// sent.
	Duplicate bool
}

// Upstream stores ciphertext at the provider; the protocol adapter
// implements it for each request.
type Upstream interface {
	// Send stores s.Length bytes of ciphertext, read from s.Body, at
	// ciphertext offset s.Offset. Length is 0 only for a Last send whose
	// bytes the provider already holds.
	Send(ctx context.Context, s Send) (reply any, err error)
	// Offset asks how much ciphertext the provider holds, after a send
	// that failed or was interrupted; committed is what it acknowledged
	// before. A provider whose sends replace whole returns committed.
	Offset(ctx context.Context, committed int64) (int64, error)
}

// Send is one upstream request's worth of ciphertext.
type Send struct {
	// Seq numbers the sends of an upload from 1; a send retried after a
	// failure gets its number again.
	Seq    int
	Offset int64
	Length int64
	// Total is the age file's size, -1 while unknown.
	Total int64
	// Last: these bytes end the file.
	Last bool
	Body io.Reader
}

// record is an upload's state, as JSON in the store (which seals it).
type record struct {
	Opening    []byte            `json:"opening"`
	KeyVersion int               `json:"key_version"`
	Size       int64             `json:"size"`
	Granule    int64             `json:"granule,omitempty"`
	MaxSend    int64             `json:"max_send,omitempty"`
	KeepPieces bool              `json:"keep_pieces,omitempty"`
	Offset     int64             `json:"offset"`
	CarryFrom  int64             `json:"carry_from"` // plaintext offset of Carry, a chunk boundary
	Carry      []byte            `json:"carry,omitempty"`
	Stored     int64             `json:"stored"`
	Sends      int               `json:"sends"`
	Seq        int               `json:"seq"`
	Pieces     []PieceInfo       `json:"pieces,omitempty"`
	Dirty      bool              `json:"dirty,omitempty"` // a send may have left more than Stored
	Lease      *lease            `json:"lease,omitempty"`
	Done       bool              `json:"done,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
}

type lease struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

const (
	encChunkSize = crypto.ChunkSize + 16
	nonceSize    = 16
	// sealBatch chunks (4 MiB) are sealed, and their tags recorded,
	// before they are sent: one state write per batch, a few MiB of
	// memory per piece in flight.
	sealBatch = 64
)

// A piece holds a lease on its upload for leaseTTL, renewed every
// renewEvery while it runs; it stops sending once its last renewal is
// leaseTTL-leaseMargin old (the margin covers clocks of gateways that
// disagree), so a lease that ran out while its holder was cut off from
// the store never covers two senders. A gateway that dies leaves its
// uploads locked for at most leaseTTL. (Variables for the tests.)
var (
	leaseTTL    = 20 * time.Second
	renewEvery  = 5 * time.Second
	leaseMargin = 5 * time.Second
)

func (e *Engine) ttl() time.Duration {
	if e.TTL > 0 {
		return e.TTL
	}
	return 7 * 24 * time.Hour
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (r *record) headerSize() int64 { return int64(len(r.Opening)) - nonceSize }

// cipherSize is the size of the age file of n bytes of plaintext.
func (r *record) cipherSize(n int64) int64 {
	if n < 0 {
		return -1
	}
	return int64(len(r.Opening)) + crypto.SealedSize(n)
}

// chunkAt returns the index of the chunk whose ciphertext holds offset c
// of the file (0 within the opening).
func (r *record) chunkAt(c int64) int64 {
	c -= int64(len(r.Opening))
	if c < 0 {
		return 0
	}
	return c / encChunkSize
}

func (r *record) info() Info {
	return Info{
		Size: r.Size, Offset: r.Offset, CipherSize: r.cipherSize(r.Size), Stored: r.Stored,
		HeaderSize: r.headerSize(), Done: r.Done, Pieces: r.Pieces, Meta: r.Meta, KeyVersion: r.KeyVersion,
	}
}

// Begin starts an upload: it makes the age file's header and calls
// create with the file's ciphertext size (-1 if o.Size is unknown), for
// the adapter to create the upload at the provider. create returns the
// key the upload's state is kept under (chosen by the adapter, free of
// personal data: a digest of the provider's upload URL) and values the
// adapter wants back in [Info.Meta]. Nothing is stored if create fails.
func (e *Engine) Begin(ctx context.Context, o Options, create func(cipherSize int64) (key string, meta map[string]string, err error)) (Info, error) {
	if o.Size < -1 {
		return Info{}, fmt.Errorf("%w: size %d", ErrSize, o.Size)
	}
	version, recipients, err := e.Keys.EncryptionKeys()
	if err != nil {
		return Info{}, fmt.Errorf("no encryption key: %w", err)
	}
	p, err := crypto.NewPieces(recipients...)
	if err != nil {
		return Info{}, err
	}
	r := &record{
		Opening: p.Opening(), KeyVersion: version, Size: o.Size, Granule: max(o.Granule, 1),
		KeepPieces: o.Pieces, MaxSend: o.MaxSend,
	}
	key, meta, err := create(r.cipherSize(o.Size))
	if err != nil {
		return Info{}, err
	}
	r.Meta = meta
	v, err := json.Marshal(r)
	if err != nil {
		return Info{}, err
	}
	err = e.State.Update(ctx, key, e.ttl(), func(old []byte) ([]byte, error) {
		if old != nil {
			return nil, fmt.Errorf("an upload with this key exists")
		}
		return v, nil
	})
	if err != nil {
		return Info{}, stateErr(err)
	}
	return r.info(), nil
}

// Status returns where the upload at key stands.
func (e *Engine) Status(ctx context.Context, key string) (Info, error) {
	r, err := e.load(ctx, key)
	if err != nil {
		return Info{}, err
	}
	return r.info(), nil
}

// Abort forgets the upload at key (the adapter deletes it at the
// provider).
func (e *Engine) Abort(ctx context.Context, key string) error {
	if _, err := e.load(ctx, key); err != nil {
		return err
	}
	if err := e.State.DeletePrefix(ctx, tagPrefix(key)); err != nil {
		return stateErr(err)
	}
	err := e.State.Update(ctx, key, e.ttl(), func([]byte) ([]byte, error) { return nil, nil })
	return stateErr(err)
}

func (e *Engine) load(ctx context.Context, key string) (*record, error) {
	v, err := e.State.Get(ctx, key)
	if errors.Is(err, uploads.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, stateErr(err)
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, stateErr(err)
	}
	return &r, nil
}

func stateErr(err error) error {
	if err == nil || errors.Is(err, ErrState) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrState, err)
}

func tagPrefix(key string) string { return key + "/t/" }

// errWait: the piece must wait (its predecessor has not been appended,
// or is being appended).
var errWait = errors.New("wait")

// Append appends one piece to the upload at key, sending what can be
// sealed of it through up.
func (e *Engine) Append(ctx context.Context, key string, p Piece, up Upstream) (Result, error) {
	if p.Length < 0 {
		return Result{}, fmt.Errorf("%w: no length", ErrClientBody)
	}
	a, err := e.acquire(ctx, key, p)
	if err != nil {
		return Result{}, err
	}
	if a.duplicate {
		return e.repeat(a.r, p)
	}
	stop := a.keepLease()
	res, err := a.run(ctx, p, up)
	stop()
	if err != nil {
		kept := int64(-1)
		if a.sent && p.Seq == 0 {
			kept = a.askKept(up)
		}
		a.release(kept)
		return Result{}, err
	}
	return res, nil
}

// appending is one piece being appended under a lease.
type appending struct {
	e         *Engine
	key       string
	owner     string
	r         *record // as it was when the lease was taken
	wasDirty  bool
	duplicate bool
	renewed   atomic.Int64 // when the lease was last taken or renewed, Unix ns
	// tagRecords counts the upload's tag records: loaded and written.
	tagRecords int
	// sent: a send of the piece began, so the provider may hold some of
	// it.
	sent bool
}

func (e *Engine) acquire(ctx context.Context, key string, p Piece) (*appending, error) {
	var owner [12]byte
	rand.Read(owner[:])
	a := &appending{e: e, key: key, owner: hex.EncodeToString(owner[:])}
	wait := e.SeqWait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	deadline := time.Now().Add(wait)
	pause := 20 * time.Millisecond
	for {
		err := e.State.Update(ctx, key, e.ttl(), func(old []byte) ([]byte, error) {
			if old == nil {
				return nil, ErrNotFound
			}
			var r record
			if err := json.Unmarshal(old, &r); err != nil {
				return nil, err
			}
			a.r, a.duplicate = &r, false
			if p.Seq > 0 && p.Seq <= r.Seq {
				a.duplicate = true
				return nil, errDuplicate
			}
			if r.Done {
				return nil, ErrDone
			}
			held := r.Lease != nil && r.Lease.Until.After(e.now())
			switch {
			case p.Seq > r.Seq+1:
				return nil, errWait
			case held && p.Seq > 0:
				return nil, errWait
			case held:
				return nil, ErrBusy
			case p.Seq == 0 && p.Offset != r.Offset, p.Seq > 0 && p.Offset >= 0 && p.Offset != r.Offset:
				return nil, &OffsetError{Got: p.Offset, Want: r.Offset}
			case p.Size >= 0 && r.Size >= 0 && p.Size != r.Size:
				return nil, fmt.Errorf("%w: %d declared, %d before", ErrSize, p.Size, r.Size)
			}
			a.wasDirty = r.Dirty
			r.Dirty = true
			r.Lease = &lease{Owner: a.owner, Until: e.now().Add(leaseTTL)}
			return json.Marshal(&r)
		})
		switch {
		case err == nil:
			a.renewed.Store(time.Now().UnixNano())
			return a, nil
		case errors.Is(err, errDuplicate):
			return a, nil
		case errors.Is(err, errWait):
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%w: piece %d waited for piece %d in vain", ErrBusy, p.Seq, p.Seq-1)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
			pause = min(2*pause, 500*time.Millisecond)
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrDone), errors.Is(err, ErrBusy), errors.Is(err, ErrSize):
			return nil, err
		default:
			var oe *OffsetError
			if errors.As(err, &oe) {
				return nil, err
			}
			return nil, stateErr(err)
		}
	}
}

var errDuplicate = errors.New("duplicate")

// repeat answers a piece whose Seq was appended before: the same bytes
// are a no-op, other bytes are refused.
func (e *Engine) repeat(r *record, p Piece) (Result, error) {
	var want *PieceInfo
	for i := range r.Pieces {
		if r.Pieces[i].Seq == p.Seq {
			want = &r.Pieces[i]
		}
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(p.Body, p.Length))
	if err != nil || n != p.Length {
		return Result{}, fmt.Errorf("%w: %d of %d bytes", ErrClientBody, n, p.Length)
	}
	if want == nil || want.Length != p.Length || string(want.SHA256) != string(h.Sum(nil)) {
		return Result{}, fmt.Errorf("%w (piece %d was sent before with other bytes)", ErrChanged, p.Seq)
	}
	return Result{Info: r.info(), Duplicate: true}, nil
}

// askKept asks the provider, after a piece failed part way, how much of
// the file it holds, so that the client may resume inside the piece; -1
// if it cannot tell within a couple of seconds (a provider may hold the
// upload locked a moment after the broken request).
func (a *appending) askKept(up Upstream) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for pause := 50 * time.Millisecond; ; pause *= 2 {
		if u, err := up.Offset(ctx, a.r.Stored); err == nil {
			return u
		}
		select {
		case <-ctx.Done():
			return -1
		case <-time.After(pause):
		}
	}
}

// release gives the lease up after a failed piece. The upload stays
// dirty, so the next piece asks the provider again what it kept. When
// the provider is known to hold kept bytes of the file, the client
// resumes from the first chunk the provider does not hold whole, inside
// the piece that failed (Graph's nextExpectedRanges inside a fragment, a
// tus HEAD inside a PATCH): what lies before it is stored, and that
// chunk's tag is recorded, so it can only be sealed again with the same
// plaintext.
func (a *appending) release(kept int64) {
	a.update(func(r *record) bool {
		if r.Lease == nil || r.Lease.Owner != a.owner {
			return false
		}
		r.Lease = nil
		if kept > r.Stored {
			r.Stored = kept
			if resume := r.chunkAt(kept) * crypto.ChunkSize; resume > r.Offset {
				r.Offset, r.CarryFrom, r.Carry = resume, resume, nil
			}
		}
		return true
	})
}

// update changes the upload's record if fn says so, giving up quietly
// (the record stays as it was) on any failure.
func (a *appending) update(fn func(r *record) bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.e.State.Update(ctx, a.key, a.e.ttl(), func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, nil
		}
		var r record
		if err := json.Unmarshal(old, &r); err != nil {
			return nil, err
		}
		if !fn(&r) {
			return old, nil
		}
		return json.Marshal(&r)
	})
}

// keepLease renews the lease every renewEvery until the returned func
// is called.
func (a *appending) keepLease() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(renewEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				a.renew()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// renew extends the lease, if the piece still holds it.
func (a *appending) renew() {
	ctx, cancel := context.WithTimeout(context.Background(), renewEvery)
	defer cancel()
	err := a.e.State.Update(ctx, a.key, a.e.ttl(), func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, ErrNotFound
		}
		var r record
		if err := json.Unmarshal(old, &r); err != nil {
			return nil, err
		}
		if r.Lease == nil || r.Lease.Owner != a.owner {
			return nil, errLeaseLost
		}
		r.Lease.Until = a.e.now().Add(leaseTTL)
		return json.Marshal(&r)
	})
	if err == nil {
		a.renewed.Store(time.Now().UnixNano())
	}
}

var errLeaseLost = fmt.Errorf("%w: the piece's lease on the upload was lost", ErrBusy)

// holdsLease reports whether the lease is surely still the piece's: it
// was renewed recently enough.
func (a *appending) holdsLease() bool {
	return time.Since(time.Unix(0, a.renewed.Load())) < leaseTTL-leaseMargin
}
