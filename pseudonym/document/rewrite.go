package document

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/sluss/sluss/pseudonym"
)

// The XML rewriter reads a part token by token with encoding/xml, and
// copies the input bytes as they came: only the text of the values it
// replaces is written anew. Text is read in units: a paragraph (whose text
// may be split over formatting runs, and is joined before the detectors
// see it), a cell value, a property. While a unit is open the rewriter
// holds its bytes; when it closes, the unit's replacements become edits of
// those bytes, and what is not held is written out.

// charsMode says what character data directly inside an element is.
type charsMode uint8

const (
	charsIgnore  charsMode = iota // markup, numbers of the layout: left alone
	charsPara                     // ODF: all character data in a paragraph is its text
	charsText                     // a text element of a paragraph (w:t, a:t, t)
	charsUnit                     // the text of the innermost open unit
	charsGeneric                  // an unknown vocabulary: each text node alone
)

// unitKind says how a unit's text is read.
type unitKind uint8

const (
	unitPara         unitKind = iota // free text, joined over runs
	unitName                         // a person's name, whole (an author)
	unitFree                         // free text
	unitNumber                       // a cell's number: a numeric token when it is a personnummer
	unitNumOrFree                    // a number when it is one, free text otherwise
	unitFormula                      // string literals as free text, sheet names renamed
	unitHeaderFooter                 // SpreadsheetML header text with &-codes
	unitExact                        // a value that is a sheet name when it equals one
)

type change int8

const (
	changeNone change = iota
	changeIns         // tracked insertion
	changeDel         // tracked deletion
	changeSep         // a separator element (tab, line break) inside a paragraph
)

// textElem is a text element's start tag, where xml:space="preserve" goes
// when a replacement leaves white space at an end of its text.
type textElem struct {
	tagEnd      int64 // offset of the start tag's '>'
	preserve    bool
	canPreserve bool
	fixed       bool
}

// node is one text node of a unit, or a separator.
type node struct {
	a, b   int64 // raw bytes in the part
	text   []byte
	change change
	sep    string // changeSep: the text it stands for
	delOK  bool   // changeSep: a self-closing element that may be removed
	te     *textElem
}

// cellInfo is what a cell's children need of it.
type cellInfo struct {
	typ   string // SpreadsheetML t
	subst []byte // ODF: what a numeric cell's text becomes (its token, or its original)
	paras int
}

type unit struct {
	kind      unitKind
	nodes     []node
	size      int
	cell      *cellInfo
	cellIndex int
}

type frame struct {
	chars  charsMode
	change change
	unit   *unit // innermost open unit
	para   *unit // innermost open paragraph
	opened *unit // the unit this element opened
	cell   *cellInfo
	te     *textElem
	id     nsID
}

type edit struct {
	start, end int64
	text       []byte
}

// localRepl replaces [s, e) of a node's text.
type localRepl struct {
	s, e int
	text []byte
}

type xmlRewriter struct {
	ps      *pkgState
	part    int    // 1-based, for errors
	dir     string // the part's folder, for references
	src     *rawReader
	dec     *xml.Decoder
	w       *bufio.Writer
	written int64
	hold    int
	edits   []edit
	stack   []frame
	root    nsID
	started bool
	generic bool

	attrs  []rawAttr
	dbuf   []byte
	offs   []int
	lastNS string
	lastID nsID

	// finish's scratch
	pending [][]localRepl
	del     []bool
	view    []int
	starts  []int
	joined  []byte
}

const flushSize = 32 << 10

const officeNS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"

// rewriteXML rewrites one XML part from r to w.
func (ps *pkgState) rewriteXML(part int, name string, r io.Reader, w io.Writer) error {
	bufs, _ := partBuffers.Get().(*partBuffer)
	if bufs == nil {
		bufs = &partBuffer{w: bufio.NewWriterSize(nil, 32<<10), raw: make([]byte, 0, 64<<10)}
	}
	defer partBuffers.Put(bufs)
	bufs.w.Reset(w)
	defer bufs.w.Reset(nil)
	x := &xmlRewriter{ps: ps, part: part, dir: dirOf(name), w: bufs.w}
	x.src = &rawReader{r: r, buf: bufs.raw[:0], max: ps.j.lim.MaxUnit}
	defer func() {
		if cap(x.src.buf) <= 256<<10 {
			bufs.raw = x.src.buf[:0]
		}
	}()
	x.dec = xml.NewDecoder(x.src)
	ps.j.g.Separate()
	if err := x.run(); err != nil {
		return err
	}
	return x.w.Flush()
}

