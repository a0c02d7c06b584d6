package tus

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"strings"
)

// newChecksum reads an Upload-Checksum ("sha1 base64digest") and returns
// the body reader that hashes what passes and the check the engine calls
// once the body has been read whole.
func newChecksum(v string, r io.Reader) (io.Reader, func() error, error) {
	alg, digest, ok := strings.Cut(strings.TrimSpace(v), " ")
	var h hash.Hash
	switch strings.ToLower(alg) {
	case "sha1":
		h = sha1.New()
	case "md5":
		h = md5.New()
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return nil, nil, badRequest("Upload-Checksum names an algorithm the gateway does not check (it checks " + checksumAlgorithms + ")")
	}
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(digest))
	if !ok || err != nil || len(want) != h.Size() {
		return nil, nil, badRequest("Upload-Checksum is malformed (algorithm, a space, the base64 digest)")
	}
	check := func() error {
		if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
			return errChecksum
		}
		return nil
	}
	return io.TeeReader(r, h), check, nil
}

var errChecksum = errors.New("the body does not match its Upload-Checksum")
