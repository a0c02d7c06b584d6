package pseudonym

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
)

const (
	numberMacLabel  = macLabelBase + "pnr-number\x00"
	numberKeyPrefix = DomainPersonnummer + "num_" // store key: pnrnum_<digits>
	// maxNumberProbes bounds the candidates tried for one number: with a
	// space a fraction α full, all of them are taken with chance α^64.
	maxNumberProbes = 64
	// numberSpace12 and numberSpace10 count the tokens of each length:
	// first digit × free digits × the nine wrong check digits.
	numberSpace12 = 9 * 1000 * 100000 * 9
	numberSpace10 = 5 * 10 * 100000 * 9
	// numberLookahead bounds the white space between a numeric token and
	// the punctuation after it that text and HTML re-identification look
	// through; the stream holds back enough bytes to see it.
	numberLookahead = 200
)

// ErrNumberSpaceFull is returned (wrapped) when every candidate for a
// numeric token is bound to another original.
var ErrNumberSpaceFull = errors.New("pseudonym: no free numeric token")

// IsNumberToken reports whether s has the form of a numeric token, the
// pseudonym of a personnummer that travels as a JSON number. It says
// nothing about whether the Store holds it.
//
// # Numeric tokens
//
// A personnummer or samordningsnummer written as a JSON number
// ({"pnr": 198003154260}, {"pnr": 8003154260}) is replaced by a number of
// the same length, so the field keeps its JSON type and a schema that wants
// an integer of 10 or 12 digits still accepts it:
//
//	12 digits   D D D D 0 0 D D D D D X    first digit 1-9
//	10 digits   D D 0 0 D D D D D X        first digit 5-9
//
// The month field (digits 5-6 of the long form, 3-4 of the short) is 00,
// and X is never the Luhn check digit of the last ten digits. A month 00 is
// no date, so no century or "+" reading makes the number a personnummer; a
// samordningsnummer adds 60 to the day, never to the month; an
// organisation number has 20 or more there. The wrong check digit is a
// second, independent reason: a validator that checks only Luhn, or only
// the date, rejects a numeric token too. The first digit is never 0 (JSON
// has no leading zeros), and a 10-digit token starts with 5-9, so it is
// never a Unix time in seconds before the year 2128, the commonest 10-digit
// number in JSON. The other digits come from the HMAC: a token tells
// nothing of the birth date or sex. Every token is an exact float64, so
// JavaScript clients keep it.
//
// That leaves 8.1·10⁹ 12-digit and 4.5·10⁷ 10-digit tokens: too few for
// truncation to make collisions negligible, so they are resolved. The
// candidates for a number of n digits are, for the probe i = 0, 1, …,
//
//	HMAC-SHA256(key, "sluss/pseudonym/v1/pnr-number\x00" ‖ n ‖ i ‖ YYYYMMDDNNNC)
//
// (n one byte, i two), the first eight bytes modulo the space spread over
// the free digits. A number takes the first candidate the Store does not
// bind to another original. The Store's mapping (Entry.Token
// "pnrnum_<digits>", Entry.Value "YYYYMMDDNNNC/<key version>/<probe>")
// makes the choice stable: for one key and Store, a number always gets the
// same token. Put refusing a token bound to another value (ErrCollision)
// makes it unique: two streams that race for one free candidate with
// different numbers cannot both succeed, and the loser fails closed. After
// 64 taken candidates the transform fails with ErrNumberSpaceFull rather
// than reuse one. Re-identification recomputes the candidate from the
// stored value, so a tampered Store cannot put another number back.
//
// Re-identification looks a numeric token up where it stands as a JSON
// number: in FormatJSON, a run of digits of the token form between bytes
// that can surround a number (white space, punctuation, the neighbours in a
// stream of top-level values); in text and HTML, after a ':', '[' or ','
// and before a ',', ']' or '}', with white space between (up to 200 bytes
// after it). A number of that form that is not in the Store is an ordinary
// number and is left alone, not counted as Unknown. An ordinary number that
// happens to equal an issued token would be replaced: the chance, per
// number of that form, is the count of issued tokens of its length over
// the space above.
func IsNumberToken(s string) bool { return isNumberToken([]byte(s)) }

