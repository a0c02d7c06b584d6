package pseudonym

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The word lists are derived at development time; see data/README.md.
//
//go:embed data/given.txt data/surnames.txt data/foreign.txt data/foreign_given.txt data/world.txt.gz data/english.txt data/places.txt data/products.txt data/common.txt.gz
var dataFS embed.FS

// Lexicon classes, as bit flags: one word may be several things (Lund is a
// surname and a town, Björn a given name and an animal).
const (
	lexGiven        uint8 = 1 << iota // Swedish given name
	lexSurname                        // Swedish surname
	lexForeign                        // name in another language's lists (weaker evidence)
	lexPlace                          // place, organisation or other proper noun
	lexWorld                          // only in the large many-country list (weaker still)
	lexForeignGiven                   // a given name in another language's lists
	lexEnglish                        // a name that is also an ordinary English word (Will, Key)
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
	// commonSet finds a word in common in one or two probes, where a binary
	// search over 800 000 entries costs ~20 cache misses. It is an
	// open-addressing hash set: a slot holds the entry's index + 1 in its
	// low idxBits bits and a tag from the hash above them; 0 is empty.
	// 2^21 slots for ~790 000 words: 8 MiB, built in ~15 ms at load.
	commonSet []uint32
	idxBits   uint
	seed      maphash.Seed
	// lowerNames has the bit lowerHash(w) set for every listed name w (in
	// lower case) that a name written in lower case may be: not an
	// ordinary word, or a given name or surname even so (stig, holm).
	lowerNames []uint64
	// products holds data/products.txt in lower case.
	products map[string]bool
}

// loadLexicon parses the embedded lists once per process: they are constant
// data, so sharing them is safe, and parsing them costs ~100 ms.
var loadLexicon = sync.OnceValues(func() (*lexicon, error) {
	lx := &lexicon{proper: make(map[string]uint8, 240000)}
	for _, f := range []struct {
		name string
		flag uint8
	}{
		{"data/given.txt", lexGiven},
		{"data/surnames.txt", lexSurname},
		{"data/foreign.txt", lexForeign},
		{"data/foreign_given.txt", lexForeignGiven},
		{"data/world.txt.gz", lexWorld},
		{"data/english.txt", lexEnglish},
		{"data/places.txt", lexPlace},
	} {
		b, err := readData(f.name)
		if err != nil {
			return nil, err
		}
		for len(b) > 0 {
			line := b
			if k := bytes.IndexByte(b, '\n'); k >= 0 {
				line, b = b[:k], b[k+1:]
			} else {
				b = nil
			}
			if w := strings.TrimSpace(string(line)); w != "" {
				lx.proper[titleCase(w)] |= f.flag
			}
		}
	}
	// Products, systems and firms (Procapita, Visma, ICA) are proper nouns
	// but no one's name: like places, unless a list also holds the word
	// as a Swedish name or another language's given name (Tyra, Pascal,
	// Freja), when only the context tells (see productAfterIn). Another
	// language's surname does not count (Tunstall, Schenker).
	prods, err := readData("data/products.txt")
	if err != nil {
		return nil, err
	}
	lx.products = map[string]bool{}
	for _, w := range strings.Fields(string(prods)) {
		lx.products[w] = true
		t := titleCase(w)
		if lx.proper[t]&(lexGiven|lexSurname|lexForeignGiven) == 0 {
			lx.proper[t] |= lexPlace
		}
	}
	// Words that are names for Swedish readers although the lists miss or
	// mistag them are not patched here: fix the sources in data/gen instead.
	blob, err := readData("data/common.txt.gz")
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
	if err := lx.indexCommon(); err != nil {
		return nil, err
	}
	lx.indexLowerNames()
	return lx, nil
})

const lowerNameBits = 1 << 22 // 512 KiB; ~5 % of other words pass

func (lx *lexicon) indexLowerNames() {
	lx.lowerNames = make([]uint64, lowerNameBits/64)
	var buf []byte
	for w, f := range lx.proper {
		buf = appendLower(buf[:0], []byte(w))
		if f&(lexGiven|lexSurname|lexForeignGiven) == 0 && lx.isCommon(buf) {
			continue
		}
		h := lowerHash(buf) & (lowerNameBits - 1)
		lx.lowerNames[h>>6] |= 1 << (h & 63)
	}
}

// mayBeLowerName reports whether the bit of h in lowerNames is set.
func (lx *lexicon) mayBeLowerName(h uint32) bool {
	h &= lowerNameBits - 1
	return lx.lowerNames[h>>6]&(1<<(h&63)) != 0
}

