package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/uploads"
)

// Credential is what the key store holds for one S3 access key.
type Credential struct {
	AccessKeyID, Secret string
	// User is the sluss user an issued key belongs to; empty for a
	// transparent key (a client's own, which the gateway signs upstream
	// with too).
	User   string
	Issued bool
}

// String keeps the secret out of logs.
func (c Credential) String() string { return "s3 credential " + c.AccessKeyID }

// GoString keeps the secret out of %#v.
func (c Credential) GoString() string { return c.String() }

// Adapter is the s3 profile: register [Adapter.Profile] as the gateway's
// "s3" profile. It needs the key store's S3 credentials and the shared
// upload-state store.
type Adapter struct {
	// Credentials returns the credential of an access key id, or an error
	// wrapping ErrUnknownAccessKey.
	Credentials func(accessKeyID string) (Credential, error)
	State       uploads.Store
	// Now is the clock signatures are checked against; default time.Now.
	Now func() time.Time
	Log zerolog.Logger

	once     sync.Once
	active   *activeParts
	metaKeys metaKeyCache
}

// Options of the s3 profile (a service's options: map):
//
//	upstream_key: ACCESS_KEY_ID   # credential the gateway signs upstream
//	                              # with for issued keys (kept in the key store)
//	region: eu-north-1            # region to sign upstream with when the
//	                              # client's signature names none
//	documents: "true"             # office documents are pseudonymized
//	                              # inside instead of encrypted (documents.go)
const (
	optionUpstreamKey = "upstream_key"
	optionRegion      = "region"
	optionDocuments   = "documents"
)

// Profile builds the rules of an s3 service: every request goes to the
// adapter, which verifies the client's signature, transforms and
// re-signs.
func (a *Adapter) Profile(options map[string]string) ([]gateway.Rule, error) {
	svc := &service{a: a, region: options[optionRegion], upstreamKey: options[optionUpstreamKey]}
	for k, v := range options {
		switch k {
		case optionRegion, optionUpstreamKey:
		case optionDocuments:
			switch v {
			case "true":
				svc.documents = true
			case "false", "":
			default:
				return nil, fmt.Errorf("option %s must be \"true\" or \"false\", not %q", optionDocuments, v)
			}
		default:
			return nil, fmt.Errorf("unknown option %q (known: %s, %s, %s)", k, optionRegion, optionUpstreamKey, optionDocuments)
		}
	}
	a.once.Do(func() { a.active = newActiveParts() })
	return []gateway.Rule{{
		Response:  []gateway.ResponseTransformer{svc},
		WebSocket: gateway.WebSocketRefuse,
	}}, nil
}

func (a *Adapter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// service is one s3 service's transformer.
type service struct {
	a           *Adapter
	region      string
	upstreamKey string
	// documents: office documents are pseudonymized inside, not
	// encrypted (documents.go).
	documents bool
}

// call is one client request on its way through the adapter.
type call struct {
	s      *service
	x      *gateway.Exchange
	req    *http.Request // the outgoing request, still as the client signed it
	next   http.RoundTripper
	signed *Signed
	up     Credentials // what the gateway signs upstream with
	region string

	// Names as sent upstream (names.go).
	upPath, upRawPath string
	upParams          map[string]string // query values that changed
	copySource        string

	preread    []byte // the body, when it had to be read before deciding
	objectBody bool   // the answer is an object's content
}

func (s *service) TransformResponse(x *gateway.Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	c := &call{s: s, x: x, req: req, next: next}
	resp, err := c.serve()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return c.errorResponse(err), nil
	}
	c.x.ReidentifyHeaders(req.Context(), resp.Header)
	return c.reidentifyXML(resp), nil
}

func (c *call) serve() (*http.Response, error) {
	if err := c.authenticate(); err != nil {
		return nil, err
	}
	if err := c.pseudonymizeNames(); err != nil {
		return nil, err
	}
	q := c.req.URL.Query()
	_, uploadID := q["uploadId"]
	_, partNumber := q["partNumber"]
	copySource := c.req.Header.Get("X-Amz-Copy-Source") != ""
	switch m := c.req.Method; {
	case m == http.MethodPut && uploadID && partNumber && copySource:
		return nil, NotImplemented("UploadPartCopy is not supported through sluss: the parts of an encrypted object cannot be copied into another; upload the part instead")
	case m == http.MethodPut && uploadID && partNumber:
		return c.uploadPart(q)
	case m == http.MethodPost && has(q, "uploads"):
		return c.createMultipart()
	case m == http.MethodPost && uploadID:
		return c.completeMultipart(q.Get("uploadId"))
	case m == http.MethodDelete && uploadID:
		return c.abortMultipart(q.Get("uploadId"))
	case m == http.MethodGet && uploadID:
		return c.listParts(q)
	case m == http.MethodPost && !has(q, "delete") && !has(q, "restore") && !has(q, "select"):
		// Browser-form uploads (POST Object) and unknown POSTs would carry
		// a file past the encryption: refused.
		return nil, NotImplemented("this POST request is not supported through sluss (browser-form uploads included): use PutObject or a multipart upload")
	case m == http.MethodPut && copySource:
		return c.copyObject()
	case m == http.MethodPut && isObjectPut(c.req, q):
		if isBucketPath(c.req) {
			return c.putBucketOrObject()
		}
		return c.putObject()
	case m == http.MethodGet || m == http.MethodHead:
		return c.read()
	}
	return c.forwardSmall()
}

