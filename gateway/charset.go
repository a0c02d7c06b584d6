package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/sluss/sluss/pseudonym"
)

// The detectors read UTF-8. Text in another charset is decoded to UTF-8,
// pseudonymized, and encoded back in the charset it came in, so the
// provider gets the bytes the client would have sent with tokens in place
// of identifiers. Only charsets whose round trip is exact are read; any
// other is refused: text the gateway cannot read must not pass as it came.

// A bodyTransform rewrites a body from r to w.
type bodyTransform func(r io.Reader, w io.Writer) (pseudonym.Counts, error)

// sniffLen is how much of undeclared text is looked at to tell UTF-8 from
// a legacy charset, when the gateway does not already hold more of it
// (multipart parts); a later invalid sequence refuses the text.
const sniffLen = 4 << 10

// charsetKind is how a charset label is read.
type charsetKind int

const (
	charsetUTF8    charsetKind = iota // UTF-8 or US-ASCII: read as sent
	charsetNone                       // no label: UTF-8, or UTF-16 with a BOM, or windows-1252
	charsetUTF16                      // "utf-16": the BOM decides, big-endian without one
	charsetFixed                      // one encoding, no sniffing
	charsetUnknown                    // not read
)

// lookupCharset classifies a charset parameter value.
func lookupCharset(label string) (charsetKind, encoding.Encoding) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "":
		return charsetNone, nil
	case "utf-8", "utf8", "us-ascii", "ascii", "unicode-1-1-utf-8":
		return charsetUTF8, nil
	case "utf-16":
		return charsetUTF16, nil
	case "utf-16le":
		return charsetFixed, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case "utf-16be":
		return charsetFixed, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	// Latin-1 labels are read as windows-1252, as browsers do (WHATWG
	// Encoding): the bytes 0x80–0x9f then hold the letters Š, Ž, Œ, Ÿ
	// a server may read, not control characters the detectors skip.
	// Every byte maps to a rune and back, so the round trip is exact.
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1", "latin-1", "l1",
		"cp819", "ibm819", "csisolatin1", "iso-ir-100",
		"windows-1252", "cp1252", "x-cp1252":
		return charsetFixed, windows1252
	case "iso-8859-15", "iso8859-15", "iso_8859-15", "latin-9", "latin9", "l9", "csisolatin9":
		return charsetFixed, iso8859_15
	}
	return charsetUnknown, nil
}

// errCharset refuses text in a charset the gateway does not read.
func errCharset(what string) *RefusedError {
	return refuse(http.StatusUnsupportedMediaType, what+" is in a charset the gateway cannot read to pseudonymize it (it reads UTF-8, UTF-16, ISO-8859-1, ISO-8859-15 and windows-1252), so nothing was sent", nil)
}

// inCharset returns transform working on text in the charset label (a
// Content-Type charset parameter, possibly empty): the input decoded to
// UTF-8 before, the output encoded back after. Text without a label is
// UTF-8, unless it starts with a UTF-16 byte order mark or is not valid
// UTF-8, in which case it is read as windows-1252 (what browsers assume
// of undeclared legacy text, and what spreadsheet exports write). what
// names the text in refusals.
func inCharset(label, what string, t bodyTransform) (bodyTransform, error) {
	kind, enc := lookupCharset(label)
	switch kind {
	case charsetUTF8:
		return t, nil
	case charsetUnknown:
		return nil, errCharset(what)
	case charsetFixed:
		return func(r io.Reader, w io.Writer) (pseudonym.Counts, error) { return transcoded(enc, r, w, t) }, nil
	}
	return func(r io.Reader, w io.Writer) (pseudonym.Counts, error) {
		head, complete := bufferedHead(r)
		if head == nil {
			br := bufio.NewReaderSize(r, sniffLen)
			var err error
			head, err = br.Peek(sniffLen)
			if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
				return pseudonym.Counts{}, err
			}
			r, complete = br, len(head) < sniffLen
		}
		enc, err := sniffCharset(kind, head, complete)
		if err != nil {
			if re := (*RefusedError)(nil); errors.As(err, &re) {
				re.Reason = what + re.Reason
			}
			return pseudonym.Counts{}, err
		}
		switch {
		case enc != nil:
			return transcoded(enc, r, w, t)
		case complete:
			return t(r, w) // all of it is valid UTF-8
		}
		return t(&utf8Validator{r: r, what: what}, w)
	}, nil
}

