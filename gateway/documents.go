package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"strconv"

	"github.com/sluss/sluss/pseudonym"
	"github.com/sluss/sluss/pseudonym/document"
)

// PseudonymizeDocuments is the request transformer of services whose
// rules say that office documents are pseudonymized inside rather than
// encrypted (rule name pseudonymize-documents, profile documents): a
// DOCX, XLSX, PPTX, ODT, ODS or ODP upload leaves as a valid document of
// its kind with its personnummer and names replaced by tokens (see
// document.Pseudonymize for what is read), so that the provider can open,
// index and show it. Everything else is treated as by the storage
// profile's upload rule: URL, headers and file names pseudonymized, other
// bodies encrypted whole, and in multipart forms the text parts
// pseudonymized, document file parts pseudonymized inside and other file
// parts encrypted. PDFs are encrypted, never pseudonymized.
//
// A body is a document when its Content-Type is one of the document
// types, or when it is generic (none, application/octet-stream,
// application/zip) and its file name (the last URL path segment, or the
// Content-Disposition filename; a multipart part's filename) ends in a
// document extension. A body that is a document by type or name must
// parse as one: one that does not is refused (400, or 415 for a document
// that holds what cannot be pseudonymized, such as macros or embedded
// OLE objects), with nothing sent. The document is read whole before
// anything leaves, up to limits.max_document_bytes (413 past it), held
// in memory up to 8 MiB and beyond that in an unlinked, encrypted
// temporary file (limits.document_spool_dir).
type PseudonymizeDocuments struct {
	Limits Limits
}

func (t PseudonymizeDocuments) TransformRequest(x *Exchange, req *http.Request) error {
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		return Pseudonymize{Documents: true, Limits: t.Limits}.TransformRequest(x, req)
	}
	isDoc, err := documentBody(req.Header, req.URL.Path, &req.Body, req.ContentLength)
	if err != nil {
		return err
	}
	// URL, headers and file names first, as for any upload.
	if err := (Pseudonymize{EncryptedBody: true, Limits: t.Limits}).TransformRequest(x, req); err != nil {
		return err
	}
	if !isDoc {
		return Encrypt{}.TransformRequest(x, req)
	}
	p := x.Pseudonymizer
	lim := t.Limits.withDefaults()
	const what = "the document"
	codings, err := contentCodings(req.Header, what)
	if err != nil {
		return err
	}
	body, err := decodeContent(req.Body, codings, lim.expansion(), what, http.StatusBadRequest)
	if err != nil {
		req.Body.Close()
		return err
	}
	out, counts, err := pseudonymizeDocument(req.Context(), p, body, lim.documentLimits())
	body.Close()
	x.AddCounts(counts)
	if err != nil {
		return err
	}
	x.Pseudonymized()
	removePlaintextDigests(req.Header)
	req.Header.Del("Content-Encoding")
	req.Header.Set("Content-Length", strconv.FormatInt(out.Size(), 10))
	req.Body, req.ContentLength = spoolBody{out.Reader(), out}, out.Size()
	return nil
}

// documentBody reports whether a body is an office document by its
// Content-Type, or by its name and first bytes when the type is generic.
// It peeks at the body, which it gives back whole.
func documentBody(h http.Header, urlPath string, body *io.ReadCloser, length int64) (bool, error) {
	if *body == nil || *body == http.NoBody || length == 0 {
		return false, nil
	}
	ct := h.Get("Content-Type")
	if _, ok := document.FormatFromContentType(ct); ok {
		return true, nil
	}
	if !document.GenericType(ct) {
		return false, nil
	}
	name := path.Base(urlPath)
	if _, params, err := parseMediaParams(h.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		name = params["filename"]
	}
	if _, ok := document.FormatFromName(name); !ok {
		return false, nil
	}
	// Named as a document: it must be one. A body that is no zip at all
	// is refused here rather than encrypted under a document's name.
	br := bufio.NewReaderSize(*body, 512)
	head, _ := br.Peek(4)
	*body = readCloser{br, *body}
	if len(h.Values("Content-Encoding")) == 0 && !document.IsZip(head) {
		return false, refuse(http.StatusBadRequest, "the body is named as an office document but is not one, so nothing was sent", nil)
	}
	return true, nil
}

