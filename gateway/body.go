package gateway

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/sluss/sluss/pseudonym"
)

// Decoding plumbing shared by the transformers: Content-Encoding (gzip,
// deflate, br, stacked) under an expansion bound, and the
// Content-Transfer-Encoding of MIME parts. What the gateway pseudonymizes
// or re-identifies is what a server would read after undoing these; a
// coding it cannot undo is refused, never passed.

// maxCodings is the most Content-Encoding layers undone; real clients use
// one.
const maxCodings = 3

// ratioFloor is how much a body may expand before the ratio bound applies:
// small bodies of repeated text legitimately compress very well, and the
// first MiB is held in memory anyway (wholeBodyLimit).
const ratioFloor = wholeBodyLimit

// expansion bounds what decoding one body may produce.
type expansion struct {
	maxBytes int64 // decoded bytes in all
	ratio    int64 // decoded bytes per encoded byte, past ratioFloor
}

func (l Limits) expansion() expansion {
	l = l.withDefaults()
	return expansion{maxBytes: l.MaxDecodedBytes, ratio: int64(l.MaxDecodeRatio)}
}

// contentCodings returns the codings of a Content-Encoding header in the
// order they were applied, without identity. It refuses a coding the
// gateway cannot undo, and more than maxCodings.
func contentCodings(h http.Header, what string) ([]string, error) {
	var codings []string
	for _, v := range h.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			switch c = strings.ToLower(strings.TrimSpace(c)); c {
			case "", "identity":
			case "gzip", "x-gzip", "deflate", "br":
				codings = append(codings, c)
			default:
				// Not quoted: the value is the client's.
				return nil, refuse(http.StatusUnsupportedMediaType, what+" has a Content-Encoding the gateway cannot decode (it decodes gzip, deflate and br), so nothing was sent", nil)
			}
		}
	}
	if len(codings) > maxCodings {
		return nil, refuse(http.StatusUnsupportedMediaType, fmt.Sprintf("%s has more than %d Content-Encoding layers, so nothing was sent", what, maxCodings), nil)
	}
	return codings, nil
}

// decodeContent undoes codings (as contentCodings lists them) over body.
// Reading the result fails with a refusal once it expands beyond lim (413
// for a request), so no body is ever expanded into memory whole, and with
// corruptStatus when a coding is corrupt: 400 for requests, 502 for
// responses (which a bound then also refuses with).
func decodeContent(body io.ReadCloser, codings []string, lim expansion, what string, corruptStatus int) (io.ReadCloser, error) {
	if len(codings) == 0 {
		return body, nil
	}
	in := &countingReader{r: body}
	var r io.Reader = in
	var closers []io.Closer
	for i := len(codings) - 1; i >= 0; i-- {
		corrupt := func(err error) error {
			return refuse(corruptStatus, what+" is not validly "+codings[i]+"-encoded", err)
		}
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(r)
			if err != nil {
				return nil, corrupt(err)
			}
			r = zr
			closers = append(closers, zr)
		case "deflate":
			// RFC 9110 means zlib; some clients send raw deflate.
			br := bufio.NewReader(r)
			head, _ := br.Peek(2)
			if len(head) == 2 && head[0]&0x0f == 8 && head[0]>>4 <= 7 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
				zr, err := zlib.NewReader(br)
				if err != nil {
					return nil, corrupt(err)
				}
				r = zr
				closers = append(closers, zr)
			} else {
				fr := flate.NewReader(br)
				r = fr
				closers = append(closers, fr)
			}
		case "br":
			r = brotli.NewReader(r)
		}
		r = &decodeErrors{r: r, err: corrupt}
	}
	tooLarge := http.StatusRequestEntityTooLarge
	if corruptStatus >= 500 {
		tooLarge = corruptStatus // a response: the provider's fault
	}
	return &boundedBody{r: r, in: in, lim: lim, what: what, tooLarge: tooLarge, src: body, closers: closers}, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decodeErrors turns a decoder's errors into refusals (never quoting
