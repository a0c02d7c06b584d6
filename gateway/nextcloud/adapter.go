package nextcloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/uploads"
)

// Adapter is the nextcloud profile: register [Adapter.Profile] as the
// gateway's "nextcloud" profile. Set State before the gateway serves.
type Adapter struct {
	State uploads.Store
	// TTL is how long an unfinished chunked upload is remembered after
	// its last chunk; default 7 days.
	TTL time.Duration
	// SeqWait is how long a chunk waits for its predecessor; default 5
	// minutes.
	SeqWait time.Duration
	Log     zerolog.Logger

	order chunkOrder
}

// optionDocuments is the profile's one option: "true" has office
// documents pseudonymized inside instead of encrypted (documents.go).
const optionDocuments = "documents"

// Profile builds the rules of a nextcloud service. Its one option is
// documents: "true" (or "false", the default).
func (a *Adapter) Profile(options map[string]string) ([]gateway.Rule, error) {
	documents := false
	for k, v := range options {
		if k != optionDocuments {
			return nil, fmt.Errorf("unknown option %q (the nextcloud profile takes %s)", k, optionDocuments)
		}
		switch v {
		case "true":
			documents = true
		case "false", "":
		default:
			return nil, fmt.Errorf("option %s must be \"true\" or \"false\", not %q", optionDocuments, v)
		}
	}
	webdav, err := gateway.ProfileRules("webdav")
	if err != nil {
		return nil, err
	}
	if documents {
		if webdav, err = documentRules(webdav); err != nil {
			return nil, err
		}
	}
	meta := []gateway.RequestTransformer{gateway.Pseudonymize{MarkupAsText: true}}
	rules := []gateway.Rule{
		{
			// Chunked upload: names pseudonymized by the core, bodies
			// left to the adapter, which never forwards them.
			Path:      uploadsPrefix + "*",
			Request:   []gateway.RequestTransformer{refuseDotSegments{}, keepAccount{gateway.Pseudonymize{EncryptedBody: true}}},
			Response:  []gateway.ResponseTransformer{gateway.Reidentify{}, &chunked{a: a, documents: documents}},
			WebSocket: gateway.WebSocketRefuse,
		},
		{
			Path: "/remote.php/dav/bulk*",
			Deny: "bulk upload is not supported through sluss: upload files one by one (the capability is not offered)",
		},
		{
			Methods:  []string{http.MethodGet},
			Path:     "/ocs/v[12].php/cloud/capabilities",
			Request:  meta,
			Response: []gateway.ResponseTransformer{gateway.Reidentify{}, capabilities{}},
		},
	}
	// Chunking v1 is refused before the webdav upload rule encrypts.
	for _, ru := range webdav {
		ru.Request = append([]gateway.RequestTransformer{refuseDotSegments{}}, ru.Request...)
		if slices.Contains(ru.Methods, http.MethodPut) {
			ru.Request = append([]gateway.RequestTransformer{refuseV1{}}, ru.Request...)
		}
		for i, t := range ru.Request {
			switch t.(type) {
			case gateway.Pseudonymize, gateway.PseudonymizeDocuments:
				ru.Request = slices.Clone(ru.Request)
				ru.Request[i] = keepAccount{t}
				// What the webdav rules derive for WebSockets.
				ru.WebSocket = gateway.WebSocketRefuse
			}
		}
		// Nextcloud's oc:size of files in plaintext too.
		for i, t := range ru.Response {
			if _, ok := t.(gateway.WebDAVSizes); ok {
				ru.Response = slices.Clone(ru.Response)
				ru.Response[i] = gateway.WebDAVSizes{OCSize: true, Documents: documents}
			}
		}
		rules = append(rules, ru)
	}
	return rules, nil
}

// v1ChunkName is chunking v1's name of a piece: FILE-chunking-ID-COUNT-INDEX.
var v1ChunkName = regexp.MustCompile(`-chunking-\d+-\d+-\d+$`)

// refuseV1 refuses chunking v1: its pieces would be encrypted as files
// of their own, which the server joins into no age file.
type refuseV1 struct{}

func (refuseV1) TransformRequest(x *gateway.Exchange, req *http.Request) error {
	if req.Header.Get("OC-Chunked") != "" || v1ChunkName.MatchString(req.URL.Path) {
		x.Denied()
		return &gateway.RefusedError{Status: http.StatusNotImplemented, Reason: "chunking v1 is not supported through sluss: use chunking v2 (the server's capabilities offer it)"}
	}
	return nil
}

// refuseDotSegments refuses paths (and Destination headers) with "." or
// ".." segments or empty ones: the server would resolve them, so that a
// chunk could reach the upload folder by a path the chunked-upload rule
// does not match (and be encrypted as a file of its own, breaking the
// upload), or a file land where its rule did not look.
type refuseDotSegments struct{}

func (refuseDotSegments) TransformRequest(x *gateway.Exchange, req *http.Request) error {
	paths := []string{req.URL.Path}
	if d := req.Header.Get("Destination"); d != "" {
		u, err := url.Parse(d)
		if err != nil {
			x.Denied()
			return &gateway.RefusedError{Status: http.StatusBadRequest, Reason: "the Destination header is not a URL"}
		}
		paths = append(paths, u.Path)
	}
	for _, p := range paths {
		// A folder's path may end in a slash; nothing else may be empty.
		rest := strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
		if rest == "" {
			continue
		}
		for _, seg := range strings.Split(rest, "/") {
			if seg == "" || seg == "." || seg == ".." {
				x.Denied()
				return &gateway.RefusedError{Status: http.StatusBadRequest, Reason: "paths with empty, . or .. segments are not forwarded"}
			}
		}
	}
	return nil
}

// maxCapabilities bounds the capabilities document the adapter rewrites.
const maxCapabilities = 4 << 20

// capabilities removes bulk upload from the capabilities the client
// reads, so that it uploads through WebDAV and chunking, which the
// gateway encrypts.
type capabilities struct{}

func (capabilities) TransformResponse(x *gateway.Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	req.Header.Del("Accept-Encoding")
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCapabilities+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > maxCapabilities || resp.Header.Get("Content-Encoding") != "" {
		return nil, &gateway.RefusedError{Status: http.StatusBadGateway, Reason: "the server's capabilities could not be read"}
	}
	out, err := withoutBulkUpload(body, resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, &gateway.RefusedError{Status: http.StatusBadGateway, Reason: "the server's capabilities could not be read", Err: err}
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return resp, nil
}

var xmlBulkUpload = regexp.MustCompile(`<bulkupload>[^<]*</bulkupload>|<bulkupload/>`)

// withoutBulkUpload deletes ocs.data.capabilities.dav.bulkupload from a
// JSON or XML capabilities document.
func withoutBulkUpload(body []byte, contentType string) ([]byte, error) {
	if strings.Contains(contentType, "xml") {
		return xmlBulkUpload.ReplaceAll(body, nil), nil
	}
	var top map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&top); err != nil {
		return nil, err
	}
	dav, ok := dig(top, "ocs", "data", "capabilities", "dav")
	if !ok {
		return body, nil
	}
	delete(dav, "bulkupload")
	return json.Marshal(top)
}

func dig(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}
