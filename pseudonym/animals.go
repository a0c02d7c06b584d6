package pseudonym

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// Animals and boats named like people: "jämthunden Tyra", "ekan Ingeborg",
// "ett marsvin som heter Doris", "Sigge är katten", "Juni rider Fia". The
// name is the animal's, not a person's, and stays so for the rest of the
// stream: "Doris vilar", "vaccination av Sture". The price: a person with
// the pet's given name, standing alone later in the same document
// ("Katten heter Maja … Maja kom hem"), is taken for the pet; her full
// name, or a role or relation before her, is still found.

// maxAnimals bounds nameDetector.animals.
const maxAnimals = 256

// animalHeads are the nouns, in the definite singular, that name an animal
// or a boat right before its name. A lower-case compound ending in one of
// those in animalTails is one too (jämthunden, lektionshästen, roddbåten).
var animalHeads = map[string]bool{
	"hunden": true, "katten": true, "hästen": true, "ponnyn": true, "marsvinet": true,
	"kaninen": true, "valpen": true, "kattungen": true, "kattungarna": true, "tiken": true,
	"hingsten": true, "stoet": true, "valacken": true, "fölet": true, "kalven": true,
	"tjuren": true, "grisen": true, "geten": true, "fåret": true, "tuppen": true,
	"hönan": true, "fågeln": true, "papegojan": true, "undulaten": true, "hamstern": true,
	"ormen": true, "sköldpaddan": true, "katthonan": true, "hankatten": true,
	"labradoren": true, "retrievern": true, "schäfern": true, "taxen": true, "pudeln": true,
	"spanieln": true, "terriern": true, "beaglen": true, "boxern": true, "collien": true,
	"ekan": true, "båten": true, "kanoten": true, "skutan": true, "jollen": true,
	"färjan": true, "ångaren": true, "traktorn": true, "roboten": true, "dockan": true,
	"nallen": true, "gosedjuret": true, "kon": true, "kossan": true, "åsnan": true, "lammet": true,
	"alpackan": true, "ankan": true,
	// In the plural before a list of names: hästarna Stella och Doris.
	"hundarna": true, "katterna": true, "hästarna": true, "ponnyerna": true, "kaninerna": true,
	"grisarna": true, "korna": true, "getterna": true, "fåren": true, "hönsen": true, "hönorna": true,
	"kalvarna": true, "marsvinen": true, "ekorna": true, "båtarna": true, "jollarna": true,
	"alpackorna": true, "ankorna": true,
}

// animalTails are heads that also end a compound: gråhunden, travhästen,
// shetlandsponnyn, segelbåten. Short or ambiguous heads (kon, katten in
// skatten) are not.
var animalTails = []string{"hunden", "hästen", "ponnyn", "båten", "kaninen", "valpen", "båt", "jollen",
	"hundarna", "hästarna", "katterna", "kaninerna", "grisarna", "båtarna", "jollarna", "ponnyerna"}

// animalNouns are the forms of animal and boat nouns that may stand before
// "heter": "vår hund heter Bamse", "ett marsvin som heter Doris",
// "Föreningens ekor heter Greta och Anna-Lisa".
var animalNouns = map[string]bool{
	"hund": true, "hunden": true, "hundar": true, "hundarna": true, "katt": true,
	"katten": true, "katter": true, "katterna": true, "häst": true, "hästen": true,
	"hästar": true, "hästarna": true, "ponny": true, "ponnyn": true, "ponnyer": true,
	"marsvin": true, "marsvinet": true, "marsvinen": true, "kanin": true, "kaninen": true,
	"kaniner": true, "valp": true, "valpen": true, "valpar": true, "hamster": true,
	"hamstern": true, "fågel": true, "fågeln": true, "undulat": true, "papegoja": true,
	"orm": true, "ko": true, "kon": true, "kor": true, "get": true, "geten": true,
	"gris": true, "grisen": true, "höna": true, "hönan": true, "tupp": true, "tuppen": true,
	"eka": true, "ekan": true, "ekor": true, "ekorna": true, "båt": true, "båten": true,
	"båtar": true, "båtarna": true, "kanot": true, "kanoten": true, "jolle": true,
	"jollen": true, "sköldpadda": true, "sköldpaddan": true, "kattunge": true,
	"kattungen": true, "djur": true, "djuret": true, "husdjur": true, "husdjuret": true,
	"robot": true, "roboten": true, "docka": true, "dockan": true, "nalle": true, "nallen": true,
}

