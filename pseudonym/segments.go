package pseudonym

import (
	"bytes"
	"context"
	"errors"
)

// Segments pseudonymizes and re-identifies a structured document piece
// by piece: the paragraphs, cells and properties of an office document,
// which a caller parses itself and whose pieces it must rewrite in place.
// Unlike Transform it does not write the result: it reports what to
// replace, as spans of the piece it was given, so that the caller can put
// a token back into the markup the text came from (a name split over two
// formatting runs, say).
//
// One Segments is one stream: the same person gets the same token in every
// piece, a word found as a name once is a name in every later piece, and
// each piece is read with the end of the one before as context. Call
// Flush before any output that carries the tokens leaves: a token must
// never leave without its way back. Not safe for concurrent use.
type Segments struct {
	s   *session
	ctx []byte // the tail of the previous piece, then a line end
	buf []byte // context and piece, as the detectors read them
	tmp []byte
}

// A Replacement is a span [Start, End) of a piece and the text that
// replaces it: a token when pseudonymizing, the original when
// re-identifying. Text is valid until the next call.
type Replacement struct {
	Start, End int
	Text       []byte
}

// NewSegments starts a stream of pieces.
func (p *Pseudonymizer) NewSegments() (*Segments, error) {
	s, err := p.newSession()
	if err != nil {
		return nil, err
	}
	return &Segments{s: s}, nil
}

// Counts returns what the stream replaced so far.
func (g *Segments) Counts() Counts { return g.s.counts }

// Flush stores the mappings of the tokens handed out so far.
func (g *Segments) Flush(ctx context.Context) error { return g.s.flush(ctx) }

// Pending is the number of mappings Flush would store, for callers that
// bound their batches.
func (g *Segments) Pending() int { return len(g.s.pending) }

// Separate forgets the context: the next piece is unrelated to the last
// (another part of a document). Names already found stay found.
func (g *Segments) Separate() { g.ctx = g.ctx[:0] }

// Text finds the personnummer and names in text and appends their
// replacements, in order and not overlapping, to dst.
func (g *Segments) Text(dst []Replacement, text []byte) []Replacement {
	s := g.s
	if !MayHoldIdentifier(string(text)) {
		g.keepContext(text)
		return dst
	}
	from := len(g.ctx)
	g.buf = append(append(g.buf[:0], g.ctx...), text...)
	b := g.buf
	s.pnrs = findPersonnummerBefore(s.pnrs[:0], b, from, s.dateRef)
	if s.p.detectNames {
		s.nms = s.names.find(s.nms[:0], b, from, s.pnrs)
	} else {
		s.nms = s.nms[:0]
	}
	out := g.tmp[:0]
	type span struct{ start, end, at int }
	var spans []span
	i, pi, ni := from, 0, 0
	for pi < len(s.pnrs) || ni < len(s.nms) {
		at := len(out)
		if ni >= len(s.nms) || (pi < len(s.pnrs) && s.pnrs[pi].start < s.nms[ni].start) {
			m := &s.pnrs[pi]
			pi++
			if m.start < i {
				continue
			}
			out = appendToken(out, s.tokenFor(KindPersonnummer, m.norm[:]), m.layout)
			s.counts.Personnummer++
			spans = append(spans, span{m.start, m.end, at})
			i = m.end
			continue
		}
		m := s.nms[ni]
		ni++
		if m.start < i {
			continue
		}
		out = appendToken(out, s.tokenFor(KindName, b[m.start:m.end]), 0)
		s.counts.Names++
		spans = append(spans, span{m.start, m.end, at})
		i = m.end
	}
	g.tmp = out
	for k, sp := range spans {
		end := len(out)
		if k+1 < len(spans) {
			end = spans[k+1].at
		}
		dst = append(dst, Replacement{Start: sp.start - from, End: sp.end - from, Text: out[sp.at:end:end]})
	}
	g.keepContext(text)
	return dst
}

// Name returns the replacement of a value that is a person's name whole
// (an author, the person a comment is by): one token for the value
// without its surrounding white space, and its words noted as names for
// the rest of the stream. ok is false for a blank value or one that is a
// token already.
func (g *Segments) Name(value []byte) (r Replacement, ok bool) {
	s := g.s
	a, e := 0, len(value)
	for a < e && isSpace(value[a]) {
		a++
	}
	for e > a && isSpace(value[e-1]) {
		e--
	}
	if a == e {
		return r, false
	}
	if _, _, end, ok := parseToken(value[:e], a); ok && end == e {
		return r, false
	}
	if s.p.detectNames {
		s.names.rememberField(value[a:e])
	}
	g.tmp = appendToken(g.tmp[:0], s.tokenFor(KindName, value[a:e]), 0)
	s.counts.Names++
	return Replacement{Start: a, End: e, Text: g.tmp}, true
}

