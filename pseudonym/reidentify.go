package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// maxTokenLen bounds a token's text, so a stream cut keeps whole tokens.
const maxTokenLen = 48

// holdBack is what a stream keeps of each chunk for the next: room for a
// whole token, or for a numeric token, the white space after it and the
// punctuation that shows it is a JSON number.
const holdBack = maxTokenLen + numberLookahead

// firstChunkSize is the first read of a re-identified stream.
const firstChunkSize = 4 << 10

// Reidentify replaces every token in r with its original and writes the
// result to w. The format decides how originals are escaped: JSON string
// escaping for FormatJSON, HTML escaping for FormatHTML, percent-encoding
// for FormatForm, none for text and CSV (FormatAuto is text). Tokens not in
// the store are left and counted in Counts.Unknown. Re-identification is a
// privileged operation: callers must check authorisation and audit it.
func (p *Pseudonymizer) Reidentify(ctx context.Context, f Format, r io.Reader, w io.Writer) (_ Counts, err error) {
	s, err := p.newSession()
	if err != nil {
		return Counts{}, err
	}
	defer func() {
		if recover() != nil {
			err = p.internalError("reidentify")
		}
	}()
	// reidentifyStream writes whole chunks, which pass the buffer; it only
	// joins the short ones.
	bw := bufio.NewWriterSize(w, firstChunkSize)
	err = s.reidentifyStream(ctx, f, r, bw)
	if err == nil {
		err = bw.Flush()
	}
	p.log.Debug().Str("action", "reidentify").Str("format", string(f)).
		Int("replaced", s.counts.Reidentified()).
		Int("personnummer", s.counts.ReidentifiedPersonnummer).Int("names", s.counts.ReidentifiedNames).
		Int("unknown", s.counts.Unknown).
		Bool("ok", err == nil).Msg("reidentify")
	return s.counts, err
}

// ReidentifyString re-identifies a short text held in memory.
func (p *Pseudonymizer) ReidentifyString(ctx context.Context, f Format, in string) (string, Counts, error) {
	var out bytes.Buffer
	c, err := p.Reidentify(ctx, f, bytes.NewReader([]byte(in)), &out)
	if err != nil {
		return "", c, err
	}
	return out.String(), c, nil
}

func (s *session) reidentifyStream(ctx context.Context, f Format, r io.Reader, w io.Writer) error {
	// buf[0] is the byte before the pending input, for the token boundary
	// check; a space at stream start. Most bodies are a few hundred bytes:
	// the buffers start at firstChunkSize and grow to chunkSize only when
	// the input fills the first chunk.
	size := firstChunkSize
	buf := make([]byte, 1+size+holdBack)
	buf[0] = ' '
	out := make([]byte, 0, 2*size)
	n := 0
	for eof := false; !eof; {
		m, err := io.ReadFull(r, buf[1+n:1+size])
		n += m
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			eof = true
		} else if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		data := buf[:1+n]
		limit := len(data)
		if !eof {
			limit -= holdBack
		}
		var done int
		out, done, err = s.reidentifyChunk(ctx, out[:0], data, limit, eof, f)
		if err != nil {
			return err
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		s.reLastSig = lastNonSpace(data[1:done], s.reLastSig)
		buf[0] = data[done-1]
		n = copy(buf[1:], data[done:])
		if !eof && size < chunkSize {
			size = chunkSize
			buf = append(buf[:1+n], make([]byte, size+holdBack-n)...)
		}
	}
	return nil
}

