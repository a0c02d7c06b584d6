package pseudonym

import (
	"bytes"
	"context"
	"errors"
	"io"
	"unicode/utf8"
)

const (
	chunkSize   = 64 << 10 // read size of the streaming transformers
	contextSize = 256      // bytes of the previous chunk kept as detector context
)

// transformText streams plain text from r to w. The input is cut at line
// ends (or, in a very long line, at white space) so that no identifier is
// split, and the tail of the previous chunk is handed to the detectors as
// context ("Med vänliga hälsningar" before a signature). Memory is bounded by
// a few chunk buffers.
func (s *session) transformText(ctx context.Context, r io.Reader, w io.Writer) error {
	if len(s.textBuf) != contextSize+2*chunkSize {
		s.textBuf = make([]byte, contextSize+2*chunkSize)
	}
	buf := s.textBuf
	out := s.textOut[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, chunkSize+chunkSize/4)
	}
	defer func() { s.textOut = out[:0] }()
	ctxLen, n := 0, 0 // buf[:ctxLen] is context, buf[ctxLen:ctxLen+n] pending input
	var pos int64     // input offset of buf[0]
	eof := false
	for {
		if !eof {
			m, err := io.ReadFull(r, buf[ctxLen+n:ctxLen+n+chunkSize])
			n += m
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				eof = true
			} else if err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		data := buf[:ctxLen+n]
		cut := len(data)
		if !eof {
			cut = safeCut(data, ctxLen)
		}
		s.base = pos
		out = s.rewrite(out[:0], data[:cut], ctxLen)
		if err := s.flush(ctx); err != nil {
			return err
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		if eof {
			return nil
		}
		// Keep the end of what was processed as context, then the rest.
		cs := cut - contextSize
		if cs < 0 {
			cs = 0
		}
		if k := bytes.IndexAny(data[cs:cut], " \n\t"); k >= 0 && cs > 0 {
			cs += k + 1
		}
		rest := len(data) - cut
		pos += int64(cs)
		copy(buf, data[cs:])
		ctxLen = cut - cs
		n = rest
	}
}

// safeCut returns where data (past from) may be cut without splitting an
// identifier: after the last line end, else after the last white space, else
// at a UTF-8 boundary.
func safeCut(data []byte, from int) int {
	if k := bytes.LastIndexByte(data[from:], '\n'); k >= 0 {
		return from + k + 1
	}
	if k := bytes.LastIndexAny(data[from:], " \t\r"); k >= 0 {
		return from + k + 1
	}
	// One enormous word: no personnummer or name fits in it anyway.
	c := len(data)
	for c > from && !utf8.RuneStart(data[c-1]) {
		c--
	}
	if c > from {
		c--
	}
	if c <= from {
		return len(data)
	}
	return c
}
