package pseudonym

import (
	"bytes"
	"slices"
)

// Columns and fields of plain text: a register laid out in columns with
// spaces ("01  BARZANI, SHIRIN      LILLBY"), or a block of "Label: value"
// lines (Ordförande: …, Kassör: …, RAPPORTERAD AV: …). When two lines of
// one block hold a name filling the same column, or filling the value of
// its field, the other cells of that column or field are names too if
// their shape allows: one to four capitalised words, at least one of them
// in some name list (SAGA LJUNG, STEN LJUNG, Hibaaq Jaamac beside Faadumo
// Cali). That is document-level evidence, as for a word used as a name
// elsewhere; the words found are remembered for the rest of the stream.

// cellKind tells how a cell sits in its line.
const (
	cellNone   = iota
	cellField  // the value of "Label: value"
	cellColumn // a cell of a space-aligned table, keyed by its offset in the line
)

// textCell is a cell of one line: [start, end) in the text, its kind and
// (for a column) its offset from the line start.
type textCell struct {
	start, end int
	kind, col  int
	line       int // start of its line
}

// maxColumnLine bounds the lines looked at: a table row, not a paragraph.
const maxColumnLine = 200

// findColumns adds the names that the columns and fields of b's blocks
// imply; dst[n0:] are the names found so far in b.
func (d *nameDetector) findColumns(dst []nameMatch, b []byte, from, n0 int) []nameMatch {
	if len(dst)-n0 < 2 {
		return dst
	}
	ms := dst[n0:]
	if !slices.IsSortedFunc(ms, func(a, b nameMatch) int { return a.start - b.start }) {
		ms = append(d.colMatches[:0], ms...)
		slices.SortFunc(ms, func(a, b nameMatch) int { return a.start - b.start })
		d.colMatches = ms
	}
	// Evidence: cells that a name fills whole, one per line.
	ev := d.colCells[:0]
	// The line start of the last name, and how far b was searched for it:
	// the names are in order, so each byte is searched once.
	lineAt, searched := -1, 0
	for i := 0; i < len(ms); i++ {
		// Only short lines: look no further than maxColumnLine for their
		// ends, so that a long paragraph costs nothing per name.
		at := ms[i].start
		lo := max(searched, at-maxColumnLine)
		if k := bytes.LastIndexByte(b[lo:at], '\n'); k >= 0 {
			lineAt = lo + k + 1
		} else if lo > searched {
			lineAt = -1 // no line end in the maxColumnLine bytes before
		}
		searched = at
		ls := lineAt
		if ls < 0 {
			if at > maxColumnLine {
				continue
			}
			ls = 0
		}
		if at-ls > maxColumnLine {
			continue
		}
		if len(ev) > 0 && ev[len(ev)-1].line == ls {
			continue
		}
		hi := min(len(b), ls+maxColumnLine)
		le := bytes.IndexByte(b[at:hi], '\n')
		if le < 0 {
			if hi < len(b) {
				continue
			}
			le = len(b)
		} else {
			le += at
		}
		if c, ok := lineCell(b, ls, le, ms[i].start); ok && wholeNameAt(b, c.start, c.start+len(bytes.TrimRight(b[c.start:c.end], " ")), ms) {
			ev = append(ev, c)
		}
	}
	d.colCells = ev
	if len(ev) == 0 {
		return dst
	}
	n := len(dst)
	for i := 0; i < len(ev); {
		// A group: evidence of one kind (and column) on lines of one
		// block, a few lines apart, with no empty line between.
		j := i + 1
		for j < len(ev) && ev[j].kind == ev[i].kind && ev[j].col == ev[i].col && sameBlock(b, ev[j-1].line, ev[j].line) {
			j++
		}
		if header := ev[i].kind == cellColumn && d.personHeader(b, ev[i]); j-i >= 2 || header {
			dst = d.fillGroup(dst, b, from, ev[i], ev[i].line, ev[j-1].line, ms, header)
		}
		i = j
	}
	if len(dst) > n {
		slices.SortFunc(dst[n0:], func(a, b nameMatch) int { return a.start - b.start })
	}
	return dst
}

// personHeader reports whether the column of c has a header that names
// persons (NAMN, Deltagare, Elev) on the first line of its block, at most
// four lines above: one name in the column is then evidence enough.
func (d *nameDetector) personHeader(b []byte, c textCell) bool {
	ls := c.line
	for range 4 {
		if ls < 2 || b[ls-1] != '\n' || b[ls-2] == '\n' {
			break
		}
		ls = bytes.LastIndexByte(b[:ls-1], '\n') + 1
	}
	if ls == c.line {
		return false
	}
	le := bytes.IndexByte(b[ls:], '\n') + ls
	if le < ls || le-ls > maxColumnLine {
		return false
	}
	h, ok := lineCellAt(b, ls, le, c)
	if !ok {
		return false
	}
	v := bytes.TrimRight(b[h.start:h.end], " \r")
	if len(v) > 24 || bytes.IndexByte(v, ' ') >= 0 {
		return false
	}
	lower := appendLower(d.buf[:0], v)
	return headerCues[string(lower)] || personCues[string(lower)] && !weakCues[string(lower)]
}