// readData returns an embedded list, gunzipped when its name ends in .gz.
func readData(name string) ([]byte, error) {
	if !strings.HasSuffix(name, ".gz") {
		return dataFS.ReadFile(name)
	}
	gz, err := dataFS.Open(name)
	if err != nil {
		return nil, err
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(bufio.NewReader(zr))
}

// indexCommon builds commonSet, at most half full.
func (lx *lexicon) indexCommon() error {
	n := len(lx.commonOffs)
	lx.idxBits = uint(bits.Len(uint(n)))
	if lx.idxBits > 28 {
		return fmt.Errorf("%d common words are too many to index", n)
	}
	size := 1 << bits.Len(uint(2*n))
	lx.commonSet = make([]uint32, size)
	lx.seed = maphash.MakeSeed()
	for i := range n {
		tag, slot := lx.hash(lx.commonAt(i))
		for lx.commonSet[slot] != 0 {
			slot = (slot + 1) & uint64(size-1)
		}
		lx.commonSet[slot] = tag<<lx.idxBits | uint32(i+1)
	}
	return nil
}

// hash returns the tag and first slot of w in commonSet.
func (lx *lexicon) hash(w []byte) (tag uint32, slot uint64) {
	h := maphash.Bytes(lx.seed, w)
	return uint32(h >> (32 + lx.idxBits)), h & uint64(len(lx.commonSet)-1)
}

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
	tag, slot := lx.hash(lower)
	mask := uint64(len(lx.commonSet) - 1)
	idxMask := uint32(1)<<lx.idxBits - 1
	for {
		v := lx.commonSet[slot]
		if v == 0 {
			return false
		}
		if v>>lx.idxBits == tag && bytes.Equal(lx.commonAt(int(v&idxMask)-1), lower) {
			return true
		}
		slot = (slot + 1) & mask
	}
}

// commonCompound reports whether lower (lower case, not itself an ordinary
// word) is two ordinary words joined, the first perhaps with the linking s
// or without its final e (medborgar|service, test|deltagare,
// försäkrings|kassan): Swedish writes compounds as one word, and the
// dictionary cannot hold them all. Each part has three letters or more.
func (lx *lexicon) commonCompound(lower []byte) bool {
	if len(lower) < 7 || len(lower) > 40 {
		return false
	}
	var buf [48]byte
	for i := 3; i <= len(lower)-3; i++ {
		if !utf8.RuneStart(lower[i]) {
			continue
		}
		if !lx.isCommon(lower[i:]) {
			continue
		}
		a := lower[:i]
		if lx.isCommon(a) {
			return true
		}
		if a[len(a)-1] == 's' && len(a) > 3 && lx.isCommon(a[:len(a)-1]) {
			return true
		}
		if lx.isCommon(append(append(buf[:0], a...), 'e')) {
			return true
		}
	}
	return false
}

// maxUnfold bounds the a's and o's commonUnfolded varies: 3^4 lookups.
const maxUnfold = 4

// commonUnfolded reports whether lower, ASCII, is an ordinary word once
// some of its a's are read as å or ä and its o's as ö: the capitals of a
// register that could not store them (hjalper, behover, aldreboende).
func (lx *lexicon) commonUnfolded(lower []byte) bool {
	var at [maxUnfold]int
	n := 0
	for i, c := range lower {
		if c == 'a' || c == 'o' {
			if n == maxUnfold {
				return false
			}
			at[n] = i
			n++
		}
	}
	if n == 0 || len(lower) > 40 {
		return false
	}
	var buf [2 * 48]byte
	for combo := 1; combo < pow3(n); combo++ {
		w := buf[:0]
		c, k := combo, 0
		ok := true
		for i, ch := range lower {
			if k < n && at[k] == i {
				v := c % 3
				c /= 3
				k++
				switch {
				case v == 0:
					w = append(w, ch)
				case ch == 'a' && v == 1:
					w = append(w, "å"...)
				case ch == 'a':
					w = append(w, "ä"...)
				case v == 1:
					w = append(w, "ö"...)
				default:
					ok = false // o has two readings only
				}
				continue
			}
			w = append(w, ch)
		}
		if ok && lx.isCommon(w) {
			return true
		}
	}
	return false
}

func pow3(n int) int {
	p := 1
	for range n {
		p *= 3
	}
	return p
}

// asciiWord reports whether w is all ASCII.
func asciiWord(w []byte) bool {
	for _, c := range w {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
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
