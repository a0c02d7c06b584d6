package nextcloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
)

const uploadsPrefix = "/remote.php/dav/uploads/"

// maxChunks is the most chunks chunking v2 allows in one upload.
const maxChunks = 10000

// Numberings of an upload's chunks, kept in the engine's metadata.
const (
	metaNumbering = "numbering"
	// numberingV2: chunks 1…10000 (MKCOL with a Destination).
	numberingV2 = "v2"
	// numberingFromZero: the desktop client's, chunks counted from 0
	// and named with 16 digits.
	numberingFromZero = "zero"
)

// chunked is the transformer of the uploads tree.
type chunked struct {
	a *Adapter
	// documents: office documents are spooled and pseudonymized
	// (documents.go) instead of encrypted.
	documents bool
}

// call is one request to the uploads tree.
type call struct {
	a    *Adapter
	e    *resumable.Engine
	x    *gateway.Exchange
	req  *http.Request // as pseudonymized by the core
	next http.RoundTripper
	// documents: the service pseudonymizes office documents.
	documents bool

	folder string // escaped path of the upload folder, as sent upstream
	chunk  string // the last segment below it ("" for the folder)
	key    string // the upload's state key
}

func (t *chunked) TransformResponse(x *gateway.Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	c := &call{a: t.a, x: x, req: req, next: next, documents: t.documents}
	c.e = &resumable.Engine{State: t.a.State, Keys: x.Keys, TTL: t.a.TTL, SeqWait: t.a.SeqWait}
	resp, err := c.serve()
	if req.Body != nil {
		req.Body.Close()
	}
	if err != nil {
		x.Denied()
		x.Log.Debug().Err(err).Str("action", "nextcloud-chunked").Msg("refused")
		return c.errorResponse(err), nil
	}
	return resp, nil
}

func (c *call) serve() (*http.Response, error) {
	if c.a.State == nil {
		return nil, refusal(http.StatusServiceUnavailable, "the gateway has no upload-state store, so chunked upload is not available", nil)
	}
	// /remote.php/dav/uploads/USER/ID[/CHUNK]
	esc, ok := strings.CutPrefix(c.req.URL.EscapedPath(), uploadsPrefix)
	if !ok {
		return nil, refusal(http.StatusBadRequest, "bad upload path", nil)
	}
	segs := strings.Split(esc, "/")
	if len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	switch {
	case len(segs) < 2:
		// The user's uploads folder itself: listings pass.
		if c.req.Method == "PROPFIND" {
			return c.forward(c.req.Method, c.req.URL.EscapedPath(), nil)
		}
		return nil, refusal(http.StatusMethodNotAllowed, "only PROPFIND is supported on the uploads folder", nil)
	case len(segs) > 3:
		return nil, refusal(http.StatusMethodNotAllowed, "an upload folder holds chunks only", nil)
	}
	for _, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "." || u == ".." || u == "" || strings.ContainsAny(u, "/\\") {
			return nil, refusal(http.StatusBadRequest, "bad upload path", nil)
		}
	}
	c.folder = uploadsPrefix + segs[0] + "/" + segs[1]
	if len(segs) == 3 {
		c.chunk = segs[2]
	}
	// The key holds the gateway user: Nextcloud ignores the account in
	// an uploads path and takes the logged-in user's folder, so the path
	// alone does not say whose upload it is, and another user naming the
	// same folder must not reach this one's state (its spooled chunks
	// above all, which the server has never seen).
	sum := sha256.Sum256([]byte(c.req.URL.Host + "\x00" + c.x.User.Owner() + "\x00" + c.folder))
	c.key = "nextcloud/" + hex.EncodeToString(sum[:])
	m := c.req.Method
	switch {
	case c.chunk == "" && m == "MKCOL":
		return c.create()
	case c.chunk == "" && m == "PROPFIND":
		return c.list()
	case c.chunk == "" && m == http.MethodDelete:
		return c.abort()
	case c.chunk == ".file" && m == "MOVE":
		return c.finish()
	case c.chunk != "" && m == http.MethodPut:
		return c.putChunk()
	case c.chunk != "" && m == http.MethodDelete:
		return nil, refusal(http.StatusForbidden, "a chunk the gateway has encrypted cannot be removed alone: delete the upload folder and start again", nil)
	}
	return nil, refusal(http.StatusMethodNotAllowed, m+" is not supported on a chunked upload through sluss", nil)
}

