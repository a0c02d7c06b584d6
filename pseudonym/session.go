package pseudonym

import (
	"bytes"
	"context"
	"fmt"
)

// Counts reports what a transform did, for audit logs: numbers only, never
// values.
type Counts struct {
	Personnummer int // personnummer and samordningsnummer replaced
	Names        int // name parts (free text) or whole name fields replaced
	// Tokens replaced by their originals, by type.
	ReidentifiedPersonnummer int
	ReidentifiedNames        int
	Unknown                  int // tokens left as they were: not in the store
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Personnummer += o.Personnummer
	c.Names += o.Names
	c.ReidentifiedPersonnummer += o.ReidentifiedPersonnummer
	c.ReidentifiedNames += o.ReidentifiedNames
	c.Unknown += o.Unknown
}

// Total is the number of identifiers pseudonymized.
func (c Counts) Total() int { return c.Personnummer + c.Names }

// Reidentified is the number of tokens replaced by their originals.
func (c Counts) Reidentified() int { return c.ReidentifiedPersonnummer + c.ReidentifiedNames }

// maxCache bounds the per-stream value→token cache; it is cleared when full.
const maxCache = 1 << 16

// session is the state of one stream: detectors, MACs, caches and the
// mappings not yet written to the store. Not safe for concurrent use.
type session struct {
	p       *Pseudonymizer
	dateRef int // the date that decides the century of YYMMDD, as YYYYMMDD
	pnrMac  *macer
	nameMac *macer
	names   *nameDetector

	pnrs    []pnrMatch
	nms     []nameMatch
	cache   map[string]tokenID
	key     []byte
	pending []Entry
	counts  Counts

	pnrOnly bool // JSON keys: personnummer only

	// csvQuoted: re-identifying CSV, the input so far ends inside a
	// quoted field; csvMidField: outside quotes, after a field's first
	// byte (a quote there is a quote, not an opening one); csvQuote: inside
	// quotes, right after a quote that closes the field or starts "".
	csvQuoted, csvMidField, csvQuote bool
	csvSep                           byte // … and its separator, sniffed from its first chunk

	// values in which nothing was found (cleanvalues.go)
	clean cleanValues

	// base is the input offset of the text being rewritten, for
	// Config.Explain: the window of transformText, or the raw bytes of a
	// JSON string, CSV field or form value.
	base int64

	// numeric tokens (number.go), made on first use
	pnrKey     []byte
	numMac     *numberMacer
	numCache   map[numberKey][12]byte
	numPending map[string][]byte // candidates claimed in this stream, not yet stored

	// transformText's window and output chunk, from a pool when set.
	textBuf, textOut []byte
	viewBuf          []byte // pathView's copy of a text

	// re-identification
	reCache   map[string][]byte
	verify    map[string]*macer
	verifyNum map[int]*numberMacer
	reLastSig byte // text and HTML: the last byte before the chunk that is not white space
}

func (p *Pseudonymizer) newSession() (*session, error) {
	s := &session{p: p, dateRef: dateRef(p.now()), cache: make(map[string]tokenID)}
	v, k, err := p.keys.CurrentHMACKey(DomainPersonnummer)
	if err != nil {
		return nil, fmt.Errorf("failed to get HMAC key for %s: %w", DomainPersonnummer, err)
	}
	if s.pnrMac, err = newMacer(KindPersonnummer, v, k); err != nil {
		return nil, err
	}
	s.pnrKey = k
	v, k, err = p.keys.CurrentHMACKey(DomainName)
	if err != nil {
		return nil, fmt.Errorf("failed to get HMAC key for %s: %w", DomainName, err)
	}
	if s.nameMac, err = newMacer(KindName, v, k); err != nil {
		return nil, err
	}
	s.names = newNameDetector(p.lx)
	return s, nil
}

// tokenFor returns the token id of a normalised value, queuing a new store
// entry the first time this stream sees it.
func (s *session) tokenFor(kind Kind, value []byte) tokenID {
	s.key = append(append(s.key[:0], byte(kind)), value...)
	if id, ok := s.cache[string(s.key)]; ok {
		return id
	}
	m := s.nameMac
	if kind == KindPersonnummer {
		m = s.pnrMac
	}
	id := m.id(value)
	if len(s.cache) >= maxCache {
		clear(s.cache)
	}
	s.cache[string(s.key)] = id
	s.pending = append(s.pending, Entry{Token: id.storeKey(), Value: append([]byte(nil), value...)})
	return id
}

// flush writes queued mappings to the store. It must succeed before output
// carrying their tokens is released: a token without its way back is lost
// data.
func (s *session) flush(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	err := s.p.store.Put(ctx, s.pending...)
	if err != nil {
		// A failed batch may have left cached ids without mappings.
		clear(s.cache)
		clear(s.numCache)
	}
	clear(s.numPending) // stored now, or void
	s.pending = s.pending[:0]
	if err != nil {
		return fmt.Errorf("failed to store token mappings: %w", err)
	}
	return nil
}

