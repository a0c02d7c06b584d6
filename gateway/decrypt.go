package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"filippo.io/age"

	"github.com/sluss/sluss/crypto"
)

// probeSize is how much of an object the gateway reads to learn whether it
// is an age file and how long its header is.
const probeSize = 64 << 10

// Decrypt is the response transformer that decrypts age files coming back
// from the provider, for users with the decrypt right; others get 403, not
// ciphertext dressed as plaintext. Responses that are not age files pass
// unchanged. A single-range GET on an age file is answered with exactly the
// requested plaintext bytes, fetching only the chunks that cover them, and
// HEAD reports the plaintext size.
type Decrypt struct{}

func (Decrypt) TransformResponse(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	switch {
	case req.Method == http.MethodGet && req.Header.Get("Range") != "":
		return decryptRange(x, req, next)
	case req.Method == http.MethodHead:
		return headPlaintextSize(x, req, next)
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	return decryptResponse(x, resp)
}

// probeBufferSize is the read buffer for a body of contentLength bytes
// (-1: unknown): probeSize, or the whole body when it is shorter, so that
// the many short answers (a few bytes of JSON after an upload) do not
// each allocate 64 KiB.
func probeBufferSize(contentLength int64) int {
	if contentLength >= 0 && contentLength < probeSize {
		return max(int(contentLength), crypto.SniffLen)
	}
	return probeSize
}

// decryptResponse decrypts resp's body if it is an age file.
func decryptResponse(x *Exchange, resp *http.Response) (*http.Response, error) {
	if resp.StatusCode != http.StatusOK || resp.Body == nil || resp.Body == http.NoBody {
		return resp, nil
	}
	br := bufio.NewReaderSize(resp.Body, probeBufferSize(resp.ContentLength))
	prefix, _ := br.Peek(crypto.SniffLen)
	if !crypto.IsEncrypted(prefix) {
		resp.Body = readCloser{br, resp.Body}
		return resp, nil
	}
	ids, err := decryptionKeys(x)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	size := int64(-1)
	if resp.ContentLength >= 0 {
		head, _ := br.Peek(probeSize)
		if hs, err := crypto.ReadHeaderSize(bytes.NewReader(head)); err == nil {
			if ps, err := crypto.PlaintextSize(resp.ContentLength, hs); err == nil {
				size = ps
			}
		}
	}
	pt, err := crypto.Decrypt(br, ids...)
	if err != nil {
		resp.Body.Close()
		return nil, decryptError(err)
	}
	x.Decrypted()
	resp.Body = &plaintextBody{r: &endCheckedReader{r: pt}, c: resp.Body}
	setPlaintextHeaders(resp.Header, size)
	resp.ContentLength = size
	return resp, nil
}

func decryptionKeys(x *Exchange) ([]age.Identity, error) {
	if !x.User.Can(RightDecrypt) {
		x.Denied()
		return nil, refuse(http.StatusForbidden, "this object is encrypted and you are not allowed to decrypt it (ask for the decrypt right)", nil)
	}
	ids, err := x.Keys.DecryptionKeys()
	if err != nil {
		return nil, refuse(http.StatusServiceUnavailable, "the region's decryption keys are unavailable", err)
	}
	return ids, nil
}

func decryptError(err error) error {
	if errors.As(err, new(*age.NoIdentityMatchError)) {
		return refuse(http.StatusBadGateway, "the object is encrypted to a key this region does not hold", err)
	}
	return refuse(http.StatusBadGateway, "the stored object is not a valid age file or failed authentication", err)
}

// setPlaintextHeaders fixes the headers that describe the ciphertext.
func setPlaintextHeaders(h http.Header, size int64) {
	removePlaintextDigests(h)
	h.Del("Content-Range")
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	} else {
		h.Del("Content-Length")
	}
}

// plaintextBody is a decrypting body. A decryption failure is an error
// from Read, which makes the gateway cut the client's connection instead
// of completing the response.
type plaintextBody struct {
	r      io.Reader
	c      io.Closer
	failed bool
}

// ErrTampered is the read error of a download whose ciphertext failed
// authentication mid-stream.
var ErrTampered = errors.New("stored object failed authentication mid-stream; download cut")

func (b *plaintextBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.failed = true
		return n, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return n, err
}

func (b *plaintextBody) Close() error { return b.c.Close() }

// endCheckedReader passes a decrypting stream on with its end checked:
// each Read fills p and then reads one byte beyond it, which it keeps for
// the next Read, so the last byte goes out only with io.EOF, which the age
// stream returns once its final chunk authenticated. An object cut at a
// chunk boundary authenticates every chunk it still has, and only its
// missing final chunk, noticed at the end, gives it away: a response whose
// Content-Length was computed from the cut size would be complete before
// that error, and the client would take the cut file for the whole one.
// One byte short, it sees the cut. Like fullReader, it holds back at most
// one buffer (one chunk behind the upstream), never the stream.
type endCheckedReader struct {
	r    io.Reader
	last [1]byte
	held bool
	err  error // returned by the read that filled last
}

func (e *endCheckedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if e.held {
		if e.err != nil && e.err != io.EOF {
			return 0, e.err // the held byte never goes out
		}
		p[0], e.held, n = e.last[0], false, 1
		if e.err == io.EOF {
			return 1, io.EOF
		}
	}
	for n < len(p) {
		m, err := e.r.Read(p[n:])
		n += m
		if err != nil {
			return e.end(n, err)
		}
	}
	for {
		m, err := e.r.Read(e.last[:])
		if m == 1 {
			e.held, e.err = true, err
			return n, nil
		}
		if err != nil {
			return e.end(n, err)
		}
	}
}

