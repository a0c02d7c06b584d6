package s3

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway/uploads"
)

// Multipart uploads become one age file. Part n of the client's upload
// covers plaintext from (n-1)·P, P being part 1's size, so its chunks are
// sealed with counters from (n-1)·P/64 KiB; part 1 also carries the age
// header. The file's last chunk must carry the final flag, but a full part
// does not say whether it is the last: so a full part that has no later
// part yet is sent upstream twice, as part 2n-1 (its last chunk not final)
// and as part 2n (final), and CompleteMultipartUpload keeps 2n-1 for every
// part but the last and 2n for the last. A short part can only be the
// last: it is sent once, as 2n.
//
// Sending other plaintext sealed at a chunk index already sent would
// reuse a nonce, so before a batch of sealed chunks is sent their tags are
// written to the part's state; a part sent again must match them chunk by
// chunk, or it is refused before its first differing chunk leaves.

const (
	// maxPartNumber is the largest client part number: each takes two
	// upstream part numbers of S3's 10 000.
	maxPartNumber = 5000
	uploadTTL     = 7 * 24 * time.Hour
	// partLease is how long a part being uploaded keeps others from
	// uploading it at the same time; renewed with every batch.
	partLease = 2 * time.Minute
	// sealBatch is how much plaintext is read, digested and recorded
	// before it is sealed and sent.
	sealBatch = 16 * crypto.ChunkSize
	// partSizeWait is how long a later part waits for part 1 to start, so
	// that its place in the file is known.
	partSizeWait = 20 * time.Second
)

type uploadRecord struct {
	Opening  []byte    `json:"opening"`
	Object   string    `json:"object"`
	PartSize int64     `json:"part_size"` // part 1's size; 0 until it starts
	Created  time.Time `json:"created"`
	// Document is the Content-Type of an office document pseudonymized
	// inside (documents.go): its parts are spooled, not sealed. Decided
	// when the upload is created, whatever later requests say.
	Document string `json:"document,omitempty"`
	// Owner is the gateway user who created a document upload: its parts
	// never reach the provider before Complete, so the provider's access
	// check does not guard them, and the gateway allows only the creator.
	Owner string `json:"owner,omitempty"`
}

type partRecord struct {
	Size      int64     `json:"size"`
	FinalOnly bool      `json:"final_only"` // a short part: sealed only as the file's end
	Digests   [][]byte  `json:"digests"`    // tags of the chunks, recorded before they were sent
	Lease     time.Time `json:"lease"`
	Done      bool      `json:"done"`
	MD5       string    `json:"md5"`
	ETagA     string    `json:"etag_a"` // upstream part 2n-1 (not final)
	ETagB     string    `json:"etag_b"` // upstream part 2n (final)
	Updated   time.Time `json:"updated"`
	SHA256    []byte    `json:"sha256,omitempty"` // a spooled part's, as the spool recorded it
}

func uploadKey(host, uploadID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(host) + "\x00" + uploadID))
	return "s3/up/" + hex.EncodeToString(sum[:20])
}

func partKey(up string, n int) string { return fmt.Sprintf("%s/p/%05d", up, n) }

var errNoSuchUpload = newError(http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted, completed or expired.")

func (c *call) loadUpload(uploadID string) (string, *uploadRecord, error) {
	key := uploadKey(c.req.URL.Host, uploadID)
	rec, err := c.readUpload(key)
	if err == nil && rec.Document != "" && (rec.Owner != c.x.User.Owner() || rec.Object != c.objectKey()) {
		// Someone else's document upload, or this one under another key:
		// the provider, which has seen none of its parts, cannot tell.
		return key, nil, errNoSuchUpload
	}
	return key, rec, err
}

func (c *call) readUpload(key string) (*uploadRecord, error) {
	v, err := c.s.a.State.Get(c.req.Context(), key)
	if errors.Is(err, uploads.ErrNotFound) {
		return nil, errNoSuchUpload
	}
	if err != nil {
		return nil, stateError(err)
	}
	var rec uploadRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, stateError(err)
	}
	return &rec, nil
}

