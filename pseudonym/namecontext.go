package pseudonym

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file holds the context rules that tell a person from a thing named
// after one, and that find a person the lexicons are unsure of: rooms,
// streets, prizes and foundations named after people, organisations in name
// fields, statute abbreviations and system names, the verb after a subject,
// chat speakers and "Efternamn, Förnamn" lists.

// Venue nouns: the capitalised words right after one of these name the
// venue, whoever it was named after (Sal Selma Lagerlöf, Rum Astrid
// Lindgren, Restaurang Jenny Lind), and a venue noun right after a name
// makes it the venue's (Vera Café).
var venueNouns = map[string]bool{
	"rum": true, "rummet": true, "sal": true, "salen": true, "lokal": true, "lokalen": true,
	"konferensrum": true, "konferensrummet": true, "mötesrum": true, "mötesrummet": true,
	"grupprum": true, "samtalsrum": true, "konferenssal": true, "konferenssalen": true,
	"restaurang": true, "restaurangen": true, "café": true, "cafe": true, "kafé": true,
	"hotell": true, "hotellet": true, "aula": true, "aulan": true, "salong": true,
	"galleri": true, "galleriet": true, "paviljong": true, "paviljongen": true, "pizzeria": true, "pizzerian": true,
	"villan": true, "gruppbostaden": true, "gruppboendet": true, "bokcirkeln": true,
	"studiecirkeln": true, "sankt": true, "sankta": true, "bistro": true,
	"bageri": true, "kebab": true, "sushi": true, "trattoria": true, "pub": true,
	"bord": true, "bordet": true, "ateljé": true, "ateljén": true, "ateljéen": true,
	// Royal titles: the king's and princesses' names are public and name
	// halls, prizes and hospitals (Drottning Silvias barnsjukhus,
	// Prinsessan Estelles pokal). Kung and Prins are surnames too: see
	// venueBefore.
	"drottning": true, "drottningen": true, "kungen": true, "konung": true, "prinsessan": true,
	"prinsen": true, "kronprinsessan": true, "kronprinsen": true,
}

// venueBefore are the venue nouns and titles that are surnames too (Anna
// Hall, Eva Prins, Per Kung, David Villa): unlike venueNouns they name a
// venue or a royal only right before the words of the name (Villa
// Augusta, Hall Carolina Klüft, Kung Carl Gustaf), and say nothing after
// one. A value 2 needs two words after it, so that a register's "Hall
// Anna" stays a person.
var venueBefore = map[string]uint8{
	"villa": 1, "hall": 2, "kung": 2, "prins": 2,
	// … and nouns that after a name would take it from a person
	// ("Handläggare: Sten Studio", "Eva Krog"): Studio Karin Boye,
	// Bassäng Arne Borg, Konditori Gunnarssons, Krog Sven Ek, stugan Emil.
	// (Not Brf: a "Brf Anna Berg" in a name column may be a person's.)
	"studio": 1, "studion": 1, "bassäng": 1, "bassängen": 1,
	"konditori": 1, "konditoriet": 1, "stugan": 1, "grill": 1, "krog": 1, "krogen": 1,
	// Stables, riding halls and health centres are named after people
	// too: Stall Selma, Ridhuset Emil, Vårdcentralen Gustaf Fröding.
	"stall": 1, "stallet": 1, "ridhus": 1, "ridhuset": 1, "vårdcentral": 2, "vårdcentralen": 2,
	"hälsocentral": 2, "hälsocentralen": 2, // two words after: "Vårdcentralen Andersson 19121212-1212" is a patient
}

// venueFirst reports whether the run ws[k:e] is the name of a venue or a
// royal by a word of venueBefore: its own capitalised first word (Studio
// Karin Boye) or the lower-case word right before it (stugan Emil).
func (d *nameDetector) venueFirst(b []byte, ws []word, k, e int) bool {
	var lb [24]byte
	if k > 0 && ws[k].gapJoin && ws[k-1].shape == shapeLower && ws[k-1].end-ws[k-1].start <= len(lb) {
		if v := venueBefore[string(appendLower(lb[:0], b[ws[k-1].start:ws[k-1].end]))]; v == 1 || v == 2 && e-k >= 2 {
			return true
		}
	}
	if e-k < 2 || ws[k].shape == shapeLower || ws[k+1].shape == shapeLower || columnGapIn(b, ws, k+1, e) >= 0 {
		return false // "Studio Karin Boye  Zeynep Arslan": the booker follows the gap
	}
	return d.venueHead(b[ws[k].start:ws[k].end], e-k)
}

// venueHead reports whether w, capitalised before n-1 more words of a
// name, is a word of venueBefore that may head them.
func (d *nameDetector) venueHead(w []byte, n int) bool {
	var lb [24]byte
	if len(w) > len(lb) {
		return false
	}
	v := venueBefore[string(appendLower(lb[:0], w))]
	return v == 1 || v == 2 && n >= 3
}

// venueEnds end the compounds that name a room or a hall
// (Sammanträdesrum, Samlingssalen, Konferensrummet).
var venueEnds = []string{"rummet", "rum", "salen", "sal", "lokalen", "lokal"}

// venueCompound reports whether lower (a lower-case word) is a compound
// of an ordinary word and a room or a hall: Sammanträdesrum,
// Samlingssalen, Personalrummet. Centrum, Forum and Kassal are not.
func (d *nameDetector) venueCompound(lower []byte) bool {
	for _, e := range venueEnds {
		if !bytes.HasSuffix(lower, []byte(e)) {
			continue
		}
		stem := lower[:len(lower)-len(e)]
		if runeLen(stem) < 4 && !(e[0] == 'l' && runeLen(stem) == 3) { // Replokal, not Kassal
			return false
		}
		if runeLen(stem) < 3 {
			return false
		}
		if d.lx.isCommon(stem) {
			return true
		}
		return stem[len(stem)-1] == 's' && runeLen(stem) >= 5 && d.lx.isCommon(stem[:len(stem)-1])
	}
	return false
}

// homeNouns are the homes and boarding places whose name follows them
// (Sjukhemmet Astrid, daghem Trollet).
var homeNouns = map[string]bool{
	"daghem": true, "daghemmet": true, "sjukhem": true, "sjukhemmet": true, "vårdhem": true,
	"vårdhemmet": true, "ålderdomshem": true, "ålderdomshemmet": true, "skolan": true,
	"förskola": true, "förskolan": true, "äldreboende": true, "äldreboendet": true,
	"gruppboende": true, "gruppboendet": true, "boendet": true, "biblioteket": true,
	"kulturhuset": true, "träffpunkt": true, "träffpunkten": true, "mötesplats": true,
	"mötesplatsen": true, "systemet": true, "appen": true, "projektet": true, "projekt": true,
	"avd": true, "avdelning": true, "avdelningen": true, "korttidsboende": true, "korttidsboendet": true,
	"mottagning": true, "mottagningen": true,
}

// venueNumberBefore reports whether a capitalised venue noun and its
// number stand right before b[i:]: "Rum 2 Emil", "Sal 3B Greta" name the
// room. In lower case ("rum 7 Karlsson") the words are a care note's: the
// person in the room.
func (d *nameDetector) venueNumberBefore(b []byte, i int) bool {
	j := i - 1
	if j < 3 || b[j] != ' ' {
		return false
	}
	n := j
	for n > 0 && (isDigit(b[n-1]) || 'A' <= b[n-1] && b[n-1] <= 'Z' && n < j) {
		n--
	}
	if n == j || !isDigit(b[n]) || j-n > 4 || n < 3 || b[n-1] != ' ' {
		return false
	}
	ws := n - 1
	for ws > 0 && isASCIILetter(b[ws-1]) || ws > 0 && b[ws-1] >= 0x80 {
		ws--
	}
	if n-1-ws > 24 || ws == n-1 || b[ws] < 'A' || b[ws] > 'Z' {
		return false
	}
	return d.facts(b[ws : n-1]).venue
}

// bodyBefore reports whether ws[p], right before the stretch ws[s:t] on
// the same line, is an organisation or an institution whose name the
// stretch is: Syföreningen Martha, Stiftelsen Gustaf Adolfs hem,
// förskolan Nils Holgersson, SJUKHEMMET ASTRID. A
// stretch the document has used as a name elsewhere stays one.
func (d *nameDetector) bodyBefore(b []byte, ws []word, p, s, t int) bool {
	if !ws[s].gapJoin || ws[s].start != ws[p].end+1 {
		return false
	}
	pf := d.facts(b[ws[p].start:ws[p].end])
	if !pf.org && pf.flags&(lexGiven|lexForeignGiven) != 0 {
		return false // a given name is no body: "Anna Berg"
	}
	lower := appendLower(d.buf[:0], b[ws[p].start:ws[p].end])
	if !pf.org && !homeNouns[string(lower)] && !hasSuffix(lower, institutionSuffixes) ||
		crewWords[string(lower)] {
		return false
	}
	for j := s; j < t; j++ {
		if d.facts(b[ws[j].start:ws[j].end]).seen {
			return false
		}
	}
	// A role before the body says whose name follows: "Kurator på
	// skolan Eva Lund", "Ledamot i socialnämnden Anna Berg".
	for q := p - 1; q >= 0 && q >= p-2; q-- {
		if ws[q+1].start-ws[q].end > 2 || bytes.IndexByte(b[ws[q].end:ws[q+1].start], '\n') >= 0 {
			break
		}
		if d.facts(b[ws[q].start:ws[q].end]).strongCue {
			return false
		}
	}
	return true
}

// shopName reports whether the run ws[k:e] is a firm's name: a surname in the possessive, then a
// capitalised ordinary word (Lindqvists Bok & Papper, Anderssons Måleri,
// Berglunds Bygg). Swedish writes a noun after a person's possessive in
// lower case (Lindqvists bil); a capital there makes it a name.
func (d *nameDetector) shopName(b []byte, ws []word, k, e int) bool {
	// Not after a cue: Familjen Svenssons Hund; but hos Lindqvists Bok.
	// Asked last, when the words say shop.
	notCued := func() bool { return !d.cuedRun(b, ws, k, false) }
	for j := k; j+1 < e; j++ {
		if j > k && d.facts(b[ws[j-1].start:ws[j-1].end]).flags&(lexGiven|lexForeignGiven) != 0 &&
			!(j+1 < e && shopNouns[string(appendLower(d.buf[:0], b[ws[j+1].start:ws[j+1].end]))]) {
			break // Karin Lindqvists Ansökan: a person's, capitalised
		}
		if ws[j].shape != shapeCap {
			continue
		}
		w := b[ws[j].start:ws[j].end]
		if n := ws[j+1]; len(w) >= 4 && w[len(w)-1] == 's' && n.shape == shapeCap && n.start == ws[j].end+1 &&
			shopNouns[string(appendLower(d.buf[:0], b[n.start:n.end]))] {
			// Majas Kiosk, Gerdas Loppis, Mama Rosas Pizzeria: a shop's
			// name, whoever's the possessive.
			if !d.facts(w).seen && notCued() {
				return true
			}
		}
		if len(w) < 4 || w[len(w)-1] != 's' {
			continue
		}
		// A name that ends in s (Mats, Jonas, Hans) is no possessive.
		if wf := d.facts(w); wf.seenStem || wf.seen || !wf.possessive && wf.flags&(lexGiven|lexForeignGiven) != 0 {
			continue
		}
		// The stem is a surname by a list or by its form (Lindqvist), or
		// a given name (Leo) of four letters or more with the s.
		sf := d.facts(w[:len(w)-1])
		given := sf.flags&(lexGiven|lexForeignGiven) != 0
		if !given && len(w) < 5 || sf.flags&(lexSurname|lexForeign|lexWorld) == 0 && !sf.surnameSuffix && !given {
			continue
		}
		n := ws[j+1]
		if n.shape != shapeCap || !n.gapJoin || n.start != ws[j].end+1 {
			continue
		}
		nf := d.facts(b[n.start:n.end])
		if nf.flags&(nameFlags|lexForeignGiven) != 0 || nf.cue || nf.seen || nf.strongCue {
			continue
		}
		if nf.common && !given {
			return notCued()
		}
		// After a given name, a compound (Leos Lekland, Saras Hundtrim):
		// a one-word "Annas Hund" may be a careless capital, and after a
		// cue it is the person's (träffade Emils Klasskamrat).
		if given && !d.cuedRun(b, ws, k, true) && (nf.commonCompound || nf.common && nf.long && d.lx.commonCompound(appendLower(d.buf[:0], b[n.start:n.end]))) {
			return notCued()
		}
	}
	return false
}

