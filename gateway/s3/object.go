package s3

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway"
)

var errMissingLength = newError(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")

func keysUnavailable(err error) *Error {
	return newError(http.StatusServiceUnavailable, "ServiceUnavailable", "the region's encryption keys are unavailable; nothing was stored").withCause(err)
}

// putObject encrypts a whole object into one age file (an office
// document of a documents service: pseudonymized inside, documents.go).
func (c *call) putObject() (*http.Response, error) {
	if dt := c.documentType(); dt != "" {
		return c.putDocument(dt)
	}
	n := DecodedLength(c.req)
	if n < 0 {
		return nil, errMissingLength
	}
	version, recipients, err := c.x.Keys.EncryptionKeys()
	if err != nil {
		return nil, keysUnavailable(err)
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
	plain := &checkedReader{r: body, d: d, trailers: trailers}
	enc, err := crypto.EncryptReader(plain, recipients...)
	if err != nil {
		return nil, InternalError(err)
	}
	size, err := crypto.EncryptedSize(n, recipients...)
	if err != nil {
		return nil, InternalError(err)
	}
	out := c.outgoing(c.req.Context(), http.MethodPut)
	if err := c.sealMetadata(out.Header); err != nil {
		return nil, err
	}
	resp, err := c.send(out, enc, size, UnsignedPayload, "")
	if plain.err != nil && plain.err != io.EOF {
		// The client's body broke its promise (digest, signature, length):
		// the upstream request was cut before its end, nothing stored.
		if resp != nil {
			resp.Body.Close()
		}
		return nil, ErrorFrom(plain.err)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		c.x.Encrypted(version)
		rec := objectRecord{CT: unquote(resp.Header.Get("Etag")), PT: d.etag(), Size: n}
		if err := c.recordObject(c.objectKey(), rec); err != nil {
			c.x.Log.Warn().Err(err).Msg("s3 object record not written")
		}
		resp.Header.Set("Etag", quote(rec.PT))
		d.echo(resp.Header)
	}
	return c.plainResponse(resp), nil
}

// copyObject copies an object on the provider: an age file copied whole
// is still the same age file. Its record goes with it.
func (c *call) copyObject() (*http.Response, error) {
	if _, err := c.readSmallBody(); err != nil {
		return nil, err
	}
	if c.req.Header.Get("X-Amz-Copy-Source-Range") != "" {
		return nil, NotImplemented("copying a range of an encrypted object is not supported")
	}
	srcPath, err := copySourcePath(orDefault(c.copySource, c.req.Header.Get("X-Amz-Copy-Source")))
	if err != nil {
		return nil, err
	}
	// The source's record is under its path-style name, or, when the
	// request is virtual-hosted, under bucket.host and the key.
	src := c.lookupObject(objectKey(c.req.URL.Host, srcPath))
	if bucket, rest, ok := strings.Cut(strings.TrimPrefix(srcPath, "/"), "/"); src == nil && ok {
		if _, base, ok := strings.Cut(c.req.URL.Host, "."); ok {
			src = c.lookupObject(objectKey(bucket+"."+base, "/"+rest))
		}
	}
	out := c.outgoing(c.req.Context(), http.MethodPut)
	for _, h := range []string{"X-Amz-Copy-Source-If-Match", "X-Amz-Copy-Source-If-None-Match"} {
		if v := out.Header.Get(h); v != "" && src != nil && unquote(v) == src.PT {
			out.Header.Set(h, quote(src.CT))
		}
	}
	if err := c.sealMetadata(out.Header); err != nil {
		return nil, err
	}
	resp, doc, err := c.sendForXML(out, nil, "")
	if err != nil || doc == nil {
		return resp, err
	}
	if src != nil {
		if ct, ok := xmlValue(doc, "ETag"); ok {
			rec := *src
			rec.CT = unquote(html(ct))
			c.recordObject(c.objectKey(), rec)
			doc = replaceXMLValue(doc, "ETag", "&quot;"+rec.PT+"&quot;")
		}
	}
	return c.plainResponse(replaceBody(resp, doc)), nil
}

func copySourcePath(v string) (string, error) {
	v, _, _ = strings.Cut(v, "?")
	p, err := url.PathUnescape(v)
	if err != nil || strings.Trim(p, "/") == "" {
		return "", InvalidRequest("x-amz-copy-source is not a bucket and key")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p, nil
}

// read handles GET and HEAD: objects are decrypted (Range, HEAD sizes),
// listings report plaintext sizes and ETags.
func (c *call) read() (*http.Response, error) {
	key := c.objectKey()
	rec := c.lookupObject(key)
	if rec != nil && rec.Document != "" && c.canReidentify() && !hasSubresource(c.req.URL.Query()) {
		return c.readDocument(rec)
	}
	out := c.outgoing(c.req.Context(), c.req.Method)
	if rec != nil {
		for _, h := range []string{"If-Match", "If-None-Match"} {
			if v := out.Header.Get(h); v != "" && unquote(v) == rec.PT {
				out.Header.Set(h, quote(rec.CT))
			}
		}
	}
	part, partLen, err := c.partRange(out, rec)
	if err != nil {
		return nil, err
	}
	resp, err := gateway.Decrypt{}.TransformResponse(c.x, out, signingTransport{c})
	if err != nil {
		return nil, err
	}
	if part > 0 && resp.StatusCode/100 == 2 {
		if rec.Parts > 0 {
			resp.Header.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(rec.Parts))
		}
		if c.req.Method == http.MethodHead && resp.StatusCode == http.StatusOK {
			// HEAD of a part: its own length.
			resp.ContentLength = partLen
			resp.Header.Set("Content-Length", strconv.FormatInt(partLen, 10))
		}
	}
	if resp.StatusCode == http.StatusOK && c.req.Method == http.MethodGet && c.isBucketRead() && strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		return c.rewriteListing(resp)
	}
	if resp.StatusCode == http.StatusOK && c.req.Method == http.MethodGet && c.req.URL.Query().Has("attributes") {
		return c.rewriteAttributes(resp, rec)
	}
	// An object's body is the client's own: nothing in it is rewritten.
	// (Subresources — ?tagging, ?acl — are the gateway's XML answers.)
	c.objectBody = resp.StatusCode/100 == 2 && !hasSubresource(c.req.URL.Query())
	clientETag(resp.Header, rec)
	c.openMetadata(resp.Header)
	return c.plainResponse(resp), nil
}

// signingTransport signs each request the decrypting reader sends.
type signingTransport struct{ c *call }

func (t signingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.c.send(r, nil, 0, "", "")
}

// isBucketRead reports whether a GET reads a bucket (a listing or a
// bucket subresource) rather than an object: path-style, a path of the
// bucket alone.
func (c *call) isBucketRead() bool {
	return !strings.Contains(strings.Trim(c.req.URL.Path, "/"), "/")
}

// sendForXML sends out with body (payloadHash its SHA-256) and reads a
// 200 answer's XML document whole; any other answer comes back as it is,
// with doc nil.
func (c *call) sendForXML(out *http.Request, body []byte, payloadHash string) (resp *http.Response, doc []byte, err error) {
	if resp, err = c.send(out, bytes.NewReader(body), int64(len(body)), payloadHash, ""); err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return c.plainResponse(resp), nil, nil
	}
	if doc, err = readUpstreamXML(resp); err != nil {
		return nil, nil, err
	}
	return resp, doc, nil
}

