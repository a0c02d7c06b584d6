package tus

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/pseudonym/document"
)

// Document mode (a service with documents "true"): an upload whose
// metadata names an office document ([gateway.IsDocument] of its
// filename and filetype, decided at creation and kept in the upload's
// record, so a later request cannot switch modes) is created at the
// provider with a deferred length and nothing else. Its PATCH bodies are
// kept in the state store ([uploads.Spool], pieces named by their
// zero-padded offsets) and the client is answered the offsets spooled.
// When the spool reaches the Upload-Length, the document is read whole,
// pseudonymized inside ([gateway.Exchange.PseudonymizeDocument]) and sent
// to the provider from offset 0 with its new length; then the spool goes.
// A document that cannot be pseudonymized is refused with the refusal's
// status, and its upload removed at the provider (which holds nothing of
// it) and here: no byte of it ever leaves unpseudonymized.

// docRecord is the state of an upload in document mode.
type docRecord struct {
	URL    string `json:"url"`              // the provider's upload URL
	Size   int64  `json:"size"`             // the client's Upload-Length; -1 while deferred
	Offset int64  `json:"offset"`           // bytes spooled (the client's offset)
	Done   bool   `json:"done,omitempty"`   // the rewritten document is at the provider
	Stored int64  `json:"stored,omitempty"` // its size there
	// Owner is the gateway user who created the upload: its PATCHes never
	// reach the provider before the last, so the provider's access check
	// does not guard them, and the gateway allows only the creator.
	Owner string `json:"owner,omitempty"`
	// Lease: one request of the upload at a time (423 for another).
	Lease      string `json:"lease,omitempty"`
	LeaseUntil int64  `json:"lease_until,omitempty"` // unix seconds
}

// docLease bounds how long a request holds an upload: a gateway that
// died holding it does not block the upload longer.
const docLease = 10 * time.Minute

// maxDocumentSend bounds one PATCH of a rewritten document to the
// provider.
const maxDocumentSend = 16 << 20

// docKey is the record key of an upload in document mode (a digest of
// its URL, as for the engine's state); the spool's pieces live under it.
func docKey(u *url.URL) string {
	return keyPrefix + "doc/" + strings.TrimPrefix(stateKey(u), keyPrefix)
}

func (c *call) ttl() time.Duration {
	if c.a.TTL > 0 {
		return c.a.TTL
	}
	return 7 * 24 * time.Hour
}

func (c *call) spool() *uploads.Spool {
	return &uploads.Spool{State: c.a.State, TTL: c.ttl(), Owner: c.x.User.Owner(), OwnerMax: c.x.MaxSpoolBytesPerUser()}
}

// isDocumentUpload reports whether an upload with this Upload-Metadata
// is to be pseudonymized inside: by the filename and filetype that tusd
// also describes its download with.
func (c *call) isDocumentUpload(metadata string) (bool, error) {
	if !c.documents {
		return false, nil
	}
	pairs, err := parseMetadata(metadata)
	if err != nil {
		return false, err
	}
	var name, typ string
	for _, p := range pairs {
		switch p.key {
		case "filename":
			name = p.value
		case "filetype":
			typ = p.value
		}
	}
	return gateway.IsDocument(name, typ), nil
}

// docRecord loads the document-mode record of the upload the request
// names; ok is false for an upload that is not in document mode (or
// unknown).
func (c *call) docRecord() (string, docRecord, bool, error) {
	var rec docRecord
	if !c.documents {
		return "", rec, false, nil
	}
	key := docKey(c.uploadURL())
	v, err := c.a.State.Get(c.ctx(), key)
	if errors.Is(err, uploads.ErrNotFound) {
		return key, rec, false, nil
	}
	if err != nil {
		return key, rec, false, fmt.Errorf("%w: %w", errDocState, err)
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return key, rec, false, fmt.Errorf("%w: %w", errDocState, err)
	}
	if !rec.Done && rec.Owner != c.x.User.Owner() {
		// Someone else's, still in the spool. A finished one is at the
		// provider, which guards it as any other.
		return key, docRecord{}, false, errDocGone
	}
	return key, rec, true, nil
}

var errDocState = errors.New("the upload state store is unavailable")

// updateDoc changes the record at key under fn; fn returning nil deletes
// it.
func (c *call) updateDoc(ctx context.Context, key string, fn func(rec *docRecord) (*docRecord, error)) (docRecord, error) {
	var out docRecord
	err := c.a.State.Update(ctx, key, c.ttl(), func(old []byte) ([]byte, error) {
		var rec docRecord
		if old == nil {
			return nil, errDocGone
		}
		if err := json.Unmarshal(old, &rec); err != nil {
			return nil, err
		}
		next, err := fn(&rec)
		if err != nil || next == nil {
			return nil, err
		}
		out = *next
		return json.Marshal(next)
	})
	var e *Error
	if err != nil && !errors.Is(err, errDocGone) && !errors.As(err, &e) {
		err = fmt.Errorf("%w: %w", errDocState, err)
	}
	return out, err
}

