package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/uploads"
	"github.com/sluss/sluss/pseudonym/document"
)

// Office documents (option documents: "true"). A DOCX, XLSX, PPTX, ODT,
// ODS or ODP object, by the key's name and the Content-Type the client
// declared (gateway.IsDocument), is pseudonymized inside instead of
// encrypted, so the provider stores a valid document with tokens:
//
//   - PutObject reads the body whole (aws-chunked decoded, the client's
//     Content-MD5 and checksums checked against its plaintext), and sends
//     the rewritten document, with no digest of the client's, since the
//     body changed.
//   - CreateMultipartUpload decides the mode once, in the upload's record:
//     a later part cannot switch it. Parts of a document upload are kept
//     sealed in the upload-state store (uploads.Spool), nothing of them
//     sent; CompleteMultipartUpload assembles the parts the client lists,
//     pseudonymizes the whole and sends it as parts of the provider's own
//     multipart upload (each documentPartSize but the last), then
//     completes it. Keeping the provider's upload (rather than aborting it
//     and sending a PutObject) keeps what the client set when it created
//     the upload (type, metadata, ACL, storage class) without the gateway
//     having to remember it.
//   - GET by a user with the reidentify right re-identifies the document
//     (gateway.ReidentifyDocuments); a Range is served from the
//     re-identified document, and HEAD reports its size, so clients that
//     download in ranges after a HEAD get one consistent file. Others get
//     the document with tokens, as the provider has it.
//
// A document that does not parse, is too large (limits.max_document_bytes)
// or holds what cannot be pseudonymized is refused with S3's XML error
// and nothing of it leaves.

// documentPartSize is the size of the parts a multipart document is sent
// upstream in: above S3's 5 MiB minimum, so any provider takes them.
const documentPartSize = 16 << 20

// maxDocumentPartNumber is S3's own bound: a document's parts are not
// doubled upstream as an encrypted upload's are.
const maxDocumentPartNumber = 10000

// documentType returns the Content-Type of the office document format a
// request names, or "" when the service does not pseudonymize documents
// or the object is not one.
func (c *call) documentType() string {
	if !c.s.documents {
		return ""
	}
	name, ct := path.Base(c.req.URL.Path), c.req.Header.Get("Content-Type")
	if !gateway.IsDocument(name, ct) {
		return ""
	}
	if f, ok := document.FormatFromContentType(ct); ok {
		return f.ContentType()
	}
	f, _ := document.FormatFromName(name)
	return f.ContentType()
}

// docOwner is the owner recorded for a new upload: the user, for a
// document upload; nobody for one sealed part by part, whose parts the
// provider itself guards.
func (c *call) docOwner() string {
	if c.documentType() == "" {
		return ""
	}
	return c.x.User.Owner()
}

func (c *call) spool() *uploads.Spool {
	return &uploads.Spool{State: c.s.a.State, TTL: uploadTTL, Owner: c.x.User.Owner(), OwnerMax: c.x.MaxSpoolBytesPerUser()}
}

func pieceName(n int) string { return fmt.Sprintf("%05d", n) }

var errOwnerSpoolFull = newError(http.StatusRequestEntityTooLarge, "EntityTooLarge", "your unfinished document uploads already hold what the gateway keeps for one user (limits.max_spool_bytes_per_user): finish or abort one, then send this piece again; nothing of it was kept")

var errDocumentTooLarge = newError(http.StatusRequestEntityTooLarge, "EntityTooLarge", "the document is larger than the gateway pseudonymizes (limits.max_document_bytes), so nothing was stored")

// lengthReader fails a body that is not exactly n bytes long.
type lengthReader struct {
	r    io.Reader
	n    int64
	read int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	k, err := l.r.Read(p)
	l.read += int64(k)
	switch {
	case l.read > l.n:
		return k, ErrIncompleteBody.withMessage("the body is longer than its declared length")
	case err == io.EOF && l.read != l.n:
		return k, ErrIncompleteBody
	}
	return k, err
}