func stateError(err error) *Error {
	return newError(http.StatusServiceUnavailable, "ServiceUnavailable", "the gateway's upload state is unavailable; nothing was stored").withCause(err)
}

func (c *call) parts(up string) (map[int]*partRecord, error) {
	parts := map[int]*partRecord{}
	err := c.s.a.State.List(c.req.Context(), up+"/p/", func(k string, v []byte) error {
		n, err := strconv.Atoi(k[strings.LastIndexByte(k, '/')+1:])
		if err != nil {
			return nil
		}
		var p partRecord
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		parts[n] = &p
		return nil
	})
	if err != nil {
		return nil, stateError(err)
	}
	return parts, nil
}

type initiateResult struct {
	UploadID string `xml:"UploadId"`
}

func (c *call) createMultipart() (*http.Response, error) {
	if _, err := c.readSmallBody(); err != nil {
		return nil, err
	}
	_, recipients, err := c.x.Keys.EncryptionKeys()
	if err != nil {
		return nil, keysUnavailable(err)
	}
	pieces, err := crypto.NewPieces(recipients...)
	if err != nil {
		return nil, InternalError(err)
	}
	out := c.outgoing(c.req.Context(), http.MethodPost)
	if err := c.sealMetadata(out.Header); err != nil {
		return nil, err
	}
	resp, doc, err := c.sendForXML(out, nil, "")
	if err != nil || doc == nil {
		return resp, err
	}
	var ir initiateResult
	if err := xml.Unmarshal(doc, &ir); err != nil || ir.UploadID == "" {
		return nil, newError(http.StatusBadGateway, "InternalError", "the storage service's answer to CreateMultipartUpload has no UploadId")
	}
	rec, _ := json.Marshal(uploadRecord{Opening: pieces.Opening(), Object: c.objectKey(), Created: c.s.a.now(), Document: c.documentType(), Owner: c.docOwner()})
	if err := c.s.a.State.Update(c.req.Context(), uploadKey(c.req.URL.Host, ir.UploadID), uploadTTL, func([]byte) ([]byte, error) { return rec, nil }); err != nil {
		return nil, stateError(err)
	}
	return replaceBody(resp, doc), nil
}

func (c *call) abortMultipart(uploadID string) (*http.Response, error) {
	if _, err := c.readSmallBody(); err != nil {
		return nil, err
	}
	resp, err := c.send(c.outgoing(c.req.Context(), http.MethodDelete), nil, 0, "", "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound {
		if err := c.s.a.State.DeletePrefix(c.req.Context(), uploadKey(c.req.URL.Host, uploadID)); err != nil {
			c.x.Log.Warn().Err(err).Msg("s3 upload state not removed")
		}
	}
	return c.plainResponse(resp), nil
}