// bufferedHead returns the start of a body the gateway already holds in
// memory (transformBody reads the first wholeBodyLimit bytes before
// anything else), without reading it; complete says it is all of it.
// Other readers give nil.
func bufferedHead(r io.Reader) (head []byte, complete bool) {
	switch b := r.(type) {
	case *bytes.Buffer:
		return b.Bytes(), true
	case *headedBody:
		return b.head.Bytes(), false
	}
	return nil, false
}

// headedBody is a body whose first bytes are held in head.
type headedBody struct {
	head *bytes.Buffer
	rest io.Reader
}

func (h *headedBody) Read(p []byte) (int, error) {
	if h.head.Len() > 0 {
		return h.head.Read(p)
	}
	return h.rest.Read(p)
}

// sniffCharset picks the encoding of text with no charset (charsetNone)
// or labelled "utf-16", from its head; nil is UTF-8. complete says the
// head is the whole text.
func sniffCharset(kind charsetKind, head []byte, complete bool) (encoding.Encoding, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xfe, 0, 0}), bytes.HasPrefix(head, []byte{0, 0, 0xfe, 0xff}):
		return nil, refuse(http.StatusUnsupportedMediaType, " starts with a UTF-32 byte order mark; the gateway cannot read UTF-32 to pseudonymize it, so nothing was sent", nil)
	case bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM), nil
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}):
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), nil
	case kind == charsetUTF16:
		// RFC 2781: big-endian without a BOM, and none is added.
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), nil
	}
	if !complete {
		head = trimPartialRune(head)
	}
	if utf8.Valid(head) {
		return nil, nil
	}
	return windows1252, nil
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < utf8.RuneSelf {
			return b
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// transcoded runs t over r decoded from enc, and encodes its output to w
// in enc.
func transcoded(enc encoding.Encoding, r io.Reader, w io.Writer, t bodyTransform) (pseudonym.Counts, error) {
	ew := transform.NewWriter(w, enc.NewEncoder())
	c, err := t(transform.NewReader(r, enc.NewDecoder()), ew)
	if err != nil {
		return c, err
	}
	if err := ew.Close(); err != nil {
		return c, refuse(http.StatusBadRequest, "the pseudonymized text could not be written back in its charset, so nothing was sent", err)
	}
	return c, nil
}

// utf8Validator passes UTF-8 on and fails on the first invalid sequence:
// text that declared no charset and began as UTF-8 must not turn out to
// be something else the detectors cannot read.
type utf8Validator struct {
	r       io.Reader
	what    string
	pending []byte // an incomplete sequence at the end of the last read
}

func (v *utf8Validator) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	b := p[:n]
	if len(v.pending) > 0 {
		i := 0
		for ; i < len(b) && !utf8.FullRune(v.pending); i++ {
			v.pending = append(v.pending, b[i])
		}
		if utf8.FullRune(v.pending) {
			if !utf8.Valid(v.pending) {
				return 0, v.invalid()
			}
			v.pending = v.pending[:0]
		}
		b = b[i:]
	}
	check := b
	if err == nil {
		check = trimPartialRune(b)
	}
	if !utf8.Valid(check) {
		return 0, v.invalid()
	}
	v.pending = append(v.pending, b[len(check):]...)
	if err == io.EOF && len(v.pending) > 0 {
		return n, v.invalid()
	}
	return n, err
}