// ownerWords before an animal noun make the name after it the animal's:
// "sin katt Stella", "familjens hund Tyson".
var ownerWords = map[string]bool{
	"min": true, "din": true, "sin": true, "vår": true, "er": true, "hans": true, "hennes": true,
	"deras": true, "familjens": true, "mitt": true, "ditt": true, "sitt": true, "vårt": true, "ert": true,
}

// namingVerbs before a name tell what it is called.
var namingVerbs = map[string]bool{"heter": true, "hette": true, "kallas": true, "kallades": true, "döptes": true}

// ridingVerbs take a horse as object: "Juni rider Fia".
var ridingVerbs = map[string]bool{"rider": true, "red": true, "ridit": true, "rida": true}

// animalHead reports whether lower is one of animalHeads or a compound
// ending in one of animalTails.
func animalHead(lower []byte) bool {
	if animalHeads[string(lower)] {
		return true
	}
	for _, t := range animalTails {
		if len(lower) >= len(t)+3 && bytes.HasSuffix(lower, []byte(t)) {
			return true
		}
	}
	return false
}

// animal reports whether the run ws[k:e] (one word, or two: Lilla Gubben)
// is an animal's or a boat's name by the words around it, or by what the
// stream has shown of that word before; the name is remembered for the
// rest of the stream. A personnummer or an age beside it makes a person.
func (d *nameDetector) animal(b []byte, ws []word, k, e int, pnrs []pnrMatch) bool {
	if e-k > 2 {
		return false
	}
	first := ws[k]
	if nearPnr(b, first.start, ws[e-1].end, pnrs) || ageAfter(b, ws[e-1].end) {
		return false
	}
	var kb [40]byte
	if first.end-first.start > len(kb) {
		return false
	}
	key := appendLower(kb[:0], b[first.start:first.end])
	if e == k+1 && len(d.animals) > 0 {
		n := len(key)
		if d.animals[string(key)] || n > 3 && key[n-1] == 's' && d.animals[string(key[:n-1])] {
			// … unless a role or a relation says a person has the name
			// too: "uppkallad efter farmor Ingeborg".
			return k == 0 || ws[k-1].shape != shapeLower || !d.facts(b[ws[k-1].start:ws[k-1].end]).strongCue
		}
	}
	named := first // the word that is the name
	if e == k+2 && first.shape == shapeCap && animalHead(key) && d.facts(b[first.start:first.end]).flags&nameFlags == 0 {
		// "Labradoren Bruno pensioneras", "Ekan Ingeborg hittad": the noun
		// capitalised at a sentence start.
		named = ws[k+1]
		if named.end-named.start > len(kb) {
			return false
		}
		key = appendLower(kb[:0], b[named.start:named.end])
	} else if !d.animalContext(b, ws, k, e) {
		return false
	}
	d.animalEnd = ws[e-1].end
	if named != first || e == k+1 {
		if d.animals == nil || len(d.animals) >= maxAnimals {
			d.animals = make(map[string]bool)
		}
		d.animals[string(key)] = true
		d.forget(b[named.start:named.end])
		d.learned++ // read the stream again: earlier mentions are the animal's too
	}
	return true
}

