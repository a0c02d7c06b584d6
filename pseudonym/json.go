package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	maxJSONDepth  = 512
	maxStringSize = 8 << 20 // one JSON string, CSV field or form value
)

// SyntaxError reports invalid input for a format, with its position. It
// never quotes the input.
type SyntaxError struct {
	Format Format
	Line   int   // 1-based
	Offset int64 // byte offset from the start of the input
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid %s at line %d, offset %d: %s", e.Format, e.Line, e.Offset, e.Msg)
}

// jsonRewriter copies a JSON text byte for byte, except the contents of
// strings and numbers that are personnummer: keys get personnummer
// replaced, values of configured name fields are replaced whole, other
// string values go through the detectors, and a number that is a
// personnummer or samordningsnummer becomes a numeric token (see Numeric
// tokens). It checks the grammar as it goes; other numbers, literals, white
// space and key order are copied untouched. Several top-level values (JSON
// Lines) are accepted.
type jsonRewriter struct {
	s    *session
	r    *bufio.Reader
	w    *bufio.Writer
	line int
	off  int64
	raw  []byte
	dec  []byte
	offs []int
	out  []byte
	ctx  context.Context
	// lastStr is the decoded text of the last string read (a key or a
	// value), for the type of a record; keyBuf is scratch.
	lastStr, keyBuf []byte
}

func (s *session) transformJSON(ctx context.Context, r io.Reader, w io.Writer) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, chunkSize)
	}
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, chunkSize)
		defer bw.Flush()
	}
	j := &jsonRewriter{s: s, r: br, w: bw, line: 1, ctx: ctx}
	values := 0
	for {
		c, err := j.skipWS()
		if err == io.EOF {
			if values == 0 {
				return j.errf("no JSON value")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := j.value(c, fieldOther, 0); err != nil {
			return err
		}
		values++
	}
}

func (j *jsonRewriter) errf(format string, args ...any) error {
	return &SyntaxError{Format: FormatJSON, Line: j.line, Offset: j.off, Msg: fmt.Sprintf(format, args...)}
}

func (j *jsonRewriter) read() (byte, error) {
	c, err := j.r.ReadByte()
	if err != nil {
		return 0, err
	}
	j.off++
	if c == '\n' {
		j.line++
	}
	return c, nil
}

// skipWS copies white space and returns the next byte, consumed.
func (j *jsonRewriter) skipWS() (byte, error) {
	for {
		c, err := j.read()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			j.w.WriteByte(c)
			continue
		}
		return c, nil
	}
}

func (j *jsonRewriter) next(what string) (byte, error) {
	c, err := j.skipWS()
	if err == io.EOF {
		return 0, j.errf("unexpected end of input, want %s", what)
	}
	return c, err
}

func (j *jsonRewriter) value(c byte, field fieldKind, depth int) error {
	if depth > maxJSONDepth {
		return j.errf("nesting deeper than %d", maxJSONDepth)
	}
	switch {
	case c == '{':
		j.w.WriteByte(c)
		c, err := j.next("object key or }")
		if err != nil {
			return err
		}
		if c == '}' {
			return j.w.WriteByte(c)
		}
		// A record whose type key says organisation ("typ": "förening")
		// holds no person in the name fields after it.
		orgRecord := false
		// … and one whose type is an animal ("art": "hund") names the
		// animal in its name fields: read for personnummer only, as
		// under a thing's key.
		animalRecord := false
		for {
			if c != '"' {
				return j.errf("want object key")
			}
			isName, err := j.str(true, fieldOther)
			if err != nil {
				return err
			}
			j.keyBuf = appendLower(j.keyBuf[:0], j.lastStr)
			isType := typeKeys[string(j.keyBuf)]
			kind := fieldOther
			switch {
			case orgRecord && !(isName && officeFields[string(j.keyBuf)]):
				// The organisation's own name, not its chair's.
			case animalRecord && isName && animalNameKeys[string(j.keyBuf)]:
				kind = fieldThing // the animal's own name, not its owner's ("agare")
			case isName:
				kind = fieldName
			case personKeys[string(j.keyBuf)]:
				kind = fieldPerson
			case thingKey(j.lastStr):
				kind = fieldThing
			}
			if c, err = j.next(":"); err != nil {
				return err
			}
			if c != ':' {
				return j.errf("want : after object key")
			}
			j.w.WriteByte(c)
			if c, err = j.next("value"); err != nil {
				return err
			}
			if err := j.value(c, kind, depth+1); err != nil {
				return err
			}
			if isType && c == '"' && orgType(j.lastStr) {
				orgRecord = true
			}
			if isType && c == '"' && animalType(j.lastStr) {
				animalRecord = true
			}
			if c, err = j.next(", or }"); err != nil {
				return err
			}
			if c == '}' {
				return j.w.WriteByte(c)
			}
			if c != ',' {
				return j.errf("want , or } in object")
			}
			j.w.WriteByte(c)
			if c, err = j.next("object key"); err != nil {
				return err
			}
		}
	case c == '[':
		j.w.WriteByte(c)
		c, err := j.next("value or ]")
		if err != nil {
			return err
		}
		if c == ']' {
			return j.w.WriteByte(c)
		}
		for {
			if err := j.value(c, field, depth+1); err != nil {
				return err
			}
			if c, err = j.next(", or ]"); err != nil {
				return err
			}
			if c == ']' {
				return j.w.WriteByte(c)
			}
			if c != ',' {
				return j.errf("want , or ] in array")
			}
			j.w.WriteByte(c)
			if c, err = j.next("value"); err != nil {
				return err
			}
		}
	case c == '"':
		_, err := j.str(false, field)
		return err
	case c == 't':
		return j.literal("true")
	case c == 'f':
		return j.literal("false")
	case c == 'n':
		return j.literal("null")
	case c == '-' || isDigit(c):
		return j.number(c)
	}
	return j.errf("unexpected character 0x%02x", c)
}