// partBuffers recycles the buffers of a part's rewrite.
var partBuffers sync.Pool

type partBuffer struct {
	w   *bufio.Writer
	raw []byte
}

func (x *xmlRewriter) run() error {
	for {
		if err := x.ps.j.ctx.Err(); err != nil {
			return err
		}
		a := x.dec.InputOffset()
		tok, err := x.dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.syntaxError(err)
		}
		b := x.dec.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			err = x.start(t, a, b)
		case xml.EndElement:
			err = x.end()
		case xml.CharData:
			err = x.chars(t, a, b)
		}
		if err != nil {
			return err
		}
		if x.hold == 0 && b-x.written >= flushSize {
			if err := x.flush(b); err != nil {
				return err
			}
		}
	}
	if len(x.stack) != 0 {
		return x.errorf("the XML ends inside an element")
	}
	end := x.dec.InputOffset()
	if x.src.err != nil && x.src.err != io.EOF {
		return x.readError(x.src.err)
	}
	return x.flush(end)
}

func (x *xmlRewriter) syntaxError(err error) error {
	if errors.Is(err, errUnitTooLarge) {
		return x.tooLarge()
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if x.src.err != nil && x.src.err != io.EOF {
			return x.readError(x.src.err)
		}
		return &ParseError{Part: x.part, Line: se.Line, Msg: "not well-formed XML"}
	}
	return x.readError(err)
}

func (x *xmlRewriter) readError(err error) error {
	if errors.Is(err, ErrTooLarge) || errors.Is(err, errUnitTooLarge) {
		if errors.Is(err, errUnitTooLarge) {
			return x.tooLarge()
		}
		return err
	}
	return &ParseError{Part: x.part, Msg: "the part is corrupt (it does not decompress to what the archive says)"}
}

func (x *xmlRewriter) tooLarge() error {
	return &limitError{part: x.part, what: "a paragraph, cell or text node larger than the unit limit"}
}

func (x *xmlRewriter) errorf(msg string) error { return &ParseError{Part: x.part, Msg: msg} }

// flush writes the input up to upTo with the pending edits applied.
func (x *xmlRewriter) flush(upTo int64) error {
	slices.SortFunc(x.edits, func(a, b edit) int {
		if a.start != b.start {
			return int(a.start - b.start)
		}
		return int(a.end - b.end)
	})
	pos := x.written
	for _, e := range x.edits {
		if e.start < pos {
			return x.errorf("overlapping edits") // a bug, not the input's fault
		}
		x.w.Write(x.src.bytes(pos, e.start))
		x.w.Write(e.text)
		pos = e.end
	}
	x.w.Write(x.src.bytes(pos, upTo))
	x.edits = x.edits[:0]
	x.written = upTo
	x.src.keep = upTo
	return nil
}

func (x *xmlRewriter) top() *frame {
	if len(x.stack) == 0 {
		return nil
	}
	return &x.stack[len(x.stack)-1]
}

// nsOf returns the id of a namespace URI; the last one is remembered,
// since elements mostly follow others of their vocabulary.
func (x *xmlRewriter) nsOf(uri string) nsID {
	if uri == x.lastNS {
		return x.lastID
	}
	id := namespaces[uri]
	x.lastNS, x.lastID = uri, id
	return id
}

