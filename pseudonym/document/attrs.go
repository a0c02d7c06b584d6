package document

import (
	"bytes"
	"encoding/xml"
	"strings"

	"github.com/sluss/sluss/pseudonym"
)

// attrRole says how an attribute's value is read.
type attrRole uint8

const (
	attrNone      attrRole = iota
	attrName               // a person's name, whole (w:author, initials, userId)
	attrFree               // free text (alt text, tooltips, string values)
	attrNumber             // a number that may be a personnummer (pivot caches)
	attrFormula            // a formula: string literals and sheet names
	attrAddress            // a cell range address: sheet names
	attrSheetName          // the name of a sheet
	attrCellValue          // ODF office:value of a numeric cell
	attrPartRef            // a reference to a part of the package
	attrExact              // a value that is a sheet name when it equals one
)

// personAttrs are attribute local names whose value is a person: the
// authors of tracked changes and comments, their initials, the user ids
// and display names of comment authors.
var personAttrs = map[string]bool{"author": true, "initials": true, "userId": true, "displayName": true}

func (x *xmlRewriter) attrRole(se xml.StartElement, f *frame, at xml.Attr) attrRole {
	el, local := f.id, se.Name.Local
	an := at.Name
	if an.Space == "xmlns" || (an.Space == "" && an.Local == "xmlns") {
		return attrNone
	}
	aid := namespaces[an.Space]
	if aid == nsOther || aid == el || aid == nsW15 || aid == nsW14 {
		if personAttrs[an.Local] {
			return attrName
		}
	}
	switch {
	case an.Local == "tooltip":
		return attrFree
	case (local == "cNvPr" || local == "docPr") && (an.Local == "descr" || an.Local == "title"):
		return attrFree
	}
	switch el {
	case nsW:
		if local == "docVar" && an.Local == "val" {
			return attrFree
		}
	case nsP, nsP188:
		if (local == "cmAuthor" || local == "author") && an.Local == "name" {
			return attrName
		}
	case nsS:
		switch {
		case local == "sheet" && an.Local == "name":
			return attrSheetName
		case local == "s" && an.Local == "v":
			return attrFree
		case local == "n" && an.Local == "v":
			return attrNumber
		}
	case nsRels:
		if local == "Relationship" && an.Local == "Target" {
			if strings.EqualFold(attrValue(se, "", "TargetMode"), "External") {
				return attrFree
			}
			return attrPartRef
		}
	case nsCT:
		if local == "Override" && an.Local == "PartName" {
			return attrPartRef
		}
	case nsManifest:
		if local == "file-entry" && aid == nsManifest && an.Local == "full-path" {
			return attrPartRef
		}
	case nsConfig:
		if local == "config-item-map-entry" && aid == nsConfig && an.Local == "name" {
			return attrExact
		}
	}
	switch aid {
	case nsXlink:
		switch an.Local {
		case "href":
			if hasScheme(at.Value) {
				return attrFree
			}
			return attrPartRef
		case "title":
			return attrFree
		}
	case nsOffice:
		switch an.Local {
		case "string-value", "title":
			return attrFree
		case "value":
			if f.cell != nil {
				return attrCellValue
			}
		}
	case nsTable:
		switch {
		case an.Local == "name" && el == nsTable && local == "table":
			return attrSheetName
		case an.Local == "formula" || an.Local == "expression" || an.Local == "condition":
			return attrFormula
		}
	}
	if strings.HasSuffix(an.Local, "address") && (aid == nsTable || aid == nsChart || aid == nsDraw || aid == nsPresentation) {
		return attrAddress
	}
	return attrNone
}

// hasScheme reports whether a reference is an absolute URI (mailto:,
// https:) rather than a path inside the package.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			return i > 1 // not a Windows drive letter
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}

