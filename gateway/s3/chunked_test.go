package s3

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// The S3 API reference's aws-chunked examples ("Signature Calculations for
// the Authorization Header: Transferring Payload in Multiple Chunks", and
// the same with trailing headers): 66560 bytes of 'a' in a 65536-byte and
// a 1024-byte chunk.
const (
	docSeed        = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	docTrailerSeed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
)

func docChunkedBody(trailer bool) []byte {
	sigs := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	if trailer {
		sigs = []string{
			"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
			"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
			"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
		}
	}
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sigs[0] + "\r\n" + strings.Repeat("a", 65536) + "\r\n")
	b.WriteString("400;chunk-signature=" + sigs[1] + "\r\n" + strings.Repeat("a", 1024) + "\r\n")
	if !trailer {
		b.WriteString("0;chunk-signature=" + sigs[2] + "\r\n\r\n")
		return b.Bytes()
	}
	b.WriteString("0;chunk-signature=" + sigs[2] + "\r\n")
	b.WriteString("x-amz-checksum-crc32c:sOO8/Q==\r\n")
	b.WriteString("x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n")
	return b.Bytes()
}

// docChunkedRequest returns the example request as a server receives it.
func docChunkedRequest(t *testing.T, trailer bool) *http.Request {
	body := docChunkedBody(trailer)
	head := "PUT /examplebucket/chunkObject.txt HTTP/1.1\nHost: s3.amazonaws.com\nx-amz-date: 20130524T000000Z\n" +
		"x-amz-storage-class: REDUCED_REDUNDANCY\nContent-Encoding: aws-chunked\nx-amz-decoded-content-length: 66560\n"
	if trailer {
		head += "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer," +
			"Signature=" + docTrailerSeed + "\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\n" +
			"x-amz-trailer: x-amz-checksum-crc32c\n"
	} else {
		head += "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class," +
			"Signature=" + docSeed + "\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n"
	}
	head += "Content-Length: " + strconv.Itoa(len(body)) + "\n\n"
	r := readRequest(t, head)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r
}

func TestChunkedS3Examples(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":        func(r io.Reader) io.Reader { return r },
		"one byte":     iotest.OneByteReader,
		"half":         iotest.HalfReader,
		"data and EOF": iotest.DataErrReader,
	}
	for _, trailer := range []bool{false, true} {
		for name, wrap := range readers {
			t.Run(fmt.Sprintf("trailer=%t/%s", trailer, name), func(t *testing.T) {
				r := docChunkedRequest(t, trailer)
				s, err := Verify(r, r.Host, docTime, docLookup)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if DecodedLength(r) != 66560 {
					t.Errorf("DecodedLength = %d, want 66560", DecodedLength(r))
				}
				r.Body = io.NopCloser(wrap(r.Body))
				body, trailers, err := s.Body(r)
				if err != nil {
					t.Fatalf("Body: %v", err)
				}
				if trailers() != nil {
					t.Error("trailers before the end of the body")
				}
				got, err := io.ReadAll(body)
				if err != nil {
					t.Fatalf("reading the body: %v", err)
				}
				if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
					t.Errorf("body of %d bytes, want 66560 'a'", len(got))
				}
				want := http.Header{}
				if trailer {
					want.Set("X-Amz-Checksum-Crc32c", "sOO8/Q==")
				}
				if fmt.Sprint(trailers()) != fmt.Sprint(want) {
					t.Errorf("trailers %v, want %v", trailers(), want)
				}
			})
		}
	}
}

