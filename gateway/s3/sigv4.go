package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Values of x-amz-content-sha256 other than a hex SHA-256 of the payload.
const (
	// UnsignedPayload: the payload is not covered by the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// StreamingPayload: aws-chunked body, every chunk signed.
	StreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	// StreamingPayloadTrailer: aws-chunked body, every chunk and the
	// trailing headers signed.
	StreamingPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	// StreamingUnsignedPayloadTrailer: aws-chunked body, nothing signed;
	// the trailing headers usually carry a checksum.
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

const (
	algorithm    = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
	scopeDateFmt = "20060102"
	terminator   = "aws4_request"
	// maxSkew is how far a header-signed request's date may be from the
	// gateway's clock, as S3 allows.
	maxSkew = 15 * time.Minute
	// maxPresignExpiry is the longest X-Amz-Expires S3 accepts (7 days).
	maxPresignExpiry = 604800
	emptySHA256      = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// ErrUnknownAccessKey is what a SecretLookup wraps when it does not know an
// access key id.
var ErrUnknownAccessKey = errors.New("unknown access key")

// SecretLookup returns the secret access key of an access key id, or an
// error wrapping ErrUnknownAccessKey.
type SecretLookup func(accessKeyID string) (secret string, err error)

// Signed is what a verified request was signed with.
type Signed struct {
	AccessKeyID     string
	Region, Service string    // from the credential scope
	Time            time.Time // X-Amz-Date
	// PayloadHash is the x-amz-content-sha256 value (hex, UNSIGNED-PAYLOAD,
	// STREAMING-...); for presigned URLs UNSIGNED-PAYLOAD unless the URL
	// signs X-Amz-Content-Sha256.
	PayloadHash string
	Presigned   bool
	// SignedHeaders are the lower-case names the client signed, in its
	// order. Headers not in it (an x-amz-* header added on the way, say)
	// are not vouched for by the client.
	SignedHeaders []string

	signingKey []byte
	seed       string // the request's signature, first link of the chunk chain
	scope      string
}

// String leaves out the signing key.
func (s Signed) String() string {
	return fmt.Sprintf("s3.Signed{AccessKeyID: %q, Region: %q, Service: %q, Time: %s, PayloadHash: %q, Presigned: %t}",
		s.AccessKeyID, s.Region, s.Service, s.Time.Format(amzDateFmt), s.PayloadHash, s.Presigned)
}

// GoString leaves out the signing key.
func (s Signed) GoString() string { return s.String() }

// HeaderSigned reports whether the client signed the header name.
func (s *Signed) HeaderSigned(name string) bool {
	name = strings.ToLower(name)
	for _, h := range s.SignedHeaders {
		if h == name {
			return true
		}
	}
	return false
}

// Verify checks r's AWS Signature V4: an Authorization header
// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." or a
// presigned URL (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
// X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature).
//
// host is the Host the client sent (a proxy may have cleared r.Host); now
// is the gateway's clock. The canonical URI is the path as the client sent
// it, each byte encoded once as SigV4 wants (S3 neither double-encodes nor
// normalizes "." and ".." segments).
//
// Every failure the client caused is an *Error: AccessDenied for unsigned
// requests (no anonymous access through the gateway), SigV2 and expired
// presigned URLs; RequestTimeTooSkewed; InvalidAccessKeyId;
// SignatureDoesNotMatch; AuthorizationHeaderMalformed or
// AuthorizationQueryParametersError for what does not parse. A failing
// lookup is an InternalError wrapping its error.
//
// A verified header-signed request's body is still unchecked: read it
// through [Signed.Body].
func Verify(r *http.Request, host string, now time.Time, lookup SecretLookup) (*Signed, error) {
	if host == "" {
		host = r.Host
	}
	query := r.URL.Query()
	auth := r.Header.Get("Authorization")
	presigned := query.Has("X-Amz-Algorithm") || query.Has("X-Amz-Signature") || query.Has("X-Amz-Credential")
	var (
		p   *authParams
		err *Error
	)
	switch {
	case auth != "" && presigned:
		return nil, InvalidRequest("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case auth != "":
		p, err = parseAuthorization(auth, r.Header)
	case presigned:
		p, err = parsePresigned(query, now)
	case query.Has("AWSAccessKeyId") || query.Has("Signature"):
		return nil, AccessDenied("Signature Version 2 is not supported; sign requests with AWS Signature Version 4 (AWS4-HMAC-SHA256).")
	default:
		return nil, AccessDenied("Anonymous access is not allowed through the gateway; sign the request with AWS Signature Version 4.")
	}
	if err != nil {
		return nil, err
	}
	if !p.presigned {
		if d := now.Sub(p.time); d > maxSkew || d < -maxSkew {
			return nil, ErrRequestTimeTooSkewed
		}
	}

	secret, lerr := lookup(p.accessKeyID)
	if lerr != nil {
		if errors.Is(lerr, ErrUnknownAccessKey) {
			return nil, ErrInvalidAccessKeyID
		}
		return nil, InternalError(fmt.Errorf("looking up the access key's secret: %w", lerr))
	}

	canonical := canonicalRequest(r.Method, r.URL.EscapedPath(), canonicalQuery(r.URL.RawQuery, p.presigned),
		canonicalHeaders(r, host, p.signedHeaders), p.signedHeaders, p.payloadHash)
	key := signingKey(secret, p.scopeDate, p.region, p.service)
	want := hmacSHA256(key, []byte(stringToSign(p.amzDate, p.scope, canonical)))
	got, herr := hex.DecodeString(p.signature)
	if herr != nil || !hmac.Equal(got, want) {
		return nil, ErrSignatureDoesNotMatch
	}
	return &Signed{
		AccessKeyID:   p.accessKeyID,
		Region:        p.region,
		Service:       p.service,
		Time:          p.time,
		PayloadHash:   p.payloadHash,
		Presigned:     p.presigned,
		SignedHeaders: p.signedHeaders,
		signingKey:    key,
		seed:          hex.EncodeToString(want),
		scope:         p.scope,
	}, nil
}

// authParams is what an Authorization header or a presigned URL says.
type authParams struct {
	accessKeyID, scopeDate, region, service string
	scope                                   string // scopeDate/region/service/aws4_request
	amzDate                                 string // as signed
	time                                    time.Time
	signedHeaders                           []string
	signature                               string
	payloadHash                             string
	presigned                               bool
}

func malformedHeader(msg string) *Error { return ErrAuthorizationHeaderMalformed.withMessage(msg) }
func malformedQuery(msg string) *Error  { return ErrAuthorizationQueryParameters.withMessage(msg) }

func parseAuthorization(auth string, h http.Header) (*authParams, *Error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	switch alg {
	case algorithm:
	case "AWS":
		return nil, AccessDenied("Signature Version 2 is not supported; sign requests with AWS Signature Version 4 (AWS4-HMAC-SHA256).")
	default:
		return nil, malformedHeader("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return nil, malformedHeader("The authorization header is malformed; a component is not of the form key=value.")
		}
		if _, dup := fields[k]; dup {
			return nil, malformedHeader("The authorization header is malformed; " + k + " is given twice.")
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, malformedHeader("The authorization header is malformed; " + k + " is missing.")
		}
	}
	if len(fields) != 3 {
		return nil, malformedHeader("The authorization header is malformed; only Credential, SignedHeaders and Signature are allowed.")
	}
	p := &authParams{signature: fields["Signature"]}
	if err := p.parseCredential(fields["Credential"], malformedHeader); err != nil {
		return nil, err
	}
	if err := p.parseSignedHeaders(fields["SignedHeaders"], malformedHeader); err != nil {
		return nil, err
	}

	p.amzDate = h.Get("X-Amz-Date")
	if p.amzDate != "" {
		t, err := time.Parse(amzDateFmt, p.amzDate)
		if err != nil {
			return nil, malformedHeader("X-Amz-Date is not of the form 20060102T150405Z.")
		}
		p.time = t
	} else if d := h.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, ErrAccessDenied.withMessage("The Date header is not an HTTP date.")
		}
		p.time = t.UTC()
		p.amzDate = p.time.Format(amzDateFmt)
	} else {
		return nil, ErrAccessDenied.withMessage("AWS authentication requires a valid Date or x-amz-date header")
	}
	if p.time.Format(scopeDateFmt) != p.scopeDate {
		return nil, malformedHeader("Invalid credential date. Date is not the same as X-Amz-Date.")
	}

	p.payloadHash = h.Get("X-Amz-Content-Sha256")
	if p.payloadHash == "" {
		return nil, InvalidRequest("Missing required header for this request: x-amz-content-sha256")
	}
	if !knownPayloadHash(p.payloadHash) {
		if strings.HasPrefix(p.payloadHash, "STREAMING-") {
			return nil, NotImplemented("x-amz-content-sha256 " + p.payloadHash + " is not supported.")
		}
		return nil, InvalidRequest("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.")
	}
	return p, nil
}

func parsePresigned(q url.Values, now time.Time) (*authParams, *Error) {
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		switch len(q[k]) {
		case 0:
			return nil, malformedQuery("Query-string authentication requires the " + k + " parameter.")
		case 1:
		default:
			return nil, malformedQuery("The " + k + " parameter is given more than once.")
		}
	}
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, malformedQuery("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".")
	}
	p := &authParams{presigned: true, signature: q.Get("X-Amz-Signature"), payloadHash: UnsignedPayload}
	if err := p.parseCredential(q.Get("X-Amz-Credential"), malformedQuery); err != nil {
		return nil, err
	}
	if err := p.parseSignedHeaders(q.Get("X-Amz-SignedHeaders"), malformedQuery); err != nil {
		return nil, err
	}
	p.amzDate = q.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFmt, p.amzDate)
	if err != nil {
		return nil, malformedQuery("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	p.time = t
	if t.Format(scopeDateFmt) != p.scopeDate {
		return nil, malformedQuery("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	switch {
	case err != nil:
		return nil, malformedQuery("X-Amz-Expires should be a number.")
	case expires < 1:
		return nil, malformedQuery("X-Amz-Expires must be non-negative.")
	case expires > maxPresignExpiry:
		return nil, malformedQuery("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds.")
	}
	if t.Sub(now) > maxSkew {
		return nil, AccessDenied("Request is not valid yet")
	}
	if now.After(t.Add(time.Duration(expires) * time.Second)) {
		return nil, AccessDenied("Request has expired")
	}
	if v := q.Get("X-Amz-Content-Sha256"); v != "" {
		if v != UnsignedPayload && !isSHA256Hex(v) {
			return nil, malformedQuery("X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.")
		}
		p.payloadHash = v
	}
	return p, nil
}

// parseCredential reads "AKID/20130524/us-east-1/s3/aws4_request".
func (p *authParams) parseCredential(c string, malformed func(string) *Error) *Error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" {
		return malformed("The credential is not of the form <access key id>/<date>/<region>/s3/aws4_request.")
	}
	if _, err := time.Parse(scopeDateFmt, parts[1]); err != nil {
		return malformed("The credential's date is not of the form yyyyMMdd.")
	}
	if parts[3] != "s3" {
		return malformed("The credential's service must be s3.")
	}
	if parts[4] != terminator {
		return malformed("The credential must end with aws4_request.")
	}
	p.accessKeyID, p.scopeDate, p.region, p.service = parts[0], parts[1], parts[2], parts[3]
	p.scope = strings.Join(parts[1:], "/")
	return nil
}

