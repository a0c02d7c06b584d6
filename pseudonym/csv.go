package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strings"
)

// csvRewriter copies CSV (RFC 4180, with a quote inside an unquoted field
// read as itself) byte for byte, rewriting field contents:
// columns whose header is a configured name field are replaced whole, other
// fields go through the detectors. Quoting, separators and line ends are
// kept, so rows and columns stay as they were. The header row goes through
// the detectors too (a file without one starts with data), and sets what the
// columns are; title rows before it, with one cell filled at most, do not
// (maxTitleRows).
type csvRewriter struct {
	s     *session
	r     *bufio.Reader
	w     *bufio.Writer
	comma byte
	// Bytes that end a run of an unquoted field.
	unquotedStop [256]bool
	line         int
	off          int64
	fieldOff     int64 // c.off where the current field starts
	raw          []byte
	dec          []byte
	offs         []int
	out          []byte
	names        []bool // per column: a name field
	// Per column: the header is a person's role (tolk, klient), the cells
	// read and those found to be names whole (see nameColumn).
	cueCol           []bool
	placeCol         []bool // per column: the header is a place's (Postort, Kommun)
	thingCol         []bool // per column: the header is an animal's, a boat's or a room's (Hund, Båt, Stuga)
	cells, nameCells []int
	filled           int // cells of the current record that are not empty
}

// maxTitleRows bounds the rows of one filled cell at most (a title, an
// export note) read before the header row: "Medlemsregister, export
// 2024-03-01;;;;" above "Efternamn;Förnamn;…".
const maxTitleRows = 4

// nameColumn reports whether column col holds names: its header is a
// person's role, or three quarters of its cells so far, two at least,
// were names whole.
func (c *csvRewriter) nameColumn(col int) bool {
	if col >= len(c.cells) {
		return false
	}
	return c.cueCol[col] || c.nameCells[col] >= 2 && c.nameCells[col]*4 >= c.cells[col]*3
}

func (s *session) transformCSV(ctx context.Context, r io.Reader, w io.Writer) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, chunkSize)
	}
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, chunkSize)
		defer bw.Flush()
	}
	c := &csvRewriter{s: s, r: br, w: bw, comma: s.p.cfg.CSVComma, line: 1}
	if c.comma == 0 {
		c.comma = sniffComma(br)
	}
	for _, b := range []byte{c.comma, '\n', '\r', '"'} {
		c.unquotedStop[b] = true
	}
	header := true
	for row := 0; ; row++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.filled = 0
		more, err := c.record(header)
		if err != nil {
			return err
		}
		// A row of one cell at most above the columns is a title: the
		// next row may be the header.
		header = header && c.filled <= 1 && row+1 < maxTitleRows
		if !more {
			return nil
		}
	}
}

// sniffComma picks ',', ';' or tab: the one found, outside quotes, on the
// most of the first sniffLines lines. A title row above the header may
// have none ("Medlemsförteckning 2024" above "Efternamn;Förnamn;…") or
// the wrong one ("Deltagarlista, kursstart 2024-08-19" above
// "Personnummer;Efternamn;Förnamn").
func sniffComma(br *bufio.Reader) byte {
	head, _ := br.Peek(chunkSize)
	return sniffCommaIn(head)
}

// sniffCommaIn is sniffComma on the start of a CSV text in hand (the first
// chunk a re-identified stream reads).
func sniffCommaIn(head []byte) byte {
	// Per candidate: the lines it is found on (outside quotes) and its
	// count in all. A title row above the header may hold a comma
	// ("Deltagarlista, kursstart 2024-08-19") where every row after it
	// holds semicolons: the separator is the one most lines have.
	var onLines, total [len(separators)]int
	var inLine [len(separators)]bool
	inQ := false
	lines := 0
	endLine := func() {
		for i := range inLine {
			if inLine[i] {
				onLines[i]++
			}
			inLine[i] = false
		}
		lines++
	}
	for _, c := range head {
		switch {
		case c == '"':
			inQ = !inQ
		case inQ:
		case c == '\n':
			if endLine(); lines >= sniffLines {
				return bestSeparator(onLines, total)
			}
		default:
			if i := strings.IndexByte(separators, c); i >= 0 {
				inLine[i] = true
				total[i]++
			}
		}
	}
	endLine()
	return bestSeparator(onLines, total)
}