// uploadPart seals one part where it sits in the file and sends it.
func (c *call) uploadPart(q url.Values) (*http.Response, error) {
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > maxDocumentPartNumber {
		return nil, newError(http.StatusBadRequest, "InvalidArgument", fmt.Sprintf("part number must be an integer between 1 and %d", maxDocumentPartNumber))
	}
	uploadID := q.Get("uploadId")
	up, rec, err := c.loadUpload(uploadID)
	if err != nil {
		return nil, err
	}
	if rec.Document != "" {
		return c.spoolPart(up, n)
	}
	if n > maxPartNumber {
		return nil, newError(http.StatusBadRequest, "InvalidArgument", fmt.Sprintf("part number must be an integer between 1 and %d through sluss", maxPartNumber))
	}
	size := DecodedLength(c.req)
	if size < 0 {
		return nil, errMissingLength
	}
	version, _, err := c.x.Keys.EncryptionKeys()
	if err != nil {
		return nil, keysUnavailable(err)
	}
	ids, err := c.x.Keys.DecryptionKeys()
	if err != nil {
		return nil, keysUnavailable(err)
	}
	pieces, err := crypto.OpenPieces(rec.Opening, ids...)
	if err != nil {
		return nil, InternalError(fmt.Errorf("upload state: %w", err))
	}
	partSize, err := c.partSize(up, rec, n, size)
	if err != nil {
		return nil, err
	}
	full := size > 0 && size%crypto.ChunkSize == 0 && (n == 1 || size == partSize)
	switch {
	case n > 1 && partSize%crypto.ChunkSize != 0:
		return nil, InvalidRequest(fmt.Sprintf("part 1 is %d bytes: through sluss, every part but the last must be a multiple of 64 KiB (65536 bytes)", partSize))
	case n > 1 && size > partSize:
		return nil, InvalidRequest(fmt.Sprintf("part %d is larger than part 1: every part but the last must be as large as part 1", n))
	case n > 1 && size == 0:
		return nil, InvalidRequest("only a single-part upload may have an empty part")
	case n == 1 && size != partSize:
		return nil, InvalidRequest("part 1 was begun with another size: abort the upload and start again")
	}
	prior, twin, err := c.startPart(up, n, size, full)
	if err != nil {
		return nil, err
	}
	active := c.s.a.active.start(up, n)
	defer active.done()

	d, err := newDigests(c.req.Header)
	if err != nil {
		c.releasePart(up, n)
		return nil, err
	}
	body, trailers, err := c.signed.Body(c.req)
	if err != nil {
		c.releasePart(up, n)
		return nil, err
	}
	plain := &checkedReader{r: body, d: d, trailers: trailers}
	job := &sealJob{
		c: c, pieces: pieces, up: up, n: n, size: size,
		first:  int64(n-1) * partSize / crypto.ChunkSize,
		prior:  prior,
		plain:  plain,
		sendA:  full,
		sendB:  twin || !full,
		active: active,
	}
	if n == 1 {
		job.opening = rec.Opening
	}
	etagA, etagB, resp, err := job.run(uploadID)
	if err != nil {
		c.releasePart(up, n)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.releasePart(up, n)
		return c.plainResponse(resp), nil
	}
	sum := d.etag()
	err = c.s.a.State.Update(c.req.Context(), partKey(up, n), uploadTTL, func(old []byte) ([]byte, error) {
		var p partRecord
		if old != nil {
			json.Unmarshal(old, &p)
		}
		p.Done, p.MD5, p.Lease, p.Updated = true, sum, time.Time{}, c.s.a.now()
		p.ETagA, p.ETagB = etagA, etagB
		return json.Marshal(p)
	})
	if err != nil {
		return nil, stateError(err)
	}
	c.x.Encrypted(version)
	resp.Header.Set("Etag", quote(sum))
	d.echo(resp.Header)
	return c.plainResponse(resp), nil
}

// partSize returns part 1's size, waiting a while for part 1 to start
// when a later part comes first.
func (c *call) partSize(up string, rec *uploadRecord, n int, size int64) (int64, error) {
	if n == 1 {
		var ps int64
		err := c.s.a.State.Update(c.req.Context(), up, uploadTTL, func(old []byte) ([]byte, error) {
			if old == nil {
				return nil, errNoSuchUpload
			}
			var rec uploadRecord
			if err := json.Unmarshal(old, &rec); err != nil {
				return nil, err
			}
			if rec.PartSize == 0 {
				rec.PartSize = size
			}
			ps = rec.PartSize
			return json.Marshal(rec)
		})
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return 0, e
			}
			return 0, stateError(err)
		}
		return ps, nil
	}
	deadline := time.Now().Add(partSizeWait)
	for {
		if rec.PartSize > 0 {
			return rec.PartSize, nil
		}
		if time.Now().After(deadline) {
			return 0, ErrSlowDown.withMessage("part 1 of this upload has not started yet, and the place of later parts depends on its size: send part 1 first, or retry")
		}
		select {
		case <-c.req.Context().Done():
			return 0, ErrorFrom(c.req.Context().Err())
		case <-time.After(50 * time.Millisecond):
		}
		var err error
		if rec, err = c.readUpload(up); err != nil {
			return 0, err
		}
	}
}