// animalContext reports whether the words around ws[k:e] say it names an
// animal or a boat.
func (d *nameDetector) animalContext(b []byte, ws []word, k, e int) bool {
	var lb [32]byte
	lowerAt := func(j int) []byte {
		w := ws[j]
		if w.shape != shapeLower || w.end-w.start > len(lb) {
			return nil
		}
		return appendLower(lb[:0], b[w.start:w.end])
	}
	if vesselBefore(b, ws[k].start) {
		return true // S/Y Ingrid, M/S Greta
	}
	if k > 0 && d.animalEnd > 0 && ws[k].start > d.animalEnd && ws[k].start-d.animalEnd <= 5 && e == k+1 {
		// "hästarna Stella och Doris", "kon Rosa, grisarna …": the next
		// name of the list is an animal's too.
		if gap := b[d.animalEnd:ws[k].start]; string(gap) == " och " || string(gap) == ", " || string(gap) == " & " {
			return true
		}
	}
	if k > 0 && ws[k].start == ws[k-1].end+1 {
		if p := lowerAt(k - 1); p != nil {
			switch {
			case animalHead(p):
				return true // jämthunden Tyra, ekan Ingeborg
			case ridingVerbs[string(p)]:
				return e == k+1 // Juni rider Fia
			case animalNouns[string(p)] && !animalHeads[string(p)]:
				// "sin katt Stella", "vår hund Tyson", "Templets katt Khao
				// Niao", "grannens hund Bruno": an owner's animal.
				if s, t, ok := wordBefore(b, ws[k-1].start); ok && t-s <= len(lb) {
					o := appendLower(lb[:0], b[s:t])
					if ownerWords[string(o)] || len(o) >= 5 && o[len(o)-1] == 's' && (bytes.HasSuffix(o, []byte("ens")) || bytes.HasSuffix(o, []byte("ets"))) {
						return true
					}
				}
			case namingVerbs[string(p)]:
				// "ett marsvin som heter Doris", "ekor heter Greta"
				s, t, ok := wordBefore(b, ws[k-1].start)
				if ok && t-s == 3 && string(appendLower(lb[:0], b[s:t])) == "som" {
					s, t, ok = wordBefore(b, s)
				}
				if ok && t-s <= len(lb) && animalNouns[string(appendLower(lb[:0], b[s:t]))] {
					return true
				}
			}
		}
	}
	if d.riderDash(b, ws, k, e) {
		return true // a riding school's list: "Noor Hamdan – Stella"
	}
	if s := ws[k].start; k > 0 && s >= 2 && b[s-1] == '"' && b[s-2] == ' ' && ws[k-1].end == s-2 {
		// Båten "Ronja", hästen "Blixten": the noun, then the name quoted.
		if p := lowerAt(k - 1); p != nil && animalHead(p) {
			return true
		}
		if p := ws[k-1]; p.shape == shapeCap && p.end-p.start <= len(lb) && animalHead(appendLower(lb[:0], b[p.start:p.end])) {
			return true
		}
	}
	if k > 0 && ws[k].start == ws[k-1].end+1 {
		// "har ridit på Saga": a riding verb, then "på".
		if p := lowerAt(k - 1); p != nil && string(p) == "på" {
			if s, t, ok := wordBefore(b, ws[k-1].start); ok && t-s <= len(lb) && ridingVerbs[string(appendLower(lb[:0], b[s:t]))] {
				return e == k+1
			}
		}
	}
	// "Hund (Stella)": the animal's noun, then its name in brackets.
	if s := ws[k].start; e == k+1 && s >= 3 && b[s-1] == '(' && b[s-2] == ' ' && ws[e-1].end < len(b) && b[ws[e-1].end] == ')' {
		if ps, pe, ok := wordBefore(b, s-1); ok && pe-ps <= len(lb) {
			if w := appendLower(lb[:0], b[ps:pe]); animalNouns[string(w)] || animalHead(w) {
				return true
			}
		}
	}
	// "Stella (grannens hund)", "Bruno (katten alltså)": the bracket
	// after the name says what it is.
	if end := ws[e-1].end; end+3 < len(b) && b[end] == ' ' && b[end+1] == '(' {
		if c := bytes.IndexByte(b[end+2:min(len(b), end+40)], ')'); c > 0 {
			// The noun first, or after its owner: "(katten)", "(grannens
			// hund)", "(vår katt)"; not "(mamma till hunden Bruno)".
			in := b[end+2 : end+2+c]
			for i, n := 0, 0; i < len(in) && n < 2; n++ {
				j := wordEnd(in, i)
				if j == i || j-i > len(lb) {
					break
				}
				w := appendLower(lb[:0], in[i:j])
				if animalNouns[string(w)] || animalHead(w) {
					return true
				}
				if n > 0 || !ownerWords[string(w)] && !(len(w) >= 4 && w[len(w)-1] == 's') || j >= len(in) || in[j] != ' ' {
					break
				}
				i = j + 1
			}
		}
	}
	// "Sigge är katten", "Sigge är vår hund"
	if e != k+1 {
		return false
	}
	s, t, ok := nextWordAt(b, ws[k].end)
	if !ok || s != ws[k].end+1 || t-s > 3 {
		return false
	}
	if v := appendLower(lb[:0], b[s:t]); string(v) != "är" && string(v) != "var" {
		return false
	}
	s, t, ok = nextWordAt(b, t)
	if !ok || t-s > len(lb) {
		return false
	}
	w := appendLower(lb[:0], b[s:t])
	switch string(w) {
	case "en", "ett", "vår", "min", "din", "hans", "hennes", "deras", "familjens":
		if s, t, ok = nextWordAt(b, t); !ok || t-s > len(lb) {
			return false
		}
		w = appendLower(lb[:0], b[s:t])
	}
	return animalNouns[string(w)] || animalHead(w)
}

