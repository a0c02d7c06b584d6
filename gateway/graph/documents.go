package graph

import (
	"context"
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
	"github.com/sluss/sluss/gateway/resumable"
	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/pseudonym/document"
)

// Documents (option documents: "true"): an office document is not
// encrypted but pseudonymized inside, which needs the whole file. Its
// upload session is the gateway's own: the fragments are kept in the
// shared upload-state store (uploads.Spool) and nothing of the document
// goes to the provider until the last one is in; then the gateway
// pseudonymizes the document and uploads the rewritten one to the
// provider's session, in fragments of its own size.

// docLease is how long a document session is held by the fragment that
// completes it (pseudonymizing and sending it).
const docLease = 10 * time.Minute

// docRecord is the state of a document upload session.
type docRecord struct {
	// Size is the client's file size: declared in item.fileSize, or
	// given by the first fragment's Content-Range total (-1 until then).
	Size    int64  `json:"size"`
	Type    string `json:"type"` // the document's Content-Type
	Expires string `json:"expires,omitempty"`
	// Finishing holds the session while the last fragment is turned
	// into the rewritten document and sent.
	Finishing time.Time `json:"finishing,omitzero"`
	Done      bool      `json:"done,omitempty"`
	// Owner is the gateway user who created the session. The provider
	// takes an upload URL without credentials, and while the fragments
	// are spooled it sees none of them: the gateway lets only the
	// session's creator use it.
	Owner string `json:"owner,omitempty"`
}

// docKey is the state key of the document session at a session key; its
// spooled fragments live below it.
func docKey(key string) string { return "graph/d/" + strings.TrimPrefix(key, "graph/s/") }

func (c *call) spool() *uploads.Spool {
	return &uploads.Spool{State: c.a.State, TTL: c.ttl(), Owner: c.x.User.Owner(), OwnerMax: c.x.MaxSpoolBytesPerUser()}
}

// documentSession reads the document session at a session key.
func (c *call) documentSession(key string) (docRecord, error) {
	var rec docRecord
	v, err := c.a.State.Get(c.req.Context(), docKey(key))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("graph: document session: %w", err)
	}
	if !rec.Done && rec.Owner != c.x.User.Owner() {
		return docRecord{}, errNotOwner
	}
	return rec, nil
}

// errNotOwner: a document session of another user's.
var errNotOwner = errors.New("graph: the document session is another user's")

// updateSession changes the document session at key with fn.
func (c *call) updateSession(ctx context.Context, key string, fn func(*docRecord) error) error {
	return c.a.State.Update(ctx, docKey(key), c.ttl(), func(old []byte) ([]byte, error) {
		var rec docRecord
		if old == nil {
			return nil, resumable.ErrNotFound
		}
		if err := json.Unmarshal(old, &rec); err != nil {
			return nil, err
		}
		if err := fn(&rec); err != nil {
			return nil, err
		}
		return json.Marshal(rec)
	})
}

// documentType is the Content-Type of the office document a name and a
// Content-Type declare, or "".
func documentType(name, contentType string) string {
	if !gateway.IsDocument(name, contentType) {
		return ""
	}
	if f, ok := document.FormatFromContentType(contentType); ok {
		return f.ContentType()
	}
	f, _ := document.FormatFromName(name)
	return f.ContentType()
}

// documentUpload is the Content-Type of the office document a
// createUploadSession is for, or "": by the path's file name, or the
// item.name of the body. Either is enough, so that a client cannot have a document encrypted under one
// name and stored under the other (it is pseudonymized, or refused when
// it is no document).
func (c *call) documentUpload(item map[string]any) string {
	if t := documentType(pathFileName(c.req.URL.Path), ""); t != "" {
		return t
	}
	n, _ := item["name"].(string)
	return documentType(n, "")
}

