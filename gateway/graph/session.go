package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
)

// sessionKey is the state key of the upload session at an upload URL: a
// digest, since the URL carries the provider's pre-authentication.
func sessionKey(host, escapedPath, rawQuery string) string {
	host = strings.ToLower(host)
	host = strings.TrimSuffix(strings.TrimSuffix(host, ":443"), ":80")
	sum := sha256.Sum256([]byte(host + "\x00" + escapedPath + "\x00" + rawQuery))
	return "graph/s/" + hex.EncodeToString(sum[:])
}

func sessionKeyOf(uploadURL string) (string, error) {
	u, err := url.Parse(uploadURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("the provider's uploadUrl is not a URL")
	}
	return sessionKey(u.Host, u.EscapedPath(), u.RawQuery), nil
}

// maxCreateBody bounds a createUploadSession body.
const maxCreateBody = 64 << 10

// createSession begins an upload: the provider's session is created for
// the age file's size, with the path and item.name pseudonymized.
func (c *call) createSession() (*http.Response, error) {
	ctx := c.req.Context()
	var doc map[string]any
	if c.req.Body != nil && c.req.Body != http.NoBody {
		var err error
		if doc, _, err = readJSON(c.req.Body, maxCreateBody); err != nil {
			return nil, graphError(http.StatusBadRequest, "invalidRequest", "the createUploadSession body is not a JSON object the gateway can read")
		}
		c.req.Body.Close()
	}
	if doc == nil {
		doc = map[string]any{}
	}
	if v, ok := doc["deferCommit"].(bool); ok && v {
		return nil, graphError(http.StatusNotImplemented, "notSupported", "deferCommit upload sessions are not supported through sluss; leave deferCommit out")
	}
	item, _ := doc["item"].(map[string]any)
	size := int64(-1)
	if item != nil {
		if fs, ok := item["fileSize"]; ok {
			n, err := strconv.ParseInt(fmt.Sprint(fs), 10, 64)
			if err != nil || n <= 0 {
				return nil, graphError(http.StatusBadRequest, "invalidRequest", "item.fileSize must be a positive whole number (an empty file cannot be uploaded in a session)")
			}
			size = n
		}
	}
	if c.documents {
		if typ := c.documentUpload(item); typ != "" {
			return c.createDocumentSession(doc, item, size, typ)
		}
	}
	var session map[string]any
	var upstreamErr error
	info, err := c.engine.Begin(ctx, resumable.Options{Size: size, Granule: Granule, MaxSend: MaxFragment},
		func(cipherSize int64) (string, map[string]string, error) {
			if item != nil {
				if cipherSize >= 0 {
					item["fileSize"] = cipherSize
				} else {
					delete(item, "fileSize")
				}
			}
			if err := c.pseudonymizeCreate(doc, item); err != nil {
				upstreamErr = err
				return "", nil, err
			}
			resp, err := c.next.RoundTrip(c.req)
			if err != nil {
				upstreamErr = err
				return "", nil, err
			}
			defer resp.Body.Close()
			s, raw, err := readJSON(resp.Body, maxJSON)
			if resp.StatusCode != http.StatusOK {
				upstreamErr = &Error{Status: resp.StatusCode, Code: "provider", Body: raw}
				return "", nil, upstreamErr
			}
			if err != nil {
				upstreamErr = graphError(http.StatusBadGateway, "generalException", "the provider's upload session answer is not JSON")
				return "", nil, upstreamErr
			}
			u, _ := s["uploadUrl"].(string)
			key, err := sessionKeyOf(u)
			if err != nil {
				upstreamErr = graphError(http.StatusBadGateway, "generalException", "the provider's upload session has no uploadUrl")
				return "", nil, upstreamErr
			}
			session = s
			exp, _ := s["expirationDateTime"].(string)
			return key, map[string]string{"expires": exp}, nil
		})
	if err != nil {
		if upstreamErr != nil {
			return nil, upstreamErr
		}
		return nil, err
	}
	c.x.Encrypted(info.KeyVersion)
	session["nextExpectedRanges"] = ranges(info)
	body, _ := json.Marshal(session)
	return c.answer(jsonResponse(c.req, http.StatusOK, body))
}

// pseudonymizeCreate pseudonymizes a createUploadSession request: the
// path first, then item.name becomes the path's file name token when the
// client gave the same name in both (the JSON pass would tokenize a name
// field differently from a path segment, and the provider would get two
// names for one file), then the rest of the body.
func (c *call) pseudonymizeCreate(doc, item map[string]any) error {
	name := pathFileName(c.req.URL.Path)
	c.req.Body, c.req.ContentLength = http.NoBody, 0
	c.req.Header.Del("Content-Length")
	c.req.Header.Del("Content-Encoding")
	if err := (gateway.Pseudonymize{}).TransformRequest(c.x, c.req); err != nil {
		return err
	}
	if n, ok := item["name"].(string); ok && name != "" && n == name {
		item["name"] = pathFileName(c.req.URL.Path)
	}
	body, _ := json.Marshal(doc)
	c.req.Body, c.req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	c.req.Header.Set("Content-Type", "application/json")
	c.req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return (gateway.Pseudonymize{}).TransformRequest(c.x, c.req)
}

