package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
)

// csvRewriter copies CSV (RFC 4180) byte for byte, rewriting field contents:
// columns whose header is a configured name field are replaced whole, other
// fields go through the detectors. Quoting, separators and line ends are
// kept, so rows and columns stay as they were. The header row is copied
// untouched.
type csvRewriter struct {
	s     *session
	r     *bufio.Reader
	w     io.Writer
	comma byte
	line  int
	off   int64
	raw   []byte
	dec   []byte
	offs  []int
	out   []byte
	names []bool // per column: a name field
}

func (s *session) transformCSV(ctx context.Context, r io.Reader, w io.Writer) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, chunkSize)
	}
	c := &csvRewriter{s: s, r: br, w: w, comma: s.p.cfg.CSVComma, line: 1}
	if c.comma == 0 {
		c.comma = sniffComma(br)
	}
	header := true
	for row := 0; ; row++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := c.record(header)
		if err != nil {
			return err
		}
		header = false
		if !more {
			return nil
		}
	}
}

// sniffComma picks ',', ';' or tab by counting them outside quotes in the
// first line.
func sniffComma(br *bufio.Reader) byte {
	head, _ := br.Peek(chunkSize)
	if k := bytes.IndexByte(head, '\n'); k >= 0 {
		head = head[:k]
	}
	counts := map[byte]int{}
	inQ := false
	for _, c := range head {
		switch {
		case c == '"':
			inQ = !inQ
		case !inQ && (c == ',' || c == ';' || c == '\t'):
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

func (c *csvRewriter) errf(msg string) error {
	return &SyntaxError{Format: FormatCSV, Line: c.line, Offset: c.off, Msg: msg}
}

func (c *csvRewriter) read() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.off++
		if b == '\n' {
			c.line++
		}
	}
	return b, err
}

// record rewrites one record. It returns false at the end of input.
func (c *csvRewriter) record(header bool) (bool, error) {
	if _, err := c.r.Peek(1); err == io.EOF {
		return false, nil
	}
	for col := 0; ; col++ {
		end, err := c.field(header, col)
		if err != nil {
			return false, err
		}
		switch end {
		case ',':
			if _, err := c.w.Write([]byte{c.comma}); err != nil {
				return false, err
			}
			continue
		case '\n':
			return true, nil
		default: // EOF
			return false, nil
		}
	}
}

// field rewrites one field and its terminator; it returns ',' for a
// separator, '\n' for a line end (written as found) and 0 at EOF.
func (c *csvRewriter) field(header bool, col int) (byte, error) {
	c.raw, c.dec, c.offs = c.raw[:0], c.dec[:0], c.offs[:0]
	first, err := c.r.Peek(1)
	if err == nil && first[0] == '"' {
		c.read()
		for {
			b, err := c.read()
			if err == io.EOF {
				return 0, c.errf("unterminated quoted field")
			}
			if err != nil {
				return 0, err
			}
			if len(c.raw) > maxStringSize {
				return 0, c.errf("field too long")
			}
			if b == '"' {
				if p, _ := c.r.Peek(1); len(p) == 1 && p[0] == '"' {
					c.read()
					c.offs = append(c.offs, len(c.raw))
					c.raw = append(c.raw, '"', '"')
					c.dec = append(c.dec, '"')
					continue
				}
				break
			}
			c.offs = append(c.offs, len(c.raw))
			c.raw = append(c.raw, b)
			c.dec = append(c.dec, b)
		}
		c.offs = append(c.offs, len(c.raw))
		if err := c.emit(header, col, true); err != nil {
			return 0, err
		}
		return c.terminator(true)
	}
	for {
		p, err := c.r.Peek(1)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		b := p[0]
		if b == c.comma || b == '\n' || b == '\r' {
			break
		}
		if b == '"' {
			return 0, c.errf(`bare " in unquoted field`)
		}
		if len(c.raw) > maxStringSize {
			return 0, c.errf("field too long")
		}
		c.read()
		c.raw = append(c.raw, b)
	}
	c.dec = append(c.dec, c.raw...)
	if err := c.emit(header, col, false); err != nil {
		return 0, err
	}
	return c.terminator(false)
}

func (c *csvRewriter) terminator(quoted bool) (byte, error) {
	b, err := c.read()
	if err == io.EOF {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	switch b {
	case c.comma:
		return ',', nil
	case '\n':
		_, err := c.w.Write([]byte{'\n'})
		return '\n', err
	case '\r':
		if p, _ := c.r.Peek(1); len(p) == 1 && p[0] == '\n' {
			c.read()
			_, err := c.w.Write([]byte{'\r', '\n'})
			return '\n', err
		}
		_, err := c.w.Write([]byte{'\r'})
		return '\n', err
	}
	if quoted {
		return 0, c.errf(`text after closing quote`)
	}
	return 0, c.errf("unexpected character")
}

func (c *csvRewriter) emit(header bool, col int, quoted bool) error {
	if header {
		name := strings.TrimPrefix(string(c.dec), "\ufeff")
		for len(c.names) <= col {
			c.names = append(c.names, false)
		}
		c.names[col] = c.s.p.isNameField([]byte(strings.TrimSpace(name)))
		c.out = append(c.out[:0], c.raw...)
	} else {
		whole := col < len(c.names) && c.names[col]
		var offs []int
		if quoted {
			offs = c.offs
		}
		c.out = c.s.rewriteMapped(c.out[:0], c.raw, c.dec, offs, whole)
	}
	if quoted {
		if _, err := c.w.Write([]byte{'"'}); err != nil {
			return err
		}
	}
	if _, err := c.w.Write(c.out); err != nil {
		return err
	}
	if quoted {
		_, err := c.w.Write([]byte{'"'})
		return err
	}
	return nil
}