func (x *xmlRewriter) start(se xml.StartElement, a, b int64) error {
	id := x.nsOf(se.Name.Space)
	local := se.Name.Local
	var f frame
	if p := x.top(); p != nil {
		f = frame{chars: p.chars, change: p.change, unit: p.unit, para: p.para, cell: p.cell}
	} else if !x.started {
		x.started = true
		x.root = id
		x.generic = id == nsOther && !(se.Name.Space == "" && local == "xml") // VML
		if x.generic {
			f.chars = charsGeneric
		}
	}
	f.id = id
	f.te = nil
	f.opened = nil
	reid := x.ps.j.mode == modeReidentify
	switch id {
	case nsW:
		switch local {
		case "p":
			x.open(&f, unitPara)
		case "t":
			f.chars, f.te = charsText, x.textElem(se, b, true)
		case "delText":
			f.chars, f.change, f.te = charsText, changeDel, x.textElem(se, b, true)
		case "instrText", "delInstrText":
			x.open(&f, unitFree)
		case "tab":
			x.sep(&f, "\t", a, b)
		case "br", "cr":
			x.sep(&f, "\n", a, b)
		case "noBreakHyphen":
			x.sep(&f, "-", a, b)
		case "softHyphen":
			x.sep(&f, "", a, b)
		case "ins", "moveTo":
			f.change = changeIns
		case "del", "moveFrom":
			f.change = changeDel
		}
	case nsA:
		switch local {
		case "p":
			x.open(&f, unitPara)
		case "t":
			f.chars, f.te = charsText, x.textElem(se, b, false)
		case "br":
			x.sep(&f, "\n", a, b)
		}
	case nsS:
		switch local {
		case "si", "is", "text", "rPh":
			x.open(&f, unitPara)
		case "t":
			f.chars, f.te = charsText, x.textElem(se, b, true)
		case "author":
			x.open(&f, unitName)
		case "c":
			f.cell = &cellInfo{typ: attrValue(se, "", "t")}
		case "v":
			f.chars = charsIgnore
			if f.cell != nil {
				switch f.cell.typ {
				case "", "n":
					x.open(&f, unitNumber)
				case "str":
					x.open(&f, unitFree)
				}
			}
		case "f", "definedName":
			x.open(&f, unitFormula)
		case "oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter":
			x.open(&f, unitHeaderFooter)
		}
	case nsP, nsThreaded:
		if local == "text" {
			x.open(&f, unitFree)
		}
	case nsC:
		switch local {
		case "v":
			x.open(&f, unitNumOrFree)
		case "f":
			x.open(&f, unitFormula)
		}
	case nsCP:
		switch local {
		case "lastModifiedBy":
			x.open(&f, unitName)
		case "keywords", "category", "contentStatus":
			x.open(&f, unitFree)
		}
	case nsDC:
		switch local {
		case "creator", "contributor":
			x.open(&f, unitName)
		case "title", "subject", "description", "publisher":
			x.open(&f, unitFree)
		default:
			f.chars = charsIgnore
		}
	case nsApp:
		switch local {
		case "Manager":
			x.open(&f, unitName)
		case "Company", "HyperlinkBase":
			x.open(&f, unitFree)
		}
	case nsVT:
		switch {
		case x.root == nsCustom:
			x.open(&f, unitNumOrFree)
		case local == "lpstr" || local == "lpwstr":
			x.open(&f, unitFree)
		}
	case nsMeta:
		switch local {
		case "initial-creator", "printed-by":
			x.open(&f, unitName)
		case "keyword", "user-defined":
			x.open(&f, unitFree)
		default:
			f.chars = charsIgnore
		}
	case nsText:
		switch local {
		case "p", "h":
			x.open(&f, unitPara)
			f.chars = charsPara
		case "s":
			n := 1
			if c := attrValue(se, "urn:oasis:names:tc:opendocument:xmlns:text:1.0", "c"); c != "" {
				n, _ = strconv.Atoi(c)
			}
			x.sep(&f, "        "[:max(1, min(n, 8))], a, b)
		case "tab":
			x.sep(&f, "\t", a, b)
		case "line-break":
			x.sep(&f, "\n", a, b)
		case "note-citation", "note-body":
			f.chars = charsIgnore
		}
	case nsOffice:
		if local == "annotation" {
			f.chars, f.cell = charsIgnore, nil
		}
	case nsSVG:
		if local == "title" || local == "desc" {
			x.open(&f, unitFree)
		}
	case nsTable:
		if local == "table-cell" || local == "covered-table-cell" {
			f.cell = &cellInfo{}
			if x.ps.j.mode == modeExtract {
				// A numeric cell says its value; its text is a rendering.
				switch attrValue(se, officeNS, "value-type") {
				case "float", "percentage", "currency":
					f.cell.subst = []byte(attrValue(se, officeNS, "value"))
				}
			}
		}
	case nsDraw:
		f.cell = nil // a shape anchored in a cell is not the cell's text
	case nsConfig:
		if local == "config-item" {
			x.open(&f, unitExact)
		}
	}
	if len(se.Attr) > 0 && x.ps.j.mode != modeExtract {
		if err := x.attributes(se, &f, a, b, reid); err != nil {
			return err
		}
	}
	x.stack = append(x.stack, f)
	return nil
}

