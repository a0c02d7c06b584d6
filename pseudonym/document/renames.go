package document

import (
	"bytes"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/sluss/sluss/pseudonym"
)

// Sheet names and the names of embedded files are labels: when one holds
// a personnummer or a name it is replaced whole by one token (a sheet name
// must stay short and a file keeps its extension), and every reference to
// it is rewritten to match: formulas and defined names, ODF range
// addresses and settings, relationships, [Content_Types].xml and the ODF
// manifest. Re-identification finds the tokens the same way back.

// formulaReplacements finds, in a formula or cell range address, the
// string literals (when literals is set: free text) and the references to
// renamed sheets ('Tolvan Tolvansson'!A1, [$'Tolvan Tolvansson'.A1],
// Lista.A1).
func (ps *pkgState) formulaReplacements(f []byte, literals bool) []pseudonym.Replacement {
	var out []pseudonym.Replacement
	var lits [][2]int
	for i := 0; i < len(f); i++ {
		if f[i] != '"' {
			continue
		}
		k := i + 1
		for k < len(f) {
			if f[k] == '"' {
				if k+1 < len(f) && f[k+1] == '"' {
					k += 2
					continue
				}
				break
			}
			k++
		}
		lits = append(lits, [2]int{i, k})
		if literals && k > i+1 {
			for _, r := range ps.j.g.Text(nil, f[i+1:k]) {
				out = append(out, pseudonym.Replacement{Start: i + 1 + r.Start, End: i + 1 + r.End, Text: bytes.Clone(r.Text)})
			}
		}
		i = k
	}
	inLiteral := func(p int) bool {
		for _, l := range lits {
			if p > l[0] && p <= l[1] {
				return true
			}
		}
		return false
	}
	for old, nv := range ps.sheetRenames {
		quoted := "'" + strings.ReplaceAll(old, "'", "''") + "'"
		for at := 0; ; {
			k := bytes.Index(f[at:], []byte(quoted))
			if k < 0 {
				break
			}
			p := at + k
			at = p + len(quoted)
			if !inLiteral(p) {
				out = append(out, pseudonym.Replacement{Start: p + 1, End: p + len(quoted) - 1, Text: []byte(nv)})
			}
		}
		if strings.ContainsAny(old, " '!.;,()[]{}+-*/&^<>=\"") {
			continue
		}
		for at := 0; ; {
			k := bytes.Index(f[at:], []byte(old))
			if k < 0 {
				break
			}
			p := at + k
			e := p + len(old)
			at = e
			if e >= len(f) || (f[e] != '!' && f[e] != '.') || inLiteral(p) {
				continue
			}
			if p > 0 && !strings.ContainsRune("=(,;: +-*/&^<>[$!", rune(f[p-1])) {
				continue
			}
			out = append(out, pseudonym.Replacement{Start: p, End: e, Text: []byte(nv)})
		}
	}
	slices.SortFunc(out, func(a, b pseudonym.Replacement) int { return a.Start - b.Start })
	kept := out[:0]
	end := 0
	for _, r := range out {
		if r.Start >= end {
			kept = append(kept, r)
			end = r.End
		}
	}
	return kept
}

// renameCandidate reports whether files in dir may carry a name of the
// user's choosing: embedded objects, pictures, media.
func renameCandidate(dir string) bool {
	d := "/" + strings.ToLower(dir)
	for _, s := range []string{"/embeddings/", "/media/", "/pictures/", "/objectreplacements/"} {
		if strings.Contains(d, s) {
			return true
		}
	}
	return false
}

// computePartRenames decides the new names of the package's files.
func (ps *pkgState) computePartRenames() error {
	seen := map[string]bool{}
	for _, f := range ps.zr.File {
		seen[strings.ToLower(f.Name)] = true
	}
	j := ps.j
	if j.mode == modeExtract {
		return nil
	}
	for _, f := range ps.zr.File {
		name := f.Name
		if strings.HasSuffix(name, "/") {
			continue
		}
		dir := dirOf(name)
		seg := name[len(dir):]
		stem, ext := seg, ""
		if k := strings.LastIndexByte(seg, '.'); k > 0 {
			stem, ext = seg[:k], seg[k:]
		}
		var ns string
		if j.mode == modeReidentify {
			if !strings.Contains(stem, pseudonym.TokenPrefix) {
				continue
			}
			rs, err := j.g.Reidentify(j.ctx, nil, []byte(stem))
			if err != nil {
				return err
			}
			ns = string(applyReplacements([]byte(stem), rs)) + ext
		} else {
			if !renameCandidate(dir) {
				continue
			}
			r, ok := j.g.Label([]byte(stem))
			if !ok {
				continue
			}
			ns = string(applyReplacements([]byte(stem), []pseudonym.Replacement{r})) + ext
		}
		if ns == seg {
			continue
		}
		if seen[strings.ToLower(dir+ns)] {
			return &ParseError{Msg: "an embedded file's new name is taken"}
		}
		seen[strings.ToLower(dir+ns)] = true
		ps.partRenames[name] = dir + ns
	}
	return nil
}

func applyReplacements(v []byte, rs []pseudonym.Replacement) []byte {
	var out []byte
	at := 0
	for _, r := range rs {
		out = append(append(out, v[at:r.Start]...), r.Text...)
		at = r.End
	}
	return append(out, v[at:]...)
}

// renamedRef returns the new form of a reference to a renamed part. dir
// is the folder of the part that holds the reference; partName says the
// reference is a [Content_Types].xml part name (absolute, escaped).
func (ps *pkgState) renamedRef(ref, dir string, partName bool) (string, bool) {
	if len(ps.partRenames) == 0 || ref == "" {
		return "", false
	}
	escaped := partName || strings.HasSuffix(dir, "_rels/")
	base := dir
	switch {
	case strings.HasSuffix(dir, "_rels/"):
		base = strings.TrimSuffix(dir, "_rels/")
	case dir == "META-INF/":
		base = ""
	}
	p := ref
	if escaped {
		u, err := url.PathUnescape(ref)
		if err != nil {
			return "", false
		}
		p = u
	}
	var full string
	if strings.HasPrefix(p, "/") {
		full = strings.TrimPrefix(p, "/")
	} else {
		full = path.Join(base, strings.TrimPrefix(p, "./"))
	}
	nn, ok := ps.partRenames[full]
	if !ok {
		return "", false
	}
	seg := nn[len(dirOf(nn)):]
	if escaped {
		seg = url.PathEscape(seg)
	}
	k := strings.LastIndexByte(ref, '/')
	return ref[:k+1] + seg, true
}
