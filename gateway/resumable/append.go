package resumable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/sluss/sluss/crypto"
)

// run appends the piece under the lease: it works out what of the file
// can be sealed and sent now, streams it through up, and commits.
func (a *appending) run(ctx context.Context, p Piece, up Upstream) (Result, error) {
	r := a.r
	size := r.Size
	if size < 0 && p.Size >= 0 {
		size = p.Size
	}
	q := r.Offset + p.Length
	if size >= 0 && q > size {
		return Result{}, fmt.Errorf("%w: %d bytes past offset %d, size %d", ErrTooLarge, p.Length, r.Offset, size)
	}
	final := p.Final || (size >= 0 && q == size)
	if final {
		if size >= 0 && q != size {
			return Result{}, fmt.Errorf("%w: the last piece ends at %d of %d", ErrSize, q, size)
		}
		size = q
	}

	stored := r.Stored
	if a.wasDirty {
		u, err := up.Offset(ctx, r.Stored)
		if err != nil {
			return Result{}, fmt.Errorf("asking the provider how much it holds: %w", err)
		}
		if u < r.Stored {
			return Result{}, fmt.Errorf("%w (%d, acknowledged %d)", ErrProvider, u, r.Stored)
		}
		stored = u
	}

	// Chunks [first, sealTo) are sealed; the last whole chunk is held
	// back while the size is unknown, since it may be the final one.
	hdr := int64(len(r.Opening))
	first := r.CarryFrom / crypto.ChunkSize
	var sealTo, cipherEnd int64
	if final {
		sealTo = max(1, (q+crypto.ChunkSize-1)/crypto.ChunkSize)
		cipherEnd = hdr + crypto.SealedSize(q)
	} else {
		sealTo = q / crypto.ChunkSize
		if size < 0 && sealTo > 0 && q%crypto.ChunkSize == 0 {
			sealTo--
		}
		cipherEnd = hdr + sealTo*encChunkSize
	}
	total := r.cipherSize(size)
	sendFrom, sendEnd := stored, cipherEnd
	if !final && r.Granule > 1 {
		sendEnd = cipherEnd / r.Granule * r.Granule
	}
	if final && sendFrom > total {
		return Result{}, fmt.Errorf("%w: it holds %d bytes of a %d-byte file", ErrProvider, sendFrom, total)
	}
	sendEnd = max(sendEnd, sendFrom)
	keepFrom := max(first, min(r.chunkAt(sendEnd), sealTo))

	tags, err := a.loadTags(ctx)
	if err != nil {
		return Result{}, err
	}
	ids, err := a.e.Keys.DecryptionKeys()
	if err != nil {
		return Result{}, fmt.Errorf("no decryption key: %w", err)
	}
	pieces, err := crypto.OpenPieces(r.Opening, ids...)
	if err != nil {
		return Result{}, fmt.Errorf("the upload's header does not open with the region's keys: %w", err)
	}

	pr := &producer{
		a: a, ctx: ctx, r: r, pieces: pieces, tags: tags, check: p.Check,
		next: first, sealTo: sealTo, final: final, end: q,
		sendFrom: sendFrom, sendEnd: sendEnd, keepFrom: keepFrom,
	}
	pr.body = &countingReader{r: io.LimitReader(p.Body, p.Length)}
	var body io.Reader = pr.body
	if r.KeepPieces {
		pr.sum = sha256.New()
		body = io.TeeReader(body, pr.sum)
	}
	pr.src = io.MultiReader(bytes.NewReader(r.Carry), body)
	pr.bodyLen = p.Length
	pr.pos = hdr + first*encChunkSize
	if first == 0 {
		pr.pos, pr.opening = 0, true
	}
	pr.start()
	defer pr.stop()

	var reply any
	seq := r.Sends
	step := sendEnd - sendFrom
	if r.MaxSend > 0 {
		step = max(r.MaxSend/r.Granule*r.Granule, r.Granule)
	}
	for off := sendFrom; off < sendEnd || (final && off == total && seq == r.Sends); {
		n := min(sendEnd-off, step)
		seq++
		s := Send{Seq: seq, Offset: off, Length: n, Total: total, Last: final && off+n == total, Body: &emitter{p: pr, limit: off + n}}
		a.sent = true
		reply, err = up.Send(ctx, s)
		if pr.failed != nil {
			return Result{}, pr.failed
		}
		if err != nil {
			return Result{}, fmt.Errorf("sending to the provider: %w", err)
		}
		if pr.emitted() != off+n {
			return Result{}, fmt.Errorf("the provider's request took %d of %d bytes", pr.emitted()-off, n)
		}
		off += n
		stored = off
		if n == 0 {
			break
		}
	}
	if err := pr.drain(); err != nil {
		return Result{}, err
	}

	var info Info
	err = a.e.State.Update(ctx, a.key, a.e.ttl(), func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, ErrNotFound
		}
		var cur record
		if err := json.Unmarshal(old, &cur); err != nil {
			return nil, err
		}
		if cur.Lease == nil || cur.Lease.Owner != a.owner {
			return nil, fmt.Errorf("%w: the piece's lease was lost", ErrBusy)
		}
		if cur.KeepPieces {
			cur.Pieces = append(cur.Pieces, PieceInfo{Seq: p.Seq, Offset: cur.Offset, Length: p.Length, SHA256: pr.sum.Sum(nil)})
		}
		cur.Offset, cur.Size, cur.Stored, cur.Sends = q, size, stored, seq
		cur.CarryFrom, cur.Carry = keepFrom*crypto.ChunkSize, pr.kept
		if p.Seq > 0 {
			cur.Seq = p.Seq
		}
		cur.Dirty, cur.Lease, cur.Done = false, nil, final
		if final {
			cur.Carry = nil
		}
		info = cur.info()
		return json.Marshal(&cur)
	})
	if err != nil {
		return Result{}, stateErr(err)
	}
	// Tags below the carried chunks are never consulted again; they are
	// dropped with the file's end, or once enough of them have gathered
	// (one state write saved on most pieces).
	if final || a.tagRecords > maxTagRecords {
		a.pruneTags(ctx, keepFrom, final)
	}
	return Result{Info: info, Reply: reply}, nil
}