// create starts an upload: MKCOL upstream with the age file's size.
func (c *call) create() (*http.Response, error) {
	size := int64(-1)
	if v := c.req.Header.Get("OC-Total-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, refusal(http.StatusBadRequest, "OC-Total-Length is not a size", nil)
		}
		size = n
	}
	numbering := numberingFromZero
	dest := c.req.Header.Get("Destination")
	if dest != "" {
		numbering = numberingV2
	}
	// In a documents service, an upload that names its file decides its
	// mode now; one that does not is pending if it fits a document (its
	// MOVE decides), and is otherwise decided by its first chunk.
	mode := ""
	switch {
	case !c.documents:
	case dest != "":
		mode = modeOf(dest)
		if mode == modeDocument && size > c.x.MaxDocumentBytes() {
			return nil, errDocumentTooLarge
		}
	case size >= 0 && size <= c.x.MaxDocumentBytes():
		mode = modePending
	}
	var resp *http.Response
	_, err := c.e.Begin(c.req.Context(), resumable.Options{Size: size, Pieces: true}, func(cipherSize int64) (string, map[string]string, error) {
		h := http.Header{}
		if mode == modeDocument && size >= 0 {
			// The pseudonymized document's size is known at the end
			// only: the client's, for the server's quota check.
			h.Set("OC-Total-Length", strconv.FormatInt(size, 10))
		} else if cipherSize >= 0 {
			h.Set("OC-Total-Length", strconv.FormatInt(cipherSize, 10))
		}
		copyHeaders(h, c.req.Header, "Destination")
		r, err := c.send("MKCOL", c.folder, nil, 0, h)
		if err != nil {
			return "", nil, err
		}
		if r.StatusCode/100 != 2 {
			return "", nil, &upstreamError{r}
		}
		resp = r
		// A record left by an upload of the same name the server has
		// forgotten (it expires uploads sooner) gives way to this one.
		if err := c.e.Abort(c.req.Context(), c.key); err != nil && !errors.Is(err, resumable.ErrNotFound) {
			return "", nil, err
		}
		if c.documents {
			if err := c.forgetDocument(c.req.Context()); err != nil {
				return "", nil, err
			}
			if mode != "" {
				if _, err := c.decideMode(c.req.Context(), mode); err != nil {
					return "", nil, err
				}
			}
		}
		return c.key, map[string]string{metaNumbering: numbering}, nil
	})
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	return resp, nil
}

// seqOf is the engine's sequence number of a chunk name.
func seqOf(name, numbering string) (int, error) {
	if name == "" || len(name) > 16 || strings.Trim(name, "0123456789") != "" {
		return 0, refusal(http.StatusBadRequest, "a chunk's name must be its number", nil)
	}
	n, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return 0, refusal(http.StatusBadRequest, "a chunk's name must be its number", nil)
	}
	if numbering == numberingFromZero {
		n++
	}
	if n < 1 || n > maxChunks {
		return 0, refusal(http.StatusBadRequest, fmt.Sprintf("chunks are numbered 1 to %d", maxChunks), nil)
	}
	return int(n), nil
}

// byteRange parses a chunk named START-END (inclusive byte offsets).
func byteRange(name string) (start, end int64, ok bool) {
	a, b, found := strings.Cut(name, "-")
	if !found || a == "" || b == "" || strings.Trim(a+b, "0123456789") != "" || len(a) > 18 || len(b) > 18 {
		return 0, 0, false
	}
	start, _ = strconv.ParseInt(a, 10, 64)
	end, _ = strconv.ParseInt(b, 10, 64)
	return start, end, end >= start
}