// pathFileName is the file name a createUploadSession path addresses
// (…:/folder/name:/createUploadSession), or "" for one by item id.
func pathFileName(p string) string {
	p = strings.TrimSuffix(p, "/createUploadSession")
	p, ok := strings.CutSuffix(p, ":")
	if !ok || !strings.Contains(p, ":/") {
		return ""
	}
	return p[strings.LastIndex(p, "/")+1:]
}

// ranges is the plaintext nextExpectedRanges of an upload.
func ranges(info resumable.Info) []string {
	r := strconv.FormatInt(info.Offset, 10) + "-"
	if info.Size > 0 {
		r += strconv.FormatInt(info.Size-1, 10)
	}
	return []string{r}
}

// session serves a request to the upload URL of a session the gateway
// created.
func (c *call) session(key string, info resumable.Info) (*http.Response, error) {
	switch c.req.Method {
	case http.MethodPut:
		return c.fragment(key)
	case http.MethodGet:
		if info.Done {
			return nil, graphError(http.StatusNotFound, "itemNotFound", "the upload session is complete")
		}
		return c.sessionStatus(info, info.Meta["expires"])
	case http.MethodDelete:
		out := c.upstreamRequest(c.req.Context(), http.MethodDelete, nil)
		resp, err := c.next.RoundTrip(out)
		if err != nil {
			return nil, err
		}
		if err := c.engine.Abort(c.req.Context(), key); err != nil && !errors.Is(err, resumable.ErrNotFound) {
			resp.Body.Close()
			return nil, err
		}
		if err := c.a.State.DeletePrefix(c.req.Context(), hashPrefix(key)); err != nil {
			c.x.Log.Warn().Err(err).Msg("graph: hash shares not removed")
		}
		return resp, nil
	}
	return nil, graphError(http.StatusMethodNotAllowed, "invalidRequest", "upload URLs take PUT, GET and DELETE through sluss")
}

func (c *call) sessionStatus(info resumable.Info, expires string) (*http.Response, error) {
	body, _ := json.Marshal(map[string]any{"expirationDateTime": expires, "nextExpectedRanges": ranges(info)})
	return jsonResponse(c.req, http.StatusOK, body), nil
}

// fragment appends one client fragment (plaintext Content-Range) to the
// upload.
func (c *call) fragment(key string) (*http.Response, error) {
	first, last, total, err := parseContentRange(c.req.Header.Get("Content-Range"))
	if err != nil {
		return nil, graphError(http.StatusBadRequest, "invalidRequest", err.Error())
	}
	n := last - first + 1
	if ce := c.req.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, graphError(http.StatusUnsupportedMediaType, "invalidRequest", "fragments are taken as they are: send them without Content-Encoding")
	}
	if c.req.ContentLength >= 0 && c.req.ContentLength != n {
		return nil, graphError(http.StatusBadRequest, "invalidRequest", "Content-Length must equal the length Content-Range gives")
	}
	up := &upstream{c: c}
	ctx := c.req.Context()
	hashed := newMarkedQuickXorAt(first)
	body := &countingReader{r: io.TeeReader(c.req.Body, hashed)}
	share := func() error { return c.keepShare(ctx, key, first, n, hashed) }
	var res resumable.Result
	for wait := 20 * time.Millisecond; ; wait *= 2 {
		res, err = c.engine.Append(ctx, key, resumable.Piece{
			Offset: first, Length: n, Size: total, Final: last+1 == total, Body: body, Check: share,
		}, up)
		// A client that lost its connection in the middle of a fragment
		// resends at once, while the gateway may still be winding the
		// broken request down: the new fragment waits for it a while.
		if !errors.Is(err, resumable.ErrBusy) || body.n > 0 || wait > busyWait {
			break
		}
		select {
		case <-c.req.Context().Done():
			return nil, c.req.Context().Err()
		case <-time.After(wait):
		}
	}
	if err != nil {
		if body.n > 0 {
			c.countPart(key, first, n, hashed)
		}
		return nil, err
	}
	c.x.Encrypted(res.KeyVersion)
	if !res.Done {
		expires := res.Meta["expires"]
		if s, ok := res.Reply.(map[string]any); ok {
			if e, ok := s["expirationDateTime"].(string); ok {
				expires = e
			}
		}
		st, err := c.sessionStatus(res.Info, expires)
		if st != nil {
			st.StatusCode, st.Status = http.StatusAccepted, "202 Accepted"
		}
		return st, err
	}
	done, ok := res.Reply.(*completed)
	if !ok {
		// The provider held the whole file already (a retried last
		// fragment whose answer was lost): its driveItem is not known
		// here, the client finds it by its path.
		item, _ := json.Marshal(map[string]any{"size": res.Size})
		return c.answer(jsonResponse(c.req, http.StatusCreated, item))
	}
	qx, _ := c.fileQuickXor(ctx, key, res.Size)
	c.remember(done.item, itemRecord{Size: res.Size, QuickXor: qx})
	plaintextItem(done.item, res.Size, qx)
	item, _ := json.Marshal(done.item)
	return c.answer(jsonResponse(c.req, done.status, item))
}