// end finishes a Read of n bytes that met err: at io.EOF they are the end
// of a complete stream; after any other error the last of them stays back.
func (e *endCheckedReader) end(n int, err error) (int, error) {
	if err == io.EOF {
		return n, io.EOF
	}
	return max(n-1, 0), err
}

// probe fetches the first probeSize bytes of the object req names. It
// returns the bytes, the object's total size (-1 if unknown) and the
// probe's response, whose body is already closed.
func probe(req *http.Request, next http.RoundTripper) ([]byte, int64, *http.Response, error) {
	pr := req.Clone(req.Context())
	pr.Method = http.MethodGet
	pr.Body, pr.ContentLength = nil, 0
	pr.Header.Set("Range", fmt.Sprintf("bytes=0-%d", probeSize-1))
	pr.Header.Del("If-Range")
	resp, err := next.RoundTrip(pr)
	if err != nil {
		return nil, -1, nil, err
	}
	defer resp.Body.Close()
	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		total = contentRangeTotal(resp.Header.Get("Content-Range"))
	case http.StatusOK:
		total = resp.ContentLength
	default:
		return nil, -1, resp, nil
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, probeSize))
	if err != nil {
		return nil, -1, nil, err
	}
	return buf, total, resp, nil
}

// headPlaintextSize answers HEAD with the plaintext size of an age file.
func headPlaintextSize(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	encSize, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil || encSize <= 0 {
		return resp, nil
	}
	buf, total, _, err := probe(req, next)
	if err != nil || !crypto.IsEncrypted(buf) {
		return resp, nil
	}
	size := int64(-1)
	if hs, err := crypto.ReadHeaderSize(bytes.NewReader(buf)); err == nil && total == encSize {
		if ps, err := crypto.PlaintextSize(total, hs); err == nil {
			size = ps
		}
	}
	setPlaintextHeaders(resp.Header, size)
	resp.ContentLength = size
	x.Decrypted()
	return resp, nil
}

// decryptRange answers a Range GET. If the object is an age file, the
// requested plaintext bytes are decrypted from only the chunks covering
// them; otherwise the request goes upstream unchanged.
func decryptRange(x *Exchange, req *http.Request, next http.RoundTripper) (*http.Response, error) {
	buf, total, presp, err := probe(req, next)
	if err != nil {
		return nil, err
	}
	if presp.StatusCode == http.StatusOK && crypto.IsEncrypted(buf) {
		// The provider ignores ranges: decrypt the whole object (a 200 is
		// a valid answer to a Range request).
		full := req.Clone(req.Context())
		full.Header.Del("Range")
		resp, err := next.RoundTrip(full)
		if err != nil {
			return nil, err
		}
		return decryptResponse(x, resp)
	}
	if presp.StatusCode != http.StatusPartialContent || !crypto.IsEncrypted(buf) || total < 0 {
		return next.RoundTrip(req)
	}
	ids, err := decryptionKeys(x)
	if err != nil {
		return nil, err
	}
	hs, err := crypto.ReadHeaderSize(bytes.NewReader(buf))
	if err != nil {
		return nil, decryptError(err)
	}
	size, err := crypto.PlaintextSize(total, hs)
	if err != nil {
		return nil, decryptError(err)
	}
	off, length, ok := parseRange(req.Header.Get("Range"), size)
	if !ok {
		if off < 0 { // several ranges, or a syntax we do not serve: send it all
			full := req.Clone(req.Context())
			full.Header.Del("Range")
			resp, err := next.RoundTrip(full)
			if err != nil {
				return nil, err
			}
			return decryptResponse(x, resp)
		}
		return &http.Response{
			StatusCode: http.StatusRequestedRangeNotSatisfiable,
			Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{"Content-Range": {fmt.Sprintf("bytes */%d", size)}},
			Body:    http.NoBody,
			Request: req,
		}, nil
	}
	// The ciphertext that covers the range: header, nonce, then chunks.
	payload := hs + 16
	const encChunk = crypto.ChunkSize + 16
	from := payload + off/crypto.ChunkSize*encChunk
	to := min(total, payload+((off+length-1)/crypto.ChunkSize+1)*encChunk) - 1
	ra := &upstreamReaderAt{req: req, next: next, prefix: buf, size: total, winFrom: from, winTo: to}
	pt, err := crypto.DecryptRange(ra, total, off, length, ids...)
	if err != nil {
		ra.Close()
		return nil, decryptError(err)
	}
	x.Decrypted()
	h := presp.Header.Clone()
	setPlaintextHeaders(h, length)
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, size))
	return &http.Response{
		StatusCode: http.StatusPartialContent,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        h,
		ContentLength: length,
		Body:          &plaintextBody{r: &endCheckedReader{r: pt}, c: ra},
		Request:       req,
	}, nil
}

// parseRange parses a single "bytes=" range against size. ok is false with
// off -1 when the header is not one range we serve (the caller sends the
// whole object), and with off >= 0 when the range is unsatisfiable.
func parseRange(h string, size int64) (off, length int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return -1, 0, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return -1, 0, false
	}
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return -1, 0, false
		}
		if n == 0 || size == 0 {
			return 0, 0, false
		}
		n = min(n, size)
		return size - n, n, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return -1, 0, false
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return -1, 0, false
		}
		b = min(b, size-1)
	}
	if a >= size {
		return a, 0, false
	}
	return a, b - a + 1, true
}

// contentRangeTotal returns the complete length in "bytes a-b/total".
func contentRangeTotal(h string) int64 {
	_, total, ok := strings.Cut(h, "/")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