// chunkName is the client's name of the chunk with a sequence number.
func chunkName(seq int, numbering string) string {
	if numbering == numberingFromZero {
		return fmt.Sprintf("%016d", seq-1)
	}
	return strconv.Itoa(seq)
}

// putChunk appends a client chunk to the upload.
func (c *call) putChunk() (*http.Response, error) {
	ctx := c.req.Context()
	info, err := c.e.Status(ctx, c.key)
	if err != nil {
		return nil, err
	}
	if c.req.ContentLength < 0 {
		return nil, refusal(http.StatusLengthRequired, "a chunk needs a Content-Length", nil)
	}
	if c.documents {
		mode, err := c.decideMode(ctx, modeOf(c.req.Header.Get("Destination")))
		if err != nil {
			return nil, err
		}
		if mode == modeDocument || mode == modePending {
			return c.spoolChunk(info, mode)
		}
	}
	var seq int
	offset := int64(-1)
	if start, end, ok := byteRange(c.chunk); ok && info.Meta[metaNumbering] == numberingFromZero {
		// START-END byte names (the documented first form): ordered by
		// offset, so sent one after the other.
		if end-start+1 != c.req.ContentLength {
			return nil, refusal(http.StatusBadRequest, "the chunk's name and its Content-Length disagree", nil)
		}
		offset = start
	} else if seq, err = seqOf(c.chunk, info.Meta[metaNumbering]); err != nil {
		return nil, err
	}
	if v := c.req.Header.Get("OC-Chunk-Offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, refusal(http.StatusBadRequest, "OC-Chunk-Offset is not an offset", nil)
		}
		offset = n
	}
	body := io.Reader(c.req.Body)
	if body == nil {
		body = http.NoBody
	}
	var check func() error
	if v := c.req.Header.Get("OC-Checksum"); v != "" {
		sum, err := newChecksum(v)
		if err != nil {
			return nil, err
		}
		body = io.TeeReader(body, sum)
		check = sum.verify
	}
	up := &chunkUpstream{c: c}
	var appended func()
	if seq > 0 {
		last := 0
		for _, p := range info.Pieces {
			last = max(last, p.Seq)
		}
		appended = c.a.order.wait(ctx, c.key, seq, last)
	}
	res, err := c.e.Append(ctx, c.key, resumable.Piece{Seq: seq, Offset: offset, Length: c.req.ContentLength, Size: -1, Body: body, Check: check}, up)
	if appended != nil && err == nil {
		appended()
	}
	if err != nil {
		return nil, err
	}
	c.x.Encrypted(res.KeyVersion)
	return c.answer(http.StatusCreated, nil), nil
}

// chunkUpstream stores the engine's sends as the upload's chunks at the
// provider, named by send number.
type chunkUpstream struct {
	c *call
}