// Tags are kept in records of their own beside the upload's, one per
// batch: pairs of an 8-byte chunk index and the chunk's 16-byte tag.
const tagEntry = 8 + 16

// maxTagRecords is how many tag records may gather before a piece prunes
// them.
const maxTagRecords = 16

func (a *appending) loadTags(ctx context.Context) (map[int64][16]byte, error) {
	tags := map[int64][16]byte{}
	err := a.e.State.List(ctx, tagPrefix(a.key), func(_ string, v []byte) error {
		a.tagRecords++
		for ; len(v) >= tagEntry; v = v[tagEntry:] {
			tags[int64(binary.BigEndian.Uint64(v))] = [16]byte(v[8:tagEntry])
		}
		return nil
	})
	return tags, stateErr(err)
}

func (a *appending) recordTags(ctx context.Context, idx []int64, tags map[int64][16]byte) error {
	v := make([]byte, 0, len(idx)*tagEntry)
	for _, i := range idx {
		t := tags[i]
		v = binary.BigEndian.AppendUint64(v, uint64(i))
		v = append(v, t[:]...)
	}
	key := fmt.Sprintf("%s%012d", tagPrefix(a.key), idx[0])
	a.tagRecords++
	err := a.e.State.Update(ctx, key, a.e.ttl(), func([]byte) ([]byte, error) { return v, nil })
	return stateErr(err)
}

// pruneTags forgets the tags of chunks that will never be sealed again:
// those before the carried plaintext, or all once the file is complete.
// A failure leaves them to expire.
func (a *appending) pruneTags(ctx context.Context, keepFrom int64, all bool) {
	var stale []string
	live := 0
	_ = a.e.State.List(ctx, tagPrefix(a.key), func(k string, v []byte) error {
		last := int64(-1)
		for ; len(v) >= tagEntry; v = v[tagEntry:] {
			last = max(last, int64(binary.BigEndian.Uint64(v)))
		}
		if all || last < keepFrom {
			stale = append(stale, k)
		} else {
			live++
		}
		return nil
	})
	if live == 0 && len(stale) > 0 {
		_ = a.e.State.DeletePrefix(ctx, tagPrefix(a.key))
		return
	}
	for _, k := range stale {
		_ = a.e.State.Update(ctx, k, a.e.ttl(), func([]byte) ([]byte, error) { return nil, nil })
	}
}

// batchBuffers hold a batch of sealed chunks (sealed in place where
// their plaintext was read) and the file's opening.
var batchBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, sealBatch*encChunkSize+16<<10)
	return &b
}}

