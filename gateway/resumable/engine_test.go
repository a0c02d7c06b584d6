package resumable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway/uploads"
)

// The provider in these tests is an offset-addressed store like a tus
// server: it takes bytes at its current end only, keeps what arrived of
// a request that broke off, and can insist on a granule. It stands in
// for the real servers the protocol adapters' tests drive.
type provider struct {
	mu       sync.Mutex
	data     []byte
	granule  int64
	maxSend  int64
	total    int64
	complete bool
	sends    int
	// breakAt, when > 0, makes the next send fail after that many bytes
	// (they are kept, unless the provider has a granule).
	breakAt int64
	// wire is everything that ever went out, by file offset: the same
	// offset must never carry two different bytes.
	wire map[int64]byte
}

type upstream struct{ p *provider }

func (u upstream) Send(_ context.Context, s Send) (any, error) {
	p := u.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Offset != int64(len(p.data)) {
		return nil, fmt.Errorf("send at %d, provider holds %d", s.Offset, len(p.data))
	}
	if p.granule > 1 && !s.Last && s.Length%p.granule != 0 {
		return nil, fmt.Errorf("send of %d bytes is not a multiple of %d", s.Length, p.granule)
	}
	if p.maxSend > 0 && s.Length > p.maxSend {
		return nil, fmt.Errorf("send of %d bytes is over %d", s.Length, p.maxSend)
	}
	if s.Total >= 0 {
		p.total = s.Total
	}
	p.sends++
	limit := s.Length
	broken := p.breakAt > 0 && p.breakAt < limit
	if broken {
		limit = p.breakAt
		p.breakAt = 0
	}
	b, err := io.ReadAll(io.LimitReader(s.Body, limit))
	for i, c := range b {
		off := s.Offset + int64(i)
		if old, ok := p.wire[off]; ok && old != c {
			panic(fmt.Sprintf("offset %d went out twice with different bytes", off))
		}
		p.wire[off] = c
	}
	// A granule provider (Graph) keeps only whole fragments.
	if !broken || p.granule <= 1 {
		p.data = append(p.data, b...)
	}
	if err != nil {
		return nil, err
	}
	if broken {
		return nil, errors.New("connection reset")
	}
	if s.Last {
		p.complete = true
	}
	return len(p.data), nil
}

func (u upstream) Offset(context.Context, int64) (int64, error) {
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	return int64(len(u.p.data)), nil
}

type testKeys struct{ id *crypto.Identity }

func (k testKeys) EncryptionKeys() (int, []age.Recipient, error) {
	return 1, []age.Recipient{k.id.Recipient()}, nil
}
func (k testKeys) DecryptionKeys() ([]age.Identity, error) { return []age.Identity{k.id}, nil }