// sniffLines is how many lines sniffComma reads: room for the title rows
// and a few records.
const sniffLines = maxTitleRows + 8

// separators are the candidates sniffComma counts, the default first.
const separators = ",;\t"

// bestSeparator picks the candidate found on the most lines, then the most
// often; a comma when none is found.
func bestSeparator(onLines, total [len(separators)]int) byte {
	best := 0
	for i := 1; i < len(separators); i++ {
		if onLines[i] > onLines[best] || onLines[i] == onLines[best] && total[i] > total[best] {
			best = i
		}
	}
	return separators[best]
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
			if err := c.w.WriteByte(c.comma); err != nil {
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
	c.fieldOff = c.off
	first, err := c.r.Peek(1)
	if err == nil && first[0] == '"' {
		c.read()
		escaped := false // until the first "", dec is raw and offs the identity
		for {
			c.run(escaped, true)
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
					if !escaped {
						escaped = true
						c.dec = append(c.dec[:0], c.raw...)
						for k := range c.raw {
							c.offs = append(c.offs, k)
						}
					}
					c.offs = append(c.offs, len(c.raw))
					c.raw = append(c.raw, '"', '"')
					c.dec = append(c.dec, '"')
					continue
				}
				break
			}
			if escaped {
				c.offs = append(c.offs, len(c.raw))
				c.dec = append(c.dec, b)
			}
			c.raw = append(c.raw, b)
		}
		dec, offs := c.raw, []int(nil)
		if escaped {
			c.offs = append(c.offs, len(c.raw))
			dec, offs = c.dec, c.offs
		}
		if err := c.emit(header, col, true, dec, offs); err != nil {
			return 0, err
		}
		return c.terminator(true)
	}
	for {
		c.run(false, false)
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
		// A quote inside a field that did not start with one is a
		// quote, as Python's csv module, Go's LazyQuotes and LibreOffice
		// read it: Solo i "Vem kan segla förutan vind". Only a field's
		// first byte opens quoting, so the separators stay where every
		// such reader sees them.
		if len(c.raw) > maxStringSize {
			return 0, c.errf("field too long")
		}
		c.read()
		c.raw = append(c.raw, b)
	}
	if err := c.emit(header, col, false, c.raw, nil); err != nil {
		return 0, err
	}
	return c.terminator(false)
}

// run moves the buffered bytes up to the next one in stop into the field
// in one go, as far as the size limit lets the byte-at-a-time path in
// field see them.
func (c *csvRewriter) run(escaped, quoted bool) {
	if c.r.Buffered() == 0 {
		c.r.Peek(1) // fill; an error shows again at the next read
	}
	buf, _ := c.r.Peek(c.r.Buffered())
	if room := maxStringSize + 1 - len(c.raw); len(buf) > room {
		buf = buf[:max(room, 0)]
	}
	var n int
	if quoted {
		if n = bytes.IndexByte(buf, '"'); n < 0 {
			n = len(buf)
		}
	} else {
		n = c.unquotedLen(buf)
	}
	if n == 0 {
		return
	}
	if escaped {
		for k := range n {
			c.offs = append(c.offs, len(c.raw)+k)
		}
		c.dec = append(c.dec, buf[:n]...)
	}
	if quoted {
		c.line += bytes.Count(buf[:n], []byte{'\n'})
	}
	c.raw = append(c.raw, buf[:n]...)
	c.off += int64(n)
	c.r.Discard(n)
}