// riderDash reports whether ws[k:e] is the horse of a riding school's
// line "Rider – Horse": one or two capitalised words that end the line
// (or come before a bracket or a comma), after a dash after the rider's
// capitalised words from the line's start, in a text that speaks of a
// riding school within the 4 KiB before.
func (d *nameDetector) riderDash(b []byte, ws []word, k, e int) bool {
	if k == 0 || e-k > 2 || e-k == 2 && personShaped(d.facts(b[ws[k].start:ws[k].end]), d.facts(b[ws[k+1].start:ws[k+1].end])) {
		return false // "Anna Berg – Karin Lind": two people
	}
	s := ws[k].start
	var dash int
	gap := false // a table's column gap instead of a dash: one word after two
	switch {
	case s >= 5 && string(b[s-5:s]) == " \u2013 ":
		dash = s - 5
	case s >= 3 && string(b[s-3:s]) == " - ":
		dash = s - 3
	case s >= 4 && (b[s-1] == ' ' || b[s-1] == '\t') && (b[s-2] == ' ' || b[s-2] == '\t') && (b[s-3] == ' ' || b[s-3] == '\t') || s >= 2 && b[s-1] == '\t':
		dash = s - 1
		for dash > 0 && (b[dash-1] == ' ' || b[dash-1] == '\t') {
			dash--
		}
		gap = e == k+1
		if !gap {
			return false
		}
	default:
		return false
	}
	// The rider: one to three capitalised words, or their tokens once
	// pseudonymized, from the line's start.
	ls := bytes.LastIndexByte(b[:dash], '\n') + 1
	for ls < dash && (b[ls] == ' ' || b[ls] == '\t' || b[ls] == '-' || b[ls] == '*') {
		ls++
	}
	parts := 0
	for p := ls; p < dash; {
		q := p
		for q < dash && b[q] != ' ' {
			q++
		}
		if q == p {
			return false
		}
		if l, u, _ := letterAt(b, p); !(l && u) && !bytes.HasPrefix(b[p:q], []byte(tokenPrefix)) {
			return false
		}
		parts++
		p = q + 1
	}
	if parts == 0 || parts > 3 || gap && parts < 2 {
		return false
	}
	end := ws[e-1].end
	if end < len(b) && b[end] != '\n' && b[end] != '\r' && b[end] != ',' && !(b[end] == ' ' && end+1 < len(b) && b[end+1] == '(') {
		return false
	}
	return ridingText(b[max(0, dash-4096):dash])
}

// ridingText reports whether t speaks of a riding school.
func ridingText(t []byte) bool {
	for _, w := range [...]string{"idskol", "idlärare", "yttare", "idhus", "IDSKOL", "ektionshäst"} {
		if bytes.Contains(t, []byte(w)) {
			return true
		}
	}
	return false
}

// wordBefore returns the word that ends right before i, past one space:
// letters only, as written.
func wordBefore(b []byte, i int) (start, end int, ok bool) {
	if i < 2 || b[i-1] != ' ' {
		return 0, 0, false
	}
	end = i - 1
	start = lettersBefore(b, end)
	return start, end, start < end
}

// lettersBefore returns where the letters that end b[:end] start.
func lettersBefore(b []byte, end int) int {
	start := end
	for start > 0 {
		r, n := utf8.DecodeLastRune(b[:start])
		if !unicode.IsLetter(r) {
			break
		}
		start -= n
	}
	return start
}

// vesselBefore reports whether a vessel's prefix (S/Y, M/Y, M/S, S/S, M/B)
// and a space stand right before b[i].
func vesselBefore(b []byte, i int) bool {
	if i < 4 || b[i-1] != ' ' || b[i-3] != '/' || i > 4 && b[i-5] != ' ' && b[i-5] != '\n' && b[i-5] != '\t' && b[i-5] != '(' {
		return false
	}
	switch string(b[i-4 : i-1]) {
	case "S/Y", "M/Y", "M/S", "S/S", "M/B", "s/y", "m/y", "m/s":
		return true
	}
	return false
}