// pseudonymizeDocument reads a document whole and returns it
// pseudonymized, or the refusal for it.
func pseudonymizeDocument(ctx context.Context, p *pseudonym.Pseudonymizer, body io.Reader, lim document.Limits) (*document.Spooled, pseudonym.Counts, error) {
	if p == nil {
		return nil, pseudonym.Counts{}, refuse(http.StatusServiceUnavailable, "pseudonymization is not available on this gateway, so nothing was sent", nil)
	}
	in, err := document.Spool(body, lim)
	if err != nil {
		return nil, pseudonym.Counts{}, documentRefusal(err)
	}
	defer in.Close()
	out := document.NewSpool(lim)
	res, err := document.Pseudonymize(ctx, p, in, in.Size(), out, lim)
	if err != nil {
		out.Close()
		return nil, res.Counts, documentRefusal(err)
	}
	return out, res.Counts, nil
}

// documentRefusal is the refusal for a document that could not be
// pseudonymized. Messages are ours: part numbers and lines, no names.
func documentRefusal(err error) error {
	var re *RefusedError
	var pe *document.ParseError
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, document.ErrTooLarge):
		return refuse(http.StatusRequestEntityTooLarge, "the document is larger than the gateway pseudonymizes (limits.max_document_bytes, or its parts decompress to too much), so nothing was sent", err)
	case errors.Is(err, document.ErrUnsupported):
		return refuse(http.StatusUnsupportedMediaType, "the document holds content the gateway cannot pseudonymize (macros, an embedded object, a password), so nothing was sent", err)
	case errors.As(err, &pe):
		return refuse(http.StatusBadRequest, fmt.Sprintf("the document does not parse (%s), so nothing was sent", pe.Error()), err)
	case errors.Is(err, document.ErrNotDocument):
		return refuse(http.StatusBadRequest, "the body is not an office document of the kind it claims to be, so nothing was sent", err)
	case errors.Is(err, context.Canceled):
		return err
	}
	return pseudonymRefusal(err, "the document")
}

// documentPart pseudonymizes a multipart file part that is an office
// document inside, in place of encrypting it.
func (m *multipartPseudonymizer) documentPart(ctx context.Context, mw *multipart.Writer, hdr textproto.MIMEHeader, decoded func() (io.Reader, error)) (pseudonym.Counts, error) {
	hdr.Del("Content-Transfer-Encoding")
	body, err := decoded()
	if err != nil {
		return pseudonym.Counts{}, err
	}
	out, c, err := pseudonymizeDocument(ctx, m.p, body, *m.documents)
	if err != nil {
		return c, err
	}
	defer out.Close()
	pw, err := mw.CreatePart(hdr)
	if err != nil {
		return c, err
	}
	_, err = io.Copy(pw, out.Reader())
	return c, err
}

// isDocumentPart says whether a multipart file part is a document.
func isDocumentPart(filename, contentType string) bool {
	if _, ok := document.FormatFromContentType(contentType); ok {
		return true
	}
	_, ok := document.FormatFromName(filename)
	return ok && document.GenericType(contentType)
}

// spoolBody is a request or response body read from a spool, released
// when the body is closed.
type spoolBody struct {
	io.Reader
	s *document.Spooled
}

func (b spoolBody) Close() error { return b.s.Close() }

// ReidentifyDocuments is the response transformer that puts the
// originals back into office documents downloaded by users with the
// reidentify right (rule name reidentify-documents, profile documents).
// Others get the document as the provider has it, with tokens. A response
// is a document as for PseudonymizeDocuments (its Content-Type, or a
// generic one with a document name in the request path or the
// Content-Disposition); the document is read whole (to
// limits.max_document_bytes), re-identified and sent with its new length.
// One that does not parse, or is too large, passes as it came, tokens
// and all. A request for a document by such a user asks the provider for
// all of it (Range and If-Range are dropped), since a range of the
// tokenized file is no range of the re-identified one.
type ReidentifyDocuments struct {
	Limits Limits
}