// maxXMLAnswer bounds the XML answers the gateway reads whole (listings,
// upload and copy results).
const maxXMLAnswer = 32 << 20

// readUpstreamXML reads a small XML answer whole.
func readUpstreamXML(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxXMLAnswer+1))
	if err == nil && len(doc) > maxXMLAnswer {
		return nil, newError(http.StatusBadGateway, "InternalError", "the storage service's answer is larger than the gateway reads")
	}
	if err != nil {
		return nil, newError(http.StatusBadGateway, "InternalError", "the storage service's answer was cut").withCause(err)
	}
	return doc, nil
}

func replaceBody(resp *http.Response, body []byte) *http.Response {
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
	resp.Header.Del("Content-Md5")
	return resp
}

// xmlValue returns the text of the first <name> element in doc (as
// written, entities unresolved).
func xmlValue(doc []byte, name string) (string, bool) {
	_, v, _, ok := findXML(doc, name, 0)
	return v, ok
}

// findXML finds <name>value</name> from off: the offsets of value.
func findXML(doc []byte, name string, off int) (start int, value string, end int, ok bool) {
	open, close := "<"+name+">", "</"+name+">"
	i := bytes.Index(doc[off:], []byte(open))
	if i < 0 {
		return 0, "", 0, false
	}
	start = off + i + len(open)
	j := bytes.Index(doc[start:], []byte(close))
	if j < 0 {
		return 0, "", 0, false
	}
	return start, string(doc[start : start+j]), start + j, true
}