type rig struct {
	t     *testing.T
	e     *Engine
	id    *crypto.Identity
	store uploads.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	st, err := uploads.OpenBolt(filepath.Join(t.TempDir(), "uploads.db"), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &rig{t: t, e: &Engine{State: st, Keys: testKeys{id}}, id: id, store: st}
}

func (g *rig) begin(o Options, p *provider) string {
	g.t.Helper()
	key := fmt.Sprintf("test/%d", rand.Int64())
	info, err := g.e.Begin(context.Background(), o, func(cs int64) (string, map[string]string, error) {
		p.total = cs
		return key, map[string]string{"upstream": "u1"}, nil
	})
	if err != nil {
		g.t.Fatal(err)
	}
	if o.Size >= 0 && info.CipherSize != int64(len(mustOpening(g, key)))+crypto.SealedSize(o.Size) {
		g.t.Fatalf("cipher size %d", info.CipherSize)
	}
	return key
}

func mustOpening(g *rig, key string) []byte {
	r, err := g.e.load(context.Background(), key)
	if err != nil {
		g.t.Fatal(err)
	}
	return r.Opening
}

func newProvider(granule, maxSend int64) *provider {
	return &provider{granule: granule, maxSend: maxSend, wire: map[int64]byte{}}
}

// decrypt opens what the provider holds with age itself.
func (g *rig) decrypt(p *provider) []byte {
	g.t.Helper()
	r, err := age.Decrypt(bytes.NewReader(p.data), g.id)
	if err != nil {
		g.t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		g.t.Fatalf("age: %v", err)
	}
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	r.Read(b)
	return b
}

// upload sends data in pieces of the given sizes (the last one takes the
// rest), with the size known or not.
func (g *rig) upload(key string, p *provider, data []byte, sizes []int, known bool) Info {
	g.t.Helper()
	off := 0
	var info Info
	for i := 0; off < len(data) || i == 0; i++ {
		n := len(data) - off
		if i < len(sizes) {
			n = min(sizes[i], n)
		}
		last := off+n == len(data)
		pc := Piece{Offset: int64(off), Length: int64(n), Body: bytes.NewReader(data[off : off+n]), Size: -1, Final: last && !known}
		res, err := g.e.Append(context.Background(), key, pc, upstream{p})
		if err != nil {
			g.t.Fatalf("piece %d at %d (+%d): %v", i, off, n, err)
		}
		off += n
		if res.Offset != int64(off) {
			g.t.Fatalf("after piece %d the client resumes at %d, want %d", i, res.Offset, off)
		}
		info = res.Info
		if last {
			break
		}
	}
	return info
}

func TestPiecesBecomeOneAgeFile(t *testing.T) {
	g := newRig(t)
	const k = crypto.ChunkSize
	cases := []struct {
		name    string
		size    int
		pieces  []int
		known   bool
		granule int64
		maxSend int64
	}{
		{"empty", 0, nil, true, 0, 0},
		{"empty unknown size", 0, nil, false, 0, 0},
		{"one byte", 1, nil, true, 0, 0},
		{"one chunk, size unknown", k, []int{k}, false, 0, 0},
		{"aligned pieces", 4 * k, []int{k, k, k, k}, true, 0, 0},
		{"aligned pieces, size unknown", 4 * k, []int{k, k, k, k}, false, 0, 0},
		{"5 000 001-byte pieces", 12_000_000, []int{5_000_001, 5_000_001}, true, 0, 0},
		{"1 MiB pieces, size unknown", 3<<20 + 17, []int{1 << 20, 1 << 20, 1 << 20}, false, 0, 0},
		{"tiny pieces", 3*k + 5, []int{1, 100, k - 101, 7, k, 3, k}, true, 0, 0},
		{"tiny pieces, size unknown", 3*k + 5, []int{1, 100, k - 101, 7, k, 3, k}, false, 0, 0},
		{"graph granule", 5_000_000, []int{327680, 1_000_000, 999_999, 2_000_000}, true, 327680, 0},
		{"graph granule and max send", 3_500_000, []int{3_400_000}, true, 327680, 2 * 327680},
		{"graph, under one granule", 100_000, []int{50_000}, true, 327680, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g.t = t
			data := randomBytes(tc.size)
			size := int64(tc.size)
			if !tc.known {
				size = -1
			}
			p := newProvider(tc.granule, tc.maxSend)
			key := g.begin(Options{Size: size, Granule: tc.granule, MaxSend: tc.maxSend}, p)
			info := g.upload(key, p, data, tc.pieces, tc.known)
			if !info.Done || !p.complete {
				t.Fatalf("upload not complete: %+v, provider complete %v", info, p.complete)
			}
			if info.CipherSize != int64(len(p.data)) || p.total != int64(len(p.data)) {
				t.Fatalf("cipher size %d, provider told %d, holds %d", info.CipherSize, p.total, len(p.data))
			}
			if got := g.decrypt(p); !bytes.Equal(got, data) {
				t.Fatalf("decrypted %d bytes, want %d (equal: %v)", len(got), len(data), bytes.Equal(got, data))
			}
			// Tags are gone once the file is complete.
			n := 0
			g.store.List(context.Background(), tagPrefix(key), func(string, []byte) error { n++; return nil })
			if n != 0 {
				t.Fatalf("%d tag records left after completion", n)
			}
		})
	}
}