func (v *utf8Validator) invalid() error {
	return refuse(http.StatusUnsupportedMediaType, v.what+" declares no charset and is not valid UTF-8 throughout, so it was not sent on", nil)
}

// reidentifyCharset returns the encoding a response body must be decoded
// from to find its tokens, nil for UTF-8 and ASCII-compatible text left as
// it is. ok is false for a charset the gateway does not read: the body
// then passes with its tokens.
func reidentifyCharset(label string, head []byte) (enc encoding.Encoding, ok bool) {
	kind, enc := lookupCharset(label)
	switch kind {
	case charsetUTF8:
		return nil, true
	case charsetUnknown:
		return nil, false
	case charsetFixed:
		return enc, true
	}
	// No label, or "utf-16": only UTF-16 hides tokens from a byte search.
	if kind == charsetNone && !bytes.HasPrefix(head, []byte{0xfe, 0xff}) && !bytes.HasPrefix(head, []byte{0xff, 0xfe}) {
		return nil, true
	}
	enc, err := sniffCharset(charsetUTF16, head, false)
	return enc, err == nil
}

// The single-byte charsets, with every byte mapped to a rune and back:
// bytes the standard leaves undefined (windows-1252's 0x81, 0x8d, 0x8f,
// 0x90 and 0x9d; ISO-8859-15's C1 range, which x/text leaves out) stand
// for the C1 control of the same value, as in ISO-8859-1 and WHATWG's
// windows-1252. Text that came in one of them then goes back byte for
// byte, identifiers aside.
var (
	windows1252 = newExactCharmap(charmap.Windows1252)
	iso8859_15  = newExactCharmap(charmap.ISO8859_15)
)

type exactCharmap struct {
	dec [256]rune
	enc map[rune]byte
}

func newExactCharmap(cm *charmap.Charmap) *exactCharmap {
	c := &exactCharmap{enc: map[rune]byte{}}
	for b := 0; b < 256; b++ {
		r := cm.DecodeByte(byte(b))
		if e, ok := cm.EncodeRune(r); !ok || e != byte(b) {
			r = rune(b)
		}
		c.dec[b] = r
		c.enc[r] = byte(b)
	}
	return c
}

func (c *exactCharmap) NewDecoder() *encoding.Decoder {
	return &encoding.Decoder{Transformer: exactDecoder{c}}
}

func (c *exactCharmap) NewEncoder() *encoding.Encoder {
	return &encoding.Encoder{Transformer: exactEncoder{c}}
}

type exactDecoder struct{ c *exactCharmap }

func (exactDecoder) Reset() {}

func (d exactDecoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for ; nSrc < len(src); nSrc++ {
		r := d.c.dec[src[nSrc]]
		if nDst+utf8.RuneLen(r) > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += utf8.EncodeRune(dst[nDst:], r)
	}
	return nDst, nSrc, nil
}

type exactEncoder struct{ c *exactCharmap }

func (exactEncoder) Reset() {}

// errUnsupportedRune is a rune the charset lacks; its Replacement makes
// encoding.ReplaceUnsupported and HTMLEscapeUnsupported handle it.
type errUnsupportedRune struct{}

func (errUnsupportedRune) Error() string     { return "rune not in the charset" }
func (errUnsupportedRune) Replacement() byte { return 0x1a }

func (e exactEncoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		if nDst >= len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		r, n := rune(src[nSrc]), 1
		if r >= utf8.RuneSelf {
			if !atEOF && !utf8.FullRune(src[nSrc:]) {
				return nDst, nSrc, transform.ErrShortSrc
			}
			r, n = utf8.DecodeRune(src[nSrc:])
		}
		b, ok := e.c.enc[r]
		if !ok || r == utf8.RuneError && n == 1 {
			return nDst, nSrc, errUnsupportedRune{}
		}
		dst[nDst] = b
		nDst++
		nSrc += n
	}
	return nDst, nSrc, nil
}
