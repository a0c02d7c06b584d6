package pseudonym

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// Names written in lower case: chat, SMS and quick notes write "pratade med
// serkan demir", "tack jovana", "mvh camilla". Formal text capitalises
// names, and most text is formal, so the word scanner of names.go only
// looks at capitals; this second scanner reads every word, but only of
// lines that are informal: a clause there (the line itself after a
// timestamp or list number, or what follows ": ", ". ", "! ", "? ") starts
// with a lower-case word. A lower-case word is a name when:
//
//   - a name list holds it and it is no ordinary Swedish word, no place and
//     not an English word (jenny, karlsson, mirja), or the stream has seen
//     it as a name;
//   - a weaker list (the many-country one, or an English word) holds it and
//     a person cue or another name is next to it (tack jovana, serkan
//     demir);
//   - it is a given name and an ordinary word, and a person cue comes
//     before it or a verb after it at a clause start (pappa stig; stig vill
//     att hon handlar);
//   - no list holds it, but a greeting or a sign-off comes right before it
//     (mvh kicki);
//   - it follows a given name found here and is a surname (maria holm,
//     rasmus ek).
//
// Words next to digits, '_', '@' or inside a domain are codes, tokens and
// addresses, never names.

// Lower-case cues, besides personCues: the verb of naming and words that
// come before a name in speech.
var lowerCues = map[string]bool{
	"heter": true, "hette": true, "kallas": true, "ring": true, "ringer": true, "fråga": true,
	"frågade": true, "säg": true, "sa": true,
}

// Possessive pronouns before a relation: "min man", "hennes man".
var possessivePronouns = map[string]bool{
	"min": true, "din": true, "hans": true, "hennes": true, "er": true, "vår": true,
}

// Greetings and sign-offs, after which even a word no list holds is a name
// (hej kicki, mvh jonte).
var greetings = map[string]bool{
	"hej": true, "hejsan": true, "hallå": true, "tjena": true, "tjenare": true, "tja": true,
	"tack": true, "mvh": true, "hälsningar": true, "kram": true, "kramar": true, "puss": true,
	"heter": true, "välkommen": true, "grattis": true,
}

// lowerWord is one word of an informal line.
type lowerWord struct {
	start, end  int
	upper       bool // starts with a capital
	clauseStart bool // first of the line or after ". ", ": ", "! ", "? "
	joined      bool // one space (or ", " after a greeting) from the previous word
	name        bool // found as a name (by either scanner)
	abbrev      bool // followed by ". " and a lower-case word: ang. hämtning
	cand        bool // a name list or the stream may hold it (see lowerHash)
	greet       bool // one of greetings
	signoff     bool // after a slash that starts a clause: "tack! /jari"
	speaker     bool // first of its line, before ": " (a chat label: "lina: har nån sett")
	header      bool // a speaker with a time after the label: a Slack export's "ibbe  21:04", an SMS log's "senait t 18:33:"
}

// lowerHash hashes w with ASCII capitals folded to lower case (bit 5 set
// in every byte, which also folds some bytes of other letters together: a
// harmless collision, since every bit set keyed by it is only a filter
// before an exact lookup): the key of the bit sets that rule most words
// out. It reads eight bytes at a time, so that a word costs one or two
// multiplications.
func lowerHash(w []byte) uint32 {
	const fold = 0x2020202020202020
	h := uint64(len(w)) * 0x9e3779b97f4a7c15
	for len(w) >= 8 {
		h = (h ^ (binary.LittleEndian.Uint64(w) | fold)) * 0xff51afd7ed558ccd
		h ^= h >> 31
		w = w[8:]
	}
	if len(w) > 0 {
		var x uint64
		for i, c := range w {
			x |= uint64(c|0x20) << (8 * i)
		}
		h = (h ^ x) * 0xff51afd7ed558ccd
	}
	h ^= h >> 29
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 32
	return uint32(h)
}

// seenBitWords is the size of nameDetector.seenBits in 64-bit words.
const seenBitWords = 64

var greetingBits = func() (t [4]uint64) {
	for g := range greetings {
		h := lowerHash([]byte(g))
		t[h>>6&3] |= 1 << (h & 63)
	}
	return t
}()

// findLower appends the lower-case names of the informal lines of b that
// start at or after from. dst[n0:] holds what the capitalised scan found
// in b, so that a surname after a given name found there counts.
func (d *nameDetector) findLower(dst []nameMatch, b []byte, from, n0 int) []nameMatch {
	for ls := 0; ls < len(b); {
		le := len(b)
		if k := bytes.IndexByte(b[ls:], '\n'); k >= 0 {
			le = ls + k
		}
		var read bool
		d.lowerStrict = false
		if d.valueMode && le-ls <= maxLowerValue {
			read = severalWords(b[ls:le]) && d.mayHoldLowerName(b[ls:le])
		} else {
			// A chat line written with capitals ("[08:08] Magnus Berg:
			// Jag pratade med kerstin") is still a chat's: read it when a
			// word in it may be a name.
			// The first line of a window that starts with context
			// (from > 0) was cut at a word, not at its start: its first
			// clause tells nothing ("har haft ett möte …").
			read = informalLine(b[ls:le], ls == 0 && from > 0)
			d.lowerStrict = !read
			read = read || chatStampLine(b[ls:le]) && d.mayHoldLowerName(b[ls:le])
		}
		if le > from && read {
			dst = d.lowerLine(dst, b, ls, le, from, n0)
		}
		ls = le + 1
	}
	d.lowerStrict = false
	return dst
}

// maxLowerValue bounds the values (a JSON string, a CSV field, a form
// value) read for lower-case names whatever their style: messages in an
// API are often written like "Minh kom inte, jag ringer lan".
const maxLowerValue = 2 << 10