func TestOffsetsAndSizes(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	p := newProvider(0, 0)
	data := randomBytes(200_000)
	key := g.begin(Options{Size: int64(len(data))}, p)
	piece := func(off, n int) Piece {
		return Piece{Offset: int64(off), Length: int64(n), Body: bytes.NewReader(data[off : off+n]), Size: -1}
	}
	if _, err := g.e.Append(ctx, key, piece(10, 10), upstream{p}); !errors.As(err, new(*OffsetError)) {
		t.Fatalf("piece at the wrong offset: %v", err)
	}
	if _, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: 300_000, Body: bytes.NewReader(make([]byte, 300_000)), Size: -1}, upstream{p}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("piece past the size: %v", err)
	}
	if _, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: 10, Body: bytes.NewReader(data[:10]), Size: 5}, upstream{p}); !errors.Is(err, ErrSize) {
		t.Fatalf("another size: %v", err)
	}
	if _, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: 10, Body: bytes.NewReader(data[:10]), Final: true, Size: -1}, upstream{p}); !errors.Is(err, ErrSize) {
		t.Fatalf("final piece short of the size: %v", err)
	}
	if _, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: 100, Body: bytes.NewReader(data[:50]), Size: -1}, upstream{p}); !errors.Is(err, ErrClientBody) {
		t.Fatalf("short body: %v", err)
	}
	if len(p.data) != 0 {
		t.Fatalf("refused pieces left %d bytes at the provider", len(p.data))
	}
	if _, err := g.e.Append(ctx, "test/none", piece(0, 1), upstream{p}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown upload: %v", err)
	}
	res, err := g.e.Append(ctx, key, piece(0, 100_000), upstream{p})
	if err != nil {
		t.Fatal(err)
	}
	st, err := g.e.Status(ctx, key)
	if err != nil || st.Offset != 100_000 || st.Stored != res.Stored || st.Meta["upstream"] != "u1" {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := g.e.Append(ctx, key, piece(100_000, 100_000), upstream{p}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.e.Append(ctx, key, piece(0, 1), upstream{p}); !errors.Is(err, ErrDone) {
		t.Fatalf("piece after completion: %v", err)
	}
	if got := g.decrypt(p); !bytes.Equal(got, data) {
		t.Fatal("decrypted file differs")
	}
	if err := g.e.Abort(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := g.e.Status(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("status after abort: %v", err)
	}
}

// A piece that breaks off part way leaves the provider holding some of
// it; the retry sends only the rest, and a retry with other bytes is
// refused before any of them leave.
func TestInterruptedPiece(t *testing.T) {
	for _, granule := range []int64{0, 327680} {
		t.Run(fmt.Sprint("granule ", granule), func(t *testing.T) {
			g := newRig(t)
			ctx := context.Background()
			p := newProvider(granule, 0)
			data := randomBytes(5_000_001)
			key := g.begin(Options{Size: int64(len(data)), Granule: granule}, p)
			piece := func(b []byte, off, n int) Piece {
				return Piece{Offset: int64(off), Length: int64(n), Body: bytes.NewReader(b[off : off+n]), Size: -1}
			}
			if _, err := g.e.Append(ctx, key, piece(data, 0, 1_000_003), upstream{p}); err != nil {
				t.Fatal(err)
			}
			// The provider breaks the next send after 700 000 bytes
			// (not on a chunk boundary) and keeps them.
			p.breakAt = 700_000
			if _, err := g.e.Append(ctx, key, piece(data, 1_000_003, 2_000_000), upstream{p}); err == nil {
				t.Fatal("broken send succeeded")
			}
			// The client resumes from the first chunk the provider does
			// not hold whole: inside the broken piece when the provider
			// kept part of it.
			p.mu.Lock()
			held := int64(len(p.data))
			p.mu.Unlock()
			want := int64(1_000_003)
			st, _ := g.e.Status(ctx, key)
			if granule == 0 {
				want = (held - st.HeaderSize - nonceSize) / encChunkSize * crypto.ChunkSize
				// (the engine asks the provider once the failed request
				// has let go)
				for deadline := time.Now().Add(5 * time.Second); st.Offset != want && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					st, _ = g.e.Status(ctx, key)
				}
			}
			if st.Offset != want || (granule == 0 && st.Stored != held) {
				t.Fatalf("after the failure the client resumes at %d (want %d), stored %d (provider holds %d)", st.Offset, want, st.Stored, held)
			}
			resume := int(st.Offset)
			// Other bytes where ciphertext already left (the chunk the
			// provider holds part of; a chunk sent but dropped):
			// refused, and the provider's wire check would panic had
			// they been sent.
			other := bytes.Clone(data)
			flip := resume + 10
			if granule > 0 {
				flip = 1_200_000
			}
			other[flip] ^= 1
			if _, err := g.e.Append(ctx, key, piece(other, resume, 2_000_000), upstream{p}); !errors.Is(err, ErrChanged) {
				t.Fatalf("changed retry: %v", err)
			}
			// A body that breaks off before anything leaves: nothing is
			// committed.
			broken := Piece{Offset: int64(resume), Length: 2_000_000, Body: io.MultiReader(bytes.NewReader(data[resume:resume+500_000]), iotestErr{}), Size: -1}
			if _, err := g.e.Append(ctx, key, broken, upstream{p}); !errors.Is(err, ErrClientBody) {
				t.Fatalf("broken body: %v", err)
			}
			if st2, _ := g.e.Status(ctx, key); st2.Offset != st.Offset {
				t.Fatalf("a body that broke off moved the offset %d → %d", st.Offset, st2.Offset)
			}
			g.upload2(key, p, data, resume, 3_000_000)
			if got := g.decrypt(p); !bytes.Equal(got, data) {
				t.Fatal("decrypted file differs")
			}
		})
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("client went away") }

func (g *rig) upload2(key string, p *provider, data []byte, from int, step int) {
	g.t.Helper()
	for off := from; off < len(data); off += step {
		n := min(step, len(data)-off)
		if _, err := g.e.Append(context.Background(), key, Piece{Offset: int64(off), Length: int64(n), Body: bytes.NewReader(data[off : off+n]), Size: -1}, upstream{p}); err != nil {
			g.t.Fatalf("piece at %d: %v", off, err)
		}
	}
}

// A gateway that dies mid-piece leaves its lease; once it runs out, the
// next piece asks the provider what it holds and goes on from there.
func TestLeaseOfADeadGateway(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	now := time.Now()
	g.e.Now = func() time.Time { return now }
	p := newProvider(0, 0)
	data := randomBytes(1_000_000)
	key := g.begin(Options{Size: -1}, p)
	// The dead gateway: it took the lease, recorded tags and sent part
	// of a piece, and never committed.
	a, err := g.e.acquire(ctx, key, Piece{Offset: 0, Length: 600_000, Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	p.breakAt = 300_001
	pr := Piece{Offset: 0, Length: 600_000, Body: bytes.NewReader(data[:600_000]), Size: -1}
	if _, err := a.run(ctx, pr, upstream{p}); err == nil {
		t.Fatal("broken send succeeded")
	}
	// (no release: the gateway died)
	if _, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: 600_000, Body: bytes.NewReader(data[:600_000]), Size: -1}, upstream{p}); !errors.Is(err, ErrBusy) {
		t.Fatalf("while the lease holds: %v", err)
	}
	now = now.Add(2 * leaseTTL)
	g.upload2(key, p, data[:600_000], 0, 600_000)
	if _, err := g.e.Append(ctx, key, Piece{Offset: 600_000, Length: 400_000, Body: bytes.NewReader(data[600_000:]), Final: true, Size: -1}, upstream{p}); err != nil {
		t.Fatal(err)
	}
	if got := g.decrypt(p); !bytes.Equal(got, data) {
		t.Fatal("decrypted file differs")
	}
}

// Pieces numbered like Nextcloud chunks may arrive in any order and at
// once; each waits for its predecessor. A repeat with the same bytes is
// a no-op, with other bytes refused.
func TestSequencedPieces(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	p := newProvider(0, 0)
	const chunk = 1_000_001
	data := randomBytes(7*chunk + 12345)
	key := g.begin(Options{Size: -1, Pieces: true}, p)
	n := (len(data) + chunk - 1) / chunk
	var wg sync.WaitGroup
	errs := make([]error, n)
	for _, i := range rand.Perm(n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := i * chunk
			end := min(off+chunk, len(data))
			_, errs[i] = g.e.Append(ctx, key, Piece{Seq: i + 1, Offset: -1, Length: int64(end - off), Body: bytes.NewReader(data[off:end]), Size: -1}, upstream{p})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("chunk %d: %v", i+1, err)
		}
	}
	res, err := g.e.Append(ctx, key, Piece{Seq: 3, Offset: -1, Length: chunk, Body: bytes.NewReader(data[2*chunk : 3*chunk]), Size: -1}, upstream{p})
	if err != nil || !res.Duplicate {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	other := bytes.Clone(data[2*chunk : 3*chunk])
	other[0] ^= 1
	if _, err := g.e.Append(ctx, key, Piece{Seq: 3, Offset: -1, Length: chunk, Body: bytes.NewReader(other), Size: -1}, upstream{p}); !errors.Is(err, ErrChanged) {
		t.Fatalf("changed repeat: %v", err)
	}
	st, _ := g.e.Status(ctx, key)
	if len(st.Pieces) != n || st.Pieces[2].Offset != 2*chunk || st.Pieces[2].Length != chunk {
		t.Fatalf("pieces %+v", st.Pieces)
	}
	if sum := sha256.Sum256(data[2*chunk : 3*chunk]); !bytes.Equal(st.Pieces[2].SHA256, sum[:]) {
		t.Fatal("piece digest")
	}
	// The end: an empty final piece seals what was held back.
	res, err = g.e.Append(ctx, key, Piece{Seq: n + 1, Offset: -1, Length: 0, Body: bytes.NewReader(nil), Final: true, Size: -1}, upstream{p})
	if err != nil || !res.Done {
		t.Fatalf("final: %+v %v", res, err)
	}
	if got := g.decrypt(p); !bytes.Equal(got, data) {
		t.Fatal("decrypted file differs")
	}
}

func TestCheckRunsBeforeTheEnd(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	p := newProvider(0, 0)
	data := randomBytes(300_000)
	key := g.begin(Options{Size: int64(len(data))}, p)
	bad := errors.New("checksum mismatch")
	_, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: int64(len(data)), Body: bytes.NewReader(data), Size: -1, Check: func() error { return bad }}, upstream{p})
	if !errors.Is(err, ErrCheck) || !errors.Is(err, bad) {
		t.Fatalf("failed check: %v", err)
	}
	if p.complete {
		t.Fatal("the file's end left despite the failed check")
	}
	called := false
	if _, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: int64(len(data)), Body: bytes.NewReader(data), Size: -1, Check: func() error { called = true; return nil }}, upstream{p}); err != nil || !called {
		t.Fatalf("retry: %v (check called: %v)", err, called)
	}
	if got := g.decrypt(p); !bytes.Equal(got, data) {
		t.Fatal("decrypted file differs")
	}
}