// producer turns the carried plaintext and the piece's body into the
// file's ciphertext from the first carried chunk on, a batch of chunks
// at a time, recording tags before a batch leaves.
type producer struct {
	a      *appending
	ctx    context.Context
	r      *record
	pieces *crypto.Pieces
	tags   map[int64][16]byte
	check  func() error

	src     io.Reader // carried plaintext, then the body
	body    *countingReader
	bodyLen int64
	sum     hash.Hash

	next, sealTo int64 // chunks still to seal
	final        bool
	end          int64 // plaintext offset the piece ends at
	readAll      bool
	opening      bool // the batch to come starts with the file's opening

	sendFrom, sendEnd int64 // ciphertext that leaves
	keepFrom          int64 // first chunk carried after the piece
	kept              []byte

	// The batches are made by a goroutine of their own (loop), one ahead
	// of the one being sent, so that reading and sealing the client's
	// next batch overlaps sending the last. Fields above this line and
	// err and done are the goroutine's until it has closed ready.
	err  error
	done bool

	ready    chan batch    // made batches, in order; closed after the last
	free     chan *[]byte  // buffers to make batches in
	quit     chan struct{} // closed when the piece gives up
	quitOnce sync.Once

	cur    *[]byte // the buffer of the batch being sent
	out    []byte  // ciphertext ready; out[0] sits at file offset pos
	pos    int64
	failed error // the error a batch came with
}

// batch is ciphertext ready to leave, in buf; or the error that stopped
// the making of batches.
type batch struct {
	out []byte
	buf *[]byte
	err error
}

var errGaveUp = errors.New("the piece gave up")

// batchesAhead is how many batch buffers a piece uses: one being sent,
// one being made.
const batchesAhead = 2

// start sets the goroutine making batches going.
func (p *producer) start() {
	p.ready = make(chan batch, 1)
	p.free = make(chan *[]byte, batchesAhead)
	p.quit = make(chan struct{})
	for range batchesAhead {
		p.free <- batchBuffers.Get().(*[]byte)
	}
	go p.loop()
}

func (p *producer) loop() {
	defer close(p.ready)
	defer p.reclaim()
	for {
		var buf *[]byte
		select {
		case buf = <-p.free:
		case <-p.quit:
			return
		}
		out, err := p.fill(buf)
		if errors.Is(err, io.EOF) {
			batchBuffers.Put(buf)
			if err := p.finishBody(); err != nil {
				p.hand(batch{err: err})
			}
			return
		}
		if !p.hand(batch{out: out, buf: buf, err: err}) {
			batchBuffers.Put(buf)
			return
		}
		if err != nil {
			return
		}
	}
}

// hand passes a batch on, unless the piece gave up.
func (p *producer) hand(b batch) bool {
	select {
	case p.ready <- b:
		return true
	case <-p.quit:
		return false
	}
}

// reclaim puts the buffers nobody will make batches in back in the pool.
func (p *producer) reclaim() {
	for {
		select {
		case b := <-p.free:
			batchBuffers.Put(b)
		default:
			return
		}
	}
}

// nextBatch takes the next batch to send; io.EOF after the last.
func (p *producer) nextBatch() error {
	if p.failed != nil {
		return p.failed
	}
	if p.cur != nil {
		p.free <- p.cur // never blocks: the channel holds every buffer
		p.cur = nil
	}
	b, ok := <-p.ready
	if !ok {
		return io.EOF
	}
	if b.err != nil {
		p.failed = b.err
		return b.err
	}
	p.out, p.cur = b.out, b.buf
	return nil
}

// stop ends the making of batches (if the piece gives up early) and
// gives the buffers back.
func (p *producer) stop() {
	p.quitOnce.Do(func() { close(p.quit) })
	if p.cur != nil {
		batchBuffers.Put(p.cur)
		p.cur = nil
	}
	p.reclaim()
}

// emitted is the file offset of the next byte to leave.
func (p *producer) emitted() int64 { return max(p.pos, p.sendFrom) }

func (p *producer) fail(err error) error {
	if p.err == nil {
		p.err = err
	}
	return p.err
}