// startPart takes the part's lease and returns the chunk digests recorded
// by earlier attempts, and whether the part must also be sent as the
// file's end (no later part exists).
func (c *call) startPart(up string, n int, size int64, full bool) (prior [][]byte, twin bool, err error) {
	parts, err := c.parts(up)
	if err != nil {
		return nil, false, err
	}
	later := false
	for m, p := range parts {
		switch {
		case m > n:
			later = true
		case m < n && p.FinalOnly:
			return nil, false, InvalidRequest(fmt.Sprintf("part %d is shorter than part 1, so it must be the last: abort the upload and start again", m))
		}
	}
	if !full && later {
		return nil, false, InvalidRequest(fmt.Sprintf("part %d is shorter than part 1, but a later part exists: only the last part may be shorter", n))
	}
	now := c.s.a.now()
	err = c.s.a.State.Update(c.req.Context(), partKey(up, n), uploadTTL, func(old []byte) ([]byte, error) {
		var p partRecord
		if old != nil {
			if err := json.Unmarshal(old, &p); err != nil {
				return nil, err
			}
			if p.Lease.After(now) {
				return nil, ErrSlowDown.withMessage(fmt.Sprintf("part %d is being uploaded by another request: retry when it ends", n))
			}
			if p.Size != size {
				return nil, InvalidRequest(fmt.Sprintf("part %d was uploaded before with another size: an encrypted part can only be sent again with the same content; abort the upload and start again", n))
			}
		}
		p.Size, p.FinalOnly, p.Lease, p.Updated, p.Done = size, !full, now.Add(partLease), now, false
		prior = p.Digests
		return json.Marshal(p)
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, false, e
		}
		return nil, false, stateError(err)
	}
	return prior, full && !later, nil
}

// releasePart gives up the lease of a part whose upload failed; its
// recorded digests stay, so a retry must send the same content.
func (c *call) releasePart(up string, n int) {
	c.s.a.State.Update(c.req.Context(), partKey(up, n), uploadTTL, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, nil
		}
		var p partRecord
		if err := json.Unmarshal(old, &p); err != nil {
			return nil, err
		}
		p.Lease = time.Time{}
		return json.Marshal(p)
	})
}

var errAbandoned = errors.New("a later part started: this part is not the last")

// sealJob seals one part into the upstream bodies it is sent as.
type sealJob struct {
	c            *call
	pieces       *crypto.Pieces
	up           string
	n            int
	size         int64
	first        int64    // chunk index of the part's first chunk
	prior        [][]byte // digests recorded by earlier attempts
	plain        *checkedReader
	opening      []byte // part 1 only
	sendA, sendB bool
	active       *activePart
}

