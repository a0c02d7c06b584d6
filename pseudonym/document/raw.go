package document

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// rawReader hands an xml.Decoder its input a byte at a time and keeps
// every byte since the rewriter last wrote, so that the output copies
// the input as it came, byte for byte, except where it is edited.
type rawReader struct {
	r    io.Reader
	buf  []byte // buf[i] is input byte base+i
	base int64
	pos  int   // the next byte to hand out, in buf
	keep int64 // bytes before this offset are no longer needed
	max  int   // most bytes held at once
	err  error
}

// errUnitTooLarge is what fill returns when a unit outgrows the buffer.
var errUnitTooLarge = errors.New("unit too large")

func (r *rawReader) ReadByte() (byte, error) {
	if r.pos >= len(r.buf) {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	c := r.buf[r.pos]
	r.pos++
	return c, nil
}

// Read is there to make rawReader an io.Reader; the decoder uses ReadByte.
func (r *rawReader) Read(p []byte) (int, error) {
	if r.pos >= len(r.buf) {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.pos:])
	r.pos += n
	return n, nil
}

func (r *rawReader) fill() error {
	if d := int(r.keep - r.base); d > 0 {
		n := copy(r.buf, r.buf[d:])
		r.buf = r.buf[:n]
		r.base += int64(d)
		r.pos -= d
	}
	for tries := 0; ; tries++ {
		if r.err != nil {
			return r.err
		}
		if len(r.buf) == cap(r.buf) {
			if len(r.buf) >= r.max {
				return errUnitTooLarge
			}
			nb := make([]byte, len(r.buf), min(max(2*cap(r.buf), 4<<10), r.max))
			copy(nb, r.buf)
			r.buf = nb
		}
		n, err := r.r.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+n]
		if err != nil {
			r.err = err
		}
		if n > 0 {
			return nil
		}
		if tries > 100 {
			r.err = io.ErrNoProgress
		}
	}
}

// bytes returns input [a, b), which must still be held.
func (r *rawReader) bytes(a, b int64) []byte { return r.buf[a-r.base : b-r.base] }

// decodeRaw decodes the raw text of a character data token or an
// attribute value as encoding/xml does (entities, CDATA, line ends), and
// records in offs the raw offset at which each decoded byte starts, with
// offs[len(text)] = len(raw). ok is false for anything it does not
// understand, and the caller then rewrites the whole value.
func decodeRaw(dst []byte, offs []int, raw []byte) ([]byte, []int, bool) {
	dst, offs = dst[:0], offs[:0]
	i, end := 0, len(raw)
	if bytes.HasPrefix(raw, []byte("<![CDATA[")) {
		if !bytes.HasSuffix(raw, []byte("]]>")) {
			return dst, offs, false
		}
		i, end = 9, len(raw)-3
		for ; i < end; i++ {
			c := raw[i]
			if c == '\r' {
				dst, offs = append(dst, '\n'), append(offs, i)
				if i+1 < end && raw[i+1] == '\n' {
					i++
				}
				continue
			}
			dst, offs = append(dst, c), append(offs, i)
		}
		return dst, append(offs, len(raw)), true
	}
	for i < end {
		c := raw[i]
		switch c {
		case '&':
			semi := bytes.IndexByte(raw[i:min(end, i+12)], ';')
			if semi < 2 {
				return dst, offs, false
			}
			name := raw[i+1 : i+semi]
			var r rune
			switch string(name) {
			case "lt":
				r = '<'
			case "gt":
				r = '>'
			case "amp":
				r = '&'
			case "apos":
				r = '\''
			case "quot":
				r = '"'
			default:
				if name[0] != '#' || len(name) < 2 {
					return dst, offs, false
				}
				base, digits := 10, name[1:]
				if digits[0] == 'x' {
					base, digits = 16, digits[1:]
				}
				if len(digits) == 0 {
					return dst, offs, false
				}
				for _, d := range digits {
					v := hexVal(d)
					if v < 0 || v >= base {
						return dst, offs, false
					}
					r = r*rune(base) + rune(v)
					if r > utf8.MaxRune {
						return dst, offs, false
					}
				}
			}
			n := len(dst)
			dst = utf8.AppendRune(dst, r)
			for range len(dst) - n {
				offs = append(offs, i)
			}
			i += semi + 1
		case '\r':
			dst, offs = append(dst, '\n'), append(offs, i)
			i++
			if i < end && raw[i] == '\n' {
				i++
			}
		default:
			dst, offs = append(dst, c), append(offs, i)
			i++
		}
	}
	return dst, append(offs, len(raw)), true
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// appendEscaped appends s escaped for character data, or for an
// attribute value in quote when quote is not 0.
func appendEscaped(dst, s []byte, quote byte) []byte {
	for _, c := range s {
		switch {
		case c == '&':
			dst = append(dst, "&amp;"...)
		case c == '<':
			dst = append(dst, "&lt;"...)
		case c == '>':
			dst = append(dst, "&gt;"...)
		case c == '\r':
			dst = append(dst, "&#13;"...)
		case quote != 0 && c == '"':
			dst = append(dst, "&quot;"...)
		case quote != 0 && c == '\'':
			dst = append(dst, "&apos;"...)
		case quote != 0 && c == '\n':
			dst = append(dst, "&#10;"...)
		case quote != 0 && c == '\t':
			dst = append(dst, "&#9;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// rawAttr is where an attribute's value sits in a start tag: [start, end)
// inside the quotes.
type rawAttr struct {
	start, end int
	quote      byte
}

// scanAttrs finds the attribute values of a start tag as written, in
// order. ok is false when the tag is not the well-formed start tag the
// decoder read.
func scanAttrs(dst []rawAttr, tag []byte) ([]rawAttr, bool) {
	dst = dst[:0]
	if len(tag) < 2 || tag[0] != '<' {
		return dst, false
	}
	i := 1
	for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' {
		i++
	}
	for {
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) {
			return dst, false
		}
		if tag[i] == '/' || tag[i] == '>' {
			return dst, true
		}
		for i < len(tag) && tag[i] != '=' && !isXMLSpace(tag[i]) {
			i++
		}
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			return dst, false
		}
		i++
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || (tag[i] != '"' && tag[i] != '\'') {
			return dst, false
		}
		q := tag[i]
		k := bytes.IndexByte(tag[i+1:], q)
		if k < 0 {
			return dst, false
		}
		dst = append(dst, rawAttr{start: i + 1, end: i + 1 + k, quote: q})
		i += k + 2
	}
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