// countPart rewrites the hash share of a fragment that failed: for the
// part the engine counted when it resumes the client inside the
// fragment, none when it resumes at the fragment's start (the retry
// writes it).
func (c *call) countPart(key string, first, n int64, hashed *quickXor) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.req.Context()), 5*time.Second)
	defer cancel()
	info, err := c.engine.Status(ctx, key)
	if err != nil {
		return
	}
	if part, ok := hashed.upTo(info.Offset); ok && info.Offset > first && info.Offset < first+n {
		_ = c.keepShare(ctx, key, first, part.n, part)
		return
	}
	_ = c.a.State.Update(ctx, hashKey(key, first), c.ttl(), func([]byte) ([]byte, error) { return nil, nil })
}

// completed is the provider's answer to the last fragment.
type completed struct {
	status int
	item   map[string]any
}

// upstream stores the ciphertext of one client fragment at the upload
// URL, in fragments of ciphertext offsets.
type upstream struct{ c *call }

func (u *upstream) Send(ctx context.Context, s resumable.Send) (any, error) {
	if s.Length == 0 {
		return nil, nil
	}
	if s.Total < 0 {
		return nil, fmt.Errorf("the file's size is not known for Content-Range")
	}
	out := u.c.upstreamRequest(ctx, http.MethodPut, s.Body)
	out.ContentLength = s.Length
	out.Header.Set("Content-Length", strconv.FormatInt(s.Length, 10))
	out.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s.Offset, s.Offset+s.Length-1, s.Total))
	resp, err := u.c.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	doc, _, jerr := readJSON(resp.Body, maxJSON)
	switch resp.StatusCode {
	case http.StatusAccepted:
		return doc, nil
	case http.StatusOK, http.StatusCreated:
		if jerr != nil {
			return nil, graphError(http.StatusBadGateway, "generalException", "the provider's driveItem is not JSON")
		}
		return &completed{status: resp.StatusCode, item: doc}, nil
	}
	// The provider's answer speaks of ciphertext offsets: the client
	// gets the status and asks for the plaintext ones.
	return nil, providerError(resp.StatusCode, doc)
}

// Offset asks the upload URL where the provider wants the upload to go
// on.
func (u *upstream) Offset(ctx context.Context, committed int64) (int64, error) {
	resp, err := u.c.next.RoundTrip(u.c.upstreamRequest(ctx, http.MethodGet, nil))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	doc, raw, err := readJSON(resp.Body, maxJSON)
	if resp.StatusCode != http.StatusOK || err != nil {
		return 0, &Error{Status: resp.StatusCode, Code: "provider", Body: raw}
	}
	list, _ := doc["nextExpectedRanges"].([]any)
	if len(list) == 0 {
		return 0, fmt.Errorf("the provider's upload status has no nextExpectedRanges")
	}
	r, _ := list[0].(string)
	a, _, _ := strings.Cut(r, "-")
	return strconv.ParseInt(a, 10, 64)
}

// upstreamRequest is a request to the upload URL the client addressed,
// with none of the client's headers: the URL is pre-authenticated.
func (c *call) upstreamRequest(ctx context.Context, method string, body io.Reader) *http.Request {
	out := c.req.Clone(ctx)
	out.Method = method
	out.Header = http.Header{}
	if ua := c.req.Header.Get("User-Agent"); ua != "" {
		out.Header.Set("User-Agent", ua)
	}
	out.TransferEncoding = nil
	out.Body, out.ContentLength = http.NoBody, 0
	if body != nil {
		out.Body = io.NopCloser(body)
		out.Header.Set("Content-Type", "application/octet-stream")
	}
	return out
}

// parseContentRange parses a fragment's "bytes first-last/total".
func parseContentRange(h string) (first, last, total int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	rng, tot, ok2 := strings.Cut(spec, "/")
	a, b, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, 0, errors.New("a fragment needs Content-Range: bytes first-last/total")
	}
	first, e1 := strconv.ParseInt(a, 10, 64)
	last, e2 := strconv.ParseInt(b, 10, 64)
	total, e3 := strconv.ParseInt(tot, 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || first < 0 || last < first || total <= last {
		return 0, 0, 0, errors.New("the fragment's Content-Range is not bytes first-last/total with first <= last < total")
	}
	return first, last, total, nil
}

// busyWait is about how long a fragment waits for another one of its
// upload to end.
const busyWait = 5 * time.Second

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// providerError is the client's account of the provider refusing an
// encrypted fragment.
func providerError(status int, doc map[string]any) *Error {
	code := "generalException"
	if e, ok := doc["error"].(map[string]any); ok {
		if s, ok := e["code"].(string); ok && s != "" {
			code = s
		}
	}
	msg := fmt.Sprintf("the provider refused the encrypted fragment (%d %s); GET the upload URL for where to resume", status, code)
	if status < 400 {
		status = http.StatusBadGateway
	}
	return &Error{Status: status, Code: code, Message: msg}
}
