package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"filippo.io/age"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/pseudonym"
	"github.com/sluss/sluss/pseudonym/document"
)

// maxMultipartDepth bounds how deep multipart bodies nest (a
// multipart/mixed of several files inside one form field, RFC 2388).
const maxMultipartDepth = 4

// multipartPseudonymizer rewrites a multipart/form-data body part by part:
// text parts pseudonymized, file names pseudonymized, file contents
// encrypted to recipients (or passed on for a later Encrypt when
// filesLater is set), nested multipart parts rewritten the same way.
// A part without a file name whose Content-Type no transformer reads (a
// blob) is encrypted here in either case: Encrypt only looks at file
// parts, and a blob must not leave in plaintext. So are the files of
// nested parts, which Encrypt does not see either.
//
// A part is read as a server reads it: its Content-Transfer-Encoding
// (base64, quoted-printable) and Content-Encoding undone, its text decoded
// from its charset. Text parts go back in their transfer encoding and
// charset; encrypted parts go as binary, without a transfer encoding
// (which RFC 7578 forbids in form data anyway). Part headers are written
// from what was parsed, never passed on as they came.
type multipartPseudonymizer struct {
	p          *pseudonym.Pseudonymizer
	recipients []age.Recipient
	filesLater bool
	limits     expansion
	charset    string // the charset of text parts that name none
	// documents, when set, has office document file parts pseudonymized
	// inside (documentPart) instead of encrypted.
	documents *document.Limits
}

const partWhat = "a part of the multipart body"

// run rewrites the multipart body r, whose boundary is in, to w with
// boundary out.
func (m *multipartPseudonymizer) run(ctx context.Context, r io.Reader, w io.Writer, in, out string, depth int) (pseudonym.Counts, error) {
	var total pseudonym.Counts
	mr := multipart.NewReader(r, in)
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(out); err != nil {
		return total, fmt.Errorf("%w: invalid boundary", errMalformed)
	}
	for i := 0; ; i++ {
		part, err := mr.NextRawPart()
		if err == io.EOF && i > 0 {
			break
		}
		if err != nil {
			// Not %v: a malformed header line would be quoted, and it
			// may hold a file name.
			if re := (*RefusedError)(nil); errors.As(err, &re) {
				return total, re
			}
			return total, fmt.Errorf("%w: part %d does not parse", errMalformed, i+1)
		}
		c, err := m.part(ctx, mw, part, depth)
		total.Add(c)
		if err != nil {
			return total, err
		}
	}
	return total, mw.Close()
}

func (m *multipartPseudonymizer) part(ctx context.Context, mw *multipart.Writer, part *multipart.Part, depth int) (pseudonym.Counts, error) {
	var total pseudonym.Counts
	hdr := textproto.MIMEHeader{}
	for k, v := range part.Header {
		hdr[k] = append([]string(nil), v...)
	}
	filename, formName := "", ""
	if cd := hdr.Get("Content-Disposition"); cd != "" {
		_, params, err := parseMediaParams(cd)
		if err != nil {
			return total, paramRefusal(err, "a part's Content-Disposition")
		}
		filename, formName = params["filename"], params["name"]
		v, c, err := pseudonymizeDisposition(ctx, m.p, cd, "a part's Content-Disposition")
		total.Add(c)
		if err != nil {
			return total, err
		}
		hdr.Set("Content-Disposition", v)
	}
	file := filename != "" // as multipart.Part.FileName, which Encrypt asks
	c, err := pseudonymizePartHeaders(ctx, m.p, hdr)
	total.Add(c)
	if err != nil {
		return total, err
	}
	cte, err := transferEncoding(hdr.Get("Content-Transfer-Encoding"), partWhat)
	if err != nil {
		return total, err
	}
	codings, err := contentCodings(http.Header(hdr), partWhat)
	if err != nil {
		return total, err
	}
	hdr.Del("Content-Encoding") // what goes on is decoded
	ct := hdr.Get("Content-Type")
	mt, ctParams, ctErr := parseMediaParams(ct)
	if ct != "" && ctErr != nil {
		return total, paramRefusal(ctErr, "a part's Content-Type")
	}
	if ct != "" {
		c, err := pseudonymizeTypeParams(ctx, m.p, ctParams)
		total.Add(c)
		if err != nil {
			return total, err
		}
	}
	decoded := func() (io.Reader, error) {
		r := transferDecoder(cte, partReader{part}, partWhat)
		if len(codings) == 0 {
			return r, nil
		}
		return decodeContent(io.NopCloser(r), codings, m.limits, partWhat, http.StatusBadRequest)
	}

	if strings.HasPrefix(mt, "multipart/") {
		return m.nested(ctx, mw, hdr, mt, ctParams, decoded, depth, total)
	}
	if ct != "" {
		s, err := formatMediaParams(mt, ctParams)
		if err != nil {
			return total, paramRefusal(err, "a part's Content-Type")
		}
		hdr.Set("Content-Type", s)
	}
	_, readable := pseudonym.FormatFromContentType(ct)
	if file && m.documents != nil && isDocumentPart(filename, ct) {
		c, err := m.documentPart(ctx, mw, hdr, decoded)
		total.Add(c)
		return total, err
	}
	if file || (ct != "" && !readable) {
		hdr.Del("Content-Transfer-Encoding")
		body, err := decoded()
		if err != nil {
			return total, err
		}
		pw, err := mw.CreatePart(hdr)
		if err != nil {
			return total, err
		}
		if file && m.filesLater && depth == 0 {
			_, err = io.Copy(pw, body)
			return total, err
		}
		ew, err := crypto.Encrypt(pw, m.recipients...)
		if err != nil {
			return total, err
		}
		if _, err := io.Copy(ew, body); err != nil {
			return total, err
		}
		return total, ew.Close()
	}

	// A text field: small ones whole, so that name fields are recognised
	// by their form name.
	f := pseudonym.FormatText
	if pf, ok := pseudonym.FormatFromContentType(ct); ok {
		f = pf
	}
	text := func(r io.Reader, w io.Writer) (pseudonym.Counts, error) {
		buf, err := io.ReadAll(io.LimitReader(r, maxTextPart+1))
		if err != nil {
			return pseudonym.Counts{}, err
		}
		if len(buf) <= maxTextPart && f == pseudonym.FormatText {
			q, c, err := m.p.PseudonymizeQuery(ctx, url.Values{formName: {string(buf)}})
			if err != nil {
				return c, err
			}
			_, err = io.WriteString(w, q.Get(formName))
			return c, err
		}
		return m.p.Transform(ctx, f, io.MultiReader(bytes.NewReader(buf), r), w)
	}
	label := ctParams["charset"]
	if label == "" {
		label = m.charset
	}
	t, err := inCharset(label, partWhat, text)
	if err != nil {
		return total, err
	}
	body, err := decoded()
	if err != nil {
		return total, err
	}
	pw, err := mw.CreatePart(hdr)
	if err != nil {
		return total, err
	}
	// Decoded above; encoded back here.
	ew := transferEncoder(cte, pw)
	c, err = t(body, ew)
	total.Add(c)
	if err != nil {
		return total, err
	}
	return total, ew.Close()
}