func has(q map[string][]string, k string) bool { _, ok := q[k]; return ok }

// isObjectPut tells a PutObject from the bucket-level PUTs (create a
// bucket, its subresources ?acl, ?policy…): an object has a key, so a path
// of two segments at least, or any body with a subresource-free query.
func isObjectPut(r *http.Request, q map[string][]string) bool {
	for k := range q {
		switch k {
		case "acl", "tagging", "retention", "legal-hold", "policy", "cors", "lifecycle", "versioning", "website", "encryption", "notification", "replication", "logging", "ownershipControls", "publicAccessBlock", "object-lock", "accelerate", "requestPayment", "analytics", "inventory", "metrics", "intelligent-tiering":
			return false
		}
	}
	p := strings.Trim(r.URL.Path, "/")
	return strings.Contains(p, "/") || (p != "" && DecodedLength(r) > 0)
}

// isBucketPath reports whether the path names only a bucket (path style),
// or an object at the top of a virtual-hosted bucket.
func isBucketPath(r *http.Request) bool {
	p := strings.Trim(r.URL.Path, "/")
	return p != "" && !strings.Contains(p, "/")
}

// maxBucketConfig bounds a CreateBucketConfiguration body.
const maxBucketConfig = 4 << 10

// putBucketOrObject tells a CreateBucket with a configuration body from a
// PutObject at the top of a virtual-hosted bucket by its body: only a
// small CreateBucketConfiguration document goes upstream as it is; any
// other body is encrypted.
func (c *call) putBucketOrObject() (*http.Response, error) {
	if n := DecodedLength(c.req); n <= 0 || n > maxBucketConfig {
		return c.putObject()
	}
	body, err := c.readSmallBody()
	if err != nil {
		return nil, err
	}
	if doc := bytes.TrimSpace(body); bytes.HasPrefix(doc, []byte("<CreateBucketConfiguration")) || (bytes.HasPrefix(doc, []byte("<?xml")) && bytes.Contains(doc[:min(len(doc), 200)], []byte("<CreateBucketConfiguration"))) {
		sum := sha256.Sum256(body)
		return c.sendSmall(body, hex.EncodeToString(sum[:]))
	}
	c.preread = body
	return c.putObject()
}

// authenticate verifies the client's signature and picks the credential
// to sign upstream with.
func (c *call) authenticate() error {
	var cred Credential
	lookup := func(id string) (string, error) {
		var err error
		cred, err = c.s.a.Credentials(id)
		if err != nil {
			return "", err
		}
		return cred.Secret, nil
	}
	restored := restoreExpect(c.req)
	signed, err := Verify(c.req, c.req.URL.Host, c.s.a.now(), lookup)
	if restored && errors.Is(err, ErrSignatureDoesNotMatch) {
		// The client's own spelling is gone with the header; the other
		// one in use is aws-sdk-go v1's, which signs it when it retries.
		c.req.Header.Set("Expect", "100-Continue")
		signed, err = Verify(c.req, c.req.URL.Host, c.s.a.now(), lookup)
	}
	c.req.Header.Del("Expect")
	if err != nil {
		return err
	}
	c.signed = signed
	c.region = orDefault(signed.Region, c.s.region, "us-east-1")
	if !cred.Issued {
		c.up = Credentials{AccessKeyID: cred.AccessKeyID, Secret: cred.Secret}
		return nil
	}
	if cred.User == "" || c.x.User == nil || c.x.User.Name != cred.User {
		// An issued key belongs to one sluss user: it works only in that
		// user's proxy session, so rights and audit name the right person.
		return AccessDenied("this access key is issued to another sluss user than the one signed in to the gateway")
	}
	if c.s.upstreamKey == "" {
		return AccessDenied("this service has no upstream_key to sign issued access keys' requests with")
	}
	up, err := c.s.a.Credentials(c.s.upstreamKey)
	if err != nil {
		return InternalError(fmt.Errorf("upstream credential: %w", err))
	}
	c.up = Credentials{AccessKeyID: up.AccessKeyID, Secret: up.Secret}
	return nil
}