var errDocGone = &Error{Status: http.StatusNotFound, Msg: "the gateway knows no such upload (unknown, terminated or expired): create a new one"}

// lease takes the upload for this request, or answers 423.
func (c *call) lease(key string) (string, docRecord, error) {
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	rec, err := c.updateDoc(c.ctx(), key, func(rec *docRecord) (*docRecord, error) {
		if rec.Lease != "" && now.Unix() < rec.LeaseUntil {
			return nil, &Error{Status: http.StatusLocked, Msg: "another request of this upload is in progress; retry when it has finished"}
		}
		rec.Lease, rec.LeaseUntil = id, now.Add(docLease).Unix()
		return rec, nil
	})
	return id, rec, err
}

// release gives the upload back, setting it to rec unless rec is nil.
func (c *call) release(key, id string, set func(rec *docRecord)) error {
	_, err := c.updateDoc(context.WithoutCancel(c.ctx()), key, func(rec *docRecord) (*docRecord, error) {
		if rec.Lease != id {
			return nil, &Error{Status: http.StatusConflict, Msg: "the upload was taken over by another request while this one ran (it took too long); HEAD the upload and resume"}
		}
		if set != nil {
			set(rec)
		}
		rec.Lease, rec.LeaseUntil = "", 0
		return rec, nil
	})
	return err
}

// createDocument is creation in document mode: the upload is made at the
// provider with a deferred length (the rewritten document's size is known
// only at the end), then a body sent with the creation is spooled like a
// PATCH.
func (c *call) createDocument(size int64, b *body, meta string) (*http.Response, error) {
	if c.x.Pseudonymizer == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Msg: "pseudonymization is not available on this gateway, so nothing was sent"}
	}
	if size > c.x.MaxDocumentBytes() {
		return nil, tooLarge()
	}
	if err := c.probeState(); err != nil {
		return nil, err
	}
	out := c.request(c.ctx(), http.MethodPost, c.req.URL, nil, 0)
	out.Header.Set("Upload-Defer-Length", "1")
	if meta != "" {
		out.Header.Set("Upload-Metadata", meta)
	}
	resp, answer, err := c.roundTrip(out)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return c.passOn(resp, answer), nil
	}
	location := resp.Header.Get("Location")
	u, err := c.req.URL.Parse(location)
	if err != nil || location == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &Error{Status: http.StatusBadGateway, Msg: "the provider created the upload without a usable Location"}
	}
	key := docKey(u)
	rec, _ := json.Marshal(docRecord{URL: u.String(), Size: size, Owner: c.x.User.Owner()})
	if err := c.a.State.Update(c.ctx(), key, c.ttl(), func([]byte) ([]byte, error) { return rec, nil }); err != nil {
		// Nobody could continue it: it goes (it holds nothing).
		c.roundTrip(c.request(context.WithoutCancel(c.ctx()), http.MethodDelete, u, nil, 0))
		return nil, fmt.Errorf("%w: %w", errDocState, err)
	}
	h := http.Header{"Location": {location}}
	keep(h, resp.Header, "Upload-Expires")
	if b.n > 0 || size == 0 {
		offset, err := c.appendDocument(key, u, 0, -1, b)
		if err != nil {
			// The client gets no Location with the error, so nobody
			// could resume or terminate the upload: it goes now (a
			// second drop after a refusal that dropped it is harmless).
			return nil, c.dropDocument(key, u, err)
		}
		h.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	}
	return c.reply(http.StatusCreated, h), nil
}

// patchDocument is a PATCH of an upload in document mode.
func (c *call) patchDocument(key string, rec docRecord, offset, size int64, b *body) (*http.Response, error) {
	if rec.Done && b.n == 0 && offset == rec.Offset {
		return c.reply(http.StatusNoContent, http.Header{"Upload-Offset": {strconv.FormatInt(rec.Offset, 10)}}), nil
	}
	u, err := url.Parse(rec.URL)
	if err != nil || rec.URL == "" {
		return nil, &Error{Status: http.StatusInternalServerError, Msg: "the upload's state has no provider URL"}
	}
	n, err := c.appendDocument(key, u, offset, size, b)
	if err != nil {
		return nil, err
	}
	return c.reply(http.StatusNoContent, http.Header{"Upload-Offset": {strconv.FormatInt(n, 10)}}), nil
}