func (j *sealJob) run(uploadID string) (etagA, etagB string, resp *http.Response, err error) {
	sealed := crypto.SealedSize(j.size) + int64(len(j.opening))
	type result struct {
		resp *http.Response
		err  error
	}
	var pwA, pwB *io.PipeWriter
	var resA, resB chan result
	send := func(number int) (*io.PipeWriter, chan result) {
		pr, pw := io.Pipe()
		ch := make(chan result, 1)
		out := j.c.outgoing(j.c.req.Context(), http.MethodPut)
		q := out.URL.Query()
		q.Set("partNumber", strconv.Itoa(number))
		out.URL.RawQuery = q.Encode()
		go func() {
			r, err := j.c.send(out, pr, sealed, UnsignedPayload, "")
			pr.CloseWithError(errors.New("upstream request ended"))
			ch <- result{r, err}
		}()
		return pw, ch
	}
	if j.sendA {
		pwA, resA = send(2*j.n - 1)
	}
	if j.sendB {
		pwB, resB = send(2 * j.n)
	}
	sealErr := j.seal(pwA, pwB)
	abandoned := errors.Is(sealErr, errAbandoned)
	if abandoned {
		sealErr = nil
	}
	if pwA != nil {
		pwA.CloseWithError(orEOF(sealErr))
	}
	if pwB != nil && !abandoned {
		pwB.CloseWithError(orEOF(sealErr))
	}
	var ra, rb result
	if resA != nil {
		ra = <-resA
	}
	if resB != nil {
		rb = <-resB
	}
	if sealErr != nil {
		for _, r := range []result{ra, rb} {
			if r.resp != nil {
				r.resp.Body.Close()
			}
		}
		return "", "", nil, ErrorFrom(sealErr)
	}
	if abandoned && rb.resp != nil {
		rb.resp.Body.Close()
		rb = result{}
	}
	main := ra
	if !j.sendA {
		main = rb
	}
	if main.err != nil {
		return "", "", nil, main.err
	}
	if main.resp.StatusCode != http.StatusOK {
		return "", "", main.resp, nil
	}
	if j.sendA {
		etagA = unquote(ra.resp.Header.Get("Etag"))
	}
	if rb.resp != nil {
		if rb.resp.StatusCode == http.StatusOK {
			etagB = unquote(rb.resp.Header.Get("Etag"))
		}
		if j.sendA {
			rb.resp.Body.Close()
		}
	}
	if j.sendA && rb.err != nil && !abandoned {
		j.c.x.Log.Debug().Err(rb.err).Int("part", j.n).Msg("s3 final copy of a part not sent")
	}
	return etagA, etagB, main.resp, nil
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// seal reads the part batch by batch: digests recorded (or compared with
// an earlier attempt's), then chunks sealed and written to A (not final)
// and B (the last chunk final). The last batch is sealed only once the
// body ended and its digests held.
func (j *sealJob) seal(a, b *io.PipeWriter) error {
	chunks := max(1, (j.size+crypto.ChunkSize-1)/crypto.ChunkSize)
	if len(j.opening) > 0 {
		if err := writeBoth(a, b, j.opening); err != nil {
			return err
		}
	}
	buf := make([]byte, sealBatch)
	sealed := make([]byte, 0, crypto.SealedSize(sealBatch))
	var finalChunk []byte
	var done int64 // chunks sealed
	for done < chunks {
		want := min(int64(sealBatch), j.size-done*crypto.ChunkSize)
		m, err := io.ReadFull(j.plain, buf[:want])
		if err != nil && !(want == 0 && err == io.EOF) {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return ErrIncompleteBody
			}
			return err
		}
		batch := buf[:m]
		n := max(1, (int64(m)+crypto.ChunkSize-1)/crypto.ChunkSize)
		last := done+n == chunks
		if last {
			// The body must end here, and the client's digests hold,
			// before the end of the part is sealed.
			var one [1]byte
			if k, err := j.plain.Read(one[:]); k > 0 {
				return ErrIncompleteBody.withMessage("the body is longer than its declared length")
			} else if err != io.EOF {
				if err == nil {
					err = ErrIncompleteBody
				}
				return err
			}
		}
		// Seal the batch first, then record (or compare) its chunks' tags,
		// and only then send: a chunk whose tag differs from an earlier
		// attempt's holds other plaintext and never leaves.
		sealed = sealed[:0]
		for k := int64(0); k < n; k++ {
			chunk := batch[k*crypto.ChunkSize : min(int64(len(batch)), (k+1)*crypto.ChunkSize)]
			final := a == nil && last && k == n-1 // a short part is only ever the end
			if sealed, err = j.pieces.SealChunk(sealed, j.first+done+k, chunk, final); err != nil {
				return err
			}
		}
		if err := j.record(done, sealed, n); err != nil {
			return err
		}
		if a != nil {
			if _, err := a.Write(sealed); err != nil {
				return err
			}
		}
		if b != nil && j.sendA && j.active.abandoned() {
			b.CloseWithError(errAbandoned)
			b = nil
		}
		if b != nil {
			body := sealed
			if a != nil && last {
				// The final copy: the part's last chunk sealed as the end.
				lastStart := int64(len(sealed)) - (int64(len(batch)) - (n-1)*crypto.ChunkSize + tagSize)
				if _, err := b.Write(sealed[:lastStart]); err != nil {
					return err
				}
				if finalChunk, err = j.pieces.SealChunk(finalChunk[:0], j.first+done+n-1, batch[(n-1)*crypto.ChunkSize:], true); err != nil {
					return err
				}
				body = finalChunk
			}
			if _, err := b.Write(body); err != nil {
				return err
			}
		}
		done += n
	}
	if b == nil && j.sendB {
		return errAbandoned
	}
	return nil
}

