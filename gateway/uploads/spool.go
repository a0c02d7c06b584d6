package uploads

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Spool holds the pieces of an upload in a [Store] until the upload is
// whole, for files the gateway must read whole before anything of them
// leaves: an office document that a documents service pseudonymizes
// inside cannot be rewritten piece by piece, so its S3 parts, tus
// patches, Nextcloud chunks or Graph fragments are kept here, sealed like
// every other value of the store, and only the rewritten document goes
// upstream. Any piece may reach any gateway, so the pieces live in the
// shared store, not on the gateway's disk.
//
// A piece is named by the adapter (a part number, a chunk name, an
// offset: no personal data) and kept in blocks of [SpoolBlock] bytes; it
// counts only once it is stored whole ([Spool.Put] returned), so a piece
// cut off halfway is not there, and a piece put again replaces the old
// one at once.
type Spool struct {
	State Store
	// TTL is how long pieces are kept after they are put; default 7
	// days, the engine's upload lifetime.
	TTL time.Duration
	// Owner names who puts the pieces (gateway.User.Owner); OwnerMax,
	// when > 0, bounds what Owner holds spooled over all uploads together,
	// on every gateway: one user cannot fill the shared store with many
	// unfinished uploads each within its own bound.
	Owner    string
	OwnerMax int64
}

// SpoolBlock is the size of the blocks pieces are stored in: one store
// value each.
const SpoolBlock = 256 << 10

// ErrSpoolFull is returned by [Spool.Put] when the upload's pieces would
// pass the limit given.
var ErrSpoolFull = errors.New("the upload is larger than the gateway holds for pseudonymization")

// ErrOwnerFull is returned by [Spool.Put] when the owner's unfinished
// uploads together would pass [Spool.OwnerMax]. It wraps [ErrSpoolFull],
// so adapters answer both alike (413, the piece not kept).
var ErrOwnerFull = fmt.Errorf("%w: the user's unfinished uploads together are at the gateway's limit", ErrSpoolFull)

// SpoolPiece is a piece as [Spool.Pieces] lists it.
type SpoolPiece struct {
	Name   string `json:"-"`
	Size   int64  `json:"size"`
	SHA256 []byte `json:"sha256"`
	Gen    string `json:"gen"` // which blocks hold it: a piece put again writes new ones
}

func (s *Spool) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return 7 * 24 * time.Hour
}

// Keys: upload+"/s/i/"+piece is a piece's index entry, written last;
// upload+"/s/b/"+piece+"/"+gen+"/"+block its blocks.
func spoolIndex(upload string) string  { return upload + "/s/i/" }
func spoolBlocks(upload string) string { return upload + "/s/b/" }

func checkPieceName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("spool: bad piece name %q", name)
	}
	return nil
}