func (j *jsonRewriter) literal(want string) error {
	j.w.WriteByte(want[0])
	for k := 1; k < len(want); k++ {
		c, err := j.read()
		if err != nil || c != want[k] {
			return j.errf("invalid literal, want %s", want)
		}
		j.w.WriteByte(c)
	}
	return nil
}

// number validates and copies a JSON number. A plain integer of 10 or 12
// digits is held until it ends: if it is a personnummer or
// samordningsnummer, its numeric token is written instead.
func (j *jsonRewriter) number(c byte) error {
	var held [12]byte
	nh := -1 // digits held; -1 once the number cannot be one
	if isDigit(c) {
		held[0], nh = c, 1
	} else {
		j.w.WriteByte(c)
	}
	state := 0 // 0 after '-', 1 int digits, 2 after '.', 3 frac digits, 4 after e, 5 after e sign, 6 exp digits
	zeroLead := c == '0'
	if isDigit(c) {
		state = 1
	}
	for {
		b, err := j.r.Peek(1)
		if err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
		c := b[0]
		ok := false
		switch {
		case isDigit(c) && (state == 0 || state == 1):
			if state == 1 && zeroLead {
				return j.errf("invalid number: leading zero")
			}
			if state == 0 {
				zeroLead = c == '0'
			}
			state, ok = 1, true
		case isDigit(c) && (state == 2 || state == 3):
			state, ok = 3, true
		case isDigit(c) && state >= 4:
			state, ok = 6, true
		case c == '.' && state == 1:
			state, ok = 2, true
		case (c == 'e' || c == 'E') && (state == 1 || state == 3):
			state, ok = 4, true
		case (c == '+' || c == '-') && state == 4:
			state, ok = 5, true
		}
		if !ok {
			break
		}
		j.read()
		if nh >= 0 {
			if state == 1 && nh < len(held) {
				held[nh] = c
				nh++
				continue
			}
			writeBytes(j.w, held[:nh])
			nh = -1
		}
		j.w.WriteByte(c)
	}
	if state != 1 && state != 3 && state != 6 {
		return j.errf("invalid number")
	}
	if nh < 0 {
		return nil
	}
	if nh == 10 || nh == 12 {
		if norm, ok := j.s.wholePersonnummer(held[:nh]); ok {
			tok, err := j.s.numberToken(j.ctx, norm, nh)
			if err != nil {
				return err
			}
			j.s.counts.Personnummer++
			j.s.decide(KindPersonnummer, j.off-int64(nh), nh, rulePnrNumber)
			writeBytes(j.w, tok[:nh])
			return nil
		}
	}
	writeBytes(j.w, held[:nh])
	return nil
}

// writeBytes writes a few bytes one by one: handing w.Write a slice of an
// array on the stack would move the array to the heap.
func writeBytes(w *bufio.Writer, b []byte) {
	for _, c := range b {
		w.WriteByte(c)
	}
}