// columnGapIn returns the index of the first word of ws[from:to] that
// follows more than one space or a tab (a register's next column), or -1.
func columnGapIn(b []byte, ws []word, from, to int) int {
	for j := from; j < to; j++ {
		if ws[j].start-ws[j-1].end > 1 || b[ws[j-1].end] != ' ' {
			return j
		}
	}
	return -1
}

// placeFields are the headers of the columns and fields that hold a town,
// a municipality or a country (lower case).
var placeFields = map[string]bool{
	"ort": true, "postort": true, "hemort": true, "bostadsort": true, "födelseort": true,
	"stad": true, "kommun": true, "hemkommun": true, "bostadskommun": true, "län": true,
	"land": true, "födelseland": true, "hemland": true, "medborgarskap": true, "nationalitet": true,
	"församling": true, "socken": true, "city": true, "country": true,
}

// placeCell reports whether v, the value of a place field, reads as a
// place: one word (Nora, Lindesberg, Sala, whatever the name lists say of
// it), or two or three none of which is a given name unless a place list
// holds it too (Östra Husby, Upplands Väsby). A person's name typed into
// the field ("Anna Lind") does not, and goes through the detectors.
func (d *nameDetector) placeCell(v []byte) bool {
	words, given := 0, false
	for i := 0; i < len(v); {
		l, _, n := letterAt(v, i)
		if !l {
			if c := v[i]; c != ' ' && c != '-' {
				return false
			}
			i += n
			continue
		}
		e := wordEnd(v, i)
		wf := d.facts(v[i:e])
		if wf.cue {
			return false
		}
		given = given || wf.flags&(lexGiven|lexForeignGiven) != 0 && wf.flags&lexPlace == 0
		words++
		i = e
	}
	return words == 1 || words <= 3 && !given
}

// vehicleMakes are the makes of the cars, vans and buses on Swedish roads
// (lower case). Before a model they are a vehicle, not a person: Renault
// Zoe, Mercedes Sprinter, Kia Niro.
var vehicleMakes = map[string]bool{
	"volvo": true, "saab": true, "volkswagen": true, "vw": true, "toyota": true, "renault": true,
	"nissan": true, "kia": true, "hyundai": true, "ford": true, "mercedes": true,
	"mercedes-benz": true, "bmw": true, "audi": true, "skoda": true, "škoda": true,
	"peugeot": true, "citroën": true, "citroen": true, "opel": true, "tesla": true,
	"polestar": true, "mazda": true, "honda": true, "fiat": true, "seat": true, "cupra": true,
	"dacia": true, "mitsubishi": true, "subaru": true, "suzuki": true, "lexus": true,
	"porsche": true, "jeep": true, "iveco": true, "scania": true, "chevrolet": true,
	"jaguar": true, "byd": true, "maxus": true, "isuzu": true, "lynk": true, "mg": true,
}

// givenMakes are the makes that are also given names people have.
var givenMakes = map[string]bool{"mercedes": true, "kia": true, "honda": true, "tesla": true}

// vehicle reports whether the run ws[k:e] is a make and its model: two
// words, the second an ordinary word or a given name and no surname by
// any list (Renault Zoe, Nissan Leaf, Ford Transit). "Mercedes Riquelme"
// and "Kia Nilsson" stay people.
func (d *nameDetector) vehicle(b []byte, ws []word, k, e int) bool {
	if e-k == 1 && vehicleMakes[string(appendLower(d.buf[:0], b[ws[k].start:ws[k].end]))] {
		// Kia e-Niro, VW e-Golf: the model in lower case after the make.
		m := b[ws[k].end:]
		return len(m) > 3 && m[0] == ' ' && m[1] == 'e' && m[2] == '-' && m[3] >= 'A' && m[3] <= 'Z'
	}
	if e-k != 2 || ws[k+1].start != ws[k].end+1 {
		return false
	}
	lower := appendLower(d.buf[:0], b[ws[k].start:ws[k].end])
	if !vehicleMakes[string(lower)] {
		return false
	}
	givenMake := givenMakes[string(lower)] // before facts reuses d.buf
	var key string                         // only a make that is a given name too needs it
	if givenMake {
		var kb [48]byte
		key = string(appendLower(append(appendLower(kb[:0], b[ws[k].start:ws[k].end]), ' '), b[ws[k+1].start:ws[k+1].end]))
	}
	if plateBefore(b, ws[k].start) || plateAfter(b, ws[k+1].end) {
		// KNI 557  Kia Niro; Tesla Model Y (RTE 58A): a car, and the
		// pair is one for the rest of the stream.
		if givenMake {
			if d.vehicles == nil || len(d.vehicles) >= maxVehicles {
				d.vehicles = make(map[string]bool)
			}
			d.vehicles[key] = true
		}
		return true
	}
	mf := d.facts(b[ws[k+1].start:ws[k+1].end])
	if d.cuedRun(b, ws, k, true) || ageAfter(b, ws[k+1].end) {
		return false // Patient: Kia Berg; Kia Berg (45 år)
	}
	if givenMake && mf.flags&(nameFlags|lexForeign|lexForeignGiven|lexWorld) != 0 && !d.vehicles[key] {
		// Kia Berg, Mercedes Sand: a surname or a given name of any
		// list after a make that is a given name too is the person.
		return false
	}
	if givenMake && mf.flags&(lexGiven|lexForeignGiven) != 0 && !d.vehicles[key] {
		// Mercedes and Kia are given names too: before a given name
		// (Mercedes Riquelme) they are one; before an ordinary word
		// (Mercedes Sprinter) the make.
		return false
	}
	if mf.cue || mf.surnameSuffix || mf.surnameShape {
		return false
	}
	// An ordinary word (Leaf, Transit, Sprinter) or a given name (Zoe),
	// not an unknown word (Riquelme) nor one the lists hold as a surname.
	surname := mf.flags&(lexSurname|lexEnglish) == lexSurname ||
		mf.flags&(lexForeign|lexWorld) != 0 && mf.flags&(lexForeignGiven|lexGiven|lexEnglish) == 0
	known := mf.common || mf.flags&(lexEnglish|lexGiven|lexForeignGiven) != 0
	return known && !surname
}

// characters are fictional people that Swedish text names as often as
// real ones: children's books, films and games read at school, in the
// library and at home. Two words, lower case, the second without a
// possessive s. A real person's name (Nils Holgersson) is left out unless
// the pair is one no family would give (Pippi Långstrump).
var characters = map[string]bool{
	"pippi långstrump": true, "ronja rövardotter": true, "birk borkason": true,
	"harry potter": true, "hermione granger": true, "ron weasley": true,
	"alfons åberg": true, "kalle anka": true, "musse pigg": true, "kajsa anka": true,
	"pelle svanslös": true, "lille skutt": true, "greta gris": true, "lilla my": true,
	"mario kart": true, "super mario": true, "lucky luke": true, "doktor dolittle": true,
	"jonatan lejonhjärta": true, "skorpan lejonhjärta": true, "bamse björn": true, "mio min mio": true,
	"emil i lönneberga": true, "karlsson på taket": true, "lotta på bråkmakargatan": true, "lotta bråkmakargatan": true, "nils karlsson-pyssling": true, "nils holgersson": true, "mamma mu": true, "ture sventon": true,
	"tant grön": true, "tant brun": true, "farbror blå": true, "kapten haddock": true,
	// Fixed expressions named after a person: dishes, products, varieties
	// and services everyone knows by name.
	"janssons frestelse": true, "flygande jacob": true, "kalles kaviar": true,
	"pizza margherita": true, "king edward": true, "mina sidor": true, "biff rydberg": true,
	"toast skagen": true, "ave maria": true, "time care": true, "grand prix": true,
	"viking line": true, "stena line": true, "tallink silja": true, "clas ohlson": true,
	"max hamburgare": true, "freja eid": true, "real madrid": true, "ica maxi": true,
	"god jul": true, "glad påsk": true, "best regards": true, "kind regards": true,
	"warm regards": true, "after work": true, "black friday": true, "happy hour": true,
}

// character reports whether two words of the run ws[k:e] make a
// fictional character (Pippi Långstrump, Harry Potter-quiz, Ronja
// Rövardotters), none of them a name the document has used for a person.
func (d *nameDetector) character(b []byte, ws []word, k, e int) bool {
	if k > 0 && ws[k].start == ws[k-1].end+1 && ws[k-1].shape == shapeLower {
		// "biff Rydberg", "pannbiff à la Lindström": the word before,
		// in lower case, starts the expression.
		p := b[ws[k-1].start:ws[k-1].end]
		if characterKey(p, b[ws[k].start:ws[k].end]) && !d.facts(b[ws[k].start:ws[k].end]).seen {
			return true
		}
		if before := b[:ws[k-1].start]; string(p) == "la" && (bytes.HasSuffix(before, []byte("à ")) || bytes.HasSuffix(before, []byte(" a "))) {
			return true
		}
	}
	if ms, me, ok := wordBefore(b, ws[k].start); ok && me-ms <= 12 {
		// The last word of a three-word key: "Mio min Mio", "Emil i
		// Lönneberga", whose first word was a run of its own.
		if l, u, _ := letterAt(b, ms); l && !u {
			if fs, fe, ok := wordBefore(b, ms); ok && upperFirst(b[fs:fe]) && characterKey(b[fs:fe], b[ms:ws[k].end]) {
				return true
			}
		}
	}
	for j := k; j < e; j++ {
		a := ws[j]
		if a.shape == shapeLower {
			continue
		}
		var second []byte
		if j+1 < e {
			if c := ws[j+1]; c.start == a.end+1 {
				second = b[c.start:c.end]
			}
		} else if ns, ne, ok := nextWordAt(b, a.end); ok && ns == a.end+1 {
			second = b[ns:ne] // Janssons frestelse
			if l, u, _ := letterAt(second, 0); l && !u && !characterKey(b[a.start:a.end], second) {
				if ts, te, ok := nextWordAt(b, ne); ok && ts == ne+1 && te-ts <= 20 {
					second = b[ns:te] // the three words' key: Emil i Lönneberga, Karlsson på taket
				}
			}
		}
		if second == nil {
			continue
		}
		if h := bytes.IndexByte(second, '-'); h > 0 && h+1 < len(second) && !bytes.HasPrefix(appendLower(d.buf[:0], second), []byte("karlsson-")) {
			if l, u, _ := letterAt(second, h+1); !l || u {
				continue // Kalle Anka-Svensson: a double surname, a person
			}
			second = second[:h] // Harry Potter-quiz
		}
		if !characterKey(b[a.start:a.end], second) &&
			!(len(second) > 3 && second[len(second)-1] == 's' && characterKey(b[a.start:a.end], second[:len(second)-1])) {
			continue // … also in the possessive: Nils Holgerssons underbara resa
		}
		if bytes.IndexByte(second, ' ') < 0 && upperFirst(second) && d.facts(second).seen {
			continue // a person of the document with the character's surname; not "Emil i Lönneberga"
		}
		// Not across a table's column gap: "Mötesrum Nils Holgersson
		// Tomasz Wiśniewski" is two cells.
		return columnGapIn(b, ws, k+1, e) < 0
	}
	return false
}

// characterKey reports whether first and second (one word, or two) are
// a key of characters, also with a possessive s: Ronja Rövardotters.
func characterKey(first, second []byte) bool {
	if len(first)+len(second) > 40 {
		return false // no character's name is that long
	}
	var kb [48]byte
	key := appendLower(kb[:0], first)
	key = append(key, ' ')
	key = appendLower(key, second)
	n := len(key)
	return characters[string(key)] || key[n-1] == 's' && characters[string(key[:n-1])]
}

// upperFirst reports whether w starts with a capital letter.
func upperFirst(w []byte) bool {
	l, u, _ := letterAt(w, 0)
	return l && u
}