// cueBits has the bit lowerHash(w) set for every word after which
// lowerName may take an ordinary word as a name: the greetings, lowerCues
// and the person cues that are not weak ones (hej saga, pappa stig). It is
// large enough (64 Kbit) that an ordinary word seldom shares a bit with
// them; isLowerCue decides a word that does.
var cueBits = func() (t [1 << 10]uint64) {
	for _, m := range []map[string]bool{greetings, lowerCues, personCues} {
		for w := range m {
			if isLowerCue([]byte(w)) {
				h := lowerHash([]byte(w)) & (1<<16 - 1)
				t[h>>6] |= 1 << (h & 63)
			}
		}
	}
	return t
}()

// isLowerCue reports whether the lower-case word w is one of the words
// cueBits holds.
func isLowerCue(w []byte) bool {
	return greetings[string(w)] || lowerCues[string(w)] || personCues[string(w)] && !weakCues[string(w)]
}

// mayHoldLowerName is the cheap test a value of a structured body passes
// before lowerLine reads it word by word: some lower-case word in it is
// one that a rule of lowerName can take without a cue (a name no
// ordinary word spells, or one the stream has seen), or one of the cues
// after which an ordinary word can be a name, or the value or a clause in
// it starts in lower case (stig vill att …), or a word labels a message
// (lina: …), or a greeting stands in it (Mvh kicki); a word of two letters counts only after a capitalised one
// (Maria ek). Prose in a notes field ("Vi har haft ett möte om
// planeringen") has none of these and costs about one hash per word.
// TestLowerGate holds it to the corpora: it never rules out a line in which
// the scan finds a name.
func (d *nameDetector) mayHoldLowerName(v []byte) bool {
	var buf [48]byte
	capEnd := -1 // where the last capitalised word ended
	for i := 0; i < len(v); {
		cl := byteClass[v[i]]
		switch cl {
		case classOther:
			i++
			continue
		case classUpper:
			start := i
			for i++; i < len(v) && byteClass[v[i]] != classOther; i++ {
			}
			capEnd = i
			switch v[start] {
			case 'H', 'T', 'M', 'K', 'P': // a greeting (Mvh kicki, Hej! stig …)
				if i-start <= 10 {
					var gb [16]byte
					g := appendLower(gb[:0], v[start:i])
					if h := lowerHash(g); greetingBits[h>>6&3]&(1<<(h&63)) != 0 && greetings[string(g)] {
						return true
					}
				}
			}
			continue
		}
		start := i
		high := false // a Latin-1 letter (å, ä, ö, é, ü …) in lower case
		for i < len(v) {
			c := v[i]
			if byteClass[c] == classLower {
				i++
				continue
			}
			if c == 0xc3 && i > start && i+1 < len(v) && v[i+1] >= 0xa0 && v[i+1] <= 0xbf && v[i+1] != 0xb7 {
				i += 2
				high = true
				continue
			}
			break
		}
		slow := i == start || i < len(v) && (byteClass[v[i]] != classOther || v[i] == '-' || v[i] == '\'')
		var h uint32
		if !slow {
			h = lowerHash(v[start:i])
		} else {
			// Not plain ASCII: the word as lowerLine splits it.
			if _, u, _ := letterAt(v, start); u {
				for i = start + 1; i < len(v) && byteClass[v[i]] != classOther; i++ {
				}
				continue
			}
			i = wordEnd(v, start)
			if i == start {
				i++
				continue
			}
			h = lowerHash(v[start:i])
		}
		if i-start < 2 || i-start > len(buf) {
			continue
		}
		if start == 0 || cueBits[h>>6&(1<<10-1)]&(1<<(h&63)) != 0 && isLowerCue(v[start:i]) || i < len(v) && v[i] == ':' ||
			start >= 2 && v[start-1] == ' ' && (v[start-2] == '.' || v[start-2] == '!' || v[start-2] == '?' || v[start-2] == ':') {
			// A clause that starts in lower case (ok. stig vill …) or a
			// chat label (lina: …): informal, read word by word.
			return true
		}
		if i-start == 2 && capEnd != start-1 {
			continue // two letters are a name only after a name (Maria ek)
		}
		if d.lx.mayBeLowerName(h) || d.seenBits[h>>6&(seenBitWords-1)]&(1<<(h&63)) != 0 {
			if !d.lx.isCommon(appendLower(buf[:0], v[start:i])) {
				return true
			}
		}
		if (slow || high) && nonSwedishLetters(v[start:i]) {
			var fb [64]byte
			if d.lx.mayBeLowerName(lowerHash(foldLetters(fb[:0], v[start:i]))) && !d.lx.isCommon(appendLower(buf[:0], v[start:i])) {
				return true
			}
		}
	}
	return false
}

// nonSwedishLetters reports whether w holds a letter outside ASCII and the
// Swedish å, ä, ö, é (in either case): only then may its folded form
// (Mehic for Mehić) be what the lists hold.
func nonSwedishLetters(w []byte) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c < 0x80 {
			continue
		}
		if c == 0xc3 && i+1 < len(w) {
			switch w[i+1] {
			case 0xa5, 0xa4, 0xb6, 0xa9, 0x85, 0x84, 0x96, 0x89:
				i++
				continue
			}
		}
		return true
	}
	return false
}

// informalLine reports whether a clause of line starts with a lower-case
// word of two letters or more, or with a greeting (Hej! Mvh), and the line
// holds two words or more. It looks at the start of the line and after
// ": ", ". ", "! " and "? ", found with bytes.Index, so that formal text
// costs little. With cut the line's start is not its own (a window of a
// stream begins mid-line): only the clauses after a separator count.
func informalLine(line []byte, cut bool) bool {
	if len(line) < 5 {
		return false
	}
	if !severalWords(line) {
		// "/jari" alone on its line signs a message; "lina: ja" is a
		// chat line.
		return !cut && (signoffLine(line) || chatLabelLine(line) || headerLine(line))
	}
	if !cut && clauseInformal(line, 0) {
		return true
	}
	for _, sep := range clauseSeps {
		for at := 0; ; {
			k := bytes.Index(line[at:], sep)
			if k < 0 {
				break
			}
			at += k + 2
			if clauseInformal(line, at) {
				return true
			}
		}
	}
	return false
}