// data): a corrupt stream is the client's fault, not a key failure.
type decodeErrors struct {
	r   io.Reader
	err func(error) error
}

func (d *decodeErrors) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		var re *RefusedError
		if !errors.As(err, &re) {
			err = d.err(err)
		}
	}
	return n, err
}

// boundedBody is a decoded body that fails once it expands past its
// limits.
type boundedBody struct {
	r        io.Reader
	in       *countingReader
	n        int64
	lim      expansion
	what     string
	tooLarge int // status
	src      io.Closer
	closers  []io.Closer
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.lim.maxBytes > 0 && b.n > b.lim.maxBytes {
		return 0, refuse(b.tooLarge, fmt.Sprintf("%s decodes to more than %d bytes (max_decoded_bytes), so it was refused", b.what, b.lim.maxBytes), nil)
	}
	if b.lim.ratio > 0 && b.n > ratioFloor && b.n > b.lim.ratio*b.in.n {
		return 0, refuse(b.tooLarge, fmt.Sprintf("%s expands more than %d times when decoded (max_decode_ratio), so it was refused", b.what, b.lim.ratio), nil)
	}
	return n, err
}

func (b *boundedBody) Close() error {
	for _, c := range b.closers {
		c.Close()
	}
	return b.src.Close()
}

// Content-Transfer-Encoding (RFC 2045) of a MIME part, or of a request
// body that declares one.
const (
	cteIdentity = ""
	cteBase64   = "base64"
	cteQP       = "quoted-printable"
)

// transferEncoding returns the normalised Content-Transfer-Encoding of a
// header value: identity for none, 7bit, 8bit and binary. Any other is
// refused: the gateway would not read what the server reads.
func transferEncoding(v, what string) (string, error) {
	switch v = strings.ToLower(strings.TrimSpace(v)); v {
	case "", "7bit", "8bit", "binary":
		return cteIdentity, nil
	case cteBase64, cteQP:
		return v, nil
	}
	return "", refuse(http.StatusUnsupportedMediaType, what+" has a Content-Transfer-Encoding the gateway cannot decode (it decodes base64 and quoted-printable), so nothing was sent", nil)
}

// transferDecoder reads r decoded from cte.
func transferDecoder(cte string, r io.Reader, what string) io.Reader {
	switch cte {
	case cteBase64:
		// The decoder skips line ends itself.
		return &decodeErrors{r: base64.NewDecoder(base64.StdEncoding, r), err: func(err error) error {
			return refuse(http.StatusBadRequest, what+" is not valid base64, so nothing was sent", err)
		}}
	case cteQP:
		return &decodeErrors{r: quotedprintable.NewReader(r), err: func(err error) error {
			return refuse(http.StatusBadRequest, what+" is not valid quoted-printable, so nothing was sent", err)
		}}
	}
	return r
}

// transferEncoder writes to w encoded in cte; Close flushes it (and does
// not close w).
func transferEncoder(cte string, w io.Writer) io.WriteCloser {
	switch cte {
	case cteBase64:
		return base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: w, width: 76})
	case cteQP:
		return quotedprintable.NewWriter(w)
	}
	return nopWriteCloser{w}
}

// inTransferEncoding returns t working on text in cte: decoded before,
// encoded back after.
func inTransferEncoding(cte, what string, t bodyTransform) bodyTransform {
	if cte == cteIdentity {
		return t
	}
	return func(r io.Reader, w io.Writer) (pseudonym.Counts, error) {
		ew := transferEncoder(cte, w)
		c, err := t(transferDecoder(cte, r, what), ew)
		if err == nil {
			err = ew.Close()
		}
		return c, err
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// lineWrapper breaks what it writes into lines of width bytes, as MIME
// wants base64 (RFC 2045 §6.8: at most 76 characters).
type lineWrapper struct {
	w     io.Writer
	width int
	col   int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if l.col == l.width {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
		k := min(len(p), l.width-l.col)
		m, err := l.w.Write(p[:k])
		n += m
		l.col += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}