// tradeNouns are the capitalised trades that end a firm's name after a
// founder's (Karl Pettersson Bygg, Lindqvist Ljud & Ljus, Svea Ekonomi,
// Åhlins Konsult). None is a name in the lists.
var tradeNouns = map[string]bool{
	"bygg": true, "byggare": true, "ljud": true, "ljus": true, "el": true, "vvs": true, "måleri": true,
	"plåt": true, "tak": true, "städ": true, "städservice": true, "service": true, "konsult": true,
	"konsulting": true, "consulting": true, "ekonomi": true, "redovisning": true, "revision": true,
	"juridik": true, "advokatbyrå": true, "transport": true, "transporter": true, "åkeri": true,
	"taxi": true, "buss": true, "bil": true, "bilar": true, "däck": true, "motor": true,
	"fastigheter": true, "förvaltning": true, "data": true, "design": true, "foto": true,
	"media": true, "reklam": true, "tryck": true, "tryckeri": true, "blommor": true,
	"bageri": true, "konditori": true, "livs": true, "handel": true, "trädgård": true,
	"trädgårdstjänst": true, "snickeri": true, "rör": true, "schakt": true, "entreprenad": true,
	"maskin": true, "maskiner": true, "smide": true, "glas": true, "golv": true, "kakel": true,
	"lås": true, "larm": true, "säkerhet": true, "tandvård": true, "tandteknik": true,
	"optik": true, "frisör": true, "musik": true, "resor": true, "förlag": true, "bokhandel": true,
	"begravningsbyrå": true, "begravning": true, "scenteknik": true, "teknik": true, "elektronik": true,
	"fisk": true, "kött": true, "café": true, "catering": true, "group": true, "holding": true,
}

// shopNouns are the capitalised nouns that, after a possessive, name a
// shop, an eatery or a small firm rather than a thing of the person's:
// Majas Kiosk, Gerdas Loppis, Nisses Fiske & Fritid. None is a name in the
// lists.
var shopNouns = map[string]bool{
	"kiosk": true, "kiosken": true, "loppis": true, "pizzeria": true, "grill": true, "gatukök": true,
	"fiske": true, "café": true, "cafe": true, "kafé": true, "bageri": true, "konditori": true,
	"salong": true, "frisör": true, "frisörsalong": true, "livs": true, "lanthandel": true,
	"handel": true, "butik": true, "bod": true, "boden": true, "krog": true, "kök": true,
	"restaurang": true, "bistro": true, "bar": true, "pub": true, "hemslöjd": true, "antik": true,
	"antikt": true, "blommor": true, "blomsterhandel": true, "trädgård": true, "fisk": true,
	"kött": true, "mat": true, "catering": true, "cykel": true, "cyklar": true, "bilverkstad": true,
	"verkstad": true, "däck": true, "taxi": true, "åkeri": true, "städ": true, "bygg": true,
	"el": true, "vvs": true, "måleri": true, "rör": true, "tak": true, "plåt": true, "trafikskola": true,
	"hundtrim": true, "djurbutik": true, "gym": true, "lekland": true,
}

// firmTail reports whether a capitalised trade noun follows a name in the
// run ws[k:e]: the run names a firm (Karl Pettersson Bygg), not a person.
func (d *nameDetector) firmTail(b []byte, ws []word, k, e int) bool {
	if d.cuedRun(b, ws, k, true) {
		return false
	}
	for j := k + 1; j < e; j++ {
		w := ws[j]
		if w.shape != shapeCap && (w.shape != shapeUpper || ws[j-1].shape == shapeUpper) || !w.gapJoin ||
			w.start != ws[j-1].end+1 && !ampersandBetween(b, ws[j-1].end, w.start) {
			continue // Rör-Pelles VVS AB; but in capitals a register's LUND EL
		}
		if !tradeNouns[string(appendLower(d.buf[:0], b[w.start:w.end]))] {
			continue
		}
		if wf := d.facts(b[w.start:w.end]); wf.flags&nameFlags == 0 && !wf.seen {
			return true
		}
	}
	return false
}

// placePrefixes, capitalised before a name, make it a place's (Norra
// Berg, Södra Lund, Lilla Edet, Gamla Stan, Övre Johannesberg): no one's
// given name is one of them.
var placePrefixes = map[string]bool{
	"norra": true, "södra": true, "östra": true, "västra": true, "lilla": true, "stora": true,
	"gamla": true, "nya": true, "övre": true, "nedre": true, "inre": true, "yttre": true,
	"mellersta": true, "sydöstra": true, "nordöstra": true, "sydvästra": true, "nordvästra": true,
}

// placePrefixed reports whether the run ws[k:e] starts with a word of
// placePrefixes, capitalised, before a name: a place.
func (d *nameDetector) placePrefixed(b []byte, ws []word, k, e int) bool {
	if e-k < 2 || ws[k].shape != shapeCap || ws[k].end-ws[k].start > 10 || ws[k+1].start != ws[k].end+1 {
		return false
	}
	var lb [16]byte
	return placePrefixes[string(appendLower(lb[:0], b[ws[k].start:ws[k].end]))]
}

// propertyAfter reports whether a property unit's number ("1:5", "12:104")
// follows b[:i] after a space: "Holm 1:5", "Anna 3:1" name a property.
func propertyAfter(b []byte, i int) bool {
	if i+4 > len(b) || b[i] != ' ' || !isDigit(b[i+1]) {
		return false
	}
	j := i + 1
	for j < len(b) && j-i <= 5 && isDigit(b[j]) {
		j++
	}
	if j+1 >= len(b) || b[j] != ':' || !isDigit(b[j+1]) {
		return false
	}
	c := j
	j++
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	if j < len(b) && (isDigit(b[j]) || b[j] == ':') {
		return false
	}
	// Not a time of day: "Sandra Eklöf 09:14" in a chat.
	h, m := b[i+1:c], b[c+1:j]
	clock := len(h) <= 2 && len(m) == 2 && atoiSmall(h) <= 23 && atoiSmall(m) <= 59
	return !clock
}

// atoiSmall is the value of a few ASCII digits.
func atoiSmall(d []byte) int {
	n := 0
	for _, c := range d {
		n = n*10 + int(c-'0')
	}
	return n
}

// buildingHeads, in lower case right after a name without a possessive,
// make it a building's, a place's or a disease's: Louis De Geer
// konserthus, Astrid Lindgren skola, Gustav Vasa kyrka, Mb Parkinson
// syndrom.
var buildingHeads = map[string]bool{
	"konserthus": true, "konserthuset": true, "skola": true, "gymnasium": true, "gymnasiet": true,
	"sjukhus": true, "museum": true, "museet": true, "bibliotek": true, "arena": true, "stadion": true,
	"badet": true, "simhall": true, "idrottshall": true, "sporthall": true,
	"kyrka": true, "kapell": true, "församling": true, "sjukdom": true, "syndrom": true,
}

// buildingAfter reports whether a word of buildingHeads follows b[:i]
// after one space.
func (d *nameDetector) buildingAfter(b []byte, i int) bool {
	ns, ne, ok := nextWordAt(b, i)
	if !ok || ns != i+1 || b[i] != ' ' || ne-ns > 16 || b[ns] < 'a' || b[ns] > 'z' {
		return false
	}
	var lb [16]byte
	return buildingHeads[string(appendLower(lb[:0], b[ns:ne]))]
}

// numeralAfter reports whether a Roman numeral (II to XX) follows b[:i]
// after one space: "Saga II", "Stina III" are boats, "Gustav II Adolf" a
// king, no one in a register.
func numeralAfter(b []byte, i int) bool {
	if i >= len(b) || b[i] != ' ' {
		return false
	}
	s, e, ok := nextWordAt(b, i)
	return ok && s == i+1 && romanNumeral(b[s:e])
}

// numeralIn reports whether a word after the first of the run ws[k:e] is
// a Roman numeral: "Saga II" (a boat), "Gustav II Adolf" (a king).
func numeralIn(b []byte, ws []word, k, e int) bool {
	for j := k + 1; j < e; j++ {
		if romanNumeral(b[ws[j].start:ws[j].end]) {
			return true
		}
	}
	return false
}

// romanNumeral reports whether w is a Roman numeral of two to five letters
// (one letter is an initial), and not VI, which is "we" in capitals.
func romanNumeral(w []byte) bool {
	if len(w) < 2 || len(w) > 5 || string(w) == "VI" {
		return false
	}
	for _, c := range w {
		if c != 'I' && c != 'V' && c != 'X' {
			return false
		}
	}
	return true
}

// placeSlashBefore reports whether the run at ws[k] follows a place and a
// slash: the same place in another language (Tromsø/Romsa, Umeå/Ubmi).
func (d *nameDetector) placeSlashBefore(b []byte, ws []word, k int) bool {
	if k == 0 || ws[k].start != ws[k-1].end+1 || b[ws[k-1].end] != '/' {
		return false
	}
	pf := d.facts(b[ws[k-1].start:ws[k-1].end])
	return pf.flags&lexPlace != 0 && pf.flags&nameFlags == 0 && !pf.seen
}

// orgNounsAfter are the lower-case nouns that, right after a capitalised
// word, make it an organisation's name: Bosniakiska föreningen, Sámi
// searvi (Sami: association), Ukrainska förbundet.
var orgNounsAfter = map[string]bool{
	"föreningen": true, "förening": true, "förbundet": true, "förbund": true, "klubben": true,
	"sällskapet": true, "församlingen": true, "searvi": true, "samfundet": true, "kulturföreningen": true,
	"riksförbundet": true, "ungdomsförbund": true, "ungdomsförbundet": true,
}

// orgAfter reports whether a noun of orgNounsAfter follows the run ws[k:e]
// on its line, a space apart, and no word of the run is a name the
// document knows: the run names the organisation.
func (d *nameDetector) orgAfter(b []byte, ws []word, k, e int) bool {
	end := ws[e-1].end
	ns, ne, ok := nextWordAt(b, end)
	if !ok || ns != end+1 || b[end] != ' ' || ne-ns > 20 {
		return false
	}
	var lb [24]byte
	if !orgNounsAfter[string(appendLower(lb[:0], b[ns:ne]))] || b[ns] < 'a' || b[ns] > 'z' {
		return false
	}
	for j := k; j < e; j++ {
		if d.facts(b[ws[j].start:ws[j].end]).seen {
			return false
		}
	}
	return true
}

// firmHead reports whether the run ws[k:e] starts with a trade that names
// a firm before its owner's name: Taxi Ek, Bageri Nilsson, Frisersalong
// Berg, Åkeri Lundgren (not a trade that is a person: Frisör Anna).
func (d *nameDetector) firmHead(b []byte, ws []word, k, e int) bool {
	if e-k < 2 || ws[k].shape != shapeCap || ws[k+1].start != ws[k].end+1 {
		return false
	}
	var lb [32]byte
	if ws[k].end-ws[k].start > len(lb) {
		return false
	}
	l := appendLower(lb[:0], b[ws[k].start:ws[k].end])
	switch {
	case string(l) == "frisör" || string(l) == "konsult" || string(l) == "byggare":
		return false
	case tradeNouns[string(l)]:
	case len(l) >= 7 && (bytes.HasSuffix(l, []byte("salong")) || bytes.HasSuffix(l, []byte("eri")) && d.lx.isCommon(l)):
	default:
		return false
	}
	return d.facts(b[ws[k].start:ws[k].end]).flags&nameFlags == 0 && !d.cuedRun(b, ws, k, false)
}

// cuedRun reports whether a person cue or a verb of naming stands right
// before the run at ws[k]: then it is a person, whatever her surname
// means ("Handläggare: Klara Service", "pratade med Anna Bygg", "heter
// Karin Service", "träffade Emils Klasskamrat"). With weak false a weak
// cue (hos, med, enligt), a place as often as a person, does not count.
func (d *nameDetector) cuedRun(b []byte, ws []word, k int, weak bool) bool {
	if k == 0 || ws[k].start-ws[k-1].end > 2 {
		return false
	}
	p := appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end])
	if !weak && weakCues[string(p)] {
		return false
	}
	return lowerCues[string(p)] || d.facts(b[ws[k-1].start:ws[k-1].end]).cue // p before facts reuses d.buf
}

