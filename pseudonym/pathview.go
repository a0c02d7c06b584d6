package pseudonym

import "bytes"

// File names and paths: people name files after people
// (karin_johansson_utredning.pdf, intyg-mohammed-ali.pdf,
// S:\Ärenden\Karlsson_Birgitta\utredning.docx, ansokan%20mirjam%20lindholm.docx),
// and there the words are joined by '_', '-', '%20' and path separators
// that the word scanners read as parts of a code. The name detector reads
// such a token through a view of the same length in which the separators
// are blanks: a path separator ends a line (each directory and file name
// is read as a line of its own), '_', '-' between letters, an escaped
// space and the dot of the extension become spaces. Only the view
// changes; the tokens replace the same bytes of the text.

// fileNameView blanks the separators of one file name or path segment in
// v, in place: '_' and '-' between letters, and the dot before a final
// extension of one to five letters or digits. Tokens keep their '_'.
func fileNameView(v []byte) {
	for i := 0; i < len(v); i++ {
		if v[i] == 's' {
			if _, _, end, ok := parseToken(v, i); ok {
				i = end - 1
				continue
			}
		}
		switch v[i] {
		case '_', '-':
			if i > 0 && i+1 < len(v) && isLetterByte(v[i-1]) && isLetterByte(v[i+1]) {
				v[i] = ' '
			}
		}
	}
	if k := extensionDot(v); k > 0 {
		v[k] = ' '
	}
}

func isLetterByte(c byte) bool { return isASCIILetter(c) || c >= 0x80 }

// extensionDot returns the index of the dot before a final extension of v
// (one to five ASCII letters or digits, at least one a letter, after a
// letter or digit), or -1.
func extensionDot(v []byte) int {
	k := bytes.LastIndexByte(v, '.')
	if k < 1 || len(v)-k-1 < 1 || len(v)-k-1 > 5 || !(isLetterByte(v[k-1]) || isDigit(v[k-1])) {
		return -1
	}
	letter := false
	for _, c := range v[k+1:] {
		switch {
		case isASCIILetter(c):
			letter = true
		case isDigit(c):
		default:
			return -1
		}
	}
	if !letter {
		return -1
	}
	return k
}

// pathView returns b with the separators of its paths and file names
// blanked (see fileNameView), or b itself when it holds none; buf is
// reused for the copy. A path is a run of non-blank bytes with two path
// separators or more ('/' or '\'), or a file name: one that ends in an
// extension and holds a path separator, '_', an escaped space, or a '-'
// between letters. "och/eller", "SoL/LSS" and "t.ex." are none of these.
func pathView(b, buf []byte) ([]byte, []byte) {
	view := b
	copied := false
	seps := [...]byte{'/', '\\', '_', '.'}
	var next [len(seps)]int // next index of each separator at or after at
	for i, c := range seps {
		next[i] = indexFrom(b, 0, c)
	}
	for at := 0; ; {
		k := len(b)
		for i := range next {
			if next[i] < at {
				next[i] = indexFrom(b, at, seps[i])
			}
			k = min(k, next[i])
		}
		if k == len(b) {
			break
		}
		if b[k] == '.' && !extensionAt(b, k) {
			at = k + 1 // a full stop, a decimal, a domain: no extension here
			continue
		}
		a, e := k, k+1
		for a > 0 && !isBlankByte(b[a-1]) {
			a--
		}
		for e < len(b) && !isBlankByte(b[e]) {
			e++
		}
		at = e
		t := trimTokenPunct(b[a:e])
		if !pathLike(t) {
			continue
		}
		if !copied {
			buf = append(buf[:0], b...)
			view, copied = buf, true
		}
		blankPath(view[a : a+len(t)])
	}
	return view, buf
}

// indexFrom returns the index of c in b at or after i, or len(b).
func indexFrom(b []byte, i int, c byte) int {
	if k := bytes.IndexByte(b[i:], c); k >= 0 {
		return i + k
	}
	return len(b)
}

// extensionAt reports whether the dot at b[k] may start a file name's
// extension: one to five letters or digits after it, then the end of the
// token.
func extensionAt(b []byte, k int) bool {
	e := k + 1
	for e < len(b) && e-k <= 6 && (isASCIILetter(b[e]) || isDigit(b[e])) {
		e++
	}
	return e > k+1 && e-k <= 6 && (e == len(b) || isBlankByte(b[e]) || b[e] == ',' || b[e] == '.' || b[e] == ';' || b[e] == ':' || b[e] == '!' || b[e] == '?')
}

func isBlankByte(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '"' || c == '\'' || c == '(' || c == ')' || c == '<' || c == '>'
}

// trimTokenPunct drops the punctuation that may end a sentence after a
// path: "se arkiv/a_b.pdf." or "(a_b.pdf)".
func trimTokenPunct(t []byte) []byte {
	for len(t) > 0 {
		switch t[len(t)-1] {
		case '.', ',', ';', ':', '!', '?':
			t = t[:len(t)-1]
			continue
		}
		break
	}
	return t
}

func pathLike(t []byte) bool {
	seps := bytes.Count(t, []byte{'/'}) + bytes.Count(t, []byte{'\\'})
	if seps >= 2 {
		return true
	}
	if extensionDot(t) < 0 {
		return false
	}
	if seps == 1 || bytes.Contains(t, []byte("%20")) {
		return true
	}
	for i := 1; i+1 < len(t); i++ {
		if (t[i] == '_' || t[i] == '-') && isLetterByte(t[i-1]) && isLetterByte(t[i+1]) {
			return true
		}
	}
	return false
}

// blankPath blanks the separators of the path t in place: each segment
// through fileNameView, the separators themselves as line ends, an escaped
// space as three spaces.
func blankPath(t []byte) {
	for i := 0; i+2 < len(t); i++ {
		if t[i] == '%' && t[i+1] == '2' && t[i+2] == '0' {
			t[i], t[i+1], t[i+2] = ' ', ' ', ' '
		}
	}
	s := 0
	for i := 0; i <= len(t); i++ {
		if i == len(t) || t[i] == '/' || t[i] == '\\' {
			fileNameView(t[s:i])
			if i < len(t) {
				t[i] = '\n'
			}
			s = i + 1
		}
	}
}