// str reads a string after its opening quote, decodes it with an offset
// map, rewrites it and writes it with its quotes. For a key it reports
// whether the key names a configured name field.
func (j *jsonRewriter) str(key bool, field fieldKind) (bool, error) {
	j.raw, j.dec, j.offs = j.raw[:0], j.dec[:0], j.offs[:0]
	escaped := false // until the first escape, dec is raw and offs the identity
	for {
		j.plainRun(escaped)
		c, err := j.read()
		if err != nil {
			if err == io.EOF {
				return false, j.errf("unterminated string")
			}
			return false, err
		}
		if len(j.raw) > maxStringSize {
			return false, j.errf("string longer than %d bytes", maxStringSize)
		}
		if c == '"' {
			break
		}
		if c < 0x20 {
			return false, j.errf("control character in string")
		}
		if c != '\\' {
			if escaped {
				j.offs = append(j.offs, len(j.raw))
				j.dec = append(j.dec, c)
			}
			j.raw = append(j.raw, c)
			continue
		}
		if !escaped {
			j.dec = append(j.dec[:0], j.raw...)
			for k := range j.raw {
				j.offs = append(j.offs, k)
			}
		}
		escaped = true
		start := len(j.raw)
		j.raw = append(j.raw, c)
		e, err := j.read()
		if err != nil {
			return false, j.errf("unterminated escape")
		}
		j.raw = append(j.raw, e)
		var r rune
		switch e {
		case '"', '\\', '/':
			r = rune(e)
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			v, err := j.hex4()
			if err != nil {
				return false, err
			}
			r = rune(v)
			if utf16.IsSurrogate(r) {
				// A pair: \uD83D\uDE00.
				if b, _ := j.r.Peek(2); len(b) == 2 && b[0] == '\\' && b[1] == 'u' {
					j.read()
					j.read()
					j.raw = append(j.raw, '\\', 'u')
					v2, err := j.hex4()
					if err != nil {
						return false, err
					}
					r = utf16.DecodeRune(r, rune(v2))
				} else {
					r = utf8.RuneError
				}
			}
		default:
			return false, j.errf("invalid escape")
		}
		n := len(j.dec)
		j.dec = utf8.AppendRune(j.dec, r)
		for k := n; k < len(j.dec); k++ {
			j.offs = append(j.offs, start)
		}
	}
	var offs []int
	dec := j.raw
	if escaped {
		j.offs = append(j.offs, len(j.raw))
		offs, dec = j.offs, j.dec
	}
	isName := false
	j.lastStr = append(j.lastStr[:0], dec...)
	j.s.base = j.off - 1 - int64(len(j.raw))
	j.w.WriteByte('"')
	// A key, and a thing's name under its key ("stuga": "Emil"), are read
	// for personnummer only.
	if key || field == fieldThing && j.s.p.detectNames && j.s.names.thingCell(dec) {
		if key {
			isName = j.s.p.isNameField(dec)
		}
		j.s.pnrOnly = true
		j.out = j.s.rewriteMapped(j.out[:0], j.raw, dec, offs, false)
		j.s.pnrOnly = false
	} else {
		whole := field == fieldName ||
			field == fieldPerson && j.s.p.detectNames && j.s.names.columnCell(bytes.TrimSpace(dec))
		j.out = j.s.rewriteMapped(j.out[:0], j.raw, dec, offs, whole)
	}
	j.w.Write(j.out)
	j.w.WriteByte('"')
	return isName, nil
}

// plainRun moves the buffered bytes up to the next quote, backslash or
// control character into the string in one go, as far as the size limit
// lets the byte-at-a-time path in str see them.
func (j *jsonRewriter) plainRun(escaped bool) {
	if j.r.Buffered() == 0 {
		j.r.Peek(1) // fill; an error shows again at the next read
	}
	buf, _ := j.r.Peek(j.r.Buffered())
	if room := maxStringSize + 1 - len(j.raw); len(buf) > room {
		buf = buf[:max(room, 0)]
	}
	n := plainLen(buf)
	if n == 0 {
		return
	}
	if escaped {
		for k := range n {
			j.offs = append(j.offs, len(j.raw)+k)
		}
		j.dec = append(j.dec, buf[:n]...)
	}
	j.raw = append(j.raw, buf[:n]...)
	j.r.Discard(n)
	j.off += int64(n) // no line ends: they are control characters
}

// plainLen returns the length of the run of bytes at the start of b that
// stand for themselves in a JSON string: not a quote, backslash or control
// character. It tests eight bytes at a time.
func plainLen(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		q := v ^ (ones * '"')
		s := v ^ (ones * '\\')
		// "Has a byte less than n" tests (exact as to whether there is
		// one): below 0x20, or zero after the XORs.
		if ((v-ones*0x20)&^v|(q-ones)&^q|(s-ones)&^s)&highs != 0 {
			break
		}
	}
	for i < len(b) && jsonPlain[b[i]] {
		i++
	}
	return i
}

// jsonPlain marks the bytes that stand for themselves in a JSON string.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (j *jsonRewriter) hex4() (int, error) {
	v := 0
	for k := 0; k < 4; k++ {
		c, err := j.read()
		if err != nil {
			return 0, j.errf("unterminated \\u escape")
		}
		j.raw = append(j.raw, c)
		switch {
		case isDigit(c):
			v = v*16 + int(c-'0')
		case 'a' <= c && c <= 'f':
			v = v*16 + int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v*16 + int(c-'A'+10)
		default:
			return 0, j.errf("invalid \\u escape")
		}
	}
	return v, nil
}