func (p *authParams) parseSignedHeaders(s string, malformed func(string) *Error) *Error {
	names := strings.Split(s, ";")
	host := false
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) {
			return malformed("SignedHeaders must be lower-case header names separated by ';'.")
		}
		host = host || n == "host"
	}
	if !host {
		return malformed("SignedHeaders must include host.")
	}
	p.signedHeaders = names
	return nil
}

func knownPayloadHash(v string) bool {
	switch v {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		return true
	}
	return isSHA256Hex(v)
}

func isSHA256Hex(v string) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func canonicalRequest(method, escapedPath, query, headers string, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(escapedPath))
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	b.WriteString(headers)
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(terminator))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// canonicalURI encodes the path as the client sent it once, the SigV4 way:
// unreserved bytes and the slashes between segments stay, every other byte
// becomes %XX. A %XX the client sent is decoded first, so "%24" and "$"
// give the same "%24", and "%2F" stays an escaped slash inside a segment.
func canonicalURI(escaped string) string {
	if escaped == "" {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c == '%' && i+2 < len(escaped) && isHex(escaped[i+1]) && isHex(escaped[i+2]) {
			writeEncoded(&b, unhex(escaped[i+1])<<4|unhex(escaped[i+2]))
			i += 2
			continue
		}
		if c == '/' {
			b.WriteByte('/')
			continue
		}
		writeEncoded(&b, c)
	}
	return b.String()
}

