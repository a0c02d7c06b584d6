package pseudonym

import (
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