// signoffLine reports whether line is a slash and one lower-case word.
func signoffLine(line []byte) bool {
	i := 0
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i+2 >= len(line) || line[i] != '/' {
		return false
	}
	l, u, _ := letterAt(line, i+1)
	return l && !u && wordEnd(line, i+1) == len(line)
}

// chatLabelLine reports whether line starts with a lower-case word, a
// colon, a space and a letter, after a time stamp perhaps ("[19:11] tindra:
// hahaha").
func chatLabelLine(line []byte) bool {
	i := 0
	for i < len(line) && i < 24 && line[i] < 0x80 && !isASCIILetter(line[i]) {
		i++
	}
	if i >= len(line) {
		return false
	}
	if l, u, _ := letterAt(line, i); !l || u {
		return false
	}
	e := wordEnd(line, i)
	if e+2 >= len(line) || line[e] != ':' || line[e+1] != ' ' {
		return false
	}
	l, _, _ := letterAt(line, e+2)
	return l
}

// lowerPlaceName reports whether ws[j] is part of a place named after a
// person, written in lower case: after a venue's noun ("rum astrid
// lindgren", "sal dag hammarskjöld"), or before a possessive and a
// street's or a place's noun ("astrid lindgrens gata 14", "vid selma
// lagerlöfs väg").
func (d *nameDetector) lowerPlaceName(b []byte, ws []lowerWord, j int) bool {
	var lb [24]byte
	word := func(i int) []byte {
		if i < 0 || i >= len(ws) || ws[i].end-ws[i].start > len(lb) {
			return nil
		}
		return appendLower(lb[:0], b[ws[i].start:ws[i].end])
	}
	// A venue's noun right before a given name and a surname, joined by
	// spaces: this word is one of the two. ("vid bordet satt anna" is
	// no room's name: one name alone after a venue's noun is a person.)
	named := func(i int) bool {
		return i >= 0 && i < len(ws) && d.facts(b[ws[i].start:ws[i].end]).flags&(nameFlags|lexForeignGiven|lexForeign) != 0
	}
	for first := j - 1; first <= j; first++ {
		if first < 1 || first+1 >= len(ws) || !ws[first].joined || !ws[first+1].joined {
			continue
		}
		if v := word(first - 1); v != nil && venueNouns[string(v)] && named(first) && named(first+1) {
			return true
		}
	}
	// A possessive, then a place's noun: this word or the next.
	for fwd := 0; fwd <= 1 && j+fwd < len(ws); fwd++ {
		if fwd == 1 && !ws[j+1].joined {
			break
		}
		p := ws[j+fwd]
		if p.end-p.start < 3 || b[p.end-1] != 's' {
			continue
		}
		if ns, ne, ok := nextWordAt(b, p.end); ok && ns == p.end+1 && ne-ns <= len(lb) {
			n := appendLower(lb[:0], b[ns:ne])
			if possessedPlaceNouns[string(n)] || streetWord(n) {
				return true
			}
		}
	}
	return false
}

// streetWord reports whether lower is a street's noun or ends in one:
// gatan, vägen, lagerlöfsvägen.
func streetWord(lower []byte) bool {
	for _, s := range streetSuffixes {
		if bytes.HasSuffix(lower, []byte(s)) {
			return true
		}
	}
	return false
}

// greetsAll reports whether "alla" or "allihop(a)" and then no further
// word follow b[:e]: the word before greets a group ("salam alla!",
// "moikka alla", "Salam alla."), whatever language it is in.
func greetsAll(b []byte, e int) bool {
	for _, g := range []string{" alla", " allihop", " allihopa"} {
		if !bytes.HasPrefix(b[e:], []byte(g)) {
			continue
		}
		a := e + len(g)
		if a == len(b) {
			return true
		}
		if l, _, _ := letterAt(b, a); l {
			continue
		}
		if b[a] == ' ' && a+1 < len(b) {
			if l, _, _ := letterAt(b, a+1); l {
				return false // "Ahmed alla dagar": a word goes on
			}
		}
		return true
	}
	return false
}

// animateVerbAfter reports whether the word after b[:end] is one of
// animateVerbs.
func (d *nameDetector) animateVerbAfter(b []byte, end int) bool {
	s, e, ok := nextWordAt(b, end)
	if !ok || s != end+1 || e-s > 12 {
		return false
	}
	var vb [16]byte
	return animateVerbs[string(appendLower(vb[:0], b[s:e]))]
}

// headerLine reports whether line is one lower-case word and a time of
// day: a Slack export's line above a message ("ibbe  21:04").
func headerLine(line []byte) bool {
	if l, u, _ := letterAt(line, 0); !l || u {
		return false
	}
	return headerTime(line, wordEnd(line, 0), len(line))
}

// severalWords reports whether b holds a space between two letters (or
// bytes of non-ASCII letters): text of more than one word. MayHoldIdentifier
// uses the same test.
func severalWords(b []byte) bool {
	for i := 1; i+1 < len(b); i++ {
		if b[i] == ' ' && (isASCIILetter(b[i-1]) || b[i-1] >= 0x80) && (isASCIILetter(b[i+1]) || b[i+1] >= 0x80) {
			return true
		}
	}
	return false
}

var clauseSeps = [][]byte{[]byte(": "), []byte(". "), []byte("! "), []byte("? ")}