func isNumberToken(b []byte) bool {
	n := len(b)
	if n != 10 && n != 12 {
		return false
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	if b[0] == '0' || (n == 10 && b[0] < '5') {
		return false
	}
	return b[n-8] == '0' && b[n-7] == '0' && !luhn(b[n-10:])
}

// MayHoldToken reports whether b could hold a token that Reidentify puts
// back: the text prefix, or a run of digits of the numeric-token form. When
// it is false, Reidentify copies b unchanged, so a caller may skip it.
func MayHoldToken(b []byte) bool {
	if bytes.Contains(b, []byte(tokenPrefix)) {
		return true
	}
	for i := 0; ; {
		if i = nextDigit(b, i); i == len(b) {
			return false
		}
		j := digitRun(b, i)
		if isNumberToken(b[i:j]) {
			return true
		}
		i = j
	}
}

// digitRun returns the end of the run of digits starting at b[i].
func digitRun(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// numberMacer computes numeric-token candidates for one key version. Not
// safe for concurrent use.
type numberMacer struct {
	version int
	h       hash.Hash
	in      []byte
	sum     []byte
}

func newNumberMacer(version int, key []byte) (*numberMacer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("pseudonym: HMAC key for %s version %d is %d bytes, want at least 32", DomainPersonnummer, version, len(key))
	}
	return &numberMacer{version: version, h: hmac.New(sha256.New, key), sum: make([]byte, 0, sha256.Size)}, nil
}

// candidate writes the probe-th candidate of n digits for norm to dst[:n].
// space, when not zero, shrinks the space (tests force collisions so).
func (m *numberMacer) candidate(dst *[12]byte, norm []byte, n, probe int, space uint64) {
	m.in = append(m.in[:0], numberMacLabel...)
	m.in = append(m.in, byte(n), byte(probe>>8), byte(probe))
	m.in = append(m.in, norm...)
	m.h.Reset()
	m.h.Write(m.in)
	m.sum = m.h.Sum(m.sum[:0])
	full := uint64(numberSpace12)
	if n == 10 {
		full = numberSpace10
	}
	if space == 0 || space > full {
		space = full
	}
	// The bias of a 64-bit value modulo at most 8.1·10⁹ is below 10⁻⁹.
	encodeNumber(dst, n, binary.BigEndian.Uint64(m.sum)%space)
}

// encodeNumber spreads x (below the space of n digits) over the free
// digits of an n-digit token.
func encodeNumber(dst *[12]byte, n int, x uint64) {
	wrong := byte(x % 9)
	x /= 9
	d := dst[:n]
	for k := n - 2; k >= n-6; k-- { // the five digits before the check digit
		d[k] = byte('0' + x%10)
		x /= 10
	}
	d[n-7], d[n-8] = '0', '0'
	if n == 12 {
		for k := 3; k >= 1; k-- {
			d[k] = byte('0' + x%10)
			x /= 10
		}
		d[0] = byte('1' + x) // x < 9
	} else {
		d[1] = byte('0' + x%10)
		d[0] = byte('5' + x/10) // x/10 < 5
	}
	// The Luhn digit of the last ten, then one of the nine others.
	d[n-1] = '0'
	c := luhnCheck(d[n-10:])
	d[n-1] = byte('0' + (c+1+wrong)%10)
}

// luhnCheck returns the check digit that completes ten digits YYMMDDNNN?;
// the last one is ignored.
func luhnCheck(ten []byte) byte {
	sum := 0
	for k, c := range ten[:9] {
		v := int(c - '0')
		if k%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return byte((10 - sum%10) % 10)
}

// numberStoreKey is the Store key of a numeric token.
func numberStoreKey(digits []byte) string { return numberKeyPrefix + string(digits) }

// appendNumberValue renders the Store value of a numeric token.
func appendNumberValue(dst, norm []byte, version, probe int) []byte {
	dst = append(dst, norm...)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(version), 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, int64(probe), 10)
}

// parseNumberValue parses what appendNumberValue wrote.
func parseNumberValue(v []byte) (norm []byte, version, probe int, ok bool) {
	if len(v) < 16 || v[12] != '/' {
		return
	}
	for _, c := range v[:12] {
		if !isDigit(c) {
			return
		}
	}
	rest := v[13:]
	k := bytes.IndexByte(rest, '/')
	if k < 0 {
		return
	}
	var err error
	if version, err = strconv.Atoi(string(rest[:k])); err != nil || version < 1 {
		return
	}
	if probe, err = strconv.Atoi(string(rest[k+1:])); err != nil || probe < 0 || probe >= maxNumberProbes {
		return
	}
	return v[:12], version, probe, true
}

// numberKey identifies a number in a stream's cache: length and normal form.
type numberKey struct {
	n    int
	norm [12]byte
}

// numberToken returns the numeric token of n digits for norm, choosing
// among the candidates as Numeric tokens describes and queuing the new
// mapping. Store errors other than ErrNotFound fail it.
func (s *session) numberToken(ctx context.Context, norm [12]byte, n int) ([12]byte, error) {
	var tok [12]byte
	nk := numberKey{n, norm}
	if t, ok := s.numCache[nk]; ok {
		return t, nil
	}
	if s.numMac == nil {
		m, err := newNumberMacer(s.pnrMac.version, s.pnrKey)
		if err != nil {
			return tok, err
		}
		s.numMac = m
		s.numCache = map[numberKey][12]byte{}
		s.numPending = map[string][]byte{}
	}
	for probe := range maxNumberProbes {
		s.numMac.candidate(&tok, norm[:], n, probe, s.p.numberSpace)
		key := numberStoreKey(tok[:n])
		value := appendNumberValue(nil, norm[:], s.numMac.version, probe)
		if v, ok := s.numPending[key]; ok {
			if !bytes.Equal(v, value) {
				continue // claimed in this stream for another number
			}
		} else {
			v, err := s.p.store.Get(ctx, key)
			switch {
			case errors.Is(err, ErrNotFound):
				s.numPending[key] = value
				s.pending = append(s.pending, Entry{Token: key, Value: value})
			case err != nil:
				return tok, fmt.Errorf("failed to look up numeric token: %w", err)
			case !bytes.Equal(v, value):
				continue // bound to another number, or to this one under another key version
			}
		}
		if len(s.numCache) >= maxCache {
			clear(s.numCache)
		}
		s.numCache[nk] = tok
		return tok, nil
	}
	return tok, fmt.Errorf("%w for a %d-digit personnummer after %d candidates", ErrNumberSpaceFull, n, maxNumberProbes)
}

// numberOriginal returns the original digits of a numeric token, checking
// its HMAC; ok is false when the Store does not hold it (an ordinary
// number).
func (s *session) numberOriginal(ctx context.Context, digits []byte) (orig []byte, ok bool, err error) {
	key := numberStoreKey(digits)
	if v, hit := s.reCache[key]; hit {
		return v, true, nil
	}
	v, err := s.p.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("failed to look up token: %w", err)
	}
	norm, version, probe, valid := parseNumberValue(v)
	if !valid {
		return nil, false, fmt.Errorf("pseudonym: stored personnummer for token %s is malformed", key)
	}
	m := s.verifyNum[version]
	if m == nil {
		k, err := s.p.keys.HMACKey(DomainPersonnummer, version)
		if err != nil {
			return nil, false, fmt.Errorf("failed to get HMAC key %s version %d: %w", DomainPersonnummer, version, err)
		}
		if m, err = newNumberMacer(version, k); err != nil {
			return nil, false, err
		}
		if s.verifyNum == nil {
			s.verifyNum = map[int]*numberMacer{}
		}
		s.verifyNum[version] = m
	}
	var got [12]byte
	m.candidate(&got, norm, len(digits), probe, s.p.numberSpace)
	if subtle.ConstantTimeCompare(got[:len(digits)], digits) != 1 {
		return nil, false, fmt.Errorf("pseudonym: stored original does not match token %s", key)
	}
	orig = norm[12-len(digits):]
	if s.reCache == nil || len(s.reCache) >= maxCache {
		s.reCache = map[string][]byte{}
	}
	s.reCache[key] = orig
	return orig, true, nil
}