// restoreExpect puts back the "Expect: 100-continue" the gateway's proxy
// answered and removed, when the client signed it, and reports whether it
// did. The value is signed as the client spelt it, which the proxy did not
// keep: most clients write "100-continue"; aws-sdk-go v1 (rclone 1.60)
// writes "100-Continue" and signs it on a retry, when the header is left
// from the first attempt.
func restoreExpect(r *http.Request) bool {
	if r.Header.Get("Expect") != "" {
		return false
	}
	list := r.URL.Query().Get("X-Amz-SignedHeaders")
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "SignedHeaders="); ok {
		list, _, _ = strings.Cut(rest, ",")
	}
	for _, h := range strings.Split(list, ";") {
		if strings.EqualFold(strings.TrimSpace(h), "expect") {
			r.Header.Set("Expect", "100-continue")
			return true
		}
	}
	return false
}

func orDefault(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// errorResponse turns err into S3's XML error answer.
func (c *call) errorResponse(err error) *http.Response {
	var e *Error
	var rf *gateway.RefusedError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &rf) && rf.Status == http.StatusForbidden:
		e = AccessDenied(rf.Reason)
	case errors.As(err, &rf):
		e = newError(rf.Status, refusalCode(rf.Status), rf.Reason)
	default:
		e = InternalError(err)
	}
	if e.Status == http.StatusForbidden {
		c.x.Denied()
	}
	if e.Status >= 500 || e.cause != nil {
		c.x.Log.Debug().Err(err).Str("code", e.Code).Msg("s3 request failed")
	}
	rec := &responseRecorder{header: http.Header{}}
	// No Resource: the path is the object's key, which may hold a name
	// or a personnummer, and an error answer is what clients log.
	WriteError(rec, e, "", c.x.ID)
	return rec.response(c.req)
}

// refusalCode is S3's error code for a refusal of the gateway's core by
// its status (a document that does not parse, is too large…).
func refusalCode(status int) string {
	switch {
	case status == http.StatusRequestEntityTooLarge:
		return "EntityTooLarge"
	case status == http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case status/100 == 4:
		return "InvalidRequest"
	}
	return "InternalError"
}

// send signs out for upstream and sends it. body of length n (-1:
// none) goes with payloadHash (UnsignedPayload for a stream).
func (c *call) send(out *http.Request, body io.Reader, n int64, payloadHash, contentMD5 string) (*http.Response, error) {
	prepareUpstream(out.Header)
	if contentMD5 != "" {
		out.Header.Set("Content-Md5", contentMD5)
	}
	switch {
	case body == nil || n == 0:
		out.Body, out.ContentLength = http.NoBody, 0
		if payloadHash == "" {
			payloadHash = emptySHA256
		}
	default:
		out.Body, out.ContentLength = io.NopCloser(body), n
	}
	out.TransferEncoding = nil
	if out.ContentLength > 0 {
		out.Header.Set("Content-Length", strconv.FormatInt(out.ContentLength, 10))
	} else {
		out.Header.Del("Content-Length")
	}
	if err := Sign(out, c.up, c.region, payloadHash, c.s.a.now()); err != nil {
		return nil, InternalError(err)
	}
	return c.next.RoundTrip(out)
}

// prepareUpstream removes what describes the client's plaintext body or
// its signature, which the gateway replaces.
func prepareUpstream(h http.Header) {
	for _, k := range []string{"Authorization", "Content-Md5", "X-Amz-Content-Sha256", "X-Amz-Decoded-Content-Length", "X-Amz-Trailer", "X-Amz-Sdk-Checksum-Algorithm", "X-Amz-Date", "X-Amz-Security-Token"} {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-Checksum-") {
			h.Del(k)
		}
	}
	if ce := h.Values("Content-Encoding"); len(ce) > 0 {
		var keep []string
		for _, v := range ce {
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, "aws-chunked") {
					keep = append(keep, t)
				}
			}
		}
		h.Del("Content-Encoding")
		if len(keep) > 0 {
			h.Set("Content-Encoding", strings.Join(keep, ","))
		}
	}
}