// clauseInformal reports whether the clause at line[at:] starts, after
// digits, brackets and punctuation, with a lower-case word or a greeting.
func clauseInformal(line []byte, at int) bool {
	i := at
	for i < len(line) && i-at < 24 {
		c := line[i]
		if isASCIILetter(c) {
			break
		}
		if c >= 0x80 {
			if l, _, n := letterAt(line, i); !l {
				i += n // an emoji: "👍 tack maud"
				continue
			}
			break
		}
		i++
	}
	if i+1 >= len(line) {
		return false
	}
	l, u, n := letterAt(line, i)
	if !l {
		return false
	}
	if !u {
		// A token (sl_name1_…) stands where a name stood: the clause
		// started with it, in capitals or not, so it tells nothing.
		if e := wordEnd(line, i); e < len(line) && (line[e] == '_' || isDigit(line[e])) {
			return false
		}
		if i+n >= len(line) {
			return false // one letter, or a rune cut at the end
		}
		l2, _, _ := letterAt(line, i+n)
		return l2
	}
	switch line[i] {
	case 'H', 'T', 'M', 'K', 'P': // the greetings' first letters
	default:
		return false
	}
	e := wordEnd(line, i)
	var buf [16]byte
	return e-i <= 10 && greetings[string(appendLower(buf[:0], line[i:e]))]
}