// open makes the element open a unit of kind k.
func (x *xmlRewriter) open(f *frame, k unitKind) {
	u := &unit{kind: k}
	if k == unitPara {
		if f.cell != nil {
			u.cell, u.cellIndex = f.cell, f.cell.paras
			f.cell.paras++
		}
		f.para = u
		f.chars = charsIgnore
	} else {
		f.chars = charsUnit
	}
	f.unit, f.opened = u, u
	x.hold++
}

func (x *xmlRewriter) textElem(se xml.StartElement, b int64, canPreserve bool) *textElem {
	return &textElem{tagEnd: b - 1, preserve: attrValue(se, "http://www.w3.org/XML/1998/namespace", "space") == "preserve", canPreserve: canPreserve}
}

// sep adds a separator element to the open paragraph.
func (x *xmlRewriter) sep(f *frame, s string, a, b int64) {
	f.chars = charsIgnore
	if f.para == nil {
		return
	}
	raw := x.src.bytes(a, b)
	f.para.nodes = append(f.para.nodes, node{a: a, b: b, change: changeSep, sep: s, delOK: bytes.HasSuffix(raw, []byte("/>"))})
}

func (x *xmlRewriter) end() error {
	f := x.top()
	x.stack = x.stack[:len(x.stack)-1]
	if f.opened == nil {
		return nil
	}
	x.hold--
	if err := x.finish(f.opened); err != nil {
		return err
	}
	if g := x.ps.j.g; g.Pending() >= maxPending {
		return g.Flush(x.ps.j.ctx)
	}
	return nil
}

func (x *xmlRewriter) chars(cd xml.CharData, a, b int64) error {
	f := x.top()
	if f == nil || a == b {
		return nil
	}
	var u *unit
	switch f.chars {
	case charsIgnore:
		return nil
	case charsText, charsPara:
		u = f.para
		if u == nil {
			return x.finish(&unit{kind: unitFree, nodes: []node{{a: a, b: b, text: bytes.Clone(cd), te: f.te}}})
		}
	case charsUnit:
		u = f.unit
	case charsGeneric:
		return x.finish(&unit{kind: unitNumOrFree, nodes: []node{{a: a, b: b, text: bytes.Clone(cd)}}})
	}
	u.size += len(cd)
	if u.size > x.ps.j.lim.MaxUnit {
		return x.tooLarge()
	}
	u.nodes = append(u.nodes, node{a: a, b: b, text: bytes.Clone(cd), change: f.change, te: f.te})
	return nil
}

func attrValue(se xml.StartElement, space, local string) string {
	for _, at := range se.Attr {
		if at.Name.Local == local && at.Name.Space == space {
			return at.Value
		}
	}
	return ""
}