// outgoing returns a copy of the client's request to send upstream, with
// presign query parameters removed.
func (c *call) outgoing(ctx context.Context, method string) *http.Request {
	out := c.req.Clone(ctx)
	out.Method = method
	// An x-amz-* header the client did not sign could have been added on
	// the way; the gateway does not sign it upstream for the client.
	for k := range out.Header {
		if strings.HasPrefix(k, "X-Amz-") && !strings.HasPrefix(k, "X-Amz-Meta-") && !c.signed.HeaderSigned(k) {
			out.Header.Del(k)
		}
	}
	q := out.URL.Query()
	presign := false
	for k := range q {
		if strings.HasPrefix(k, "X-Amz-") {
			q.Del(k)
			presign = true
		}
	}
	if presign {
		out.URL.RawQuery = q.Encode()
	}
	c.applyNames(out)
	return out
}

// forwardSmall forwards a request whose body (if any) is small and not a
// file: bucket operations, DeleteObjects, tagging. The body is verified
// against the client's signature and re-signed; it is sent unchanged, so
// the client's Content-MD5 goes with it.
func (c *call) forwardSmall() (*http.Response, error) {
	body, err := c.readSmallBody()
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		q := c.req.URL.Query()
		switch {
		case c.req.Method == http.MethodPost && has(q, "delete"):
			// DeleteObjects names keys: they go as the tokens they are
			// stored under.
			body, err = c.pseudonymizeElements(body, "Key")
		case has(q, "tagging"):
			body, err = c.pseudonymizeElements(body, "Key", "Value")
		}
		if err != nil {
			return nil, err
		}
		// The client's digest was checked; the provider gets the MD5 of
		// what it receives (DeleteObjects needs one, and a client may have
		// sent a checksum instead, which does not go upstream).
		sum := md5.Sum(body)
		c.req.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	}
	sum := sha256.Sum256(body)
	return c.sendSmall(body, hex.EncodeToString(sum[:]))
}

func (c *call) sendSmall(body []byte, hash string) (*http.Response, error) {
	out := c.outgoing(c.req.Context(), c.req.Method)
	md5 := c.req.Header.Get("Content-Md5")
	resp, err := c.send(out, bytes.NewReader(body), int64(len(body)), hash, md5)
	if err != nil {
		return nil, err
	}
	return c.plainResponse(resp), nil
}

// maxSmallBody is the largest non-file body the adapter reads whole: a
// CompleteMultipartUpload of 10 000 parts, a DeleteObjects of 1 000 keys.
const maxSmallBody = 4 << 20

func (c *call) readSmallBody() ([]byte, error) {
	if c.req.Body == nil || c.req.Body == http.NoBody {
		return nil, nil
	}
	r, trailers, err := c.signed.Body(c.req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r, maxSmallBody+1))
	if err != nil {
		return nil, ErrorFrom(err)
	}
	if len(body) > maxSmallBody {
		return nil, InvalidRequest(fmt.Sprintf("a request body that is not a file may be at most %d bytes", maxSmallBody))
	}
	claims := c.req.Header
	if c.req.Method == http.MethodPost && c.req.URL.Query().Has("uploadId") {
		// On CompleteMultipartUpload an x-amz-checksum-* header is the
		// whole object's checksum, not the XML body's: only Content-MD5
		// and trailers speak of the body.
		claims = http.Header{"Content-Md5": c.req.Header.Values("Content-Md5"), "X-Amz-Trailer": c.req.Header.Values("X-Amz-Trailer")}
	}
	d, err := newDigests(claims)
	if err != nil {
		return nil, err
	}
	d.Write(body)
	if err := d.check(trailers()); err != nil {
		return nil, err
	}
	return body, nil
}

// plainResponse strips from an upstream answer what describes ciphertext
// and what the client cannot use.
func (c *call) plainResponse(resp *http.Response) *http.Response {
	for k := range resp.Header {
		if strings.HasPrefix(k, "X-Amz-Checksum-") {
			resp.Header.Del(k)
		}
	}
	return resp
}

// responseRecorder collects a response the adapter writes itself.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }
func (r *responseRecorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *responseRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

func (r *responseRecorder) response(req *http.Request) *http.Response {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.header.Set("Content-Length", strconv.Itoa(r.body.Len()))
	return &http.Response{
		StatusCode: r.status, Status: fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body.Bytes())),
		ContentLength: int64(r.body.Len()), Request: req,
	}
}

// xmlResponse answers with an XML document.
func xmlResponse(req *http.Request, status int, doc []byte) *http.Response {
	rec := &responseRecorder{header: http.Header{"Content-Type": {"application/xml"}}}
	rec.WriteHeader(status)
	rec.body.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	rec.body.Write(doc)
	return rec.response(req)
}
