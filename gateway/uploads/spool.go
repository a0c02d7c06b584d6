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
}

// SpoolBlock is the size of the blocks pieces are stored in: one store
// value each.
const SpoolBlock = 256 << 10

// ErrSpoolFull is returned by [Spool.Put] when the upload's pieces would
// pass the limit given.
var ErrSpoolFull = errors.New("the upload is larger than the gateway holds for pseudonymization")

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
		s.ledger(bg, upload, func(l *spoolLedger) error { delete(l.Putting, p.Gen); return nil })
		return SpoolPiece{}, err
	}
	for block := 0; ; block++ {
		n, rerr := fill(r, buf)
		if n > 0 {
			err := s.ledger(ctx, upload, func(l *spoolLedger) error {
				if l.total()+int64(n) > max {
					return ErrSpoolFull
				}
				l.Putting[p.Gen] = spoolPutting{Bytes: p.Size + int64(n), Until: time.Now().Add(spoolPutTTL)}
				return nil
			})
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
	s.ledger(context.WithoutCancel(ctx), upload, func(l *spoolLedger) error {
		delete(l.Putting, p.Gen)
		l.Stored = max64(0, l.Stored+p.Size-old.Size)
		return nil
	})
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

// Delete forgets the upload's pieces.
func (s *Spool) Delete(ctx context.Context, upload string) error {
	if err := s.State.DeletePrefix(ctx, spoolIndex(upload)); err != nil {
		return err
	}
	if err := s.State.DeletePrefix(ctx, spoolBlocks(upload)); err != nil {
		return err
	}
	return s.State.DeletePrefix(ctx, spoolLedgerKey(upload))
}