// unquotedLen returns the length of the run at the start of b without the
// separator, CR, LF or a quote. It tests eight bytes at a time.
func (c *csvRewriter) unquotedLen(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	sep := ones * uint64(c.comma)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		// A zero byte after XOR is a stop byte; "has a zero byte" is exact.
		s, r, n, q := v^sep, v^(ones*'\r'), v^(ones*'\n'), v^(ones*'"')
		if ((s-ones)&^s|(r-ones)&^r|(n-ones)&^n|(q-ones)&^q)&highs != 0 {
			break
		}
	}
	for i < len(b) && !c.unquotedStop[b[i]] {
		i++
	}
	return i
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
		return '\n', c.w.WriteByte('\n')
	case '\r':
		if p, _ := c.r.Peek(1); len(p) == 1 && p[0] == '\n' {
			c.read()
			_, err := c.w.WriteString("\r\n")
			return '\n', err
		}
		return '\n', c.w.WriteByte('\r')
	}
	if quoted {
		return 0, c.errf(`text after closing quote`)
	}
	return 0, c.errf("unexpected character")
}

func (c *csvRewriter) emit(header bool, col int, quoted bool, dec []byte, offs []int) error {
	if len(bytes.TrimSpace(dec)) > 0 {
		c.filled++
	}
	c.s.base = c.fieldOff
	if quoted {
		c.s.base++
	}
	if header {
		// A row read as the header goes through the detectors like any
		// other (a file without a header starts with a record; a title may
		// name a person), whole where an earlier header row already named
		// the column ("Namn" above a row read as a possible header too).
		earlier := col < len(c.names) && c.names[col]
		c.out = c.s.rewriteMapped(c.out[:0], c.raw, dec, offs, earlier)
		// What the columns are: what any header row said of them.
		name := strings.TrimPrefix(string(dec), "\ufeff")
		for len(c.names) <= col {
			c.names = append(c.names, false)
		}
		c.names[col] = earlier || c.s.p.isNameField([]byte(strings.TrimSpace(name)))
		for len(c.cueCol) <= col {
			c.cueCol = append(c.cueCol, false)
			c.cells = append(c.cells, 0)
			c.nameCells = append(c.nameCells, 0)
		}
		lower := strings.ToLower(strings.TrimSpace(name))
		c.cueCol[col] = c.cueCol[col] || personCues[lower] && !weakCues[lower] && !greetings[lower]
		for len(c.placeCol) <= col {
			c.placeCol = append(c.placeCol, false)
		}
		c.placeCol[col] = c.placeCol[col] || placeFields[lower]
		for len(c.thingCol) <= col {
			c.thingCol = append(c.thingCol, false)
		}
		c.thingCol[col] = c.thingCol[col] || thingKey([]byte(strings.TrimSpace(name)))
	} else {
		whole := col < len(c.names) && c.names[col]
		names := c.s.p.detectNames && !c.s.pnrOnly && !whole && col < len(c.cells)
		if names && c.nameColumn(col) && c.s.names.nameShapedCell(dec) {
			c.s.names.rememberCell(bytes.TrimSpace(dec))
		}
		// Nora under Postort is the town, even in a file where a member
		// is called Nora: personnummer only.
		c.s.pnrOnly = names && (col < len(c.placeCol) && c.placeCol[col] && c.s.names.placeCell(dec) ||
			col < len(c.thingCol) && c.thingCol[col] && c.s.names.thingCell(dec)) // Stella under Hund
		c.out = c.s.rewriteMapped(c.out[:0], c.raw, dec, offs, whole)
		c.s.pnrOnly = false
		if names && len(bytes.TrimSpace(dec)) > 0 {
			c.cells[col]++
			if wholeName(dec, c.s.nms) {
				c.nameCells[col]++
			}
		}
	}
	if quoted {
		if err := c.w.WriteByte('"'); err != nil {
			return err
		}
	}
	if _, err := c.w.Write(c.out); err != nil {
		return err
	}
	if quoted {
		return c.w.WriteByte('"')
	}
	return nil
}