// fill makes the next batch of ciphertext in buf.
func (p *producer) fill(buf *[]byte) ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.done {
		return nil, io.EOF
	}
	hdr := int64(len(p.r.Opening))
	out := (*buf)[:0]
	if p.opening {
		out, p.opening = append(out, p.r.Opening...), false
	}
	stop := min(p.next+sealBatch, p.sealTo)
	var fresh []int64
	for i := p.next; i < stop; i++ {
		// The chunk's plaintext is read where its ciphertext goes:
		// sealing in place.
		start := len(out)
		chunk := out[start : start+int(min(crypto.ChunkSize, p.end-i*crypto.ChunkSize))]
		if err := p.read(chunk); err != nil {
			return nil, err
		}
		if i >= p.keepFrom {
			p.kept = append(p.kept, chunk...)
		}
		var err error
		out, err = p.pieces.SealChunk(out, i, chunk, p.final && i == p.sealTo-1)
		if err != nil {
			return nil, p.fail(err)
		}
		tag := [16]byte(out[len(out)-16:])
		cs := hdr + i*encChunkSize
		ce := cs + int64(len(out)-start)
		if old, ok := p.tags[i]; ok {
			if old != tag {
				return nil, p.fail(fmt.Errorf("%w (chunk %d)", ErrChanged, i))
			}
		} else if ce > p.sendFrom && cs < p.sendEnd {
			p.tags[i] = tag
			fresh = append(fresh, i)
		}
	}
	p.next = stop
	if p.next == p.sealTo && !p.readAll {
		// The plaintext past the sealed chunks is carried; then the
		// body must be at its end.
		if rest := p.end - p.sealTo*crypto.ChunkSize; rest > 0 && !p.final {
			tail := make([]byte, rest)
			if err := p.read(tail); err != nil {
				return nil, err
			}
			p.kept = append(p.kept, tail...)
		}
		if err := p.finishBody(); err != nil {
			return nil, err
		}
	}
	if !p.a.holdsLease() {
		return nil, p.fail(errLeaseLost)
	}
	select {
	case <-p.quit:
		// The piece gave up: these chunks will not leave.
		return nil, p.fail(errGaveUp)
	default:
	}
	if len(fresh) > 0 {
		if err := p.a.recordTags(p.ctx, fresh, p.tags); err != nil {
			return nil, p.fail(err)
		}
	}
	if len(out) == 0 {
		p.done = true
		return nil, io.EOF
	}
	return out, nil
}

// read reads exactly len(b) bytes of plaintext.
func (p *producer) read(b []byte) error {
	if _, err := io.ReadFull(p.src, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return p.fail(fmt.Errorf("%w: %d of %d bytes", ErrClientBody, p.body.n, p.bodyLen))
		}
		return p.fail(fmt.Errorf("%w: %w", ErrClientBody, err))
	}
	return nil
}

// finishBody checks the body was read whole and runs the piece's check.
func (p *producer) finishBody() error {
	if p.readAll {
		return nil
	}
	p.readAll = true
	if p.body.n != p.bodyLen {
		return p.fail(fmt.Errorf("%w: %d of %d bytes", ErrClientBody, p.body.n, p.bodyLen))
	}
	if p.check != nil {
		if err := p.check(); err != nil {
			return p.fail(fmt.Errorf("%w: %w", ErrCheck, err))
		}
	}
	return nil
}

// readTo hands out ciphertext up to file offset limit, skipping what the
// provider already holds.
func (p *producer) readTo(b []byte, limit int64) (int, error) {
	for {
		if len(p.out) == 0 {
			if p.pos >= limit && p.pos >= p.sendFrom {
				return 0, io.EOF
			}
			if err := p.nextBatch(); err != nil {
				return 0, err
			}
			continue
		}
		if skip := p.sendFrom - p.pos; skip > 0 {
			k := min(skip, int64(len(p.out)))
			p.out, p.pos = p.out[k:], p.pos+k
			continue
		}
		if p.pos >= limit {
			return 0, io.EOF
		}
		n := copy(b[:min(int64(len(b)), limit-p.pos)], p.out)
		p.out, p.pos = p.out[n:], p.pos+int64(n)
		return n, nil
	}
}

// drain lets the batches left after the sends (chunks that stay
// carried) be made, which reads the body to its end; when it returns nil
// the goroutine is done.
func (p *producer) drain() error {
	for {
		p.pos += int64(len(p.out))
		p.out = nil
		if err := p.nextBatch(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// emitter is one send's body.
type emitter struct {
	p     *producer
	limit int64
}

func (e *emitter) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return e.p.readTo(b, e.limit)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