func (u *chunkUpstream) Send(ctx context.Context, s resumable.Send) (any, error) {
	if s.Length == 0 {
		return nil, nil
	}
	h := http.Header{}
	if s.Total >= 0 {
		h.Set("OC-Total-Length", strconv.FormatInt(s.Total, 10))
	}
	copyHeaders(h, u.c.req.Header, "Destination")
	resp, err := u.c.send(http.MethodPut, fmt.Sprintf("%s/%05d", u.c.folder, s.Seq), s.Body, s.Length, h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &upstreamError{resp}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return nil, nil
}

// Offset: a chunk PUT replaces the chunk whole, so the provider holds
// what it acknowledged.
func (u *chunkUpstream) Offset(_ context.Context, committed int64) (int64, error) {
	return committed, nil
}

// finish ends the upload: the engine's last chunk if it still holds the
// end, then MOVE upstream with the age file's size.
func (c *call) finish() (*http.Response, error) {
	ctx := c.req.Context()
	info, err := c.e.Status(ctx, c.key)
	if err != nil {
		return nil, err
	}
	if c.documents {
		mode, err := c.mode(ctx)
		if err != nil {
			return nil, err
		}
		dest := c.req.Header.Get("Destination")
		if mode == modePending {
			if namesDocument(dest) {
				return c.finishDocument(info)
			}
			if err := c.replay(); err != nil {
				return nil, err
			}
			if info, err = c.e.Status(ctx, c.key); err != nil {
				return nil, err
			}
			mode = modeFile
		}
		if mode == modeFile && modeOf(dest) == modeDocument && max(info.Size, info.Offset) > c.x.MaxDocumentBytes() {
			// Begun without a name and too large to wait for one: its
			// chunks went up encrypted, and stay in the upload folder.
			return nil, refusal(http.StatusRequestEntityTooLarge, "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so it was not stored", nil)
		}
		if mode != "" && mode != modeOf(dest) {
			return nil, refusal(http.StatusBadRequest, "the upload was begun for a file of another kind (office document or not) than its destination: upload it again under its name", nil)
		}
		if mode == modeDocument {
			return c.finishDocument(info)
		}
	}
	if v := c.req.Header.Get("OC-Total-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, refusal(http.StatusBadRequest, "OC-Total-Length is not a size", nil)
		}
		if want := info.Size; (want >= 0 && n != want) || (want < 0 && n != info.Offset) {
			return nil, refusal(http.StatusBadRequest, fmt.Sprintf("the chunks sum up to %d bytes, not to the OC-Total-Length %d", info.Offset, n), nil)
		}
	}
	if !info.Done {
		if info.Size >= 0 {
			return nil, refusal(http.StatusBadRequest, fmt.Sprintf("the chunks sum up to %d bytes of %d", info.Offset, info.Size), nil)
		}
		res, err := c.e.Append(ctx, c.key, resumable.Piece{Offset: info.Offset, Final: true, Size: -1, Body: http.NoBody}, &chunkUpstream{c: c})
		if err != nil {
			return nil, err
		}
		info = res.Info
	}
	h := http.Header{}
	h.Set("OC-Total-Length", strconv.FormatInt(info.CipherSize, 10))
	copyHeaders(h, c.req.Header, "Destination", "Overwrite", "If", "If-Match", "If-None-Match", "X-OC-Mtime", "X-OC-Ctime")
	resp, err := c.send("MOVE", c.folder+"/.file", nil, 0, h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		c.x.Encrypted(info.KeyVersion)
		c.a.order.forget(c.key)
		if err := c.e.Abort(ctx, c.key); err != nil {
			c.x.Log.Debug().Err(err).Msg("upload state not removed after the final MOVE")
		}
	}
	return resp, nil
}

// abort deletes the upload upstream and forgets it.
func (c *call) abort() (*http.Response, error) {
	resp, err := c.send(http.MethodDelete, c.folder, nil, 0, http.Header{})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound {
		c.a.order.forget(c.key)
		if c.documents {
			if err := c.forgetDocument(c.req.Context()); err != nil {
				resp.Body.Close()
				return nil, err
			}
		}
		if err := c.e.Abort(c.req.Context(), c.key); err != nil && !errors.Is(err, resumable.ErrNotFound) {
			resp.Body.Close()
			return nil, err
		}
	}
	return resp, nil
}