// ampersandBetween reports whether b[from:to] is " & ".
func ampersandBetween(b []byte, from, to int) bool {
	return to-from == 3 && b[from] == ' ' && b[from+1] == '&' && b[from+2] == ' '
}

// productFirst reports whether the run ws[k:e] of two words or more
// starts with a vendor, a chain or a system of data/products.txt that is
// no given name: a shop or a model, not a person (Coop Linnéplatsen,
// Topro Olympos, Etac Hi-Loo). Freja Berg stays a person.
func (d *nameDetector) productFirst(b []byte, ws []word, k, e int) bool {
	if e-k < 2 || ws[k].shape != shapeCap || ws[k+1].shape == shapeLower || ws[k+1].start != ws[k].end+1 {
		return false // "i Procapita av Nikola P.": a particle's run
	}
	if !d.lx.products[string(appendLower(d.buf[:0], b[ws[k].start:ws[k].end]))] {
		return false
	}
	wf := d.facts(b[ws[k].start:ws[k].end])
	if wf.flags&(lexGiven|lexForeignGiven) != 0 || wf.seen || d.cuedRun(b, ws, k, false) {
		return false
	}
	// "Coop Anna Berg": a given name after the vendor is a person's.
	for j := k + 1; j < e; j++ {
		if nf := d.facts(b[ws[j].start:ws[j].end]); nf.flags&(lexGiven|lexForeignGiven) != 0 || nf.seen {
			return false
		}
	}
	return true
}

// productAfterIn reports whether the run ws[k:e] is one word of
// data/products.txt right after the preposition "i" or "via": "logga in i
// Tyra", "registrerat i Pascal", "e-recept via Pascal". Such a product may
// be a given name too, and is the person elsewhere (Tyra kom sent); no one
// is "in" a person, and a message goes "via" a person rarely.
func (d *nameDetector) productAfterIn(b []byte, ws []word, k, e int) bool {
	s := ws[k].start
	if e-k != 1 || s < 2 || b[s-1] != ' ' {
		return false
	}
	// The word before: "i" or "via", a word of its own.
	p := s - 1
	for p > 0 && b[p-1] != ' ' && b[p-1] != '\n' && b[p-1] != '\t' && s-1-p < 4 {
		p--
	}
	if p > 0 && b[p-1] != ' ' && b[p-1] != '\n' && b[p-1] != '\t' {
		return false
	}
	switch string(appendLower(d.buf[:0], b[p:s-1])) {
	case "i", "via", "ur":
	default:
		return false
	}
	if !d.lx.products[string(appendLower(d.buf[:0], b[s:ws[k].end]))] {
		return false
	}
	// "kär i Tyra" when Tyra is a person here: hers.
	return !d.facts(b[s:ws[k].end]).seen
}

// maxVehicles bounds nameDetector.vehicles.
const maxVehicles = 256

// plateBefore reports whether a Swedish registration number (three
// capitals, a space or none, two digits and a digit or a capital: KNI
// 557, GHT 77C) ends right before b[i], spaces apart: a booking list's
// car before its make and model (KNI 557  Kia Niro).
func plateBefore(b []byte, i int) bool {
	e := i
	for e > 0 && i-e < 4 && (b[e-1] == ' ' || b[e-1] == '\t') {
		e--
	}
	if e == i {
		return false
	}
	isCap := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	for _, n := range [...]int{7, 6} {
		s := e - n
		if s < 0 || s > 0 && (isCap(b[s-1]) || isDigit(b[s-1])) {
			continue
		}
		p := b[s:e]
		if !isCap(p[0]) || !isCap(p[1]) || !isCap(p[2]) {
			continue
		}
		d := p[3:]
		if n == 7 {
			if d[0] != ' ' {
				continue
			}
			d = d[1:]
		}
		if isDigit(d[0]) && isDigit(d[1]) && (isDigit(d[2]) || isCap(d[2])) {
			return true
		}
	}
	return false
}

// plateAfter reports whether a registration number in brackets follows
// b[:end], past a model's letter or number: "Tesla Model Y (RTE 58A)",
// "Renault Zoe (RZO 884)".
func plateAfter(b []byte, end int) bool {
	i := end
	if i+2 < len(b) && b[i] == ' ' && b[i+1] != '(' {
		j := i + 1
		for j < len(b) && j-i <= 3 && (isDigit(b[j]) || b[j] >= 'A' && b[j] <= 'Z') {
			j++
		}
		if j-i < 2 || j-i > 3 {
			return false
		}
		i = j
	}
	if i+2 >= len(b) || b[i] != ' ' || b[i+1] != '(' {
		return false
	}
	q := bytes.IndexByte(b[i+2:min(len(b), i+12)], ')')
	return q >= 6 && plateBefore(append(b[i+2:i+2+q:i+2+q], ' '), q+1)
}

// ageAfter reports whether an age in brackets follows b[:end]: " (9 år)",
// "(4 mån)", " (87 år, änka)". Only right after the name, so that a
// bracket about something else further on says nothing.
func ageAfter(b []byte, end int) bool {
	i := end
	if i+3 < len(b) && b[i] == ',' && b[i+1] == ' ' && isDigit(b[i+2]) {
		// "Lo Bergman, 19, lagerarbetare", "Anna Berg, 45 år, …": a
		// newspaper's age after a name.
		i += 2
		d := i
		for i < len(b) && i-d < 3 && isDigit(b[i]) {
			i++
		}
		return i-d < 3 && i < len(b) && (b[i] == ',' && i+1 < len(b) && b[i+1] == ' ' && (i+2 >= len(b) || !isDigit(b[i+2])) ||
			bytes.HasPrefix(b[i:], []byte(" år")) && (i+len(" år") == len(b) || !isLetterByte(b[i+len(" år")])))
	}
	if i < len(b) && b[i] == ' ' {
		i++
	}
	if i >= len(b) || b[i] != '(' {
		return false
	}
	i++
	d := i
	for i < len(b) && i-d < 3 && isDigit(b[i]) {
		i++
	}
	if i == d || i >= len(b) || b[i] != ' ' {
		return false
	}
	rest := b[i+1:]
	for _, unit := range [...]string{"år", "mån", "dagar", "veckor"} {
		if bytes.HasPrefix(rest, []byte(unit)) {
			if n := len(unit); n == len(rest) || rest[n] == ')' || rest[n] == ',' || rest[n] == ' ' {
				return true
			}
		}
	}
	return false
}

// signatureInitials reports whether w is a signer's initials: two or three
// capitals right after a slash that starts the line or follows a space,
// and nothing but spaces after them on the line ("… vårdcentralen. /AB",
// "/PS"). A slash between words (TCP/IP, och/eller) is none.
func signatureInitials(b []byte, w word) bool {
	if w.shape != shapeUpper || w.start < 1 || b[w.start-1] != '/' {
		return false
	}
	if n := runeLen(b[w.start:w.end]); n < 2 || n > 3 {
		return false
	}
	return signatureAt(b, w)
}

// signatureAt reports whether w stands where a signature does: right
// after a slash that starts the line or follows a space, with nothing but
// spaces after it on the line.
func signatureAt(b []byte, w word) bool {
	if w.start < 1 || b[w.start-1] != '/' {
		return false
	}
	if p := w.start - 2; p >= 0 && b[p] != ' ' && b[p] != '\n' && b[p] != '\t' {
		return false
	}
	for i := w.end; i < len(b) && b[i] != '\n'; i++ {
		if b[i] != ' ' && b[i] != '\r' && b[i] != '\t' {
			return false
		}
	}
	return true
}

// nicknameAfter reports whether w is one word in quotes right after a
// name that ends at end: a space, an optional bracket, an opening quote,
// the word and a closing quote ("Knutte", (”Vicke”), «Bosse»).
func nicknameAfter(b []byte, end int, w word) bool {
	if end < 0 || end >= w.start || w.start-end > 6 {
		return false
	}
	gap := b[end:w.start]
	if gap[0] != ' ' {
		return false
	}
	gap = gap[1:]
	if len(gap) > 0 && gap[0] == '(' {
		gap = gap[1:]
	}
	open, ok := quoteAt(gap, 0)
	if !ok || open != len(gap) {
		return false
	}
	n, ok := quoteAt(b, w.end)
	return ok && n > 0
}

// quoteAt returns the length of the quotation mark at b[i] (", “, ”, «, »),
// if there is one.
func quoteAt(b []byte, i int) (int, bool) {
	switch {
	case i < len(b) && b[i] == '"':
		return 1, true
	case i+1 < len(b) && b[i] == 0xc2 && (b[i+1] == 0xab || b[i+1] == 0xbb): // « »
		return 2, true
	case i+2 < len(b) && b[i] == 0xe2 && b[i+1] == 0x80 && (b[i+2] == 0x9c || b[i+2] == 0x9d): // “ ”
		return 3, true
	}
	return 0, false
}

// crewWords are organisation words that also name a group of people
// before their names: "lag Rikard Sten och Goran Marić" is the crew.
var crewWords = map[string]bool{"lag": true, "laget": true, "kör": true, "kören": true}

// clubAcronyms are the abbreviations of Swedish sports clubs' names: the
// capitalised word after one is the club's name (IK Frej, IFK Ingrid,
// BK Astrid), not a person's, even when it is a given name.
var clubAcronyms = map[string]bool{
	"IK": true, "IF": true, "IFK": true, "BK": true, "FK": true, "SK": true, "FF": true,
	"AIK": true, "GIF": true, "HK": true, "IBK": true, "IBF": true, "GoIF": true, "BoIS": true,
	"KFUM": true, "KFUK": true, "SoIK": true, "GK": true, "BTK": true,
}

// Head nouns of things named after a person: after a possessive (Astrid
// Lindgrens barnsjukhus, Ragnar Söderbergs stiftelse, Selma Lagerlöfs dag)
// or as the lower-case tail of a hyphen compound (Selma Lagerlöf-priset,
// Greta Garbo-salen, Evert Taube-sällskapet) they make the name the
// thing's, not a person's. A head of four letters or more also matches as
// the end of a compound (barnsjukhus, forskningsfond).
var namedThingHeads = []string{
	"kommun", "län", "stad", "region", "landsting", "församling", "socken", "torg", "torget",
	"väg", "vägen", "gata", "gatan", "gränd", "allé", "plan", "plats", "park", "parken",
	"backe", "stig", "bro", "kyrka", "kyrkan", "kapell", "slott", "hamn", "station",
	"universitet", "högskola", "sjukhus", "lasarett", "gymnasium", "gymnasiet", "kaj", "strand",
	"skola", "skolan", "pris", "priset", "stipendium", "stipendiet", "stiftelse", "stiftelsen",
	"fond", "fonden", "dag", "dagen", "vecka", "veckan", "värld", "gård", "gården", "museum",
	"museet", "hus", "huset", "sällskap", "sällskapet", "vänner", "institut", "institutet",
	"bibliotek", "biblioteket", "sal", "salen", "rum", "rummet", "arena", "hall", "hallen",
	"center", "centret", "centrum", "samling", "samlingen", "akademi", "akademien", "orden",
	"medalj", "medaljen", "filmer", "film", "filmen", "föreläsning", "föreläsningen",
	"minnesfond", "sjukhuset", "plakett", "plaketten", "staty", "statyn", "byst", "bysten",
	"minne", "minnet", "hylla", "hyllan", // Stiftelsen Anna Whitlocks minne, Ture Sventon-hyllan
	"planetarium", "planetariet",
	"pokal", "pokalen", "rodd", "lopp", "loppet", "turnering", "turneringen", "brygga",
	"bryggan", "sameby", "samebyn", // Prinsessan Estelles pokal, Ivar Hedbergs minnesrodd
	"vals", "valsen", // Calle Schewes vals
	"udde", "udden", "holme", "holmen", "vik", "viken", "grotta", "grottan", "källa", "källan",
	"badet", "bana", "banan", "äldreboende", "äldreboendet", "gång", "gången", "konserthus",
	"konserthuset", "sjukdom", "sjukdomen", "syndrom", "syndromet", // Parkinsons sjukdom
	"led", "leden", // Gustav Vasas led
	"terrass", "terrassen", "diplom", "diplomet", "läsdiplom", "saga", "sagan", // Evert Taubes terrass, Gösta Berlings saga
}