// attributes rewrites the values of a start tag's attributes that hold
// personal data, as edits of the tag's raw bytes.
func (x *xmlRewriter) attributes(se xml.StartElement, f *frame, a, b int64, reid bool) error {
	var roles [16]attrRole
	rl := roles[:0]
	need := false
	for _, at := range se.Attr {
		r := x.attrRole(se, f, at)
		rl = append(rl, r)
		if r != attrNone || (reid && strings.Contains(at.Value, pseudonym.TokenPrefix)) {
			need = true
		}
	}
	if !need {
		return nil
	}
	var ok bool
	x.attrs, ok = scanAttrs(x.attrs, x.src.bytes(a, b))
	if !ok || len(x.attrs) != len(se.Attr) {
		return x.errorf("a start tag the rewriter cannot read")
	}
	valueType := attrValue(se, officeNS, "value-type")
	for i, at := range se.Attr {
		rs, err := x.attrReplacements(rl[i], f, at, valueType, reid)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			continue
		}
		ra := x.attrs[i]
		start := a + int64(ra.start)
		raw := x.src.bytes(start, a+int64(ra.end))
		value := []byte(at.Value)
		var dok bool
		x.dbuf, x.offs, dok = decodeRaw(x.dbuf, x.offs, raw)
		if dok && bytes.Equal(x.dbuf, value) {
			for _, r := range rs {
				x.edits = append(x.edits, edit{start: start + int64(x.offs[r.Start]), end: start + int64(x.offs[r.End]), text: appendEscaped(nil, r.Text, ra.quote)})
			}
			continue
		}
		var nv []byte
		at := 0
		for _, r := range rs {
			nv = append(append(nv, value[at:r.Start]...), r.Text...)
			at = r.End
		}
		nv = append(nv, value[at:]...)
		x.edits = append(x.edits, edit{start: start, end: start + int64(len(raw)), text: appendEscaped(nil, nv, ra.quote)})
	}
	return nil
}

// attrReplacements returns what to replace in one attribute value.
func (x *xmlRewriter) attrReplacements(role attrRole, f *frame, at xml.Attr, valueType string, reid bool) ([]pseudonym.Replacement, error) {
	j := x.ps.j
	g := j.g
	v := []byte(at.Value)
	switch role {
	case attrPartRef:
		nv, ok := x.ps.renamedRef(at.Value, x.dir, at.Name.Local == "PartName")
		if !ok {
			return nil, nil
		}
		return []pseudonym.Replacement{{Start: 0, End: len(v), Text: []byte(nv)}}, nil
	case attrCellValue:
		if valueType != "float" && valueType != "percentage" && valueType != "currency" {
			return nil, nil
		}
		a, e, ok := digitsOnly(v)
		if !ok {
			return nil, nil
		}
		var out []byte
		var found bool
		var err error
		if reid {
			out, found, err = g.ReidentifyNumber(j.ctx, v[a:e])
		} else {
			out, found, err = g.Number(j.ctx, v[a:e])
		}
		if err != nil || !found {
			return nil, err
		}
		out = bytes.Clone(out)
		f.cell.subst = out
		return []pseudonym.Replacement{{Start: a, End: e, Text: out}}, nil
	case attrNumber:
		a, e, ok := digitsOnly(v)
		if !ok {
			break
		}
		var out []byte
		var found bool
		var err error
		if reid {
			out, found, err = g.ReidentifyNumber(j.ctx, v[a:e])
		} else {
			out, found, err = g.Number(j.ctx, v[a:e])
		}
		if err != nil || !found {
			return nil, err
		}
		return []pseudonym.Replacement{{Start: a, End: e, Text: bytes.Clone(out)}}, nil
	}
	if reid {
		if !strings.Contains(at.Value, pseudonym.TokenPrefix) {
			return nil, nil
		}
		rs, err := g.Reidentify(j.ctx, nil, v)
		return owned(rs), err
	}
	switch role {
	case attrName:
		if r, ok := g.Name(v); ok {
			return owned([]pseudonym.Replacement{r}), nil
		}
	case attrFree:
		return owned(g.Text(nil, v)), nil
	case attrFormula:
		return x.ps.formulaReplacements(v, true), nil
	case attrAddress:
		return x.ps.formulaReplacements(v, false), nil
	case attrSheetName:
		if nv, ok := x.ps.sheetRenames[at.Value]; ok {
			return []pseudonym.Replacement{{Start: 0, End: len(v), Text: []byte(nv)}}, nil
		}
		if x.ps.sheetsKnown {
			return nil, nil
		}
		if r, ok := g.Label(v); ok {
			x.ps.sheetRenames[at.Value] = string(r.Text)
			return owned([]pseudonym.Replacement{r}), nil
		}
	case attrExact:
		if nv, ok := x.ps.sheetRenames[at.Value]; ok {
			return []pseudonym.Replacement{{Start: 0, End: len(v), Text: []byte(nv)}}, nil
		}
	}
	return nil, nil
}