// TestChunkedTampered changes the documented bodies and checks that the
// reader ends in an *Error, never a clean io.EOF.
func TestChunkedTampered(t *testing.T) {
	plain, trailed := docChunkedBody(false), docChunkedBody(true)
	replace := func(b []byte, old, new string) []byte {
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%q is not in the body", old)
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	chunk2 := bytes.Index(plain, []byte("400;"))
	tests := []struct {
		name    string
		trailer bool
		body    []byte
		header  func(http.Header)
		want    *Error
	}{
		{name: "data byte of the first chunk", body: flip(plain, 200), want: ErrSignatureDoesNotMatch},
		{name: "data byte of the last chunk", body: flip(plain, chunk2+100), want: ErrSignatureDoesNotMatch},
		{name: "chunk signature", body: replace(plain, "ad80c7", "ad80c8"), want: ErrSignatureDoesNotMatch},
		{name: "final chunk signature", body: replace(plain, "b6c6ea", "b6c6eb"), want: ErrSignatureDoesNotMatch},
		{name: "second chunk left out", body: append(bytes.Clone(plain[:chunk2]), plain[bytes.LastIndex(plain, []byte("0;chunk")):]...), want: ErrSignatureDoesNotMatch},
		{name: "chunks swapped", body: swapChunks(plain, chunk2), want: ErrSignatureDoesNotMatch},
		{name: "no final chunk", body: plain[:bytes.LastIndex(plain, []byte("0;chunk"))], want: ErrIncompleteBody},
		{name: "no CRLF after the final chunk", body: plain[:len(plain)-2], want: ErrIncompleteBody},
		{name: "data after the final chunk", body: append(bytes.Clone(plain), "more"...), want: ErrIncompleteBody},
		{name: "a line after the end", body: append(bytes.Clone(plain), "more\r\n\r\n"...), want: ErrInvalidRequest},
		{name: "no empty line after the trailer signature", trailer: true, body: trailed[:len(trailed)-2], want: ErrIncompleteBody},
		{name: "a line after the final chunk", body: append(bytes.Clone(plain), "x-amz-checksum-crc32c:sOO8/Q==\r\n"...), want: ErrInvalidRequest},
		{name: "size not hex", body: replace(plain, "400;", "40g;"), want: ErrInvalidRequest},
		{name: "size larger than sent", body: replace(plain, "400;", "401;"), want: ErrInvalidRequest},
		{name: "size negative", body: replace(plain, "400;", "-400;"), want: ErrInvalidRequest},
		{name: "size huge", body: replace(plain, "400;", "ffffffffffffffffff;"), want: ErrInvalidRequest},
		{name: "no chunk signature", body: replace(plain, "400;chunk-signature=", "400;"), want: ErrInvalidRequest},
		{name: "header line too long", body: replace(plain, "400;", "400;"+strings.Repeat("x", 5000)), want: ErrInvalidRequest},
		{name: "LF only after a header", body: replace(plain, "5497\r\n", "5497\n"), want: ErrInvalidRequest},
		{name: "no CRLF after data", body: replace(plain, "a\r\n400", "aXX400"), want: ErrInvalidRequest},
		{name: "decoded length larger", body: plain, header: func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "66561") }, want: ErrIncompleteBody},
		{name: "decoded length smaller", body: plain, header: func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "66559") }, want: ErrInvalidRequest},
		{name: "decoded length not a number", body: plain, header: func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "many") }, want: ErrInvalidRequest},
		{name: "trailer value", trailer: true, body: replace(trailed, "sOO8/Q==", "sOO8/R=="), want: ErrSignatureDoesNotMatch},
		{name: "trailer signature", trailer: true, body: replace(trailed, "d81f82", "d81f83"), want: ErrSignatureDoesNotMatch},
		{name: "trailer signature left out", trailer: true, body: replace(trailed, "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n", ""), want: ErrIncompleteBody},
		{name: "trailer added after the signature", trailer: true, body: append(trailed[:len(trailed)-2:len(trailed)-2], "x-amz-checksum-crc32c:AAAAAA==\r\n\r\n"...), want: ErrInvalidRequest},
		{name: "trailer not declared", trailer: true, body: replace(trailed, "x-amz-checksum-crc32c:", "x-amz-checksum-sha1:"), want: ErrInvalidRequest},
		{name: "declared trailer missing", trailer: true, body: trailed, header: func(h http.Header) { h.Add("X-Amz-Trailer", "x-amz-checksum-sha256") }, want: ErrIncompleteBody},
		{name: "trailer longer than allowed", trailer: true, body: replace(trailed, "x-amz-checksum-crc32c:sOO8/Q==\r\n", strings.Repeat("\r\n", 9000)), want: ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := docChunkedRequest(t, tt.trailer)
			s, err := Verify(r, r.Host, docTime, docLookup)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.header != nil {
				tt.header(r.Header)
			}
			r.Body = io.NopCloser(bytes.NewReader(tt.body))
			body, trailers, err := s.Body(r)
			if err == nil {
				_, err = io.ReadAll(body)
				if trailers() != nil {
					t.Error("trailers of a body that failed")
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %s", err, tt.want.Code)
			}
		})
	}
}

func swapChunks(b []byte, second int) []byte {
	final := bytes.LastIndex(b, []byte("0;chunk"))
	out := append(bytes.Clone(b[second:final]), b[:second]...)
	return append(out, b[final:]...)
}

// TestChunkedTruncated cuts the documented body at every place around
// the framing and at some inside the data: each must end in an error.
func TestChunkedTruncated(t *testing.T) {
	for _, trailer := range []bool{false, true} {
		body := docChunkedBody(trailer)
		var cuts []int
		for i := 0; i < len(body); i++ {
			if i < 200 || i%997 == 0 || len(body)-i < 1300 {
				cuts = append(cuts, i)
			}
		}
		for _, cut := range cuts {
			r := docChunkedRequest(t, trailer)
			s, err := Verify(r, r.Host, docTime, docLookup)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body[:cut]))
			b, _, err := s.Body(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(b)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("trailer=%t: body cut at %d of %d read without an S3 error: %v", trailer, cut, len(body), err)
			}
		}
	}
}