// lowerLine finds the lower-case names in b[ls:le].
func (d *nameDetector) lowerLine(dst []nameMatch, b []byte, ls, le, from, n0 int) []nameMatch {
	ws := d.lower[:0]
	clause, gapStart, broken := true, ls, false
	for i := ls; i < le; {
		var u bool
		switch c := b[i]; byteClass[c] {
		case classOther:
			if (c == ':' || c == '.' || c == '!' || c == '?') && (i+1 >= le || b[i+1] == ' ') {
				clause = true
			}
			i++
			continue
		case classUpper:
			u = true
		case classHigh:
			l, uu, n := letterAt(b, i)
			if !l {
				i += n
				continue
			}
			u = uu
		}
		start := i
		afterCode := broken
		broken = false
		// "/jari" after a blank signs a message; "a/b" is a path.
		signoff := i > 0 && b[i-1] == '/' && (i == 1 || b[i-2] == ' ' || b[i-2] == '\n')
		// "@kevin viljas mamma ringde": a chat's mention of a person, not
		// an address.
		mention := i > 0 && b[i-1] == '@' && (i == 1 || b[i-2] == ' ' || b[i-2] == '\n' || b[i-2] == '(')
		prevCode := i > 0 && (isDigit(b[i-1]) || b[i-1] == '_' || b[i-1] == '@' && !mention || b[i-1] == '/' && !signoff ||
			b[i-1] == '.' && i >= 2 && isASCIILetter(b[i-2]))
		e := wordEnd(b, i)
		userLabel := false
		if prevCode && b[i-1] == '_' && e+1 < le && b[e] == ':' && b[e+1] == ' ' {
			// A user name as a chat label: "fritidsledare_sami: …".
			a := i - 1
			for a > ls && (isASCIILetter(b[a-1]) || b[a-1] == '_') {
				a--
			}
			if userLabel = lineStartBefore(b, a); userLabel {
				prevCode = false
			}
		}
		nextCode := e < len(b) && (isDigit(b[e]) || b[e] == '_' || b[e] == '@' ||
			(b[e] == '.' || b[e] == '/') && e+1 < len(b) && isASCIILetter(b[e+1]))
		if nextCode && !prevCode && b[e] == '_' && lineStartBefore(b, start) {
			// Perhaps a user name that labels a chat line
			// (fritidsledare_sami:): its last part is read on its own.
			gapStart, clause, broken, i = e+1, false, true, e+1
			continue
		}
		if nextCode && !prevCode && !u && b[e] == '.' && lineStartBefore(b, start) {
			if he := d.handleLabel(b, start, e, le); he > 0 {
				// "elin.s: god morgon", "k.olofsson: 15": a chat user
				// name made of a name and an initial.
				if start >= from {
					dst = append(dst, nameMatch{start: start, end: he, rule: ruleLowerHandle})
				}
				d.remember(b[start:e])
				gapStart, clause, broken, i = he, false, true, he
				continue
			}
		}
		if prevCode || nextCode {
			i = skipCode(b, e)
			for i < le && (b[i] == '.' || b[i] == '@' || b[i] == '/' || b[i] == '-') && i+1 < le && isASCIILetter(b[i+1]) {
				i = skipCode(b, i+1)
			}
			gapStart, clause, broken = i, false, true
			continue
		}
		gap := b[gapStart:start]
		joined := len(gap) == 1 && gap[0] == ' ' || len(gap) == 2 && gap[0] == ',' && gap[1] == ' '
		abbrev := e+2 < le && b[e] == '.' && b[e+1] == ' ' && 'a' <= b[e+2] && b[e+2] <= 'z'
		lw := lowerWord{start: start, end: e, upper: u, clauseStart: clause,
			joined: joined && len(ws) > 0 && !afterCode, abbrev: abbrev, signoff: signoff && !nextCode}
		if len(ws) == 0 || clause || userLabel {
			lab := e
			if lab+2 < le && b[lab] == ' ' && 'a' <= b[lab+1] && b[lab+1] <= 'z' && (b[lab+2] == ':' || b[lab+2] == ' ') {
				lab += 2 // "jonas w: …"
			}
			lw.header = headerTime(b, lab, le) && lineStartBefore(b, start) // "yusuf a  21:02"
			untimed := lab
			lab = timeAfter(b, lab) // "senait t 18:33: …"
			lw.speaker = userLabel || lw.header || lab+1 < le && b[lab] == ':' && b[lab+1] == ' ' && lineStartBefore(b, start)
			// The time after the label, as the time before it, says chat log.
			lw.header = lw.header || lw.speaker && lab > untimed
		}
		if !u {
			// Most words are no name in any list: a bit set says so
			// before any map is asked.
			h := lowerHash(b[start:e])
			lw.cand = d.lx.mayBeLowerName(h) || d.seenBits[h>>6&(seenBitWords-1)]&(1<<(h&63)) != 0
			if !lw.cand && e-start > 4 && b[e-1] == 's' {
				// lindbergs, karimis: a name's possessive.
				lw.cand = d.lx.mayBeLowerName(lowerHash(b[start : e-1]))
			}
			if !lw.cand && nonSwedishLetters(b[start:e]) {
				// mehić: the lists may hold it as Mehic.
				var buf [64]byte
				lw.cand = d.lx.mayBeLowerName(lowerHash(foldLetters(buf[:0], b[start:e])))
			}
			lw.greet = greetingBits[h>>6&3]&(1<<(h&63)) != 0 && greetings[string(b[start:e])]
		}
		ws = append(ws, lw)
		clause = false
		gapStart, i = e, e
	}
	// Words the capitalised scan found are names here too (dst[n0:] is in
	// text order).
	k := n0 + sort.Search(len(dst)-n0, func(k int) bool { return dst[n0+k].start >= ls })
	for j := range ws {
		for k < len(dst) && dst[k].start < ws[j].start {
			k++
		}
		if k < len(dst) && dst[k].start == ws[j].start {
			ws[j].name = true
		}
	}
	for j := range ws {
		w := &ws[j]
		if !w.upper && !w.name && j > 0 && ws[j-1].name && w.joined && b[w.start-1] == ' ' &&
			runeLen(b[w.start:w.end]) == 1 && d.lowerInitial(b, w.start, w.end, le) {
			// "omid r: morrn", "liam s, liam k": a surname's initial
			// after a given name.
			w.name = true
			if w.start >= from {
				dst = append(dst, nameMatch{start: w.start, end: w.end, rule: ruleLowerInitial})
			}
			continue
		}
		// Two letters are a name after a name, or as a chat label with its
		// initial: "bo n: kan köra efter 14".
		twoLetterLabel := w.speaker && w.end+2 < len(b) && b[w.end] == ' ' && b[w.end+2] == ':'
		if w.upper || w.name || w.end-w.start < 2 || w.end-w.start < 3 && !(j > 0 && ws[j-1].name) && !twoLetterLabel {
			continue
		}
		if !w.cand && !(j > 0 && w.joined && (ws[j-1].greet ||
			w.end-w.start >= 4 && !ws[j-1].name && d.facts(b[ws[j-1].start:ws[j-1].end]).strongCue)) &&
			!(w.speaker && d.chatSpeakers() >= 2) && !(w.end-w.start >= 7 && d.strongSurnameEnd(b[w.start:w.end])) {
			continue
		}
		if rule := d.lowerName(b, ws, j); rule != "" {
			w.name = true
			if w.speaker && (stampBefore(b, w.start) || w.header) {
				d.noteSpeaker(lowerHash(b[w.start:w.end]))
			}
			end := w.end
			if d.facts(b[w.start:w.end]).possessive {
				end-- // lindbergs: the name is Lindberg's, the s stays
			}
			d.remember(b[w.start:end])
			if w.start >= from {
				dst = append(dst, nameMatch{start: w.start, end: end, rule: rule})
			}
		}
	}
	// "s. lindqvist kan du …": a given name's initial, with its dot,
	// before a surname found here.
	for j := 0; j+1 < len(ws); j++ {
		w, n := &ws[j], ws[j+1]
		if w.upper || w.name || w.end-w.start != 1 || n.start != w.end+2 || b[w.end] != '.' || n.upper {
			continue
		}
		nf := d.facts(b[n.start:n.end])
		if nf.flags&(lexSurname|lexForeign|lexWorld) == 0 || !n.name && (nf.common || nf.flags&lexPlace != 0) {
			continue
		}
		switch b[w.start] {
		case 'f', 'd', 'm', 't', 'o', 'p', 'e', 'v':
			continue // f. Andersson (född), m. Fatuma (med), t. Karlsson (till)
		}
		w.name = true
		if w.start >= from {
			dst = append(dst, nameMatch{start: w.start, end: w.end, rule: ruleLowerInitial})
		}
		if !n.name {
			// "s. sultani": the surname, which a weak list holds, with it.
			ws[j+1].name = true
			d.remember(b[n.start:n.end])
			if n.start >= from {
				dst = append(dst, nameMatch{start: n.start, end: n.end, rule: ruleLowerSurname})
			}
		}
	}
	d.lower = ws
	return dst
}

// handleLabel returns the end of the chat label's user name that starts
// at b[start:dot], "elin.s:" or "k.olofsson:", when it is two parts in
// lower case joined by a dot, one a name of the lists that is no ordinary
// word and the other that or one letter, before ": ". Otherwise 0.
func (d *nameDetector) handleLabel(b []byte, start, dot, le int) int {
	e := dot + 1
	for e < le && 'a' <= b[e] && b[e] <= 'z' || e < le && b[e] >= 0x80 {
		if b[e] >= 0x80 {
			l, u, n := letterAt(b, e)
			if !l || u {
				return 0
			}
			e += n
			continue
		}
		e++
	}
	if e == dot+1 || e+1 >= le || b[e] != ':' || b[e+1] != ' ' {
		return 0
	}
	name := func(w []byte) bool {
		wf := d.facts(w)
		return len(w) >= 3 && !wf.common && wf.flags&(nameFlags|lexForeignGiven) != 0 && wf.flags&lexPlace == 0
	}
	first, second := b[start:dot], b[dot+1:e]
	switch {
	case name(first) && (runeLen(second) == 1 || name(second)),
		runeLen(first) == 1 && name(second):
		return e
	}
	return 0
}