// list answers a PROPFIND of the upload folder from the upload state:
// the client's chunks, by the client's names, with plaintext sizes. The
// provider is asked first, so its authentication and existence checks
// hold.
func (c *call) list() (*http.Response, error) {
	h := http.Header{}
	h.Set("Depth", "0")
	resp, err := c.send("PROPFIND", c.folder, nil, 0, h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	info, err := c.e.Status(c.req.Context(), c.key)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\n" + `<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">`)
	entry := func(href string, size int64, dir bool) {
		fmt.Fprintf(&b, "<d:response><d:href>%s</d:href><d:propstat><d:prop>", xmlText(href))
		if dir {
			b.WriteString("<d:resourcetype><d:collection/></d:resourcetype>")
			fmt.Fprintf(&b, "<oc:size>%d</oc:size>", size)
		} else {
			fmt.Fprintf(&b, "<d:resourcetype/><d:getcontentlength>%d</d:getcontentlength>", size)
		}
		b.WriteString("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>")
	}
	mode := ""
	if c.documents {
		if mode, err = c.mode(c.req.Context()); err != nil {
			return nil, err
		}
	}
	if mode == modeDocument || mode == modePending {
		// A document's chunks are in the spool, by their numbers.
		pieces, err := c.spool().Pieces(c.req.Context(), c.docKey())
		if err != nil {
			return nil, stateError(err)
		}
		var total int64
		for _, p := range pieces {
			total += p.Size
		}
		entry(c.folder+"/", total, true)
		for _, p := range pieces {
			if seq, err := strconv.Atoi(p.Name); err == nil && c.req.Header.Get("Depth") != "0" {
				entry(c.folder+"/"+chunkName(seq, info.Meta[metaNumbering]), p.Size, false)
			}
		}
	} else {
		entry(c.folder+"/", info.Offset, true)
	}
	if c.req.Header.Get("Depth") != "0" && mode != modeDocument && mode != modePending {
		for _, p := range info.Pieces {
			switch {
			case p.Seq > 0:
				entry(c.folder+"/"+chunkName(p.Seq, info.Meta[metaNumbering]), p.Length, false)
			case p.Length > 0:
				entry(fmt.Sprintf("%s/%015d-%015d", c.folder, p.Offset, p.Offset+p.Length-1), p.Length, false)
			}
		}
	}
	b.WriteString("</d:multistatus>\n")
	out := &http.Response{
		StatusCode: http.StatusMultiStatus, Status: "207 Multi-Status",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml; charset=utf-8"}},
		Body:   io.NopCloser(strings.NewReader(b.String())), ContentLength: int64(b.Len()),
		Request: c.req,
	}
	return out, nil
}

// forward sends the request on as it is, without a body.
func (c *call) forward(method, escPath string, h http.Header) (*http.Response, error) {
	if h == nil {
		h = http.Header{}
	}
	copyHeaders(h, c.req.Header, "Depth")
	return c.send(method, escPath, nil, 0, h)
}

// send makes a request to the provider at escPath with the client's
// credentials and the headers h, and body (length bytes) if not nil.
func (c *call) send(method, escPath string, body io.Reader, length int64, h http.Header) (*http.Response, error) {
	u := *c.req.URL
	p, err := url.PathUnescape(escPath)
	if err != nil {
		return nil, refusal(http.StatusBadRequest, "bad upload path", err)
	}
	u.Path, u.RawPath, u.RawQuery = p, escPath, ""
	out, err := http.NewRequestWithContext(c.req.Context(), method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	out.Host = c.req.Host
	copyHeaders(out.Header, c.req.Header, "Authorization", "Cookie", "User-Agent", "Requesttoken", "Ocs-Apirequest", "X-Request-Id")
	for k, vs := range h {
		out.Header[k] = vs
	}
	if body != nil {
		out.Body = io.NopCloser(body)
		out.ContentLength = length
		if length == 0 {
			out.Body = http.NoBody
		}
	}
	return c.next.RoundTrip(out)
}

func copyHeaders(dst, src http.Header, names ...string) {
	for _, n := range names {
		if vs := src.Values(n); len(vs) > 0 {
			dst[http.CanonicalHeaderKey(n)] = append([]string(nil), vs...)
		}
	}
}

// answer is a response of the gateway's own.
func (c *call) answer(status int, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Length", "0")
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: http.NoBody, Request: c.req,
	}
}
