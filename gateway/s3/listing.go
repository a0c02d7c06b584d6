package s3

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// rewriteListing reports, in a ListObjects(V2) or ListObjectVersions
// answer, the plaintext sizes and client ETags of the objects the gateway
// stored. Objects it has no record of are listed as the provider lists
// them.
func (c *call) rewriteListing(resp *http.Response) (*http.Response, error) {
	doc, err := readUpstreamXML(resp)
	if err != nil {
		return nil, err
	}
	base := ""
	if seg, _, _ := strings.Cut(strings.Trim(c.upstreamPath(), "/"), "/"); seg != "" {
		base = "/" + seg
	}
	urlEncoded := bytes.Contains(doc, []byte("<EncodingType>url</EncodingType>"))
	var out bytes.Buffer
	for off := 0; ; {
		i := indexEither(doc[off:], "<Contents>", "<Version>")
		if i < 0 {
			out.Write(doc[off:])
			break
		}
		start := off + i
		tag := "</Contents>"
		if bytes.HasPrefix(doc[start:], []byte("<Version>")) {
			tag = "</Version>"
		}
		j := bytes.Index(doc[start:], []byte(tag))
		if j < 0 {
			out.Write(doc[off:])
			break
		}
		end := start + j + len(tag)
		out.Write(doc[off:start])
		out.Write(c.rewriteEntry(doc[start:end], base, urlEncoded))
		off = end
	}
	return c.plainResponse(replaceBody(resp, out.Bytes())), nil
}

func indexEither(b []byte, a, z string) int {
	i, j := bytes.Index(b, []byte(a)), bytes.Index(b, []byte(z))
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	}
	return min(i, j)
}

func (c *call) rewriteEntry(entry []byte, base string, urlEncoded bool) []byte {
	k, ok := xmlValue(entry, "Key")
	if !ok {
		return entry
	}
	k = html(k)
	if urlEncoded {
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
	}
	rec := c.lookupObject(objectKey(c.req.URL.Host, base+"/"+k))
	if rec == nil {
		return entry
	}
	etag, ok := xmlValue(entry, "ETag")
	if !ok || unquote(html(etag)) != rec.CT {
		return entry // another version than the one recorded
	}
	entry = replaceXMLValue(entry, "ETag", "&quot;"+rec.PT+"&quot;")
	return replaceXMLValue(entry, "Size", strconv.FormatInt(rec.Size, 10))
}