// lowerGivenCue reports whether ws[j], a relation word that is a given
// name too (bror, mor), is the given name: right before a surname of the
// lists that is no ordinary word, with no possessive or article before it
// ("min bror lindström" is a brother; "bror lindström haha" is Bror).
func (d *nameDetector) lowerGivenCue(b []byte, ws []lowerWord, j int) bool {
	if j+1 >= len(ws) || !ws[j+1].joined || ws[j+1].upper || ws[j+1].start != ws[j].end+1 {
		return false
	}
	nf := d.facts(b[ws[j+1].start:ws[j+1].end])
	if nf.flags&lexSurname == 0 || nf.common || nf.flags&lexPlace != 0 || nf.cue {
		return false
	}
	if j > 0 && ws[j].joined {
		var lb [12]byte
		if p := b[ws[j-1].start:ws[j-1].end]; len(p) <= len(lb) {
			l := appendLower(lb[:0], p)
			if possessivePronouns[string(l)] || string(l) == "sin" || string(l) == "en" || d.facts(p).strongCue {
				return false
			}
		}
	}
	return true
}

// lowerInitial reports whether the one lower-case letter b[s:e], a space
// after a name, is the initial of that person's surname: before a chat
// label's colon, a mark that ends the name, a bracket, or a verb whose
// subject the name is (liam s är sjuk). Not i, å, ö, o or e, which are
// words of their own (i, å, ö; o and e for och and eh in chat) unless a
// colon or a mark closes them.
func (d *nameDetector) lowerInitial(b []byte, s, e, le int) bool {
	if e == le {
		return true
	}
	switch b[e] {
	case ':', ',', ')', ';', '!', '?':
		return true
	case '.':
		if b[s] == 'f' || b[s] == 'd' {
			return false // "Elsa Sjöblom f. Andersson": född, död
		}
		return e+1 == le || b[e+1] == ' ' || b[e+1] == '\n'
	case ' ':
		if e+1 < le && b[e+1] == '(' {
			return true
		}
		if t := timeAfter(b, e); t > e && t < le && b[t] == ':' || headerTime(b, e, le) {
			return true // "ahmed k 20:45: hej", a Slack export's "yusuf a  21:02"
		}
		switch string(b[s:e]) {
		case "i", "å", "ö", "o", "e":
			return false
		}
		ok, _ := d.verbFollows(b, e)
		return ok
	}
	return false
}

// headerTimeAt is headerTime to the end of the line at b[i].
func headerTimeAt(b []byte, i int) bool {
	le := len(b)
	if n := bytes.IndexByte(b[i:], '\n'); n >= 0 {
		le = i + n
	}
	return headerTime(b, i, le)
}

// headerTime reports whether b[i:le], the rest of a line after a chat
// label, is one to three spaces and a time of day alone: the line a Slack
// export writes above each message ("yusuf a  21:02", "bengt-åke 08:20",
// "Sami H 8:02 AM").
func headerTime(b []byte, i, le int) bool {
	if le > i && b[le-1] == '\r' {
		le--
	}
	n := 0
	for i < le && b[i] == ' ' && n < 3 {
		i++
		n++
	}
	if n == 0 || i >= le || !isDigit(b[i]) {
		return false
	}
	t := timeAfter(b, i-1)
	if t == i-1 {
		return false
	}
	if t+3 == le && b[t] == ' ' && (b[t+1] == 'A' || b[t+1] == 'P') && b[t+2] == 'M' {
		t = le
	}
	return t == le
}

// maxChatSpeakers bounds the speaker labels a stream keeps (see
// noteSpeaker): two are all the rule asks for.
const maxChatSpeakers = 4

// noteSpeaker notes h, the lowerHash of a lower-case chat label after a
// time stamp that was found as a name; distinct labels are counted, so
// that a window read twice counts none twice.
func (d *nameDetector) noteSpeaker(h uint32) {
	for _, x := range d.speakers {
		if x == h {
			return
		}
	}
	if len(d.speakers) < maxChatSpeakers {
		d.speakers = append(d.speakers, h)
	}
}

// chatSpeakers returns how many distinct lower-case chat labels were
// found as names, up to maxChatSpeakers.
func (d *nameDetector) chatSpeakers() int { return len(d.speakers) }

// stampBefore reports whether a digit (a time stamp) stands between the
// start of the line and i.
func stampBefore(b []byte, i int) bool {
	ls := bytes.LastIndexByte(b[:i], '\n') + 1
	for _, c := range b[ls:i] {
		if isDigit(c) {
			return true
		}
	}
	return false
}

// chatStampLine reports whether line starts like a chat export's message:
// a timestamp ("[08:08]", "12/05/2024, 18:40 -", "2024-11-18 07:02")
// and, within the next 80 bytes, a speaker's ": ".
func chatStampLine(line []byte) bool {
	i := 0
	if i < len(line) && line[i] == '[' {
		i++
	}
	if i+4 >= len(line) || !isDigit(line[i]) || !isDigit(line[i+1]) {
		return false
	}
	end := min(len(line), 80)
	return bytes.Contains(line[i:end], []byte(": ")) && bytes.IndexByte(line[i:min(len(line), 24)], ':') > 0
}

// chatLabelWords are lower-case line labels of chats and notes that are
// no one's name.
var chatLabelWords = map[string]bool{
	"obs": true, "ps": true, "info": true, "admin": true, "system": true, "bot": true, "tips": true,
	"ok": true, "svar": true, "fråga": true, "ang": true, "re": true, "fw": true, "sv": true, "notis": true,
	"påminnelse": true, "meddelande": true, "status": true, "uppdatering": true, "moderator": true,
}