// workTails are the lower-case tails of hyphen compounds that make the
// name before a work's or a character's: Kalle Anka-reprisen, Alfons
// Åberg-böckerna, Pippi-filmerna. (After a possessive they do not: Annas
// böcker are a person's.)
var workTails = map[string]bool{
	"reprisen": true, "repris": true, "böckerna": true, "boken": true, "böcker": true,
	"filmerna": true, "serien": true, "serierna": true, "sagan": true, "sagorna": true,
	"programmet": true, "visan": true, "visorna": true, "låten": true, "sången": true,
	"sångerna": true, "musikalen": true, "pjäsen": true, "figuren": true, "figurerna": true,
}

// Capitalised heads of events named after a person or a character, at the
// end of a run of capitalised words: Kalle Anka Cup, Astrid Lindgren
// Festival. Unlike namedThingHeads, none of them is a surname.
var eventHeads = map[string]bool{
	"cup": true, "cupen": true, "festival": true, "festivalen": true, "open": true,
	"games": true, "loppet": true, "marathon": true, "maraton": true, "rally": true,
}

// workCues are the lower-case words right before the title of a book, a
// film or a play: "har vi läst Pippi Långstrump", "filmen Harry Potter".
// The run after one is a work (often named after a character), not a
// person, unless the document has used it as a name.
var workCues = map[string]bool{
	"läs": true, "läsa": true, "läser": true, "läste": true, "läst": true, "högläsning": true,
	"boken": true, "filmen": true, "pjäsen": true, "romanen": true, "sagan": true,
	"serien": true, "musikalen": true, "föreställningen": true, "barnboken": true,
	"utställningen": true, "utställning": true, "dikten": true, "sången": true, "låten": true,
	"diktsamlingen": true, "novellen": true, "albumet": true, "skivan": true, "tv-serien": true,
}

// byLastByte groups word endings by their last byte, so that a word is
// compared only with the endings it may have.
func byLastByte(ends []string) (t [256][]string) {
	for _, e := range ends {
		t[e[len(e)-1]] = append(t[e[len(e)-1]], e)
	}
	return t
}

var (
	namedThingByLast = byLastByte(namedThingHeads)
	orgByLast        = byLastByte(orgEndings)
)

// namedThingHead reports whether lower (a lower-case word) is one of
// namedThingHeads, or a compound ending in one of four letters or more,
// also in the genitive (Gustaf Frödings sällskapets kör).
func namedThingHead(lower []byte) bool {
	if len(lower) == 0 {
		return false
	}
	if n := len(lower); n > 5 && lower[n-1] == 's' && namedThingHeadExact(lower[:n-1]) {
		return true
	}
	return namedThingHeadExact(lower)
}

// namedThingHeadExact is namedThingHead without the genitive.
func namedThingHeadExact(lower []byte) bool {
	if len(lower) == 0 {
		return false
	}
	for _, h := range namedThingByLast[lower[len(lower)-1]] {
		if len(lower) == len(h) && string(lower) == h {
			return true
		}
		if len(h) >= 4 && len(lower) >= len(h)+3 && string(lower[len(lower)-len(h):]) == h {
			return true
		}
	}
	return false
}

// Endings of the words that make a value an organisation's name (IFK
// Lillby is one by its acronym; Lillby Hembygdsförening, Röda Korset
// Lillbykretsen, Lillby Scoutkår by these).
var orgEndings = []string{
	"förening", "föreningen", "föreningar", "klubb", "klubben", "kår", "kåren", "förbund",
	"förbundet", "sällskap", "sällskapet", "stiftelse", "stiftelsen", "församling",
	"församlingen", "kyrka", "kyrkan", "kretsen", "krets", "teater", "teatern", "gille",
	"gillet", "akademi", "akademien", "institut", "institutet", "nämnd", "nämnden",
	"förvaltning", "förvaltningen", "kommun", "region", "regionen", "bolag", "bolaget",
	"verket", "kansli", "kansliet", "byrå", "byrån", "kooperativ", "kooperativet", "orkester",
	"orkestern", "kör", "kören", "lag", "laget", "scouter", "scouterna", "jour", "jouren",
	"stift", "stiftet", // Lunds stift
	"searvi",                     // Sámi searvi: Sami for association
	"seura", "yhdistys", "kerho", // Suomi-Seura, Ruotsinsuomalaisten yhdistys: Finnish
}

// orgWord reports whether lower is, or ends in, one of orgEndings.
func orgWord(lower []byte) bool {
	if len(lower) == 0 {
		return false
	}
	for _, h := range orgByLast[lower[len(lower)-1]] {
		if string(lower) == h || len(h) >= 4 && len(lower) > len(h) && string(lower[len(lower)-len(h):]) == h {
			return true
		}
	}
	return false
}

// Values of a record's type key ("typ": "förening") that make the record
// an organisation's, so that its name fields hold no person. Compounds
// match by their end (idrottsförening, studieförbund).
var orgTypeEndings = []string{
	"förening", "organisation", "org", "stiftelse", "förbund", "företag", "bolag",
	"myndighet", "kommun", "region", "enhet", "förvaltning", "verksamhet", "skola",
	"förskola", "kyrka", "församling", "klubb", "sällskap", "kår", "nämnd", "studieförbund",
	"organization", "company", "department", "agency", "association", "foundation",
	"club", "business", "institution", "unit", "team", "group", "grupp", "avdelning",
}

// fieldKind is what a JSON key says of the value after it.
type fieldKind uint8

const (
	fieldOther  fieldKind = iota
	fieldName             // a configured name field: the value is a name, whole
	fieldPerson           // a key that points at a person: a name if shaped like one
	fieldThing            // a key of an animal, a boat, a cabin or a room: see thingFields
)

// thingFields are JSON keys and CSV headers whose value names an animal,
// a boat, a cabin or a room, often after a person ("hund": "Stella",
// "stuga": "Emil", "båt": "Ronja"): a short value there is that thing's
// name and is read for personnummer only.
var thingFields = map[string]bool{
	"hund": true, "hundnamn": true, "hundens namn": true, "häst": true, "hästnamn": true,
	"hästens namn": true, "ponny": true, "katt": true, "djur": true, "djurets namn": true,
	"husdjur": true, "båt": true, "båtnamn": true, "båtens namn": true, "stuga": true,
	"stugor": true, "stugnamn": true, "rum": true, "rumsnamn": true, "lokal": true,
	"lokalnamn": true, "avdelning": true, "avd": true, "sal": true, "fordon": true,
	"dog": true, "horse": true, "pet": true, "boat": true, "cabin": true, "room": true,
	// … and what kind of thing: a breed (jack russell), a model, a band.
	"ras": true, "hundras": true, "modell": true, "båttyp": true, "båtmodell": true, "märke": true,
	"bandnamn": true, "band": true, "breed": true, "model": true,
	// … a property's designation, named after anything (Tallåsa Vilja 3).
	"fastighet": true, "fastighetsbeteckning": true, "fastighetsbet": true, "fbet": true, "kvarter": true,
	"property": true,
}

// thingFieldsFolded holds thingFields with å, ä and ö written a, a and o,
// as keys of a system often are (hast, batnamn).
var thingFieldsFolded = func() map[string]bool {
	m := make(map[string]bool, len(thingFields))
	fold := map[rune]rune{'å': 'a', 'ä': 'a', 'ö': 'o'}
	for k := range thingFields {
		r := []rune(k)
		for i, c := range r {
			if f, ok := fold[c]; ok {
				r[i] = f
			}
		}
		m[string(r)] = true
	}
	return m
}()

// thingKey reports whether key, a JSON key, a CSV header or a form
// field, is one of thingFields, also with å, ä and ö folded, or ends in
// one after an underscore, a hyphen or a camelCase capital: onskadHast,
// favorit_hund, hast-namn.
func thingKey(key []byte) bool {
	if len(key) > 40 {
		return false
	}
	var kb [48]byte
	lower := appendLower(kb[:0], key)
	if thingFields[string(lower)] || thingFieldsFolded[string(lower)] {
		return true
	}
	cut := -1
	for i := len(key) - 1; i > 0; i-- {
		if c := key[i]; c == '_' || c == '-' {
			cut = i + 1
			break
		} else if 'A' <= c && c <= 'Z' && 'a' <= key[i-1] && key[i-1] <= 'z' {
			cut = i
			break
		}
	}
	if cut <= 0 || cut >= len(key) {
		return false
	}
	tail := appendLower(kb[:0], key[cut:])
	return thingFields[string(tail)] || thingFieldsFolded[string(tail)]
}

// thingCell reports whether v, under one of thingFields, is that thing's
// name: up to three words, no cue, no comma ("Lindqvist, Anna" is a
// person's however the column is headed), and not a given name before a
// surname ("hund": "Anna Berg" is a person's name put under the key, and
// is replaced as one: a key must not carry a name past the detector).
func (d *nameDetector) thingCell(v []byte) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || len(v) > 40 || bytes.IndexByte(v, ',') >= 0 {
		return false
	}
	words := 0
	var first, last wordFacts
	for i := 0; i < len(v); {
		l, _, n := letterAt(v, i)
		if !l {
			i += n
			continue
		}
		e := wordEnd(v, i)
		wf := d.facts(v[i:e])
		if wf.strongCue {
			return false
		}
		if words == 0 {
			first = wf
		}
		last = wf
		words++
		i = e
	}
	if words >= 2 && personShaped(first, last) {
		return false
	}
	return words >= 1 && words <= 3
}

// personShaped reports whether a stretch of words whose first and last
// have the facts first and last is a given name before a surname (Karin
// Holmqvist): what the rules that take a thing's name from a place (a
// thing's key, a quoted table cell, a riding school's line) must still
// leave to the detectors, so that no place carries a person's full name
// past them.
func personShaped(first, last wordFacts) bool {
	return (first.seen || first.flags&(lexGiven|lexForeignGiven) != 0) &&
		(last.seen || last.flags&nameFlags != 0 || last.flags&lexForeign != 0 && last.flags&lexEnglish == 0 || last.surnameShape)
}

// personKeys are JSON keys whose value is a person when it is shaped like
// a name (columnCell: the test of a register's cells): the sender of a
// chat message ("from": "Wanida Chaiyasit"), an author, an owner. Their
// values may be other things too ("from": "Stockholm", "user": "u123",
// "displayName": "Allmänt"), which are no name by that test and go to the
// free-text detectors as any value does.
var personKeys = map[string]bool{
	"from": true, "to": true, "cc": true, "sender": true, "recipient": true, "author": true,
	"user": true, "username": true, "displayname": true, "display_name": true,
	"från": true, "avsändare": true, "avsandare": true, "mottagare": true,
	"created_by": true, "createdby": true, "modified_by": true, "modifiedby": true,
	"updated_by": true, "updatedby": true, "skapad_av": true, "skapadav": true,
	"owner": true, "ägare": true, "agare": true, "assignee": true, "reporter": true,
	"contact": true, "kontakt": true, "speaker": true, "talare": true,
	"participant": true, "participants": true, "attendees": true, "members": true,
	"ansvarig": true, "responsible": true, "signerad_av": true, "signed_by": true,
}

// typeKeys are the keys whose value says what a record describes.
var typeKeys = map[string]bool{
	"typ": true, "type": true, "kategori": true, "category": true, "slag": true, "kind": true,
	"resourcetype": true, "art": true, "djurslag": true, "djurart": true, "species": true,
}

// animalNameKeys are the keys of an animal's record that hold its own
// name; its other name fields (agare, kontaktperson) hold people.
var animalNameKeys = map[string]bool{"namn": true, "name": true, "djurnamn": true, "smeknamn": true}

// animalType reports whether v, the value of a record's type key, is an
// animal's noun: "art": "hund".
func animalType(v []byte) bool {
	var buf [24]byte
	if len(v) > len(buf) {
		return false
	}
	lower := bytes.TrimSpace(appendLower(buf[:0], v))
	return animalNouns[string(lower)] || animalHead(lower)
}

