package gateway

import (
	"bytes"
	"html"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"

	"github.com/sluss/sluss/crypto"
)

// maxListing bounds the PROPFIND listings WebDAVSizes rewrites; larger ones
// pass unchanged.
const maxListing = 16 << 20

// WebDAVSizes is the response transformer that reports, in PROPFIND
// listings of a WebDAV service whose files the gateway encrypts, the
// plaintext size of each file instead of its ciphertext size, so that sync
// clients that compare sizes (rclone) agree with what they uploaded. The
// sizes are computed for the current recipients' header size; a listed
// size that no age file can have is left as is.
//
// With OCSize, the oc:size of files is rewritten too (Nextcloud's
// property, which its desktop client reads into the same field as
// getcontentlength); a folder's oc:size, the sum of what it holds, stays
// the provider's, since the number of files in it is not known.
//
// With Documents (a service whose office documents are pseudonymized
// inside, not encrypted), a file whose name is an office document's
// (see [IsDocument]) keeps the sizes listed: it is stored as the
// pseudonymized document, not as an age file, so no age overhead is
// taken off. A file named so that the gateway encrypted all the same (it
// was uploaded under a type that is not a document's) is then listed at
// its stored size.
type WebDAVSizes struct {
	OCSize    bool
	Documents bool
}

var (
	contentLengthProp = regexp.MustCompile(`(<(?:[A-Za-z0-9_.-]+:)?getcontentlength(?:\s[^>]*)?>)\s*(\d+)\s*(</)`)
	davResponse       = regexp.MustCompile(`(?s)<(?:[A-Za-z0-9_.-]+:)?response(?:\s[^>]*)?>.*?</(?:[A-Za-z0-9_.-]+:)?response>`)
	davCollection     = regexp.MustCompile(`<(?:[A-Za-z0-9_.-]+:)?collection\s*/>`)
	ocSizeProp        = regexp.MustCompile(`(<(?:[A-Za-z0-9_.-]+:)?size(?:\s[^>]*)?>)\s*(\d+)\s*(</)`)
)

var davHref = regexp.MustCompile(`<(?:[A-Za-z0-9_.-]+:)?href(?:\s[^>]*)?>([^<]*)</`)

// documentEntry says whether a listing's entry is a file named as an
// office document.
func documentEntry(entry []byte) bool {
	if davCollection.Match(entry) {
		return false
	}
	m := davHref.FindSubmatch(entry)
	if m == nil {
		return false
	}
	href := html.UnescapeString(string(m[1]))
	if u, err := url.Parse(href); err == nil {
		href = u.Path
	}
	return IsDocument(path.Base(href), "")
}

func (w WebDAVSizes) TransformResponse(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusMultiStatus {
		return resp, err
	}
	_, recipients, err := x.Keys.EncryptionKeys()
	if err != nil {
		resp.Body.Close()
		return nil, refuse(http.StatusServiceUnavailable, "the region's encryption key is unavailable", err)
	}
	hs, err := crypto.HeaderSize(recipients...)
	if err != nil {
		resp.Body.Close()
		return nil, refuse(http.StatusServiceUnavailable, "the region's encryption key is unusable", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListing+1))
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if len(body) > maxListing {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	plain := func(prop *regexp.Regexp) func([]byte) []byte {
		return func(m []byte) []byte {
			sm := prop.FindSubmatch(m)
			n, err := strconv.ParseInt(string(sm[2]), 10, 64)
			if err != nil {
				return m
			}
			ps, err := crypto.PlaintextSize(n, hs)
			if err != nil {
				return m
			}
			return append(append(append([]byte{}, sm[1]...), strconv.FormatInt(ps, 10)...), sm[3]...)
		}
	}
	body = davResponse.ReplaceAllFunc(body, func(entry []byte) []byte {
		if w.Documents && documentEntry(entry) {
			return entry
		}
		entry = contentLengthProp.ReplaceAllFunc(entry, plain(contentLengthProp))
		if w.OCSize && !davCollection.Match(entry) {
			entry = ocSizeProp.ReplaceAllFunc(entry, plain(ocSizeProp))
		}
		return entry
	})
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}
