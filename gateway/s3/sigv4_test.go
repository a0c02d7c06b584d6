package s3

import (
	"bufio"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The AWS documentation's example credentials for S3.
const (
	docKeyID  = "AKIAIOSFODNN7EXAMPLE"
	docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func docLookup(id string) (string, error) {
	if id == docKeyID {
		return docSecret, nil
	}
	return "", fmt.Errorf("access key %q: %w", id, ErrUnknownAccessKey)
}

// readRequest parses a request as a server receives it: Host moved out of
// the header, the URL as sent.
func readRequest(t *testing.T, raw string) *http.Request {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("parsing the request: %v", err)
	}
	return r
}

// TestSuiteVectors checks the canonical request, string to sign and
// signature against the AWS SigV4 test suite (aws-c-auth
// tests/aws-signing-test-suite/v4; region us-east-1, service "service",
// 20150830T123600Z). Only the cases whose paths S3 treats as the suite does
// are here: S3 does not normalize "." or ".." segments nor double-encode.
func TestSuiteVectors(t *testing.T) {
	const (
		secret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
		amzDate = "20150830T123600Z"
		scope   = "20150830/us-east-1/service/aws4_request"
	)
	type header struct{ k, v string }
	tests := []struct {
		name, method, path, query string
		headers                   []header
		contentLength             int64
		payloadHash               string
		canonical, signature      string
	}{
		{
			name: "get-vanilla", method: "GET", path: "/",
			canonical: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		{
			name: "get-vanilla-with-session-token", method: "GET", path: "/",
			headers:   []header{{"X-Amz-Security-Token", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"}},
			canonical: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\nhost;x-amz-date;x-amz-security-token\n" + emptySHA256,
			signature: "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
		},
		{
			name: "post-x-www-form-urlencoded", method: "POST", path: "/",
			headers: []header{
				{"Content-Type", "application/x-www-form-urlencoded"},
				{"X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"},
			},
			contentLength: 13, payloadHash: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
			canonical: "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
			signature: "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
		},
		{
			name: "get-utf8", method: "GET", path: "/ሴ",
			canonical: "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
		},
		{
			name: "get-header-value-trim", method: "GET", path: "/",
			headers:   []header{{"My-Header1", " value1"}, {"My-Header2", ` "a   b   c"`}},
			canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" + emptySHA256,
			signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
		},
		{
			name: "get-vanilla-query-order-key-case", method: "GET", path: "/", query: "Param2=value2&Param1=value1",
			canonical: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
		},
		{
			name: "post-vanilla", method: "POST", path: "/",
			canonical: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
		},
		{
			name: "get-unreserved", method: "GET", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
			canonical: "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
		},
		{
			name: "get-vanilla-utf8-query", method: "GET", path: "/", query: "%E1%88%B4=bar",
			canonical: "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
		},
		{
			name: "get-vanilla-query-unreserved", method: "GET", path: "/",
			query:     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
			canonical: "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
		},
		{
			name: "get-header-key-duplicate", method: "GET", path: "/",
			headers:   []header{{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
			canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + emptySHA256,
			signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
		},
		{
			name: "get-header-value-order", method: "GET", path: "/",
			headers:   []header{{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}},
			canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + emptySHA256,
			signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
		},
		{
			name: "post-vanilla-query", method: "POST", path: "/", query: "Param1=value1",
			canonical: "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
		},
		{
			name: "get-space-normalized", method: "GET", path: "/example space/",
			canonical: "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
			signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{
				Method: tt.method, Header: http.Header{},
				URL:           &url.URL{Path: tt.path, RawQuery: tt.query},
				ContentLength: tt.contentLength,
			}
			for _, h := range tt.headers {
				r.Header.Add(h.k, h.v)
			}
			r.Header.Set("X-Amz-Date", amzDate)
			payload := tt.payloadHash
			if payload == "" {
				payload = emptySHA256
			}
			lines := strings.Split(tt.canonical, "\n")
			signed := strings.Split(lines[len(lines)-2], ";")
			got := canonicalRequest(r.Method, r.URL.EscapedPath(), canonicalQuery(r.URL.RawQuery, false),
				canonicalHeaders(r, "example.amazonaws.com", signed), signed, payload)
			if got != tt.canonical {
				t.Fatalf("canonical request\n%q\nwant\n%q", got, tt.canonical)
			}
			sig := fmt.Sprintf("%x", hmacSHA256(signingKey(secret, "20150830", "us-east-1", "service"), []byte(stringToSign(amzDate, scope, got))))
			if sig != tt.signature {
				t.Errorf("signature %s, want %s", sig, tt.signature)
			}
		})
	}
}

// TestSigningKeyExample is the key derivation example of the AWS General
// Reference (20120215, us-east-1, iam).
func TestSigningKeyExample(t *testing.T) {
	got := fmt.Sprintf("%x", signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"))
	if want := "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"; got != want {
		t.Errorf("signing key %s, want %s", got, want)
	}
}

// TestVerifyS3Examples verifies the requests of the S3 API reference's
// "Signature Calculations for the Authorization Header" and "Query String
// Authentication" examples as a server receives them.
func TestVerifyS3Examples(t *testing.T) {
	auth := func(signed, sig string) string {
		return "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=" + signed + ", Signature=" + sig + "\n"
	}
	getObject := "GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" +
		auth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") +
		"Range: bytes=0-9\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date: 20130524T000000Z\n\n"
	putObject := func(path string) string {
		return "PUT " + path + " HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\nDate: Fri, 24 May 2013 00:00:00 GMT\n" +
			auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") +
			"x-amz-date: 20130524T000000Z\nx-amz-storage-class: REDUCED_REDUNDANCY\n" +
			"x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\nContent-Length: 21\n\nWelcome to Amazon S3."
	}
	bucketGet := func(query, sig string) string {
		return "GET /?" + query + " HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" +
			auth("host;x-amz-content-sha256;x-amz-date", sig) +
			"x-amz-date: 20130524T000000Z\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\n"
	}
	presigned := "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n\n"

	tests := []struct {
		name, raw   string
		now         time.Time
		wantPayload string
		wantBody    string
		presigned   bool
	}{
		{name: "GET Object", raw: getObject, now: docTime, wantPayload: emptySHA256},
		{name: "PUT Object", raw: putObject("/test%24file.text"), now: docTime, wantPayload: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", wantBody: "Welcome to Amazon S3."},
		{name: "PUT Object, $ sent unescaped", raw: putObject("/test$file.text"), now: docTime, wantPayload: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", wantBody: "Welcome to Amazon S3."},
		{name: "GET Bucket Lifecycle", raw: bucketGet("lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"), now: docTime, wantPayload: emptySHA256},
		{name: "GET Bucket", raw: bucketGet("max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), now: docTime, wantPayload: emptySHA256},
		{name: "GET Bucket, query in another order", raw: bucketGet("prefix=J&max-keys=2", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), now: docTime, wantPayload: emptySHA256},
		{name: "presigned GET Object", raw: presigned, now: docTime.Add(86400 * time.Second), wantPayload: UnsignedPayload, presigned: true},
		{name: "GET Object 15 minutes early", raw: getObject, now: docTime.Add(-15 * time.Minute), wantPayload: emptySHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := readRequest(t, tt.raw)
			s, err := Verify(r, r.Host, tt.now, docLookup)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if s.AccessKeyID != docKeyID || s.Region != "us-east-1" || s.Service != "s3" || !s.Time.Equal(docTime) ||
				s.PayloadHash != tt.wantPayload || s.Presigned != tt.presigned {
				t.Errorf("Signed = %v", s)
			}
			body, _, err := s.Body(r)
			if err != nil {
				t.Fatalf("Body: %v", err)
			}
			got, err := io.ReadAll(body)
			if err != nil || string(got) != tt.wantBody {
				t.Errorf("body %q, %v; want %q", got, err, tt.wantBody)
			}
		})
	}
}

// TestVerifyRefuses covers what Verify answers for requests it must not
// let through, each with the S3 code a client expects.
func TestVerifyRefuses(t *testing.T) {
	get := func(headers string) string {
		return "GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" + headers + "\n"
	}
	goodAuth := "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\n"
	rest := "Range: bytes=0-9\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date: 20130524T000000Z\n"
	withAuth := func(a string) string { return get(a + rest) }
	presign := func(q string) string {
		return "GET /test.txt?" + q + " HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n\n"
	}
	const goodQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

	tests := []struct {
		name string
		raw  string
		host string // default: the request's
		now  time.Time
		want *Error
	}{
		{"anonymous", get(""), "", docTime, ErrAccessDenied},
		{"SigV2 header", get("Authorization: AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=\nDate: Fri, 24 May 2013 00:00:00 GMT\n"), "", docTime, ErrAccessDenied},
		{"SigV2 query", presign("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D"), "", docTime, ErrAccessDenied},
		{"both header and query", "GET /test.txt?" + goodQuery + " HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" + goodAuth + rest + "\n", "", docTime, ErrInvalidRequest},
		{"too late", withAuth(goodAuth), "", docTime.Add(15*time.Minute + time.Second), ErrRequestTimeTooSkewed},
		{"too early", withAuth(goodAuth), "", docTime.Add(-15*time.Minute - time.Second), ErrRequestTimeTooSkewed},
		{"unknown key", withAuth(strings.Replace(goodAuth, docKeyID, "AKIAUNKNOWNEXAMPLE00", 1)), "", docTime, ErrInvalidAccessKeyID},
		{"wrong signature", withAuth(strings.Replace(goodAuth, "Signature=f0e8", "Signature=f0e9", 1)), "", docTime, ErrSignatureDoesNotMatch},
		{"signature not hex", withAuth(strings.Replace(goodAuth, "Signature=f0e8", "Signature=zzzz", 1)), "", docTime, ErrSignatureDoesNotMatch},
		{"other host", withAuth(goodAuth), "otherbucket.s3.amazonaws.com", docTime, ErrSignatureDoesNotMatch},
		{"other region", withAuth(strings.Replace(goodAuth, "us-east-1", "eu-north-1", 1)), "", docTime, ErrSignatureDoesNotMatch},
		{"host not signed", withAuth(strings.Replace(goodAuth, "host;range", "range", 1)), "", docTime, ErrAuthorizationHeaderMalformed},
		{"service not s3", withAuth(strings.Replace(goodAuth, "/s3/", "/iam/", 1)), "", docTime, ErrAuthorizationHeaderMalformed},
		{"credential date differs", withAuth(strings.Replace(goodAuth, "20130524", "20130523", 1)), "", docTime, ErrAuthorizationHeaderMalformed},
		{"no signature", withAuth("Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host\n"), "", docTime, ErrAuthorizationHeaderMalformed},
		{"other algorithm", withAuth(strings.Replace(goodAuth, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)), "", docTime, ErrAuthorizationHeaderMalformed},
		{"no x-amz-content-sha256", get(goodAuth + "Range: bytes=0-9\nx-amz-date: 20130524T000000Z\n"), "", docTime, ErrInvalidRequest},
		{"bad x-amz-content-sha256", get(goodAuth + "Range: bytes=0-9\nx-amz-content-sha256: abc\nx-amz-date: 20130524T000000Z\n"), "", docTime, ErrInvalidRequest},
		{"no date", get(goodAuth + "Range: bytes=0-9\nx-amz-content-sha256: " + emptySHA256 + "\n"), "", docTime, ErrAccessDenied},
		{"presigned expired", presign(goodQuery), "", docTime.Add(86401 * time.Second), ErrAccessDenied},
		{"presigned not yet valid", presign(goodQuery), "", docTime.Add(-16 * time.Minute), ErrAccessDenied},
		{"presigned expires too long", presign(strings.Replace(goodQuery, "X-Amz-Expires=86400", "X-Amz-Expires=604801", 1)), "", docTime, ErrAuthorizationQueryParameters},
		{"presigned expires zero", presign(strings.Replace(goodQuery, "X-Amz-Expires=86400", "X-Amz-Expires=0", 1)), "", docTime, ErrAuthorizationQueryParameters},
		{"presigned without expires", presign(strings.Replace(goodQuery, "&X-Amz-Expires=86400", "", 1)), "", docTime, ErrAuthorizationQueryParameters},
		{"presigned with a longer expiry", presign(strings.Replace(goodQuery, "X-Amz-Expires=86400", "X-Amz-Expires=86401", 1)), "", docTime, ErrSignatureDoesNotMatch},
		{"presigned with a parameter added", presign(goodQuery + "&versionId=1"), "", docTime, ErrSignatureDoesNotMatch},
		{"presigned for another key", "GET /other.txt?" + goodQuery + " HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n\n", "", docTime, ErrSignatureDoesNotMatch},
		{"presigned used for PUT", "PUT /test.txt?" + goodQuery + " HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n\n", "", docTime, ErrSignatureDoesNotMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := readRequest(t, tt.raw)
			host := tt.host
			if host == "" {
				host = r.Host
			}
			s, err := Verify(r, host, tt.now, docLookup)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, %v; want %s", s, err, tt.want.Code)
			}
			if e.Status != tt.want.Status {
				t.Errorf("status %d, want %d", e.Status, tt.want.Status)
			}
			if strings.Contains(err.Error(), docSecret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestVerifyLookupFailure(t *testing.T) {
	r := readRequest(t, "GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n"+
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\n"+
		"Range: bytes=0-9\nx-amz-content-sha256: "+emptySHA256+"\nx-amz-date: 20130524T000000Z\n\n")
	down := errors.New("key store is down")
	_, err := Verify(r, r.Host, docTime, func(string) (string, error) { return "", down })
	if !errors.Is(err, ErrInternalError) || !errors.Is(err, down) {
		t.Fatalf("Verify = %v; want an InternalError wrapping the lookup's error", err)
	}
}

// TestSignVerify signs requests with Sign, sends them to a server on
// 127.0.0.1 that runs Verify and Body, and changes each signed part of the
// request on the way to see it refused.
func TestSignVerify(t *testing.T) {
	cred := Credentials{AccessKeyID: "AKIDGATEWAY", Secret: "gateway secret/with+odd=chars"}
	lookup := func(id string) (string, error) {
		if id == cred.AccessKeyID {
			return cred.Secret, nil
		}
		return "", ErrUnknownAccessKey
	}
	now := time.Now()
	const payload = "the object's bytes"
	payloadHash := fmt.Sprintf("%x", sha256Sum([]byte(payload)))

	tests := []struct {
		name   string
		tamper func(r *http.Request)
		host   string
		want   *Error // nil: accepted
	}{
		{name: "as signed"},
		{name: "method", tamper: func(r *http.Request) { r.Method = "POST" }, want: ErrSignatureDoesNotMatch},
		{name: "path", tamper: func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/bucket/other key", "" }, want: ErrSignatureDoesNotMatch},
		{name: "query value", tamper: func(r *http.Request) { r.URL.RawQuery = "partNumber=2&uploadId=abc" }, want: ErrSignatureDoesNotMatch},
		{name: "query added", tamper: func(r *http.Request) { r.URL.RawQuery += "&versionId=1" }, want: ErrSignatureDoesNotMatch},
		{name: "x-amz header", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Owner", "mallory") }, want: ErrSignatureDoesNotMatch},
		{name: "content-type", tamper: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, want: ErrSignatureDoesNotMatch},
		{name: "date", tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", now.Add(time.Second).UTC().Format(amzDateFmt))
		}, want: ErrSignatureDoesNotMatch},
		{name: "payload hash", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) }, want: ErrSignatureDoesNotMatch},
		{name: "payload", tamper: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("other bytes of the same"))
			r.ContentLength = 23
		}, want: ErrXAmzContentSHA256Mismatch},
		{name: "host", host: "other.example", want: ErrSignatureDoesNotMatch},
		{name: "unsigned header added", tamper: func(r *http.Request) { r.Header.Set("User-Agent", "someone else") }},
	}
	srv := newVerifyServer(t, lookup, func() time.Time { return now })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("PUT", srv.URL+"/bucket/key%20with%2Fslash+and$?uploadId=abc&partNumber=1", strings.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Header.Set("X-Amz-Meta-Owner", "alice")
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 stale")
			if err := Sign(req, cred, "eu-north-1", payloadHash, now); err != nil {
				t.Fatal(err)
			}
			if tt.tamper != nil {
				tt.tamper(req)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			res := srv.do(t, req)
			if tt.want == nil {
				if res.err != "" || res.body != payload {
					t.Fatalf("refused: %s (body %q)", res.err, res.body)
				}
				if res.signed.AccessKeyID != cred.AccessKeyID || res.signed.Region != "eu-north-1" ||
					res.signed.PayloadHash != payloadHash || !res.signed.HeaderSigned("X-Amz-Meta-Owner") {
					t.Errorf("Signed = %v", res.signed)
				}
				return
			}
			if res.err != tt.want.Code {
				t.Fatalf("got %q, want %s", res.err, tt.want.Code)
			}
		})
	}
}

// TestSignReplacesPresign checks that Sign drops presigned-URL parameters
// and keeps the rest of the query as written.
func TestSignReplacesPresign(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://s3.example/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&versionId=a%2Bb&X-Amz-Signature=00&X-Amz-Credential=x", nil)
	if err := Sign(req, Credentials{AccessKeyID: "AKID", Secret: "s"}, "us-east-1", UnsignedPayload, time.Now()); err != nil {
		t.Fatal(err)
	}
	if req.URL.RawQuery != "versionId=a%2Bb" {
		t.Errorf("query %q, want versionId=a%%2Bb", req.URL.RawQuery)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKID/") {
		t.Errorf("Authorization %q", req.Header.Get("Authorization"))
	}
}

func TestSecretsStayOut(t *testing.T) {
	cred := Credentials{AccessKeyID: "AKIDSHOWN", Secret: "hidden-secret"}
	for _, s := range []string{fmt.Sprint(cred), fmt.Sprintf("%+v", cred), fmt.Sprintf("%#v", cred), fmt.Sprintf("%v", &cred)} {
		if strings.Contains(s, cred.Secret) || !strings.Contains(s, cred.AccessKeyID) {
			t.Errorf("Credentials print as %q", s)
		}
	}
	signed := Signed{AccessKeyID: "AKIDSHOWN", signingKey: []byte("signing-key-bytes"), seed: "seed"}
	for _, s := range []string{fmt.Sprint(signed), fmt.Sprintf("%+v", signed), fmt.Sprintf("%#v", &signed), fmt.Sprintf("%v", &signed)} {
		if strings.Contains(s, "signing-key-bytes") || strings.Contains(s, fmt.Sprint([]byte("signing-key-bytes"))) {
			t.Errorf("Signed prints as %q", s)
		}
	}
}

func TestCanonicalURI(t *testing.T) {
	tests := []struct{ escaped, want string }{
		{"", "/"},
		{"/", "/"},
		{"/bucket/a%20b", "/bucket/a%20b"},
		{"/bucket/a+b", "/bucket/a%2Bb"},
		{"/bucket/a%2Bb", "/bucket/a%2Bb"},
		{"/bucket/a%2bb", "/bucket/a%2Bb"},
		{"/bucket/a%2Fb", "/bucket/a%2Fb"},
		{"/bucket/./../x", "/bucket/./../x"},
		{"/bucket//x", "/bucket//x"},
		{"/bucket/%7Etilde~", "/bucket/~tilde~"},
		{"/bucket/100%", "/bucket/100%25"},
		{"/bucket/%zz", "/bucket/%25zz"},
		{"/bucket/é", "/bucket/%C3%A9"},
	}
	for _, tt := range tests {
		if got := canonicalURI(tt.escaped); got != tt.want {
			t.Errorf("canonicalURI(%q) = %q, want %q", tt.escaped, got, tt.want)
		}
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// verifyServer is an HTTP server on 127.0.0.1 that verifies each request
// with Verify, reads its body through Body and answers with the body, or
// with the S3 error document.
type verifyServer struct {
	*httptest.Server
	mu       sync.Mutex
	signed   *Signed
	trailers http.Header
}

type verifyResult struct {
	err      string // the S3 error code, "" if accepted
	body     string
	signed   *Signed
	trailers http.Header
}

func newVerifyServer(t *testing.T, lookup SecretLookup, now func() time.Time) *verifyServer {
	v := &verifyServer{}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := Verify(r, r.Host, now(), lookup)
		if err != nil {
			WriteError(w, ErrorFrom(err), r.URL.Path, "test-request")
			return
		}
		body, trailers, err := s.Body(r)
		if err != nil {
			WriteError(w, ErrorFrom(err), r.URL.Path, "test-request")
			return
		}
		data, err := io.ReadAll(body)
		if err != nil {
			WriteError(w, ErrorFrom(err), r.URL.Path, "test-request")
			return
		}
		v.mu.Lock()
		v.signed, v.trailers = s, trailers()
		v.mu.Unlock()
		_, _ = w.Write(data)
	}))
	t.Cleanup(v.Close)
	return v
}

func (v *verifyServer) do(t *testing.T, req *http.Request) verifyResult {
	t.Helper()
	v.mu.Lock()
	v.signed, v.trailers = nil, nil
	v.mu.Unlock()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("sending the request: %v", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		var doc errorDocument
		if err := xml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("answer %d is not an S3 error document: %q", res.StatusCode, data)
		}
		return verifyResult{err: doc.Code, body: doc.Message}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return verifyResult{body: string(data), signed: v.signed, trailers: v.trailers}
}

// TestSignS3Examples signs the S3 documentation's example requests with
// Sign and expects the documented Authorization headers.
func TestSignS3Examples(t *testing.T) {
	tests := []struct {
		name, url, rangeHeader, signature string
		signed                            string
	}{
		{"GET Object", "https://examplebucket.s3.amazonaws.com/test.txt", "bytes=0-9",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "host;range;x-amz-content-sha256;x-amz-date"},
		{"GET Bucket Lifecycle", "https://examplebucket.s3.amazonaws.com/?lifecycle", "",
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", "host;x-amz-content-sha256;x-amz-date"},
		{"GET Bucket", "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", "",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", "host;x-amz-content-sha256;x-amz-date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.rangeHeader != "" {
				req.Header.Set("Range", tt.rangeHeader)
			}
			if err := Sign(req, Credentials{AccessKeyID: docKeyID, Secret: docSecret}, "us-east-1", emptySHA256, docTime); err != nil {
				t.Fatal(err)
			}
			want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=" +
				tt.signed + ", Signature=" + tt.signature
			if got := req.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization\n%s\nwant\n%s", got, want)
			}
			if got := req.Header.Get("X-Amz-Date"); got != "20130524T000000Z" {
				t.Errorf("X-Amz-Date %q", got)
			}
		})
	}
}
