package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/url"
	"strings"
)

// percentDecode decodes %XX (and '+' as space when plus is set) into dec,
// recording for each decoded byte its raw offset. It returns false on a bad
// escape.
func percentDecode(dec []byte, offs []int, raw []byte, plus bool) ([]byte, []int, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return dec, offs, false
			}
			offs = append(offs, i)
			dec = append(dec, unhex(raw[i+1])<<4|unhex(raw[i+2]))
			i += 3
		case c == '+' && plus:
			offs = append(offs, i)
			dec = append(dec, ' ')
			i++
		default:
			offs = append(offs, i)
			dec = append(dec, c)
			i++
		}
	}
	offs = append(offs, len(raw))
	return dec, offs, true
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// transformForm rewrites an application/x-www-form-urlencoded body pair by
// pair: values of configured name fields whole, other values through the
// detectors, keys through the personnummer detector. Separators and the
// encoding of untouched bytes are kept; tokens need no encoding.
func (s *session) transformForm(ctx context.Context, r io.Reader, w io.Writer) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, chunkSize)
	}
	var pair, out, dec []byte
	var offs []int
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk, err := br.ReadSlice('&')
		pair = append(pair, chunk...)
		if err == bufio.ErrBufferFull {
			if len(pair) > maxStringSize {
				return &SyntaxError{Format: FormatForm, Line: 1, Offset: off, Msg: "field too long"}
			}
			continue
		}
		if err != nil && err != io.EOF {
			return err
		}
		last := err == io.EOF
		body := pair
		sep := []byte(nil)
		if n := len(body); n > 0 && body[n-1] == '&' {
			body, sep = body[:n-1], body[n-1:]
		}
		out, dec, offs, err = s.rewritePair(out[:0], dec, offs, body, off)
		if err != nil {
			return err
		}
		out = append(out, sep...)
		if _, err := w.Write(out); err != nil {
			return err
		}
		off += int64(len(pair))
		pair = pair[:0]
		if last {
			return nil
		}
	}
}

func (s *session) rewritePair(dst, dec []byte, offs []int, pair []byte, off int64) ([]byte, []byte, []int, error) {
	eq := bytes.IndexByte(pair, '=')
	key, val := pair, []byte(nil)
	if eq >= 0 {
		key, val = pair[:eq], pair[eq+1:]
	}
	kdec, koffs, ok := percentDecode(dec[:0], offs[:0], key, true)
	if !ok {
		return dst, dec, offs, &SyntaxError{Format: FormatForm, Line: 1, Offset: off, Msg: "invalid percent-encoding in key"}
	}
	k := bytes.TrimSpace(kdec)
	whole := s.p.isNameField(k)
	isThing := !whole && s.p.detectNames && thingKey(k)
	// Keys get personnummer replaced, as JSON keys do ("19121212-1212=x"
	// is as much personal data as its value would be); names are left,
	// since field names are capitalised words as often as names are.
	s.pnrOnly = true
	s.base = off
	dst = s.rewriteMapped(dst, key, kdec, koffs, false)
	s.pnrOnly = false
	if eq < 0 {
		return dst, kdec, offs, nil
	}
	dst = append(dst, '=')
	// Trailing line ends (a body saved to a file) are not part of the value.
	vdec, voffs, ok := percentDecode(kdec[:0], offs[:0], val, true)
	if !ok {
		return dst, vdec, voffs, &SyntaxError{Format: FormatForm, Line: 1, Offset: off + int64(eq) + 1, Msg: "invalid percent-encoding in value"}
	}
	s.base = off + int64(eq) + 1
	// husdjur=katt+(Måns), bandnamn=Nova+Supreme: a thing's name, read for
	// personnummer only (see thingFields).
	s.pnrOnly = isThing && s.names.thingCell(vdec)
	dst = s.rewriteMapped(dst, val, vdec, voffs, whole)
	s.pnrOnly = false
	return dst, vdec, voffs, nil
}

