package s3

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/pseudonym"
)

// Object keys are paths: personnummer and names in them go upstream as
// tokens, like the storage profile's paths, and come back as the
// originals in listings for users with the reidentify right. The
// gateway's records of objects are kept by the key as sent upstream.

// opaqueParams are query parameters that hold no names: the protocol's
// own numbers, ids and switches, which the provider must get unchanged.
// Every other value (prefix, start-after, marker, response-content-
// disposition…) is pseudonymized like a key.
var opaqueParams = map[string]bool{
	"uploadId": true, "partNumber": true, "versionId": true, "version-id-marker": true, "upload-id-marker": true,
	"continuation-token": true, "list-type": true, "max-keys": true, "max-uploads": true, "max-parts": true,
	"part-number-marker": true, "encoding-type": true, "fetch-owner": true, "delimiter": true, "x-id": true,
}

// pseudonymizeNames computes the upstream path, key parameters and copy
// source of the request, and the path the audit log shows.
func (c *call) pseudonymizeNames() error {
	p := c.x.Pseudonymizer
	if p == nil {
		return newError(http.StatusServiceUnavailable, "ServiceUnavailable", "the gateway has no re-identification store, so object keys cannot be pseudonymized; nothing was sent")
	}
	ctx := c.req.Context()
	escaped, counts, err := p.PseudonymizePath(ctx, c.req.URL.EscapedPath())
	if err != nil {
		return c.namesError(err)
	}
	c.x.AddCounts(counts)
	if c.upPath, err = url.PathUnescape(escaped); err != nil {
		return InvalidRequest("the request path is not a valid escaped path")
	}
	c.upRawPath = escaped
	c.x.AuditPath = escaped
	for k, vs := range c.req.URL.Query() {
		if opaqueParams[k] || strings.HasPrefix(k, "X-Amz-") || len(vs) != 1 || vs[0] == "" {
			continue
		}
		pv, counts, err := p.PseudonymizePath(ctx, url.PathEscape(vs[0]))
		if err != nil {
			return c.namesError(err)
		}
		c.x.AddCounts(counts)
		if pv, err = url.PathUnescape(pv); err == nil && pv != vs[0] {
			if c.upParams == nil {
				c.upParams = map[string]string{}
			}
			c.upParams[k] = pv
		}
	}
	if err := c.pseudonymizeHeaders(); err != nil {
		return err
	}
	if src := c.req.Header.Get("X-Amz-Copy-Source"); src != "" {
		path, version, _ := strings.Cut(src, "?")
		ps, counts, err := p.PseudonymizePath(ctx, path)
		if err != nil {
			return c.namesError(err)
		}
		c.x.AddCounts(counts)
		if version != "" {
			ps += "?" + version
		}
		c.copySource = ps
	}
	return nil
}

// pseudonymizeHeaders runs the gateway's header pass over the request
// (verified already; the gateway signs what it sends): Content-Disposition
// file names, x-amz-tagging, x-amz-website-redirect-location and free
// text go upstream as tokens. User metadata is left to sealMetadata, which
// seals the originals, and the copy source to the key pass above.
func (c *call) pseudonymizeHeaders() error {
	h := c.req.Header
	kept := http.Header{}
	for name, vs := range h {
		if strings.HasPrefix(name, "X-Amz-Meta-") || name == "X-Amz-Copy-Source" {
			kept[name] = vs
			h.Del(name)
		}
	}
	err := c.x.PseudonymizeHeaders(c.req)
	for name, vs := range kept {
		h[name] = vs
	}
	return err
}

func (c *call) namesError(err error) *Error {
	return newError(http.StatusServiceUnavailable, "ServiceUnavailable", "object keys could not be pseudonymized; nothing was sent").withCause(err)
}

// applyNames points an outgoing request at the pseudonymized names.
func (c *call) applyNames(out *http.Request) {
	if c.upRawPath == "" {
		return
	}
	out.URL.Path, out.URL.RawPath = c.upPath, c.upRawPath
	if c.upParams != nil {
		q := out.URL.Query()
		for k, v := range c.upParams {
			q.Set(k, v)
		}
		out.URL.RawQuery = q.Encode()
	}
	if c.copySource != "" {
		out.Header.Set("X-Amz-Copy-Source", c.copySource)
	}
}

// maxXMLReidentify is the largest XML answer re-identified (a listing of
// 1 000 keys is a few hundred KiB).
const maxXMLReidentify = maxXMLAnswer

// reidentifyXML puts the original names back into an XML answer (listings,
// upload and copy results, errors) for users with the reidentify right.
func (c *call) reidentifyXML(resp *http.Response) *http.Response {
	if c.objectBody || !c.x.User.Can(gateway.RightReidentify) || c.x.Pseudonymizer == nil || !strings.Contains(resp.Header.Get("Content-Type"), "xml") || c.req.Method == http.MethodHead {
		return resp
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxXMLReidentify+1))
	resp.Body.Close()
	if err != nil || len(doc) > maxXMLReidentify {
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(doc), errReader{ErrInternalError}))
		return resp
	}
	out, counts, err := c.x.Pseudonymizer.ReidentifyString(c.req.Context(), pseudonym.FormatText, string(doc))
	if err != nil {
		c.x.Log.Debug().Err(err).Msg("s3 answer not re-identified")
		return replaceBody(resp, doc)
	}
	c.x.AddCounts(counts)
	return replaceBody(resp, []byte(out))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// pseudonymizeElements pseudonymizes the text of every <name> element of
// an XML body (DeleteObjects keys, tag keys and values), as object keys
// are: the provider never sees the identifiers they hold.
func (c *call) pseudonymizeElements(doc []byte, names ...string) ([]byte, error) {
	p := c.x.Pseudonymizer
	if p == nil {
		return nil, c.namesError(errors.New("no pseudonymizer"))
	}
	for _, name := range names {
		var out []byte
		off := 0
		for {
			start, v, end, ok := findXML(doc, name, off)
			if !ok {
				break
			}
			text := html(v)
			pv, counts, err := p.PseudonymizePath(c.req.Context(), url.PathEscape(text))
			if err != nil {
				return nil, c.namesError(err)
			}
			c.x.AddCounts(counts)
			if pv, err = url.PathUnescape(pv); err == nil && pv != text {
				out = append(append(out, doc[off:start]...), xmlEscape(pv)...)
			} else {
				out = append(out, doc[off:end]...)
			}
			off = end
		}
		doc = append(out, doc[off:]...)
	}
	return doc, nil
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
