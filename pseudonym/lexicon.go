package pseudonym

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The word lists are derived at development time; see data/README.md.
//
//go:embed data/given.txt data/surnames.txt data/foreign.txt data/places.txt data/common.txt.gz
var dataFS embed.FS

// Lexicon classes, as bit flags: one word may be several things (Lund is a
// surname and a town, Björn a given name and an animal).
const (
	lexGiven   uint8 = 1 << iota // Swedish given name
	lexSurname                   // Swedish surname
	lexForeign                   // name in another language's lists (weaker evidence)
	lexPlace                     // place, organisation or other proper noun
)

// lexicon answers "what could this capitalised word be?" and "is this an
// ordinary Swedish word?". It is read-only after load and shared by all
// detectors.
type lexicon struct {
	proper map[string]uint8 // key: the word as listed (title case)
	// common holds every lower-case inflected form hunspell-sv generates, as
	// one sorted, newline-separated blob with offsets: ~13 MB instead of the
	// ~60 MB an 800 000-entry map would take.
	common     []byte
	commonOffs []uint32
}

// loadLexicon parses the embedded lists once per process: they are constant
// data, so sharing them is safe, and parsing them costs ~100 ms.
var loadLexicon = sync.OnceValues(func() (*lexicon, error) {
	lx := &lexicon{proper: make(map[string]uint8, 70000)}
	for _, f := range []struct {
		name string
		flag uint8
	}{
		{"data/given.txt", lexGiven},
		{"data/surnames.txt", lexSurname},
		{"data/foreign.txt", lexForeign},
		{"data/places.txt", lexPlace},
	} {
		b, err := dataFS.ReadFile(f.name)
		if err != nil {
			return nil, err
		}
		for _, w := range strings.Split(string(b), "\n") {
			if w = strings.TrimSpace(w); w != "" {
				lx.proper[titleCase(w)] |= f.flag
			}
		}
	}
	// Words that are names for Swedish readers although the lists miss or
	// mistag them are not patched here: fix the sources in data/gen instead.
	gz, err := dataFS.Open("data/common.txt.gz")
	if err != nil {
		return nil, err
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return nil, err
	}
	blob, err := io.ReadAll(bufio.NewReader(zr))
	if err != nil {
		return nil, err
	}
	lx.common = blob
	lx.commonOffs = make([]uint32, 0, bytes.Count(blob, []byte{'\n'})+1)
	start := 0
	for i, c := range blob {
		if c == '\n' {
			lx.commonOffs = append(lx.commonOffs, uint32(start))
			start = i + 1
		}
	}
	if start < len(blob) {
		lx.commonOffs = append(lx.commonOffs, uint32(start))
	}
	return lx, nil
})

func (lx *lexicon) commonAt(i int) []byte {
	s := lx.commonOffs[i]
	e := len(lx.common)
	if i+1 < len(lx.commonOffs) {
		e = int(lx.commonOffs[i+1])
	}
	b := lx.common[s:e]
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return b
}

// isCommon reports whether lower (already lower-cased) is an ordinary word.
func (lx *lexicon) isCommon(lower []byte) bool {
	i := sort.Search(len(lx.commonOffs), func(i int) bool {
		return bytes.Compare(lx.commonAt(i), lower) >= 0
	})
	return i < len(lx.commonOffs) && bytes.Equal(lx.commonAt(i), lower)
}

// titleCase returns w with its first letter upper-case and the rest lower,
// per hyphen-separated part ("LARS-ERIK" → "Lars-Erik").
func titleCase(w string) string {
	var b strings.Builder
	b.Grow(len(w))
	first := true
	for _, r := range w {
		if r == '-' {
			first = true
			b.WriteRune(r)
			continue
		}
		if first {
			b.WriteRune(unicode.ToUpper(r))
			first = false
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// appendTitle appends the title-case form of w to dst without allocating
// for short words.
func appendTitle(dst, w []byte) []byte {
	first := true
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if c == '-' {
				first = true
			} else if first {
				if 'a' <= c && c <= 'z' {
					c -= 'a' - 'A'
				}
				first = false
			} else if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(w[i:])
		if first {
			r = unicode.ToUpper(r)
			first = false
		} else {
			r = unicode.ToLower(r)
		}
		dst = utf8.AppendRune(dst, r)
		i += n
	}
	return dst
}

// appendLower appends the lower-case form of w to dst.
func appendLower(dst, w []byte) []byte {
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(w[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += n
	}
	return dst
}