// PseudonymizePath pseudonymizes the segments of a URL path (escaped form,
// as in URL.EscapedPath or RawPath). Slashes and the escaping of untouched
// bytes are kept. In each segment '_', '-' between letters, escaped spaces
// and the dot of the extension separate words, as in a file name
// (/arkiv/astrid-lindqvist.txt, /arkiv/ansokan%20mirjam%20lindholm.docx).
func (p *Pseudonymizer) PseudonymizePath(ctx context.Context, escapedPath string) (string, Counts, error) {
	s, err := p.newSession()
	if err != nil {
		return "", Counts{}, err
	}
	var out, dec []byte
	var offs []int
	for i, seg := range strings.Split(escapedPath, "/") {
		if i > 0 {
			out = append(out, '/')
		}
		var ok bool
		dec, offs, ok = percentDecode(dec[:0], offs[:0], []byte(seg), false)
		if !ok {
			return "", Counts{}, &SyntaxError{Format: "path", Line: 1, Offset: int64(len(out)), Msg: "invalid percent-encoding"}
		}
		fileNameView(dec) // karin_johansson.pdf, astrid-lindqvist.txt
		out = s.rewriteMapped(out, []byte(seg), dec, offs, false)
	}
	if err := s.flush(ctx); err != nil {
		return "", Counts{}, err
	}
	return string(out), s.counts, nil
}

// PseudonymizeRawQuery pseudonymizes an encoded query string like a form
// body: values of configured name fields whole, other values through the
// detectors.
func (p *Pseudonymizer) PseudonymizeRawQuery(ctx context.Context, rawQuery string) (string, Counts, error) {
	s, err := p.newSession()
	if err != nil {
		return "", Counts{}, err
	}
	var buf bytes.Buffer
	if err := s.transformForm(ctx, strings.NewReader(rawQuery), &buf); err != nil {
		return "", Counts{}, err
	}
	if err := s.flush(ctx); err != nil {
		return "", Counts{}, err
	}
	return buf.String(), s.counts, nil
}

// PseudonymizeQuery pseudonymizes decoded query values (keys stay).
func (p *Pseudonymizer) PseudonymizeQuery(ctx context.Context, q url.Values) (url.Values, Counts, error) {
	s, err := p.newSession()
	if err != nil {
		return nil, Counts{}, err
	}
	out := make(url.Values, len(q))
	var buf []byte
	for k, vs := range q {
		whole := p.isNameField([]byte(strings.TrimSpace(k)))
		nv := make([]string, len(vs))
		for i, v := range vs {
			buf = s.rewriteMapped(buf[:0], []byte(v), []byte(v), nil, whole)
			nv[i] = string(buf)
		}
		out[k] = nv
	}
	if err := s.flush(ctx); err != nil {
		return nil, Counts{}, err
	}
	return out, s.counts, nil
}

// PseudonymizeFilename pseudonymizes a file name (no directories): '_',
// '-' between letters and the dot of the extension separate words as
// spaces do, so "Anna_Andersson_19121212-1212.pdf" becomes
// "<token>_<token>_<token>.pdf" and "astrid-lindqvist.txt"
// "<token>-<token>.txt"; the extension stays.
func (p *Pseudonymizer) PseudonymizeFilename(ctx context.Context, name string) (string, Counts, error) {
	s, err := p.newSession()
	if err != nil {
		return "", Counts{}, err
	}
	raw := []byte(name)
	dec := bytes.ReplaceAll(raw, []byte{'_'}, []byte{' '}) // same length
	// Existing tokens keep their underscores: mask them so that they are
	// not re-read as words.
	for i := 0; i < len(raw); i++ {
		if _, _, end, ok := parseToken(raw, i); ok {
			for k := i; k < end; k++ {
				dec[k] = 'x'
			}
			i = end - 1
		}
	}
	fileNameView(dec) // astrid-lindqvist.txt, the dot of the extension
	out := s.rewriteMapped(nil, raw, dec, nil, false)
	if err := s.flush(ctx); err != nil {
		return "", Counts{}, err
	}
	return string(out), s.counts, nil
}