// reidentifyChunk appends data[1:] with the tokens that start before limit
// replaced; data[0] is context, and eof says whether data ends the stream.
// It returns how far it consumed.
func (s *session) reidentifyChunk(ctx context.Context, dst, data []byte, limit int, eof bool, f Format) ([]byte, int, error) {
	i := 1
	if limit < i {
		return dst, i, nil
	}
	// Numeric tokens stand as JSON numbers: in JSON, and in text or HTML
	// that carries JSON. CSV and form bodies never hold them.
	numbers := f == FormatJSON || f == FormatText || f == FormatHTML || f == FormatAuto
	json := f == FormatJSON
	// raw copies input bytes; in CSV it follows whether they end inside
	// a quoted field, so that an original put back there is escaped.
	csv := f == FormatCSV
	if csv && s.csvSep == 0 {
		s.csvSep = sniffCommaIn(data[1:]) // the stream's first chunk, as the transformer sniffs it
	}
	raw := func(dst, seg []byte) []byte {
		if csv {
			s.trackCSVQuotes(seg)
		}
		return append(dst, seg...)
	}
	// The next text token and numeric token at or after i, found lazily.
	tokAt, numAt, numEnd := -1, -1, -1
	if !numbers {
		numAt = limit
	}
	for {
		if i >= limit {
			return dst, i, nil
		}
		if tokAt < i {
			tokAt = limit
			if k := bytes.Index(data[i:], []byte(tokenPrefix)); k >= 0 && i+k < limit {
				tokAt = i + k
			}
		}
		if numAt < i {
			numAt, numEnd = s.nextNumberToken(data, i, limit, json, eof)
		}
		if tokAt == limit && numAt == limit {
			dst = raw(dst, data[i:limit])
			return dst, limit, nil
		}
		if numAt < tokAt {
			dst = append(dst, data[i:numAt]...)
			orig, ok, err := s.numberOriginal(ctx, data[numAt:numEnd])
			if err != nil {
				return dst, 0, err
			}
			if ok {
				s.counts.ReidentifiedPersonnummer++
				dst = append(dst, orig...)
			} else {
				dst = append(dst, data[numAt:numEnd]...)
			}
			i = numEnd
			continue
		}
		at := tokAt
		id, layout, end, ok := parseToken(data, at)
		if !ok {
			dst = raw(dst, data[i:at+1])
			i = at + 1
			continue
		}
		dst = raw(dst, data[i:at])
		orig, err := s.original(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			s.counts.Unknown++
			dst = append(dst, data[at:end]...)
		case err != nil:
			return dst, 0, err
		default:
			if id.kind == KindPersonnummer {
				s.counts.ReidentifiedPersonnummer++
				var tmp [16]byte
				dst = appendEscaped(dst, appendPersonnummer(tmp[:0], orig, layout), f)
			} else if csv {
				s.counts.ReidentifiedNames++
				dst = s.appendCSVOriginal(dst, orig, data, at, end)
			} else {
				s.counts.ReidentifiedNames++
				dst = appendEscaped(dst, orig, f)
			}
		}
		i = end
	}
}

// trackCSVQuotes follows seg, bytes of CSV copied as they are, through the
// quoting the transformer reads (csv.go): only a field's first byte opens
// quotes, "" inside them is a quote, and a quote elsewhere is itself.
func (s *session) trackCSVQuotes(seg []byte) {
	for len(seg) > 0 {
		if s.csvQuoted {
			if !s.csvQuote {
				q := bytes.IndexByte(seg, '"')
				if q < 0 {
					return
				}
				s.csvQuote, seg = true, seg[q+1:]
				continue
			}
			s.csvQuote = false
			if seg[0] == '"' {
				seg = seg[1:] // "": a quote inside the field
				continue
			}
			s.csvQuoted = false // the quote before closed the field; seg[0] is read below
		}
		// Outside quotes only the byte before the next quote matters: a
		// separator or a line end there makes the quote an opening one.
		q := bytes.IndexByte(seg, '"')
		run := seg
		if q >= 0 {
			run = seg[:q]
		}
		if len(run) > 0 {
			c := run[len(run)-1]
			s.csvMidField = c != s.csvSep && c != '\n' && c != '\r'
		}
		if q < 0 {
			return
		}
		s.csvQuoted = !s.csvMidField
		s.csvMidField, seg = true, seg[q+1:]
	}
}

