package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"

	"github.com/sluss/sluss/pseudonym"
)

// Reidentify is the response transformer that puts the originals back in
// place of tokens, for users whose group has the reidentify right; other
// users get the response as the provider sent it, tokens and all.
//
// It handles JSON, HTML, XML, CSV and text bodies, escaping originals as
// the format needs, in UTF-8 or any charset Pseudonymize reads (UTF-16,
// ISO-8859-1, ISO-8859-15, windows-1252; an original the charset cannot
// hold becomes an HTML character reference in HTML and a replacement
// character elsewhere), and WebDAV PROPFIND listings, whose hrefs get the
// original file names percent-encoded. Response headers are re-identified
// as reidentifyHeaders says. gzip, deflate and br responses are decoded
// within Limits.MaxDecodedBytes and MaxDecodeRatio and sent without
// Content-Encoding (the request asks the provider for gzip only); the
// length changes, so a long response goes chunked. Partial (206)
// responses pass unchanged: their ranges count bytes of the tokenized
// text. So do files that [Decrypt] decrypted: their contents were
// encrypted on the way up, not pseudonymized.
type Reidentify struct {
	// Limits bounds body decoding; zero fields take the defaults of
	// [Limits].
	Limits Limits
}

func (t Reidentify) TransformResponse(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	can := x.User.Can(RightReidentify) && x.Pseudonymizer != nil
	if can && req.Header.Get("Accept-Encoding") != "" {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := next.RoundTrip(req)
	if err != nil || !can {
		return resp, err
	}
	ctx := req.Context()
	reidentifyHeaders(ctx, x, resp.Header)
	if _, decrypted := resp.Body.(*plaintextBody); decrypted {
		// A decrypted file is the user's own plaintext: it was encrypted
		// on the way up, never pseudonymized, and keeps its length.
		return resp, nil
	}
	f, ok := responseFormat(resp.Header.Get("Content-Type"))
	if !ok || resp.StatusCode == http.StatusPartialContent {
		return resp, nil
	}
	if req.Method == http.MethodHead || resp.Body == nil || resp.Body == http.NoBody {
		if req.Method == http.MethodHead {
			resp.Header.Del("Content-Length")
		}
		return resp, nil
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if kind, _ := lookupCharset(params["charset"]); kind == charsetUnknown {
		x.Log.Debug().Msg("response charset not readable; tokens left in place")
		return resp, nil
	}
	const what = "the service's response"
	codings, err := contentCodings(resp.Header, what)
	if err != nil {
		x.Log.Debug().Msg("response encoding not decodable; tokens left in place")
		return resp, nil
	}
	body, err := decodeContent(resp.Body, codings, t.Limits.expansion(), what, http.StatusBadGateway)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.Body = body
	if resp.StatusCode == http.StatusMultiStatus {
		return reidentifyListing(ctx, x, resp, body)
	}
	br := bufio.NewReaderSize(body, firstReadSize(resp.ContentLength))
	head, _ := br.Peek(4)
	enc, ok := reidentifyCharset(params["charset"], head)
	if !ok {
		x.Log.Debug().Msg("response charset not readable; tokens left in place")
		resp.Body = readCloser{br, body}
		fixTransformedHeaders(resp)
		return resp, nil
	}
	reidentify := func(r io.Reader, w io.Writer) (pseudonym.Counts, error) {
		return reidentifyIn(ctx, x.Pseudonymizer, f, enc, r, w)
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= wholeBodyLimit {
		// Small bodies are re-identified whole: the client gets an exact
		// Content-Length, and no goroutine is needed. A body without a
		// token (most answers to uploads) has nothing to put back and
		// needs no re-identification session. The length is the
		// provider's: a compressed body may decode to more, which then
		// streams.
		var in bytes.Buffer
		_, err := in.ReadFrom(io.LimitReader(br, wholeBodyLimit+1))
		if err == nil && in.Len() <= wholeBodyLimit {
			body.Close()
			out := &in
			if mayHoldToken(in.Bytes(), enc) {
				var c pseudonym.Counts
				out = &bytes.Buffer{}
				if c, err = reidentify(&in, out); err == nil {
					x.AddCounts(c)
				}
			}
			if err != nil {
				return nil, reidentifyRefusal(err)
			}
			fixTransformedHeaders(resp)
			resp.Body = io.NopCloser(out)
			resp.ContentLength = int64(out.Len())
			resp.Header.Set("Content-Length", strconv.Itoa(out.Len()))
			return resp, nil
		}
		if err != nil {
			body.Close()
			return nil, reidentifyRefusal(err)
		}
		br = bufio.NewReader(io.MultiReader(&in, br))
	}
	pr, pw := io.Pipe()
	go func() {
		var c pseudonym.Counts
		err := guard(func() (err error) {
			c, err = reidentify(br, pw)
			return err
		})
		x.AddCounts(c)
		if err != nil {
			x.Log.Debug().Err(err).Msg("re-identification failed mid-stream; response cut")
		}
		pw.CloseWithError(err)
	}()
	resp.Body = pipeBody{pr, body}
	fixTransformedHeaders(resp)
	return resp, nil
}

// firstReadSize is the read buffer for a response of length n (-1:
// unknown).
func firstReadSize(n int64) int {
	if n >= 0 && n < 4<<10 {
		return 4 << 10
	}
	return 64 << 10
}

// reidentifyRefusal is the refusal for a failed re-identification: the
// decoding's own for a corrupt or oversized body, 503 when the store or
// keys fail.
func reidentifyRefusal(err error) error {
	if re := (*RefusedError)(nil); errors.As(err, &re) {
		return re
	}
	if errors.Is(err, pseudonym.ErrInternal) || errors.Is(err, errTransformPanic) {
		return &RefusedError{Status: http.StatusInternalServerError, Reason: "re-identification failed (internal error)", Err: err}
	}
	return &RefusedError{Status: http.StatusServiceUnavailable, Reason: "re-identification is unavailable", Err: err, KeyFailure: "pseudonym"}
}

// mayHoldToken reports whether text in enc (nil: UTF-8 or ASCII-compatible)
// can hold a token.
func mayHoldToken(b []byte, enc encoding.Encoding) bool {
	if enc != nil {
		d, err := enc.NewDecoder().Bytes(b)
		if err != nil {
			return true
		}
		b = d
	}
	// Numeric tokens (personnummer that were JSON numbers) have no
	// prefix: pseudonym.MayHoldToken knows both kinds.
	return pseudonym.MayHoldToken(b)
}

// reidentifyIn re-identifies r into w, decoding from and encoding back to
// enc when it is not nil. An original enc cannot hold is written as an
// HTML character reference in HTML, a replacement character elsewhere.
func reidentifyIn(ctx context.Context, p *pseudonym.Pseudonymizer, f pseudonym.Format, enc encoding.Encoding, r io.Reader, w io.Writer) (pseudonym.Counts, error) {
	if enc == nil {
		return p.Reidentify(ctx, f, r, w)
	}
	e := encoding.ReplaceUnsupported(enc.NewEncoder())
	if f == pseudonym.FormatHTML {
		e = encoding.HTMLEscapeUnsupported(enc.NewEncoder())
	}
	ew := transform.NewWriter(w, e)
	c, err := p.Reidentify(ctx, f, transform.NewReader(r, enc.NewDecoder()), ew)
	if err == nil {
		err = ew.Close()
	}
	return c, err
}

// fixTransformedHeaders drops the headers that describe the provider's
// bytes rather than the ones the client gets.
func fixTransformedHeaders(resp *http.Response) {
	for _, k := range []string{"Content-Length", "Content-Encoding", "Content-MD5", "Digest", "Content-Digest", "Repr-Digest", "Accept-Ranges"} {
		resp.Header.Del(k)
	}
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		resp.Header.Set("ETag", "W/"+et)
	}
	resp.ContentLength = -1
}

// responseFormat says how to re-identify a Content-Type: XML is escaped as
// HTML is.
func responseFormat(contentType string) (pseudonym.Format, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	if mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml") {
		return pseudonym.FormatHTML, true
	}
	return pseudonym.FormatFromContentType(contentType)
}

// reidentifyEscapedPath re-identifies the segments of an escaped path and
// escapes the originals again.
func reidentifyEscapedPath(ctx context.Context, x *Exchange, esc string) (string, bool) {
	segs := strings.Split(esc, "/")
	changed := false
	for i, s := range segs {
		if !strings.Contains(s, pseudonym.TokenPrefix) {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			continue
		}
		out, c, err := x.Pseudonymizer.ReidentifyString(ctx, pseudonym.FormatText, u)
		if err != nil || c.Reidentified() == 0 {
			continue
		}
		x.AddCounts(c)
		segs[i], changed = url.PathEscape(out), true
	}
	return strings.Join(segs, "/"), changed
}

var hrefElem = regexp.MustCompile(`(<(?:[A-Za-z0-9_.-]+:)?href(?:\s[^>]*)?>)([^<]*)(</)`)

// reidentifyListing re-identifies a WebDAV multistatus body: hrefs first,
// with path escaping, then the rest (display names) with XML escaping.
// Listings are bounded by maxListing; a larger one passes with tokens.
func reidentifyListing(ctx context.Context, x *Exchange, resp *http.Response, body io.Reader) (*http.Response, error) {
	buf, err := io.ReadAll(io.LimitReader(body, maxListing+1))
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if len(buf) > maxListing {
		x.Log.Debug().Int("bytes", len(buf)).Msg("listing too large to re-identify; tokens left in place")
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf), body), resp.Body}
		fixTransformedHeaders(resp)
		return resp, nil
	}
	resp.Body.Close()
	buf = hrefElem.ReplaceAllFunc(buf, func(m []byte) []byte {
		sm := hrefElem.FindSubmatch(m)
		if !bytes.Contains(sm[2], []byte(pseudonym.TokenPrefix)) {
			return m
		}
		esc, ok := reidentifyEscapedPath(ctx, x, string(sm[2]))
		if !ok {
			return m
		}
		return append(append(append([]byte{}, sm[1]...), esc...), sm[3]...)
	})
	var out bytes.Buffer
	c, err := x.Pseudonymizer.Reidentify(ctx, pseudonym.FormatHTML, bytes.NewReader(buf), &out)
	if err != nil {
		return nil, &RefusedError{Status: http.StatusServiceUnavailable, Reason: "re-identification is unavailable", Err: err, KeyFailure: "pseudonym"}
	}
	x.AddCounts(c)
	resp.Body = io.NopCloser(&out)
	fixTransformedHeaders(resp)
	resp.ContentLength = int64(out.Len())
	resp.Header.Set("Content-Length", strconv.Itoa(out.Len()))
	return resp, nil
}