// A piece from a client slower than the lease lasts keeps its lease by
// renewing it; a piece whose lease was taken over stops sending.
func TestLeaseRenewal(t *testing.T) {
	ttl, every, margin := leaseTTL, renewEvery, leaseMargin
	leaseTTL, renewEvery, leaseMargin = 400*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { leaseTTL, renewEvery, leaseMargin = ttl, every, margin })
	g := newRig(t)
	ctx := context.Background()
	p := newProvider(0, 0)
	data := randomBytes(3 * sealBatch * crypto.ChunkSize / 2)
	key := g.begin(Options{Size: int64(len(data))}, p)
	slow := &slowReader{r: bytes.NewReader(data), every: len(data) / 8, pause: 200 * time.Millisecond}
	if _, err := g.e.Append(ctx, key, Piece{Offset: 0, Length: int64(len(data)), Body: slow, Size: -1}, upstream{p}); err != nil {
		t.Fatalf("a piece slower than its lease: %v", err)
	}
	if got := g.decrypt(p); !bytes.Equal(got, data) {
		t.Fatal("decrypted file differs")
	}

	// Another owner takes the lease in the middle of a piece (as a
	// gateway would once the first's renewals stopped reaching the
	// store): the first stops before its next batch leaves.
	p2 := newProvider(0, 0)
	key2 := g.begin(Options{Size: int64(len(data))}, p2)
	steal := func() {
		g.store.Update(ctx, key2, time.Hour, func(old []byte) ([]byte, error) {
			var r record
			if err := json.Unmarshal(old, &r); err != nil {
				return nil, err
			}
			r.Lease = &lease{Owner: "another gateway", Until: time.Now().Add(time.Hour)}
			return json.Marshal(&r)
		})
	}
	stolen := &slowReader{r: bytes.NewReader(data), every: sealBatch * crypto.ChunkSize, pause: leaseTTL, before: steal}
	if _, err := g.e.Append(ctx, key2, Piece{Offset: 0, Length: int64(len(data)), Body: stolen, Size: -1}, upstream{p2}); !errors.Is(err, ErrBusy) {
		t.Fatalf("a piece whose lease was taken: %v", err)
	}
	if int64(len(p2.data)) > g.cipherOf(key2, sealBatch*crypto.ChunkSize) {
		t.Fatalf("the provider got %d bytes after the lease was lost", len(p2.data))
	}
}

// cipherOf is the ciphertext size of the first n bytes of plaintext (whole
// chunks), header included.
func (g *rig) cipherOf(key string, n int64) int64 {
	return int64(len(mustOpening(g, key))) + n/crypto.ChunkSize*encChunkSize
}

// slowReader pauses after every `every` bytes (calling before first, once).
type slowReader struct {
	r      io.Reader
	every  int
	pause  time.Duration
	before func()
	n      int
}

func (s *slowReader) Read(b []byte) (int, error) {
	if s.n >= s.every {
		if s.before != nil {
			s.before()
			s.before = nil
		}
		time.Sleep(s.pause)
		s.n = 0
	}
	n, err := s.r.Read(b[:min(len(b), s.every-s.n)])
	s.n += n
	return n, err
}