// appendDocument spools a piece at offset (size: the Upload-Length the
// request declares, -1 none) and, when the piece completes the upload,
// sends the pseudonymized document. It returns the client's new offset.
func (c *call) appendDocument(key string, u *url.URL, offset, size int64, b *body) (int64, error) {
	id, rec, err := c.lease(key)
	if err != nil {
		return 0, err
	}
	var set func(*docRecord) // what the piece changed, once it is kept
	defer func() { c.release(key, id, set) }()
	max := c.x.MaxDocumentBytes()
	switch {
	case rec.Done:
		return 0, &Error{Status: http.StatusConflict, Msg: "the upload is complete and takes no more bytes"}
	case size >= 0 && rec.Size >= 0 && size != rec.Size:
		return 0, &Error{Status: http.StatusBadRequest, Msg: "Upload-Length does not match the upload's length"}
	case size > max:
		return 0, c.dropDocument(key, u, tooLarge())
	case offset != rec.Offset:
		return 0, &Error{Status: http.StatusConflict, Msg: "Upload-Offset is not the upload's offset " + strconv.FormatInt(rec.Offset, 10) + "; nothing was stored (HEAD the upload and resume from its offset)"}
	}
	total := rec.Size
	if total < 0 {
		total = size
	}
	if total >= 0 && offset+b.n > total {
		return 0, &Error{Status: http.StatusRequestEntityTooLarge, Msg: "the body goes past the upload's Upload-Length"}
	}
	if b.n > 0 {
		r := b.r
		if offset == 0 {
			// A file named as a document that is no zip is refused at
			// its first piece rather than held to the end.
			br := bufio.NewReaderSize(r, 512)
			head, _ := br.Peek(4)
			if !document.IsZip(head) {
				return 0, c.dropDocument(key, u, &Error{Status: http.StatusBadRequest, Msg: "the upload is named as an office document but is not one, so nothing was sent"})
			}
			r = br
		}
		p, err := c.spool().Put(c.ctx(), key, fmt.Sprintf("%012d", offset), io.LimitReader(r, b.n), max)
		switch {
		case errors.Is(err, uploads.ErrOwnerFull):
			// The upload keeps what it has: HEAD gives its offset.
			return 0, &Error{Status: http.StatusRequestEntityTooLarge, Msg: "your unfinished document uploads already hold what the gateway keeps for one user (limits.max_spool_bytes_per_user): finish or abort one, then send this piece again; nothing of it was kept"}
		case errors.Is(err, uploads.ErrSpoolFull):
			return 0, c.dropDocument(key, u, tooLarge())
		case err != nil && c.ctx().Err() != nil:
			return 0, &Error{Status: http.StatusBadRequest, Msg: "the request was cancelled; nothing of this piece was kept (HEAD the upload for its offset)", Cause: err}
		case err != nil:
			return 0, &Error{Status: http.StatusServiceUnavailable, Msg: "the piece could not be kept in the upload state store (or its body broke); nothing of it was kept: HEAD the upload and resume", Cause: err}
		case p.Size != b.n:
			return 0, &Error{Status: http.StatusBadRequest, Msg: "the request body ended before its Content-Length; nothing of this piece was kept (HEAD the upload for its offset)"}
		}
		if b.check != nil {
			if err := b.check(); err != nil {
				// The piece stays spooled under its offset's name, but
				// the offset does not move: the retry replaces it.
				return 0, &Error{Status: statusChecksumMismatch, Msg: "Upload-Checksum does not match the body; the piece was not stored", Cause: err}
			}
		}
	}
	end := offset + b.n
	if total < 0 || end < total {
		set = func(r *docRecord) { r.Offset, r.Size = end, total }
		return end, nil
	}
	stored, err := c.sendDocument(key, u, total)
	if err != nil {
		return 0, err
	}
	set = func(r *docRecord) { r.Offset, r.Size, r.Done, r.Stored = end, total, true, stored }
	return end, nil
}