// createDocumentSession creates the provider's upload session for a
// document without a fileSize (the rewritten document's size is known
// only at the end), and the gateway's session that spools the fragments.
func (c *call) createDocumentSession(doc, item map[string]any, size int64, typ string) (*http.Response, error) {
	ctx := c.req.Context()
	if size > c.x.MaxDocumentBytes() {
		return nil, graphError(http.StatusRequestEntityTooLarge, "requestTooLarge", "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so nothing was sent")
	}
	if item != nil {
		// item.fileSize is optional (a quota check beforehand); the
		// provider will get another size than the client's.
		delete(item, "fileSize")
	}
	if err := c.pseudonymizeCreate(doc, item); err != nil {
		return nil, err
	}
	resp, err := c.next.RoundTrip(c.req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	s, raw, err := readJSON(resp.Body, maxJSON)
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Status: resp.StatusCode, Code: "provider", Body: raw}
	}
	if err != nil {
		return nil, graphError(http.StatusBadGateway, "generalException", "the provider's upload session answer is not JSON")
	}
	u, _ := s["uploadUrl"].(string)
	key, err := sessionKeyOf(u)
	if err != nil {
		return nil, graphError(http.StatusBadGateway, "generalException", "the provider's upload session has no uploadUrl")
	}
	exp, _ := s["expirationDateTime"].(string)
	v, _ := json.Marshal(docRecord{Size: size, Type: typ, Expires: exp, Owner: c.x.User.Owner()})
	if err := c.a.State.Update(ctx, docKey(key), c.ttl(), func([]byte) ([]byte, error) { return v, nil }); err != nil {
		if target, err := url.Parse(u); err == nil {
			c.cancelUpstream(target)
		}
		return nil, fmt.Errorf("%w: %w", resumable.ErrState, err)
	}
	c.x.Pseudonymized()
	s["nextExpectedRanges"] = ranges(resumable.Info{Size: size})
	body, _ := json.Marshal(s)
	return c.answer(jsonResponse(c.req, http.StatusOK, body))
}

// docSession serves a request to the upload URL of a document session.
func (c *call) docSession(key string, rec docRecord) (*http.Response, error) {
	ctx := c.req.Context()
	switch c.req.Method {
	case http.MethodPut:
		return c.docFragment(key, rec)
	case http.MethodGet:
		if rec.Done {
			return nil, graphError(http.StatusNotFound, "itemNotFound", "the upload session is complete")
		}
		next, _, err := c.spooled(ctx, key, rec)
		if err != nil {
			return nil, err
		}
		return c.sessionStatus(resumable.Info{Size: rec.Size, Offset: next}, rec.Expires)
	case http.MethodDelete:
		resp, err := c.next.RoundTrip(c.upstreamRequest(ctx, http.MethodDelete, nil))
		if err != nil {
			return nil, err
		}
		if err := c.forgetDocument(ctx, key); err != nil {
			resp.Body.Close()
			return nil, err
		}
		return resp, nil
	}
	return nil, graphError(http.StatusMethodNotAllowed, "invalidRequest", "upload URLs take PUT, GET and DELETE through sluss")
}

// forgetDocument deletes a document session and its spooled fragments.
func (c *call) forgetDocument(ctx context.Context, key string) error {
	if err := c.spool().Delete(ctx, docKey(key)); err != nil {
		return fmt.Errorf("%w: %w", resumable.ErrState, err)
	}
	return c.a.State.Update(ctx, docKey(key), c.ttl(), func([]byte) ([]byte, error) { return nil, nil })
}

// abandonDocument ends a document session that cannot complete (the
// document is refused, or did not reach the provider): the provider's
// session is deleted (it holds nothing of the document, or only the
// pseudonymized one) and the spool with it.
func (c *call) abandonDocument(key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.req.Context()), 30*time.Second)
	defer cancel()
	c.cancelUpstream(c.req.URL)
	if err := c.forgetDocument(ctx, key); err != nil {
		c.x.Log.Warn().Err(err).Msg("graph: document session not removed")
	}
}

// cancelUpstream deletes the provider's upload session (the upload URL
// of this request, or the one just created).
func (c *call) cancelUpstream(target *url.URL) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.req.Context()), 30*time.Second)
	defer cancel()
	out := c.upstreamRequest(ctx, http.MethodDelete, nil)
	out.URL, out.Host = target, target.Host
	out.Header.Del("Authorization")
	resp, err := c.next.RoundTrip(out)
	if err != nil {
		c.x.Log.Warn().Err(withoutURL(err)).Msg("graph: provider upload session not deleted")
		return
	}
	resp.Body.Close()
}

// spooled is where the client goes on (next) and how much is spooled
// (got). They differ when the whole file is spooled but the session did
// not complete (the last fragment's pseudonymization or upload failed
// for a reason that may pass): the client sends the last fragment again,
// which replaces the spooled one.
func (c *call) spooled(ctx context.Context, key string, rec docRecord) (next, got int64, err error) {
	pieces, err := c.spool().Pieces(ctx, docKey(key))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", resumable.ErrState, err)
	}
	var last int64
	for _, p := range pieces {
		last = got
		got += p.Size
	}
	if rec.Size > 0 && got == rec.Size && len(pieces) > 0 {
		return last, got, nil
	}
	return got, got, nil
}

