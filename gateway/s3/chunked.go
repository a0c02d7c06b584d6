package s3

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const (
	// maxChunkLine bounds a chunk header line ("hex-size;chunk-signature=...").
	maxChunkLine = 4 << 10
	// maxTrailerSize bounds everything after the final chunk.
	maxTrailerSize = 16 << 10
	chunkBuffer    = 64 << 10
)

// Body returns r's payload as the client meant it, checked against what
// the client signed:
//
//   - a hex SHA-256 PayloadHash: the body is hashed as it is read, and at
//     its end the reader returns XAmzContentSHA256Mismatch instead of
//     io.EOF if it differs;
//   - UNSIGNED-PAYLOAD: the body as it is;
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) and
//     STREAMING-UNSIGNED-PAYLOAD-TRAILER: the aws-chunked framing is
//     removed, every chunk signature is checked along the chain from the
//     request's signature, so is the trailer signature, and the length must
//     equal x-amz-decoded-content-length when given. Trailing headers must
//     be declared in x-amz-trailer.
//
// Whatever fails, the reader returns an *Error (IncompleteBody,
// SignatureDoesNotMatch, InvalidRequest, XAmzContentSHA256Mismatch), never
// a clean io.EOF; an error of the underlying body is wrapped in
// IncompleteBody. Bytes come out before the check that covers them is
// done (a chunk's signature follows its data), so a consumer must not act
// on a body it has not read to io.EOF.
//
// trailers returns the trailing headers (such as X-Amz-Checksum-Crc32)
// once the reader has returned io.EOF, nil before.
func (s *Signed) Body(r *http.Request) (body io.Reader, trailers func() http.Header, err error) {
	in := r.Body
	if in == nil {
		in = http.NoBody
	}
	none := func() http.Header { return nil }
	switch s.PayloadHash {
	case UnsignedPayload:
		return in, none, nil
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		c, err := s.newChunkedReader(in, r.Header)
		if err != nil {
			return nil, nil, err
		}
		return c, c.trailerHeader, nil
	}
	if !isSHA256Hex(s.PayloadHash) {
		return nil, nil, InvalidRequest("x-amz-content-sha256 " + s.PayloadHash + " is not supported.")
	}
	return &hashReader{r: in, h: sha256.New(), want: s.PayloadHash}, none, nil
}

// DecodedLength returns the length of r's payload if it is known: for an
// aws-chunked body x-amz-decoded-content-length, otherwise r.ContentLength;
// -1 if unknown.
func DecodedLength(r *http.Request) int64 {
	if !isAWSChunked(r.Header) {
		return r.ContentLength
	}
	n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func isAWSChunked(h http.Header) bool {
	if strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return true
	}
	for _, v := range h.Values("Content-Encoding") {
		for enc := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(enc), "aws-chunked") {
				return true
			}
		}
	}
	return false
}

// hashReader passes a body through and checks its SHA-256 at the end.
type hashReader struct {
	r    io.Reader
	h    hash.Hash
	want string
	err  error
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	switch {
	case err == io.EOF:
		if hex.EncodeToString(h.h.Sum(nil)) != h.want {
			err = ErrXAmzContentSHA256Mismatch
		}
		h.err = err
	case err != nil:
		h.err = ErrIncompleteBody.withCause(err)
		err = h.err
	}
	return n, err
}

// chunkedReader removes aws-chunked framing and checks it as it goes.
type chunkedReader struct {
	r *bufio.Reader

	signed        bool // chunks carry chunk-signature
	trailer       bool // trailing headers may follow the final chunk
	signedTrailer bool // and end with x-amz-trailer-signature
	key           []byte
	amzDate       string
	scope         string
	prev          string // the signature the next one chains from

	declared int64           // x-amz-decoded-content-length, -1 if not given
	allowed  map[string]bool // trailer names declared in x-amz-trailer
	decoded  int64           // data bytes so far

	left      int64     // data bytes left in the current chunk
	chunkHash hash.Hash // of the current chunk's data
	chunkSig  string    // the current chunk's claimed signature

	trailers http.Header
	err      error // sticky; io.EOF once all is checked
}