// Label returns the replacement of a name that labels something (a
// sheet, an embedded file): when the detectors find a personnummer or a
// name in it, the whole of it becomes one name token, so that the label
// stays one word of a length its format allows. '_' and '.' separate words
// in it as spaces do. ok is false when the detectors find nothing.
func (g *Segments) Label(value []byte) (r Replacement, ok bool) {
	s := g.s
	a, e := 0, len(value)
	for a < e && isSpace(value[a]) {
		a++
	}
	for e > a && isSpace(value[e-1]) {
		e--
	}
	if a == e || !MayHoldIdentifier(string(value)) {
		return r, false
	}
	view := append(g.buf[:0], value...)
	for i := 0; i < len(view); i++ {
		if _, _, end, ok := parseToken(view, i); ok {
			for k := i; k < end; k++ {
				view[k] = 'x'
			}
			i = end - 1
			continue
		}
		if view[i] == '_' || view[i] == '.' {
			view[i] = ' '
		}
	}
	g.buf = view
	s.pnrs = findPersonnummerBefore(s.pnrs[:0], view, 0, s.dateRef)
	s.nms = s.nms[:0]
	if s.p.detectNames {
		s.nms = s.names.find(s.nms, view, 0, s.pnrs)
	}
	if len(s.pnrs) == 0 && len(s.nms) == 0 {
		return r, false
	}
	s.counts.Personnummer += len(s.pnrs)
	s.counts.Names += len(s.nms)
	g.tmp = appendToken(g.tmp[:0], s.tokenFor(KindName, value[a:e]), 0)
	return Replacement{Start: a, End: e, Text: g.tmp}, true
}

// Number returns the numeric token of digits when they are, all of them,
// a personnummer or samordningsnummer of 10 or 12 digits (a spreadsheet
// cell that holds one as a number): a number of the same length that is
// never a personnummer (see IsNumberToken). ok is false for any other
// number, which stays as it is.
func (g *Segments) Number(ctx context.Context, digits []byte) (token []byte, ok bool, err error) {
	n := len(digits)
	if n != 10 && n != 12 || digits[0] == '0' {
		return nil, false, nil
	}
	norm, ok := g.s.wholePersonnummer(digits)
	if !ok {
		return nil, false, nil
	}
	tok, err := g.s.numberToken(ctx, norm, n)
	if err != nil {
		return nil, false, err
	}
	g.s.counts.Personnummer++
	g.tmp = append(g.tmp[:0], tok[:n]...)
	return g.tmp, true, nil
}

// Reidentify appends the replacements of the tokens in text by their
// originals to dst. Tokens the Store does not hold stay, counted as
// Unknown.
func (g *Segments) Reidentify(ctx context.Context, dst []Replacement, text []byte) ([]Replacement, error) {
	s := g.s
	out := g.tmp[:0]
	type span struct{ start, end, at int }
	var spans []span
	for i := 0; i < len(text); {
		k := bytes.Index(text[i:], []byte(tokenPrefix))
		if k < 0 {
			break
		}
		at := i + k
		id, layout, end, ok := parseToken(text, at)
		if !ok {
			i = at + 1
			continue
		}
		orig, err := s.original(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			s.counts.Unknown++
			i = end
			continue
		case err != nil:
			return dst, err
		}
		o := len(out)
		if id.kind == KindPersonnummer {
			s.counts.ReidentifiedPersonnummer++
			out = appendPersonnummer(out, orig, layout)
		} else {
			s.counts.ReidentifiedNames++
			out = append(out, orig...)
		}
		spans = append(spans, span{at, end, o})
		i = end
	}
	g.tmp = out
	for k, sp := range spans {
		end := len(out)
		if k+1 < len(spans) {
			end = spans[k+1].at
		}
		dst = append(dst, Replacement{Start: sp.start, End: sp.end, Text: out[sp.at:end:end]})
	}
	return dst, nil
}

// ReidentifyNumber returns the original of a numeric token; ok is false
// when digits are not one the Store holds (an ordinary number).
func (g *Segments) ReidentifyNumber(ctx context.Context, digits []byte) (orig []byte, ok bool, err error) {
	if !isNumberToken(digits) {
		return nil, false, nil
	}
	orig, ok, err = g.s.numberOriginal(ctx, digits)
	if ok {
		g.s.counts.ReidentifiedPersonnummer++
	}
	return orig, ok, err
}

// keepContext keeps the end of text, cut at white space, as the context
// of the next piece.
func (g *Segments) keepContext(text []byte) {
	if len(text) > contextSize {
		text = text[len(text)-contextSize:]
		if k := bytes.IndexAny(text, " \n\t"); k >= 0 {
			text = text[k+1:]
		}
	}
	g.ctx = append(append(g.ctx[:0], text...), '\n')
}