// putDocument pseudonymizes a whole document and stores the result.
func (c *call) putDocument(docType string) (*http.Response, error) {
	n := DecodedLength(c.req)
	if n < 0 {
		return nil, errMissingLength
	}
	if n > c.x.MaxDocumentBytes() {
		return nil, errDocumentTooLarge
	}
	claims := c.req.Header
	if c.preread != nil {
		claims = http.Header{} // read and checked already (putBucketOrObject)
	}
	d, err := newDigests(claims)
	if err != nil {
		return nil, err
	}
	var body io.Reader = bytes.NewReader(c.preread)
	trailers := func() http.Header { return nil }
	if c.preread == nil {
		if body, trailers, err = c.signed.Body(c.req); err != nil {
			return nil, err
		}
	}
	plain := &checkedReader{r: &lengthReader{r: body, n: n}, d: d, trailers: trailers}
	br := bufio.NewReader(plain)
	if head, _ := br.Peek(4); !document.IsZip(head) && (plain.err == nil || plain.err == io.EOF) {
		// Refused before the rest is read.
		return nil, InvalidRequest("the object is named as an office document but is not one, so nothing was stored")
	}
	doc, err := c.x.PseudonymizeDocument(c.req.Context(), br)
	if plain.err != nil && plain.err != io.EOF {
		// The client's body broke its promise (digest, signature,
		// length): that, not the document, is the error.
		if doc != nil {
			doc.Close()
		}
		return nil, ErrorFrom(plain.err)
	}
	if err != nil {
		return nil, err
	}
	defer doc.Close()
	out := c.outgoing(c.req.Context(), http.MethodPut)
	if err := c.sealMetadata(out.Header); err != nil {
		return nil, err
	}
	resp, err := c.send(out, doc.Reader(), doc.Size(), UnsignedPayload, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		rec := objectRecord{CT: unquote(resp.Header.Get("Etag")), PT: d.etag(), Size: doc.Size(), Document: docType}
		if err := c.recordObject(c.objectKey(), rec); err != nil {
			c.x.Log.Warn().Err(err).Msg("s3 object record not written")
		}
		resp.Header.Set("Etag", quote(rec.PT))
		d.echo(resp.Header)
	}
	return c.plainResponse(resp), nil
}

// spoolPart keeps one part of a document upload in the spool; nothing of
// it goes upstream. The answer's ETag is the part's MD5, as S3's.
func (c *call) spoolPart(up string, n int) (*http.Response, error) {
	size := DecodedLength(c.req)
	if size < 0 {
		return nil, errMissingLength
	}
	max := c.x.MaxDocumentBytes()
	if size > max {
		return nil, errDocumentTooLarge
	}
	d, err := newDigests(c.req.Header)
	if err != nil {
		return nil, err
	}
	body, trailers, err := c.signed.Body(c.req)
	if err != nil {
		return nil, err
	}
	var r io.Reader = &checkedReader{r: &lengthReader{r: body, n: size}, d: d, trailers: trailers}
	plain := r.(*checkedReader)
	if n == 1 && size >= 4 {
		// Part 1 opens the document: one that is no zip is refused now,
		// not after the client sent all the others.
		br := bufio.NewReader(r)
		if head, _ := br.Peek(4); !document.IsZip(head) {
			if plain.err != nil && plain.err != io.EOF {
				return nil, ErrorFrom(plain.err)
			}
			return nil, InvalidRequest("the object is named as an office document but its first part is not one, so nothing was stored")
		}
		r = br
	}
	piece, err := c.spool().Put(c.req.Context(), up, pieceName(n), r, max)
	switch {
	case errors.Is(err, uploads.ErrOwnerFull):
		return nil, errOwnerSpoolFull
	case errors.Is(err, uploads.ErrSpoolFull):
		return nil, errDocumentTooLarge
	case plain.err != nil && plain.err != io.EOF:
		return nil, ErrorFrom(plain.err)
	case err != nil:
		return nil, stateError(err)
	}
	sum := d.etag()
	now := c.s.a.now()
	rec, _ := json.Marshal(partRecord{Size: piece.Size, Done: true, MD5: sum, SHA256: piece.SHA256, Updated: now})
	if err := c.s.a.State.Update(c.req.Context(), partKey(up, n), uploadTTL, func([]byte) ([]byte, error) { return rec, nil }); err != nil {
		return nil, stateError(err)
	}
	h := http.Header{"Etag": {quote(sum)}}
	d.echo(h)
	rr := &responseRecorder{header: h}
	rr.WriteHeader(http.StatusOK)
	return rr.response(c.req), nil
}