func writeBoth(a, b io.Writer, p []byte) error {
	for _, w := range []io.Writer{a, b} {
		if w != nil && w != (*io.PipeWriter)(nil) {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
	}
	return nil
}

var errOtherContent = InvalidRequest("this part was uploaded before with other content: an encrypted part can only be sent again with the same content (a nonce is never reused); abort the upload and start again")

// tagSize is the Poly1305 tag that ends each sealed chunk.
const tagSize = 16

// record compares the tags of a batch's sealed chunks with an earlier
// attempt's and writes the new ones, before any of them is sent. The same
// chunk index sealed again gives the same tag only for the same
// plaintext, so the tags tell a retried part from other content.
func (j *sealJob) record(done int64, sealed []byte, n int64) error {
	var fresh [][]byte
	for k := int64(0); k < n; k++ {
		end := min(int64(len(sealed)), (k+1)*(crypto.ChunkSize+tagSize))
		tag := sealed[end-tagSize : end]
		if i := done + k; i < int64(len(j.prior)) {
			if !hmac.Equal(j.prior[i], tag) {
				return errOtherContent
			}
			continue
		}
		fresh = append(fresh, bytes.Clone(tag))
	}
	if len(fresh) == 0 {
		return nil
	}
	now := j.c.s.a.now()
	return j.c.s.a.State.Update(j.c.req.Context(), partKey(j.up, j.n), uploadTTL, func(old []byte) ([]byte, error) {
		var p partRecord
		if old != nil {
			if err := json.Unmarshal(old, &p); err != nil {
				return nil, err
			}
		}
		if int64(len(p.Digests)) != done+n-int64(len(fresh)) {
			// Someone else recorded this part meanwhile.
			return nil, ErrSlowDown.withMessage("this part is being uploaded by another request")
		}
		p.Digests = append(p.Digests, fresh...)
		p.Lease = now.Add(partLease)
		return json.Marshal(p)
	})
}

// activeParts knows, within this gateway, the highest part of each upload
// being sent, so that a part sent twice (as not final and final) stops its
// final copy as soon as a later part starts.
type activeParts struct {
	mu      sync.Mutex
	highest map[string]int
	count   map[string]int
}

func newActiveParts() *activeParts {
	return &activeParts{highest: map[string]int{}, count: map[string]int{}}
}

type activePart struct {
	a  *activeParts
	up string
	n  int
}

func (a *activeParts) start(up string, n int) *activePart {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.highest[up] = max(a.highest[up], n)
	a.count[up]++
	return &activePart{a, up, n}
}

func (p *activePart) abandoned() bool {
	p.a.mu.Lock()
	defer p.a.mu.Unlock()
	return p.a.highest[p.up] > p.n
}

func (p *activePart) done() {
	p.a.mu.Lock()
	defer p.a.mu.Unlock()
	if p.a.count[p.up]--; p.a.count[p.up] == 0 {
		delete(p.a.count, p.up)
		delete(p.a.highest, p.up)
	}
}

type completeRequest struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

// completeMultipart checks the client's part list against what was
// sealed and completes the upstream upload with the parts that make one
// age file.
func (c *call) completeMultipart(uploadID string) (*http.Response, error) {
	body, err := c.readSmallBody()
	if err != nil {
		return nil, err
	}
	var cr completeRequest
	if err := xml.Unmarshal(body, &cr); err != nil || len(cr.Parts) == 0 {
		return nil, newError(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	up, rec, err := c.loadUpload(uploadID)
	if err != nil {
		return nil, err
	}
	if rec.Document != "" {
		return c.completeDocument(up, rec, cr)
	}
	parts, err := c.parts(up)
	if err != nil {
		return nil, err
	}
	invalid := func(msg string) *Error { return newError(http.StatusBadRequest, "InvalidPart", msg) }
	var xmlOut bytes.Buffer
	xmlOut.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	md5s := md5.New()
	var total int64
	last := len(cr.Parts)
	for i, cp := range cr.Parts {
		n := i + 1
		if cp.PartNumber != n {
			return nil, invalid("through sluss, the parts of an upload must be numbered 1, 2, 3… without gaps, in order")
		}
		p := parts[n]
		if p == nil || !p.Done {
			return nil, invalid(fmt.Sprintf("part %d has not been uploaded", n))
		}
		if unquote(cp.ETag) != p.MD5 {
			return nil, invalid(fmt.Sprintf("part %d's ETag is not the one the part was uploaded with", n))
		}
		number, etag := 2*n-1, p.ETagA
		switch {
		case n < last && (p.FinalOnly || p.Size != rec.PartSize):
			return nil, invalid(fmt.Sprintf("part %d is shorter than part 1 but not the last", n))
		case n == last:
			number, etag = 2*n, p.ETagB
			if etag == "" {
				return nil, invalid(fmt.Sprintf("part %d was uploaded while a later part existed, so it was not sealed as the end of the file: upload part %d again", n, n))
			}
		}
		sum, _ := hex.DecodeString(p.MD5)
		md5s.Write(sum)
		total += p.Size
		fmt.Fprintf(&xmlOut, "<Part><PartNumber>%d</PartNumber><ETag>&quot;%s&quot;</ETag></Part>", number, etag)
	}
	xmlOut.WriteString(`</CompleteMultipartUpload>`)
	sum := sha256.Sum256(xmlOut.Bytes())
	out := c.outgoing(c.req.Context(), http.MethodPost)
	resp, doc, err := c.sendForXML(out, xmlOut.Bytes(), hex.EncodeToString(sum[:]))
	if err != nil || doc == nil {
		return resp, err
	}
	ct, ok := xmlValue(doc, "ETag")
	if !ok || bytes.Contains(doc, []byte("<Error>")) {
		return c.plainResponse(replaceBody(resp, doc)), nil
	}
	obj := objectRecord{CT: unquote(html(ct)), PT: fmt.Sprintf("%s-%d", hex.EncodeToString(md5s.Sum(nil)), last), Size: total, PartSize: rec.PartSize, Parts: last}
	if err := c.recordObject(rec.Object, obj); err != nil {
		c.x.Log.Warn().Err(err).Msg("s3 object record not written")
	}
	if err := c.s.a.State.DeletePrefix(c.req.Context(), up); err != nil {
		c.x.Log.Warn().Err(err).Msg("s3 upload state not removed")
	}
	doc = replaceXMLValue(doc, "ETag", "&quot;"+obj.PT+"&quot;")
	return c.plainResponse(replaceBody(resp, doc)), nil
}

type listPartsResult struct {
	XMLName  xml.Name `xml:"ListPartsResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
	MaxParts int      `xml:"MaxParts"`
	Truncate bool     `xml:"IsTruncated"`
	Parts    []listedPart
}

type listedPart struct {
	XMLName      xml.Name `xml:"Part"`
	PartNumber   int      `xml:"PartNumber"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
	Size         int64    `xml:"Size"`
}

// listParts answers from the upload state: the client's part numbers,
// sizes and ETags.
func (c *call) listParts(q url.Values) (*http.Response, error) {
	up, _, err := c.loadUpload(q.Get("uploadId"))
	if err != nil {
		return nil, err
	}
	parts, err := c.parts(up)
	if err != nil {
		return nil, err
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(c.req.URL.Path, "/"), "/")
	res := listPartsResult{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/", Bucket: bucket, Key: key, UploadID: q.Get("uploadId"), MaxParts: maxPartNumber}
	var numbers []int
	for n, p := range parts {
		if p.Done {
			numbers = append(numbers, n)
		}
	}
	sort.Ints(numbers)
	for _, n := range numbers {
		p := parts[n]
		res.Parts = append(res.Parts, listedPart{PartNumber: n, LastModified: p.Updated.UTC().Format("2006-01-02T15:04:05.000Z"), ETag: quote(p.MD5), Size: p.Size})
	}
	doc, err := xml.Marshal(res)
	if err != nil {
		return nil, InternalError(err)
	}
	return xmlResponse(c.req, http.StatusOK, doc), nil
}
