package nextcloud

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway"
)

// maxListing bounds the PROPFIND answers fileSizes rewrites; larger ones
// pass unchanged (as the webdav profile's sizes do).
const maxListing = 16 << 20

// fileSizes reports Nextcloud's own size property (oc:size) of each file
// in a PROPFIND answer as the plaintext's size, as the webdav profile
// does for getcontentlength: the desktop client reads both into one
// field, whichever comes last. A folder's oc:size (the sum of what it
// holds) stays the provider's: the number of files in it is not known.
type fileSizes struct{}

var (
	davResponse = regexp.MustCompile(`(?s)<(?:[A-Za-z0-9_.-]+:)?response(?:\s[^>]*)?>.*?</(?:[A-Za-z0-9_.-]+:)?response>`)
	collection  = regexp.MustCompile(`<(?:[A-Za-z0-9_.-]+:)?collection\s*/>`)
	ocSize      = regexp.MustCompile(`(<(?:[A-Za-z0-9_.-]+:)?size(?:\s[^>]*)?>)\s*(\d+)\s*(</)`)
)

func (fileSizes) TransformResponse(x *gateway.Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusMultiStatus || resp.Header.Get("Content-Encoding") != "" {
		return resp, err
	}
	_, recipients, err := x.Keys.EncryptionKeys()
	if err != nil {
		resp.Body.Close()
		return nil, refusal(http.StatusServiceUnavailable, "the region's encryption key is unavailable", err)
	}
	hs, err := crypto.HeaderSize(recipients...)
	if err != nil {
		resp.Body.Close()
		return nil, refusal(http.StatusServiceUnavailable, "the region's encryption key is unusable", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListing+1))
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if len(body) > maxListing {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	body = davResponse.ReplaceAllFunc(body, func(entry []byte) []byte {
		if collection.Match(entry) {
			return entry
		}
		return ocSize.ReplaceAllFunc(entry, func(m []byte) []byte {
			sm := ocSize.FindSubmatch(m)
			n, err := strconv.ParseInt(string(sm[2]), 10, 64)
			if err != nil {
				return m
			}
			ps, err := crypto.PlaintextSize(n, hs)
			if err != nil {
				return m
			}
			return append(append(append([]byte{}, sm[1]...), strconv.FormatInt(ps, 10)...), sm[3]...)
		})
	})
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}