// lowerNotNames are lower-case words that some name list holds but that in
// Swedish text are an abbreviation or a language: "3 rok" (rum och kök),
// "tolk dari".
var lowerNotNames = map[string]bool{
	"rok": true, "rk": true, "kvm": true, "lgh": true,
	"dari": true, "farsi": true, "pashto": true, "urdu": true, "hindi": true, "sorani": true,
	"kurmanji": true, "badinani": true, "tigrinja": true, "tigrinya": true, "amhara": true,
	"oromo": true, "somali": true, "swahili": true, "lingala": true, "wolof": true, "tamil": true,
	"bengali": true, "punjabi": true, "thai": true, "dari/farsi": true,
}

// tellVerbs, before "till", make the word after it the person told, called
// or sent to: "säger till dmytro", "ringde till iris".
var tellVerbs = map[string]bool{
	"säger": true, "sa": true, "sade": true, "sagt": true, "säg": true, "ringer": true, "ringde": true,
	"ringt": true, "ring": true, "skickar": true, "skickade": true, "skickat": true, "skicka": true,
	"mejla": true, "mejlade": true, "maila": true, "mailade": true, "skriv": true, "skrev": true,
	"hälsa": true, "lämna": true, "lämnade": true, "gav": true, "ge": true, "ger": true,
	"berätta": true, "berättade": true, "visa": true, "visade": true,
}

// personObjectVerbs take a person as their object: "kan nån skjutsa
// vide", "vi tar vide", "hämtar saga kl 5".
var personObjectVerbs = map[string]bool{
	"skjutsa": true, "skjutsar": true, "skjutsade": true, "hämta": true, "hämtar": true,
	"hämtade": true, "hämtat": true, "tar": true, "träffa": true, "träffar": true, "träffade": true,
	"krama": true, "pussa": true, "väcka": true, "väckte": true, "följa": true, "följer": true,
	"be": true, "hjälpa": true, "hjälp": true, "hjälper": true, "hjälpte": true,
}

// lowerAdverbs are ordinary words that are surnames too but after a given
// name in lower case are the sentence's adverb: "ta med ahmed hem".
var lowerAdverbs = map[string]bool{
	"hem": true, "hemma": true, "hit": true, "dit": true, "bort": true, "borta": true, "fram": true,
	"ute": true, "inne": true, "uppe": true, "nere": true, "tillbaka": true, "igen": true,
	"ensam": true, "själv": true, "också": true,
}