func (s *Signed) newChunkedReader(body io.Reader, h http.Header) (*chunkedReader, error) {
	c := &chunkedReader{
		r:         bufio.NewReaderSize(body, chunkBuffer),
		declared:  -1,
		chunkHash: sha256.New(),
		trailers:  http.Header{},
		allowed:   map[string]bool{},
	}
	switch s.PayloadHash {
	case StreamingPayload:
		c.signed = true
	case StreamingPayloadTrailer:
		c.signed, c.trailer, c.signedTrailer = true, true, true
	case StreamingUnsignedPayloadTrailer:
		c.trailer = true
	}
	if c.signed {
		if s.Presigned || len(s.signingKey) == 0 || s.seed == "" {
			return nil, InvalidRequest("A signed aws-chunked body needs a header-signed request.")
		}
		c.key, c.scope, c.prev = s.signingKey, s.scope, s.seed
		c.amzDate = s.Time.UTC().Format(amzDateFmt)
	}
	if v := h.Get("X-Amz-Decoded-Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, InvalidRequest("x-amz-decoded-content-length is not a non-negative number.")
		}
		c.declared = n
	}
	for _, v := range h.Values("X-Amz-Trailer") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				c.allowed[name] = true
			}
		}
	}
	if !c.trailer && len(c.allowed) > 0 {
		return nil, InvalidRequest("x-amz-trailer needs x-amz-content-sha256 " + StreamingPayloadTrailer + " or " + StreamingUnsignedPayloadTrailer + ".")
	}
	return c, nil
}

func (c *chunkedReader) trailerHeader() http.Header {
	if c.err != io.EOF {
		return nil
	}
	return c.trailers
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.err == nil && c.left == 0 {
		c.err = c.nextChunk()
	}
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	c.decoded += int64(n)
	if c.signed {
		c.chunkHash.Write(p[:n])
	}
	switch {
	case c.left == 0:
		// The chunk is checked now but its bytes go out first; a failure
		// is what the next Read returns.
		c.err = c.endChunk()
	case err != nil:
		c.err = incomplete(err)
	}
	return n, nil
}

func incomplete(err error) *Error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrIncompleteBody.withMessage("The aws-chunked body ended early.")
	}
	return ErrIncompleteBody.withCause(err)
}

// readLine reads a line ending in "\n" of at most limit bytes and returns
// it without "\r\n" or "\n". A clean end of the body before any byte is
// io.EOF; crlf reports whether the line ended in "\r\n".
func (c *chunkedReader) readLine(limit int) (line string, crlf bool, err error) {
	b, err := c.r.ReadSlice('\n')
	if len(b) > limit || err == bufio.ErrBufferFull {
		return "", false, InvalidRequest("An aws-chunked header or trailer line is too long.")
	}
	if err != nil {
		if err == io.EOF && len(b) == 0 {
			return "", false, io.EOF
		}
		return "", false, incomplete(err)
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return string(b[:n-1]), true, nil
	}
	return string(b), false, nil
}

// nextChunk reads a chunk header; after the final chunk it reads what
// follows and returns io.EOF if all is well.
func (c *chunkedReader) nextChunk() error {
	line, crlf, err := c.readLine(maxChunkLine)
	if err != nil {
		return incompleteOr(err)
	}
	if !crlf {
		return InvalidRequest("An aws-chunked chunk header does not end in CRLF.")
	}
	sizeText, sig := line, ""
	if c.signed {
		var ok bool
		sizeText, sig, ok = strings.Cut(line, ";chunk-signature=")
		if !ok || !isSHA256Hex(sig) {
			return InvalidRequest("An aws-chunked chunk header lacks its chunk-signature.")
		}
	}
	size, ok := parseChunkSize(sizeText)
	if !ok {
		return InvalidRequest("An aws-chunked chunk size is not a hexadecimal number.")
	}
	if c.declared >= 0 && size > c.declared-c.decoded {
		return InvalidRequest("The aws-chunked body holds more than x-amz-decoded-content-length.")
	}
	c.chunkHash.Reset()
	c.chunkSig = sig
	if size > 0 {
		c.left = size
		return nil
	}
	if c.signed {
		if err := c.checkChunkSignature(); err != nil {
			return err
		}
	}
	return c.finish()
}