// uriEncode encodes every byte of s but the unreserved ones.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		writeEncoded(&b, s[i])
	}
	return b.String()
}

func writeEncoded(b *strings.Builder, c byte) {
	if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
		b.WriteByte(c)
		return
	}
	const digits = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(digits[c>>4])
	b.WriteByte(digits[c&15])
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// canonicalQuery sorts the query's parameters by encoded name, then value;
// for a presigned URL X-Amz-Signature is left out. Names and values are
// decoded as url.ParseQuery does ("+" is a space) and encoded again the
// SigV4 way.
func canonicalQuery(raw string, presigned bool) string {
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{uriEncode(k), uriEncode(v)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// queryUnescape decodes s, or keeps it as it is if it is not valid
// escaping (the signature then simply does not match).
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// canonicalHeaders writes "name:value\n" for each signed header, values
// trimmed, inner runs of spaces collapsed and repeated headers joined by
// ",". host is the Host the client sent.
func canonicalHeaders(r *http.Request, host string, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		switch name {
		case "host":
			b.WriteString(host)
		case "content-length":
			if v := r.Header.Values("Content-Length"); len(v) > 0 {
				writeValues(&b, v)
			} else if r.ContentLength >= 0 {
				b.WriteString(strconv.FormatInt(r.ContentLength, 10))
			}
		case "transfer-encoding":
			// net/http moves it out of Header.
			writeValues(&b, r.TransferEncoding)
		default:
			writeValues(&b, r.Header.Values(name))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func writeValues(b *strings.Builder, values []string) {
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.Join(strings.Fields(v), " "))
	}
}

// Credentials sign requests upstream.
type Credentials struct{ AccessKeyID, Secret string }

// String leaves out the secret.
func (c Credentials) String() string {
	return "s3.Credentials{AccessKeyID: " + strconv.Quote(c.AccessKeyID) + "}"
}

// GoString leaves out the secret.
func (c Credentials) GoString() string { return c.String() }

// presignParams are the query parameters of a presigned URL; Sign removes
// them, as it signs with a header.
var presignParams = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"}

// Sign signs req for service s3 in region with an Authorization header, as
// of now. payloadHash becomes X-Amz-Content-Sha256: UnsignedPayload for a
// streamed body, or the body's hex SHA-256. Any earlier Authorization
// header and presigned-URL parameters are removed. Signed are host
// (req.Host, or req.URL.Host), content-md5, content-type, range and every
// x-amz-* header. The path is set to its SigV4 encoding (req.URL.RawPath),
// so what goes on the wire is what was signed.
func Sign(req *http.Request, cred Credentials, region string, payloadHash string, now time.Time) error {
	if cred.AccessKeyID == "" || cred.Secret == "" {
		return errors.New("s3: signing needs an access key id and a secret")
	}
	if region == "" {
		return errors.New("s3: signing needs a region")
	}
	if payloadHash == "" {
		return errors.New("s3: signing needs a payload hash (UNSIGNED-PAYLOAD or the body's hex SHA-256)")
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if host == "" {
		return errors.New("s3: signing needs the request's host")
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}

	req.URL.RawQuery = withoutParams(req.URL.RawQuery, presignParams)
	path := canonicalURI(req.URL.EscapedPath())
	decoded, err := url.PathUnescape(path)
	if err != nil {
		return fmt.Errorf("s3: encoding the request path: %w", err)
	}
	req.URL.Path, req.URL.RawPath = decoded, path

	now = now.UTC()
	amzDate := now.Format(amzDateFmt)
	req.Header.Del("Authorization")
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)

	signed := []string{"host"}
	for name := range req.Header {
		lower := strings.ToLower(name)
		switch {
		case strings.HasPrefix(lower, "x-amz-"), lower == "content-md5", lower == "content-type", lower == "range":
			signed = append(signed, lower)
		}
	}
	sort.Strings(signed)
	signed = dedupe(signed)

	scope := now.Format(scopeDateFmt) + "/" + region + "/s3/" + terminator
	canonical := canonicalRequest(req.Method, path, canonicalQuery(req.URL.RawQuery, false),
		canonicalHeaders(req, host, signed), signed, payloadHash)
	sig := hmacSHA256(signingKey(cred.Secret, now.Format(scopeDateFmt), region, "s3"), []byte(stringToSign(amzDate, scope, canonical)))
	req.Header.Set("Authorization", algorithm+" Credential="+cred.AccessKeyID+"/"+scope+
		", SignedHeaders="+strings.Join(signed, ";")+", Signature="+hex.EncodeToString(sig))
	return nil
}

// dedupe drops adjacent repeats from a sorted slice.
func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// withoutParams removes the named parameters from a raw query and keeps the
// others as they were written.
func withoutParams(raw string, names []string) string {
	if raw == "" {
		return raw
	}
	var kept []string
	for part := range strings.SplitSeq(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		drop := false
		for _, n := range names {
			if queryUnescape(k) == n {
				drop = true
				break
			}
		}
		if !drop && part != "" {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "&")
}
