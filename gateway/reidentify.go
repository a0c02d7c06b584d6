package gateway

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluss/sluss/pseudonym"
)

// Reidentify is the response transformer that puts the originals back in
// place of tokens, for users whose group has the reidentify right; other
// users get the response as the provider sent it, tokens and all.
//
// It handles JSON, HTML, XML, CSV and text bodies, escaping originals as
// the format needs, and WebDAV PROPFIND listings, whose hrefs get the
// original file names percent-encoded. gzip and deflate responses are
// decoded and sent without Content-Encoding (the request asks the provider
// for nothing else); the length changes, so the response goes chunked.
// Partial (206) responses pass unchanged: their ranges count bytes of the
// tokenized text. So do files that [Decrypt] decrypted: their contents
// were encrypted on the way up, not pseudonymized.
type Reidentify struct{}

func (Reidentify) TransformResponse(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
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
	var body io.Reader
	switch ce := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
		body = resp.Body
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			resp.Body.Close()
			return nil, refuse(http.StatusBadGateway, "the service sent a corrupt gzip body", err)
		}
		body = zr
	case "deflate":
		zr, err := zlib.NewReader(resp.Body)
		if err != nil {
			resp.Body.Close()
			return nil, refuse(http.StatusBadGateway, "the service sent a corrupt deflate body", err)
		}
		body = zr
	default:
		x.Log.Debug().Str("encoding", ce).Msg("response encoding not decodable; tokens left in place")
		return resp, nil
	}
	p := x.Pseudonymizer
	if resp.StatusCode == http.StatusMultiStatus {
		return reidentifyListing(ctx, x, resp, body)
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= wholeBodyLimit {
		// Small bodies are re-identified whole: the client gets an exact
		// Content-Length, and no goroutine is needed. A body without a
		// token (most answers to uploads) has nothing to put back and
		// needs no re-identification session.
		var in bytes.Buffer
		_, err := in.ReadFrom(io.LimitReader(body, wholeBodyLimit+1))
		resp.Body.Close()
		out := &in
		if err == nil && pseudonym.MayHoldToken(in.Bytes()) {
			var c pseudonym.Counts
			out = &bytes.Buffer{}
			if c, err = p.Reidentify(ctx, f, &in, out); err == nil {
				x.AddCounts(c)
			}
		}
		if err != nil {
			return nil, &RefusedError{Status: http.StatusServiceUnavailable, Reason: "re-identification is unavailable", Err: err, KeyFailure: "pseudonym"}
		}
		fixTransformedHeaders(resp)
		resp.Body = io.NopCloser(out)
		resp.ContentLength = int64(out.Len())
		resp.Header.Set("Content-Length", strconv.Itoa(out.Len()))
		return resp, nil
	}
	pr, pw := io.Pipe()
	go func() {
		c, err := p.Reidentify(ctx, f, body, pw)
		x.AddCounts(c)
		if err != nil {
			x.Log.Debug().Err(err).Msg("re-identification failed mid-stream; response cut")
		}
		pw.CloseWithError(err)
	}()
	resp.Body = pipeBody{pr, resp.Body}
	fixTransformedHeaders(resp)
	return resp, nil
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

// reidentifyHeaders puts original file names back in Content-Disposition
// and Location.
func reidentifyHeaders(ctx context.Context, x *Exchange, h http.Header) {
	p := x.Pseudonymizer
	if cd := h.Get("Content-Disposition"); strings.Contains(cd, pseudonym.TokenPrefix) {
		if disp, params, err := mime.ParseMediaType(cd); err == nil && params["filename"] != "" {
			name, c, err := p.ReidentifyString(ctx, pseudonym.FormatText, params["filename"])
			if err == nil {
				x.AddCounts(c)
				params["filename"] = name
				delete(params, "filename*")
				h.Set("Content-Disposition", mime.FormatMediaType(disp, params))
			}
		}
	}
	if loc := h.Get("Location"); strings.Contains(loc, pseudonym.TokenPrefix) {
		if u, err := url.Parse(loc); err == nil {
			if esc, ok := reidentifyEscapedPath(ctx, x, u.EscapedPath()); ok {
				if path, err := url.PathUnescape(esc); err == nil {
					u.Path, u.RawPath = path, esc
					h.Set("Location", u.String())
				}
			}
		}
	}
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