func TestChunkedUnderlyingError(t *testing.T) {
	r := docChunkedRequest(t, false)
	s, err := Verify(r, r.Host, docTime, docLookup)
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("connection reset")
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(docChunkedBody(false)[:1000]), iotest.ErrReader(broken)))
	b, _, _ := s.Body(r)
	_, err = io.ReadAll(b)
	if !errors.Is(err, ErrIncompleteBody) || !errors.Is(err, broken) {
		t.Fatalf("got %v, want IncompleteBody wrapping the body's error", err)
	}
}

func TestBodySHA256(t *testing.T) {
	const body = "Welcome to Amazon S3."
	hash := fmt.Sprintf("%x", sha256Sum([]byte(body)))
	tests := []struct {
		name, body string
		want       *Error
	}{
		{"as signed", body, nil},
		{"other bytes", "Welcome to Amazon S4.", ErrXAmzContentSHA256Mismatch},
		{"shorter", body[:5], ErrXAmzContentSHA256Mismatch},
		{"empty", "", ErrXAmzContentSHA256Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Signed{PayloadHash: hash}
			r := &http.Request{Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			b, _, err := s.Body(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(iotest.OneByteReader(b))
			if tt.want == nil {
				if err != nil || string(got) != body {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %s", err, tt.want.Code)
			}
		})
	}
}

func TestDecodedLength(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		length int64
		want   int64
	}{
		{"plain", http.Header{}, 21, 21},
		{"unknown", http.Header{}, -1, -1},
		{"streaming", http.Header{"X-Amz-Content-Sha256": {StreamingPayload}, "X-Amz-Decoded-Content-Length": {"66560"}}, 66824, 66560},
		{"aws-chunked encoding", http.Header{"Content-Encoding": {"gzip, aws-chunked"}, "X-Amz-Decoded-Content-Length": {"5"}}, 90, 5},
		{"streaming without decoded length", http.Header{"X-Amz-Content-Sha256": {StreamingUnsignedPayloadTrailer}}, 90, -1},
		{"streaming with a bad decoded length", http.Header{"X-Amz-Content-Sha256": {StreamingPayload}, "X-Amz-Decoded-Content-Length": {"-5"}}, 90, -1},
	}
	for _, tt := range tests {
		r := &http.Request{Header: tt.header, ContentLength: tt.length}
		if got := DecodedLength(r); got != tt.want {
			t.Errorf("%s: DecodedLength = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// sha256Hasher is the md5simd.Hasher minio-go's streaming signer wants.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// TestMinioInterop signs requests with minio-go's signer, the one minio-go
// clients use, and verifies them on a server on 127.0.0.1.
func TestMinioInterop(t *testing.T) {
	const (
		keyID  = "AKIDMINIO"
		secret = "minio/secret+key"
		region = "eu-north-1"
	)
	lookup := func(id string) (string, error) {
		if id == keyID {
			return secret, nil
		}
		return "", ErrUnknownAccessKey
	}
	srv := newVerifyServer(t, lookup, time.Now)
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i/251)
		}
		return b
	}
	newRequest := func(t *testing.T, method, path string, body []byte) *http.Request {
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	const key = "/bucket/dir/a key+with$odd&chars=ö.txt"
	tests := []struct {
		name         string
		size         int
		sign         func(req *http.Request, data []byte) *http.Request
		wantPayload  string
		wantTrailers http.Header
	}{
		{name: "SignV4, payload hash", size: 1000, sign: func(req *http.Request, data []byte) *http.Request {
			req.Header.Set("X-Amz-Content-Sha256", fmt.Sprintf("%x", sha256Sum(data)))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("X-Amz-Meta-Note", "  two   spaces ")
			return signer.SignV4(*req, keyID, secret, "", region)
		}, wantPayload: fmt.Sprintf("%x", sha256Sum(payload(1000)))},
		{name: "SignV4, unsigned payload", size: 1000, sign: func(req *http.Request, data []byte) *http.Request {
			req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			return signer.SignV4(*req, keyID, secret, "", region)
		}, wantPayload: UnsignedPayload},
		{name: "PreSignV4", size: 0, sign: func(req *http.Request, data []byte) *http.Request {
			req.Body = nil
			req.URL.RawQuery = "versionId=v1&response-content-type=text%2Fplain"
			return signer.PreSignV4(*req, keyID, secret, "", region, 600)
		}, wantPayload: UnsignedPayload},
		{name: "StreamingSignV4, empty", size: 0, sign: streaming(keyID, secret, region, nil), wantPayload: StreamingPayload},
		{name: "StreamingSignV4, one byte", size: 1, sign: streaming(keyID, secret, region, nil), wantPayload: StreamingPayload},
		{name: "StreamingSignV4, one chunk", size: 64 << 10, sign: streaming(keyID, secret, region, nil), wantPayload: StreamingPayload},
		{name: "StreamingSignV4, several chunks", size: 200<<10 + 17, sign: streaming(keyID, secret, region, nil), wantPayload: StreamingPayload},
		{name: "StreamingSignV4 with a trailer", size: 100 << 10, sign: streaming(keyID, secret, region, http.Header{"x-amz-checksum-crc32c": {"AAAAAA=="}}),
			wantPayload: StreamingPayloadTrailer, wantTrailers: http.Header{"X-Amz-Checksum-Crc32c": {"AAAAAA=="}}},
		{name: "SignV4Trailer, unsigned payload", size: 70 << 10, sign: func(req *http.Request, data []byte) *http.Request {
			req.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedPayloadTrailer)
			return signer.SignV4Trailer(*req, keyID, secret, "", region, http.Header{"x-amz-checksum-crc32": {"BBBBBB=="}})
		}, wantPayload: StreamingUnsignedPayloadTrailer, wantTrailers: http.Header{"X-Amz-Checksum-Crc32": {"BBBBBB=="}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "PUT"
			if tt.name == "PreSignV4" {
				method = "GET"
			}
			data := payload(tt.size)
			req := tt.sign(newRequest(t, method, key, data), data)
			res := srv.do(t, req)
			if res.err != "" {
				t.Fatalf("refused: %s: %s", res.err, res.body)
			}
			if res.body != string(data) {
				t.Errorf("body of %d bytes differs from the %d sent", len(res.body), len(data))
			}
			if res.signed.PayloadHash != tt.wantPayload || res.signed.AccessKeyID != keyID || res.signed.Region != region {
				t.Errorf("Signed = %v", res.signed)
			}
			if fmt.Sprint(res.trailers) != fmt.Sprint(tt.wantTrailers) && !(len(res.trailers) == 0 && tt.wantTrailers == nil) {
				t.Errorf("trailers %v, want %v", res.trailers, tt.wantTrailers)
			}
		})
	}
}

func streaming(keyID, secret, region string, trailer http.Header) func(*http.Request, []byte) *http.Request {
	return func(req *http.Request, data []byte) *http.Request {
		req.Trailer = trailer
		return signer.StreamingSignV4(req, keyID, secret, "", region, int64(len(data)), time.Now().UTC(), sha256Hasher{sha256.New()})
	}
}

// FuzzChunked feeds the aws-chunked reader arbitrary bodies in all three
// modes: it must not panic, must not give more bytes than it was sent, and
// must fail with an *Error. A clean end needs valid signatures, which the
// fuzzer cannot forge, so only unsigned bodies may end cleanly, and then
// with the declared trailer.
func FuzzChunked(f *testing.F) {
	f.Add(docChunkedBody(false)[65000:], uint8(0))
	f.Add(docChunkedBody(true)[66000:], uint8(1))
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), uint8(2))
	f.Add([]byte("0\r\nx-amz-checksum-crc32:AAAAAA==\n\r\n\r\n"), uint8(2))
	f.Add([]byte("0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"), uint8(0))
	f.Add([]byte("ffffffffffffff\r\n"), uint8(2))
	mode := []string{StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer}
	f.Fuzz(func(t *testing.T, body []byte, m uint8) {
		s := &Signed{
			PayloadHash: mode[int(m)%len(mode)],
			Time:        docTime,
			signingKey:  signingKey(docSecret, "20130524", "us-east-1", "s3"),
			seed:        docSeed,
			scope:       "20130524/us-east-1/s3/aws4_request",
		}
		h := http.Header{}
		if s.PayloadHash != StreamingPayload {
			h.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		}
		r := &http.Request{Header: h, Body: io.NopCloser(bytes.NewReader(body))}
		b, trailers, err := s.Body(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(b)
		if len(got) > len(body) {
			t.Fatalf("%d bytes out of a %d-byte body", len(got), len(body))
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if s.PayloadHash != StreamingUnsignedPayloadTrailer {
			t.Fatalf("a signed body the fuzzer made up was accepted: %q", body)
		}
		if trailers().Get("X-Amz-Checksum-Crc32") == "" {
			t.Fatalf("accepted without the declared trailer: %q", body)
		}
	})
}
