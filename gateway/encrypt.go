package gateway

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"filippo.io/age"

	"github.com/sluss/sluss/crypto"
)

// Encrypt is the request transformer that encrypts uploads to the region's
// recipients: a multipart/form-data body has its file parts encrypted (the
// other parts pass, for now), any other body is encrypted whole. The upload
// streams; Content-Length is recomputed exactly when the client sent one,
// and the request goes chunked otherwise.
type Encrypt struct{}

func (Encrypt) TransformRequest(x *Exchange, req *http.Request) error {
	version, recipients, err := x.Keys.EncryptionKeys()
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "the region's encryption key is unavailable, so nothing was sent", err)
	}
	if len(recipients) == 0 {
		return refuse(http.StatusServiceUnavailable, "the region has no encryption recipient, so nothing was sent", nil)
	}
	x.Encrypted(version)
	removePlaintextDigests(req.Header)
	if req.Body == nil {
		req.Body = http.NoBody
	}
	if mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		return encryptMultipart(req, params["boundary"], recipients)
	}
	enc, err := crypto.EncryptReader(req.Body, recipients...)
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "encryption could not start, so nothing was sent", err)
	}
	if req.ContentLength >= 0 {
		n, err := crypto.EncryptedSize(req.ContentLength, recipients...)
		if err != nil {
			return refuse(http.StatusServiceUnavailable, "encryption could not start, so nothing was sent", err)
		}
		req.ContentLength = n
	}
	req.Body = readCloser{fullReader{enc}, req.Body}
	return nil
}

// fullReader fills each buffer it is given, short only at the end of the
// stream or on an error (returned with the bytes read before it).
// net/http copies a streamed body upstream in 32 KiB reads, each written
// as TLS records; age hands out a 64 KiB chunk and then its 16-byte tag, so
// without this every chunk cost an extra write and a 16-byte record. It
// holds back at most one buffer, never the stream.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := f.r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// encryptMultipart rewrites a form upload part by part through a pipe,
// encrypting the parts that carry a file name. The first part is parsed
// before anything is sent, so a body that is not the multipart it claims to
// be is refused with nothing upstream; a later malformation aborts the
// upstream request before it completes.
func encryptMultipart(req *http.Request, boundary string, recipients []age.Recipient) error {
	if boundary == "" {
		return refuse(http.StatusBadRequest, "multipart body without a boundary", nil)
	}
	src := req.Body
	mr := multipart.NewReader(src, boundary)
	first, err := mr.NextRawPart()
	if err != nil {
		return refuse(http.StatusBadRequest, "malformed multipart body", err)
	}
	pr, pw := io.Pipe()
	go func() {
		err := guard(func() error {
			mw := multipart.NewWriter(pw)
			err := mw.SetBoundary(boundary)
			for p := first; err == nil; {
				if err = copyPart(mw, p, recipients); err != nil {
					break
				}
				p, err = mr.NextRawPart()
				if err == io.EOF {
					return mw.Close()
				}
			}
			return err
		})
		if err != nil {
			err = fmt.Errorf("malformed multipart body: %w", err)
		}
		pw.CloseWithError(err)
	}()
	req.ContentLength = -1
	req.Header.Del("Content-Length")
	req.Body = pipeBody{pr, src}
	return nil
}

func copyPart(mw *multipart.Writer, p *multipart.Part, recipients []age.Recipient) error {
	w, err := mw.CreatePart(p.Header)
	if err != nil {
		return err
	}
	if p.FileName() == "" {
		_, err = io.Copy(w, p)
		return err
	}
	ew, err := crypto.Encrypt(w, recipients...)
	if err != nil {
		return err
	}
	if _, err := io.Copy(ew, p); err != nil {
		return err
	}
	return ew.Close()
}

// pipeBody closes both ends, so the copying goroutine ends when the
// transport gives up on the body.
type pipeBody struct {
	*io.PipeReader
	src io.Closer
}

func (b pipeBody) Close() error {
	b.PipeReader.CloseWithError(errors.New("upstream request ended"))
	return b.src.Close()
}

type readCloser struct {
	io.Reader
	io.Closer
}

// removePlaintextDigests drops headers that describe the plaintext, which
// the provider would otherwise check against the ciphertext (and which
// would leak a fingerprint of the file).
func removePlaintextDigests(h http.Header) {
	for k := range h {
		lk := strings.ToLower(k)
		switch {
		case lk == "content-md5", lk == "digest", lk == "content-digest", lk == "repr-digest",
			lk == "x-goog-hash", lk == "x-amz-content-sha256",
			strings.HasPrefix(lk, "x-amz-checksum-"), strings.HasPrefix(lk, "x-ms-content-"),
			lk == "oc-checksum":
			h.Del(k)
		}
	}
}