// finish turns a closed unit's replacements into edits.
func (x *xmlRewriter) finish(u *unit) error {
	if len(u.nodes) == 0 {
		return nil
	}
	if x.ps.j.mode == modeExtract {
		if u.cell != nil && u.cell.subst != nil {
			if u.cellIndex == 0 {
				x.ps.j.text.Write(u.cell.subst)
			}
			x.ps.j.text.WriteByte('\n')
			return nil
		}
		for i := range u.nodes {
			if n := &u.nodes[i]; n.change == changeSep {
				x.ps.j.text.WriteString(n.sep)
			} else {
				x.ps.j.text.Write(n.text)
			}
		}
		x.ps.j.text.WriteByte('\n')
		return nil
	}
	pending, del := x.pending[:0], x.del[:0]
	for range u.nodes {
		pending, del = append(pending, nil), append(del, false)
	}
	x.pending, x.del = pending, del
	view, starts, joined := x.view, x.starts, x.joined
	defer func() { x.view, x.starts, x.joined = view, starts, joined }()
	build := func(skip change) {
		view, starts, joined = view[:0], starts[:0], joined[:0]
		for i := range u.nodes {
			n := &u.nodes[i]
			if n.change == skip && skip != changeNone {
				continue
			}
			view = append(view, i)
			starts = append(starts, len(joined))
			if n.change == changeSep {
				joined = append(joined, n.sep...)
			} else {
				joined = append(joined, n.text...)
			}
		}
	}
	if u.kind == unitPara && u.cell != nil && u.cell.subst != nil {
		// The text of a numeric cell shows its value: it becomes what
		// the value became (the first paragraph; others are emptied).
		build(changeDel)
		r := pseudonym.Replacement{Start: 0, End: len(joined)}
		if u.cellIndex == 0 {
			r.Text = u.cell.subst
		}
		place(u.nodes, view, starts, []pseudonym.Replacement{r}, pending, del, x.orphan)
		return x.emit(u, pending, del)
	}
	hasDel, hasIns := false, false
	for i := range u.nodes {
		hasDel = hasDel || u.nodes[i].change == changeDel
		hasIns = hasIns || u.nodes[i].change == changeIns
	}
	// The text as it is now (insertions, no deletions) and, when changes
	// are tracked, as it was: a name may be whole in either only.
	build(changeDel)
	rs, err := x.replacements(u.kind, joined)
	if err != nil {
		return err
	}
	place(u.nodes, view, starts, rs, pending, del, x.orphan)
	if hasDel {
		skip := changeIns
		if !hasIns {
			skip = changeNone
		}
		build(skip)
		rs, err := x.replacements(u.kind, joined)
		if err != nil {
			return err
		}
		place(u.nodes, view, starts, rs, pending, del, x.orphan)
	}
	return x.emit(u, pending, del)
}

// place maps replacements of a view's joined text onto its nodes: the
// new text goes where the replaced span starts, and the rest of the span
// is cut from the nodes it covers. Where the other view already edited a
// node the span covers, the span's other pieces are replaced each on its
// own (by orphan), so that nothing is lost and nothing left in clear; so
// are the pieces on either side of a tracked change, which belong to
// different versions of the text.
func place(nodes []node, view, starts []int, rs []pseudonym.Replacement, pending [][]localRepl, del []bool, orphan func([]byte) (pseudonym.Replacement, bool)) {
	type hit struct{ ni, s, e int }
	var hits []hit
	var seps, groups []int
	for _, r := range rs {
		hits, seps = hits[:0], seps[:0]
		clash := false
		for k, ni := range view {
			n := &nodes[ni]
			ns := starts[k]
			if n.change == changeSep {
				if ns > r.Start && ns+len(n.sep) <= r.End && ns < r.End && n.delOK {
					seps = append(seps, ni)
				}
				continue
			}
			ne := ns + len(n.text)
			if ne <= r.Start || ns >= r.End {
				continue
			}
			ls, le := max(r.Start, ns)-ns, min(r.End, ne)-ns
			if overlaps(pending[ni], ls, le) {
				clash = true
				continue
			}
			hits = append(hits, hit{ni, ls, le})
		}
		if clash {
			for _, h := range hits {
				if o, ok := orphan(nodes[h.ni].text[h.s:h.e]); ok {
					pending[h.ni] = append(pending[h.ni], localRepl{h.s + o.Start, h.s + o.End, bytes.Clone(o.Text)})
				}
			}
			continue
		}
		// Hits that follow each other with no node of another version of
		// the text (a tracked insertion or deletion) between them form a
		// group. A span over a tracked change has several: each side
		// keeps its own text, so each group gets a token of its own.
		groups := groups[:0]
		for i, h := range hits {
			if i == 0 || nodes[h.ni].change != nodes[hits[i-1].ni].change || otherVersionBetween(nodes, hits[i-1].ni, h.ni) {
				groups = append(groups, i)
			}
		}
		if len(groups) > 1 {
			groups = append(groups, len(hits))
			for k := 0; k+1 < len(groups); k++ {
				gh := hits[groups[k]:groups[k+1]]
				var piece []byte
				for _, h := range gh {
					piece = append(piece, nodes[h.ni].text[h.s:h.e]...)
				}
				o, ok := orphan(piece)
				switch {
				case ok && o.Start == 0 && o.End == len(piece):
					for i, h := range gh {
						text := []byte{}
						if i == 0 {
							text = append(text, o.Text...)
						}
						pending[h.ni] = append(pending[h.ni], localRepl{h.s, h.e, text})
					}
				case ok:
					for _, h := range gh {
						if o, ok := orphan(nodes[h.ni].text[h.s:h.e]); ok {
							pending[h.ni] = append(pending[h.ni], localRepl{h.s + o.Start, h.s + o.End, bytes.Clone(o.Text)})
						}
					}
				}
			}
			continue
		}
		for i, h := range hits {
			text := []byte{}
			if i == 0 {
				text = append(text, r.Text...)
			}
			pending[h.ni] = append(pending[h.ni], localRepl{h.s, h.e, text})
		}
		for _, ni := range seps {
			del[ni] = true
		}
	}
}

