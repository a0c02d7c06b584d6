package nextcloud

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/pseudonym/document"
)

// documentRules turns the webdav rules into those of a service whose
// office documents are pseudonymized inside: whole uploads and downloads
// get the documents profile's transformers, the WebDAV methods and
// listings stay webdav's.
func documentRules(webdav []gateway.Rule) ([]gateway.Rule, error) {
	docs, err := gateway.ProfileRules("documents")
	if err != nil {
		return nil, err
	}
	var upload, read *gateway.Rule
	for i := range docs {
		switch {
		case slices.Contains(docs[i].Methods, http.MethodPut):
			upload = &docs[i]
		case slices.Contains(docs[i].Methods, http.MethodGet):
			read = &docs[i]
		}
	}
	if upload == nil || read == nil {
		return nil, errors.New("the documents profile has no upload or read rule")
	}
	out := slices.Clone(webdav)
	for i := range out {
		switch {
		case slices.Contains(out[i].Methods, http.MethodPut):
			out[i].Request = slices.Clone(upload.Request)
			out[i].Response = slices.Clone(upload.Response)
		case slices.Contains(out[i].Methods, http.MethodGet):
			out[i].Response = slices.Clone(read.Response)
		}
	}
	return out, nil
}

// An upload's mode, kept in the upload state once decided: a document's
// chunks are spooled, a file's encrypted. An upload that names no file
// when it begins (the desktop client's: its file is named by the final
// MOVE only) and is no larger than a document may be is pending: its
// chunks are spooled too, and the MOVE's destination decides whether
// they are pseudonymized as a document or encrypted as a file.
const (
	modeDocument = "document"
	modeFile     = "file"
	modePending  = "pending"
)

// sendChunk is the size of the chunks a pseudonymized document is
// stored upstream in: above the 5 MiB that Nextcloud on S3 storage needs
// of every chunk but the last, below the servers' usual upload limits.
const sendChunk = 10 << 20

var errOwnerSpoolFull = refusal(http.StatusRequestEntityTooLarge, "your unfinished document uploads already hold what the gateway keeps for one user (limits.max_spool_bytes_per_user): finish or abort one, then send this piece again; nothing of it was kept", nil)

var errDocumentTooLarge = refusal(http.StatusRequestEntityTooLarge, "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so nothing of it was sent", nil)

func (c *call) modeKey() string { return c.key + "/mode" }

// docKey is the upload's name in the spool.
func (c *call) docKey() string { return c.key + "/doc" }

func (c *call) spool() *uploads.Spool {
	return &uploads.Spool{State: c.a.State, TTL: c.ttl(), Owner: c.x.User.Owner(), OwnerMax: c.x.MaxSpoolBytesPerUser()}
}

func (c *call) ttl() time.Duration {
	if c.a.TTL > 0 {
		return c.a.TTL
	}
	return 7 * 24 * time.Hour
}

func stateError(err error) error {
	if errors.Is(err, resumable.ErrState) {
		return err
	}
	return fmt.Errorf("%w: %w", resumable.ErrState, err)
}

// namesDocument says whether a Destination header names an office
// document (by its extension: chunked uploads declare no type).
func namesDocument(dest string) bool {
	if dest == "" {
		return false
	}
	u, err := url.Parse(dest)
	if err != nil {
		return false
	}
	return gateway.IsDocument(path.Base(u.Path), "")
}

// modeOf is the mode a Destination header names.
func modeOf(dest string) string {
	if namesDocument(dest) {
		return modeDocument
	}
	return modeFile
}

// decideMode returns the upload's mode: the one recorded, or else want,
// recorded for all the requests after it (an upload begun without a
// Destination, and not pending, is decided by its first chunk's). A
// client that names another file later cannot switch an upload begun.
func (c *call) decideMode(ctx context.Context, want string) (string, error) {
	var got string
	err := c.a.State.Update(ctx, c.modeKey(), c.ttl(), func(old []byte) ([]byte, error) {
		if old != nil {
			got = string(old)
			return old, nil
		}
		got = want
		return []byte(want), nil
	})
	if err != nil {
		return "", stateError(err)
	}
	return got, nil
}

// mode returns the upload's mode, "" if none is decided yet.
func (c *call) mode(ctx context.Context) (string, error) {
	v, err := c.a.State.Get(ctx, c.modeKey())
	if errors.Is(err, uploads.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", stateError(err)
	}
	return string(v), nil
}