// orgType reports whether v, the value of a type key, names a kind of
// organisation.
func orgType(v []byte) bool {
	var buf [64]byte
	lower := bytes.TrimSpace(appendLower(buf[:0], v))
	if len(lower) == 0 || len(lower) > 60 {
		return false
	}
	if k := bytes.LastIndexByte(lower, ' '); k >= 0 {
		lower = lower[k+1:] // "ideell förening"
	}
	for _, h := range orgTypeEndings {
		if string(lower) == h || len(h) >= 4 && len(lower) > len(h) && string(lower[len(lower)-len(h):]) == h {
			return true
		}
	}
	return false
}

// Calendar words: weekday and month abbreviations in a schedule's header
// (Mån Tis Ons Tor) are no names, though Tor is one.
var calendarWords = map[string]bool{
	"mån": true, "tis": true, "ons": true, "tor": true, "tors": true, "fre": true, "lör": true,
	"sön": true, "måndag": true, "tisdag": true, "onsdag": true, "torsdag": true, "fredag": true,
	"lördag": true, "söndag": true, "jan": true, "feb": true, "mar": true, "apr": true,
	"maj": true, "jun": true, "jul": true, "aug": true, "sep": true, "sept": true, "okt": true,
	"nov": true, "dec": true,
}

// internalCapital reports whether w has an upper-case letter after a
// lower-case one (SoL, CodeSystem, SEBasePatient): statute abbreviations,
// identifiers and product names, not a person's name, unless the capital
// follows a surname prefix (McDonald, MacLeod, DiCaprio, LaToya, DeAngelo,
// FitzGerald, VanDyke).
func internalCapital(w []byte) bool {
	if capsThenLower(w) {
		return true // FTVStation, HRService
	}
	sawLower := false
	for i := 0; i < len(w); {
		l, u, n := letterAt(w, i)
		if !l {
			sawLower = false // a hyphen or apostrophe starts a new part
			i += n
			continue
		}
		if u && sawLower {
			switch string(w[:i]) {
			case "Mc", "Mac", "Fitz", "De", "Di", "Da", "La", "Le", "Du", "Van", "Von", "Al", "El", "St":
				return false
			}
			return true
		}
		if !u {
			sawLower = true
		}
		i += n
	}
	return false
}

// capsThenLower reports whether w starts with two capitals or more and
// goes on in lower case for two letters or more (FTVStation, ITSupport): an
// identifier, not a name in capitals with its possessive (ANNAs).
func capsThenLower(w []byte) bool {
	caps, lower := 0, 0
	for i := 0; i < len(w); {
		l, u, n := letterAt(w, i)
		switch {
		case !l:
			return false
		case u && lower == 0:
			caps++
		case u:
			return caps >= 2 && lower >= 2
		default:
			lower++
		}
		i += n
	}
	return caps >= 2 && lower >= 2
}

// Finite verbs that often follow a person as the subject of a sentence:
// "Dmytro har ringt", "Minh kom inte", "Saga och Bror ritade". Together with
// the past tense in -ade of an ordinary word, they let a sentence-initial
// word that is a given name somewhere count as a name.
var subjectVerbs = map[string]bool{
	"är": true, "var": true, "har": true, "hade": true, "kom": true, "kommer": true,
	"ska": true, "skall": true, "skulle": true, "kan": true, "kunde": true, "vill": true,
	"ville": true, "går": true, "gick": true, "får": true, "fick": true, "tar": true,
	"tog": true, "gör": true, "gjorde": true, "säger": true, "sa": true, "sade": true,
	"berättar": true, "ringer": true, "ringde": true, "skriver": true, "skrev": true,
	"behöver": true, "börjar": true, "började": true, "läste": true, "läser": true,
	"bor": true, "bodde": true, "mår": true, "mådde": true, "jobbar": true, "arbetar": true,
	"byggde": true, "bygger": true, "fyllde": true, "fyller": true, "kör": true, "körde": true,
	"ser": true, "såg": true, "vet": true, "visste": true, "tycker": true, "tyckte": true,
	"sitter": true, "satt": true, "står": true, "stod": true, "sover": true, "sov": true,
	"äter": true, "åt": true, "leker": true, "lekte": true, "springer": true, "sprang": true,
	"fixar": true, "tränar": true, "spelar": true, "vann": true, "vinner": true,
	"slutar": true, "slutade": true, "flyttar": true, "flyttade": true, "väntar": true,
	"svarar": true, "svarade": true, "mejlar": true, "messar": true, "sms:ar": true,
	"lämnar": true, "lämnade": true, "hämtar": true, "hämtade": true, "pratar": true,
	"pratade": true, "träffar": true, "träffade": true, "hjälper": true, "hjälpte": true,
	"känner": true, "kände": true, "verkar": true, "verkade": true, "blir": true, "blev": true,
	"brukar": true, "brukade": true, "måste": true, "borde": true, "bör": true, "lär": true,
	"tänker": true, "tänkte": true, "önskar": true, "önskade": true, "undrar": true,
	"undrade": true, "uppger": true, "uppgav": true, "nämnde": true, "nämner": true,
	"tackade": true, "tackar": true, "grät": true,
	"gråter": true, "skrattar": true, "skrattade": true, "ritar": true, "ritade": true,
	"hittar": true, "hittade": true, "vaknade": true, "vaknar": true,
	"somnade": true, "ramlade": true, "föll": true, "faller": true, "beskriver": true,
	"beskrev": true, "föreslår": true, "föreslog": true, "tycks": true,
	"åker": true, "åkte": true, "reser": true, "reste": true, "cyklar": true, "simmar": true,
	"sjunger": true, "sjöng": true, "dansar": true, "ligger": true, "låg": true, "bjuder": true,
	"fixade": true, "glömde": true, "glömmer": true, "saknar": true, "saknade": true,
}

// Words after a verb that make the word before the verb its object or an
// adverbial, not its subject: "Ros kan man beskära i april".
var subjectPronouns = map[string]bool{
	"man": true, "jag": true, "du": true, "han": true, "hon": true, "vi": true, "ni": true,
	"de": true, "dom": true, "den": true, "det": true, "hen": true, "någon": true, "ingen": true,
	"alla": true, "dessa": true, "detta": true,
}

// Function words that start sentences and stand before verbs: never the
// subject a name would be (Du har en tid, Alla har fått, De har rättats).
var functionWords = map[string]bool{
	"du": true, "ni": true, "vi": true, "jag": true, "han": true, "hon": true, "hen": true,
	"den": true, "det": true, "de": true, "dom": true, "man": true, "alla": true, "många": true,
	"flera": true, "några": true, "ingen": true, "inga": true, "inget": true, "båda": true,
	"vissa": true, "andra": true, "samtliga": true, "varje": true, "vem": true, "vad": true,
	"vilka": true, "här": true, "där": true, "nu": true, "då": true, "sedan": true, "också": true,
	"även": true, "men": true, "och": true, "eller": true, "så": true, "ja": true, "nej": true,
	"detta": true, "dessa": true, "denna": true, "min": true, "din": true,
	"hans": true, "hennes": true, "vår": true, "er": true, "deras": true, "ett": true, "en": true,
	"dagens": true, "idag": true, "igår": true, "imorgon": true, "därför": true, "dessutom": true,
	"ibland": true, "alltid": true, "aldrig": true, "ofta": true, "kanske": true, "tyvärr": true,
	"alltså": true, "varför": true, "hur": true, "när": true, "om": true, "att": true, "som": true,
}

// nextWordAt returns the bounds of the word that starts after the spaces
// at b[i:], or ok = false if something other than spaces (a line end,
// punctuation) comes first.
func nextWordAt(b []byte, i int) (start, end int, ok bool) {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i >= len(b) {
		return 0, 0, false
	}
	if l, _, _ := letterAt(b, i); !l {
		return 0, 0, false
	}
	e := wordEnd(b, i)
	if e < len(b) && b[e] == ':' && e+2 < len(b) && isASCIILetter(b[e+1]) {
		e = wordEnd(b, e+1) // sms:ar
	}
	return i, e, true
}

// verbFollows reports whether a finite verb follows b[:end], the end of a
// sentence-initial name candidate, as its predicate; "och" and one more
// capitalised word may come between (Saga och Bror ritade). It returns
// where the word after "och" ends when it was skipped, or 0.
func (d *nameDetector) verbFollows(b []byte, end int) (bool, int) {
	s, e, ok := nextWordAt(b, end)
	if !ok || e-s > 24 {
		return false, 0
	}
	var buf [32]byte
	lower := appendLower(buf[:0], b[s:e])
	partner := 0
	if string(lower) == "och" || string(lower) == "samt" {
		ps, pe, ok := nextWordAt(b, e)
		if !ok {
			return false, 0
		}
		if l, u, _ := letterAt(b, ps); !l || !u {
			return false, 0
		}
		partner = pe
		if s, e, ok = nextWordAt(b, pe); !ok || e-s > 24 {
			return false, 0
		}
		lower = appendLower(buf[:0], b[s:e])
	}
	if l, u, _ := letterAt(b, s); !l || u {
		return false, 0 // a verb here is written in lower case
	}
	if !subjectVerbs[string(lower)] {
		// … or a past tense: -ade (ritade), and -te or -de of a verb the
		// dictionary holds in -er too (besökte: besöker, hörde: hör).
		past := bytes.HasSuffix(lower, []byte("ade")) && len(lower) >= 6 && d.lx.isCommon(lower)
		if !past && len(lower) >= 5 && (bytes.HasSuffix(lower, []byte("te")) || bytes.HasSuffix(lower, []byte("de"))) &&
			d.lx.isCommon(lower) {
			var pb [32]byte
			pres := append(append(pb[:0], lower[:len(lower)-2]...), "er"...)
			past = d.lx.isCommon(pres) || d.lx.isCommon(append(pb[:0], lower[:len(lower)-2]...)) && bytes.HasSuffix(lower[:len(lower)-2], []byte("r"))
		}
		if !past {
			return false, 0
		}
	}
	if ns, ne, ok := nextWordAt(b, e); ok {
		if subjectPronouns[string(appendLower(buf[:0], b[ns:ne]))] {
			return false, 0
		}
	}
	return true, partner
}

// roleEnds end the compounds that name a role: Scoutledare, Idrottslärare,
// Fotbollstränare, Elevassistent.
var roleEnds = []string{"ledare", "lärare", "tränare", "handläggare", "assistent", "sekreterare", "pedagog",
	"sköterska", "kurator", "mentor", "rektor", "samordnare", "ansvarig", "ordförande", "kassör", "medlem"}

// roleWord reports whether w names a role: a person cue that is no weak
// one (Handläggare, Mentor), or a compound ending in one of roleEnds.
func (d *nameDetector) roleWord(w []byte) bool {
	if d.facts(w).strongCue {
		return true
	}
	var lb [40]byte
	if len(w) > len(lb) {
		return false
	}
	return roleCompound(appendLower(lb[:0], w))
}

// roleCompound reports whether lower, a lower-case word, is a compound
// ending in one of roleEnds, or its definite form: Fritidspedagog,
// Scoutledaren.
func roleCompound(lower []byte) bool {
	for _, r := range roleEnds {
		if len(lower) < len(r)+3 {
			continue
		}
		if bytes.HasSuffix(lower, []byte(r)) {
			return true
		}
		for _, def := range [...]string{"n", "en"} {
			if n := len(lower) - len(def); bytes.HasSuffix(lower, []byte(def)) && n >= len(r)+3 && bytes.HasSuffix(lower[:n], []byte(r)) {
				return true
			}
		}
	}
	return false
}