// otherVersionBetween reports whether a node between nodes a and b
// belongs to another version of the text than a.
func otherVersionBetween(nodes []node, a, b int) bool {
	for i := a + 1; i < b; i++ {
		if c := nodes[i].change; c != changeSep && c != nodes[a].change {
			return true
		}
	}
	return false
}

func overlaps(rs []localRepl, s, e int) bool {
	for _, r := range rs {
		if s < r.e && r.s < e {
			return true
		}
	}
	return false
}

// emit turns the pending replacements of u's nodes into edits.
func (x *xmlRewriter) emit(u *unit, pending [][]localRepl, del []bool) error {
	for i := range u.nodes {
		n := &u.nodes[i]
		if del[i] {
			x.edits = append(x.edits, edit{start: n.a, end: n.b})
			continue
		}
		reps := pending[i]
		if len(reps) == 0 {
			continue
		}
		slices.SortFunc(reps, func(a, b localRepl) int { return a.s - b.s })
		var newText []byte
		at := 0
		for _, r := range reps {
			newText = append(newText, n.text[at:r.s]...)
			newText = append(newText, r.text...)
			at = r.e
		}
		newText = append(newText, n.text[at:]...)
		raw := x.src.bytes(n.a, n.b)
		var ok bool
		x.dbuf, x.offs, ok = decodeRaw(x.dbuf, x.offs, raw)
		if ok && bytes.Equal(x.dbuf, n.text) {
			for _, r := range reps {
				x.edits = append(x.edits, edit{start: n.a + int64(x.offs[r.s]), end: n.a + int64(x.offs[r.e]), text: appendEscaped(nil, r.text, 0)})
			}
		} else {
			x.edits = append(x.edits, edit{start: n.a, end: n.b, text: appendEscaped(nil, newText, 0)})
		}
		if te := n.te; te != nil && te.canPreserve && !te.preserve && !te.fixed && len(newText) > 0 &&
			(isXMLSpace(newText[0]) || isXMLSpace(newText[len(newText)-1])) {
			te.fixed = true
			x.edits = append(x.edits, edit{start: te.tagEnd, end: te.tagEnd, text: []byte(` xml:space="preserve"`)})
		}
	}
	return nil
}