// pieceName names a spooled fragment by its offset: names sort in byte
// order.
func pieceName(offset int64) string { return fmt.Sprintf("%015d", offset) }

// docFragment spools one client fragment of a document; the last one
// completes the upload.
func (c *call) docFragment(key string, rec docRecord) (*http.Response, error) {
	ctx := c.req.Context()
	first, last, total, err := parseContentRange(c.req.Header.Get("Content-Range"))
	if err != nil {
		return nil, graphError(http.StatusBadRequest, "invalidRequest", err.Error())
	}
	n := last - first + 1
	if ce := c.req.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, graphError(http.StatusUnsupportedMediaType, "invalidRequest", "fragments are taken as they are: send them without Content-Encoding")
	}
	if c.req.ContentLength >= 0 && c.req.ContentLength != n {
		return nil, graphError(http.StatusBadRequest, "invalidRequest", "Content-Length must equal the length Content-Range gives")
	}
	switch {
	case rec.Done:
		return nil, resumable.ErrDone
	case rec.Finishing.After(time.Now()):
		return nil, resumable.ErrBusy
	case rec.Size >= 0 && total != rec.Size:
		return nil, graphError(http.StatusBadRequest, "invalidRequest", "the Content-Range total is not the size of the file")
	}
	if total > c.x.MaxDocumentBytes() {
		c.abandonDocument(key)
		return nil, graphError(http.StatusRequestEntityTooLarge, "requestTooLarge", "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so nothing was sent")
	}
	sp := c.spool()
	next, got, err := c.spooled(ctx, key, rec)
	if err != nil {
		return nil, err
	}
	if first != next && first != got {
		return nil, &resumable.OffsetError{Got: first, Want: next}
	}
	if rec.Size < 0 {
		// The first fragment's total is the file's size from now on.
		if err := c.updateSession(ctx, key, func(r *docRecord) error { r.Size = total; return nil }); err != nil {
			return nil, fmt.Errorf("%w: %w", resumable.ErrState, err)
		}
		rec.Size = total
	}
	body := &exactReader{r: c.req.Body, left: n}
	if _, err := sp.Put(ctx, docKey(key), pieceName(first), body, c.x.MaxDocumentBytes()); err != nil {
		switch {
		case errors.Is(err, uploads.ErrOwnerFull):
			// The session keeps what it has: its status gives the ranges.
			return nil, graphError(http.StatusRequestEntityTooLarge, "requestTooLarge", "your unfinished document uploads already hold what the gateway keeps for one user (limits.max_spool_bytes_per_user): finish or abort one, then send this piece again; nothing of it was kept")
		case errors.Is(err, uploads.ErrSpoolFull):
			c.abandonDocument(key)
			return nil, graphError(http.StatusRequestEntityTooLarge, "requestTooLarge", "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so nothing was sent")
		case errors.Is(err, errShortFragment):
			return nil, resumable.ErrClientBody
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", resumable.ErrState, err)
	}
	if last+1 < total {
		st, err := c.sessionStatus(resumable.Info{Size: total, Offset: last + 1}, rec.Expires)
		if st != nil {
			st.StatusCode, st.Status = http.StatusAccepted, "202 Accepted"
		}
		return st, err
	}
	return c.finishDocument(key, rec)
}