// forgetDocument drops the upload's mode and spooled chunks.
func (c *call) forgetDocument(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	if err := c.a.State.DeletePrefix(ctx, c.modeKey()); err != nil {
		return stateError(err)
	}
	if err := c.spool().Delete(ctx, c.docKey()); err != nil {
		return stateError(err)
	}
	return nil
}

// upstreamHolds asks the server whether the upload folder is there for
// the client's credentials: a spooled chunk goes nowhere, so this is
// what keeps a client the server would refuse from filling the spool.
func (c *call) upstreamHolds() error {
	h := http.Header{}
	h.Set("Depth", "0")
	resp, err := c.send("PROPFIND", c.folder, nil, 0, h)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return &upstreamError{resp}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return nil
}

// spoolChunk keeps a chunk of a document (or pending) upload in the
// spool; nothing of it goes upstream before the final MOVE.
func (c *call) spoolChunk(info resumable.Info, mode string) (*http.Response, error) {
	ctx := c.req.Context()
	numbering := info.Meta[metaNumbering]
	if _, _, ok := byteRange(c.chunk); ok && numbering == numberingFromZero {
		return nil, refusal(http.StatusBadRequest, "in a service that pseudonymizes documents, a document's chunks are named by their number", nil)
	}
	seq, err := seqOf(c.chunk, numbering)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%05d", seq)
	max := c.x.MaxDocumentBytes()
	pieces, err := c.spool().Pieces(ctx, c.docKey())
	if err != nil {
		return nil, stateError(err)
	}
	held := c.req.ContentLength
	for _, p := range pieces {
		if p.Name != name {
			held += p.Size
		}
	}
	if info.Size >= 0 && held > info.Size {
		return nil, refusal(http.StatusBadRequest, "the chunks do not add up to the upload's OC-Total-Length", nil)
	}
	if held > max {
		return nil, errDocumentTooLarge
	}
	if err := c.upstreamHolds(); err != nil {
		return nil, err
	}
	pr := &pieceReader{r: c.req.Body, left: c.req.ContentLength}
	if pr.r == nil {
		pr.r = http.NoBody
	}
	if v := c.req.Header.Get("OC-Checksum"); v != "" {
		sum, err := newChecksum(v)
		if err != nil {
			return nil, err
		}
		pr.sum = sum
	}
	var body io.Reader = pr
	if mode == modeDocument && seq == 1 && c.req.ContentLength >= 4 {
		// The first chunk opens the document: one that is no zip is
		// refused now, not after all the others were sent.
		br := bufio.NewReader(pr)
		head, _ := br.Peek(4)
		if pr.err != nil && pr.err != io.EOF {
			return nil, pr.err
		}
		if !document.IsZip(head) {
			return nil, refusal(http.StatusBadRequest, "the file is named as an office document but is not one, so nothing of it was sent", nil)
		}
		body = br
	}
	_, err = c.spool().Put(ctx, c.docKey(), name, body, max)
	switch {
	case errors.Is(err, uploads.ErrOwnerFull):
		return nil, errOwnerSpoolFull
	case errors.Is(err, uploads.ErrSpoolFull):
		return nil, errDocumentTooLarge
	case pr.err != nil && pr.err != io.EOF:
		return nil, pr.err
	case err != nil:
		return nil, stateError(err)
	}
	c.x.Pseudonymized()
	return c.answer(http.StatusCreated, nil), nil
}

// pieceReader reads a chunk's body to its Content-Length and checks its
// OC-Checksum at the end; its error stays, so a spool that reads on
// after it sees it again.
type pieceReader struct {
	r    io.Reader
	left int64
	sum  *checksum
	err  error
}

