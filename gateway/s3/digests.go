package s3

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
)

// digests computes what a client promised about the plaintext it sent
// (Content-MD5, x-amz-checksum-* as a header or a trailer) and the MD5 the
// client will see as the ETag. None of them goes upstream: a digest of
// the plaintext would fingerprint the file.
type digests struct {
	md5    hash.Hash
	claims []claim
}

type claim struct {
	header string // canonical header name
	h      hash.Hash
	value  string // base64, empty until the trailer came
}

var checksums = map[string]func() hash.Hash{
	"X-Amz-Checksum-Crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"X-Amz-Checksum-Crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"X-Amz-Checksum-Crc64nvme": func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) },
	"X-Amz-Checksum-Sha1":      sha1.New,
	"X-Amz-Checksum-Sha256":    sha256.New,
}

// newDigests reads the client's claims from h: Content-MD5,
// x-amz-checksum-* headers, and the checksum x-amz-trailer announces.
func newDigests(h http.Header) (*digests, error) {
	d := &digests{md5: md5.New()}
	if v := h.Get("Content-Md5"); v != "" {
		if b, err := base64.StdEncoding.DecodeString(v); err != nil || len(b) != md5.Size {
			return nil, ErrInvalidDigest
		}
		d.claims = append(d.claims, claim{header: "Content-Md5", value: v})
	}
	for name, mk := range checksums {
		if v := h.Get(name); v != "" {
			d.claims = append(d.claims, claim{header: name, h: mk(), value: v})
		}
	}
	for _, t := range strings.Split(h.Get("X-Amz-Trailer"), ",") {
		name := http.CanonicalHeaderKey(strings.TrimSpace(t))
		if name == "" {
			continue
		}
		mk, ok := checksums[name]
		if !ok {
			return nil, InvalidRequest("unsupported trailer " + name)
		}
		d.claims = append(d.claims, claim{header: name, h: mk()})
	}
	return d, nil
}

func (d *digests) Write(p []byte) (int, error) {
	d.md5.Write(p)
	for _, c := range d.claims {
		if c.h != nil {
			c.h.Write(p)
		}
	}
	return len(p), nil
}

// check compares the claims with what was written; trailers are the
// body's trailing headers, if it had any.
func (d *digests) check(trailers http.Header) error {
	sum := d.md5.Sum(nil)
	for i := range d.claims {
		c := &d.claims[i]
		if c.value == "" && trailers != nil {
			c.value = trailers.Get(c.header)
		}
		if c.value == "" {
			return InvalidRequest("the body ended without the trailer " + c.header + " that x-amz-trailer announced")
		}
		got := sum
		if c.h != nil {
			got = c.h.Sum(nil)
		}
		if base64.StdEncoding.EncodeToString(got) != c.value {
			return ErrBadDigest
		}
	}
	return nil
}

// etag is the hex MD5 of the plaintext, S3's ETag of a single-part object.
func (d *digests) etag() string { return hex.EncodeToString(d.md5.Sum(nil)) }

// echo sets on h the checksums the client sent, which it may look for in
// the answer.
func (d *digests) echo(h http.Header) {
	for _, c := range d.claims {
		if c.h != nil && c.value != "" {
			h.Set(c.header, c.value)
		}
	}
}

// checkedReader passes the plaintext through d and, at its end, checks the
// claims: a body that breaks a promise ends in an error, never in io.EOF,
// so what encrypts it never finishes the object.
type checkedReader struct {
	r        io.Reader
	d        *digests
	trailers func() http.Header
	err      error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.d.Write(p[:n])
	if err == io.EOF {
		if cerr := c.d.check(c.trailers()); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		c.err = err
	}
	return n, err
}