// sendDocument reads the spool whole, pseudonymizes it and sends it to
// the provider. A refusal drops the upload; the spool goes once the
// document is at the provider.
func (c *call) sendDocument(key string, u *url.URL, total int64) (int64, error) {
	sp := c.spool()
	pieces, err := sp.Pieces(c.ctx(), key)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errDocState, err)
	}
	// The pieces must follow each other to the end: named by their
	// offsets, each where the one before ended.
	var at int64
	var use []uploads.SpoolPiece
	for _, p := range pieces {
		if p.Name != fmt.Sprintf("%012d", at) {
			break
		}
		use = append(use, p)
		at += p.Size
	}
	if at != total {
		return 0, c.dropDocument(key, u, &Error{Status: http.StatusConflict, Msg: "the gateway does not hold the whole upload as it was recorded; start a new upload"})
	}
	doc, err := c.x.PseudonymizeDocument(c.ctx(), sp.Open(c.ctx(), key, use))
	if err != nil {
		var re *gateway.RefusedError
		if errors.As(err, &re) && re.Status/100 == 4 {
			return 0, c.dropDocument(key, u, err)
		}
		// The store or the pseudonymizer failed: the spool is kept, and
		// a retry of the last piece tries again.
		return 0, err
	}
	defer doc.Close()
	if err := c.sendRewritten(u, doc.Size(), doc.Reader()); err != nil {
		// The provider holds a part of the pseudonymized document at
		// most: the upload cannot be resumed there.
		return 0, c.dropDocument(key, u, &Error{Status: http.StatusBadGateway, Msg: "the pseudonymized document could not be stored at the provider; start a new upload", Cause: err})
	}
	if err := sp.Delete(context.WithoutCancel(c.ctx()), key); err != nil {
		c.x.Log.Debug().Err(err).Msg("tus document: spool not removed (it expires)")
	}
	return doc.Size(), nil
}

// sendRewritten PATCHes the rewritten document to the provider's
// deferred-length upload from offset 0, declaring its length with the
// first request.
func (c *call) sendRewritten(u *url.URL, size int64, r io.Reader) error {
	for off := int64(0); off < size || off == 0; {
		n := min(size-off, maxDocumentSend)
		out := c.request(c.ctx(), http.MethodPatch, u, io.LimitReader(r, n), n)
		out.Header.Set("Content-Type", offsetOctet)
		out.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		if off == 0 {
			out.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
		}
		resp, _, err := c.roundTrip(out)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
			return &statusErr{method: "PATCH", status: resp.StatusCode}
		}
		if got, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); err != nil || got != off+n {
			return errNoOffset
		}
		off += n
		if size == 0 {
			break
		}
	}
	return nil
}

// dropDocument ends an upload that cannot complete (refused, too
// large): the provider's upload, which holds nothing of the document
// unpseudonymized, the spool and the record go. It returns refusal.
func (c *call) dropDocument(key string, u *url.URL, refusal error) error {
	ctx := context.WithoutCancel(c.ctx())
	if resp, _, err := c.roundTrip(c.request(ctx, http.MethodDelete, u, nil, 0)); err != nil || resp.StatusCode/100 != 2 {
		c.x.Log.Debug().Msg("tus document: the provider's upload not terminated (it holds no plaintext)")
	}
	if err := c.spool().Delete(ctx, key); err != nil {
		c.x.Log.Debug().Err(err).Msg("tus document: spool not removed (it expires)")
	}
	c.a.State.Update(ctx, key, c.ttl(), func([]byte) ([]byte, error) { return nil, nil })
	return refusal
}

func tooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Msg: "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so nothing was sent"}
}

// headDocument answers HEAD of an upload in document mode: the client's
// offset and length, the provider asked for whether it still has the
// upload and for its metadata.
func (c *call) headDocument(rec docRecord) (*http.Response, error) {
	resp, body, err := c.roundTrip(c.request(c.ctx(), http.MethodHead, c.uploadURL(), nil, 0))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return c.passOn(resp, body), nil
	}
	h := http.Header{"Cache-Control": {"no-store"}}
	keep(h, resp.Header, "Upload-Expires")
	h.Set("Upload-Offset", strconv.FormatInt(rec.Offset, 10))
	if rec.Size >= 0 {
		h.Set("Upload-Length", strconv.FormatInt(rec.Size, 10))
	} else {
		h.Set("Upload-Defer-Length", "1")
	}
	if m := resp.Header.Get("Upload-Metadata"); m != "" {
		h.Set("Upload-Metadata", c.reidentifyMetadata(m))
	}
	return c.reply(http.StatusOK, h), nil
}

// terminateDocument is termination in document mode: the provider's
// upload, then the spool and the record.
func (c *call) terminateDocument(key string) (*http.Response, error) {
	resp, body, err := c.roundTrip(c.request(c.ctx(), http.MethodDelete, c.uploadURL(), nil, 0))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		ctx := context.WithoutCancel(c.ctx())
		if err := c.spool().Delete(ctx, key); err != nil {
			c.x.Log.Debug().Err(err).Msg("tus termination: spool not removed (it expires)")
		}
		c.a.State.Update(ctx, key, c.ttl(), func([]byte) ([]byte, error) { return nil, nil })
	}
	return c.passOn(resp, body), nil
}