// maxHeaderRows bounds the lines after its last name that a column under
// a person header is read.
const maxHeaderRows = 100

// headerCues are column headers of registers of persons.
var headerCues = map[string]bool{
	"namn": true, "name": true, "deltagare": true, "medlem": true, "medlemmar": true,
	"elev": true, "elever": true, "person": true, "personal": true, "kontaktperson": true,
}

// sameBlock reports whether the line at b2 follows the line at b1 within
// four lines and no empty line lies between.
func sameBlock(b []byte, l1, l2 int) bool {
	lines := 0
	for k := l1; k < l2-1; k++ {
		if b[k] == '\n' {
			lines++
			if lines > 4 || b[k+1] == '\n' || b[k+1] == '\r' {
				return false
			}
		}
	}
	return true
}

// fillGroup looks at every line from two before first to two after last
// (within the block) and takes the cell of the group's kind and column if
// it is shaped like a name.
//
// Under a header that names persons (wide), the whole block is looked at,
// up to maxHeaderRows lines after last.
func (d *nameDetector) fillGroup(dst []nameMatch, b []byte, from int, proto textCell, first, last int, ms []nameMatch, wide bool) []nameMatch {
	// Widen to two lines before and after, stopping at an empty line.
	lo := first
	for range 2 {
		if lo < 2 || b[lo-1] != '\n' || b[lo-2] == '\n' {
			break
		}
		lo = bytes.LastIndexByte(b[:lo-1], '\n') + 1
	}
	hi := last
	after := 2
	if wide {
		after = maxHeaderRows
	}
	for range after {
		e := bytes.IndexByte(b[hi:], '\n')
		if e < 0 || hi+e+1 >= len(b) || b[hi+e+1] == '\n' {
			break
		}
		hi += e + 1
	}
	for ls := lo; ls <= hi && ls < len(b); {
		le := bytes.IndexByte(b[ls:], '\n')
		if le < 0 {
			le = len(b)
		} else {
			le += ls
		}
		if le-ls <= maxColumnLine {
			if c, ok := lineCellAt(b, ls, le, proto); ok {
				v := bytes.TrimRight(b[c.start:c.end], " ")
				if !overlapsAny(c.start, c.start+len(v), ms) && d.columnCell(v) {
					dst = d.emitCell(dst, b, from, c.start, c.start+len(v))
				}
			}
		}
		ls = le + 1
	}
	return dst
}

// wholeNameAt reports whether every word of b[s:e] overlaps one of ms.
func wholeNameAt(b []byte, s, e int, ms []nameMatch) bool {
	words := 0
	for i := s; i < e; {
		l, _, n := letterAt(b, i)
		if !l {
			if c := b[i]; c != ' ' && c != ',' && c != '.' && c != '-' {
				return false
			}
			i += n
			continue
		}
		we := wordEnd(b, i)
		if !overlapsAny(i, we, ms) {
			return false
		}
		words++
		i = we
	}
	return words > 0
}

func overlapsAny(s, e int, ms []nameMatch) bool {
	for _, m := range ms {
		if m.start < e && s < m.end {
			return true
		}
	}
	return false
}

// lineCell returns the cell of the line [ls, le) that holds position at:
// the value of a "Label: value" line, or a cell of a line split into
// columns by two spaces or more or by tabs.
func lineCell(b []byte, ls, le, at int) (textCell, bool) {
	if vs, ok := fieldValue(b, ls, le); ok {
		if at >= vs {
			return textCell{start: vs, end: le, kind: cellField, line: ls}, true
		}
		return textCell{}, false
	}
	cs, ce := at, at
	for cs > ls && !columnGap(b, cs-1, ls) {
		cs--
	}
	for ce < le && !columnGap(b, ce, ls) {
		ce++
	}
	for cs < ce && b[cs] == ' ' {
		cs++
	}
	if cs == ls && ce == le {
		return textCell{}, false // no columns in this line
	}
	return textCell{start: cs, end: ce, kind: cellColumn, col: cs - ls, line: ls}, true
}

// lineCellAt returns the cell of the line [ls, le) of proto's kind and
// column.
func lineCellAt(b []byte, ls, le int, proto textCell) (textCell, bool) {
	switch proto.kind {
	case cellField:
		if vs, ok := fieldValue(b, ls, le); ok {
			return textCell{start: vs, end: le, kind: cellField, line: ls}, true
		}
	case cellColumn:
		cs := ls + proto.col
		if cs >= le || b[cs] == ' ' || b[cs] == '\t' || cs > ls && !columnGap(b, cs-1, ls) {
			return textCell{}, false
		}
		ce := cs
		for ce < le && !columnGap(b, ce, ls) {
			ce++
		}
		return textCell{start: cs, end: ce, kind: cellColumn, col: proto.col, line: ls}, true
	}
	return textCell{}, false
}

