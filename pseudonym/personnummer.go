package pseudonym

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Personnummer layouts, as written. The layout travels in the token (one
// letter) so that re-identification restores the exact original text, while
// the HMAC is taken over the 12-digit normal form so that every layout of
// one number shares the same token body.
const (
	layoutShortDash byte = 'a' // YYMMDD-NNNC
	layoutShortPlus byte = 'b' // YYMMDD+NNNC (aged 100 or more)
	layoutLongDash  byte = 'c' // YYYYMMDD-NNNC
	layoutLong      byte = 'd' // YYYYMMDDNNNC
	layoutShort     byte = 'e' // YYMMDDNNNC
	layoutLongPlus  byte = 'f' // YYYYMMDD+NNNC (aged 100 or more, as some registers write it)
	// The dash as word processors and typesetters write it: the same
	// number. (A space is no separator: the personnummer/meta test data
	// holds "090527 1474" invalid.)
	layoutShortEnDash byte = 'g' // YYMMDD–NNNC (U+2013)
	layoutLongEnDash  byte = 'h' // YYYYMMDD–NNNC
	layoutShortMinus  byte = 'i' // YYMMDD−NNNC (U+2212)
	layoutLongMinus   byte = 'j' // YYYYMMDD−NNNC
	layoutShortNBHyph byte = 'k' // YYMMDD‑NNNC (U+2011, non-breaking hyphen)
	layoutLongNBHyph  byte = 'l' // YYYYMMDD‑NNNC
	// … and the other dashes of three bytes, so that none is a way past
	// the detector.
	layoutShortHyphen    byte = 'm' // U+2010 hyphen
	layoutLongHyphen     byte = 'n'
	layoutShortFigure    byte = 'o' // U+2012 figure dash
	layoutLongFigure     byte = 'p'
	layoutShortEmDash    byte = 'q' // U+2014 em dash
	layoutLongEmDash     byte = 'r'
	layoutShortFullwidth byte = 's' // U+FF0D fullwidth hyphen-minus
	layoutLongFullwidth  byte = 't'
	layoutFirst               = layoutShortDash
	layoutLast                = layoutLongFullwidth
)

// wideDashes are the dashes of three bytes a personnummer may be written
// with, and their layouts (short, long).
var wideDashes = [...]struct {
	sep         string
	short, long byte
}{
	{"\u2013", layoutShortEnDash, layoutLongEnDash},
	{"\u2212", layoutShortMinus, layoutLongMinus},
	{"\u2011", layoutShortNBHyph, layoutLongNBHyph},
	{"\u2010", layoutShortHyphen, layoutLongHyphen},
	{"\u2012", layoutShortFigure, layoutLongFigure},
	{"\u2014", layoutShortEmDash, layoutLongEmDash},
	{"\uff0d", layoutShortFullwidth, layoutLongFullwidth},
}

// separatorAt returns the layout and length of a wide dash at b[j] after n
// digits (6 or 8), or 0, 0.
func separatorAt(b []byte, j, n int) (layout byte, size int) {
	if j+3 > len(b) || b[j] != 0xe2 && b[j] != 0xef {
		return 0, 0
	}
	for _, w := range wideDashes {
		if string(b[j:j+3]) == w.sep {
			if n == 6 {
				return w.short, 3
			}
			return w.long, 3
		}
	}
	return 0, 0
}

// pnrMatch is one personnummer or samordningsnummer found in a text.
type pnrMatch struct {
	start, end int
	layout     byte
	norm       [12]byte // YYYYMMDDNNNC
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isASCIILetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// pnrBoundary reports whether c may stand next to a personnummer: not a digit
// (no longer digit runs) and not a letter (no part of a token or code).
func pnrBoundary(c byte) bool { return !isDigit(c) && !isASCIILetter(c) }

// findPersonnummer appends to dst every valid personnummer or
// samordningsnummer in b that starts at or after from. now decides the
// century of the short layouts.
func findPersonnummer(dst []pnrMatch, b []byte, from int, now time.Time) []pnrMatch {
	return findPersonnummerBefore(dst, b, from, dateRef(now))
}

// dateRef is now's date as the int YYYYMMDD.
func dateRef(now time.Time) int {
	ny, nm, nd := now.Date()
	return ny*10000 + int(nm)*100 + nd
}

// findPersonnummerBefore is findPersonnummer with the date as YYYYMMDD,
// for callers that scan many short values (JSON strings, CSV fields).
func findPersonnummerBefore(dst []pnrMatch, b []byte, from int, ref int) []pnrMatch {
	for i := from; i < len(b); {
		if i = nextDigit(b, i); i == len(b) {
			break
		}
		j := i + 1
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if i > 0 && !pnrBoundary(b[i-1]) {
			i = j
			continue
		}
		n := j - i
		var m pnrMatch
		ok := false
		switch {
		case (n == 6 || n == 8) && j+5 <= len(b) && (b[j] == '-' || b[j] == '+') &&
			isDigit(b[j+1]) && isDigit(b[j+2]) && isDigit(b[j+3]) && isDigit(b[j+4]) &&
			(j+5 == len(b) || pnrBoundary(b[j+5])):
			var d [12]byte
			if n == 6 {
				copy(d[2:8], b[i:j])
			} else {
				copy(d[0:8], b[i:j])
			}
			copy(d[8:], b[j+1:j+5])
			m = pnrMatch{start: i, end: j + 5, norm: d}
			switch {
			case n == 8 && b[j] == '-':
				m.layout = layoutLongDash
				ok = validLong(&m.norm, ref)
			case n == 8 && b[j] == '+':
				// The plus belongs to the short form, but registers write
				// it in the long one too (19090527+1474); the century
				// is given, so the sign only keeps the layout.
				m.layout = layoutLongPlus
				ok = validLong(&m.norm, ref)
			case n == 6 && b[j] == '-':
				m.layout = layoutShortDash
				// "Mobil: 070123-4567": a mobile number (07…) after a
				// phone's label, though it reads as a date of 2007.
				ok = validShort(&m.norm, ref, false) && !(b[i] == '0' && b[i+1] == '7' && phoneContext(b, i))
			case n == 6 && b[j] == '+':
				m.layout = layoutShortPlus
				ok = validShort(&m.norm, ref, true)
			}
		case n == 6 || n == 8:
			lay, size := separatorAt(b, j, n)
			if size == 0 || j+size+4 > len(b) || !isDigit(b[j+size]) || !isDigit(b[j+size+1]) ||
				!isDigit(b[j+size+2]) || !isDigit(b[j+size+3]) || j+size+4 < len(b) && !pnrBoundary(b[j+size+4]) {
				break
			}
			var d [12]byte
			if n == 6 {
				copy(d[2:8], b[i:j])
			} else {
				copy(d[0:8], b[i:j])
			}
			copy(d[8:], b[j+size:j+size+4])
			m = pnrMatch{start: i, end: j + size + 4, norm: d, layout: lay}
			if n == 8 {
				ok = validLong(&m.norm, ref)
			} else {
				ok = validShort(&m.norm, ref, false)
			}
		case (n == 10 || n == 12) && (j == len(b) || pnrBoundary(b[j])):
			var d [12]byte
			m = pnrMatch{start: i, end: j}
			if n == 12 {
				copy(d[:], b[i:j])
				m.norm = d
				m.layout = layoutLong
				ok = validLong(&m.norm, ref)
			} else {
				copy(d[2:], b[i:j])
				m.norm = d
				m.layout = layoutShort
				ok = validShort(&m.norm, ref, false) && !phoneContext(b, i) &&
					!(b[i] == '0' && b[i+1] == '7' && phoneBeside(b, i, j, ref))
			}
		}
		if ok {
			dst = append(dst, m)
			i = m.end
			continue
		}
		i = j
	}
	return dst
}

// nextDigit returns the index of the first ASCII digit in b[i:], or
// len(b). Most text has few digits, so it tests eight bytes at a time.
func nextDigit(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		// XOR maps exactly the digits to bytes below 10; the classic
		// "has a byte less than n" test then finds whether there is one.
		v := binary.LittleEndian.Uint64(b[i:]) ^ (ones * '0')
		if (v-ones*10)&^v&highs != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if isDigit(b[i]) {
			return i
		}
	}
	return i
}

// phoneContext reports whether the ten digits at b[i:] follow a telephone
// cue ("tel", "mobil", "ring" …): 0701234567 can pass every personnummer
// check, so an undelimited ten-digit number right after such a word is
// taken for a phone number.
func phoneContext(b []byte, i int) bool {
	lo := i - 24
	if lo < 0 {
		lo = 0
	}
	if k := bytes.LastIndexByte(b[lo:i], '\n'); k >= 0 {
		lo += k + 1 // the number's own line: "Mobil: …\nPnr: …"
	}
	var buf [24]byte
	w := appendLower(buf[:0], b[lo:i])
	for _, cue := range [...]string{"tel", "tfn", "mobil", "mob:", "ring", "sms", "fax", "växel"} {
		if containsFold(w, cue) {
			return true
		}
	}
	return false
}

// phoneBeside reports whether the line of the digits b[i:j] holds, within
// 64 bytes, another number that can only be a telephone's: one written
// with a mobile prefix (070-…, 073 …), with +46, or ten digits from 07
// that are no personnummer. "Larm: 0701234567 (natt: 0701234569)" lists
// two phones, though the second passes every personnummer check.
func phoneBeside(b []byte, i, j, ref int) bool {
	lo, hi := max(0, i-64), min(len(b), j+64)
	if k := bytes.LastIndexByte(b[lo:i], '\n'); k >= 0 {
		lo += k + 1
	}
	if k := bytes.IndexByte(b[j:hi], '\n'); k >= 0 {
		hi = j + k
	}
	for p := lo; p < hi; p++ {
		if p >= i && p < j {
			p = j
		}
		if p+3 < hi && b[p] == '+' && b[p+1] == '4' && b[p+2] == '6' {
			return true
		}
		if p+4 > hi || b[p] != '0' || b[p+1] != '7' || !isDigit(b[p+2]) || p > 0 && isDigit(b[p-1]) {
			continue
		}
		if (b[p+3] == '-' || b[p+3] == ' ') && isDigit(b[p+4]) {
			return true // 070-123 45 67, 073 123 45 67
		}
		n := p
		for n < hi && isDigit(b[n]) {
			n++
		}
		if n-p == 10 && (n == len(b) || pnrBoundary(b[n])) {
			var d [12]byte
			copy(d[2:], b[p:n])
			if !validShort(&d, ref, false) {
				return true
			}
		}
		p = n
	}
	return false
}

func containsFold(lower []byte, s string) bool {
	for k := 0; k+len(s) <= len(lower); k++ {
		if string(lower[k:k+len(s)]) == s {
			return true
		}
	}
	return false
}

func d2(b []byte) int { return int(b[0]-'0')*10 + int(b[1]-'0') }

// validShort fills in the century of d (YYMMDDNNNC in d[2:]) from ref
// (YYYYMMDD as an int): the most recent century in which the date is not in
// the future, one more century back for '+'. It then checks date and Luhn.
func validShort(d *[12]byte, ref int, plus bool) bool {
	yy, mm, dd := d2(d[2:4]), d2(d[4:6]), d2(d[6:8])
	if dd > 60 {
		dd -= 60
	}
	century := ref / 1000000
	if (century*100+yy)*10000+mm*100+dd > ref {
		century--
	}
	if plus {
		century--
	}
	if century < 18 {
		return false
	}
	d[0] = byte('0' + century/10)
	d[1] = byte('0' + century%10)
	return validDateLuhn(d, ref)
}

// validLong checks a 12-digit YYYYMMDDNNNC.
func validLong(d *[12]byte, ref int) bool {
	c := d2(d[0:2])
	if c < 18 || c > 20 {
		return false
	}
	return validDateLuhn(d, ref)
}

func validDateLuhn(d *[12]byte, ref int) bool {
	for _, c := range d {
		if !isDigit(c) {
			return false
		}
	}
	year := d2(d[0:2])*100 + d2(d[2:4])
	mm, dd := d2(d[4:6]), d2(d[6:8])
	if dd > 60 { // samordningsnummer: day of birth + 60
		dd -= 60
	}
	if mm < 1 || mm > 12 || dd < 1 || dd > daysIn(year, mm) {
		return false // includes organisation numbers, whose "month" is ≥ 20
	}
	if year*10000+mm*100+dd > ref {
		return false
	}
	if d[8] == '0' && d[9] == '0' && d[10] == '0' {
		return false // serial number 000 is never issued
	}
	return luhn(d[2:])
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// luhn checks the mod-10 check digit over ten digits YYMMDDNNNC.
func luhn(ten []byte) bool {
	sum := 0
	for k, c := range ten {
		v := int(c - '0')
		if k%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// appendPersonnummer renders a normalised number in the given layout.
func appendPersonnummer(dst []byte, norm []byte, layout byte) []byte {
	switch layout {
	case layoutShortDash:
		dst = append(dst, norm[2:8]...)
		dst = append(dst, '-')
		return append(dst, norm[8:]...)
	case layoutShortPlus:
		dst = append(dst, norm[2:8]...)
		dst = append(dst, '+')
		return append(dst, norm[8:]...)
	case layoutLongDash:
		dst = append(dst, norm[:8]...)
		dst = append(dst, '-')
		return append(dst, norm[8:]...)
	case layoutLongPlus:
		dst = append(dst, norm[:8]...)
		dst = append(dst, '+')
		return append(dst, norm[8:]...)
	case layoutShort:
		return append(dst, norm[2:]...)
	}
	for _, w := range wideDashes {
		if layout == w.short || layout == w.long {
			dst = appendPnrDate(dst, norm, layout == w.long)
			dst = append(dst, w.sep...)
			return append(dst, norm[8:]...)
		}
	}
	return append(dst, norm...)
}

// appendPnrDate appends the date part of norm: YYYYMMDD when long, else
// YYMMDD.
func appendPnrDate(dst []byte, norm []byte, long bool) []byte {
	if long {
		return append(dst, norm[:8]...)
	}
	return append(dst, norm[2:8]...)
}