func (p *pieceReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.left == 0 {
		p.err = io.EOF
		if p.sum != nil && p.sum.verify() != nil {
			p.err = resumable.ErrCheck
		}
		return 0, p.err
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	if p.sum != nil {
		p.sum.Write(b[:n])
	}
	if err == io.EOF && p.left > 0 {
		p.err = resumable.ErrClientBody
		return n, p.err
	}
	if err != nil && err != io.EOF {
		p.err = fmt.Errorf("%w: %w", resumable.ErrClientBody, err)
		return n, p.err
	}
	return n, nil
}

// finishDocument ends a document upload: the spooled chunks are read as
// one document and pseudonymized, the result is stored as chunks of the
// upload folder and moved into place with its own OC-Total-Length. A
// document refused for what it is ends the upload, here and at the
// server (which holds nothing of it).
func (c *call) finishDocument(info resumable.Info) (*http.Response, error) {
	ctx := c.req.Context()
	sp := c.spool()
	pieces, err := sp.Pieces(ctx, c.docKey())
	if err != nil {
		return nil, stateError(err)
	}
	var total int64
	for _, p := range pieces {
		total += p.Size
	}
	if v := c.req.Header.Get("OC-Total-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, refusal(http.StatusBadRequest, "OC-Total-Length is not a size", nil)
		}
		if n != total {
			return nil, refusal(http.StatusBadRequest, fmt.Sprintf("the chunks sum up to %d bytes, not to the OC-Total-Length %d", total, n), nil)
		}
	}
	if info.Size >= 0 && info.Size != total {
		return nil, refusal(http.StatusBadRequest, fmt.Sprintf("the chunks sum up to %d bytes of %d", total, info.Size), nil)
	}
	doc, err := c.x.PseudonymizeDocument(ctx, sp.Open(ctx, c.docKey(), pieces))
	if err != nil {
		// The document's own fault ends the upload; the gateway's (no
		// pseudonymizer, the state store down) leaves it for the
		// client to MOVE again.
		var re *gateway.RefusedError
		if errors.As(err, &re) && re.Status/100 == 4 {
			c.discardDocument()
		}
		return nil, err
	}
	defer doc.Close()
	h := http.Header{}
	h.Set("OC-Total-Length", strconv.FormatInt(doc.Size(), 10))
	copyHeaders(h, c.req.Header, "Destination")
	r := doc.Reader()
	for n, off := 1, int64(0); off < doc.Size(); n++ {
		l := min(sendChunk, doc.Size()-off)
		resp, err := c.send(http.MethodPut, fmt.Sprintf("%s/%05d", c.folder, n), io.LimitReader(r, l), l, h.Clone())
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 != 2 {
			return nil, &upstreamError{resp}
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		off += l
	}
	copyHeaders(h, c.req.Header, "Overwrite", "If", "If-Match", "If-None-Match", "X-OC-Mtime", "X-OC-Ctime")
	resp, err := c.send("MOVE", c.folder+"/.file", nil, 0, h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		c.a.order.forget(c.key)
		if err := c.e.Abort(ctx, c.key); err != nil {
			c.x.Log.Debug().Err(err).Msg("upload state not removed after the final MOVE")
		}
		if err := c.forgetDocument(ctx); err != nil {
			c.x.Log.Debug().Err(err).Msg("spooled document not removed after the final MOVE")
		}
	}
	return resp, nil
}

// discardDocument ends an upload whose document was refused: the server's
// upload folder (which holds nothing of it) is deleted, the spool and
// the upload state are dropped.
func (c *call) discardDocument() {
	ctx := context.WithoutCancel(c.req.Context())
	if resp, err := c.send(http.MethodDelete, c.folder, nil, 0, http.Header{}); err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
	c.a.order.forget(c.key)
	if err := c.e.Abort(ctx, c.key); err != nil && !errors.Is(err, resumable.ErrNotFound) {
		c.x.Log.Debug().Err(err).Msg("upload state not removed after a refused document")
	}
	if err := c.forgetDocument(ctx); err != nil {
		c.x.Log.Debug().Err(err).Msg("spooled document not removed after it was refused")
	}
}

// replay sends the spooled chunks of a pending upload that turned out to
// be no document through the engine, encrypted as any file's, in their
// order; the upload is a file's from then on.
func (c *call) replay() error {
	ctx := c.req.Context()
	sp := c.spool()
	pieces, err := sp.Pieces(ctx, c.docKey())
	if err != nil {
		return stateError(err)
	}
	var off int64
	for i, p := range pieces {
		piece := resumable.Piece{Seq: i + 1, Offset: off, Length: p.Size, Size: -1, Body: sp.Open(ctx, c.docKey(), []uploads.SpoolPiece{p})}
		if _, err := c.e.Append(ctx, c.key, piece, &chunkUpstream{c: c}); err != nil {
			return err
		}
		off += p.Size
	}
	err = c.a.State.Update(ctx, c.modeKey(), c.ttl(), func([]byte) ([]byte, error) { return []byte(modeFile), nil })
	if err != nil {
		return stateError(err)
	}
	if err := sp.Delete(context.WithoutCancel(ctx), c.docKey()); err != nil {
		c.x.Log.Debug().Err(err).Msg("spooled chunks not removed after they were encrypted")
	}
	return nil
}