// finishDocument pseudonymizes the spooled document and uploads the
// rewritten one to the provider's session.
func (c *call) finishDocument(key string, rec docRecord) (*http.Response, error) {
	ctx := c.req.Context()
	err := c.updateSession(ctx, key, func(r *docRecord) error {
		switch {
		case r.Done:
			return resumable.ErrDone
		case r.Finishing.After(time.Now()):
			return resumable.ErrBusy
		}
		r.Finishing = time.Now().Add(docLease)
		return nil
	})
	if err != nil {
		if errors.Is(err, resumable.ErrDone) || errors.Is(err, resumable.ErrBusy) || errors.Is(err, resumable.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", resumable.ErrState, err)
	}
	release := func() {
		_ = c.updateSession(context.WithoutCancel(ctx), key, func(r *docRecord) error { r.Finishing = time.Time{}; return nil })
	}
	sp := c.spool()
	pieces, err := sp.Pieces(ctx, docKey(key))
	if err != nil {
		release()
		return nil, fmt.Errorf("%w: %w", resumable.ErrState, err)
	}
	var off int64
	for _, p := range pieces {
		if p.Name != pieceName(off) {
			break
		}
		off += p.Size
	}
	if off != rec.Size {
		// A fragment was put again meanwhile with another length.
		release()
		return nil, graphError(http.StatusConflict, "conflict", "the upload's fragments changed while it completed; GET the upload URL for where to resume")
	}
	hashed := newQuickXorAt(0)
	out, err := c.x.PseudonymizeDocument(ctx, io.TeeReader(sp.Open(ctx, docKey(key), pieces), hashed))
	if err != nil {
		var rf *gateway.RefusedError
		if errors.As(err, &rf) && rf.Status < 500 {
			// The document itself is refused: the upload cannot
			// complete, and nothing of it left.
			c.abandonDocument(key)
		} else {
			release()
		}
		return nil, err
	}
	defer out.Close()
	status, item, err := c.sendDocument(ctx, out)
	if err != nil {
		// The provider holds at most part of the pseudonymized
		// document: the session is given up, the client starts again.
		c.abandonDocument(key)
		return nil, err
	}
	qx := ""
	if hashed.n == rec.Size {
		qx = quickXorSum(hashed.ring(), rec.Size)
	}
	c.remember(item, itemRecord{Size: rec.Size, QuickXor: qx, Type: rec.Type})
	c.documentDownloadURL(item, rec.Type)
	plaintextItem(item, rec.Size, qx)
	if err := c.updateSession(context.WithoutCancel(ctx), key, func(r *docRecord) error {
		r.Done, r.Finishing = true, time.Time{}
		return nil
	}); err != nil {
		c.x.Log.Warn().Err(err).Msg("graph: document session not marked complete")
	}
	if err := sp.Delete(context.WithoutCancel(ctx), docKey(key)); err != nil {
		c.x.Log.Warn().Err(err).Msg("graph: document fragments not removed")
	}
	body, _ := json.Marshal(item)
	return c.answer(jsonResponse(c.req, status, body))
}

// sendDocument uploads the rewritten document to the provider's session
// in fragments of at most Adapter.DocumentFragment, and returns its
// driveItem.
func (c *call) sendDocument(ctx context.Context, doc *document.Spooled) (int, map[string]any, error) {
	size := doc.Size()
	r := doc.Reader()
	docSendMax := int64(MaxFragment)
	if f := c.a.DocumentFragment; f > 0 && f%Granule == 0 && f <= MaxFragment {
		docSendMax = f
	}
	up := &upstream{c: c}
	for off := int64(0); off < size; {
		n := min(docSendMax, size-off)
		reply, err := up.Send(ctx, resumable.Send{Offset: off, Length: n, Total: size, Last: off+n == size, Body: io.LimitReader(r, n)})
		if err != nil {
			return 0, nil, err
		}
		off += n
		if done, ok := reply.(*completed); ok {
			if off != size {
				return 0, nil, graphError(http.StatusBadGateway, "generalException", "the provider completed the upload before the document's end")
			}
			return done.status, done.item, nil
		}
	}
	return 0, nil, graphError(http.StatusBadGateway, "generalException", "the provider did not complete the upload")
}

// errShortFragment: a fragment's body ended before its Content-Range.
var errShortFragment = errors.New("the fragment's body ended before its Content-Range did")

// exactReader reads exactly left bytes of r, and fails (rather than
// ending) when r ends sooner: a fragment cut short is not spooled.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left > 0 && (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) {
		return n, errShortFragment
	}
	if e.left == 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// contentFileName is the file name a simple upload path addresses
// (…:/folder/name:/content), or "" for one by item id.
func contentFileName(p string) string {
	p, ok := strings.CutSuffix(strings.TrimSuffix(p, "/content"), ":")
	if !ok || !strings.Contains(p, ":/") {
		return ""
	}
	return p[strings.LastIndex(p, "/")+1:]
}