func incompleteOr(err error) error {
	if err == io.EOF {
		return incomplete(err)
	}
	return err
}

func parseChunkSize(s string) (int64, bool) {
	if s == "" || len(s) > 15 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 63)
	return int64(n), err == nil
}

// endChunk reads the CRLF after a chunk's data and checks its signature.
func (c *chunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.r, crlf[:]); err != nil {
		return incomplete(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return InvalidRequest("An aws-chunked chunk's data does not end in CRLF.")
	}
	if c.signed {
		return c.checkChunkSignature()
	}
	return nil
}

func (c *chunkedReader) checkChunkSignature() error {
	toSign := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(c.chunkHash.Sum(nil))
	return c.check(toSign, c.chunkSig)
}

// check compares claimed with the signature of toSign and moves the chain on.
func (c *chunkedReader) check(toSign, claimed string) error {
	want := hmacSHA256(c.key, []byte(toSign))
	got, err := hex.DecodeString(claimed)
	if err != nil || !hmac.Equal(got, want) {
		return ErrSignatureDoesNotMatch
	}
	c.prev = hex.EncodeToString(want)
	return nil
}

// finish reads what follows the final chunk: an empty line, or trailing
// headers (with their signature for the signed variant), up to the end of
// the body. Clients differ in where they put empty lines (minio-go ends a
// trailer with "\n\r\n"), so empty lines are skipped; anything else must be
// a declared trailer or the trailer signature.
func (c *chunkedReader) finish() error {
	var signedText strings.Builder
	// ended: the last line was empty, as every client ends the body.
	budget, ended, signature := maxTrailerSize, false, false
	for {
		line, _, err := c.readLine(min(budget, maxChunkLine))
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		budget -= len(line) + 2
		if budget <= 0 {
			return InvalidRequest("The aws-chunked trailer is too long.")
		}
		ended = line == ""
		if ended {
			continue
		}
		if !c.trailer {
			return InvalidRequest("Data follows the final aws-chunked chunk.")
		}
		if signature {
			return InvalidRequest("Data follows the aws-chunked trailer signature.")
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return InvalidRequest("An aws-chunked trailer is not of the form name:value.")
		}
		if name == "x-amz-trailer-signature" {
			if !c.signedTrailer {
				return InvalidRequest("An unsigned aws-chunked body carries a trailer signature.")
			}
			sum := sha256.Sum256([]byte(signedText.String()))
			toSign := "AWS4-HMAC-SHA256-TRAILER\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" + hex.EncodeToString(sum[:])
			if err := c.check(toSign, strings.TrimSpace(value)); err != nil {
				return err
			}
			signature = true
			continue
		}
		if !c.allowed[name] {
			return InvalidRequest("The aws-chunked trailer " + name + " is not declared in x-amz-trailer.")
		}
		if c.trailers.Get(name) != "" {
			return InvalidRequest("The aws-chunked trailer " + name + " is given twice.")
		}
		c.trailers.Set(name, strings.TrimSpace(value))
		signedText.WriteString(line)
		signedText.WriteByte('\n')
	}
	switch {
	case !ended:
		return ErrIncompleteBody.withMessage("The aws-chunked body does not end in an empty line.")
	case c.signedTrailer && !signature:
		return ErrIncompleteBody.withMessage("The aws-chunked body lacks its trailer signature.")
	case c.declared >= 0 && c.decoded != c.declared:
		return ErrIncompleteBody.withMessage("The aws-chunked body holds less than x-amz-decoded-content-length.")
	}
	for name := range c.allowed {
		if c.trailers.Get(name) == "" {
			return ErrIncompleteBody.withMessage("The aws-chunked trailer " + name + " declared in x-amz-trailer is missing.")
		}
	}
	return io.EOF
}