// nested rewrites a multipart part inside a multipart body.
func (m *multipartPseudonymizer) nested(ctx context.Context, mw *multipart.Writer, hdr textproto.MIMEHeader, mt string, params map[string]string,
	decoded func() (io.Reader, error), depth int, total pseudonym.Counts) (pseudonym.Counts, error) {
	if depth+1 >= maxMultipartDepth {
		return total, refuse(http.StatusUnsupportedMediaType, fmt.Sprintf("the multipart body nests deeper than %d levels, so nothing was sent", maxMultipartDepth), nil)
	}
	in := params["boundary"]
	if in == "" {
		return total, fmt.Errorf("%w: a nested multipart part without a boundary", errMalformed)
	}
	out := in
	if pseudonym.MayHoldIdentifier(in) {
		_, c, err := m.p.PseudonymizeString(ctx, pseudonym.FormatText, in)
		if err != nil {
			return total, err
		}
		if c.Total() > 0 {
			out = multipart.NewWriter(nil).Boundary()
		}
	}
	params["boundary"] = out
	s, err := formatMediaParams(mt, params)
	if err != nil {
		return total, paramRefusal(err, "a part's Content-Type")
	}
	hdr.Set("Content-Type", s)
	// A multipart entity is 7bit, 8bit or binary (RFC 2045 §6.4); one
	// that came encoded goes on decoded.
	hdr.Del("Content-Transfer-Encoding")
	body, err := decoded()
	if err != nil {
		return total, err
	}
	pw, err := mw.CreatePart(hdr)
	if err != nil {
		return total, err
	}
	sub := *m
	if cs := params["charset"]; cs != "" {
		sub.charset = cs
	}
	c, err := sub.run(ctx, body, pw, in, out, depth+1)
	total.Add(c)
	return total, err
}

// pseudonymizePartHeaders pseudonymizes the part headers the rewriter
// does not read itself (Content-Description, Content-ID, custom ones) as
// free text, as request headers are.
func pseudonymizePartHeaders(ctx context.Context, p *pseudonym.Pseudonymizer, hdr textproto.MIMEHeader) (pseudonym.Counts, error) {
	var b textBatch
	for k, vs := range hdr {
		switch k {
		case "Content-Disposition", "Content-Type", "Content-Transfer-Encoding", "Content-Encoding":
			continue
		}
		for i, v := range vs {
			b.add(headerFieldName(k), v, escapeHeaderText, func(s string) { vs[i] = s })
		}
	}
	return b.run(ctx, p)
}

// pseudonymizeTypeParams pseudonymizes the parameters of a part's
// Content-Type: a legacy file name (RFC 2046 "name") as a file name, the
// others but boundary and charset as keys.
func pseudonymizeTypeParams(ctx context.Context, p *pseudonym.Pseudonymizer, params map[string]string) (pseudonym.Counts, error) {
	var total pseudonym.Counts
	for _, k := range sortedKeys(params) {
		var v string
		var c pseudonym.Counts
		var err error
		switch k {
		case "boundary", "charset":
			continue
		case "name", "filename":
			v, c, err = pseudonymizeFilename(ctx, p, params[k])
		default:
			v, c, err = pseudonymizeKey(ctx, p, params[k])
		}
		if err != nil {
			return total, err
		}
		total.Add(c)
		params[k] = v
	}
	return total, nil
}

// partReader marks the read errors of a part as malformed input, whoever
// reads it; refusals (a body that decodes too large) keep their status.
type partReader struct{ r io.Reader }

func (p partReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == nil || err == io.EOF || errors.Is(err, context.Canceled) {
		return n, err
	}
	if re := (*RefusedError)(nil); errors.As(err, &re) {
		return n, err
	}
	return n, fmt.Errorf("%w: a part's body could not be read", errMalformed)
}