// columnGap reports whether b[i] is part of a column separator: a tab, a
// pipe (a text table's "Nr | Namn | Telefon"), or a space next to another
// space or to a pipe.
func columnGap(b []byte, i, ls int) bool {
	switch b[i] {
	case '\t', '|':
		return true
	case ' ':
		return i+1 < len(b) && (b[i+1] == ' ' || b[i+1] == '\t' || b[i+1] == '|') ||
			i > ls && (b[i-1] == ' ' || b[i-1] == '\t' || b[i-1] == '|')
	}
	return false
}

// fieldValue returns where the value of a "Label: value" line starts: a
// label of one to four words of letters at the line start, then ": ".
func fieldValue(b []byte, ls, le int) (int, bool) {
	i := ls
	for i < le && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	words := 0
	for i < le && i-ls <= 40 {
		l, _, _ := letterAt(b, i)
		if !l {
			return 0, false
		}
		e := wordEnd(b, i)
		words++
		if words > 4 || e >= le {
			return 0, false
		}
		switch {
		case b[e] == ':':
			if e+1 < le && b[e+1] == ' ' {
				v := e + 1
				for v < le && b[v] == ' ' {
					v++
				}
				return v, v < le
			}
			return 0, false
		case b[e] == ' ' || b[e] == '.':
			i = e + 1
			for i < le && b[i] == ' ' {
				i++
			}
		default:
			return 0, false
		}
	}
	return 0, false
}

// columnCell reports whether v, a whole cell, is shaped like a name:
// one to four words that each start with a capital (title case or all
// capitals), separated by single spaces or one ", " (Efternamn, Förnamn),
// none a word that names a role, place, firm, venue, date or statute, and
// at least one of them in a name list or seen as a name.
func (d *nameDetector) columnCell(v []byte) bool {
	// In capitals every word looks like an acronym to notPerson: the words
	// are judged one by one below.
	if len(v) < 2 || !upperWord(v) && d.notPerson(v) {
		return false
	}
	words, named, commas, unknown := 0, 0, 0, 0
	givenFirst, calendar := false, 0
	for i := 0; i < len(v); {
		if v[i] == ' ' {
			if i+1 < len(v) && v[i+1] == ' ' {
				return false
			}
			i++
			continue
		}
		if v[i] == ',' {
			if commas++; commas > 1 || words == 0 || i+1 >= len(v) || v[i+1] != ' ' {
				return false
			}
			i++
			continue
		}
		l, u, n := letterAt(v, i)
		if !l || !u {
			return false
		}
		e := wordEnd(v, i)
		if e < len(v) && v[e] != ' ' && v[e] != ',' || e-i < 2 {
			return false
		}
		w := v[i:e]
		caps := upperWord(w)
		for k := i + n; k < e && !caps; {
			l, u, m := letterAt(v, k)
			if l && u && v[k-1] != '-' {
				return false // SoL, CodeSystem
			}
			k += m
		}
		wf := d.facts(w)
		if wf.seen || wf.flags&(nameFlags|lexForeign|lexForeignGiven|lexWorld) != 0 {
			named++
		} else if wf.placeSuffix || wf.definiteCompound || wf.commonCompound && e-i >= 9 {
			return false // (a short "compound" is as often a foreign name: Som|chai)
		} else if !wf.common {
			unknown++
		}
		if wf.calendar {
			// MAJ BERG, TOR ANDERSSON: a month or a day that is also a
			// name, beside a word that is neither.
			if wf.flags&nameFlags == 0 {
				return false
			}
			calendar++
		}
		if wf.cue && wf.flags&lexGiven == 0 || wf.company || wf.venue || wf.org || wf.placeNoun ||
			wf.function || wf.preposition || wf.conjunction || wf.internalCap ||
			wf.flags&lexPlace != 0 && wf.flags&(nameFlags|lexForeignGiven) == 0 && !(givenFirst && commas == 0) {
			return false // … but a place after a given name is a surname: OLLE HAMMAR
		}
		if words == 0 {
			givenFirst = wf.flags&(lexGiven|lexForeignGiven) != 0
		}
		if words++; words > 4 {
			return false
		}
		i = e
	}
	if calendar >= words {
		return false
	}
	// Words no list or dictionary holds, two or more: Hibaaq Jaamac.
	return named > 0 || words >= 2 && unknown == words
}

// emitCell appends the words of the cell b[s:e] as names.
func (d *nameDetector) emitCell(dst []nameMatch, b []byte, from, s, e int) []nameMatch {
	for i := s; i < e; {
		l, _, n := letterAt(b, i)
		if !l {
			i += n
			continue
		}
		we := wordEnd(b, i)
		d.remember(b[i:we])
		if i >= from {
			dst = append(dst, nameMatch{start: i, end: we, rule: ruleColumn})
		}
		i = we
	}
	return dst
}