// wholePersonnummer reports whether the digits b are, all of them, one
// personnummer or samordningsnummer by the detector's rules, and returns
// its normal form.
func (s *session) wholePersonnummer(b []byte) (norm [12]byte, ok bool) {
	s.pnrs = findPersonnummerBefore(s.pnrs[:0], b, 0, s.dateRef)
	if len(s.pnrs) != 1 || s.pnrs[0].start != 0 || s.pnrs[0].end != len(b) {
		return norm, false
	}
	return s.pnrs[0].norm, true
}

// lastNonSpace returns the last byte of b that is not JSON white space, or
// last if there is none.
func lastNonSpace(b []byte, last byte) byte {
	for k := len(b) - 1; k >= 0; k-- {
		if !isJSONSpace(b[k]) {
			return b[k]
		}
	}
	return last
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// jsonBeforeNumber and jsonAfterNumber are the bytes that can stand right
// before and after a number in JSON the transformer accepts: white space
// and punctuation, and in a stream of top-level values the end of one
// ("]", "}", a quote, the e of true and false, the l of null) or the start
// of the next.
var jsonBeforeNumber, jsonAfterNumber = func() (b, a [256]bool) {
	for _, c := range []byte(" \t\n\r:[,]}\"el") {
		b[c] = true
	}
	for _, c := range []byte(" \t\n\r,]}[{\"tfn-") {
		a[c] = true
	}
	return
}()

// nextNumberToken finds the first numeric token in data[from:limit] that
// stands as a JSON number (see Numeric tokens) and returns its bounds, or
// limit, limit. data[0] is the byte before the pending input; eof says
// whether data ends the stream. Text and HTML look behind data[1] through
// s.reLastSig, the last byte before it that is not white space.
func (s *session) nextNumberToken(data []byte, from, limit int, json, eof bool) (int, int) {
	for i := from; i < limit; {
		if i = nextDigit(data[:limit], i); i == limit {
			break
		}
		j := digitRun(data, i)
		if (j-i == 10 || j-i == 12) && isNumberToken(data[i:j]) && s.standsAsNumber(data, i, j, json, eof) {
			return i, j
		}
		i = j
	}
	return limit, limit
}

func (s *session) standsAsNumber(data []byte, i, j int, json, eof bool) bool {
	if json {
		before, after := data[i-1], byte(' ')
		if j < len(data) {
			after = data[j]
		} else if !eof {
			return false
		}
		return jsonBeforeNumber[before] && jsonAfterNumber[after]
	}
	before := s.reLastSig
	for k := i - 1; k >= 1; k-- {
		if !isJSONSpace(data[k]) {
			before = data[k]
			break
		}
	}
	if before != ':' && before != '[' && before != ',' {
		return false
	}
	for k := j; k < len(data) && k <= j+numberLookahead; k++ {
		if c := data[k]; !isJSONSpace(c) {
			return c == ',' || c == ']' || c == '}'
		}
	}
	return false
}