// completeDocument assembles the parts the client lists, pseudonymizes
// the document and stores it as the provider's multipart upload.
func (c *call) completeDocument(up string, rec *uploadRecord, cr completeRequest) (*http.Response, error) {
	ctx := c.req.Context()
	parts, err := c.parts(up)
	if err != nil {
		return nil, err
	}
	pieces, err := c.spool().Pieces(ctx, up)
	if err != nil {
		return nil, stateError(err)
	}
	byName := map[string]uploads.SpoolPiece{}
	for _, p := range pieces {
		byName[p.Name] = p
	}
	invalid := func(msg string) *Error { return newError(http.StatusBadRequest, "InvalidPart", msg) }
	var chosen []uploads.SpoolPiece
	md5s := md5.New()
	prev := 0
	for _, cp := range cr.Parts {
		n := cp.PartNumber
		if n <= prev {
			return nil, newError(http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
		}
		prev = n
		p, piece := parts[n], byName[pieceName(n)]
		if p == nil || !p.Done || piece.Name == "" || !bytes.Equal(piece.SHA256, p.SHA256) {
			return nil, invalid(fmt.Sprintf("part %d has not been uploaded", n))
		}
		if unquote(cp.ETag) != p.MD5 {
			return nil, invalid(fmt.Sprintf("part %d's ETag is not the one the part was uploaded with", n))
		}
		sum, _ := hex.DecodeString(p.MD5)
		md5s.Write(sum)
		chosen = append(chosen, piece)
	}
	doc, err := c.x.PseudonymizeDocument(ctx, c.spool().Open(ctx, up, chosen))
	if err != nil {
		var rf *gateway.RefusedError
		if errors.As(err, &rf) && rf.Status/100 == 4 {
			// The document will never pass: nothing of it was sent, and
			// the provider's empty upload and the kept parts go now.
			c.abandonDocument(up)
		}
		return nil, err
	}
	defer doc.Close()
	var xmlOut bytes.Buffer
	xmlOut.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	r := doc.Reader()
	for number, left := 1, doc.Size(); number == 1 || left > 0; number++ {
		n := min(left, documentPartSize)
		out := c.outgoing(ctx, http.MethodPut)
		out.Header.Del("Content-Type")
		q := out.URL.Query()
		q.Set("partNumber", strconv.Itoa(number))
		out.URL.RawQuery = q.Encode()
		resp, err := c.send(out, io.LimitReader(r, n), n, UnsignedPayload, "")
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return c.plainResponse(resp), nil
		}
		resp.Body.Close()
		fmt.Fprintf(&xmlOut, "<Part><PartNumber>%d</PartNumber><ETag>&quot;%s&quot;</ETag></Part>", number, unquote(resp.Header.Get("Etag")))
		left -= n
	}
	xmlOut.WriteString(`</CompleteMultipartUpload>`)
	sum := sha256.Sum256(xmlOut.Bytes())
	out := c.outgoing(ctx, http.MethodPost)
	resp, answer, err := c.sendForXML(out, xmlOut.Bytes(), hex.EncodeToString(sum[:]))
	if err != nil || answer == nil {
		return resp, err
	}
	ct, ok := xmlValue(answer, "ETag")
	if !ok || bytes.Contains(answer, []byte("<Error>")) {
		return c.plainResponse(replaceBody(resp, answer)), nil
	}
	obj := objectRecord{CT: unquote(html(ct)), PT: fmt.Sprintf("%s-%d", hex.EncodeToString(md5s.Sum(nil)), len(chosen)), Size: doc.Size(), Document: rec.Document}
	if err := c.recordObject(rec.Object, obj); err != nil {
		c.x.Log.Warn().Err(err).Msg("s3 object record not written")
	}
	if err := c.s.a.State.DeletePrefix(ctx, up); err != nil {
		c.x.Log.Warn().Err(err).Msg("s3 upload state not removed")
	}
	answer = replaceXMLValue(answer, "ETag", "&quot;"+obj.PT+"&quot;")
	return c.plainResponse(replaceBody(resp, answer)), nil
}