// replacements returns what to replace in a unit's text, as owned copies.
func (x *xmlRewriter) replacements(k unitKind, text []byte) ([]pseudonym.Replacement, error) {
	j := x.ps.j
	g := j.g
	var rs []pseudonym.Replacement
	var err error
	if j.mode == modeReidentify {
		switch k {
		case unitNumber, unitNumOrFree:
			if a, e, ok := digitsOnly(text); ok {
				orig, found, err := g.ReidentifyNumber(j.ctx, text[a:e])
				if err != nil || !found {
					return nil, err
				}
				return []pseudonym.Replacement{{Start: a, End: e, Text: bytes.Clone(orig)}}, nil
			}
			if k == unitNumber {
				return nil, nil
			}
		}
		if !bytes.Contains(text, []byte(pseudonym.TokenPrefix)) {
			return nil, nil
		}
		rs, err = g.Reidentify(j.ctx, nil, text)
		return owned(rs), err
	}
	switch k {
	case unitPara, unitFree:
		rs = g.Text(nil, text)
	case unitName:
		if r, ok := g.Name(text); ok {
			rs = []pseudonym.Replacement{r}
		}
	case unitNumber, unitNumOrFree:
		if a, e, ok := digitsOnly(text); ok {
			tok, found, err := g.Number(j.ctx, text[a:e])
			if err != nil || !found {
				return nil, err
			}
			return []pseudonym.Replacement{{Start: a, End: e, Text: bytes.Clone(tok)}}, nil
		}
		if k == unitNumOrFree {
			rs = g.Text(nil, text)
		}
	case unitFormula:
		return x.ps.formulaReplacements(text, true), nil
	case unitHeaderFooter:
		rs = g.Text(nil, maskHeaderFooter(text))
	case unitExact:
		if v, ok := x.ps.sheetRenames[string(text)]; ok {
			return []pseudonym.Replacement{{Start: 0, End: len(text), Text: []byte(v)}}, nil
		}
	}
	return owned(rs), nil
}

// orphan replaces a piece of a span whose other pieces the other view
// replaced already: pseudonymizing, with a token of its own; it stays
// as it is when re-identifying.
func (x *xmlRewriter) orphan(piece []byte) (pseudonym.Replacement, bool) {
	if x.ps.j.mode == modeReidentify {
		return pseudonym.Replacement{}, false
	}
	return x.ps.j.g.Name(piece)
}

// owned copies the texts of replacements out of the Segments' buffers.
func owned(rs []pseudonym.Replacement) []pseudonym.Replacement {
	for i := range rs {
		rs[i].Text = bytes.Clone(rs[i].Text)
	}
	return rs
}

// digitsOnly reports whether text is digits between white space, and
// where.
func digitsOnly(text []byte) (a, e int, ok bool) {
	a, e = 0, len(text)
	for a < e && isXMLSpace(text[a]) {
		a++
	}
	for e > a && isXMLSpace(text[e-1]) {
		e--
	}
	if a == e {
		return a, e, false
	}
	for _, c := range text[a:e] {
		if c < '0' || c > '9' {
			return a, e, false
		}
	}
	return a, e, true
}

// maskHeaderFooter blanks the formatting codes of a SpreadsheetML header
// or footer (&L, &C, &R, &P, &"Font,Bold", &12, &K00FF00 …) so that they
// do not stick to the words they precede; the text keeps its length.
func maskHeaderFooter(s []byte) []byte {
	m := bytes.Clone(s)
	for i := 0; i < len(m); i++ {
		if m[i] != '&' || i+1 >= len(m) {
			continue
		}
		c := m[i+1]
		switch {
		case c == '&':
			m[i+1] = ' '
			i++
		case c == '"':
			m[i], m[i+1] = ' ', ' '
			k := i + 2
			for k < len(m) && m[k] != '"' {
				m[k] = ' '
				k++
			}
			if k < len(m) {
				m[k] = ' '
			}
			i = k
		case c >= '0' && c <= '9':
			m[i] = ' '
			k := i + 1
			for k < len(m) && m[k] >= '0' && m[k] <= '9' {
				m[k] = ' '
				k++
			}
			i = k - 1
		case c == 'K':
			m[i], m[i+1] = ' ', ' '
			k := i + 2
			for k < len(m) && k < i+8 && (hexVal(m[k]) >= 0 || m[k] == '+' || m[k] == '-') {
				m[k] = ' '
				k++
			}
			i = k - 1
		default:
			m[i], m[i+1] = ' ', ' '
			i++
		}
	}
	return m
}

// dirOf is the folder of a part name, with its slash.
func dirOf(name string) string {
	if k := bytes.LastIndexByte([]byte(name), '/'); k >= 0 {
		return name[:k+1]
	}
	return ""
}