// Put stores a piece of the upload, read from r to its end, replacing a
// piece of the same name. max bounds the upload's pieces together, those
// stored and those being put at the same time on any gateway (each block
// is reserved in the upload's ledger before it is written): past it Put
// stops reading and returns [ErrSpoolFull], and nothing of the piece
// counts. A piece being replaced counts until its replacement is stored.
func (s *Spool) Put(ctx context.Context, upload, name string, r io.Reader, max int64) (SpoolPiece, error) {
	if err := checkPieceName(name); err != nil {
		return SpoolPiece{}, err
	}
	var g [8]byte
	rand.Read(g[:])
	p := SpoolPiece{Name: name, Gen: hex.EncodeToString(g[:])}
	prefix := spoolBlocks(upload) + name + "/" + p.Gen + "/"
	h := sha256.New()
	buf := make([]byte, SpoolBlock)
	fail := func(err error) (SpoolPiece, error) {
		// The blocks written so far belong to no index entry: drop them,
		// and their reservation.
		bg := context.WithoutCancel(ctx)
		s.State.DeletePrefix(bg, prefix)
		var total int64
		if s.ledger(bg, upload, func(l *spoolLedger) error { delete(l.Putting, p.Gen); total = l.total(); return nil }) == nil {
			s.account(bg, upload, total, false)
		}
		return SpoolPiece{}, err
	}
	for block := 0; ; block++ {
		n, rerr := fill(r, buf)
		if n > 0 {
			var total int64 // the upload's bytes, this block reserved
			err := s.ledger(ctx, upload, func(l *spoolLedger) error {
				if l.total()+int64(n) > max {
					return ErrSpoolFull
				}
				l.Putting[p.Gen] = spoolPutting{Bytes: p.Size + int64(n), Until: time.Now().Add(spoolPutTTL)}
				total = l.total()
				return nil
			})
			if err == nil {
				err = s.account(ctx, upload, total, true)
			}
			if err != nil {
				return fail(err)
			}
			h.Write(buf[:n])
			v := buf[:n]
			err = s.State.Update(ctx, fmt.Sprintf("%s%06d", prefix, block), s.ttl(), func([]byte) ([]byte, error) { return v, nil })
			if err != nil {
				return fail(err)
			}
			p.Size += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	p.SHA256 = h.Sum(nil)
	entry, _ := json.Marshal(p)
	var old SpoolPiece
	err := s.State.Update(ctx, spoolIndex(upload)+name, s.ttl(), func(prev []byte) ([]byte, error) {
		old = SpoolPiece{}
		if prev != nil {
			json.Unmarshal(prev, &old)
		}
		return entry, nil
	})
	if err != nil {
		return fail(err)
	}
	// The piece moves from the reservations to the stored total, less the
	// piece it replaced (whichever put was last, its blocks are dropped).
	var total int64
	if s.ledger(context.WithoutCancel(ctx), upload, func(l *spoolLedger) error {
		delete(l.Putting, p.Gen)
		l.Stored = max64(0, l.Stored+p.Size-old.Size)
		total = l.total()
		return nil
	}) == nil {
		s.account(context.WithoutCancel(ctx), upload, total, false)
	}
	if old.Gen != "" && old.Gen != p.Gen {
		s.State.DeletePrefix(context.WithoutCancel(ctx), spoolBlocks(upload)+name+"/"+old.Gen+"/")
	}
	return p, nil
}

// spoolPutTTL is how long a reservation of a put lasts without a new
// block: a gateway that died mid-piece frees its share of the bound.
const spoolPutTTL = 10 * time.Minute

// spoolLedger is an upload's account of its bytes: those of stored pieces
// and those being put, by the generation putting them.
type spoolLedger struct {
	Stored  int64                   `json:"stored"`
	Putting map[string]spoolPutting `json:"putting,omitempty"`
}

type spoolPutting struct {
	Bytes int64     `json:"bytes"`
	Until time.Time `json:"until"`
}

func (l *spoolLedger) total() int64 {
	n := l.Stored
	for _, p := range l.Putting {
		n += p.Bytes
	}
	return n
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func spoolLedgerKey(upload string) string { return upload + "/s/l" }

// ownerLedgerKey is where an owner's spooled bytes are counted, by a hash
// of the owner: no user name in a key.
func ownerLedgerKey(owner string) string {
	h := sha256.Sum256([]byte("sluss spool owner\x00" + owner))
	return "spool-owner/" + hex.EncodeToString(h[:16])
}

// ownerLedger is what an owner holds spooled: each unfinished upload's
// bytes (stored and being put), until the upload is deleted or its
// pieces lapse.
type ownerLedger struct {
	Uploads map[string]spoolPutting `json:"uploads"`
}

// account sets the upload's bytes in the owner's ledger to total. With
// check, it refuses ([ErrOwnerFull]) a total that would take the owner
// past OwnerMax; only growth is refused, so a cleanup always goes
// through. A piece being put again counts beside the one it replaces
// until it is stored, as in the upload's own ledger. Without OwnerMax it
// does nothing.
func (s *Spool) account(ctx context.Context, upload string, total int64, check bool) error {
	if s.OwnerMax <= 0 {
		return nil
	}
	err := s.updateAccount(ctx, upload, total, check)
	if errors.Is(err, ErrOwnerFull) && s.pruneAccount(ctx, upload) {
		err = s.updateAccount(ctx, upload, total, check)
	}
	return err
}

// pruneAccount drops from the owner's ledger the uploads that are gone:
// finished, aborted or expired uploads whose keys an adapter removed by
// prefix, without Delete. It reports whether it dropped any.
func (s *Spool) pruneAccount(ctx context.Context, upload string) bool {
	raw, err := s.State.Get(ctx, ownerLedgerKey(s.Owner))
	if err != nil {
		return false
	}
	var l ownerLedger
	if json.Unmarshal(raw, &l) != nil {
		return false
	}
	gone := map[string]bool{}
	for u := range l.Uploads {
		if u == upload {
			continue
		}
		if _, err := s.State.Get(ctx, spoolLedgerKey(u)); errors.Is(err, ErrNotFound) {
			gone[u] = true
		}
	}
	if len(gone) == 0 {
		return false
	}
	return s.State.Update(ctx, ownerLedgerKey(s.Owner), s.ttl(), func(old []byte) ([]byte, error) {
		var l ownerLedger
		if old == nil || json.Unmarshal(old, &l) != nil {
			return old, nil
		}
		for u := range gone {
			delete(l.Uploads, u)
		}
		return json.Marshal(l)
	}) == nil
}

func (s *Spool) updateAccount(ctx context.Context, upload string, total int64, check bool) error {
	return s.State.Update(ctx, ownerLedgerKey(s.Owner), s.ttl(), func(old []byte) ([]byte, error) {
		var l ownerLedger
		if old != nil {
			if err := json.Unmarshal(old, &l); err != nil {
				return nil, fmt.Errorf("spool: owner ledger: %w", err)
			}
		}
		if l.Uploads == nil {
			l.Uploads = map[string]spoolPutting{}
		}
		now := time.Now()
		var others int64
		for u, e := range l.Uploads {
			switch {
			case now.After(e.Until):
				delete(l.Uploads, u)
			case u != upload:
				others += e.Bytes
			}
		}
		if check && total > l.Uploads[upload].Bytes && others+total > s.OwnerMax {
			return nil, ErrOwnerFull
		}
		if total <= 0 {
			delete(l.Uploads, upload)
		} else {
			l.Uploads[upload] = spoolPutting{Bytes: total, Until: now.Add(s.ttl())}
		}
		return json.Marshal(l)
	})
}

// ledger changes the upload's ledger atomically with fn (reservations
// past their time dropped first).
func (s *Spool) ledger(ctx context.Context, upload string, fn func(*spoolLedger) error) error {
	return s.State.Update(ctx, spoolLedgerKey(upload), s.ttl(), func(old []byte) ([]byte, error) {
		var l spoolLedger
		if old != nil {
			if err := json.Unmarshal(old, &l); err != nil {
				return nil, fmt.Errorf("spool: ledger: %w", err)
			}
		}
		if l.Putting == nil {
			l.Putting = map[string]spoolPutting{}
		}
		now := time.Now()
		for g, p := range l.Putting {
			if now.After(p.Until) {
				delete(l.Putting, g)
			}
		}
		if err := fn(&l); err != nil {
			return nil, err
		}
		return json.Marshal(l)
	})
}

// fill reads into buf until it is full or r ends. Only io.EOF ends the
// piece: a body cut short (net/http's io.ErrUnexpectedEOF, a reset) is an
// error, never a shorter piece.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Pieces lists the upload's pieces, by name in byte order.
func (s *Spool) Pieces(ctx context.Context, upload string) ([]SpoolPiece, error) {
	var out []SpoolPiece
	prefix := spoolIndex(upload)
	err := s.State.List(ctx, prefix, func(key string, value []byte) error {
		var p SpoolPiece
		if err := json.Unmarshal(value, &p); err != nil {
			return fmt.Errorf("spool: piece entry: %w", err)
		}
		p.Name = strings.TrimPrefix(key, prefix)
		out = append(out, p)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Size is the sum of the upload's pieces.
func (s *Spool) Size(ctx context.Context, upload string) (int64, error) {
	pieces, err := s.Pieces(ctx, upload)
	var n int64
	for _, p := range pieces {
		n += p.Size
	}
	return n, err
}

// Open reads the pieces given (from [Spool.Pieces]), one after the
// other, block by block: memory does not grow with the upload. A piece
// whose blocks are gone or do not hash to what was recorded fails the
// read.
func (s *Spool) Open(ctx context.Context, upload string, pieces []SpoolPiece) io.Reader {
	return &spoolReader{ctx: ctx, s: s, upload: upload, pieces: pieces}
}

type spoolReader struct {
	ctx    context.Context
	s      *Spool
	upload string
	pieces []SpoolPiece
	block  int
	got    int64
	sum    interface {
		io.Writer
		Sum([]byte) []byte
	}
	buf []byte
}

func (r *spoolReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if len(r.pieces) == 0 {
			return 0, io.EOF
		}
		cur := &r.pieces[0]
		if r.sum == nil {
			r.sum = sha256.New()
		}
		if r.got == cur.Size {
			if string(r.sum.Sum(nil)) != string(cur.SHA256) {
				return 0, fmt.Errorf("spool: piece %s does not hash to what was stored", cur.Name)
			}
			r.pieces, r.block, r.got, r.sum = r.pieces[1:], 0, 0, nil
			continue
		}
		key := fmt.Sprintf("%s%s/%s/%06d", spoolBlocks(r.upload), cur.Name, cur.Gen, r.block)
		v, err := r.s.State.Get(r.ctx, key)
		if err != nil {
			return 0, fmt.Errorf("spool: piece %s: %w", cur.Name, err)
		}
		if len(v) == 0 || r.got+int64(len(v)) > cur.Size {
			return 0, fmt.Errorf("spool: piece %s is not as stored", cur.Name)
		}
		r.sum.Write(v)
		r.block++
		r.got += int64(len(v))
		r.buf = v
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Delete forgets the upload's pieces (and, with OwnerMax, takes them off
// the owner's account).
func (s *Spool) Delete(ctx context.Context, upload string) error {
	if err := s.account(ctx, upload, 0, false); err != nil {
		return err
	}
	if err := s.State.DeletePrefix(ctx, spoolIndex(upload)); err != nil {
		return err
	}
	if err := s.State.DeletePrefix(ctx, spoolBlocks(upload)); err != nil {
		return err
	}
	return s.State.DeletePrefix(ctx, spoolLedgerKey(upload))
}