// simpleUploadDocument pseudonymizes a PUT …:/content of an office
// document whole.
func (c *call) simpleUploadDocument() (*http.Response, error) {
	typ := documentType(contentFileName(c.req.URL.Path), c.req.Header.Get("Content-Type"))
	if ce := c.req.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, graphError(http.StatusUnsupportedMediaType, "invalidRequest", "documents are taken as they are: send them without Content-Encoding")
	}
	if c.req.ContentLength > c.x.MaxDocumentBytes() {
		return nil, graphError(http.StatusRequestEntityTooLarge, "requestTooLarge", "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so nothing was sent")
	}
	if err := (gateway.Pseudonymize{EncryptedBody: true}).TransformRequest(c.x, c.req); err != nil {
		return nil, err
	}
	hashed := newQuickXorAt(0)
	in := c.req.Body
	if in == nil {
		in = http.NoBody
	}
	out, err := c.x.PseudonymizeDocument(c.req.Context(), io.TeeReader(in, hashed))
	in.Close()
	if err != nil {
		return nil, err
	}
	c.req.Body, c.req.ContentLength = readCloser{out.Reader(), out}, out.Size()
	c.req.Header.Set("Content-Length", strconv.FormatInt(out.Size(), 10))
	c.req.Header.Del("Content-Encoding")
	c.req.Header.Del("Content-MD5")
	return c.reidentify(c.req, roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := c.next.RoundTrip(r)
		if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated) {
			return resp, err
		}
		return c.rewriteItems(resp, func(item map[string]any) {
			qx := quickXorSum(hashed.ring(), hashed.n)
			c.remember(item, itemRecord{Size: hashed.n, QuickXor: qx, Type: typ})
			c.documentDownloadURL(item, typ)
			plaintextItem(item, hashed.n, qx)
		})
	}))
}

// Downloads. A pseudonymized document is no age file: Decrypt passes it,
// and it is re-identified (gateway.ReidentifyDocuments) for users with
// the right, once the gateway knows it is a document. On the API host
// that is by the path's name (…:/letter.docx:/content) or the item's
// record (…/items/{id}/content); a download URL names neither, so the
// gateway remembers the download URLs it sees for documents (the
// redirect of …/content, a driveItem's @microsoft.graph.downloadUrl).

// downloadTTL is how long the gateway knows a download URL as a
// document's: about as long as Graph's download URLs live.
const downloadTTL = time.Hour

func downloadKey(host, escapedPath, rawQuery string) string {
	return "graph/dl/" + strings.TrimPrefix(sessionKey(host, escapedPath, rawQuery), "graph/s/")
}

func downloadKeyOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	return downloadKey(u.Host, u.EscapedPath(), u.RawQuery), true
}

// rememberDownload records a download URL as a document's.
func (c *call) rememberDownload(raw, typ string) {
	key, ok := downloadKeyOf(raw)
	if !ok {
		return
	}
	if err := c.a.State.Update(c.req.Context(), key, downloadTTL, func([]byte) ([]byte, error) { return []byte(typ), nil }); err != nil {
		c.x.Log.Warn().Err(err).Msg("graph: document download URL not recorded")
	}
}

// documentDownloadURL records the download URL of a document's driveItem.
func (c *call) documentDownloadURL(item map[string]any, typ string) {
	if u, ok := item["@microsoft.graph.downloadUrl"].(string); ok {
		c.rememberDownload(u, typ)
	}
}

// documentRead is the Content-Type of the document a GET is for, or "".
func (c *call) documentRead() string {
	r := c.req
	if !isAPIPath(r.URL.Path) {
		v, err := c.a.State.Get(r.Context(), downloadKey(r.URL.Host, r.URL.EscapedPath(), r.URL.RawQuery))
		if err != nil {
			return ""
		}
		return string(v)
	}
	if !strings.HasSuffix(r.URL.Path, "/content") {
		return ""
	}
	if name := contentFileName(r.URL.Path); name != "" {
		if c.documents {
			return documentType(name, "")
		}
		return ""
	}
	p := strings.TrimSuffix(r.URL.Path, "/content")
	if i := strings.LastIndex(p, "/items/"); i >= 0 {
		if rec, ok := c.record(r.Context(), p[i+len("/items/"):]); ok {
			return rec.Type
		}
	}
	return ""
}

// documentType is next with the answers for a document given its type
// (the provider serves application/octet-stream), and the download URL
// a …/content redirect gives remembered as the document's.
func (c *call) documentType(typ string, next http.RoundTripper) http.RoundTripper {
	if typ == "" {
		return next
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if err != nil {
			return resp, err
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			resp.Header.Set("Content-Type", typ)
		case resp.StatusCode/100 == 3 && resp.Header.Get("Location") != "":
			c.rememberDownload(resp.Header.Get("Location"), typ)
		}
		return resp, nil
	})
}