// lowerName decides the lower-case word ws[j] (ws[:j] are decided) and
// returns the rule that makes it a name, or "".
func (d *nameDetector) lowerName(b []byte, ws []lowerWord, j int) string {
	w := ws[j]
	wf := d.facts(b[w.start:w.end])
	if wf.cue && wf.flags&lexGiven != 0 && d.lowerGivenCue(b, ws, j) {
		return ruleLowerGivenSurname // "bror lindström": Bror, not a brother
	}
	if wf.cue || wf.function || wf.preposition || wf.inPreposition || wf.conjunction || wf.calendar ||
		wf.venue || wf.org || wf.company || wf.internalCap || nameParticles[string(b[w.start:w.end])] ||
		lowerNotNames[string(b[w.start:w.end])] || wf.possessive && wf.common || wf.fieldLabel ||
		w.clauseStart && greetsAll(b, w.end) || d.lowerPlaceName(b, ws, j) {
		return "" // … and in lower case an ordinary word with an s is that word: finns
	}
	f := wf.flags
	place := f&lexPlace != 0
	english := f&lexEnglish != 0
	if !wf.common && !place && (f&nameFlags != 0 || f&lexForeign != 0 && !english && !w.abbrev && !d.lowerStrict) {
		return ruleLowerList // jenny, karlsson, peter, mirja, demir
	}
	if wf.seen && !wf.common {
		return ruleLowerSeen // the document has used it as a name
	}
	var prev, next wordFacts
	var prevLower []byte
	if j > 0 && w.joined {
		p := ws[j-1]
		prev = d.facts(b[p.start:p.end])
		if p.name {
			// "Bror ville ha hjälp": a relation word found as a name is
			// the person, not a cue for the word after it.
			prev.cue, prev.strongCue = false, false
		}
		prevLower = appendLower(d.lowerBuf[:0], b[p.start:p.end])
		d.lowerBuf = prevLower
	}
	hasNext := j+1 < len(ws) && ws[j+1].joined && !ws[j+1].upper
	if hasNext {
		next = d.facts(b[ws[j+1].start:ws[j+1].end])
	}
	// "min man dariush": man after a possessive is the husband.
	husband := string(prevLower) == "man" && j >= 2 && ws[j-1].joined &&
		possessivePronouns[string(appendLower(nil, b[ws[j-2].start:ws[j-2].end]))]
	// "mamma till nova": a relation and "till" name the person after them,
	// as a verb of telling or sending does ("säger till dmytro").
	relationTill := false
	if string(prevLower) == "till" && j >= 2 && ws[j-1].joined && !ws[j-2].name {
		pp := b[ws[j-2].start:ws[j-2].end]
		var lb [16]byte
		relationTill = d.facts(pp).strongCue || len(pp) <= len(lb) && tellVerbs[string(appendLower(lb[:0], pp))] // Ringde till iris
	}
	// "nyckel hos stig", "skjutsa vide": a given name after "hos" or
	// after a verb whose object is a person.
	objectCue := (string(prevLower) == "hos" || personObjectVerbs[string(prevLower)]) && !wf.definite &&
		(f&lexGiven != 0 || f&lexForeignGiven != 0 && !wf.common && !place)
	// "det är amra på resecentrum", "hej det är leyla": a person says who
	// she is or who someone is.
	if string(prevLower) == "är" && j >= 2 && ws[j-1].joined && !place && !wf.common && !wf.definite {
		var lb [8]byte
		if pp := b[ws[j-2].start:ws[j-2].end]; len(pp) <= len(lb) {
			switch string(appendLower(lb[:0], pp)) {
			case "det", "detta", "här", "hon", "han":
				objectCue = f&(lexGiven|lexForeignGiven|lexForeign|lexWorld) != 0
			}
		}
	}
	cue := prev.cue || lowerCues[string(prevLower)] || husband || relationTill || objectCue
	strongCue := prev.strongCue || lowerCues[string(prevLower)] || husband || relationTill || objectCue
	prevName := j > 0 && w.joined && ws[j-1].name
	evidence := f&(nameFlags|lexForeign|lexWorld|lexForeignGiven) != 0 || wf.seen
	// The next word is a name by the lists (serkan demir).
	nextName := hasNext && !next.common && next.flags&lexPlace == 0 &&
		next.flags&(nameFlags|lexForeign|lexWorld) != 0
	// "god man (strömqvist)": a role, then its holder in a bracket.
	parenCue := j > 0 && w.start >= 2 && b[w.start-1] == '(' && b[w.start-2] == ' ' && ws[j-1].end == w.start-2 &&
		w.end < len(b) && b[w.end] == ')' && (d.facts(b[ws[j-1].start:ws[j-1].end]).strongCue ||
		bytes.HasSuffix(b[:ws[j-1].end], []byte("god man")))
	switch {
	case f == 0 && !wf.common && !wf.seen && (prevName || strongCue || parenCue) && w.end-w.start >= 7 &&
		d.strongSurnameEnd(b[w.start:w.end]):
		// No list holds it, but its ending says surname, after a given
		// name or a cue: "nour lindström", "god man (strömqvist)".
		return ruleLowerSurname
	case parenCue && evidence && !wf.common:
		return ruleLowerCue
	case w.abbrev && !(strongCue && f&(lexGiven|lexForeignGiven) != 0):
		return "" // ang. hämtning: an abbreviation, unless a list is sure or a cue says person
	case w.speaker && f&(lexGiven|lexForeignGiven) != 0 && (!english || f&lexGiven != 0):
		// [19:10] lina: har nån sett min jacka; a Swedish given name that
		// is an English word too (saga, mats, rune) is still one here.
		return ruleLowerSpeaker
	case w.speaker && d.chatSpeakers() >= 2 && (stampBefore(b, w.start) || w.header && (!wf.common || f&nameFlags != 0)) &&
		!wf.definite && (!place || f&nameFlags != 0) &&
		w.end-w.start >= 3 && w.end-w.start <= 12 && !chatLabelWords[string(b[w.start:w.end])]:
		// [19:03] tindra: ja!! — in a chat whose other lower-case labels
		// are names, a label is a name even when it is an ordinary word.
		return ruleLowerSpeakers
	case !wf.common && !place && evidence:
		// The weaker lists: with a cue, another name, or as the subject
		// after a verb (idag kommer jovana).
		// In a chat line written with capitals only a cue will do: its
		// lower-case words are as often another language's (I can come
		// at 18, Xin lỗi).
		if cue || !d.lowerStrict && (prevName || nextName || subjectVerbs[string(prevLower)]) {
			return ruleLowerContext
		}
	case evidence && !wf.definite && (strongCue || greetings[string(prevLower)] || w.signoff || d.kinBracket(b, w.end) ||
		kryaBefore(b, w.start)) && // krya på emir!
		(!wf.common || f&(lexGiven|lexForeignGiven|lexSurname) != 0):
		return ruleLowerCue // pappa stig, min dotter nova, hej saga
	case prevName && f&lexSurname != 0 && ws[j-1].end+1 == w.start &&
		!(wf.common && b[w.end-1] == 'a') && !lowerAdverbs[string(b[w.start:w.end])]:
		// maria holm, rasmus ek (not "Ayla vara ledig": an infinitive)
		if d.facts(b[ws[j-1].start:ws[j-1].end]).flags&(lexGiven|lexForeignGiven) != 0 {
			return ruleLowerSurname
		}
	case f&lexGiven != 0 && hasNext && ws[j+1].start == w.end+1 && next.flags&lexSurname != 0 && !next.common &&
		next.flags&lexPlace == 0 && !wf.definite:
		// hos bror ekström: an ordinary word that is a given name, before
		// a surname no dictionary holds.
		return ruleLowerGivenSurname
	case f&(lexGiven|lexForeignGiven) != 0 && (!english || f&lexGiven != 0) &&
		(w.clauseStart || string(prevLower) == "och" && j >= 2 && ws[j-2].name && ws[j-1].joined):
		// stig vill att hon handlar, saga är sjuk idag; vilja och saga
		// åker med oss (the second after a name and "och"). A month
		// needs a verb only a person's: "juni väntar", not "juni har 30
		// dagar".
		if ok, _ := d.verbFollows(b, w.end); ok && (!monthNames[string(b[w.start:w.end])] || d.animateVerbAfter(b, w.end)) {
			return ruleLowerVerb
		}
		if w.clauseStart && hasNext && ws[j+1].start == w.end+1 && string(b[ws[j+1].start:ws[j+1].end]) == "och" &&
			j+2 < len(ws) && ws[j+2].joined && !ws[j+2].upper {
			if pf := d.facts(b[ws[j+2].start:ws[j+2].end]); pf.flags&(lexGiven|lexForeignGiven) != 0 && !pf.definite {
				if ok, _ := d.verbFollows(b, ws[j+2].end); ok {
					return ruleLowerVerb // vilja och saga åker
				}
			}
		}
	case f == 0 && !wf.common && !wf.commonCompound && (greetings[string(prevLower)] || w.signoff ||
		prev.strongCue && w.end-w.start >= 4 && !wf.definiteCompound):
		// mvh kicki; chauffören mirsad
		return ruleLowerGreet // mvh kicki
	}
	return ""
}
