package pseudonym

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The byte-level shortcuts of the scanners must agree with the plain
// definitions they replace.

func TestNextDigit(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	for _, s := range [][]byte{
		all, []byte("/:/:/:/:/:/:/:/:9"), []byte("abcdefghijklmnopq0"), []byte("åäöÅÄÖ éü –”\u00a0 1"),
		[]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a0"), []byte(""), []byte("7"),
	} {
		for i := 0; i <= len(s); i++ {
			want := i
			for want < len(s) && !isDigit(s[want]) {
				want++
			}
			if got := nextDigit(s, i); got != want {
				t.Errorf("nextDigit(%q, %d) = %d, want %d", s, i, got, want)
			}
		}
	}
}

func TestLetterAt(t *testing.T) {
	check := func(b []byte) {
		r, n := utf8.DecodeRune(b)
		l, u, m := letterAt(b, 0)
		if l != unicode.IsLetter(r) || u != (l && unicode.IsUpper(r)) || m != n {
			t.Errorf("letterAt(%q) = %v, %v, %d; want %v, %v, %d", b, l, u, m, unicode.IsLetter(r), unicode.IsUpper(r), n)
		}
	}
	for r := rune(0); r < 0x800; r++ {
		check(utf8.AppendRune(nil, r))
	}
	for _, s := range []string{"\xc3", "\xc3(", "\xc3\xc3", "\xe2\x80", "\xff", "ǅ", "ᾈ", "Ⓐ", "ß"} {
		check([]byte(s))
	}
}

func TestNextUpper(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c), ' ')
	}
	for _, s := range [][]byte{
		all, []byte("abcdefghijklmnopqrstuvwxyz@[`{ Z"), []byte("åäö ßÿ÷ éüabcdefgh Å"), []byte("abcdefghijklmnopé\u00a0"),
		[]byte("abcdefg\xc3"), []byte("\xc3\xc3\x9f"), []byte(""), []byte("A"),
	} {
		for i := 0; i <= len(s); i++ {
			got := nextUpper(s, i)
			// Nothing skipped may be an upper-case letter.
			for j := i; j < got; j++ {
				if l, u, _ := letterAt(s, j); l && u {
					t.Errorf("nextUpper(%q, %d) = %d skips the capital at %d", s, i, got, j)
				}
			}
			if got < len(s) && s[got] < utf8.RuneSelf && !('A' <= s[got] && s[got] <= 'Z') {
				t.Errorf("nextUpper(%q, %d) = %d, not a candidate", s, i, got)
			}
		}
	}
}

// keptWords is what splitWords must keep of all the words: every word that
// is not lower-case and the two words before it.
func keptWords(all []word) []word {
	var kept []word
	for j, w := range all {
		if w.shape != shapeLower ||
			(j+1 < len(all) && all[j+1].shape != shapeLower) ||
			(j+2 < len(all) && all[j+2].shape != shapeLower) {
			kept = append(kept, w)
		}
	}
	return kept
}

func checkSplit(t *testing.T, d, full *nameDetector, s string) {
	b := []byte(s)
	full.splitWords(b)
	want := keptWords(full.words)
	d.splitWords(b)
	if len(d.words) != len(want) {
		t.Fatalf("%q: %d words kept, want %d:\n%v\n%v", s, len(d.words), len(want), d.words, want)
	}
	for k := range want {
		if d.words[k] != want[k] {
			t.Fatalf("%q: word %d = %+v, want %+v", s, k, d.words[k], want[k])
		}
	}
}

func FuzzSplitWords(f *testing.F) {
	lx, err := loadLexicon()
	if err != nil {
		f.Fatal(err)
	}
	d, full := newNameDetector(lx), newNameDetector(lx)
	full.keepAll = true
	long := "vi har haft ett möte om planeringen inför hösten och gick igenom budget, lokaler och bemanning på enheten "
	for _, s := range []string{
		"Hej Anna! 121212-1212", long + "Anna Berg", long + long + "hos A. Andersson, Lars-Eriks bok",
		long + "ab1 cd_ ef-2 gh A. B. " + long + "och Björn", long + "I " + long + "x y Z", "a b c " + long + " Ö",
		long + "\n\n- - - – ” Åsa", long[:70] + "Anna", long + "von Linné", strings.Repeat("ab ", 40) + "A",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkSplit(t, d, full, s) })
}

func TestPlainLen(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	for _, s := range [][]byte{
		all, []byte("abcdefghijklmnop\"q"), []byte("abcdefghijklmnop\\"), []byte("åäöåäöåäöåäö\x1f"),
		[]byte("!!!!!!!!!!!!!!!!#$[]\x7f\x80\xff"), []byte(""), []byte("ab"),
	} {
		for i := 0; i <= len(s); i++ {
			want := i
			for want < len(s) && jsonPlain[s[want]] {
				want++
			}
			if got := i + plainLen(s[i:]); got != want {
				t.Errorf("plainLen(%q) = %d, want %d", s[i:], got-i, want-i)
			}
		}
	}
}

func TestUnquotedLen(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	for _, comma := range []byte{',', ';', '\t', '|'} {
		c := &csvRewriter{comma: comma}
		for _, b := range []byte{comma, '\n', '\r', '"'} {
			c.unquotedStop[b] = true
		}
		for _, s := range [][]byte{
			all, []byte("abcdefghijklmnop;q"), []byte("abcdefghijklmnop,"), []byte("åäöåäöåäöåäö\t"),
			[]byte("Hemtjänst Öst|x\r\n"), []byte(""), []byte("ab"), []byte("abcdefgh\"ijklmnopq"),
		} {
			for i := 0; i <= len(s); i++ {
				want := i
				for want < len(s) && !c.unquotedStop[s[want]] {
					want++
				}
				if got := i + c.unquotedLen(s[i:]); got != want {
					t.Errorf("comma %q: unquotedLen(%q) = %d, want %d", comma, s[i:], got-i, want-i)
				}
			}
		}
	}
}
