package pseudonym

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"strconv"
)

// Kind is the type of identifier a token stands for.
type Kind uint8

const (
	KindPersonnummer Kind = iota + 1 // personnummer or samordningsnummer
	KindName                         // a person's name, or one part of it
)

// Token domains: the KeySource domain names, also written in the token.
const (
	DomainPersonnummer = "pnr"
	DomainName         = "name"
)

func (k Kind) String() string {
	switch k {
	case KindPersonnummer:
		return DomainPersonnummer
	case KindName:
		return DomainName
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Token text form
//
//	sl_pnr<V><L>_<B>    personnummer, e.g. sl_pnr1a_4k2m9xq0b7c1d3ef
//	sl_name<V>_<B>      name,         e.g. sl_name1_p0zr8w3mkt5vh2ya
//
// V is the key version in decimal, L the layout the number was written in
// (a YYMMDD-NNNC, b YYMMDD+NNNC, c YYYYMMDD-NNNC, d YYYYMMDDNNNC,
// e YYMMDDNNNC, f YYYYMMDD+NNNC) and B the first 80 bits of the HMAC in 16 characters of
// lower-case Crockford base32 (0-9, a-z without i l o u).
//
// Only [a-z0-9_] appear, which need no escaping in JSON strings, CSV cells,
// form values (unreserved), URL path segments or file names on any common
// file system, and survive case-insensitive file systems because they are
// already lower case. A token holds letters, so it is never a valid
// personnummer, and the detectors ignore it: the personnummer detector
// needs a non-letter on both sides and the name detector only looks at
// capitalised words, so pseudonymizing is idempotent. TokenPattern finds
// tokens for re-identification. A personnummer that is a JSON number gets
// a numeric token instead, digits only; IsNumberToken describes it.
//
// Truncation: with n distinct values per domain and b bits, the chance of
// any collision is about n²/2^(b+1) (birthday bound). For n = 10⁷,
// n² ≈ 2^46.5, so b = 80 gives 2^46.5/2^81 ≈ 4·10⁻¹¹ — negligible — while 64
// bits would give 2.7·10⁻⁶ and 48 bits 0.16. Collisions are still detected:
// Store.Put refuses a token that is already bound to another original
// (ErrCollision), and the transform fails rather than emit an ambiguous
// token.
const TokenPattern = `sl_(?:pnr[0-9]+[a-t]|name[0-9]+)_[0-9a-hjkmnp-tv-z]{16}`

// TokenPrefix starts every token: text without it has nothing to
// re-identify, so a caller may pass it on without a re-identification pass.
const TokenPrefix = "sl_"

const (
	tokenPrefix  = TokenPrefix
	bodyLen      = 16 // base32 characters = 80 bits
	bodyBytes    = 10
	crockford    = "0123456789abcdefghjkmnpqrstvwxyz"
	macLabelBase = "sluss/pseudonym/v1/"
)

// tokenID identifies a stored mapping: kind, key version and HMAC body. The
// personnummer layout is not part of it: all layouts of one number share a
// mapping.
type tokenID struct {
	kind    Kind
	version int
	body    [bodyLen]byte
}

// storeKey is the key under which a Store keeps the original.
func (id tokenID) storeKey() string {
	return id.kind.String() + strconv.Itoa(id.version) + "_" + string(id.body[:])
}

// appendToken renders the token text; layout is used for personnummer only.
func appendToken(dst []byte, id tokenID, layout byte) []byte {
	dst = append(dst, tokenPrefix...)
	dst = append(dst, id.kind.String()...)
	dst = strconv.AppendInt(dst, int64(id.version), 10)
	if id.kind == KindPersonnummer {
		dst = append(dst, layout)
	}
	dst = append(dst, '_')
	return append(dst, id.body[:]...)
}

var crockfordIndex = func() (t [256]bool) {
	for i := 0; i < len(crockford); i++ {
		t[crockford[i]] = true
	}
	return
}()

// parseToken parses a token starting at b[i] ("sl_…"). It returns the id,
// the layout (personnummer only) and the end offset.
func parseToken(b []byte, i int) (id tokenID, layout byte, end int, ok bool) {
	if !bytes.HasPrefix(b[i:], []byte(tokenPrefix)) {
		return
	}
	// No boundary check before the prefix either: a token may follow an
	// escape (\n, %20) that ends in a letter or digit.
	j := i + len(tokenPrefix)
	switch {
	case bytes.HasPrefix(b[j:], []byte(DomainPersonnummer)):
		id.kind = KindPersonnummer
		j += len(DomainPersonnummer)
	case bytes.HasPrefix(b[j:], []byte(DomainName)):
		id.kind = KindName
		j += len(DomainName)
	default:
		return
	}
	v0 := j
	for j < len(b) && isDigit(b[j]) && j-v0 < 6 {
		id.version = id.version*10 + int(b[j]-'0')
		j++
	}
	if j == v0 || id.version == 0 {
		return
	}
	if id.kind == KindPersonnummer {
		if j >= len(b) || b[j] < layoutFirst || b[j] > layoutLast {
			return
		}
		layout = b[j]
		j++
	}
	if j >= len(b) || b[j] != '_' {
		return
	}
	j++
	if j+bodyLen > len(b) {
		return
	}
	for k := 0; k < bodyLen; k++ {
		if !crockfordIndex[b[j+k]] {
			return
		}
		id.body[k] = b[j+k]
	}
	// No boundary check after the body: it has a fixed length, and a
	// possessive s may follow (Annas → token + "s").
	return id, layout, j + bodyLen, true
}

// macer computes token bodies for one domain and key version. It is not
// safe for concurrent use: each stream makes its own.
type macer struct {
	kind    Kind
	version int
	key     []byte
	h       hash.Hash // made on first use: most requests need no token
	label   []byte
	sum     []byte
}

func newMacer(kind Kind, version int, key []byte) (*macer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("pseudonym: HMAC key for %s version %d is %d bytes, want at least 32", kind, version, len(key))
	}
	return &macer{
		kind:    kind,
		version: version,
		key:     key,
		// Domain separation: the label differs per kind even if a key
		// source hands out the same key for both.
		label: []byte(macLabelBase + kind.String() + "\x00"),
		sum:   make([]byte, 0, sha256.Size),
	}, nil
}

// id returns the token id of a normalised value.
func (m *macer) id(value []byte) tokenID {
	if m.h == nil {
		m.h = hmac.New(sha256.New, m.key)
	}
	m.h.Reset()
	m.h.Write(m.label)
	m.h.Write(value)
	m.sum = m.h.Sum(m.sum[:0])
	id := tokenID{kind: m.kind, version: m.version}
	encodeBody(&id.body, m.sum[:bodyBytes])
	return id
}

// encodeBody writes 10 bytes as 16 base32 characters.
func encodeBody(dst *[bodyLen]byte, src []byte) {
	for g := 0; g < 2; g++ {
		s := src[g*5 : g*5+5]
		v := uint64(s[0])<<32 | uint64(s[1])<<24 | uint64(s[2])<<16 | uint64(s[3])<<8 | uint64(s[4])
		for k := 7; k >= 0; k-- {
			dst[g*8+k] = crockford[v&31]
			v >>= 5
		}
	}
}