// abandonDocument aborts the provider's upload of a refused document and
// forgets its parts.
func (c *call) abandonDocument(up string) {
	ctx := context.WithoutCancel(c.req.Context())
	out := c.outgoing(ctx, http.MethodDelete)
	out.Header.Del("Content-Type")
	if resp, err := c.send(out, nil, 0, "", ""); err == nil {
		resp.Body.Close()
	}
	if err := c.s.a.State.DeletePrefix(ctx, up); err != nil {
		c.x.Log.Warn().Err(err).Msg("s3 upload state not removed")
	}
}

// canReidentify reports whether the request's user gets documents back
// re-identified.
func (c *call) canReidentify() bool {
	return c.x.User.Can(gateway.RightReidentify) && c.x.Pseudonymizer != nil
}

// readDocument answers a GET or HEAD of a stored document for a user with
// the reidentify right: the whole document is fetched and re-identified
// (gateway.ReidentifyDocuments), then a Range is cut from it and HEAD
// gives its size.
func (c *call) readDocument(rec *objectRecord) (*http.Response, error) {
	rng := c.req.Header.Get("Range")
	out := c.outgoing(c.req.Context(), http.MethodGet)
	if q := out.URL.Query(); q.Has("partNumber") {
		// The document is one part, whatever it was uploaded in.
		if q.Get("partNumber") != "1" {
			return nil, newError(http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable")
		}
		q.Del("partNumber")
		out.URL.RawQuery = q.Encode()
	}
	out.Header.Del("Range")
	out.Header.Del("If-Range")
	for _, h := range []string{"If-Match", "If-None-Match"} {
		if v := out.Header.Get(h); v != "" && unquote(v) == rec.PT {
			out.Header.Set(h, quote(rec.CT))
		}
	}
	resp, err := gateway.ReidentifyDocuments{}.TransformResponse(c.x, out, documentTransport{c, rec.Document})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return c.plainResponse(resp), nil
	}
	size := resp.ContentLength
	switch {
	case c.req.Method == http.MethodHead:
		resp.Body.Close()
		resp.Body = http.NoBody
	case rng != "" && !strings.Contains(rng, ",") && size >= 0:
		// One range, cut from the re-identified document (several are
		// answered with all of it, as HTTP allows).
		from, to, ok := singleRange(rng, size)
		if !ok {
			resp.Body.Close()
			return nil, newError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable")
		}
		if _, err := io.CopyN(io.Discard, resp.Body, from); err != nil {
			resp.Body.Close()
			return nil, newError(http.StatusBadGateway, "InternalError", "the document could not be read").withCause(err)
		}
		resp.Body = readCloser{io.LimitReader(resp.Body, to-from+1), resp.Body}
		resp.StatusCode, resp.Status = http.StatusPartialContent, "206 Partial Content"
		resp.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, size))
		resp.ContentLength = to - from + 1
	}
	if resp.ContentLength >= 0 {
		resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	c.objectBody = true
	clientETag(resp.Header, rec)
	c.openMetadata(resp.Header)
	return c.plainResponse(resp), nil
}

// documentTransport fetches a stored document through the decrypting
// transformer (an object overwritten with an age file stays readable),
// and names its type when the provider gives a generic one, so that
// ReidentifyDocuments knows it for a document whatever its key.
type documentTransport struct {
	c       *call
	docType string
}

func (t documentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := gateway.Decrypt{}.TransformResponse(t.c.x, r, signingTransport{t.c})
	if err != nil || resp.StatusCode != http.StatusOK || t.docType == "" {
		return resp, err
	}
	if _, ok := document.FormatFromContentType(resp.Header.Get("Content-Type")); !ok {
		resp.Header.Set("Content-Type", t.docType)
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// singleRange parses one "bytes=a-b", "bytes=a-" or "bytes=-n" range of a
// body of size bytes.
func singleRange(v string, size int64) (from, to int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false
		}
		return max(0, size-n), size - 1, true
	}
	from, err := strconv.ParseInt(a, 10, 64)
	if err != nil || from < 0 || from >= size {
		return 0, 0, false
	}
	to = size - 1
	if b != "" {
		if to, err = strconv.ParseInt(b, 10, 64); err != nil || to < from {
			return 0, 0, false
		}
		to = min(to, size-1)
	}
	return from, to, true
}