// animateVerbs are the verbs whose subject is a person (or an animal),
// hardly a place, a firm or a thing: "Ludde vill gärna", "Ghirmay ringde".
var animateVerbs = map[string]bool{
	"vill": true, "ville": true, "sa": true, "sade": true, "säger": true, "berättar": true,
	"berättade": true, "ringer": true, "ringde": true, "mår": true, "mådde": true,
	"tycker": true, "tyckte": true, "tänker": true, "tänkte": true, "undrar": true,
	"undrade": true, "gråter": true, "grät": true, "skrattar": true, "skrattade": true,
	"leker": true, "lekte": true, "sover": true, "sov": true, "mejlar": true, "mejlade": true,
	"messar": true, "messade": true, "sms:ar": true, "svarar": true, "svarade": true,
	"pratar": true, "pratade": true, "jobbar": true, "jobbade": true, "hjälper": true,
	"hjälpte": true, "känner": true, "kände": true, "önskar": true, "önskade": true,
	"uppger": true, "uppgav": true, "tackar": true, "tackade": true, "vaknade": true,
	"somnade": true, "ramlade": true, "ritar": true, "ritade": true, "frågar": true,
	"frågade": true, "fyller": true, "fyllde": true, "bor": true, "bodde": true,
	"gillar": true, "gillade": true, "älskar": true, "saknar": true, "saknade": true,
}

// unknownSubject reports whether w, a capitalised word at a clause start
// that no list holds and no Swedish word is, is a person by the verb after
// it: "Ludde vill gärna", "Serwan ringde". A place or a firm the lists
// lack does not want, say or feel.
func (d *nameDetector) unknownSubject(b []byte, w word, wf wordFacts) bool {
	if !d.unknownWord(b, w, wf) {
		return false
	}
	s, e, ok := nextWordAt(b, w.end)
	if !ok || s != w.end+1 || e-s > 12 {
		return false
	}
	var vb [16]byte
	return animateVerbs[string(appendLower(vb[:0], b[s:e]))]
}

// unknownWord reports whether w, capitalised, is a word no list holds
// and no rule gives another reading: a body, a desk, a compound, a
// product.
func (d *nameDetector) unknownWord(b []byte, w word, wf wordFacts) bool {
	// A definite ending on a long word is a body's (Samhällsbyggnadsnämnden);
	// on a short one it may be a name's (Serwan, Kirsan).
	if w.shape != shapeCap || wf.flags != 0 || wf.common || wf.definite && runeLen(b[w.start:w.end]) > 8 || wf.definiteCompound || wf.commonCompound ||
		wf.seen || wf.internalCap || wf.company || wf.org || wf.venue || wf.placeSuffix || wf.surnameSuffix ||
		runeLen(b[w.start:w.end]) < 3 || bytes.IndexByte(b[w.start:w.end], '-') >= 0 ||
		d.lx.products[string(appendLower(d.buf[:0], b[w.start:w.end]))] {
		return false // VA-ekonomi svarade: a desk
	}
	return true
}

// lineStartBefore reports whether only a chat timestamp, a list number or
// bullet, or white space stands between the start of the line and i:
// "[09:12] Anna", "08:31 Anna", "3. Anna", "– Anna".
func lineStartBefore(b []byte, i int) bool {
	for j := i - 1; j >= 0; j-- {
		c := b[j]
		switch {
		case c == '\n':
			return true
		case c == ' ' || c == '\t' || c == '[' || c == ']' || c == ':' || c == '.' || c == ')' ||
			c == '-' || c == '*' || c == '/' || c == ',' || isDigit(c): // "12/05/2024, 18:40 - Sanna:"
		case c == 0x93 && j >= 2 && b[j-2] == 0xe2 && b[j-1] == 0x80: // – (en dash)
			j -= 2
		case c == 0xa2 && j >= 2 && b[j-2] == 0xe2 && b[j-1] == 0x80: // • (bullet)
			j -= 2
		default:
			return false
		}
	}
	return true
}

// cellStart reports whether the name stretch starting at i begins a cell of
// a list: the start of the text or a line (after a timestamp or list
// number), or after a field separator (tab, ';', two spaces), an opening
// quote or bracket, or a label's colon.
func cellStart(b []byte, i int) bool {
	j := i - 1
	for j >= 0 && b[j] == ' ' {
		j--
	}
	if j < 0 {
		return true
	}
	switch b[j] {
	case '\n', '\t', ';', '"', '(', '[', ':', '|':
		return true
	}
	if i-j >= 3 {
		return true // two spaces or more: a column
	}
	return lineStartBefore(b, i)
}

// cellEnd reports whether the name stretch ending at i ends a cell: the end
// of the text or line, a field separator, a closing quote or bracket, two
// spaces, a dash or an opening bracket after one space.
func cellEnd(b []byte, i int) bool {
	if i >= len(b) {
		return true
	}
	switch b[i] {
	case '\n', '\r', '\t', ';', '"', ')', ']', '|', ',', '/':
		return true
	case ' ':
		if i+1 >= len(b) {
			return true
		}
		switch c := b[i+1]; {
		case c == ' ' || c == '(' || c == '-' || c == '\n' || c == '\t' || c == '<' || isDigit(c):
			return true
		case c == 0xe2 && i+3 < len(b) && b[i+2] == 0x80 && (b[i+3] == 0x93 || b[i+3] == 0x94): // – —
			return true
		}
	}
	return false
}

// capsLine reports whether the line around b[i] is written mostly in upper
// case, so that capitals carry no evidence there. The answer for the last
// line asked is kept.
func (d *nameDetector) capsLine(b []byte, i int) bool {
	s := bytes.LastIndexByte(b[:i], '\n') + 1
	if d.capsAt == s+1 && d.capsFor == &b[0] {
		return d.capsVal
	}
	e := bytes.IndexByte(b[i:], '\n')
	if e < 0 {
		e = len(b)
	} else {
		e += i
	}
	upper, lower := 0, 0
	for k := s; k < e; {
		l, u, n := letterAt(b, k)
		if l {
			if u {
				upper++
			} else {
				lower++
			}
		}
		k += n
	}
	d.capsAt, d.capsFor = s+1, &b[0]
	d.capsVal = upper >= 6 && upper >= 4*lower
	return d.capsVal
}

// runeLen is the number of runes in w.
func runeLen(w []byte) int { return utf8.RuneCount(w) }