// rewrite appends b[from:] to dst with every personnummer and name replaced
// by its token; b[:from] is context only.
func (s *session) rewrite(dst, b []byte, from int) []byte {
	s.pnrs = findPersonnummerBefore(s.pnrs[:0], b, from, s.dateRef)
	if s.p.detectNames {
		var view []byte
		view, s.viewBuf = pathView(b, s.viewBuf)
		s.nms = s.names.find(s.nms[:0], view, from, s.pnrs)
	} else {
		s.nms = s.nms[:0]
	}
	i, pi, ni := from, 0, 0
	for pi < len(s.pnrs) || ni < len(s.nms) {
		if ni >= len(s.nms) || (pi < len(s.pnrs) && s.pnrs[pi].start < s.nms[ni].start) {
			m := &s.pnrs[pi]
			pi++
			if m.start < i {
				continue
			}
			dst = append(dst, b[i:m.start]...)
			id := s.tokenFor(KindPersonnummer, m.norm[:])
			dst = appendToken(dst, id, m.layout)
			s.counts.Personnummer++
			s.decide(KindPersonnummer, s.base+int64(m.start), m.end-m.start, pnrRule(m))
			i = m.end
			continue
		}
		m := s.nms[ni]
		ni++
		if m.start < i {
			continue
		}
		dst = append(dst, b[i:m.start]...)
		id := s.tokenFor(KindName, b[m.start:m.end])
		dst = appendToken(dst, id, 0)
		s.counts.Names++
		s.decide(KindName, s.base+int64(m.start), m.end-m.start, m.rule)
		i = m.end
	}
	return append(dst, b[i:]...)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// rewriteMapped rewrites a decoded value (a JSON string with escapes, a
// quoted CSV field, a percent-encoded form value) and splices the tokens
// into the raw bytes: offs[i] is the raw offset of decoded byte i, with
// offs[len(dec)] = len(raw). Bytes outside identifiers are copied raw, so
// escapes elsewhere survive.
// A nil offs means dec and raw have the same layout.
func (s *session) rewriteMapped(dst, raw, dec []byte, offs []int, whole bool) []byte {
	o := func(i int) int {
		if offs == nil {
			return i
		}
		return offs[i]
	}
	if whole {
		// Replace the trimmed value; the raw bytes around it stay.
		a, e := 0, len(dec)
		for a < e && isSpace(dec[a]) {
			a++
		}
		for e > a && isSpace(dec[e-1]) {
			e--
		}
		if a == e {
			return append(dst, raw...)
		}
		if _, _, end, ok := parseToken(dec[:e], a); ok && end == e {
			return append(dst, raw...)
		}
		if !s.p.detectNames || !s.names.notPerson(dec[a:e]) && !bytes.Contains(dec[a:e], []byte(tokenPrefix)) {
			if s.p.detectNames {
				s.names.rememberField(dec[a:e])
			}
			dst = append(dst, raw[:o(a)]...)
			dst = appendToken(dst, s.tokenFor(KindName, dec[a:e]), 0)
			s.counts.Names++
			s.decide(KindName, s.base+int64(o(a)), o(e)-o(a), ruleNameField)
			return append(dst, raw[o(e):]...)
		}
		// An organisation or an office in a name field: only what the
		// free-text detectors find in it is replaced.
	}
	var gen uint32
	if s.p.detectNames {
		gen = s.names.gen
	}
	// Only values read for everything are noted: a JSON key clean of
	// personnummer may hold a name.
	if !s.pnrOnly && s.clean.clean(dec, gen) {
		return append(dst, raw...)
	}
	s.pnrs = findPersonnummerBefore(s.pnrs[:0], dec, 0, s.dateRef)
	if s.p.detectNames && !s.pnrOnly {
		s.names.valueMode = true
		s.nms = s.names.find(s.nms[:0], dec, 0, s.pnrs)
		s.names.valueMode = false
	} else {
		s.nms = s.nms[:0]
	}
	if !s.pnrOnly && len(s.pnrs) == 0 && len(s.nms) == 0 && (!s.p.detectNames || s.names.gen == gen) {
		s.clean.note(dec, gen)
	}
	i, pi, ni := 0, 0, 0
	for pi < len(s.pnrs) || ni < len(s.nms) {
		var start, end int
		if ni >= len(s.nms) || (pi < len(s.pnrs) && s.pnrs[pi].start < s.nms[ni].start) {
			m := &s.pnrs[pi]
			pi++
			start, end = m.start, m.end
			if start < i {
				continue
			}
			dst = append(dst, raw[o(i):o(start)]...)
			dst = appendToken(dst, s.tokenFor(KindPersonnummer, m.norm[:]), m.layout)
			s.counts.Personnummer++
			s.decide(KindPersonnummer, s.base+int64(o(start)), o(end)-o(start), pnrRule(m))
		} else {
			m := s.nms[ni]
			ni++
			start, end = m.start, m.end
			if start < i {
				continue
			}
			dst = append(dst, raw[o(i):o(start)]...)
			dst = appendToken(dst, s.tokenFor(KindName, dec[start:end]), 0)
			s.counts.Names++
			s.decide(KindName, s.base+int64(o(start)), o(end)-o(start), m.rule)
		}
		i = end
	}
	return append(dst, raw[o(i):]...)
}