func (t ReidentifyDocuments) TransformResponse(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	if t.Limits == (Limits{}) {
		// Built by an adapter rather than a service's rules: the
		// gateway's limits.
		t.Limits = x.limits
	}
	can := x.User.Can(RightReidentify) && x.Pseudonymizer != nil
	if can {
		if _, ok := document.FormatFromName(path.Base(req.URL.Path)); ok {
			req.Header.Del("Range")
			req.Header.Del("If-Range")
		}
	}
	resp, err := next.RoundTrip(req)
	if err != nil || !can || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	if _, decrypted := resp.Body.(*plaintextBody); decrypted {
		return resp, nil
	}
	isDoc, err := documentBody(resp.Header, req.URL.Path, &resp.Body, resp.ContentLength)
	if err != nil || !isDoc {
		// Not a document, or one by name only that is no zip: as it came.
		return resp, nil
	}
	if req.Method == http.MethodHead {
		resp.Header.Del("Content-Length")
		return resp, nil
	}
	lim := t.Limits.withDefaults()
	dl := lim.documentLimits()
	codings, err := contentCodings(resp.Header, "the service's response")
	if err != nil {
		return resp, nil
	}
	body, err := decodeContent(resp.Body, codings, lim.expansion(), "the service's response", http.StatusBadGateway)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	in := document.NewSpool(dl)
	n, err := io.Copy(in, io.LimitReader(body, dl.MaxBytes))
	if err != nil {
		in.Close()
		body.Close()
		if re := (*RefusedError)(nil); errors.As(err, &re) {
			return nil, re
		}
		return nil, refuse(http.StatusBadGateway, "the service's response could not be read", err)
	}
	if n == dl.MaxBytes {
		// Too large to re-identify: what was read, then the rest.
		x.Log.Debug().Int64("bytes", n).Msg("document too large to re-identify; tokens left in place")
		resp.Body = readCloser{io.MultiReader(in.Reader(), body), closers{in, body}}
		fixTransformedHeaders(resp)
		return resp, nil
	}
	body.Close()
	out := document.NewSpool(dl)
	res, err := document.Reidentify(req.Context(), x.Pseudonymizer, in, in.Size(), out, dl)
	x.AddCounts(res.Counts)
	switch {
	case err == nil:
		in.Close()
		resp.Body = spoolBody{out.Reader(), out}
	case errors.Is(err, document.ErrNotDocument) || errors.Is(err, document.ErrUnsupported) || errors.Is(err, document.ErrTooLarge):
		out.Close()
		x.Log.Debug().Msg("document not re-identified (it does not parse, or holds what the rewriter refuses); tokens left in place")
		resp.Body = spoolBody{in.Reader(), in}
	default:
		in.Close()
		out.Close()
		return nil, reidentifyRefusal(err)
	}
	fixTransformedHeaders(resp)
	size := out.Size()
	if err != nil {
		size = in.Size()
	}
	resp.ContentLength = size
	resp.Header.Set("Content-Length", strconv.FormatInt(size, 10))
	return resp, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// IsDocument reports whether a file with this name and Content-Type is
// an office document that a documents service pseudonymizes inside: its
// type is a document type, or it is generic (none,
// application/octet-stream, application/zip) and the name ends in a
// document extension. Protocol adapters that assemble a file from pieces
// ask it with the name and type the client declared.
func IsDocument(name, contentType string) bool {
	return isDocumentPart(name, contentType)
}

// PseudonymizeDocument reads a whole office document from body and
// returns it pseudonymized inside, for protocol adapters that assemble a
// document from pieces (S3 multipart, tus, Nextcloud chunking, Graph
// upload sessions) before anything of it leaves. The result is bounded by
// the gateway's limits.max_document_bytes; the caller closes it. The
// error is a refusal ([RefusedError]) whose message names no value: a
// document that does not parse, is too large or holds what cannot be
// pseudonymized is never sent.
func (x *Exchange) PseudonymizeDocument(ctx context.Context, body io.Reader) (*document.Spooled, error) {
	lim := x.limits.withDefaults()
	out, counts, err := pseudonymizeDocument(ctx, x.Pseudonymizer, body, lim.documentLimits())
	x.AddCounts(counts)
	if err != nil {
		return nil, err
	}
	x.Pseudonymized()
	return out, nil
}

// MaxDocumentBytes is the largest document the gateway pseudonymizes
// (limits.max_document_bytes): adapters refuse a document upload that
// grows past it as soon as it does.
func (x *Exchange) MaxDocumentBytes() int64 { return x.limits.withDefaults().MaxDocumentBytes }

// MaxSpoolBytesPerUser bounds what the user's unfinished document uploads
// hold spooled together (limits.max_spool_bytes_per_user): adapters give
// it to uploads.Spool as OwnerMax, with User.Owner as its Owner.
func (x *Exchange) MaxSpoolBytesPerUser() int64 { return x.limits.withDefaults().MaxSpoolBytesPerUser }