// hasForeignLetter reports whether lower holds a letter that the Swedish
// alphabet lacks (é and ü, common in Swedish names, are not counted).
func hasForeignLetter(lower []byte) bool {
	for i := 0; i < len(lower); {
		c := lower[i]
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(lower[i:])
		i += n
		switch r {
		case 'å', 'ä', 'ö', 'é', 'ü', 'Å', 'Ä', 'Ö', 'É', 'Ü':
			continue
		}
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// foldLetters maps letters outside Swedish to their usual Latin spelling
// (ş→s, ø→o, ł→l, đ→d, ć→c, ß→ss), keeping å, ä and ö, as registers that
// cannot store them write names: the same folding as data/gen's lists.
func foldLetters(dst, w []byte) []byte {
	for i := 0; i < len(w); {
		r, n := utf8.DecodeRune(w[i:])
		i += n
		switch r {
		case 'å', 'ä', 'ö', 'Å', 'Ä', 'Ö':
			dst = utf8.AppendRune(dst, r)
			continue
		case 'ß':
			dst = append(dst, "ss"...)
			continue
		case 'ø', 'đ', 'ł', 'ı', 'ð':
			dst = append(dst, map[rune]byte{'ø': 'o', 'đ': 'd', 'ł': 'l', 'ı': 'i', 'ð': 'd'}[r])
			continue
		case 'Ø', 'Đ', 'Ł', 'Ð':
			dst = append(dst, map[rune]byte{'Ø': 'O', 'Đ': 'D', 'Ł': 'L', 'Ð': 'D'}[r])
			continue
		case 'æ':
			dst = append(dst, "ae"...)
			continue
		case 'Æ':
			dst = append(dst, "Ae"...)
			continue
		}
		if r < utf8.RuneSelf {
			dst = append(dst, byte(r))
			continue
		}
		// Decompose: the first rune of the canonical decomposition is the
		// base letter for the Latin letters with diacritics.
		if base, ok := latinBase(r); ok {
			dst = utf8.AppendRune(dst, base)
			continue
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// latinBase returns the base letter of a Latin letter with diacritics
// (ş → s, ć → c, ễ → e).
func latinBase(r rune) (rune, bool) {
	if !unicode.Is(unicode.Latin, r) {
		return 0, false
	}
	var buf [16]byte
	d := norm.NFD.Append(buf[:0], utf8.AppendRune(nil, r)...)
	base, _ := utf8.DecodeRune(d)
	if base == utf8.RuneError || base >= utf8.RuneSelf {
		return 0, false
	}
	return base, true
}

// notPerson reports whether v, the whole value of a name field, names no
// person: an organisation (IFK Lillby, Lillby Hembygdsförening, Röda
// Korset Lillbykretsen, Carl Larssons vänner, Nilsson Bygg AB), or one
// long ordinary word that no name list holds (Kansliet, Testperson). Such
// a value goes through the free-text detector instead of being replaced
// whole, so that a person's name in it is still found.
func (d *nameDetector) notPerson(v []byte) bool {
	// A phone number or an address in the field (tel 0520-49 70 00), or a
	// group (Örebro Stadsmission (grupp)): no one's name, though the
	// free-text detector still reads it for one.
	if phoneIn(v) || bytes.Contains(v, []byte("(grupp)")) || noOneWord(appendLower(d.buf[:0], bytes.TrimSpace(v))) {
		return true
	}
	words, acronyms, shortAcronyms, named, unknown := 0, 0, 0, 0, 0
	var only wordFacts
	prevPossessive := false
	// A body or a place in definite form first, a name after it:
	// Sparbanken Bergslagen, Familjecentralen Vivalla (grupp),
	// Familjehemmet, se bilaga. Not before a given name: a foster home or
	// a preschool is named after its people too (Familjehemmet Karin Ek,
	// Förskolan Ella Berg).
	bodyFirst, givenLater := false, false
	// A capitalised word came before: then an ordinary word in lower case
	// says the value is no name (a name in lower case is lower case all
	// through).
	capsBefore := false
	for i := 0; i < len(v); {
		l, u, n := letterAt(v, i)
		if !l {
			i += n
			continue
		}
		e := wordEnd(v, i)
		w := v[i:e]
		i = e
		words++
		lower := appendLower(d.buf[:0], w)
		if orgWord(lower) || companyMarkers[string(lower)] || prevPossessive && namedThingHead(lower) {
			return true
		}
		wf := d.facts(w)
		if wf.calendar && !u {
			return true // måndag och onsdag: a time, not a name
		}
		if wf.commonTail {
			return true // Nowruz-fest, Iftar-middag: an event
		}
		if !u && words > 1 && capsBefore && wf.common && wf.flags&(nameFlags|lexForeignGiven) == 0 && !wf.seen &&
			!nameParticles[string(lower)] && !d.lx.products[string(lower)] {
			return true // Läxhjälp dari, Hantverk – textil och vävning: a course, not a person
		}
		if u {
			capsBefore = true
		}
		only = wf
		if wf.flags&(nameFlags|lexForeign|lexWorld|lexForeignGiven) != 0 || wf.seen {
			named++
		} else if !wf.common && !wf.commonCompound && runeLen(w) > 1 {
			unknown++
		} else if words == 1 && (wf.common && wf.long && wf.definite || wf.definiteCompound) && !wf.cue && i < len(v) {
			bodyFirst = true
		}
		if words > 1 && u && wf.flags&(lexGiven|lexForeignGiven) != 0 {
			givenLater = true
		}
		if upperWord(w) && runeLen(w) >= 2 && runeLen(w) <= 5 && wf.flags&nameFlags == 0 &&
			(wf.flags&lexForeign == 0 || wf.flags&lexEnglish != 0) {
			acronyms++ // IFK, ABF, PRO, BK
			if runeLen(w) <= 3 {
				shortAcronyms++
			}
		}
		prevPossessive = len(w) > 2 && (w[len(w)-1] == 's' || w[len(w)-1] == 'S')
	}
	if bodyFirst && (!givenLater || d.characterAfterFirst(v)) {
		return true // … and Förskolan Pippi Långstrump is named after no one here
	}
	if words == 0 {
		return true // 12, 8: a count under the column, no name (a personnummer is still found)
	}
	if acronyms > 0 && acronyms < words && (!upperWord(bytes.TrimSpace(v)) || shortAcronyms > 0) {
		// IFK Lillby, IFK LILLBY; but in a value all in capitals a word
		// of four letters or more may be a surname: KIANOUSH ZAND.
		return true
	}
	if words == 1 && named == 0 && !only.seen && only.common && only.long && !capsBefore && onlyLetters(bytes.TrimSpace(v)) {
		// reservplats: a note in the field, in lower case and long (a
		// short one may be a given name no list holds: vår, sol).
		return true
	}
	if words == 1 && named == 0 {
		// A role (Ledare) or a field label is no one's name either.
		// ... but an ordinary word shaped like a surname (Bäckström, a
		// brook's current; Lindgren) is the surname in a name field.
		return only.common && only.long && only.definite && (!only.surnameSuffix && !only.surnameShape || d.definiteOfCommon(v)) ||
			deskWord(appendLower(d.buf[:0], bytes.TrimSpace(v))) ||
			d.roleWord(bytes.TrimSpace(v)) && only.flags&(lexGiven|lexForeignGiven) == 0 ||
			only.commonCompound || only.definiteCompound ||
			only.strongCue && only.flags&lexGiven == 0 || only.fieldLabel
	}
	// Ordinary words only, none of them a name in any list nor one the
	// document has used as one: a desk or a note (Kundtjänst företag, Alla
	// lag, Ledarkonto P10), which the free-text detector still reads.
	return words > 1 && named == 0 && unknown == 0
}

// onlyLetters reports whether v is letters only: one word, nothing else.
func onlyLetters(v []byte) bool {
	for i := 0; i < len(v); {
		l, _, n := letterAt(v, i)
		if !l {
			return false
		}
		i += n
	}
	return len(v) > 0
}

// characterAfterFirst reports whether the words of v after its first are
// a character's name: Förskolan Pippi Långstrump, Avdelning Emil i
// Lönneberga.
func (d *nameDetector) characterAfterFirst(v []byte) bool {
	v = bytes.TrimSpace(v)
	sp := bytes.IndexByte(v, ' ')
	if sp < 0 || len(v)-sp > 40 {
		return false
	}
	var lb [48]byte
	return characters[string(appendLower(lb[:0], bytes.TrimSpace(v[sp:])))]
}

// noOneWords fill a register's name column where no person is: an
// estate (Dödsbo; Dödsbo efter Karl Lund is more words, and the free-text
// detector finds him), a vacancy, a sum.
var noOneWords = map[string]bool{
	"dödsbo": true, "dödsboet": true, "vakant": true, "vakans": true, "summa": true, "totalt": true,
	"antal": true, "saknas": true, "okänd": true, "okänt": true, "ingen": true, "reserv": true,
	"övrigt": true, "övriga": true, "alla": true, "samtliga": true, "sponsor": true, "varav": true,
	// Answers of a yes-or-no or a filled-in field: "mamma": "ja".
	"ja": true, "nej": true, "yes": true, "no": true, "x": true, "n/a": true, "ok": true,
	"finns ej": true, "ej aktuell": true, "ej aktuellt": true, "ej känd": true, "uppgift saknas": true,
	"se ovan": true, "se bilaga": true, "avliden": true, "okänd vistelseort": true,
}

// noOneWord reports whether lower, a whole value, is one of noOneWords or
// starts with a count's (Antal konfirmander, Summa medlemmar).
func noOneWord(lower []byte) bool {
	if noOneWords[string(lower)] {
		return true
	}
	if sp := bytes.IndexByte(lower, ' '); sp > 0 {
		switch string(lower[:sp]) {
		case "antal", "summa", "totalt", "varav":
			return true
		case "okänd", "okänt", "oidentifierad", "oidentifierat", "anonym", "ej":
			return true // "okänd man ca 30 år": an unknown person, described
		}
	}
	return false
}

// phoneIn reports whether v holds a Swedish phone number: an area code
// of 0 and one to three digits, a hyphen or a space, and five digits or
// more (0520-49 70 00, 070-123 45 67, 08 730 45 12), or +46. A
// personnummer (811218-9876) has six or eight digits before its hyphen and
// is none.
func phoneIn(v []byte) bool {
	if bytes.Contains(v, []byte("+46")) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '0' || i > 0 && isDigit(v[i-1]) {
			continue
		}
		j := i + 1
		for j < len(v) && isDigit(v[j]) {
			j++
		}
		if j-i < 2 || j-i > 4 || j >= len(v) || v[j] != '-' && v[j] != ' ' {
			continue
		}
		n := 0
		for j++; j < len(v) && (isDigit(v[j]) || v[j] == ' '); j++ {
			if isDigit(v[j]) {
				n++
			}
		}
		if n >= 5 {
			return true
		}
	}
	return false
}

// deskHeads end the words that name a desk rather than a person in a
// contact field: Kundservice, Kundtjänst, Företagssupport, Växeln.
var deskHeads = [...]string{"service", "tjänst", "support", "växel", "växeln", "expedition", "expeditionen",
	"reception", "receptionen", "kansli", "kansliet", "kontor", "kontoret", "center", "centret"}

// deskWord reports whether lower (one word) is a desk: a head of
// deskHeads, alone or after at least three letters. A surname that is an
// ordinary compound (Sjöstrand) is none.
func deskWord(lower []byte) bool {
	for _, h := range deskHeads {
		if bytes.HasSuffix(lower, []byte(h)) && (len(lower) == len(h) || len(lower) >= len(h)+3) {
			return true
		}
	}
	return false
}

// definiteOfCommon reports whether the word v (capitalised) is the
// definite form of an ordinary word: Styrelsen of styrelse, Nämnden of
// nämnd. Such a word ends like a surname (-sen) but is a body.
func (d *nameDetector) definiteOfCommon(v []byte) bool {
	lower := appendLower(d.buf[:0], bytes.TrimSpace(v))
	for _, suf := range [...]string{"n", "en", "et", "t"} {
		if stem := lower[:max(0, len(lower)-len(suf))]; len(stem) >= 4 && bytes.HasSuffix(lower, []byte(suf)) && d.lx.isCommon(stem) {
			return true
		}
	}
	return false
}

// upperWord reports whether every letter of w is upper case.
func upperWord(w []byte) bool {
	for i := 0; i < len(w); {
		l, u, n := letterAt(w, i)
		if l && !u {
			return false
		}
		i += n
	}
	return true
}

// A column of names: in a CSV export, a column whose header is a person's
// role (tolk, klient, handläggare) or whose cells so far have been names
// holds names, and a cell of it shaped like a name is one even when the
// lists lack its words (Gulalai Sahak, Ploy Chaiyaporn). That is the
// document's evidence, as for a word used as a name elsewhere: the words
// are remembered, so the cell and later mentions are found.

// maxCellWords bounds the words of a cell taken as a name by its column.
const maxCellWords = 4

// nameShapedCell reports whether v (a whole cell) is one to four
// capitalised words, each either a name in some list or no ordinary word,
// and none a place, an institution, a company form, a room or a compound
// noun: "Gulalai Sahak" is, "Lillby Hembygdsförening", "IFK Lillby" and
// "Testperson Test" are not.
func (d *nameDetector) nameShapedCell(v []byte) bool {
	v = bytes.TrimSpace(v)
	if len(v) < 2 || len(v) > 80 || d.notPerson(v) {
		return false
	}
	words, comma := 0, -1
	for i := 0; i < len(v); {
		if v[i] == ' ' || i == comma {
			if v[i] == ' ' && i+1 < len(v) && v[i+1] == ' ' {
				return false
			}
			i++
			continue
		}
		l, u, n := letterAt(v, i)
		if !l || !u {
			return false
		}
		e := wordEnd(v, i)
		if e+1 < len(v) && v[e] == ',' && v[e+1] == ' ' && words == 0 {
			comma = e // "Somsri, Wanida": a register's surname first
		} else if e < len(v) && v[e] != ' ' || e-i < 2 {
			return false
		}
		for k := i + n; k < e; {
			l, u, m := letterAt(v, k)
			if l && u && (k == 0 || v[k-1] != '-') {
				return false // SoL, McDonald: an identifier or no name of this form
			}
			k += m
		}
		wf := d.facts(v[i:e])
		named := wf.flags&(nameFlags|lexForeign|lexForeignGiven|lexWorld) != 0
		// A short word that splits into two ordinary ones is as often a
		// foreign name (Som|chai) as a compound; a long one is a compound.
		compound := wf.commonCompound && (e-i >= 9 || named)
		if wf.cue || wf.company || wf.venue || wf.org || wf.placeNoun || wf.placeSuffix ||
			wf.definiteCompound || compound || wf.internalCap || wf.calendar ||
			wf.common && !named || wf.flags&lexPlace != 0 && wf.flags&(nameFlags|lexForeignGiven) == 0 {
			return false
		}
		words++
		if words > maxCellWords {
			return false
		}
		i = e
	}
	return words > 0
}

// rememberCell notes the words of a cell that its column makes a name.
func (d *nameDetector) rememberCell(v []byte) {
	for i := 0; i < len(v); {
		l, _, n := letterAt(v, i)
		if !l {
			i += n
			continue
		}
		e := wordEnd(v, i)
		d.remember(v[i:e])
		i = e
	}
}

// wholeName reports whether every word of v overlaps one of ms: the cell
// was found to be a name, all of it.
func wholeName(v []byte, ms []nameMatch) bool {
	words := 0
	for i := 0; i < len(v); {
		l, _, n := letterAt(v, i)
		if !l {
			if !isSpace(v[i]) && v[i] != ',' && v[i] != '.' && v[i] != '-' {
				return false
			}
			i += n
			continue
		}
		e := wordEnd(v, i)
		found := false
		for _, m := range ms {
			if m.start < e && i < m.end {
				found = true
				break
			}
		}
		if !found {
			return false
		}
		words++
		i = e
	}
	return words > 0
}

// castRole reports whether the run ws[k:e] is a role of a play's cast
// list: it starts a line and a leader (dots, a dash, a tab or a column
// gap) follows it, or its bracket (Herr Nilsson (apan) ....), and a line
// above it in the same block, with no blank line between, heads the cast
// (Rollista, Roller, Rollbesättning). The actor after the leader is read
// as any name.
func castRole(b []byte, ws []word, k, e int) bool {
	if !lineStartBefore(b, ws[k].start) {
		return false
	}
	i := ws[e-1].end
	if i+1 < len(b) && b[i] == ' ' && b[i+1] == '(' {
		p := bytes.IndexByte(b[i:min(len(b), i+40)], ')')
		if p < 0 {
			return false
		}
		i += p + 1
	}
	if i+2 < len(b) && b[i] == ',' && b[i+1] == ' ' {
		// "Anton Svensson, pappa ......": the role's description.
		j := i + 2
		for n := 0; n < 3 && j < len(b); n++ {
			l, u, _ := letterAt(b, j)
			if !l || u {
				break
			}
			j = wordEnd(b, j)
			if j < len(b) && b[j] == ' ' && j+1 < len(b) && b[j+1] != ' ' && b[j+1] != '.' {
				j++
			}
		}
		i = j
	}
	switch {
	case bytes.HasPrefix(b[i:], []byte(" ...")), bytes.HasPrefix(b[i:], []byte("...")),
		bytes.HasPrefix(b[i:], []byte(" \u2026")), bytes.HasPrefix(b[i:], []byte(" \u2013 ")),
		bytes.HasPrefix(b[i:], []byte(" - ")), bytes.HasPrefix(b[i:], []byte("\t")),
		bytes.HasPrefix(b[i:], []byte("   ")):
	default:
		return false
	}
	// The block's lines above, up to a blank line.
	le := bytes.LastIndexByte(b[:ws[k].start], '\n')
	for n := 0; le > 0 && n < 60; n++ {
		ls := bytes.LastIndexByte(b[:le], '\n') + 1
		line := b[ls:le]
		if len(bytes.TrimSpace(line)) == 0 {
			return false
		}
		if len(line) <= 80 {
			var lb [80]byte
			l := appendLower(lb[:0], line)
			if bytes.Contains(l, []byte("rollista")) || bytes.Contains(l, []byte("rollbesättning")) ||
				bytes.HasPrefix(bytes.TrimSpace(l), []byte("roller")) {
				return true
			}
		}
		le = ls - 1
	}
	return false
}