// appendCSVOriginal puts a name back into CSV: inside a quoted field its
// quotes are doubled ("Ask Jönsson (kallas ""Acke"")"); a token that is a
// whole unquoted field gets quotes when the name needs them (the
// separator, a quote or a line break in it: "Berg, Anna" in a file
// separated by commas, not by semicolons).
func (s *session) appendCSVOriginal(dst, orig, data []byte, at, end int) []byte {
	if s.csvQuoted && s.csvQuote {
		s.csvQuoted, s.csvQuote = false, false // the quote before closed the field
	}
	quoted, midField := s.csvQuoted, s.csvMidField
	s.csvMidField = true // the name is the field's content
	if quoted {
		return appendCSVQuoted(dst, orig)
	}
	// A quote in an unquoted field is a quote, but not as its first byte.
	if bytes.IndexByte(orig, s.csvSep) < 0 && !bytes.ContainsAny(orig, "\r\n") && (midField || len(orig) == 0 || orig[0] != '"') {
		return append(dst, orig...)
	}
	fieldStart := at == 0 || data[at-1] == s.csvSep || data[at-1] == '\n'
	fieldEnd := end == len(data) || data[end] == s.csvSep || data[end] == '\r' || data[end] == '\n'
	if !fieldStart || !fieldEnd {
		return append(dst, orig...) // part of a field: as it was given
	}
	dst = append(dst, '"')
	dst = appendCSVQuoted(dst, orig)
	return append(dst, '"')
}

// appendCSVQuoted appends v with its quotes doubled, for the inside of a
// quoted CSV field.
func appendCSVQuoted(dst, v []byte) []byte {
	for {
		k := bytes.IndexByte(v, '"')
		if k < 0 {
			return append(dst, v...)
		}
		dst = append(dst, v[:k+1]...)
		dst = append(dst, '"')
		v = v[k+1:]
	}
}

// original looks a token up and checks that its HMAC matches, so that a
// tampered store cannot put someone else's name back.
func (s *session) original(ctx context.Context, id tokenID) ([]byte, error) {
	key := id.storeKey()
	if v, ok := s.reCache[key]; ok {
		return v, nil
	}
	v, err := s.p.store.Get(ctx, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("failed to look up token: %w", err)
	}
	if id.kind == KindPersonnummer && len(v) != 12 {
		return nil, fmt.Errorf("pseudonym: stored personnummer for token %s is malformed", key)
	}
	mk := id.kind.String() + strconv.Itoa(id.version)
	m := s.verify[mk]
	if m == nil {
		k, err := s.p.keys.HMACKey(id.kind.String(), id.version)
		if err != nil {
			return nil, fmt.Errorf("failed to get HMAC key %s version %d: %w", id.kind, id.version, err)
		}
		if m, err = newMacer(id.kind, id.version, k); err != nil {
			return nil, err
		}
		if s.verify == nil {
			s.verify = map[string]*macer{}
		}
		s.verify[mk] = m
	}
	if got := m.id(v); subtle.ConstantTimeCompare(got.body[:], id.body[:]) != 1 {
		return nil, fmt.Errorf("pseudonym: stored original does not match token %s", key)
	}
	if s.reCache == nil || len(s.reCache) >= maxCache {
		s.reCache = map[string][]byte{}
	}
	s.reCache[key] = v
	return v, nil
}

func appendEscaped(dst, v []byte, f Format) []byte {
	switch f {
	case FormatJSON:
		return appendJSONEscaped(dst, v)
	case FormatHTML:
		return append(dst, html.EscapeString(string(v))...)
	case FormatForm:
		return append(dst, url.QueryEscape(string(v))...)
	}
	return append(dst, v...)
}

// appendJSONEscaped escapes v for the inside of a JSON string.
func appendJSONEscaped(dst, v []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, v[i:i+n]...)
		}
		i += n
	}
	return dst
}