func replaceXMLValue(doc []byte, name, value string) []byte {
	s, _, e, ok := findXML(doc, name, 0)
	if !ok {
		return doc
	}
	return append(append(append([]byte(nil), doc[:s]...), value...), doc[e:]...)
}

// html resolves the entities S3 writes in ETags.
func html(s string) string {
	return strings.NewReplacer("&quot;", `"`, "&#34;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">", "&apos;", "'").Replace(s)
}

// hasSubresource reports whether a GET names something other than the
// object's content: ?tagging, ?acl, ?attributes, ?retention…
func hasSubresource(q url.Values) bool {
	for k := range q {
		switch {
		case k == "versionId" || k == "partNumber" || strings.HasPrefix(k, "response-") || strings.HasPrefix(k, "X-Amz-") || strings.HasPrefix(k, "x-amz-"):
		default:
			return true
		}
	}
	return false
}

// rewriteAttributes answers GetObjectAttributes in the client's terms: the
// plaintext size and ETag of an object the gateway stored; the provider's
// checksums and part list describe the ciphertext, so they go.
func (c *call) rewriteAttributes(resp *http.Response, rec *objectRecord) (*http.Response, error) {
	doc, err := readUpstreamXML(resp)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		if etag, ok := xmlValue(doc, "ETag"); ok && unquote(html(etag)) == rec.CT {
			doc = replaceXMLValue(doc, "ETag", rec.PT)
			doc = replaceXMLValue(doc, "ObjectSize", strconv.FormatInt(rec.Size, 10))
		}
	}
	for _, el := range []string{"Checksum", "ObjectParts"} {
		doc = removeXMLElement(doc, el)
	}
	return c.plainResponse(replaceBody(resp, doc)), nil
}

// removeXMLElement removes every <name>…</name> from doc.
func removeXMLElement(doc []byte, name string) []byte {
	open, close := []byte("<"+name+">"), []byte("</"+name+">")
	for {
		i := bytes.Index(doc, open)
		if i < 0 {
			return doc
		}
		j := bytes.Index(doc[i:], close)
		if j < 0 {
			return doc
		}
		doc = append(doc[:i:i], doc[i+j+len(close):]...)
	}
}

// partRange turns a GET or HEAD by part number (?partNumber=N) into the
// plaintext range of that part: the provider's parts are not the
// client's. It returns the part number, 0 if none was asked.
func (c *call) partRange(out *http.Request, rec *objectRecord) (n int, length int64, err error) {
	q := out.URL.Query()
	v := q.Get("partNumber")
	if v == "" {
		return 0, 0, nil
	}
	if n, err = strconv.Atoi(v); err != nil || n < 1 {
		return 0, 0, newError(http.StatusBadRequest, "InvalidArgument", "partNumber must be a positive integer")
	}
	if rec == nil {
		return 0, 0, NotImplemented("this object was not stored through sluss, so its parts are unknown: read it with a Range")
	}
	parts, size := rec.Parts, rec.PartSize
	if parts == 0 {
		parts, size = 1, rec.Size // a single-part object is its one part
	}
	if n > parts {
		return 0, 0, newError(http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable")
	}
	q.Del("partNumber")
	out.URL.RawQuery = q.Encode()
	from := int64(n-1) * size
	length = min(size, rec.Size-from)
	if out.Method == http.MethodGet && length > 0 {
		out.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, from+length-1))
	}
	return n, length, nil
}
