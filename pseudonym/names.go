package pseudonym

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"unicode"
	"unicode/utf8"
)

// nameMatch is one name part found in a text: [start, end) is what the token
// replaces (a possessive s stays outside).
type nameMatch struct {
	start, end int
	rule       string // see explain.go
}

// Word shapes.
const (
	shapeLower   uint8 = iota // starts with a lower-case letter
	shapeCap                  // Anna, Lars-Erik, McDonald
	shapeUpper                // ANNA (two letters or more, all upper case)
	shapeInitial              // A in "A. Andersson"
)

type word struct {
	start, end int
	shape      uint8
	// What separates this word from the previous one.
	gapJoin     bool // one or two spaces only: the words may form one name
	gapSentence bool // sentence or line starts here (., !, ?, :, newline)
	gapCueOK    bool // a cue word before may refer to this word (no sentence end between)
	gapSlash    bool // "/Anna": a signature
}

// nameDetector finds names in free text by combining the lexicons with
// capitalisation and context. It is not safe for concurrent use; each stream
// makes its own.
type nameDetector struct {
	lx    *lexicon
	words []word
	infos []wordInfo
	buf   []byte // scratch for one lookup
	memo  map[string]wordFacts
	// seen holds the words found as names so far in this stream (title
	// case), and whole-field names: a later mention is the same person.
	seen map[string]bool
	// vehicles holds the make-and-model pairs (lower case) a registration
	// number has shown to be cars in this stream: Kia Niro later is one.
	vehicles map[string]bool
	// animals holds the names (lower case) that the stream has shown to
	// be an animal's or a boat's (animals.go).
	animals map[string]bool
	// places holds the words (title case) that the stream has used as a
	// place's name (see learnPlace): no name list holds them, and from
	// then on they read as places, not as people.
	places map[string]bool
	// animalEnd is the byte offset, in this pass's buffer, of the end of
	// the last animal's name found: the next name of its list is one too.
	animalEnd int
	// keepAll keeps every word in words, for debugging the classification.
	keepAll bool
	// The last line capsLine looked at (its start + 1, in which buffer).
	capsAt  int
	capsFor *byte
	capsVal bool
	// learned counts the names noted by remember, so that find knows when
	// a text taught it one.
	learned int
	// gen changes whenever seen does (remember, forget): a value found
	// clean in one generation is clean while it lasts (cleanvalues.go).
	gen uint32
	// lower holds the words of a line for findLower.
	lower    []lowerWord
	lowerBuf []byte
	// speakers holds the lower-case chat labels found as names (see
	// noteSpeaker).
	speakers []uint32
	// firstPass is scratch for find: the matches of the first reading.
	firstPass []nameMatch
	// seenBits holds lowerHash of the names in seen (never cleared but
	// with seen: a stale bit only costs a lookup).
	seenBits [seenBitWords]uint64
	// lowerStrict is set while findLower reads a line that is not
	// informal, only a chat's (chatStampLine): the weaker rules need a cue.
	lowerStrict bool
	// valueMode is set while the text is one value of a structured body
	// (a JSON string, a CSV field, a form value): see findLower.
	valueMode bool
	// forcedEnd is the end of the second subject of "X och Y verb" once X
	// was found, or -1.
	forcedEnd int
	// titleEnd is the end (in words) of the last run taken as the title
	// of a work, or 0: a title joined to it by "och" or a comma is one too.
	titleEnd int
	// quoteEnd is the byte offset of the closing quote of a title in
	// quotes after a work cue (utställningen "Från Nils Holgersson till
	// Emil i Lönneberga"): no run before it is a person.
	quoteEnd int
	// Scratch for findColumns.
	colMatches []nameMatch
	colCells   []textCell
}

func newNameDetector(lx *lexicon) *nameDetector {
	return &nameDetector{lx: lx, memo: make(map[string]wordFacts)}
}

// maxSeen bounds the per-stream set of names seen; it is cleared when full.
const maxSeen = 1 << 10

// remember notes a name part found in this stream, so that a later mention
// without context (at a sentence start, on its own) is found too.
func (d *nameDetector) remember(w []byte) {
	if len(w) < 2 {
		return
	}
	d.buf = appendTitle(d.buf[:0], w)
	if d.seen[string(d.buf)] {
		return
	}
	if d.seen == nil {
		d.seen = make(map[string]bool)
	}
	if len(d.seen) >= maxSeen {
		clear(d.seen)
		clear(d.memo) // memoized facts carry seen
	}
	key := string(d.buf)
	d.seen[key] = true
	d.learned++
	d.gen++
	h := lowerHash(appendLower(d.buf[:0], w))
	d.seenBits[h>>6&(seenBitWords-1)] |= 1 << (h & 63)
	d.dropFacts(key, w)
}

// dropFacts drops the memoized facts of w in title case (key) and as
// written, with and without a possessive s: what the stream learned of
// it has made them out of date.
func (d *nameDetector) dropFacts(key string, w []byte) {
	for _, k := range []string{key, string(w)} {
		delete(d.memo, k)
		delete(d.memo, k+"s")
	}
}

// forget drops a name part that turned out to be part of a thing's name.
// It reports whether the stream had noted w as a name.
func (d *nameDetector) forget(w []byte) bool {
	d.buf = appendTitle(d.buf[:0], w)
	if !d.seen[string(d.buf)] {
		return false
	}
	key := string(d.buf)
	delete(d.seen, key)
	d.gen++
	d.dropFacts(key, w)
	return true
}

// rememberField notes the words of a whole-field name (JSON "namn", a CSV
// name column) so that free text in the same stream finds them. A name
// field may hold a unit or an office ("name": "Region Skåne", "Kansliet"):
// ordinary words, places and institutions are not noted.
func (d *nameDetector) rememberField(v []byte) {
	for i := 0; i < len(v); {
		l, u, n := letterAt(v, i)
		if !l {
			i += n
			continue
		}
		e := wordEnd(v, i)
		if u && e-i >= 2 {
			wf := d.facts(v[i:e])
			named := wf.flags&nameFlags != 0
			if !wf.seen && !wf.cue && !wf.company && !wf.placeSuffix && !wf.definiteCompound &&
				(named || !wf.common && wf.flags&lexPlace == 0) {
				d.remember(v[i:e])
			}
		}
		i = e
	}
}

// namesPlaceOrFirm reports whether the word after a name-like stretch
// ending at end makes it a place or a firm: a possessive before kommun,
// torg, väg … (Gustav Adolfs torg), or a company form (Bergström Bygg AB,
// Nilsson & Co).
func (d *nameDetector) namesPlaceOrFirm(b []byte, end int, possessive bool) bool {
	i := end
	for i < len(b) && i-end < 3 && (b[i] == ' ' || b[i] == '&') {
		i++
	}
	if i == end || i >= len(b) {
		return false
	}
	if l, _, _ := letterAt(b, i); !l {
		return false
	}
	wf := d.facts(b[i:wordEnd(b, i)])
	if wf.company || (possessive && wf.possessedPlace && b[end] == ' ') {
		return true
	}
	if !ampersandBetween(b, end, i) {
		return false
	}
	// Nilsson & Söner, Kjell & Company; Sahlin & Bergh AB: after the
	// ampersand a firm's tail, or up to three capitalised words and then a
	// company form.
	if ampersandTails[string(appendLower(d.buf[:0], b[i:wordEnd(b, i)]))] {
		return true
	}
	for n := 0; n < 4 && i < len(b); n++ {
		l, u, _ := letterAt(b, i)
		if !l {
			return false
		}
		e := wordEnd(b, i)
		if d.facts(b[i:e]).company {
			return n > 0
		}
		if !u || e >= len(b) || b[e] != ' ' {
			return false
		}
		i = e + 1
	}
	return false
}

// ampersandTails end a firm's name after "&": Nilsson & Söner, Kjell &
// Company, Berg & Partners.
var ampersandTails = map[string]bool{
	"söner": true, "son": true, "co": true, "company": true, "partners": true, "partner": true,
	"döttrar": true, "dotter": true, "kompani": true, "kompaniet": true,
}

// Person cues: a capitalised word right after one of these is taken as a
// name even when the lexicons are unsure (Mamma Björn, Hej Zeynep, handläggare
// Lund). Lower-case keys.
var personCues = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range []string{
		"hej", "hejsan", "hallå", "tjena", "kära", "käre", "bästa", "välkommen", "grattis",
		"hi", "hello", "dear", "mr", "mrs", "ms", "miss", "regards", "cheers", "sincerely",
		"präst", "prästen", "pastor", "pastorn", "imam", "imamen", "abuna", "diakon", "diakonen",
		"fader", "pater", "abba", "phra", "munken", "munk", "nunnan", // clergy's titles: Fader Nikola, Abba Tesfamariam, Phra Boonmee
		"kyrkoherde", "kyrkoherden", "komminister", "kantor", "kantorn", "rabbin", "shejk",
		"hälsning", "hälsningar", "hälsn", "mvh", "vänligen", "tack",
		"mamma", "pappa", "mammas", "pappas", "mor", "far", "modern", "fadern",
		"mormor", "morfar", "farmor", "farfar", "bror", "brodern", "brorsan", "syster", "systern",
		"son", "sonen", "dotter", "dottern", "make", "maken", "maka", "makan", "sambo", "sambon",
		"fru", "frun", "herr", "fröken", "dr", "doktor", "läkare", "läkaren", "överläkare",
		"sjuksköterska", "sjuksköterskan", "ssk", "usk", "kurator", "kuratorn", "handläggare",
		"handläggaren", "socialsekreterare", "socialsekreteraren", "rektor", "rektorn",
		"lärare", "läraren", "mentor", "mentorn", "klasslärare", "förskollärare",
		"elev", "eleven", "patient", "patienten", "klient", "klienten", "brukare", "brukaren",
		"vårdnadshavare", "vårdnadshavaren", "kontaktperson", "kontaktpersonen", "kontakt", "chef", "chefen",
		"medarbetare", "medarbetaren", "kollega", "kollegan", "namn", "förnamn", "efternamn",
		"underskrift", "signerat", "sign", "ansvarig", "assistent", "assistenten",
		"psykolog", "psykologen", "barnet", "flickan", "pojken", "kvinnan", "mannen",
		"grannen", "vännen", "kompis", "kompisen", "farbror", "morbror", "faster", "moster",
		"kusin", "kusinen", "barnmorska", "fysioterapeut", "arbetsterapeut", "tolk", "tolken",
		"förvaltare", "ombud", "ombudet", "anhörig", "närstående", "sökande", "avsändare",
		"mottagare", "remittent", "remitterande", "intygsskrivare", "undertecknad", "enhetschef",
		"specialpedagog", "skolsköterska", "skolsköterskan",
		"vikarie", "vikarien", "praktikant", "medsökande", "sökanden", "arbetstagare",
		"arbetstagaren", "anställd", "anställde", "hr", "hr-partner", "biträdande",
		"ledamot", "ordförande", "sekreterare", "justerare", "närvarande", "deltagare",
		"pat", "pat.", "hustru", "chaufför", "förare", "tandläkare", "tandhygienist", "pedagog",
		"fritidsledare", "ledare", "handledare", "instruktör",
		"tränare", "tränaren", "coach", "coachen", "lagledare", "lagledaren", "kassör", "kassören",
		"vh", "c/o", "co", "operatör", "operator", "familjen", "makarna", "syskonen",
		"kallas", "kallad", "kallade", "smeknamn", "arbetskamrat", "arbetskamraten", "kamrat", "kamraten",
		"volontär", "volontären", "tränarna", "ledarna", "lärarna", "föräldrarna", "barnen",
		"barnbarn", "barnbarnet", "barnbarnen", "sonson", "sondotter", "dotterson", "dotterdotter",
		"brorson", "brorsdotter", "systerson", "systerdotter", "svärson", "svärdotter", "svärmor",
		"svärfar", "styvpappa", "styvmamma", "styvfar", "styvmor", "bonuspappa", "bonusmamma",
		"fosterbarn", "fosterbarnet", "gudmor", "gudfar", "änkan", "änklingen", "exmaken", "exfrun",
		"planerare", "planeraren", "samordnare", "samordnaren", "utredare", "utredaren",
		"vaktmästare", "vaktmästaren", "receptionist", "receptionisten", "undersköterska",
		"undersköterskan", "sjukgymnast", "sjukgymnasten", "skötare", "skötaren", "boendestödjare",
		"dietist", "dietisten", "logoped", "logopeden", "hovslagare", "ridlärare", "ridläraren",
		"ledsagare", "ledsagaren", "audionom", "audionomen", "hundägare",
		// Finnish roles in the minutes of Finnish-speaking associations.
		"puheenjohtaja", "varapuheenjohtaja", "sihteeri", "rahastonhoitaja", "jäsen", "opettaja",
	} {
		m[w] = true
	}
	for w := range weakCues {
		m[w] = true
	}
	return m
}()

// titleCues are the titles written before a person's surname: fru Alm,
// herr Lind, fröken Ek.
var titleCues = map[string]bool{"fru": true, "herr": true, "fröken": true, "frk": true,
	"mr": true, "mrs": true, "ms": true, "miss": true,
	"fader": true, "pater": true, "abba": true, "abuna": true, "phra": true} // clergy's: Abba Tesfamariam

// Weak cues: verbs and prepositions that often, but not only, come before
// a person. After a person cue that is not one of these (a role, a
// relation, a title, a greeting), a capitalised word that the lexicons
// would rule out is taken as a name too (Patienten Tolvan, Handläggare:
// Yusra).
var weakCues = map[string]bool{
	"med": true, "hos": true, "enligt": true, "kontakta": true, "ringde": true, "hälsa": true,
	"träffade": true, "pratade": true, "meddelade": true, "välkommen": true, "grattis": true,
}

// imperatives start a sentence before a name without being part of it:
// "Ring Sara på 070-…", "Fråga Ali om nyckeln".
var imperatives = map[string]bool{
	"ring": true, "fråga": true, "mejla": true, "maila": true, "påminn": true, "meddela": true,
	"kontakta": true, "hälsa": true, "tacka": true, "be": true,
}

// streetSuffixes end the names of streets, which are often named after a
// person whose given name stands before (Sten Sturegatan).
var streetSuffixes = []string{"gatan", "vägen", "gränd", "torget", "platsen"}

// institutionSuffixes end the names of schools, churches and hospitals,
// also named after a person whose given name stands before (Raoul
// Wallenbergskolan).
var institutionSuffixes = []string{"skolan", "gymnasiet", "sjukhuset", "kyrkan", "kliniken", "biblioteket", "institutet",
	"museet", "planetariet", "hallen", "arenan", "teatern", "stadion", "boendet", "mottagningen", "hemmet"}

// Prepositions after which a word that is only a surname (Älmhult, which
// the lists also hold as a surname) is more likely a place: not "till" or
// "från", which come before people as often.
var inPrepositions = map[string]bool{
	"i": true, "vid": true, "utanför": true, "inom": true, "nära": true, "bor": true,
}

// Nouns that, after a possessive, make the words before them the name of a
// place or body, not a person: Gustav Adolfs torg, Lindesbergs kommun.
var possessedPlaceNouns = map[string]bool{
	"kommun": true, "län": true, "stad": true, "region": true, "landsting": true,
	"församling": true, "socken": true, "torg": true, "väg": true, "gata": true,
	"gränd": true, "allé": true, "park": true, // not plan, plats: "tar Anna Karlssons plats i kön" is hers
	"backe": true, "stig": true, "bro": true, "kyrka": true, "slott": true,
	"hamn": true, "station": true, "universitet": true, "högskola": true,
	"sjukhus": true, "lasarett": true, "gymnasium": true, "kaj": true, "strand": true,
	// … and landmarks named after a person: Gustav Vasas sten (not a
	// farm, a cabin, a meadow or a pasture: Anna Holms stuga, Karin Bergs
	// hage are hers).
	"sten": true, "grotta": true,
}

// Company forms: a run of capitalised words before one of these names a
// firm (Bergström Bygg AB, Nilsson & Co), and they are no name themselves.
var companyMarkers = map[string]bool{
	"ab": true, "hb": true, "kb": true, "co": true, "oy": true, "oyj": true,
	"gmbh": true, "ltd": true, "inc": true, "llc": true, "asa": true, "aps": true,
	"brf": true, // bostadsrättsförening: Brf Tallbacken
	"ry":  true, // rekisteröity yhdistys: a registered Finnish association (Suomi-Seura ry)
}

// Prepositions after which an ambiguous place-or-surname (Lund, Falun) is a
// place.
var placePrepositions = map[string]bool{
	"i": true, "från": true, "till": true, "på": true, "vid": true, "mot": true,
	"över": true, "utanför": true, "nära": true, "genom": true, "via": true,
	"mellan": true, "runt": true, "norr": true, "söder": true, "öster": true, "väster": true,
	"inom": true, "bor": true,
}

// Nouns after which a capitalised word names a place, room or thing.
var placeNouns = map[string]bool{
	"avdelning": true, "avdelningen": true, "kv": true, "kvarteret": true, "lokal": true,
	"lokalen": true, "rum": true, "rummet": true, "sal": true, "salen": true, "hus": true,
	"huset": true, "projekt": true, "projektet": true, "grupp": true, "gruppen": true,
	"team": true, "teamet": true, "enhet": true, "enheten": true, "boende": true,
	"boendet": true, "gatan": true, "vägen": true, "företaget": true, "firma": true,
	"hvb-hemmet": true, "förskolan": true, "skolan": true, "mottagning": true,
	"mottagningen": true, "vårdcentralen": true, "hälsocentralen": true, "fastighet": true,
	"fastigheten": true, "kommun": true, "region": true, "län": true, "stad": true,
}

var nameParticles = map[string]bool{
	"af": true, "av": true, "von": true, "van": true, "de": true, "der": true, "den": true,
	"la": true, "le": true, "da": true, "di": true, "del": true, "dos": true, "du": true,
	"bin": true, "ibn": true, "al": true, "el": true, "ben": true, "zu": true, "ter": true,
}

// Conjunctions that carry a name context forward: "Anna och Björn".
var nameConjunctions = map[string]bool{"och": true, "samt": true, "eller": true, "&": true}

var surnameSuffixes = []string{
	"sson", "ssons", "qvist", "kvist", "quist", "ström", "strom", "gren", "blad", "dahl",
	"stedt", "ius", "én",
	"hammar", "skog", "dotter", "dóttir", "dottir", "vić", "vic", "ović", "ovic", "idis", "poulos", "escu", "ian",
	"yan", "zadeh", "oglu", "oğlu", "sen", "stein", "mann", "ini", "elli",
	// Finnish and Slavic surnames, common in Sweden.
	"nen", "mäki", "niemi", "koski", "wski", "wska", "wicz", "czyk", "enko",
}

// shortStemSuffixes are the Swedish surname endings that follow a stem
// of one or two letters, å, ä or ö among them (Ekström, Åström,
// Ågren, Ekdahl, Öqvist): hasSuffix counts bytes and asks for three.
var shortStemSuffixes = []string{"ström", "strom", "gren", "qvist", "kvist", "quist", "dahl", "blad", "stedt"}

// strongSurnameEnd reports whether w ends in -ström, -qvist, -kvist,
// -gren, -dahl, -stedt or -sson after a stem of three letters or more:
// the endings no ordinary word capitalised mid-sentence has but a surname.
func (d *nameDetector) strongSurnameEnd(w []byte) bool {
	return endsAfterStem(appendLower(d.buf[:0], w), strongSurnameEnds, 3, math.MaxInt)
}

// strongSurnameEnds: see strongSurnameEnd; surnameWordEnds: see
// surnameWord.
var (
	strongSurnameEnds = []string{"ström", "strom", "qvist", "kvist", "quist", "gren", "dahl", "stedt", "sson"}
	surnameWordEnds   = []string{"ström", "gren", "qvist", "kvist", "dahl"}
)

// hasSuffixRunes reports whether lower ends in one of suffixes after at
// least stem letters.
func hasSuffixRunes(lower []byte, suffixes []string, stem int) bool {
	return endsAfterStem(lower, suffixes, stem, math.MaxInt)
}

// endsAfterStem reports whether lower ends in one of suffixes after a
// stem of minStem to maxStem letters.
func endsAfterStem(lower []byte, suffixes []string, minStem, maxStem int) bool {
	for _, s := range suffixes {
		if n := len(lower) - len(s); n > 0 && string(lower[n:]) == s {
			if r := utf8.RuneCount(lower[:n]); r >= minStem && r <= maxStem {
				return true
			}
		}
	}
	return false
}

// Endings that Swedish surnames share with places (Lindberg, Berglund,
// Ekholm, Falkenberg): evidence only next to other evidence.
var weakSurnameSuffixes = []string{"berg", "lund", "holm", "bäck", "bom", "mark", "ling"}

var placeSuffixes = []string{
	"gatan", "vägen", "torget", "gränd", "plan", "skolan", "sjukhuset", "kliniken",
	"centralen", "kommun", "staden", "gården", "parken", "backen", "viken", "köping",
	"hamn", "stad", "förskolan", "huset", "kyrkan", "bolaget", "verket", "enheten",
	"mottagningen", "centrum", "området", "avdelningen", "stationen", "vägen", "allén",
	"leden", "gymnasiet", "institutet", "regionen", "län", "landet", "näs", "fors", "sjö",
	"ås", "by", "ryd", "träsk", "älv", "udden", "holmen", "hamnen", "bruk", "hall",
	"hemmet", // Solhemmet: a home for the elderly and its like
}

func hasSuffix(lower []byte, suffixes []string) bool {
	return hasSuffixStem(lower, suffixes, 3)
}

// hasSuffixStem reports whether lower ends in one of suffixes after at
// least stem bytes.
func hasSuffixStem(lower []byte, suffixes []string, stem int) bool {
	for _, s := range suffixes {
		if len(lower) >= len(s)+stem && string(lower[len(lower)-len(s):]) == s {
			return true
		}
	}
	return false
}

// Byte classes for the word scanner.
const (
	classOther uint8 = iota // ASCII that is not a letter
	classLower              // a-z
	classUpper              // A-Z
	classHigh               // part of a multi-byte rune
)

var byteClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = classLower
		t[c-'a'+'A'] = classUpper
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = classHigh
	}
	return t
}()

// letterAt reports whether a letter starts at b[i], whether it is upper
// case, and the length of the rune at b[i]. ASCII and Latin-1 letters (å, ä,
// ö, é …), nearly all of Swedish text, are answered without decoding.
func letterAt(b []byte, i int) (letter, upper bool, n int) {
	c := b[i]
	switch byteClass[c] {
	case classLower:
		return true, false, 1
	case classUpper:
		return true, true, 1
	case classOther:
		return false, false, 1
	}
	if c == 0xc3 && i+1 < len(b) {
		// U+00C0–U+00FF: letters but × and ÷; À–Þ upper case.
		if d := b[i+1]; d >= 0x80 && d <= 0xbf && d != 0x97 && d != 0xb7 {
			return true, d < 0x9f, 2
		}
	}
	r, n := utf8.DecodeRune(b[i:])
	if !unicode.IsLetter(r) {
		return false, false, n
	}
	return true, unicode.IsUpper(r), n
}

func isLetterAt(b []byte, i int) (bool, int) {
	l, _, n := letterAt(b, i)
	return l, n
}

// joinsWord reports whether b[i] is an internal hyphen or apostrophe:
// Lars-Erik, O'Brien (an apostrophe only before a capital).
func joinsWord(b []byte, i int) bool {
	c := b[i]
	if (c == '-' || c == '\'') && i+1 < len(b) {
		l, u, _ := letterAt(b, i+1)
		return l && (c == '-' || u)
	}
	return false
}

// wordEnd returns the end of the word whose letters continue at b[i].
func wordEnd(b []byte, i int) int {
	for i < len(b) {
		if cl := byteClass[b[i]]; cl == classLower || cl == classUpper {
			i++
			continue
		}
		if l, _, n := letterAt(b, i); l {
			i += n
			continue
		}
		if !joinsWord(b, i) {
			return i
		}
		i++
	}
	return i
}

// pendingWord is a lower-case word that splitWords holds back until it
// knows whether a capitalised word follows.
type pendingWord struct {
	start, end, gapStart int
	first, afterInitial  bool
}

// scanState is where splitWords is in a text: the scan stops and resumes
// at any byte that is not part of a word or code (a space).
type scanState struct {
	i           int // next byte to look at
	gapStart    int // end of the last word or code
	nwords      int // words seen (only zero or not matters)
	prevInitial bool
	// The last two lower-case words not stored yet: a ring, written in
	// place (copying a just-written struct stalls store forwarding).
	pend  [2]pendingWord
	npend int
	// Words seen since the scan last jumped ahead; the gaps of stored
	// words are exact once trustAfter words separate them from the jump.
	sinceJump int
}

const (
	trustAfter = 3  // the word after a jump has an unknown gap; two more are kept
	minJump    = 64 // bytes a jump must save to be worth it
)

// splitWords fills d.words with the words of b: runs of letters with
// internal hyphens and apostrophes (Lars-Erik, O'Brien).
//
// Only the words the name detector looks at are kept: every word that is
// not lower-case, and the two words before each of those (cues, particles,
// prepositions, "Anna och Björn"). Most of a text is lower-case words far
// from any capital, so the scan jumps from a capital to a little before the
// next one (nextUpper) and splits only the last few words in between.
func (d *nameDetector) splitWords(b []byte) {
	d.words = d.words[:0]
	st := scanState{sinceJump: trustAfter}
	var saved scanState
	for st.i < len(b) {
		p := len(b)
		if !d.keepAll {
			p = nextUpper(b, st.i)
			if p == len(b) {
				return // only lower-case words are left: none is kept
			}
		}
		if st.sinceJump >= trustAfter && p-st.i > minJump && !d.keepAll {
			if q := syncPoint(b, st.i, p); q > st.i {
				saved = st
				st = scanState{i: q, gapStart: q, nwords: 1}
			}
		}
		if !d.scanWords(b, &st, p) {
			// Too few words between the jump and a capital to know the
			// gaps of the words kept: split that stretch word by word.
			st = saved
			d.scanWords(b, &st, p)
		}
	}
}

// syncPoint returns a space or line end in (lo, p) with four runs of
// non-space bytes (most often words) before p, or lo if there is none.
func syncPoint(b []byte, lo, p int) int {
	runs := 0
	for j := p - 1; j > lo; j-- {
		if c := b[j]; (c == ' ' || c == '\n') && b[j+1] != ' ' && b[j+1] != '\n' {
			if runs++; runs == 4 {
				return j
			}
		}
	}
	return lo
}

// nextUpper returns the index of the first byte at or after i that may
// start an upper-case letter, or len(b): an ASCII capital, or any non-ASCII
// rune but a lower-case Latin-1 letter (å, ä, ö, é …). Eight ASCII bytes
// are tested at a time.
func nextUpper(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for {
		for ; i+8 <= len(b); i += 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			if v&highs != 0 {
				break
			}
			// Is some byte in ('A'-1, 'Z'+1)? Exact for 7-bit bytes.
			if (ones*(127+'Z'+1)-v)&^v&(v+ones*(127-('A'-1)))&highs != 0 {
				break
			}
		}
		end := min(i+8, len(b))
		for i < end {
			c := b[i]
			switch {
			case c < utf8.RuneSelf:
				if 'A' <= c && c <= 'Z' {
					return i
				}
				i++
			case c == 0xc3 && i+1 < len(b) && b[i+1] >= 0x9f && b[i+1] <= 0xbf:
				i += 2 // ß–ÿ and ÷
			default:
				return i
			}
		}
		if i >= len(b) {
			return len(b)
		}
	}
}

// scanWords splits words from st.i until past until. It returns false,
// having stored nothing, when a word would be stored whose gap is unknown
// after a jump.
func (d *nameDetector) scanWords(b []byte, st *scanState, until int) bool {
	i, gapStart, nwords, prevInitial := st.i, st.gapStart, st.nwords, st.prevInitial
	npend, sinceJump := st.npend, st.sinceJump
	defer func() {
		st.i, st.gapStart, st.nwords, st.prevInitial = i, gapStart, nwords, prevInitial
		st.npend, st.sinceJump = npend, sinceJump
	}()
	for i < len(b) && i <= until {
		if byteClass[b[i]] == classOther {
			i++
			continue
		}
		letter, upper, n := letterAt(b, i)
		if !letter {
			i += n
			continue
		}
		// Letters adjacent to digits or '_' belong to codes and tokens.
		if i > 0 && (isDigit(b[i-1]) || b[i-1] == '_') {
			i = skipCode(b, i)
			continue
		}
		start := i
		i += n
		letters, anyLower := 1, false
		if upper {
			for i < len(b) {
				if l, u, n := letterAt(b, i); l {
					letters++
					anyLower = anyLower || !u
					i += n
					continue
				}
				if !joinsWord(b, i) {
					break
				}
				i++
			}
			// Dotted initials joined by hyphens: B.-M. Frisk, K.-E. Lund.
			for letters == 1 && i+3 < len(b) && b[i] == '.' && b[i+1] == '-' {
				l, u, n := letterAt(b, i+2)
				if !l || !u || i+2+n >= len(b) || b[i+2+n] != '.' {
					break
				}
				i += 2 + n
			}
		} else {
			i = wordEnd(b, i)
		}
		if i < len(b) && (isDigit(b[i]) || b[i] == '_' ||
			(b[i] == '-' && i+1 < len(b) && isDigit(b[i+1]))) {
			// Part of a code or token: skip the rest of it. It stays in
			// the next word's gap, so that no cue reaches over a token.
			i = skipCode(b, i)
			continue
		}
		var shape uint8
		switch {
		case !upper:
			shape = shapeLower
		case letters == 1 && i < len(b) && b[i] == '.':
			shape = shapeInitial
		case letters <= 3 && !anyLower && hyphenInitials(b[start:i]):
			shape = shapeInitial // J-P. Lindström, A-K Berg
		case letters == 1 && trailingInitial(b, start, i):
			shape = shapeInitial // Lena M: (a chat label), BENGTSSON L (a register line)
		case letters == 1 && d.initialBeforeVerb(b, start, i):
			shape = shapeInitial // Liam S är sjuk
		case letters == 1:
			shape = shapeLower // a lone capital letter (I, A) is no name
		case !anyLower:
			shape = shapeUpper
		default:
			shape = shapeCap
		}
		if shape == shapeLower && !d.keepAll {
			st.pend[npend&1] = pendingWord{start: start, end: i, gapStart: gapStart, first: nwords == 0, afterInitial: prevInitial}
			npend++
		} else {
			if sinceJump < trustAfter {
				return false
			}
			if npend >= 2 {
				d.addPending(b, &st.pend[npend&1])
			}
			if npend >= 1 {
				d.addPending(b, &st.pend[(npend-1)&1])
			}
			npend = 0
			w := word{start: start, end: i, shape: shape}
			classifyGap(&w, b[gapStart:start], nwords == 0, prevInitial)
			d.words = append(d.words, w)
		}
		nwords++
		if sinceJump < trustAfter {
			sinceJump++
		}
		prevInitial = shape == shapeInitial
		gapStart = i
	}
	return true
}

// trailingInitial reports whether the lone capital b[start:i] is the
// initial of a surname after a name: before ": " with a capitalised word
// before it (a chat label, "Lena M: …"), at the end of a line after a
// word in capitals (BENGTSSON L), or after a capitalised word of three
// letters or more at a line end or before a mark that ends the name
// ("/Siv H", "Marie E?", "\"Alva P\""). Whether the word before is a
// name is for the run's rules to say (Sal B is none).
func trailingInitial(b []byte, start, i int) bool {
	if start < 3 || b[start-1] != ' ' {
		return false
	}
	label := i+1 < len(b) && b[i] == ':' && b[i+1] == ' '
	if !label && i < len(b) && b[i] == ' ' {
		label = headerTimeAt(b, i) // a Slack export's "Sami H 8:02 AM"
	}
	eol := i == len(b) || b[i] == '\n' || b[i] == '\r'
	// "Marie E?", "en påse med \"Alva P\"", "(Siv H)": a capitalised
	// word's surname initial before a mark that ends the name.
	mark := i < len(b) && (b[i] == '?' || b[i] == '!' || b[i] == '"' || b[i] == ')' || b[i] == ',' || b[i] == ';')
	if !label && !eol && !mark {
		return false
	}
	// The word before: letters back to a space or the line start.
	ps := start - 1
	for ps > 0 && b[ps-1] != ' ' && b[ps-1] != '\n' && b[ps-1] != '\t' && b[ps-1] != ']' &&
		b[ps-1] != '/' && b[ps-1] != '"' && b[ps-1] != '(' {
		ps--
	}
	w := b[ps : start-1]
	if len(w) < 2 {
		return false
	}
	anyLower := false
	for j := 0; j < len(w); {
		l, u, n := letterAt(w, j)
		if !l {
			return false
		}
		if j == 0 && !u {
			return false
		}
		anyLower = anyLower || !u
		j += n
	}
	return label || !anyLower || anyLower && (eol || mark) && len(w) >= 3
}

// initialBeforeVerb reports whether the lone capital b[start:i] is the
// initial of a surname between a given name and its verb: "Liam S är
// sjuk". Not I, Å, Ö, O or E, which are words of their own.
func (d *nameDetector) initialBeforeVerb(b []byte, start, i int) bool {
	if len(d.words) == 0 || start < 4 || b[start-1] != ' ' || i >= len(b) || b[i] != ' ' {
		return false
	}
	switch b[start] {
	case 'I', 'O', 'E', 0xc3: // 0xc3: Å, Ö and the other letters of Latin-1
		return false
	}
	p := d.words[len(d.words)-1]
	if p.end != start-1 || p.shape != shapeCap {
		return false
	}
	if f := d.facts(b[p.start:p.end]); f.flags&(lexGiven|lexForeignGiven) == 0 || f.common {
		return false
	}
	ok, _ := d.verbFollows(b, i)
	return ok
}

// hyphenInitials reports whether w is initials joined by hyphens (J-P,
// A-K): single upper-case letters only.
func hyphenInitials(w []byte) bool {
	parts := 0
	for i := 0; i < len(w); {
		l, u, n := letterAt(w, i)
		if !l || !u {
			return false
		}
		parts++
		i += n
		if i < len(w) {
			if w[i] != '-' || i+1 == len(w) {
				return false
			}
			i++
		}
	}
	return parts >= 2
}

func (d *nameDetector) addPending(b []byte, p *pendingWord) {
	w := word{start: p.start, end: p.end, shape: shapeLower}
	classifyGap(&w, b[p.gapStart:p.start], p.first, p.afterInitial)
	d.words = append(d.words, w)
}

// skipCode returns the end of the run of letters, digits and '_' at b[i:].
func skipCode(b []byte, i int) int {
	for i < len(b) {
		c := b[i]
		switch byteClass[c] {
		case classLower, classUpper:
			i++
			continue
		case classHigh:
			if ok, n := isLetterAt(b, i); ok {
				i += n
				continue
			}
			return i
		}
		if !isDigit(c) && c != '_' {
			return i
		}
		i++
	}
	return i
}

// classifyGap sets w's gap fields from the bytes between the previous word
// and w. first is set for the first word of a text, afterInitial when the
// previous word is an initial.
func classifyGap(w *word, gap []byte, first, afterInitial bool) {
	if len(gap) == 1 && gap[0] == ' ' && !first {
		// The common case: one space.
		w.gapJoin, w.gapCueOK = true, true
		return
	}
	if first {
		w.gapSentence = true
		w.gapCueOK = false
		return
	}
	spaces, newlines := 0, 0
	sentence, other, code := false, false, false
	for _, c := range gap {
		switch c {
		case '_':
			code, other = true, true
		case ' ':
			spaces++
		case '\n':
			newlines++
		case '\r', '\t':
		case '.':
			if !afterInitial {
				sentence = true
			}
		case '!', '?', ':', ';':
			sentence = true
		case '/':
			w.gapSlash = true
			other = true
		default:
			other = true
		}
	}
	w.gapJoin = !sentence && !other && newlines == 0 && spaces >= 1 && spaces <= 2
	if afterInitial && len(gap) >= 2 && gap[0] == '.' && spaces >= 1 && spaces <= 2 && newlines == 0 && !other {
		w.gapJoin = true
	}
	w.gapSentence = sentence || newlines > 0
	// A cue reaches over a comma, a colon or a line break ("Hej,\nAnna",
	// "Handläggare: Anna"), but not over a sentence end. A colon counts as
	// sentence-initial for capitalisation but not as a break for cues.
	w.gapCueOK = newlines <= 2
	for _, c := range gap {
		if c == '.' && !afterInitial || c == '!' || c == '?' {
			w.gapCueOK = false
		}
		// "…, nämndsekreterare\n\n§ 12 Val av justerare": a new item of
		// the minutes, numbered, on the next line.
		if newlines > 0 && (isDigit(c) || c == 0xa7) {
			w.gapCueOK = false
		}
	}
	if code {
		// "Läkare: <token> <token>\nTel": the cue was for the tokens.
		w.gapCueOK = false
	}
}

// Lexical categories of one capitalised word, with the evidence (score) it
// brings to a name: a run of words is a name when the scores add up to 3.
type wordInfo struct {
	capable bool // may be part of a name
	seen    bool // found as a name before in this stream
	score   int8
	stemEnd int
}

func (d *nameDetector) lookup(w []byte) uint8 {
	d.buf = appendTitle(d.buf[:0], w)
	return d.lx.proper[string(d.buf)]
}

// lookupFolded looks w up with its letters outside Swedish folded.
func (d *nameDetector) lookupFolded(w []byte) uint8 {
	var buf [64]byte
	f := foldLetters(buf[:0], w)
	if len(f) == len(w) && string(f) == string(w) {
		return 0
	}
	return d.lookup(f)
}

func (d *nameDetector) common(w []byte) bool {
	d.buf = appendLower(d.buf[:0], w)
	return d.lx.isCommon(d.buf)
}

const nameFlags = lexGiven | lexSurname

// wordFacts is what the lexicons say about one word as written, whatever
// its context.
type wordFacts struct {
	flags      uint8 // lexicon classes, after hyphens and possessives
	possessive bool  // flags are those of the word without its final s
	possPlace  bool  // ... and that word is also a place (Lunds kommun)
	common     bool  // an ordinary word
	// Of the lower-case form:
	cue, conjunction, placeNoun, preposition bool
	definite, placeSuffix, surnameSuffix     bool
	strongCue                                bool // a person cue that is not a weak one
	inPreposition                            bool // i, vid, utanför …
	weakSurnameSuffix                        bool // -berg, -lund, -holm …
	surnameShape                             bool // any surname ending, after two bytes (Ågren)
	possessedPlace                           bool // kommun, torg … (after a possessive)
	company                                  bool // AB, HB, Co …
	// A long word in definite form (Vårdguiden, Socialkontoret): when not
	// an ordinary word, most often a compound the lists lack.
	definiteCompound bool
	// Found as a name earlier in the stream (see remember); seenStem when
	// that was the word without its possessive s.
	seen, seenStem bool
	// See namecontext.go.
	internalCap bool // SoL, CodeSystem
	calendar    bool // Mån, Tis, Tor
	venue       bool // Rum, Sal, Café
	thingHead   bool // barnsjukhus, pris, stiftelse (after a possessive)
	org         bool // Hembygdsförening, Scoutkår, Kretsen
	// Not in the lists, but two ordinary words joined (Medborgarservice,
	// Testdeltagare): a compound the dictionary lacks, no name.
	commonCompound bool
	long           bool // seven bytes or more
	foreignLetters bool // a letter outside the Swedish alphabet (ø, ł, ş, ć)
	function       bool // du, alla, de: see functionWords
	fieldLabel     bool // Personnr, Adress: see fieldLabels
	// A lower-case tail after a hyphen that is an ordinary word
	// (SIP-möte, Lindgren-veckan): the word is a compound noun.
	commonTail bool
}

// maxFacts bounds the per-stream memo of word facts; it is cleared when full.
const maxFacts = 1 << 12

// facts looks a word up in the lexicons. Capitalised words repeat within
// a stream (sentence starts, the names of a case), so the answers are
// memoized: one map lookup instead of three to five.
func (d *nameDetector) facts(text []byte) wordFacts {
	if wf, ok := d.memo[string(text)]; ok {
		return wf
	}
	var wf wordFacts
	lower := appendLower(d.buf[:0], text)
	wf.cue = personCues[string(lower)]
	wf.strongCue = wf.cue && !weakCues[string(lower)]
	if !wf.cue && len(lower) >= 6 {
		// The definite form of a role or relation: arbetsterapeuten,
		// hustrun, chauffören.
		for _, suf := range [...]string{"en", "n", "er"} { // … and the plural: instruktörer
			if stem := lower[:len(lower)-len(suf)]; bytes.HasSuffix(lower, []byte(suf)) &&
				personCues[string(stem)] && !weakCues[string(stem)] && len(stem) >= 4 {
				wf.cue, wf.strongCue = true, true
				break
			}
		}
	}
	wf.inPreposition = inPrepositions[string(lower)]
	wf.weakSurnameSuffix = hasSuffix(lower, weakSurnameSuffixes)
	wf.surnameShape = hasSuffixStem(lower, surnameSuffixes, 2) || hasSuffixStem(lower, weakSurnameSuffixes, 2)
	wf.possessedPlace = possessedPlaceNouns[string(lower)]
	wf.company = companyMarkers[string(lower)]
	wf.surnameSuffix = hasSuffix(lower, surnameSuffixes) || hasSuffixRunes(lower, shortStemSuffixes, 1)
	wf.definiteCompound = utf8.RuneCount(lower) >= 8 && !wf.surnameSuffix &&
		(bytes.HasSuffix(lower, []byte("en")) || bytes.HasSuffix(lower, []byte("et")))
	wf.conjunction = nameConjunctions[string(lower)]
	wf.placeNoun = placeNouns[string(lower)]
	wf.preposition = placePrepositions[string(lower)]
	wf.definite = definite(lower)
	wf.placeSuffix = hasSuffix(lower, placeSuffixes)
	wf.common = d.lx.isCommon(lower)
	if !wf.common && len(lower) >= 4 && upperWord(text) && asciiWord(lower) {
		// Old registers in capitals have no å, ä, ö: HJALPER, BEHOVER
		// are ordinary words; FRAN, a given name, stays one.
		named := d.lookup(text)&(nameFlags|lexForeign|lexForeignGiven) != 0
		lower = appendLower(d.buf[:0], text) // lookup reuses d.buf
		if !named {
			wf.common = d.lx.commonUnfolded(lower)
		}
	}
	wf.long = len(lower) >= 7
	wf.foreignLetters = hasForeignLetter(lower)
	wf.function = functionWords[string(lower)]
	wf.fieldLabel = fieldLabels[string(lower)]
	if h := bytes.LastIndexByte(text, '-'); h > 0 && h+1 < len(text) {
		tail := lower[len(lower)-(len(text)-h-1):]
		if l, u, _ := letterAt(text, h+1); l && !u && (d.lx.isCommon(tail) || d.lx.commonCompound(tail)) { // MC-säkerhetskurs
			wf.commonTail = true
		}
	}
	wf.internalCap = internalCapital(text)
	wf.calendar = calendarWords[string(lower)]
	wf.venue = venueNouns[string(lower)]
	wf.thingHead = namedThingHead(lower)
	wf.org = orgWord(lower)
	if !wf.common && !wf.surnameShape && !wf.surnameSuffix {
		wf.commonCompound = d.lx.commonCompound(lower)
	}
	f := d.lookup(text)
	if f == 0 && wf.foreignLetters {
		// Registers drop diacritics, texts keep them: Hodžić is Hodzic.
		f = d.lookupFolded(text)
	}
	if f == 0 {
		if h := indexByte(text, '-'); h > 0 {
			f = d.hyphenFlags(text)
		}
	}
	// Possessive: Annas, Svenssons, ANNAS.
	// Not an ordinary word whose stem is none: Klass is no Klas's.
	if f&nameFlags == 0 && len(text) > 3 && (text[len(text)-1] == 's' || text[len(text)-1] == 'S') &&
		!(wf.common && !d.lx.isCommon(appendLower(d.buf[:0], text[:len(text)-1]))) &&
		!d.productWord(text) { // Willys is no Willy's
		if f2 := d.lookup(text[:len(text)-1]); f2&nameFlags != 0 || f == 0 && f2&lexForeignGiven != 0 && f2&(lexPlace|lexEnglish) == 0 {
			// Zlatans: a given name of another list, with its s.
			if f2&lexPlace == 0 || f == 0 {
				f = f2
				wf.possessive = true
				wf.possPlace = f2&lexPlace != 0
			}
		} else if f2&lexPlace != 0 && f == 0 {
			f = lexPlace // Stockholms
		}
	}
	wf.flags = f
	if !wf.venue && f&nameFlags == 0 && d.venueCompound(appendLower(d.buf[:0], text)) {
		wf.venue = true // Sammanträdesrum, Samlingssalen
	}
	if f == 0 && !wf.cue && !wf.common && len(lower) >= 9 && !wf.surnameSuffix {
		// A compound whose last part is a role or relation in definite
		// form (Familjehemsmamman, Skolsköterskan, Kontaktläraren): a
		// cue, no name.
		lower = appendLower(d.buf[:0], text)
		for p := 3; p+5 <= len(lower); p++ {
			if utf8.RuneStart(lower[p]) && relationCueWord(lower[p:]) && definiteCue(lower[p:]) {
				wf.cue, wf.strongCue = true, true
				break
			}
		}
	}
	if f == 0 && !wf.cue && !wf.common && wf.commonCompound && len(lower) >= 9 && agentCompound(lower) {
		// An agent noun compound the dictionary lacks (Schemaplanerare,
		// Boendesamordnare, Trygghetsansvarig): a role, so a cue.
		wf.cue, wf.strongCue = true, true
	}
	if len(d.places) > 0 && f&(nameFlags|lexForeignGiven) == 0 && d.places[string(appendTitle(d.buf[:0], text))] {
		wf.flags |= lexPlace
	}
	if len(d.seen) > 0 {
		t := appendTitle(d.buf[:0], text)
		if d.seen[string(t)] {
			wf.seen = true
		} else if n := len(t); n > 3 && t[n-1] == 's' && d.seen[string(t[:n-1])] && !d.productWord(text) {
			wf.seen, wf.seenStem = true, true // … but Teams is no Team's
		}
	}
	if len(d.memo) >= maxFacts {
		clear(d.memo)
	}
	d.memo[string(text)] = wf
	return wf
}

// agentEndings end the compounds that name a person's job:
// Schemaplanerare, Trygghetsansvarig, Byggnadsinspektör, Miljöingenjör.
var agentEndings = []string{"are", "ansvarig", "inspektör", "ingenjör", "chef", "arkitekt", "terapeut",
	"pedagog", "assistent", "konsulent", "kurator", "sköterska", "biträde", "sekreterare", "strateg"}

// agentCompound reports whether lower ends in one of agentEndings.
func agentCompound(lower []byte) bool {
	for _, end := range agentEndings {
		if bytes.HasSuffix(lower, []byte(end)) {
			return true
		}
	}
	return false
}

// fieldLabels are the headers and labels of the other fields of a person's
// record: no one is called that, and after a name header (NAMN   PERSONNR)
// they are the next column, not its value.
var fieldLabels = map[string]bool{
	"personnr": true, "personnummer": true, "pnr": true, "pers.nr": true, "samordningsnummer": true,
	"födelsedatum": true, "adress": true, "postadress": true, "postnr": true, "postnummer": true,
	"telefon": true, "telefonnr": true, "telefonnummer": true, "tel": true, "tfn": true, "mobil": true,
	"mobilnr": true, "e-post": true, "epost": true, "e-postadress": true, "lopnr": true, "löpnr": true,
	"samordningsnr": true, "reservnr": true,
}

// institutional reports whether a word names a place or body in definite
// form (Vårdcentralen, HVB-hemmet, Kansliet) or is a place noun.
func (wf wordFacts) institutional() bool {
	return wf.placeNoun || wf.definite && wf.long || wf.placeSuffix
}

// wordContext is what the words around a word say about it.
type wordContext struct {
	locative   bool // the word before the run is a place preposition
	inLocative bool // ... one of inPrepositions
	// The run follows a capitalised ordinary word ("Vårdcentralen
	// Tåbelund", "avdelning Rosen").
	institution bool
	// A person cue that is not weak comes right before, with nothing but a
	// space between (Patienten Tolvan, pappa Rickard, Hej Sohrab).
	strongCue bool
	// The same kind of cue before the run, but over a comma, a colon or a
	// line break (Handläggare: Yusra, Hej,\nSohrab).
	labelCue bool
	// A personnummer is next to the run.
	pnr bool
	// The line is written in capitals (capsLine), or the word stands next
	// to another word in capitals (FILIP ERIKSSON in mixed text).
	capsLine, capsNeighbour bool
	// The word follows an initial (S. Sultani, A-K Berg).
	afterInitial bool
	// ... and the initial stands mid-line or is hyphenated (Närvarande:
	// B.-M. Frisk), so it is no outline letter (A. Inledning): then an
	// ordinary word after it is a surname too.
	namedInitial bool
	// strongCue, and the cue is a role or relation in definite form
	// (Dottern Ros, grannen Ljung), no greeting (Mvh Hemtjänst) or title
	// (Mamma Mu).
	relationCue bool
	// The word follows a finite verb (På tisdag kom Love tillbaka: the
	// subject after the verb).
	afterVerb bool
	// The cue before is a greeting (Hej, Mvh, Tack): then a noun in
	// definite form is an office or a group (Hej Styrelsen, Mvh
	// Socialtjänsten), not a person.
	greeting bool
	// A cue word that is also a given name, capitalised mid-sentence
	// before another capitalised word (tandhygienist Bror Lund).
	cueAsName bool
	// "och" and a name follow the word (Emir och Lejla).
	conjName bool
	// The word follows an acronym in mixed-case text (AC Milan, IFK
	// Lillby).
	afterAcronym bool
	// ... and the acronym is a sports club's (IK Frej, IFK Ingrid): the
	// club's name, even when it is a given name.
	afterClub bool
	// The run is all that stands between brackets (Larmcentralen (Jonas)).
	paren bool
	// "hos" comes right before: at someone's, rarely at a town's (nyckel
	// hos Leticia).
	hos bool
}

// info classifies one word in its context.
func (d *nameDetector) info(b []byte, w *word, c wordContext) wordInfo {
	inf := wordInfo{stemEnd: w.end}
	if w.shape == shapeInitial {
		inf.capable = true
		return inf
	}
	wf := d.facts(b[w.start:w.end])
	if wf.cue && !c.cueAsName && !(wf.seen && wf.flags&lexGiven != 0) || wf.company || wf.venue ||
		wf.org && wf.common && wf.flags&nameFlags == 0 && !wf.seen {
		return inf // Mamma, Hej, Mentor, Tack; AB, Co; Rum, Café; Region, Förbundet
	}
	if wf.internalCap && !wf.seen {
		return inf // SoL, CodeSystem: statutes, identifiers, products
	}
	if wf.fieldLabel && !wf.seen {
		return inf // NAMN   PERSONNR   ADRESS: the next column's header
	}
	if c.afterAcronym && (c.afterClub || !(wf.flags&nameFlags != 0 && !wf.common && wf.flags&lexPlace == 0)) {
		return inf // AC Milan, IFK Lillby, BK Ymer: a club or a body
	}
	if w.shape == shapeUpper && !c.capsLine && !c.capsNeighbour && !wf.seen && runeLen(b[w.start:w.end]) <= 4 {
		return inf // an acronym in mixed-case text: IVO, LVU, SFI
	}
	if wf.possessive {
		inf.stemEnd = w.end - 1
	}
	f := wf.flags
	sv := f&nameFlags != 0
	foreign := f&lexForeign != 0
	world := f&lexWorld != 0
	english := f&lexEnglish != 0
	place := f&lexPlace != 0
	locative, institution := c.locative, c.institution
	possPlace := wf.possPlace
	isCommon := wf.common
	caps := w.shape == shapeUpper && (c.capsLine || c.capsNeighbour)
	mid := !w.gapSentence && w.shape == shapeCap
	if mid && isCommon && f&(nameFlags|lexForeign|lexWorld|lexForeignGiven) == 0 && !wf.seen && columnStart(b, w.start) {
		// "Ons 09-11  Rum Olof Palme    Samtal Goran Ilić": an ordinary
		// word at the start of a table cell is capitalised for that.
		mid = false
	}
	// Strong context lets words the lexicons are unsure of count. Next to
	// a personnummer only mid-sentence: "Pnr 19121212-1212" is a label.
	strong := c.strongCue || (c.pnr && mid) || c.afterInitial
	// A given name somewhere, even if also an ordinary word or a place
	// (Milan, Love): after a greeting, a role or a verb it is the person.
	givenEv := f&(lexGiven|lexForeignGiven) != 0 && !wf.function && !wf.preposition && !wf.conjunction && !wf.inPreposition
	cued := c.strongCue || c.labelCue || c.afterVerb && mid || c.conjName
	// Only in the many-country list, but right after a greeting or a
	// role (Hej Saga!).
	worldEv := f&lexWorld != 0 && !place && !wf.function && !wf.definite && c.strongCue
	switch {
	case wf.seen && (!locative || !place):
		// Found as a name earlier in this stream: the same word is the
		// same person (Tolvan at a sentence start, after "Klienten
		// Tolvan" above).
		inf.score, inf.seen = 3, true
		if wf.seenStem {
			inf.stemEnd = w.end - 1
		}
	case sv && !isCommon && !place:
		inf.score = 3
		if c.inLocative && f&lexGiven == 0 {
			inf.score = 1 // i Älmhult: a place the lists hold as a surname
		} else if c.inLocative && !c.strongCue {
			inf.score = 2 // "Hembesök i Åsa": a village the place list lacks, alone
		}
	case sv && !isCommon: // also a place: Lund, Karlstad
		inf.score = 2
		if c.hos && f&lexGiven != 0 {
			inf.score = 3
		}
	case sv && !place: // also an ordinary word
		inf.score = 1
		if mid && !c.inLocative {
			inf.score += 2 // not "kyrkan i Ask": in a place
		}
		if wf.definite {
			// "avdelning Rosen", "lokal Björken": a noun in definite form
			// used as the name of a room or ward.
			inf.score = 0
			if strong && mid {
				inf.score = 1
			}
		}
		if caps {
			inf.score = 0 // RING, BERG in a line of capitals: no evidence either way
		}
	case sv:
		inf.score = 1
		if mid && !locative {
			inf.score++
		}
	case foreign && !isCommon && !place:
		// Not Swedish, but a name somewhere: Zeynep, Dragan.
		inf.score = 3
		if english {
			// Also an English word (Key, Will): a name next to a name.
			inf.score = 1
			if mid && !locative {
				inf.score = 2
			}
		}
		if locative {
			inf.score = 1
		}
		if w.shape == shapeUpper && !d.strongSurnameEnd(b[w.start:w.end]) {
			inf.score = min(inf.score, 2) // SODERSTROM keeps its 3
		}
	case foreign && !isCommon:
		inf.score = 0
		if c.hos && f&lexForeignGiven != 0 && f&lexEnglish == 0 {
			inf.score = 3 // a given name somewhere and a place: Leticia
		}
	case world && !isCommon && !place:
		// Only in the large many-country list (Fatemeh, Rostami): a name
		// next to another name or a cue.
		inf.score = 1
		if mid && !locative {
			inf.score = 2
		}
		if english {
			inf.score--
		}
	case isCommon && mid && !place && (!wf.definite || wf.surnameShape || strong && !wf.placeNoun && !wf.placeSuffix):
		// An ordinary word capitalised mid-sentence: Swedish does that only
		// for names, so it may be a surname next to a given name (Hans Gren,
		// Anna Lilja, Bengt Ågren). On its own it scores nothing, unless a
		// person cue or a personnummer is right there and the word is one
		// the lexicons would otherwise rule out (Patienten Tolvan).
		if c.greeting && wf.definite && f&nameFlags == 0 {
			return inf // Hej Styrelsen, Tack Hemtjänsten: an office or a group
		}
		inf.score = 0
		if strong && (wf.definite || wf.surnameShape) && !(wf.definite && runeLen(b[w.start:w.end]) >= 9) {
			inf.score = 1 // Patienten Tolvan; not "Kurator, Elevhälsan"
		}
		if d.strongSurnameEnd(b[w.start:w.end]) {
			// Söderström, Lövgren: an ordinary word too, but capitalised
			// mid-sentence with a Swedish surname's ending it is the
			// surname (a lone Luftström in a sentence is none).
			inf.score = 3
			if caps || w.shape == shapeUpper {
				inf.score = 2
			}
		}
		if c.relationCue && !wf.definite && !wf.placeNoun && !wf.placeSuffix && !wf.org && !wf.calendar &&
			!wf.function && !wf.preposition && !wf.conjunction && !wf.inPreposition && !wf.commonTail {
			// "Dottern Ros bor i Malmö", "grannen Ljung": a relation
			// or a role, then a word capitalised mid-sentence.
			inf.score = 1
		}
	case f&^(lexWorld|lexEnglish|lexForeignGiven) == 0 && !isCommon:
		switch {
		case wf.placeSuffix || wf.org:
			return inf // not capable: Vuxenenheten, Lillbykretsen
		case wf.surnameSuffix:
			inf.score = 2
			if mid && !locative || caps || w.shape == shapeCap && d.strongSurnameEnd(b[w.start:w.end]) {
				// … and a Swedish surname's strongest endings say so
				// after "från" and at a sentence start too: klagomål
				// från Ljungqvist, Qvarnström har den.
				inf.score++
			}
		case wf.definiteCompound && !c.strongCue:
			return inf // Vårdguiden, Socialkontoret: not in the lists, but no name
		case wf.commonCompound && wf.definite:
			return inf // Kurator, Elevhälsan: a compound noun in definite form is an office, after a role too
		case wf.commonTail:
			return inf // SIP-möte: a compound noun
		case wf.commonCompound && !c.strongCue:
			// Medborgarservice, Testdeltagare: no name alone, but a
			// surname the lists lack after a given name (Linnéa
			// Gyllensvärd).
			inf.score = 0
		default:
			if w.shape == shapeUpper && !caps {
				return inf // an acronym: BUP, LSS
			}
			inf.score = 0
			if mid && !locative {
				inf.score = 1
			}
			if wf.weakSurnameSuffix && !locative {
				inf.score++
			}
			if wf.foreignLetters && (mid || caps) {
				inf.score++ // Løkke, ØYVIND: no Swedish word is spelt so
			}
		}
		if (strong || c.labelCue) && inf.score < 1 {
			inf.score = 1 // Klient: Sohrab
		}
	default:
		if !(cued && givenEv) && !worldEv {
			return inf // an ordinary word or a known place
		}
		inf.score = 1 // Hej Milan, Suppleant: Milan
	}
	if (cued && givenEv || worldEv) && inf.score < 1 {
		inf.score = 1
	}
	if c.afterVerb && mid && (givenEv || world && !isCommon && !english && !place) && inf.score < 3 {
		inf.score++ // På tisdag kom Love tillbaka; Idag kommer Nimo
	}
	if c.paren && f&lexGiven != 0 && inf.score == 2 {
		inf.score++ // Larmcentralen (Jonas)
	}
	if c.afterInitial && inf.score < 3 && !(isCommon && !sv) && !(place && !sv) {
		inf.score = min(inf.score+2, 3) // S. Sultani, K. Lund, J. Bergman
	}
	if c.namedInitial && isCommon && mid && !place && !wf.definite && !wf.placeNoun && !wf.placeSuffix {
		inf.score = 3 // B.-M. Frisk, Kopia: A. Frisk
	}
	if possPlace {
		inf.score = 0 // Lunds kommun, Halmstads kommun
	}
	if institution && inf.score > 1 && !(f&lexGiven != 0 && !isCommon && f&lexPlace == 0) {
		inf.score = 1 // Vårdcentralen Tåbelund, HVB-hemmet Solvik
	}
	inf.capable = true
	return inf
}

// definite reports whether a lower-case common word looks like a noun in
// definite form (björken, rosen, stenen, huset).
func definite(lower []byte) bool {
	// Not "na": names like Sanna, Lina and Tina are also ordinary words,
	// and -na is a definite ending only after -e (äpplena).
	for _, s := range []string{"en", "et", "an", "ena", "orna", "arna", "erna"} {
		if len(lower) > len(s)+2 && string(lower[len(lower)-len(s):]) == s {
			return true
		}
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// hyphenFlags classifies Lars-Erik, Svensson-Lind, Anna-Karin: a name when
// every part is a name (or unknown next to a name).
func (d *nameDetector) hyphenFlags(text []byte) uint8 {
	var all uint8
	named, unknown, parts := 0, 0, 0
	s := 0
	for k := 0; k <= len(text); k++ {
		if k < len(text) && text[k] != '-' {
			continue
		}
		part := text[s:k]
		s = k + 1
		if len(part) == 0 {
			continue
		}
		parts++
		if l, u, _ := letterAt(part, 0); l && !u && d.lx.isCommon(part) {
			return 0 // SIP-möte, HR-avdelningen: a compound noun
		}
		f := d.lookup(part)
		switch {
		case f&nameFlags != 0:
			named++
			all |= f & nameFlags
		case f&(lexForeign|lexWorld) != 0:
			named++
			all |= lexForeign
		case f == 0:
			unknown++
		default:
			return 0
		}
	}
	if named == 0 || named+unknown != parts {
		return 0
	}
	if unknown > 0 || all&nameFlags == 0 {
		return lexForeign
	}
	return all
}

// find appends the names in b that start at or after from. b[:from] is
// context only (the previous line of a stream). pnrs are the personnummer
// found in b: a name next to one is more certain.
//
// A word found as a name is a name everywhere in the document: when this
// text taught the detector a new name, it is read a second time, so that
// mentions before the one that taught it count too (later text, in this
// stream, knows it already).
func (d *nameDetector) find(dst []nameMatch, b []byte, from int, pnrs []pnrMatch) []nameMatch {
	n0, learned := len(dst), d.learned
	dst = d.findPass(dst, b, from, pnrs)
	n1 := len(dst)
	dst = d.findLower(dst, b, from, n0)
	dst = d.findColumns(dst, b, from, n0)
	if d.learned != learned {
		// The first reading's reasons stand: the second only adds what
		// the names it taught find.
		d.firstPass = append(d.firstPass[:0], dst[n0:]...)
		slices.SortFunc(d.firstPass, func(a, b nameMatch) int { return a.start - b.start })
		dst = d.findPass(dst[:n0], b, from, pnrs)
		n1 = len(dst)
		dst = d.findLower(dst, b, from, n0)
		dst = d.findColumns(dst, b, from, n0)
		for i := n0; i < len(dst); i++ {
			k, ok := slices.BinarySearchFunc(d.firstPass, dst[i].start, func(m nameMatch, t int) int { return m.start - t })
			if ok {
				dst[i].rule = d.firstPass[k].rule
			}
		}
	}
	if len(dst) > n1 {
		// Lower-case names come after the others: put them in text order.
		slices.SortFunc(dst[n0:], func(a, b nameMatch) int { return a.start - b.start })
	}
	return dst
}

// runEnd returns the end of the run of capitalised words that starts at
// ws[k]: words joined by spaces, particles or initials.
func (d *nameDetector) runEnd(b []byte, ws []word, k int) int {
	e := k + 1
	for e < len(ws) {
		w := ws[e]
		if !w.gapJoin {
			break
		}
		if w.shape != shapeLower {
			e++
			continue
		}
		// A particle inside a name: "Carl von Linné", "Ebba af Klint";
		// two: "Rosario de la Cruz", "Anna van der Berg".
		if e+2 < len(ws) && ws[e+1].gapJoin && ws[e+1].shape == shapeLower && ws[e+2].gapJoin && ws[e+2].shape == shapeCap &&
			nameParticles[string(appendLower(d.buf[:0], b[w.start:w.end]))] &&
			nameParticles[string(appendLower(d.buf[:0], b[ws[e+1].start:ws[e+1].end]))] {
			if p := d.facts(b[ws[e-1].start:ws[e-1].end]); p.common && !p.seen && p.flags&(nameFlags|lexForeign|lexWorld) == 0 {
				break
			}
			e += 3
			continue
		}
		if e+1 < len(ws) && ws[e+1].gapJoin && ws[e+1].shape == shapeCap &&
			nameParticles[string(appendLower(d.buf[:0], b[w.start:w.end]))] {
			// … but not after an ordinary word no list holds: "Bokat av
			// Thanh Huong Le" is a participle and the name after it.
			if p := d.facts(b[ws[e-1].start:ws[e-1].end]); p.common && !p.seen && p.flags&(nameFlags|lexForeign|lexWorld) == 0 {
				break
			}
			e += 2
			continue
		}
		break
	}
	return e
}

func (d *nameDetector) findPass(dst []nameMatch, b []byte, from int, pnrs []pnrMatch) []nameMatch {
	d.capsFor = nil
	d.forcedEnd = -1
	d.titleEnd = 0
	d.quoteEnd = 0
	d.animalEnd = 0
	d.splitWords(b)
	ws := d.words
	d.labelInitials(b, ws)
	prevRun := -1
	for k := 0; k < len(ws); {
		if ws[k].shape == shapeLower {
			k++
			continue
		}
		e := d.runEnd(b, ws, k)
		if e < len(ws) && ws[e].shape != shapeLower {
			e2 := d.runEnd(b, ws, e)
			if d.invertedName(b, ws, k, e, e2, false) {
				dst = d.emitWords(dst, b, from, ws, k, e2, ruleInverted)
				prevRun, k = e, e2
				continue
			}
			// A field label before it, in a register line with no
			// colon: "NAMN OSMANI, VALBONA", "NY VH NGUYEN, THI HOA".
			if j := d.labelBefore(b, ws, k, e); j >= 0 && d.invertedName(b, ws, j+1, e, e2, true) {
				if j > k {
					dst = d.evalRun(dst, b, from, ws, k, j, pnrs, prevRun)
				}
				dst = d.emitWords(dst, b, from, ws, j+1, e2, ruleInverted)
				prevRun, k = e, e2
				continue
			}
		}
		if e == k+1 && len(dst) > 0 && nicknameAfter(b, dst[len(dst)-1].end, ws[k]) {
			// Gösta "Knutte" Knutsson, Viktor Åkesson ("Vicke"): a
			// nickname in quotes beside a name is the person's.
			dst = d.emitWords(dst, b, from, ws, k, e, ruleNickname)
			prevRun, k = k, e
			continue
		}
		dst = d.evalRun(dst, b, from, ws, k, e, pnrs, prevRun)
		prevRun, k = k, e
	}
	return dst
}

// labelInitials turns a lone capital after an ordinary word ("grupp B.",
// "plan A. Sedan") back into a label that ends a sentence: an initial
// stands after a cue, a comma or a line start, not after a noun.
func (d *nameDetector) labelInitials(b []byte, ws []word) {
	for k := 1; k+1 < len(ws); k++ {
		w := ws[k]
		if w.shape != shapeInitial || !w.gapJoin || ws[k-1].shape != shapeLower || w.end-w.start != 1 {
			continue
		}
		pf := d.facts(b[ws[k-1].start:ws[k-1].end])
		if pf.cue || pf.conjunction || nameParticles[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))] {
			continue
		}
		if n := ws[k+1]; n.start == w.end+2 && b[w.end] == '.' && n.shape == shapeCap && d.surnameOnly(b, n) {
			continue // "till J. Pettersson", "kontaktar R. Nowak": a surname follows
		}
		ws[k].shape = shapeLower
		if n := &ws[k+1]; n.start-w.end <= 3 {
			n.gapSentence, n.gapJoin, n.gapCueOK = true, false, false
		}
	}
}

// nameable reports whether the capitalised word w may be part of a name by
// what it is, whatever the evidence: not a cue, a venue, a firm, an
// organisation, a place only, a statute, a date word or an ordinary
// compound.
func (d *nameDetector) nameable(b []byte, w word) bool {
	if w.shape == shapeInitial {
		return true
	}
	wf := d.facts(b[w.start:w.end])
	if wf.seen {
		return true
	}
	if wf.cue && wf.flags&lexGiven == 0 || wf.company || wf.venue || wf.org || wf.internalCap || wf.calendar ||
		wf.placeSuffix || wf.conjunction || wf.preposition || wf.function {
		return false
	}
	f := wf.flags
	if f&(nameFlags|lexForeign|lexWorld) == 0 && (wf.commonCompound || wf.definiteCompound || f&lexPlace != 0) {
		return false
	}
	if w.shape == shapeUpper && runeLen(b[w.start:w.end]) <= 4 && !d.capsLine(b, w.start) &&
		f&(nameFlags|lexForeign) == 0 {
		return false // an acronym
	}
	return true
}

// invertedName reports whether the runs ws[k:e] and ws[e:e2], separated by
// ", ", are a name written surname first in a list, a CSV cell or a
// signature (Stan, Ion; Hodžić, Dragana; BENGTSSON, KARIN): a cell of its
// own, two short runs of words that may be names, and a given name after
// the comma, or a surname before it and a name after it.
//
// After a field label (afterLabel) the run need not start a cell, and a
// given name anywhere after the comma will do: "VAN MINH".
func (d *nameDetector) invertedName(b []byte, ws []word, k, e, e2 int, afterLabel bool) bool {
	a, c := ws[e-1], ws[e]
	if a.end+2 != c.start || b[a.end] != ',' || b[a.end+1] != ' ' || e-k > 3 || e2-e > 3 {
		return false
	}
	if s, t := d.officeStretch(b, ws, k, e); s == k && t == e {
		return false // Service Desk, Customer Success
	}
	if s, t := d.officeStretch(b, ws, e, e2); s == e && t == e2 {
		return false
	}
	end := ws[e2-1].end
	if c.shape == shapeInitial && e2 == e+1 && end < len(b) && b[end] == '.' {
		end++ // Sultani, S.
	}
	if !afterLabel && !cellStart(b, ws[k].start) || !cellEnd(b, end) {
		return false
	}
	if e2 == e+1 && d.roleWord(b[c.start:c.end]) && d.facts(b[c.start:c.end]).flags&(lexGiven|lexForeignGiven) == 0 {
		return false // "Linnea Ström, LSS-handläggare": the role after the name
	}
	for j := k; j < e2; j++ {
		if ws[j].shape == shapeLower || j < e-1 && nameParticles[string(appendLower(d.buf[:0], b[ws[j].start:ws[j].end]))] {
			continue // DE LA CRUZ, ROSARIO; VAN DER BERG, ANNA
		}
		// After the comma a given name that is a month or a function
		// word too: JAKOBSSON, MAJ; NAKKALAJARVI, ELLE MAJ; LUND, INGA.
		if !d.nameable(b, ws[j]) && !(afterLabel && d.compoundOnly(b, ws[j])) &&
			!(j >= e && (d.monthGiven(b, ws[j]) || d.facts(b[ws[j].start:ws[j].end]).flags&lexGiven != 0)) {
			return false
		}
	}
	if e-k >= 2 && ws[k].shape == shapeCap {
		// "Hemtjänst Öst, Halima Osman": an office before the comma; a
		// surname of two words starts with a name or a particle.
		if kf := d.facts(b[ws[k].start:ws[k].end]); !kf.seen && (kf.org || kf.venue || kf.cue ||
			kf.common && kf.flags&(nameFlags|lexForeign|lexWorld|lexForeignGiven) == 0) {
			return false
		}
	}
	af := d.facts(b[a.start:a.end])
	cf := d.facts(b[c.start:c.end])
	if e2-e >= 2 && d.surnameOnly(b, ws[e2-1]) {
		return false // "Avslutning, Anneli Strömqvist": a full name after a label
	}
	if cf.seen || cf.flags&(lexGiven|lexForeignGiven) != 0 {
		return true
	}
	if afterLabel {
		for j := e + 1; j < e2; j++ {
			if f := d.facts(b[ws[j].start:ws[j].end]); f.seen || f.flags&(lexGiven|lexForeignGiven) != 0 {
				return true
			}
		}
	}
	if c.shape == shapeInitial {
		// Sultani, S.: a surname by the lists or its form, and an initial.
		return e2 == e+1 && e-k == 1 && a.shape == shapeCap && (af.seen || !af.common &&
			(af.flags&(lexSurname|lexForeign|lexWorld) != 0 || af.surnameSuffix || af.surnameShape))
	}
	// After a label, the label says person: any word no list calls
	// ordinary will do before the comma.
	surname := af.seen || af.flags&lexSurname != 0 || af.surnameSuffix || af.surnameShape ||
		af.flags&(lexForeign|lexWorld) != 0 && !af.common || afterLabel && !af.common
	return surname && (cf.flags&(nameFlags|lexForeign|lexWorld) != 0 || !cf.common)
}

// monthGiven reports whether w is a month or day that a name list
// holds too (Maj, Juni): after the comma of "JAKOBSSON, MAJ" it is her name.
func (d *nameDetector) monthGiven(b []byte, w word) bool {
	wf := d.facts(b[w.start:w.end])
	return wf.calendar && wf.flags&(nameFlags|lexForeignGiven) != 0
}

// compoundOnly reports whether the only thing against w as a name is that
// it splits into ordinary words (VAL-BONA): no list holds it, and it is
// nothing else.
func (d *nameDetector) compoundOnly(b []byte, w word) bool {
	wf := d.facts(b[w.start:w.end])
	return wf.commonCompound && !wf.common && wf.flags == 0 && !wf.definiteCompound && !wf.cue &&
		!wf.company && !wf.venue && !wf.org && !wf.internalCap && !wf.calendar && !wf.placeSuffix &&
		!wf.conjunction && !wf.preposition && !wf.function
}

// labelBefore returns the last field label (labelCue) of ws[k:e-1], one
// or two words at most before the comma, or -1.
func (d *nameDetector) labelBefore(b []byte, ws []word, k, e int) int {
	for j := e - 2; j >= k && j >= e-3; j-- {
		if d.labelCue(b, ws[j]) {
			return j
		}
	}
	return -1
}

// labelCue reports whether w is a field label of a register line that
// names the person after it (NAMN, VH, OPERATÖR): a person cue that is not
// a weak one and not a given name too.
func (d *nameDetector) labelCue(b []byte, w word) bool {
	if w.shape == shapeLower || w.shape == shapeInitial {
		return false
	}
	wf := d.facts(b[w.start:w.end])
	return wf.strongCue && wf.flags&lexGiven == 0 && !wf.seen
}

// emitWords appends every capitalised word of ws[k:e] as a name part.
func (d *nameDetector) emitWords(dst []nameMatch, b []byte, from int, ws []word, k, e int, rule string) []nameMatch {
	for j := k; j < e; j++ {
		w := ws[j]
		if w.shape == shapeLower {
			continue
		}
		end := w.end
		if wf := d.facts(b[w.start:w.end]); wf.possessive || wf.seenStem {
			end--
		}
		if w.shape != shapeInitial {
			d.remember(b[w.start:end])
		}
		if w.start >= from {
			dst = append(dst, nameMatch{start: w.start, end: end, rule: rule})
		}
	}
	return dst
}

// givenBeforeSurname reports whether ws[i], which could not be a name by
// itself, is the first name of the name stretch that follows it: a
// capitalised ordinary word joined to it by a space, and nothing that
// names an office, a place, a firm or a person's role.
func (d *nameDetector) givenBeforeSurname(b []byte, ws []word, i int, inf wordInfo) bool {
	w := ws[i]
	if inf.capable || w.shape != shapeCap || !ws[i+1].gapJoin {
		return false
	}
	f := d.facts(b[w.start:w.end])
	given := f.flags&(lexGiven|lexForeignGiven) != 0
	if titleCues[string(appendLower(d.buf[:0], b[w.start:w.end]))] {
		return false // Abba Tesfamariam, Fru Lind: the title, then the name
	}
	if !given && runeLen(b[w.start:w.end]) >= 9 {
		return false // Utbildning Varberg, Hörselslinga Comfort: a long noun is no one's given name
	}
	return (f.common && f.flags&lexPlace == 0 || given) && (!f.cue || f.flags&lexGiven != 0) && !f.conjunction && !f.preposition && !f.function &&
		!f.inPreposition && !f.placeNoun && !f.placeSuffix && !f.definiteCompound && !f.company &&
		!f.venue && !f.org && !f.calendar && !f.internalCap
}

// cuedGivenWord reports whether ws[k], not a name by itself, is the given
// name of the two-word run ws[k:k+2] after a person cue: capitalised, an
// ordinary or function word no rule rules out, and a surname by the lists
// after it.
func (d *nameDetector) cuedGivenWord(b []byte, ws []word, k int, inf wordInfo) bool {
	w, n := ws[k], ws[k+1]
	if inf.score > 0 || w.shape != shapeCap || n.shape != shapeCap || !n.gapJoin {
		return false
	}
	nf := d.facts(b[n.start:n.end])
	if nf.flags&lexSurname == 0 && !d.surnameWord(b[n.start:n.end], nf) || nf.flags&lexPlace != 0 && nf.flags&nameFlags == 0 {
		return false
	}
	f := d.facts(b[w.start:w.end])
	return (f.common || f.function || f.flags&(lexGiven|lexForeignGiven) != 0) && !f.cue && !f.conjunction &&
		!f.preposition && !f.inPreposition && !f.placeNoun && !f.placeSuffix && !f.definiteCompound && !f.company &&
		!f.venue && !f.org && !f.calendar && !f.internalCap && !f.definite
}

// objectFirst reports whether the sentence-initial word w is an ordinary
// word followed by a verb and its subject ("Ros kan man beskära"): then it
// is the topicalised object, not a person, whatever the document says.
func (d *nameDetector) objectFirst(b []byte, w word) bool {
	if !d.facts(b[w.start:w.end]).common {
		return false
	}
	s, e, ok := nextWordAt(b, w.end)
	if !ok || !subjectVerbs[string(appendLower(d.buf[:0], b[s:e]))] {
		return false
	}
	ns, ne, ok := nextWordAt(b, e)
	return ok && subjectPronouns[string(appendLower(d.buf[:0], b[ns:ne]))]
}

// givenEvidence reports whether w is a given name in some list, whatever
// else it is (Milan, Bror, Love).
func (d *nameDetector) givenEvidence(b []byte, w word) bool {
	wf := d.facts(b[w.start:w.end])
	return wf.flags&(lexGiven|lexForeignGiven) != 0 && !wf.function
}

// nameFollowsConjunction reports whether "och" or "samt" and a word that
// is a name by itself follow end: "Emir och Lejla" makes Emir likelier.
// A list does it too: ", Ahmad och Yalda" after Mursal, names to its end.
func (d *nameDetector) nameFollowsConjunction(b []byte, end int) bool {
	return d.namesFollow(b, end, 4)
}

func (d *nameDetector) namesFollow(b []byte, end, depth int) bool {
	if end+2 < len(b) && b[end] == ',' && b[end+1] == ' ' {
		s, e, ok := nextWordAt(b, end+2)
		return ok && depth > 0 && s == end+2 && d.nameByItself(b, s, e) && d.namesFollow(b, e, depth-1)
	}
	s, e, ok := nextWordAt(b, end)
	if !ok || s != end+1 {
		return false
	}
	if lw := string(appendLower(d.buf[:0], b[s:e])); lw != "och" && lw != "samt" {
		return false
	}
	s2, e2, ok := nextWordAt(b, e)
	return ok && s2 == e+1 && d.nameByItself(b, s2, e2)
}

// nameByItself reports whether b[s:e] is capitalised and a name by the
// lists alone, or was found as one before.
func (d *nameDetector) nameByItself(b []byte, s, e int) bool {
	if l, u, _ := letterAt(b, s); !l || !u {
		return false
	}
	wf := d.facts(b[s:e])
	f := wf.flags
	return wf.seen || f&nameFlags != 0 && !wf.common && f&lexPlace == 0 ||
		f&lexForeign != 0 && !wf.common && f&(lexPlace|lexEnglish) == 0
}

// surnameOnly reports whether w is a surname by the lists or by its form
// (Tolvansson, Myrström, Fågelqvist) and not a given name.
func (d *nameDetector) surnameOnly(b []byte, w word) bool {
	wf := d.facts(b[w.start:w.end])
	if wf.flags&(lexGiven|lexForeignGiven|lexPlace) != 0 || wf.org {
		return false
	}
	return wf.flags&lexSurname != 0 && !wf.common || wf.flags&nameFlags == 0 && wf.surnameSuffix && !wf.common ||
		d.surnameWord(b[w.start:w.end], wf)
}

// surnameWord reports whether w, an ordinary word too (Ågren, Åström),
// ends like a Swedish surname and nothing else (-gren is no definite form): a
// stem of three letters at most before -ström, -gren, -qvist, -kvist or
// -dahl. Longer compounds (Luftström, Tallkvist) are ordinary words.
func (d *nameDetector) surnameWord(w []byte, wf wordFacts) bool {
	if !wf.common || wf.flags&(lexPlace|lexEnglish) != 0 {
		return false
	}
	return endsAfterStem(appendLower(d.buf[:0], w), surnameWordEnds, 1, 3)
}

// namedThing reports whether the run ws[k:e] names a thing after a person
// rather than the person: a possessive before a head noun (Astrid Lindgrens
// barnsjukhus, Olof Palmes gata, Ragnar Söderbergs stiftelse) or a
// hyphen compound with a lower-case head (Selma Lagerlöf-priset, Greta
// Garbo-salen).
func (d *nameDetector) namedThing(b []byte, ws []word, k, e int) bool {
	if last := ws[e-1]; e-k >= 2 && last.shape == shapeCap && eventHeads[string(appendLower(d.buf[:0], b[last.start:last.end]))] {
		return true // Kalle Anka Cup, Astrid Lindgren Festival
	}
	for j := k; j < e; j++ {
		w := b[ws[j].start:ws[j].end]
		if h := bytes.LastIndexByte(w, '-'); h > 0 && h+1 < len(w) {
			if l, u, _ := letterAt(w, h+1); l && !u {
				if tail := appendLower(d.buf[:0], w[h+1:]); namedThingHead(tail) || workTails[string(tail)] {
					return true // Selma Lagerlöf-priset; Kalle Anka-reprisen
				}
				// At the end of the run, after a name, any ordinary word
				// of six letters or more: Jenny Lind-festivalen, Hugo
				// Boss-parfym (not Eva-lotta, HR-partner Sofia Malm).
				var lb [32]byte
				if tail := w[h+1:]; j == e-1 && !upperWord(w[:h]) && len(tail) <= len(lb) &&
					(runeLen(tail) >= 6 || runeLen(tail) == 5 && definite(appendLower(lb[:0], tail))) &&
					d.lx.isCommon(appendLower(lb[:0], tail)) && d.lookup(tail)&nameFlags == 0 {
					return true
				}
			}
		}
		if n := len(w); n < 3 || w[n-1] != 's' && w[n-1] != 'S' {
			continue
		}
		if wf := d.facts(w); wf.cue || wf.preposition || wf.conjunction || wf.function && wf.flags&(lexGiven|lexSurname) == 0 {
			continue // "Hos Stig Fransson": a preposition, no possessive
		}
		var next []byte
		if j+1 < e {
			if ws[j+1].start != ws[j].end+1 {
				continue
			}
			next = b[ws[j+1].start:ws[j+1].end]
		} else if ns, ne, ok := nextWordAt(b, ws[j].end); ok && ns == ws[j].end+1 {
			next = b[ns:ne]
		} else if at := ws[j].end; at < len(b) && b[at] == '\n' {
			// "… till BUP Astrid Lindgrens\nbarnsjukhus": a line
			// wrapped after the possessive.
			if ns, ne, ok := nextWordAt(b, at+1); ok && ns == at+1 {
				next = b[ns:ne]
			}
		}
		if next == nil {
			continue
		}
		if e0 := ws[j].end + 1 + len(next); e0+1 < len(b) && b[e0] == '-' && b[e0+1] == ' ' {
			// "Drottning Silvias barn- och ungdomssjukhus": the head is
			// the compound after "och".
			if cs, ce, ok := nextWordAt(b, e0+1); ok && ce-cs <= 5 && (string(b[cs:ce]) == "och" || string(b[cs:ce]) == "eller") {
				if hs, he, ok := nextWordAt(b, ce); ok {
					next = b[hs:he]
				}
			}
		}
		if lower := appendLower(d.buf[:0], next); namedThingHead(lower) || len(lower) >= 9 && bytes.HasPrefix(lower, []byte("minnes")) ||
			len(lower) >= 7 && orgWord(lower) {
			if ownableHeads[string(lower)] && d.seenIn(b, ws, k, j+1) {
				// "i Anna Karlssons rum", "tar Anna Karlssons plats": a
				// person the document has named has a room, a seat, a
				// house of her own.
				return false
			}
			return true // … Hedbergs minnesrodd, Olof Palmes Löparklubb
		}
	}
	return false
}

// ownableHeads are the heads of namedThingHeads that a person has of her
// own: after the name of a person the document has named, they are hers.
var ownableHeads = map[string]bool{
	"plan": true, "plats": true, "gård": true, "gården": true, "hus": true, "huset": true,
	"rum": true, "rummet": true, "dag": true, "dagen": true, "vecka": true, "veckan": true,
	"samling": true, "samlingen": true, "stuga": true, "stugan": true,
}

// seenIn reports whether a word of ws[k:e] (a possessive by its stem) is
// one the document has used as a name.
func (d *nameDetector) seenIn(b []byte, ws []word, k, e int) bool {
	for j := k; j < e; j++ {
		if ws[j].shape == shapeLower {
			continue
		}
		if wf := d.facts(b[ws[j].start:ws[j].end]); wf.seen || wf.seenStem {
			return true
		}
	}
	return false
}

// venueAround reports whether a venue noun, an organisation or an
// institution stands right before ws[k] (in lower case: "i rum Astrid
// Lindgren", "förskolan Nils Holgersson"; capitalised it is part of the
// run) or a venue noun right after ws[e-1] (Vera Café).
func (d *nameDetector) venueAround(b []byte, ws []word, k, e int) bool {
	if k > 0 && ws[k].gapJoin && ws[k-1].shape == shapeLower &&
		(d.facts(b[ws[k-1].start:ws[k-1].end]).venue || d.bodyBefore(b, ws, k-1, k, e) && columnGapIn(b, ws, k+1, e) < 0) {
		return true // i rum Astrid Lindgren; på förskolan Nils Holgersson
	}
	if e == k+1 && d.venueNumberBefore(b, ws[k].start) && !d.facts(b[ws[k].start:ws[k].end]).cue {
		return true // Rum 2 Emil, Sal 3B Greta; not "rum 7 Hr Karlsson"
	}
	if e < len(ws) && ws[e].gapJoin && ws[e].shape != shapeLower {
		return d.facts(b[ws[e].start:ws[e].end]).venue
	}
	if ns, ne, ok := nextWordAt(b, ws[e-1].end); ok && ns == ws[e-1].end+1 {
		if b[ws[e-1].end-1] == 's' && d.seenIn(b, ws, k, e) {
			return false // "i Anna Karlssons rum": hers, when the document named her
		}
		return d.facts(b[ns:ne]).venue
	}
	return false
}

// kryaBefore reports whether "krya på " (get well) stands right before
// b[i].
func kryaBefore(b []byte, i int) bool {
	const k = "krya på "
	if i < len(k) {
		return false
	}
	p := b[i-len(k) : i]
	return (p[0] == 'k' || p[0] == 'K') && string(p[1:]) == k[1:] && (i == len(k) || !isLetterByte(b[i-len(k)-1]))
}

// orgNameAfter reports whether the run ws[k:e] is the name of the body
// whose noun, in definite form and lower case, stands right before it:
// "Romska kulturföreningen Baxtalo Drom", "dansgruppen Los Cuequeros",
// "kören Vox Silvae". A given name before a surname there is still a
// person (föreningen Anna Berg is rare, a person named beside the noun is
// not): personShaped.
func (d *nameDetector) orgNameAfter(b []byte, ws []word, k, e int) bool {
	if i := ws[k].start; i < 6 || b[i-1] != ' ' || b[i-2] != 'n' && b[i-2] != 't' && b[i-2] != 'a' {
		return false // no definite ending before: föreningen, förbundet, scouterna
	}
	s, t, ok := wordBefore(b, ws[k].start)
	if !ok || t-s < 4 || t-s > 40 {
		return false
	}
	if l, u, _ := letterAt(b, s); !l || u {
		return false
	}
	lower := appendLower(d.buf[:0], b[s:t])
	if !(orgWord(lower) || bytes.HasSuffix(lower, []byte("gruppen")) || bytes.HasSuffix(lower, []byte("ensemblen"))) ||
		!definiteOrg(lower) {
		return false
	}
	first, last := d.facts(b[ws[k].start:ws[k].end]), d.facts(b[ws[e-1].start:ws[e-1].end])
	if e == k+1 && first.flags&(lexGiven|lexForeignGiven) != 0 {
		return false // a given name alone after the noun may be its member: "ledaren i laget Anna"
	}
	return !(e-k >= 2 && personShaped(first, last)) && !first.seen
}

// definiteOrgEndings end an organisation's noun in definite form.
var definiteOrgEndings = []string{"en", "et", "na", "ören", "ern"}

// definiteOrg reports whether lower, an organisation's noun, is in the
// definite form: föreningen, förbundet, kören, laget, scouterna.
func definiteOrg(lower []byte) bool {
	for _, end := range definiteOrgEndings {
		if bytes.HasSuffix(lower, []byte(end)) {
			return true
		}
	}
	return false
}

// propertyDesignation reports whether place, block and a number make a
// property's designation: a place (by the lists or the document), one
// capitalised word, a space and a number (with its ":12" perhaps), and no
// age or unit after it ("Tallåsa Ros 7", not "Malmö Anna 7 år").
func (d *nameDetector) propertyDesignation(b []byte, place, block word) bool {
	if place.shape != shapeCap && place.shape != shapeUpper || block.shape != shapeCap || block.start != place.end+1 {
		return false
	}
	i := block.end
	if i+1 >= len(b) || b[i] != ' ' || !isDigit(b[i+1]) {
		return false
	}
	j := i + 1
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	if j-i-1 > 4 || j < len(b) && (b[j] == '-' || b[j] == '.' && j+1 < len(b) && isDigit(b[j+1])) {
		return false // a personnummer, a date, a phone number
	}
	colon := j+1 < len(b) && b[j] == ':' && isDigit(b[j+1])
	if !colon && j+1 < len(b) && b[j] == ' ' {
		if l, _, _ := letterAt(b, j+1); l {
			return false // 7 år, 12 kr
		}
	}
	f := d.facts(b[place.start:place.end])
	return f.flags&lexPlace != 0 && f.flags&(nameFlags|lexForeignGiven) == 0 || propertyCue(b, place.start)
}

// propertyCue reports whether the word "fastighet" (or a form of it),
// perhaps as a label with its colon, stands right before b[i]:
// "Fastighet: Tallåsa Strindberg 4", "fastigheten Lillby Ros 7".
func propertyCue(b []byte, i int) bool {
	if i < 2 || b[i-1] != ' ' {
		return false
	}
	end := i - 1
	if b[end-1] == ':' {
		end-- // the label's colon
	}
	start := lettersBefore(b, end)
	if end-start < 9 || end-start > 24 {
		return false
	}
	var lb [24]byte
	switch string(appendLower(lb[:0], b[start:end])) {
	case "fastighet", "fastigheten", "fastigheterna", "fastighetsbeteckning", "fastighetsbeteckningen":
		return true // not Fastighetsskötare: a person's role
	}
	return false
}

// maxPlaces bounds the places a stream learns (see learnPlace).
const maxPlaces = 64

// placeAfter are the nouns after a place's name: Tallåsa kommun, Lillby
// församling.
var placeAfter = map[string]bool{
	"kommun": true, "kommuns": true, "stad": true, "stads": true, "län": true, "läns": true,
	"församling": true, "församlings": true, "pastorat": true, "socken": true, "tätort": true,
	"kommunförbund": true,
}

// placeAfterFirst reports whether c may start a word of placeAfter: a
// test before the word is read.
func placeAfterFirst(c byte) bool {
	switch c {
	case 'k', 's', 'l', 'f', 'p', 't':
		return true
	}
	return false
}

// learnPlace notes a word of the run ws[k:e] that no name list holds as a
// place when the text uses it as one: before a municipality's, a
// parish's or a county's noun ("Bygglov Tallåsa kommun") or right after
// "i" ("föreningen i Tallåsa", "FÖRENINGEN I TALLÅSA"). A document names
// its own town more often than anything else, and the name of a town
// that no list holds looks like a surname; read as a place from then on
// (the stream is read again), it is no person's name, here or in a later
// "Shell Tallåsa" or "Tallåsa Ros 7". A Swedish name or another
// language's given name is not learned: "i Åsa" may be the village, but
// "Åsa" stays a person's name elsewhere.
func (d *nameDetector) learnPlace(b []byte, ws []word, k, e int) {
	try := func(w word) {
		if w.shape != shapeCap && w.shape != shapeUpper || w.end-w.start < 3 || w.end-w.start > 30 {
			return
		}
		text := b[w.start:w.end]
		wf := d.facts(text)
		if wf.flags&(nameFlags|lexForeignGiven|lexPlace) != 0 || wf.common || wf.possessive || wf.cue || wf.org || wf.venue {
			return
		}
		key := string(appendTitle(d.buf[:0], text))
		if d.places[key] {
			return
		}
		if d.places == nil || len(d.places) >= maxPlaces {
			d.places = make(map[string]bool)
		}
		d.places[key] = true
		d.dropFacts(key, text)
		if d.forget(text) {
			d.learned++ // read the stream again: earlier mentions, found as names, are the place's
		}
	}
	last := ws[e-1]
	if n := last.end; n+4 < len(b) && b[n] == ' ' && placeAfterFirst(b[n+1]) {
		if ns, ne, ok := nextWordAt(b, n); ok && ns == n+1 && ne-ns <= 14 && placeAfter[string(b[ns:ne])] {
			try(last)
		}
	}
	if s := ws[k].start; s >= 2 && (b[s-2] == 'i' || b[s-2] == 'I') && b[s-1] == ' ' &&
		(s == 2 || b[s-3] == ' ' || b[s-3] == '\n' || b[s-3] == '(') {
		try(ws[k])
	}
}

// verbSubject reports whether a word that the lexicons call a given name
// (or that the stream has seen as one) may be the subject of the verb after
// it. An ordinary word must be a given name by the Swedish or another
// language's given-name list; an ordinary English word or a definite noun
// is no subject here.
func verbSubject(wf wordFacts) bool {
	if wf.function {
		return false
	}
	if wf.seen {
		return true
	}
	f := wf.flags
	if f == 0 && wf.foreignLetters && !wf.common && !wf.definite {
		return true // in no list, but spelt as no Swedish word is: Áilu, Juhán
	}
	if f&(lexGiven|lexForeignGiven|lexForeign|lexWorld|lexSurname) == 0 {
		return false
	}
	if f&lexGiven != 0 {
		return true
	}
	if wf.common {
		return f&lexForeignGiven != 0 && f&lexEnglish == 0
	}
	return f&lexEnglish == 0 || f&lexForeignGiven != 0
}

// verbPartner reports whether wf may be the second subject of "X och Y
// verb" once X is one: a name in any list, or an unknown word or adjective
// that is not a definite noun.
func verbPartner(wf wordFacts) bool {
	if wf.function {
		return false
	}
	if wf.seen || wf.flags&(nameFlags|lexForeign|lexWorld|lexForeignGiven) != 0 {
		return true
	}
	return !wf.definite && wf.flags&lexPlace == 0
}

// speakerLine reports whether the run ws[k:e] starts a line of a chat and
// is followed by a colon and a message in lower case: "Saga: jag behöver
// kvitton", "[14:03] Linda: ok". The words of a speaker label that are
// names in any list are names, ordinary words or not. A label followed by
// a message that starts with a capital, or with the speaker's role in
// brackets before the colon ("Stig: Synd!", "Iris (mamma till Alva): Är
// det …"), is a looser one (loose is true): then only a given name in it
// is taken, since "Datum: Idag" and "Plats: Stora salen" look the same.
// directionLabels label the lines of an SMS or call log by direction, not
// by speaker: "IN: ja det passar", "UT: Påminnelse om din tid".
var directionLabels = map[string]bool{
	"in": true, "ut": true, "out": true, "inkommande": true, "utgående": true, "mottaget": true,
	"skickat": true, "inkommet": true, "svar": true,
}

// bracketLabelCue reports whether a role, a bracket and a label's colon
// stand right before b[i]: "Tolk (thailändska): ", "Ombud (advokat): ".
func (d *nameDetector) bracketLabelCue(b []byte, i int) bool {
	if i < 6 || b[i-1] != ' ' || b[i-2] != ':' || b[i-3] != ')' {
		return false
	}
	o := bytes.LastIndexByte(b[max(0, i-40):i-3], '(')
	if o < 0 {
		return false
	}
	o += max(0, i-40)
	if o < 2 || b[o-1] != ' ' || bytes.IndexByte(b[o:i], '\n') >= 0 {
		return false
	}
	s, e, ok := wordBefore(b, o)
	return ok && e-s <= 24 && d.facts(b[s:e]).strongCue
}

// quotedCell reports whether b[s:e] stands in quotation marks alone in a
// table's cell: a column gap (two spaces or more, a tab) or the line's
// start before the opening mark, a gap or the line's end after the
// closing one. A register quotes the names of boats, horses and bands
// there ("Sjöfröken", "Blå Saga"); a person's nickname stands beside the
// name (Daniel "Danne" Sjöqvist).
func quotedCell(b []byte, s, e int) bool {
	if s < 1 || e >= len(b) || b[s-1] != '"' || b[e] != '"' {
		return false
	}
	before := s - 1
	gapBefore := before == 0 || b[before-1] == '\n' || b[before-1] == '\t' ||
		before >= 2 && b[before-1] == ' ' && b[before-2] == ' '
	after := e + 1
	gapAfter := after == len(b) || b[after] == '\n' || b[after] == '\r' || b[after] == '\t' ||
		after+1 < len(b) && b[after] == ' ' && b[after+1] == ' '
	return gapBefore && gapAfter && bytes.IndexByte(b[s:e], '\n') < 0
}

// acronymHead reports whether w starts with two or more capitals before
// a hyphen: GDPR-rutinen, HSL-rutinen, LOK-stödsansökan.
func acronymHead(w []byte) bool {
	h := bytes.IndexByte(w, '-')
	if h < 2 {
		return false
	}
	for _, c := range w[:h] {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// timeAfter returns where a time of day written right after b[:i] ends
// (" 18:10", " 9.05"), or i: SMS logs write the sender, the time, a colon.
func timeAfter(b []byte, i int) int {
	j := i + 1
	if j >= len(b) || b[i] != ' ' || !isDigit(b[j]) {
		return i
	}
	if j+1 < len(b) && isDigit(b[j+1]) {
		j++
	}
	j++
	if j+2 >= len(b) || b[j] != ':' && b[j] != '.' || !isDigit(b[j+1]) || !isDigit(b[j+2]) {
		return i
	}
	return j + 3
}

func speakerLine(b []byte, ws []word, k, e int) (ok, loose bool) {
	end := ws[e-1].end
	if !lineStartBefore(b, ws[k].start) {
		return false, false
	}
	if end+2 < len(b) && b[end] == ' ' && b[end+1] == '(' {
		// "Iris (mamma till Alva): …"
		le := len(b)
		if n := bytes.IndexByte(b[end:], '\n'); n >= 0 {
			le = end + n
		}
		p := bytes.IndexByte(b[end:le], ')')
		if p < 0 || p > 48 || end+p+2 >= le || b[end+p+1] != ':' || b[end+p+2] != ' ' {
			return false, false
		}
		end += p + 1
		loose = true
	}
	if headerTimeAt(b, end) {
		return true, true // a Slack export's "Sami H 8:02 AM" above the message
	}
	end = emojiAfter(b, end) // "Nova 🦋: …"
	end = timeAfter(b, end)  // an SMS log's "Bror 18:10: Jag kommer."
	if end+2 >= len(b) || b[end] != ':' || b[end+1] != ' ' {
		return false, false
	}
	l, u, _ := letterAt(b, end+2)
	if !l {
		return false, false
	}
	// A token (sl_name1_…) is no message: pseudonymizing twice must not
	// change anything.
	we := wordEnd(b, end+2)
	if we < len(b) && (b[we] == '_' || isDigit(b[we])) {
		return false, false
	}
	return true, loose || u
}

// emojiAfter returns the index after " " and one to three emoji or
// other symbols that follow b[:end] right before a colon (a chat export's
// "Nova 🦋:"), or end when there are none.
func emojiAfter(b []byte, end int) int {
	if end >= len(b) || b[end] != ' ' {
		return end
	}
	i, n := end+1, 0
	for i < len(b) && n < 6 {
		r, size := utf8.DecodeRune(b[i:])
		if !unicode.Is(unicode.So, r) && !unicode.Is(unicode.Sk, r) && r != '\u200d' && r != '\ufe0f' {
			break
		}
		i += size
		n++
	}
	if n == 0 || i >= len(b) || b[i] != ':' {
		return end
	}
	return i
}

// bulletBefore reports whether only a list bullet (-, *, •) and spaces
// stand between the start of the line and i.
func bulletBefore(b []byte, i int) bool {
	ls := bytes.LastIndexByte(b[:i], '\n') + 1
	t := bytes.TrimSpace(b[ls:i])
	return string(t) == "-" || string(t) == "*" || string(t) == "\u2022"
}

// wholeRunName reports whether the context makes the run ws[k:e] of
// capitalised words a name (see evalRun).
func (d *nameDetector) wholeRunName(b []byte, ws []word, k, e int) bool {
	for j := k; j < e; j++ {
		w := ws[j]
		if w.shape != shapeCap || j > k && !w.gapJoin {
			return false
		}
		wf := d.facts(b[w.start:w.end])
		if wf.venue || wf.org || wf.company || wf.placeNoun || wf.calendar || wf.internalCap || wf.cue ||
			wf.flags&lexPlace != 0 && wf.flags&nameFlags == 0 || wf.placeSuffix && wf.flags&nameFlags == 0 {
			return false
		}
	}
	first, last := ws[k], ws[e-1]
	if first.gapSlash && first.start > 0 && b[first.start-1] == '/' && lineStartBefore(b, first.start-1) {
		lf := d.facts(b[last.start:last.end])
		return lf.flags&lexSurname != 0 || lf.surnameSuffix
	}
	// " och hans fru", " och hennes man": the run is the spouse's partner.
	s1, e1, ok := nextWordAt(b, last.end)
	if !ok || s1 != last.end+1 || string(appendLower(d.buf[:0], b[s1:e1])) != "och" {
		return false
	}
	s2, e2, ok := nextWordAt(b, e1)
	if !ok || s2 != e1+1 {
		return false
	}
	if p := string(appendLower(d.buf[:0], b[s2:e2])); p != "hans" && p != "hennes" {
		return false
	}
	s3, e3, ok := nextWordAt(b, e2)
	if !ok || s3 != e2+1 || !d.facts(b[s3:e3]).strongCue {
		return false
	}
	for j := k; j < e; j++ {
		if wf := d.facts(b[ws[j].start:ws[j].end]); wf.common && wf.flags&(nameFlags|lexForeign|lexWorld|lexForeignGiven) == 0 {
			return false
		}
	}
	return true
}

// titleAfterConjunction reports whether "och" joins ws[k] to the title
// that ended at d.titleEnd, over at most three lower-case words of that
// title ("Karlsson på taket och Emil i Lönneberga").
func (d *nameDetector) titleAfterConjunction(b []byte, ws []word, k int) bool {
	if k-1 < d.titleEnd || k-1-d.titleEnd > 3 || !ws[k].gapJoin ||
		!d.facts(b[ws[k-1].start:ws[k-1].end]).conjunction {
		return false
	}
	for j := d.titleEnd; j < k; j++ {
		if ws[j].shape != shapeLower || !ws[j].gapJoin {
			return false
		}
	}
	return true
}

// afterWorkCue reports whether a work cue stands right before ws[k], or
// before a subject pronoun right before it ("läser vi Karlsson på taket").
func (d *nameDetector) afterWorkCue(b []byte, ws []word, k int) bool {
	if k == 0 || !ws[k].gapJoin || ws[k-1].shape != shapeLower {
		return false
	}
	if workCues[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))] {
		return true
	}
	return k > 1 && ws[k-1].gapJoin && ws[k-2].shape == shapeLower &&
		subjectPronouns[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))] &&
		workCues[string(appendLower(d.buf[:0], b[ws[k-2].start:ws[k-2].end]))]
}

// quotedTitle reports whether ws[k] opens a title in quotes after a work
// noun (boken "…", utställningen «…»), and if so sets d.quoteEnd to its
// closing quote on the same line. Not after a verb of reading (läste "…"
// quotes a note as often as a book), not over a personnummer, not over
// more than eight words, and not when a word in it was found as a name
// before.
func (d *nameDetector) quotedTitle(b []byte, ws []word, k int, pnrs []pnrMatch) bool {
	if k == 0 || ws[k-1].shape != shapeLower {
		return false
	}
	gap := b[ws[k-1].end:ws[k].start]
	var close string
	switch string(gap) {
	case ` "`:
		close = `"`
	case " \u201d", " \u201c":
		close = "\u201d"
	case " \u00ab":
		close = "\u00bb"
	default:
		return false
	}
	cue := appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end])
	if !workCues[string(cue)] && !performVerbs[string(cue)] || readingVerbs[string(cue)] {
		return false
	}
	rest := b[ws[k].start:min(len(b), ws[k].start+120)]
	q := bytes.Index(rest, []byte(close))
	if q < 0 || bytes.IndexByte(rest[:q], '\n') >= 0 {
		return false
	}
	end := ws[k].start + q
	for _, p := range pnrs {
		if p.start < end && p.end > ws[k].start {
			return false
		}
	}
	n := 0
	for j := k; j < len(ws) && ws[j].start < end; j++ {
		if n++; n > 8 {
			return false
		}
		if ws[j].shape != shapeLower && d.facts(b[ws[j].start:ws[j].end]).seen {
			return false
		}
	}
	d.quoteEnd = end
	return true
}

// performVerbs before a title in quotes make it a song's or a piece's:
// sjunger "Staffan var en stalledräng". Without the quotes they may come
// before a person (spelar Anna) and are no work cue.
var performVerbs = map[string]bool{
	"sjunger": true, "sjöng": true, "sjunga": true, "sjungit": true, "framför": true,
	"framförde": true, "spelar": true, "spelade": true, "spela": true,
}

// readingVerbs are the work cues that are verbs: a quote after them may be
// a message read aloud, not a title.
var readingVerbs = map[string]bool{"läs": true, "läsa": true, "läser": true, "läste": true, "läst": true, "högläsning": true}

// headerFields are the labels of a mail or form header whose value is a
// person when it starts with a given name: "Från: Linnea Brand".
var headerFields = map[string]bool{
	"från": true, "till": true, "kopia": true, "avsändare": true, "mottagare": true,
	"kontaktperson": true, "kontakt": true, "from": true, "to": true, "cc": true,
}

// headerOrBracketName reports whether the run ws[k:e] of capitalised words
// is a name by where it stands: the whole value of a header field, starting
// with a given name ("Från: Linnea Brand", the surname an ordinary word),
// or one given name in the brackets of a chat label ("[10:02]
// Vårdcentralen (Sanna): …").
func (d *nameDetector) headerOrBracketName(b []byte, ws []word, k, e int) bool {
	first, last := ws[k], ws[e-1]
	// Where it stands first (cheap): after "(" or after ": ".
	if first.shape != shapeCap || first.start < 2 ||
		b[first.start-1] != '(' && (b[first.start-1] != ' ' || b[first.start-2] != ':') ||
		!d.givenEvidence(b, first) {
		return false
	}
	for j := k; j < e; j++ {
		w := ws[j]
		if w.shape != shapeCap || j > k && !w.gapJoin {
			return false
		}
		wf := d.facts(b[w.start:w.end])
		// After a given name a place's name may be the surname (Lund,
		// Brand); first it is the place.
		if wf.venue || wf.org || wf.company || wf.placeNoun || wf.calendar || wf.internalCap || wf.function ||
			wf.definiteCompound || j == k && wf.flags&lexPlace != 0 && wf.flags&nameFlags == 0 {
			return false
		}
	}
	// Both stand near the line start: look back no further.
	lo := max(0, first.start-60)
	ls := bytes.LastIndexByte(b[lo:first.start], '\n') + 1 + lo
	if ls == lo && lo > 0 {
		return false
	}
	if first.start > ls && b[first.start-1] == '(' {
		// The brackets of a chat label: "(Sanna): " after one to three
		// words at the line start.
		if e != k+1 || last.end+2 >= len(b) || b[last.end] != ')' || b[last.end+1] != ':' || b[last.end+2] != ' ' {
			return false
		}
		if first.start < 2 || b[first.start-2] != ' ' {
			return false
		}
		return k > 0 && lineStartBefore(b, ws[max(0, k-3)].start) && ws[k-1].start >= ls
	}
	// A header: "Label: Given Surname" and nothing after it on the line.
	if e-k < 2 || e-k > 3 || !(last.end == len(b) || b[last.end] == '\n' || b[last.end] == '\r') {
		return false
	}
	vs, ok := fieldValue(b, ls, first.start+1)
	if !ok || vs != first.start {
		return false
	}
	i := ls
	for i < first.start && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	le := wordEnd(b, i)
	return le+1 < len(b) && b[le] == ':' && headerFields[string(appendLower(d.buf[:0], b[i:le]))]
}

// relationBrackets reports whether " (relation till " follows end: the
// role of a chat speaker who is someone's relative ("(mamma till Alva)").
func (d *nameDetector) relationBrackets(b []byte, end int) bool {
	if end+2 >= len(b) || b[end] != ' ' || b[end+1] != '(' {
		return false
	}
	s, e, ok := nextWordAt(b, end+2)
	if !ok || s != end+2 {
		return false
	}
	s2, e2, ok := nextWordAt(b, e)
	if !ok || s2 != e+1 {
		return false
	}
	if d.facts(b[s:e]).strongCue {
		return string(appendLower(d.buf[:0], b[s2:e2])) == "till" // (mamma till Alva)
	}
	// (Vides mamma), (Omars pappa): a possessive, then a relation.
	if n := e - s; n < 3 || b[e-1] != 's' || e2 >= len(b) || b[e2] != ')' {
		return false
	}
	return d.facts(b[s2:e2]).strongCue
}

// bracketPossessive returns where the possessive of "(Vides mamma)" right
// after b[:end] stands, when relationBrackets found that form.
func (d *nameDetector) bracketPossessive(b []byte, end int) (start, stop int, ok bool) {
	if !d.relationBrackets(b, end) {
		return 0, 0, false
	}
	s, e, ok := nextWordAt(b, end+2)
	if !ok || b[e-1] != 's' {
		return 0, 0, false
	}
	if s2, e2, ok := nextWordAt(b, e); ok && s2 == e+1 && string(appendLower(d.buf[:0], b[s2:e2])) == "till" {
		return 0, 0, false // (mamma till Alva): Alva is found as the run she is
	}
	if l, u, _ := letterAt(b, s); !l || !u {
		return 0, 0, false
	}
	return s, e, true
}

// listItemName reports whether the run ws[k:e], two or three capitalised
// words, is an item of a comma list whose item before was found as a name
// ("Närvarande: Abdirahman Warfaa (ordf.), Senait Ghebremedhin,"): no word
// of it an ordinary word, a place, a role or a body, and the item ends at
// a comma, a full stop, "och" or the line's end.
func (d *nameDetector) listItemName(b []byte, ws []word, k, e int, dst []nameMatch) bool {
	if len(dst) == 0 {
		return false
	}
	prev := dst[len(dst)-1].end
	start := ws[k].start
	if prev >= start || start-prev > 24 {
		return false
	}
	gap := b[prev:start]
	if g := bytes.TrimRight(gap, " \n"); len(g) == 0 || g[len(g)-1] != ',' {
		return false
	} else if g = g[:len(g)-1]; len(g) > 0 {
		// Warfaa (ordf.), Senait: a bracket between is the item's note.
		g = bytes.TrimSpace(g)
		if len(g) < 2 || g[0] != '(' || g[len(g)-1] != ')' || bytes.ContainsAny(g[1:len(g)-1], "()\n,") {
			return false
		}
	}
	if bytes.Count(gap, []byte{'\n'}) > 1 {
		return false
	}
	// One word may split into ordinary words (Somchai) when another is
	// no compound.
	compounds := 0
	for j := k; j < e; j++ {
		w := ws[j]
		if w.shape != shapeCap || j > k && (!w.gapJoin || w.start != ws[j-1].end+1) {
			return false
		}
		wf := d.facts(b[w.start:w.end])
		if wf.commonCompound && wf.flags == 0 && !wf.cue && !wf.definite {
			compounds++
		} else if !d.nameable(b, w) {
			return false
		}
		if wf.common && wf.flags&(nameFlags|lexForeignGiven) == 0 || wf.flags&lexPlace != 0 && wf.flags&nameFlags == 0 ||
			wf.cue || wf.definite || wf.definiteCompound || wf.org || wf.venue || wf.company {
			return false
		}
	}
	if compounds > 1 {
		return false
	}
	end := ws[e-1].end
	if end == len(b) || b[end] == ',' || b[end] == '.' || b[end] == '\n' || b[end] == ';' {
		return true
	}
	s, en, ok := nextWordAt(b, end)
	return ok && s == end+1 && string(appendLower(d.buf[:0], b[s:en])) == "och"
}

// nicknameBrackets reports whether " (Word):" follows end: one
// capitalised word in brackets that is no ordinary word nor a role, right
// before a chat or log label's colon ("Pimchanok Srisuk (Ploy): …").
func (d *nameDetector) nicknameBrackets(b []byte, end int) bool {
	if end+2 >= len(b) || b[end] != ' ' || b[end+1] != '(' {
		return false
	}
	s := end + 2
	l, u, _ := letterAt(b, s)
	if !l || !u {
		return false
	}
	e := s + wordEnd(b[s:], 0)
	if e-s < 2 || e+1 >= len(b) || b[e] != ')' || b[e+1] != ':' {
		return false
	}
	wf := d.facts(b[s:e])
	// Nisse, Ploy; not Admin, Vikarie, Gäst.
	if wf.flags&lexEnglish != 0 || wf.common && wf.flags&(nameFlags|lexForeignGiven|lexWorld) == 0 {
		return false
	}
	return !wf.cue && !wf.definite && !wf.internalCap &&
		!wf.company && !wf.org && !wf.venue && wf.flags&(lexPlace|nameFlags) != lexPlace
}

// relationAfter reports whether " relation till X" follows end, X
// capitalised: the words before are the relative ("det är Senait mamma
// till Yonatan").
// kinBracket reports whether a bracket right after b[:end] says whose kin
// the word before is: "Senait (faster)", "minh (min son)", "Ali (hennes
// bror)". Like an age, it makes that word a person.
func (d *nameDetector) kinBracket(b []byte, end int) bool {
	if end+3 >= len(b) || b[end] != ' ' || b[end+1] != '(' {
		return false
	}
	s, e, ok := nextWordAt(b, end+2)
	if !ok || s != end+2 || e-s > 12 {
		return false
	}
	var lb [12]byte
	if first := appendLower(lb[:0], b[s:e]); possessivePronouns[string(first)] || string(first) == "sin" ||
		e-s > 3 && b[e-1] == 's' && upperFirst(b[s:e]) {
		// (min son), (Ekströms barnbarn, 16 år)
		if s, e, ok = nextWordAt(b, e); !ok || e-s > 12 {
			return false
		}
	}
	if e >= len(b) || b[e] != ')' && b[e] != ',' {
		return false
	}
	return bracketKin[string(appendLower(lb[:0], b[s:e]))]
}

// bracketKin name a relative in a bracket after a name (see kinBracket).
var bracketKin = map[string]bool{
	"son": true, "sonen": true, "dotter": true, "dottern": true, "bror": true, "brodern": true,
	"brorsan": true, "syster": true, "systern": true, "mamma": true, "pappa": true, "mor": true,
	"far": true, "faster": true, "moster": true, "farbror": true, "morbror": true, "farmor": true,
	"farfar": true, "mormor": true, "morfar": true, "kusin": true, "make": true, "maken": true,
	"maka": true, "makan": true, "fru": true, "frun": true, "man": true, "sambo": true,
	"sambon": true, "barnbarn": true, "svärmor": true, "svärfar": true, "styvpappa": true,
	"styvmamma": true, "bonuspappa": true, "bonusmamma": true, "syskon": true, "tvilling": true,
	"tvillingbror": true, "tvillingsyster": true, "granne": true, "grannen": true,
}

func (d *nameDetector) relationAfter(b []byte, end int) bool {
	s, e, ok := nextWordAt(b, end)
	if !ok || s != end+1 {
		return false
	}
	if l, u, _ := letterAt(b, s); !l || u || !d.facts(b[s:e]).strongCue {
		return false
	}
	s2, e2, ok := nextWordAt(b, e)
	if !ok || s2 != e+1 || string(appendLower(d.buf[:0], b[s2:e2])) != "till" {
		return false
	}
	s3, _, ok := nextWordAt(b, e2)
	if !ok || s3 != e2+1 {
		return false
	}
	l, u, _ := letterAt(b, s3)
	return l && u
}

func (d *nameDetector) evalRun(dst []nameMatch, b []byte, from int, ws []word, k, e int, pnrs []pnrMatch, prevRun int) []nameMatch {
	d.learnPlace(b, ws, k, e)
	first := ws[k]
	if e == k+1 && first.shape == shapeCap && kryaBefore(b, first.start) && d.nameable(b, first) {
		// "Krya på Milan!": a wish for a person, also one whose name is
		// an ordinary word.
		if wf := d.facts(b[first.start:first.end]); !wf.calendar && !wf.function && !wf.definite && !wf.cue &&
			(wf.seen || wf.flags&(nameFlags|lexForeignGiven) != 0 || d.unknownWord(b, first, wf)) {
			return d.emitWords(dst, b, from, ws, k, e, ruleCue)
		}
	}
	if first.shape == shapeCap && (first.gapSentence || k == 0) && first.end-first.start <= 8 &&
		(e-k >= 2 && ws[k+1].start == first.end+1 || e == k+1 && bytes.HasPrefix(b[first.end:], []byte(" "+tokenPrefix))) &&
		imperatives[string(appendLower(d.buf[:0], b[first.start:first.end]))] {
		// The name after the verb, alone; and before the name's token
		// the verb stays a verb, so that a second pass changes nothing.
		if e == k+1 {
			return dst
		}
		return d.evalRun(dst, b, from, ws, k+1, e, pnrs, k)
	}
	if e == k+1 && signatureInitials(b, first) {
		return d.emitWords(dst, b, from, ws, k, e, ruleSignature) // "… Kronan. /AB"
	}
	if e == k+1 && first.shape == shapeCap && signatureAt(b, first) {
		// "… efter lunch. /Kicki": a signer's name, when it is no ordinary
		// word nor a place, an office or a role (/Hemtjänsten, /Rektor).
		if wf := d.facts(b[first.start:first.end]); !wf.common && wf.flags&lexPlace == 0 && !wf.cue && !wf.org &&
			!wf.venue && !wf.company && !wf.definite && !wf.internalCap && d.nameable(b, first) {
			return d.emitWords(dst, b, from, ws, k, e, ruleSignature)
		}
	}
	if e == k+1 {
		// Most runs are one word that can be no name: a sentence starting
		// with Vi, Det, Enligt; a cue; a venue; an acronym's compound
		// (GDPR-rutinen, LOK-stödsansökan).
		if wf := d.facts(b[first.start:first.end]); !wf.seen && (wf.function || wf.preposition ||
			wf.conjunction || wf.cue && wf.flags&lexGiven == 0 || wf.company || wf.venue || wf.internalCap ||
			wf.placeSuffix || wf.commonTail && acronymHead(b[first.start:first.end])) {
			return dst
		}
		if (first.gapSentence || k == 0) && greetsAll(b, first.end) {
			return dst // "Salam alla.": a greeting of a group
		}
	} else if last := ws[e-1]; acronymHead(b[last.start:last.end]) && d.facts(b[last.start:last.end]).commonTail {
		e-- // "Enligt HSL-rutinen": no part of a name
		if e == k+1 && (first.gapSentence || k == 0) {
			if wf := d.facts(b[first.start:first.end]); wf.preposition || wf.function || wf.conjunction {
				return dst
			}
		}
	}
	if d.orgNameAfter(b, ws, k, e) {
		return dst // Romska kulturföreningen Baxtalo Drom, dansgruppen Los Cuequeros: the body's own name
	}
	if e-k == 2 && d.propertyDesignation(b, ws[k], ws[k+1]) || e-k == 1 && k > 0 && d.propertyDesignation(b, ws[k-1], ws[k]) {
		return dst // Tallåsa Ros 7, Lillby Vilja 4:12: a property, named after anything
	}
	if castRole(b, ws, k, e) {
		return dst // ROLLISTA / "Ronja Rövardotter ...... Saga Holmström": the role
	}
	if e-k <= 3 && quotedCell(b, ws[k].start, ws[e-1].end) &&
		!(e-k >= 2 && personShaped(d.facts(b[first.start:first.end]), d.facts(b[ws[e-1].start:ws[e-1].end]))) {
		return dst // a boat's, a horse's or a band's name alone in a table's cell: "Blå Saga"
	}
	if s, t := d.officeStretch(b, ws, k, e); s < t {
		// "Anna Berg, Key Account Manager", "Project Manager Anna Berg":
		// an English title is no part of a name; the words beside it are
		// read on their own.
		if s > k {
			dst = d.evalRun(dst, b, from, ws, k, s, pnrs, prevRun)
		}
		if t < e {
			dst = d.evalRun(dst, b, from, ws, t, e, pnrs, s)
		}
		return dst
	}
	if last := ws[e-1]; last.end < len(b) && b[last.end] == ':' && last.shape == shapeCap {
		// "Från: Johan Ek  Till: Kotten": a preposition or a function
		// word before a colon is a field's label, whatever the lists or
		// the document say.
		if wf := d.facts(b[last.start:last.end]); (wf.preposition || wf.function || wf.conjunction) && wf.flags&lexGiven == 0 ||
			mailLabels[string(appendLower(d.buf[:0], b[last.start:last.end]))] {
			if e == k+1 {
				return dst
			}
			e--
		}
	}
	if last := ws[e-1]; e > k+1 && last.shape == shapeCap && last.end-last.start <= 9 && numberAfter(b, last.end) && !yearsAfter(b, last.end) {
		var lb [12]byte
		if monthNames[string(appendLower(lb[:0], b[last.start:last.end]))] {
			e-- // "Nyhetsbrev Juni 2024": the month is no part of it
		}
	}
	if e == k+1 && first.shape == shapeCap && d.aloneNoName(b, ws, k) ||
		e == k+2 && first.shape == shapeCap && string(b[first.start:first.end]) == "Mb" { // Mb Parkinson: morbus
		return dst
	}
	if first.start < d.quoteEnd || d.quotedTitle(b, ws, k, pnrs) {
		return dst
	}
	// lex Sarah, lex Maria: a statute named after a person.
	if e == k+1 && k > 0 && first.gapJoin && ws[k-1].shape == shapeLower && ws[k-1].end-ws[k-1].start == 3 &&
		string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end])) == "lex" && !nearPnr(b, first.start, first.end, pnrs) {
		return dst
	}
	if e == k+2 && first.end-first.start == 3 && ws[k+1].start == first.end+1 &&
		string(appendLower(d.buf[:0], b[first.start:first.end])) == "lex" && !nearPnr(b, first.start, ws[k+1].end, pnrs) {
		return dst // enligt Lex Sarah
	}
	// "har vi läst Pippi Långstrump och Emil i Lönneberga": the titles of
	// works.
	if d.afterWorkCue(b, ws, k) ||
		d.titleEnd > 0 && (d.titleEnd == k && b[ws[k-1].end] == ',' && first.gapCueOK && !first.gapSentence ||
			d.titleAfterConjunction(b, ws, k)) {
		seen := false
		for j := k; j < e; j++ {
			if ws[j].shape != shapeLower && d.facts(b[ws[j].start:ws[j].end]).seen {
				seen = true
			}
		}
		if !seen {
			d.titleEnd = e
			return dst
		}
	}
	// Things named after people are not the person; asked only once a rule
	// would take the run as a name.
	thing := func() bool {
		if pronounPartner(b, ws[e-1].end) {
			return false // "i personalrummet Anna Berg och jag": people
		}
		if !d.namedThing(b, ws, k, e) && !d.venueAround(b, ws, k, e) && !d.shopName(b, ws, k, e) && !d.vehicle(b, ws, k, e) &&
			!d.productAfterIn(b, ws, k, e) && !d.firmTail(b, ws, k, e) && !d.productFirst(b, ws, k, e) &&
			!d.venueFirst(b, ws, k, e) && !d.orgAfter(b, ws, k, e) && !d.placePrefixed(b, ws, k, e) &&
			!propertyAfter(b, ws[e-1].end) && !d.firmHead(b, ws, k, e) && !d.buildingAfter(b, ws[e-1].end) &&
			!numeralAfter(b, ws[e-1].end) && !numeralIn(b, ws, k, e) && !d.placeSlashBefore(b, ws, k) &&
			!(e-k >= 2 && ws[k].shape == shapeCap && d.bodyBefore(b, ws, k, k+1, e) && columnGapIn(b, ws, k+1, e) < 0) &&
			!(e-k >= 2 && ws[e-1].shape == shapeCap && columnGapIn(b, ws, k+1, e) < 0 && d.facts(b[ws[e-1].start:ws[e-1].end]).org) {
			return false
		}
		// "Gunvor och Josef Anérs stiftelse": the run before "och" is part
		// of the same name.
		if prevRun >= 0 && k >= 2 && ws[k-1].shape == shapeLower && first.gapJoin && ws[k-1].gapJoin &&
			d.facts(b[ws[k-1].start:ws[k-1].end]).conjunction && prevRun < k-1 {
			start := ws[prevRun].start
			for len(dst) > 0 && dst[len(dst)-1].start >= start {
				d.forget(b[dst[len(dst)-1].start:dst[len(dst)-1].end])
				dst = dst[:len(dst)-1]
			}
		}
		return true
	}
	// Pippi Långstrump, Emil i Lönneberga: a character, whatever the cue
	// before it, unless the document has used a word of it for a person.
	if d.character(b, ws, k, e) {
		return dst
	}
	// jämthunden Tyra, ett marsvin som heter Doris: an animal's name.
	if d.animal(b, ws, k, e, pnrs) {
		return dst
	}
	// A chat speaker: the names among the words of the label.
	speaker, loose := speakerLine(b, ws, k, e)
	if speaker && e == k+1 && first.end-first.start <= 12 {
		var lb [12]byte
		if directionLabels[string(appendLower(lb[:0], b[first.start:first.end]))] {
			return dst // "2024-04-02 08:31 IN: ja det passar": an SMS log's direction
		}
	}
	if speaker && loose {
		// Only a label that starts with a given name, or one whose
		// brackets say whose relative the speaker is: "Bror (morfar till
		// Elsa):", "Kourosh (pappa till Mina):".
		wf := d.facts(b[first.start:first.end])
		// An SMS log's "Bror 18:10:": with the time, a relation word that
		// is a Swedish given name labels its sender, not a brother.
		timed := e == k+1 && timeAfter(b, first.end) > first.end && wf.flags&lexGiven != 0
		speaker = first.shape == shapeCap && e-k <= 3 && !wf.calendar && !wf.function &&
			((!wf.cue || timed) && (wf.seen || wf.flags&(lexGiven|lexForeignGiven) != 0) ||
				d.relationBrackets(b, ws[e-1].end) && d.nameable(b, first) && !wf.definite &&
					(!wf.cue || wf.flags&(lexGiven|lexForeignGiven) != 0) ||
				e-k >= 2 && !wf.cue && !wf.common && !wf.definite && d.nameable(b, first) && d.nicknameBrackets(b, ws[e-1].end) ||
				e-k == 2 && !wf.cue && !wf.definite && (!wf.common || wf.flags&(nameFlags|lexForeign|lexForeignGiven|lexWorld) != 0) &&
					d.nameable(b, first) && d.roleWord(b[ws[k+1].start:ws[k+1].end]))
		// "Kalle Scoutledare:": a name and the speaker's role.
		if speaker {
			// "Sanna (Vides mamma):": the child's name is one too.
			if ps, pe, ok := d.bracketPossessive(b, ws[e-1].end); ok {
				d.remember(b[ps : pe-1])
			}
		}
		if speaker && e-k >= 2 && d.nicknameBrackets(b, ws[e-1].end) {
			// "Pimchanok Srisuk (Ploy): …": the nickname is hers, here
			// and further on.
			d.remember(b[ws[e-1].end+2 : ws[e-1].end+2+wordEnd(b[ws[e-1].end+2:], 0)])
		}
	}
	if speaker {
		if thing() {
			return dst
		}
		named := false // a word of the label before this one is a name
		for j := k; j < e; j++ {
			w := ws[j]
			if w.shape == shapeLower || !d.nameable(b, w) || j > k && d.roleWord(b[w.start:w.end]) {
				continue // … and a role is none: "Kalle Scoutledare:", "Beslutande LSS-handläggare:"
			}
			wf := d.facts(b[w.start:w.end])
			// An ordinary word needs a given-name list, or the document,
			// behind it: "- Morgon: hjälp med dusch" is a schedule, and
			// "Natt Väster:", "Lunch:" no one. After a name in the label
			// the weakest list will do: "Jonatan Kask:".
			listed := wf.flags&(nameFlags|lexForeign|lexWorld|lexForeignGiven) != 0 && (wf.flags&lexPlace == 0 || wf.flags&nameFlags != 0) &&
				(!wf.common || wf.flags&(lexGiven|lexForeignGiven|lexSurname) != 0 ||
					(named || wf.flags&(lexForeign|nameFlags) != 0) && !bulletBefore(b, ws[k].start))
			// After a name, a surname by its form: "Lo Bergkvist:".
			shaped := named && w.shape == shapeCap && j == e-1 && wf.surnameShape && !wf.definite && !wf.org && !wf.venue
			if loose && j == k || wf.seen || listed || !wf.common && !wf.definiteCompound || shaped {
				dst = d.emitWords(dst, b, from, ws, j, j+1, ruleSpeaker)
				named = true
			}
		}
		return dst
	}
	// "Möte med Milans pappa", "Vides mamma hämtar": a given name's
	// possessive before a kin word is a person's.
	if e == k+1 && first.shape == shapeCap && d.kinPossessive(b, first) {
		if first.start >= from {
			dst = append(dst, nameMatch{start: first.start, end: first.end - 1, rule: ruleCue})
		}
		d.remember(b[first.start : first.end-1])
		return dst
	}
	// Two or three capitalised words that the context makes a person's
	// name whatever the lists say: a signature at a line start ("/Vår
	// Lindgren", a surname last) or a subject whose spouse follows
	// ("Somchai Wongsawat och hans fru Malee").
	if e-k >= 2 && e-k <= 3 && d.listItemName(b, ws, k, e, dst) {
		if thing() {
			return dst
		}
		return d.emitWords(dst, b, from, ws, k, e, ruleListItem)
	}
	// "fru Alm", "herr Lind": after a title the word is a surname,
	// whatever else it means.
	if e-k <= 2 && k > 0 && first.gapJoin && ws[k-1].shape == shapeLower && first.shape != shapeUpper &&
		titleCues[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))] && d.nameable(b, first) &&
		!d.facts(b[first.start:first.end]).definite {
		if thing() {
			return dst
		}
		return d.emitWords(dst, b, from, ws, k, e, ruleCue)
	}
	if e-k <= 3 && (e-k >= 2 && d.wholeRunName(b, ws, k, e) || d.headerOrBracketName(b, ws, k, e)) {
		if thing() {
			return dst
		}
		return d.emitWords(dst, b, from, ws, k, e, ruleCue)
	}
	// "Sten och grus till gångarna": an ordinary word the document also
	// uses as a name, at a sentence start before "och" and another
	// ordinary word in lower case, is that word.
	if e == k+1 && (first.gapSentence || k == 0) && d.commonPair(b, first) {
		return dst
	}
	// "Ros kan man beskära": an ordinary word the document also uses as a
	// name, but here the object before verb and subject.
	if e == k+1 && (first.gapSentence || k == 0) && d.facts(b[first.start:first.end]).seen && d.objectFirst(b, first) {
		return dst
	}
	// "Vår utflykt blir av": a function word the document also uses as a
	// name, here at a sentence start before a lower-case word that is no
	// verb.
	if e == k+1 && (first.gapSentence || k == 0) && first.shape == shapeCap {
		if wf := d.facts(b[first.start:first.end]); wf.seen && wf.function {
			if ns, ne, ok := nextWordAt(b, first.end); ok && ns == first.end+1 {
				if l, u, _ := letterAt(b, ns); l && !u && !subjectVerbs[string(appendLower(d.buf[:0], b[ns:ne]))] {
					return dst
				}
			}
		}
	}
	// An ordinary word capitalised mid-sentence, with no list behind it,
	// and the subject of the verb after it: "och Tindra hittade en groda".
	// Mid-sentence a capital says proper noun, and the verb says who.
	if e == k+1 && first.shape == shapeCap && !first.gapSentence && first.gapJoin && k > 0 && ws[k-1].shape == shapeLower &&
		!lineStartBefore(b, first.start) && !d.placeBefore(b, ws[k-1]) {
		if wf := d.facts(b[first.start:first.end]); wf.common && wf.flags == 0 && !wf.definite && !wf.definiteCompound &&
			!wf.seen && !wf.cue && !wf.function && !wf.calendar && !wf.placeSuffix && !wf.venue && !wf.org && !wf.company &&
			runeLen(b[first.start:first.end]) >= 3 {
			if s, e2, ok := nextWordAt(b, first.end); ok && s == first.end+1 {
				var vb [16]byte
				if v := appendLower(vb[:0], b[s:min(e2, s+len(vb))]); (animateVerbs[string(v)] || subjectVerbs[string(v)]) && d.nameable(b, first) {
					if thing() {
						return dst
					}
					return d.emitWords(dst, b, from, ws, k, e, ruleSubject)
				}
			}
		}
	}
	// One capitalised word that starts a sentence and is the subject of the
	// verb after it: "Dmytro har ringt", "Milan gjorde två mål", "Saga och
	// Bror ritade".
	if e == k+1 && first.shape == shapeCap && d.nameable(b, first) {
		wf := d.facts(b[first.start:first.end])
		if d.forcedEnd == first.end && verbPartner(wf) {
			if thing() {
				return dst
			}
			return d.emitWords(dst, b, from, ws, k, e, ruleSubject)
		}
		clause := first.gapSentence || k == 0 || lineStartBefore(b, first.start) ||
			wf.foreignLetters && wf.flags == 0 && first.start >= 2 && b[first.start-2] == ',' && b[first.start-1] == ' '
		mid := k > 0 && ws[k-1].shape == shapeLower && first.gapJoin && !first.gapSentence
		if (clause || mid) && pronounPartner(b, first.end) && (verbSubject(wf) || d.unknownWord(b, first, wf)) {
			if thing() {
				return dst
			}
			return d.emitWords(dst, b, from, ws, k, e, rulePronounPartner) // "Senait och jag samåker", "till Volodymyr eller mig"
		}
		if clause {
			if ok, partner := d.verbFollows(b, first.end); ok {
				if verbSubject(wf) || partner == 0 && d.unknownSubject(b, first, wf) {
					if thing() {
						return dst
					}
					if partner > 0 {
						d.forcedEnd = partner
					}
					return d.emitWords(dst, b, from, ws, k, e, ruleSubject)
				}
				if partner > 0 {
					// "Vilda och Ture hittade": the second may carry the first.
					ps, _, _ := nextWordAt(b, first.end)
					if ps2, pe2, ok := nextWordAt(b, ps+3); ok && pe2 == partner {
						if pf := d.facts(b[ps2:pe2]); verbSubject(pf) && verbPartner(wf) {
							if thing() {
								return dst
							}
							d.forcedEnd = partner
							return d.emitWords(dst, b, from, ws, k, e, ruleSubject)
						}
					}
				}
			}
		}
	}
	// A cue reaches the next line, but not from the end of a register
	// line in capitals to the next such line ("… KOPIERAD FRAN VH\nANTAL
	// LASTA"); a role alone on its line still does (SJUKSKÖTERSKA\nSTIG ÖRN).
	cueOK := first.gapCueOK && !(k > 0 && ws[k-1].shape == shapeUpper && first.shape == shapeUpper &&
		bytes.IndexByte(b[ws[k-1].end:first.start], '\n') >= 0 && !lineStartBefore(b, ws[k-1].start)) &&
		!(k > 0 && timeAfter(b, ws[k-1].end) > ws[k-1].end) // "Mamma 18:40: Ring mig": a sender's label and a message
	// The word before is context unless a sentence ends between.
	prevContext := k > 0 && !first.gapSentence
	var before wordFacts // of the word before the run, when it may matter
	if k > 0 && (prevContext || cueOK || first.gapJoin) {
		before = d.facts(b[ws[k-1].start:ws[k-1].end])
	}
	cue := false
	// "Från: EMIR BEGOVIĆ", "Kopia: A. Frisk": a mail's header labels a
	// person (or an office, which the rules of offices keep).
	mailLabel := k > 0 && cueOK && ws[k-1].end < len(b) && b[ws[k-1].end] == ':' && ws[k-1].end-ws[k-1].start <= 10 &&
		mailHeaderWords[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))]
	if mailLabel {
		// A strong cue before a word some name list holds (EMIR); before
		// others a weak one ("Från: Bostadsanpassning" is an office).
		before.cue = true
		ff := d.facts(b[first.start:first.end])
		before.strongCue = ff.flags&(nameFlags|lexForeign|lexForeignGiven|lexWorld) != 0 && !ff.org && !ff.definite
	}
	if k > 0 && cueOK && !before.strongCue && d.bracketLabelCue(b, first.start) {
		// "Tolk (thailändska): Kanokwan Srisuk": a role, what it is for
		// in brackets, and the colon of a label.
		before.cue, before.strongCue = true, true
	}
	if k > 0 && cueOK {
		cue = before.cue
		if cue && ws[k-1].start > 0 && b[ws[k-1].start-1] == '/' && bytes.IndexByte(b[ws[k-1].end:first.start], '\n') >= 0 {
			cue = false // a signer's role at a line end: "… /usk\n08:10 Kvällsbesök"
		}
		if cue && ws[k-1].start >= 2 && b[ws[k-1].start-2] == ',' && b[ws[k-1].start-1] == ' ' &&
			bytes.IndexByte(b[ws[k-1].end:first.start], '\n') >= 0 && !before.conjunction &&
			!greetings[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))] {
			// "… Sanna Höglund, undersköterska\nMorgonbesök.": the role of
			// the name before it, at the line's end.
			cue = false
		}
		if cue && bytes.Count(b[ws[k-1].end:first.start], []byte{'\n'}) >= 2 &&
			!signoffs[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))] {
			cue = false // over a blank line only a greeting reaches: "…, kyrkoherde\n\nLuciakväll"
		}
		// "Anna och Björn", "Svensson, Anna": a name just before carries over.
		if !cue && before.conjunction && k > 1 && ws[k-1].gapJoin && len(dst) > 0 && dst[len(dst)-1].end >= ws[k-2].start {
			cue = true
		}
	}
	// "mamma till Ebbe", "handläggare till Milo": a role or relation and
	// "till" cue the word after as a person, as the role alone would.
	relationTill := k > 1 && first.gapJoin && ws[k-1].gapJoin && ws[k-1].shape == shapeLower &&
		string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end])) == "till" &&
		d.facts(b[ws[k-2].start:ws[k-2].end]).strongCue
	// "/Anna", "Anna/Björn": a slash right before; not one further back
	// on the line before ("… /usk\n08:10 Kvällsbesök").
	if first.gapSlash && bytes.LastIndexByte(b[:first.start], '/') > bytes.LastIndexByte(b[:first.start], '\n') || relationTill {
		cue = true
	}
	if !cue && len(dst) > 0 && k > 0 && dst[len(dst)-1].end >= ws[k-1].start && ws[k-1].shape != shapeLower {
		// Directly after a name in the previous run ("Svensson, Anna"),
		// but not in the next column of a table (Ryttare  Häst).
		cue = cueOK && !first.gapSentence && !columnGap(b, ws[k-1].end, ws[k-1].end)
	}
	runPnr := nearPnr(b, ws[k].start, ws[e-1].end, pnrs)
	// "Aram (9 år)", "Hêvî (4 mån)": an age right after the run is a
	// person's, as a personnummer is.
	runAge := !runPnr && (ageAfter(b, ws[e-1].end) || d.kinBracket(b, ws[e-1].end))
	if runPnr || runAge {
		cue = true
	}
	if !cue && d.relationAfter(b, ws[e-1].end) {
		cue = true // "det är Senait mamma till Yonatan"
	}
	institution := false
	if k > 0 && first.gapJoin && ws[k-1].shape != shapeLower && before.institutional() {
		institution = true
	}
	if prevContext && before.placeNoun && !bytes.ContainsAny(b[ws[k-1].end:first.start], ",)") {
		institution = true
	}
	if k > 0 && first.gapJoin && before.org {
		institution = true // föreningen Newroz, Scoutkåren Vildmarken
	}
	total, capable := 0, 0
	infos := d.infos[:0]
	for j := k; j < e; j++ {
		w := ws[j]
		if w.shape == shapeLower { // particle
			infos = append(infos, wordInfo{})
			continue
		}
		c := wordContext{pnr: runPnr || runAge}
		if w.shape == shapeUpper {
			c.capsLine = d.capsLine(b, w.start)
			c.capsNeighbour = j > k && ws[j-1].shape == shapeUpper || j+1 < e && ws[j+1].shape == shapeUpper
		}
		if wf := d.facts(b[w.start:w.end]); wf.cue && wf.flags&lexGiven != 0 && !w.gapSentence && j+1 < e && ws[j+1].gapJoin &&
			!titleCues[string(appendLower(d.buf[:0], b[w.start:w.end]))] &&
			(w.shape == shapeCap && ws[j+1].shape == shapeCap ||
				w.shape == shapeUpper && ws[j+1].shape == shapeUpper && j > k && d.facts(b[ws[j-1].start:ws[j-1].end]).strongCue) {
			// tandhygienist Bror Lund; Patienten BROR SKOG
			c.cueAsName = true
		} else if wf.cue && wf.flags&lexGiven != 0 && e == k+1 && w.shape == shapeCap && !w.gapSentence && w.gapJoin &&
			k > 0 && ws[k-1].shape == shapeLower && !titleCues[string(appendLower(d.buf[:0], b[w.start:w.end]))] {
			// "sonen Bror kommer", "tittat på Bror": a relation word
			// that is a given name too, capitalised mid-sentence.
			c.cueAsName = true
		}
		if j == e-1 {
			c.conjName = d.nameFollowsConjunction(b, w.end)
		}
		c.paren = ws[k].start > 0 && b[ws[k].start-1] == '(' && ws[e-1].end < len(b) && b[ws[e-1].end] == ')'
		if j == k {
			c.locative = prevContext && before.preposition
			c.inLocative = prevContext && before.inPreposition
			c.institution = institution
			c.strongCue = k > 0 && first.gapJoin && before.strongCue || runAge
			c.greeting = c.strongCue && k > 0 && greetings[string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))]
			c.relationCue = c.strongCue && k > 0 && relationCueWord(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end]))
			if runAge && e == k+1 && !d.facts(b[first.start:first.end]).definite {
				// An age says person as a relation does, for an ordinary
				// word too: Tindra (2 år), Vide (3 år).
				c.relationCue = true
			}
			c.labelCue = k > 0 && cueOK && before.strongCue
			c.hos = k > 0 && first.gapJoin && ws[k-1].shape == shapeLower && ws[k-1].end-ws[k-1].start == 3 &&
				string(appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end])) == "hos"
			if k > 0 && first.gapJoin && ws[k-1].shape == shapeLower {
				pl := appendLower(d.buf[:0], b[ws[k-1].start:ws[k-1].end])
				// … or any past tense in -ade: "direkt efter spelade Nova fram".
				c.afterVerb = subjectVerbs[string(pl)] || len(pl) >= 6 && bytes.HasSuffix(pl, []byte("ade")) && d.lx.isCommon(pl)
			}
			if relationTill {
				// The relation names the person; "till" is no place
				// preposition here.
				c.strongCue, c.relationCue, c.locative, c.inLocative = true, true, false, false
			}
		} else if p := ws[j-1]; p.shape == shapeInitial {
			c.afterInitial = true
			c.namedInitial = p.end-p.start > 1 || !p.gapSentence || !lineStartBefore(b, p.start)
		} else if p := ws[j-1]; p.shape == shapeUpper && w.shape == shapeCap && !infos[j-1-k].capable &&
			!d.facts(b[p.start:p.end]).cue {
			c.afterAcronym = true
			c.afterClub = clubAcronyms[string(b[p.start:p.end])]
		} else if ws[j-1].shape != shapeLower && !infos[j-1-k].capable {
			// Cues and institutions are never capable themselves.
			pf := d.facts(b[ws[j-1].start:ws[j-1].end])
			c.institution = pf.institutional()
			c.strongCue = pf.strongCue
			c.greeting = pf.strongCue && greetings[string(appendLower(d.buf[:0], b[ws[j-1].start:ws[j-1].end]))]
			c.relationCue = c.strongCue && w.gapJoin && relationCueWord(appendLower(d.buf[:0], b[ws[j-1].start:ws[j-1].end]))
		}
		inf := d.info(b, &ws[j], c)
		if inf.capable && d.calendarWord(b, ws, j, k, e) {
			inf = wordInfo{}
		}
		if inf.capable && !inf.seen && d.verbBeforeInitial(b, ws, j, k, e) {
			inf = wordInfo{}
		}
		infos = append(infos, inf)
		if inf.capable {
			capable++
			total += int(inf.score)
		}
	}
	// A capitalised word the lists rule out, between two words that are
	// names by themselves, is a middle name: Ahmad Shah Popal, Anna Maj
	// Lind.
	for j := 1; j+1 < len(infos); j++ {
		w := ws[k+j]
		if infos[j].capable || w.shape != shapeCap || !w.gapJoin || !ws[k+j+1].gapJoin ||
			!infos[j-1].capable || !infos[j+1].capable || infos[j-1].score < 2 || infos[j+1].score < 2 ||
			ws[k+j-1].shape != shapeCap || ws[k+j+1].shape != shapeCap {
			continue
		}
		if wf := d.facts(b[w.start:w.end]); !wf.cue && !wf.venue && !wf.company && !wf.org && !wf.placeNoun &&
			!wf.function && !wf.preposition && !wf.conjunction && !wf.institutional() && !wf.calendar {
			infos[j] = wordInfo{capable: true, stemEnd: w.end}
			capable++
		}
	}
	// The last word of the run, after a given name, that the lists hold
	// as a place or the dictionary as a word, but that ends like a surname
	// (-berg, -kvist, -ström): the surname. "Hanna Lindeberg", "Lo
	// Bergkvist".
	if n := len(infos); n >= 2 {
		w, p := ws[k+n-1], ws[k+n-2]
		if !infos[n-1].capable && w.shape == shapeCap && p.shape == shapeCap && w.gapJoin && w.start == p.end+1 &&
			infos[n-2].capable && infos[n-2].score >= 2 {
			pf := d.facts(b[p.start:p.end])
			wf := d.facts(b[w.start:w.end])
			if pf.flags&(lexGiven|lexForeignGiven) != 0 && wf.surnameShape && wf.flags&nameFlags == 0 && !wf.definite &&
				!wf.org && !wf.venue && !wf.placeNoun && !wf.placeSuffix && !wf.company && !wf.cue && !wf.calendar {
				infos[n-1] = wordInfo{capable: true, score: 2, stemEnd: w.end}
				capable++
			}
		}
	}
	// In a line of capitals an ordinary word tells nothing (RING, BERG),
	// but one that a name list holds, right after a given name, is the
	// rest of the name: HELENA SKOG, NGUYỄN THỊ HOA.
	for j := 1; j < len(infos); j++ {
		w, p := ws[k+j], ws[k+j-1]
		if infos[j].score != 0 || w.shape != shapeUpper || p.shape != shapeUpper ||
			!w.gapJoin || !infos[j-1].capable || infos[j-1].score < 1 {
			continue
		}
		capsLine := d.capsLine(b, w.start)
		if !capsLine && !(e-k == 2 && cellStart(b, p.start) && cellEnd(b, w.end)) {
			continue // in mixed text, only a cell of its own: Handläggare: STEN LJUNG
		}
		wf := d.facts(b[w.start:w.end])
		pGiven := d.facts(b[p.start:p.end]).flags&(lexGiven|lexForeignGiven) != 0
		plain := !wf.cue && !wf.function && !wf.preposition && !wf.conjunction && !wf.venue && !wf.company &&
			!wf.calendar && !wf.inPreposition
		// A given name somewhere between two words that are names
		// (NGUYEN VAN MINH); an ordinary word that makes up a register's
		// cell with a given name before it (VIKTOR HÄGG, in a column).
		middle := wf.flags&(lexGiven|lexForeignGiven) != 0 && j+1 < len(infos) && infos[j+1].capable &&
			infos[j+1].score >= 2 && ws[k+j+1].shape == shapeUpper && ws[k+j+1].gapJoin
		cell := pGiven && e-k == 2 && wf.flags&lexPlace == 0 && !wf.definite && !wf.placeNoun &&
			!wf.placeSuffix && cellStart(b, p.start) && cellEnd(b, w.end) && !cellEnd(b, p.end)
		if plain && (capsLine && wf.flags&(nameFlags|lexForeign|lexForeignGiven) != 0 && (pGiven || middle) && infos[j-1].score >= 2 || cell) {
			if !infos[j].capable {
				capable++
			}
			infos[j] = wordInfo{capable: true, score: 1, stemEnd: w.end}
			total++
		}
	}
	// Split the run at words that cannot be names: "Anna Skolan" is Anna.
	// Evaluate each capable stretch on its own.
	checkedThing := false
	for s := 0; s < len(infos); {
		if ws[k+s].shape == shapeLower || !infos[s].capable {
			s++
			continue
		}
		t := s
		for t < len(infos) && (infos[t].capable || ws[k+t].shape == shapeLower) {
			if ws[k+t].shape == shapeLower {
				n := t + 1
				if n < len(infos) && ws[k+n].shape == shapeLower {
					n++ // de la Cruz
				}
				if n >= len(infos) || !infos[n].capable {
					break
				}
			}
			t++
		}
		next := t
		// In a line of capitals an ordinary word at either end is no part
		// of the name next to it (RING KARIM VID FÖRSENING).
		if ws[k+s].shape == shapeUpper && d.capsLine(b, ws[k+s].start) {
			for s < t && infos[s].score == 0 && ws[k+s].shape == shapeUpper && d.facts(b[ws[k+s].start:ws[k+s].end]).common {
				s++
			}
			for t > s && infos[t-1].score == 0 && ws[k+t-1].shape == shapeUpper && d.facts(b[ws[k+t-1].start:ws[k+t-1].end]).common {
				t--
			}
			if s == t {
				s = next
				continue
			}
		}
		sum, n := 0, 0
		for j := s; j < t; j++ {
			if ws[k+j].shape == shapeLower {
				continue
			}
			sum += int(infos[j].score)
			if ws[k+j].shape != shapeInitial {
				n++
			}
		}
		stretchCue := cue && s == 0
		if s > 0 {
			prev := ws[k+s-1]
			pf := d.facts(b[prev.start:prev.end])
			stretchCue = prev.shape != shapeLower && ws[k+s].gapCueOK && pf.cue
			if prev.shape != shapeLower && (pf.venue || s == 1 && d.venueHead(b[prev.start:prev.end], e-k) || d.bodyBefore(b, ws, k+s-1, k+s, k+t)) {
				// Rum Astrid Lindgren, Sal Selma Lagerlöf; Syföreningen
				// Martha. The venue's name ends at a column's gap: in
				// "Barnbiblioteket Sagogrottan  Liv Sehlstedt" the booker
				// follows.
				if g := columnGapIn(b, ws, k+s+1, k+t); g >= 0 {
					s = g - k
				} else {
					s = next
				}
				continue
			}
		}
		if t < len(infos) && ws[k+t].shape != shapeLower && ws[k+t].gapJoin {
			nf := d.facts(b[ws[k+t].start:ws[k+t].end])
			named := nf.venue
			if !named && nf.flags&nameFlags == 0 && !nf.seen {
				nl := appendLower(d.buf[:0], b[ws[k+t].start:ws[k+t].end])
				named = hasSuffix(nl, streetSuffixes) || hasSuffix(nl, institutionSuffixes)
			}
			if named {
				s = next // Vera Café; Sten Sturegatan, Raoul Wallenbergskolan: named after a person
				continue
			}
		}
		last := ws[k+t-1]
		if !stretchCue && runPnr {
			stretchCue = nearPnr(b, ws[k+s].start, last.end, pnrs)
		}
		if !stretchCue && runAge {
			stretchCue = t == len(infos)
		}
		if !stretchCue && n > 0 && sum >= 1 && (t == len(infos) ||
			ws[k+t].shape == shapeUpper && d.facts(b[ws[k+t].start:ws[k+t].end]).conjunction) {
			// Emir och Lejla; in capitals the conjunction is part of the
			// run: ZORAN OCH LINNÉA.
			stretchCue = d.nameFollowsConjunction(b, last.end)
		}
		isName := sum >= 3 || (stretchCue && n > 0 && sum >= 1) || (n >= 2 && sum >= 2)
		givenFirst := false
		if n == 0 {
			isName = false // initials alone
		}
		if isName && d.namesPlaceOrFirm(b, last.end, infos[t-1].stemEnd < last.end || b[last.end-1] == 's') {
			isName = false
		}
		if s <= 1 && t == 2 && e-k == 2 && cue && d.cuedGivenWord(b, ws, k, infos[0]) {
			// "Elev: Tindra Björk", "Arbetsterapeut Vår Lindgren": after a
			// role, an ordinary word and a surname are the person.
			s = 0
			isName = true
			givenFirst = true
		} else if s <= 2 && t == 3 && e-k == 3 && !infos[0].capable {
			// The role capitalised at a sentence start, in the run:
			// "Arbetsterapeut Vår Lindgren har intygat".
			if rf := d.facts(b[ws[k].start:ws[k].end]); d.roleWord(b[ws[k].start:ws[k].end]) && rf.flags&(lexGiven|lexForeignGiven) == 0 &&
				ws[k+1].gapCueOK && d.cuedGivenWord(b, ws, k+1, infos[1]) {
				s = 1
				isName = true
				givenFirst = true
			}
		}
		// ... but not before a given name when it is none in any list:
		// "Gäller Sahra Abdi Warsame" (regarding).
		if s > 0 && d.givenBeforeSurname(b, ws, k+s-1, infos[s-1]) &&
			!(!d.givenEvidence(b, ws[k+s-1]) && d.givenEvidence(b, ws[k+s]) && !d.facts(b[ws[k+s].start:ws[k+s].end]).common) &&
			(isName && (runPnr || d.givenEvidence(b, ws[k+s-1])) ||
				t == s+1 && d.surnameOnly(b, ws[k+s]) && infos[s].score >= 2 &&
					(!ws[k+s-1].gapSentence || cellStart(b, ws[k+s-1].start))) {
			// "Tolvan Tolvansson 19121212-1212", "Hon ringde om Tolvan
			// Tolvansson": an ordinary word, capitalised, right before a
			// surname is its first name.
			infos[s-1].stemEnd = ws[k+s-1].end
			s--
			isName = true
			givenFirst = true
		}
		if isName && !checkedThing {
			checkedThing = true
			if thing() {
				d.infos = infos
				return dst
			}
		}
		if isName {
			rule := ruleLists
			switch {
			case givenFirst:
				rule = ruleGivenSurname
			case stretchCue && runPnr:
				rule = ruleNearPnr
			case stretchCue && runAge:
				rule = ruleAge
			case stretchCue:
				rule = ruleCue
			}
			allSeen := true
			for j := s; j < t; j++ {
				if w := ws[k+j]; w.shape != shapeLower && w.shape != shapeInitial && !infos[j].seen {
					allSeen = false
				}
			}
			if allSeen && !givenFirst {
				rule = ruleSeen
			}
			for j := s; j < t; j++ {
				w := ws[k+j]
				if w.shape == shapeLower {
					continue
				}
				if w.shape != shapeInitial && !infos[j].seen {
					d.remember(b[w.start:infos[j].stemEnd])
				}
				if w.start < from {
					continue
				}
				dst = append(dst, nameMatch{start: w.start, end: infos[j].stemEnd, rule: rule})
			}
		}
		s = next
	}
	d.infos = infos
	return dst
}

// columnStart reports whether b[i] starts a cell of a table laid out with
// tabs or two spaces or more.
func columnStart(b []byte, i int) bool {
	return i >= 2 && (b[i-1] == '\t' || b[i-1] == ' ' && (b[i-2] == ' ' || b[i-2] == '\t'))
}

// relationCueWord reports whether the person cue lower is a role or a
// relation in definite form (dottern, grannen, läkaren), not a greeting.
func relationCueWord(lower []byte) bool {
	return len(lower) >= 5 && lower[len(lower)-1] == 'n' && !greetings[string(lower)]
}

// definiteCue reports whether lower is a person cue that is not a weak
// one, as it is or in definite form (mamman, läkaren).
func definiteCue(lower []byte) bool {
	if personCues[string(lower)] {
		return !weakCues[string(lower)]
	}
	for _, suf := range [...]string{"en", "n"} {
		if stem := lower[:len(lower)-len(suf)]; bytes.HasSuffix(lower, []byte(suf)) && len(stem) >= 4 &&
			personCues[string(stem)] && !weakCues[string(stem)] {
			return true
		}
	}
	return false
}

// verbBeforeInitial reports whether ws[j], the first word of the run
// ws[k:e], starts a sentence or a line and is an ordinary word that no
// list holds as a given name, right before an initial: "Ring S. Demir",
// "Maila T. Haugen" are an imperative and a name. A given name stands
// before a middle initial (Anna S. Demir) as the lists say.
func (d *nameDetector) verbBeforeInitial(b []byte, ws []word, j, k, e int) bool {
	w := ws[j]
	if j != k || j+1 >= e || ws[j+1].shape != shapeInitial || w.shape != shapeCap || !(w.gapSentence || j == 0) {
		return false
	}
	wf := d.facts(b[w.start:w.end])
	if wf.seen || wf.flags&lexGiven != 0 && !wf.common {
		return false
	}
	return wf.common || wf.flags&(lexGiven|lexForeignGiven) == 0 ||
		subjectVerbs[string(appendLower(d.buf[:0], b[w.start:w.end]))]
}

// calendarWord reports whether ws[j] is a weekday or month word among
// others of its kind or before a date or time (Mån Tis Ons Tor, Fre 7/6).
func (d *nameDetector) calendarWord(b []byte, ws []word, j, k, e int) bool {
	w := ws[j]
	if !d.facts(b[w.start:w.end]).calendar {
		return false
	}
	for _, n := range []int{j - 1, j + 1} {
		// Next to a day or month with only a space between (Maj Juni,
		// Måndag Maj), not over a colon: "Onsdag: Maj Lundqvist".
		if n >= 0 && n < len(ws) && ws[n].shape != shapeLower && ws[max(n, j)].gapJoin &&
			d.facts(b[ws[n].start:ws[n].end]).calendar {
			return true
		}
	}
	i := w.end
	for i < len(b) && (b[i] == ' ' || b[i] == '.') {
		i++
	}
	return i < len(b) && isDigit(b[i])
}

// nearPnr reports whether a personnummer sits on the same line within a few
// characters of [start, end).
func nearPnr(b []byte, start, end int, pnrs []pnrMatch) bool {
	// pnrs are in text order and do not overlap: skip to the first that
	// ends near start, stop after the last that starts near end.
	k := sort.Search(len(pnrs), func(k int) bool { return pnrs[k].end >= start-3 })
	for _, p := range pnrs[k:] {
		if p.start > end+3 {
			break
		}
		// A colon between makes the word a label: "Pnr: 19121212-1212".
		if p.end <= start && start-p.end <= 3 && !hasNewlineOrColon(b[p.end:start]) {
			return true
		}
		if p.start >= end && p.start-end <= 3 && !hasNewlineOrColon(b[end:p.start]) {
			return true
		}
	}
	return false
}

func hasNewlineOrColon(b []byte) bool {
	for _, c := range b {
		if c == '\n' || c == ':' {
			return true
		}
	}
	return false
}

// kinWords are the relatives and the papers a possessive before them says
// are a person's: Vides mamma, Milans föräldrar, Minhs personnummer.
var kinWords = map[string]bool{
	"mamma": true, "pappa": true, "mor": true, "far": true, "mormor": true, "morfar": true,
	"farmor": true, "farfar": true, "bror": true, "syster": true, "son": true, "dotter": true,
	"föräldrar": true, "vårdnadshavare": true, "lillebror": true, "storebror": true,
	"lillasyster": true, "storasyster": true, "make": true, "maka": true, "sambo": true,
	"personnummer": true, "morbror": true, "farbror": true, "moster": true, "faster": true,
}

// kinPossessive reports whether w, capitalised, is the possessive (…s) of
// a given name, a name the document knows, a surname or a word no list
// holds, right before a word of kinWords: "Milans pappa", "Kowalskis
// mamma".
func (d *nameDetector) kinPossessive(b []byte, w word) bool {
	n := w.end - w.start
	if n < 4 || b[w.end-1] != 's' || w.end+1 >= len(b) || b[w.end] != ' ' {
		return false
	}
	ns, ne, ok := nextWordAt(b, w.end)
	if !ok || ns != w.end+1 || ne-ns > 16 {
		return false
	}
	var lb [24]byte
	if !kinWords[string(appendLower(lb[:0], b[ns:ne]))] {
		return false
	}
	stem := b[w.start : w.end-1]
	sf := d.facts(stem)
	if sf.cue || sf.function || sf.preposition || sf.org || sf.company || sf.venue || sf.calendar {
		return false
	}
	if sf.seen || sf.flags&(lexGiven|lexForeignGiven) != 0 {
		return true
	}
	// A surname, or a word no list holds, before a relative is the
	// family's: "Kowalskis mamma", "Bergs pappa"; not a place's.
	if sf.flags&lexPlace != 0 || sf.common || sf.commonCompound || sf.definite || sf.placeSuffix || sf.internalCap {
		return false
	}
	return sf.flags&(nameFlags|lexForeign|lexWorld) != 0 || sf.flags == 0 && n >= 6
}

// loneThings are a feast and a character named like a person, alone (no
// surname after them, no cue before): the feast and the character.
var loneThings = map[string]bool{"lucia": true, "pippi": true}

// pronounPartner reports whether "och" and a personal pronoun follow
// b[:i] ("Anna Berg och jag satt"): the run before is a person, whatever
// venue or firm stands around it.
func pronounPartner(b []byte, i int) bool {
	rest := b[i:]
	switch {
	case bytes.HasPrefix(rest, []byte(" och ")):
		rest = rest[5:]
	case bytes.HasPrefix(rest, []byte(" eller ")):
		rest = rest[7:] // "Anmälan till Volodymyr eller mig"
	default:
		return false
	}
	for _, p := range [...]string{"jag", "hon", "han", "vi", "hen", "mig", "mej", "henne", "honom", "oss"} {
		if bytes.HasPrefix(rest, []byte(p)) && (len(rest) == len(p) || !isLetterByte(rest[len(p)])) {
			return true
		}
	}
	return false
}

// mailLabels are the English labels of a mail's header, before a colon:
// "To: Karin Öberg".
var mailLabels = map[string]bool{
	"to": true, "from": true, "cc": true, "bcc": true, "subject": true, "sent": true, "date": true,
	"fw": true, "fwd": true, "re": true,
}

// signoffs end a letter before the signer's name, also over a blank line:
// "Med vänliga hälsningar\n\nAnna Berg".
var signoffs = map[string]bool{
	"hälsningar": true, "hälsning": true, "hälsn": true, "mvh": true, "vh": true, "vänligen": true,
	"tack": true, "kram": true, "kramar": true, "regards": true,
}

// unitWords are the abbreviations and nouns of a unit or a part before its
// number: "Avd 12", "Lgh 1102", "Plan 3".
var unitWords = map[string]bool{
	"avd": true, "lgh": true, "plan": true, "rum": true, "hus": true, "vån": true, "trappa": true,
	"sal": true, "kap": true, "bilaga": true, "ref": true, "dnr": true, "nr": true, "reg": true,
}

// nextLowerAfter reports whether a lower-case word follows b[:i] after one
// space.
func nextLowerAfter(b []byte, i int) bool {
	return i+2 < len(b) && b[i] == ' ' && b[i+1] >= 'a' && b[i+1] <= 'z'
}

// numberAfter reports whether a number follows b[:i] after one space (or a
// period and a space: "Avd. 12").
func numberAfter(b []byte, i int) bool {
	if i < len(b) && b[i] == '.' {
		i++
	}
	return i+1 < len(b) && b[i] == ' ' && isDigit(b[i+1])
}

// commonPair reports whether w, a seen name that is an ordinary word too,
// is followed by "och" and an ordinary word in lower case that is no
// pronoun and no name: "Sten och grus".
func (d *nameDetector) commonPair(b []byte, w word) bool {
	if !bytes.HasPrefix(b[w.end:], []byte(" och ")) {
		return false
	}
	wf := d.facts(b[w.start:w.end])
	if !wf.seen || !wf.common {
		return false
	}
	s, e, ok := nextWordAt(b, w.end+4)
	if !ok || s != w.end+5 || b[s] < 'a' || b[s] > 'z' || e-s > 24 {
		return false
	}
	var lb [24]byte
	l := appendLower(lb[:0], b[s:e])
	if subjectPronouns[string(l)] || functionWords[string(l)] {
		return false
	}
	nf := d.facts(b[s:e])
	return nf.common && nf.flags&nameFlags == 0 && !nf.seen
}

// monthNames, capitalised next to a number, are the month: "12 Juni",
// "Juni 2024" (Juni alone may be a girl).
var monthNames = map[string]bool{
	"januari": true, "februari": true, "mars": true, "april": true, "maj": true, "juni": true,
	"juli": true, "augusti": true, "september": true, "oktober": true, "november": true, "december": true,
	"ramadan": true, // Volontärer Ramadan 2025
}

// feastDays are feasts named like people, or that are names too, after a
// preposition: "stängt under Valborg", "efter Midsommar".
var feastDays = map[string]bool{
	"valborg": true, "midsommar": true, "lucia": true, "påsk": true, "jul": true, "advent": true,
	"trettondagen": true, "kristi": true, "allhelgona": true,
}

var feastPrepositions = map[string]bool{
	"under": true, "på": true, "till": true, "efter": true, "före": true, "inför": true, "kring": true,
	"runt": true, "i": true, "om": true, "sedan": true, "sen": true, "över": true,
}

// yearsAfter reports whether a number and "år" or "mån" follow b[:i]
// after a space: "Juni 3 år" is a child's age, not a date.
func yearsAfter(b []byte, i int) bool {
	j := i + 1
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	rest := b[j:]
	return bytes.HasPrefix(rest, []byte(" år")) || bytes.HasPrefix(rest, []byte(" mån"))
}

// mailHeaderWords label the sender and the receivers in a mail's header.
var mailHeaderWords = map[string]bool{
	"från": true, "till": true, "kopia": true, "avsändare": true, "mottagare": true, "to": true,
	"from": true, "cc": true, "bcc": true,
}

// placeBefore reports whether p, the word before a run, is a preposition
// of place: what follows it is where, not who ("Skolan i Kista har fått").
func (d *nameDetector) placeBefore(b []byte, p word) bool {
	pf := d.facts(b[p.start:p.end])
	if pf.preposition || pf.inPreposition {
		return true
	}
	switch string(b[p.start:p.end]) {
	case "från", "mot", "genom", "över", "bakom", "nedanför", "ovanför":
		return true
	}
	return false
}

// productWord reports whether w is a word of data/products.txt.
func (d *nameDetector) productWord(w []byte) bool {
	var lb [24]byte
	return len(w) <= len(lb) && d.lx.products[string(appendLower(lb[:0], w))]
}

// aloneNoName reports whether ws[k], capitalised and a run of its own, is
// by the words around it no name: a place's prefix before an ordinary word
// (Lilla ridhuset), a unit before its number (Avd 12), a month next to a
// number (12 Juni, Juni 2024; not "Juni 3 år"), a feast after a
// preposition (under Valborg), the abbreviation Ang., or a feast or a
// character alone without a cue before it ("Lucia blir 13/12 i aulan",
// "sjunger om Pippi"; not "dottern Lucia").
func (d *nameDetector) aloneNoName(b []byte, ws []word, k int) bool {
	w := ws[k]
	var lb [12]byte
	if w.end-w.start > 10 {
		return false
	}
	l := string(appendLower(lb[:0], b[w.start:w.end]))
	switch {
	case placePrefixes[l]:
		return nextLowerAfter(b, w.end)
	case unitWords[l]:
		return numberAfter(b, w.end)
	case monthNames[l] && numberAfter(b, w.end) && !yearsAfter(b, w.end),
		monthNames[l] && w.start >= 2 && b[w.start-1] == ' ' && isDigit(b[w.start-2]):
		return true
	case l == "ang":
		return w.end < len(b) && (b[w.end] == '.' || b[w.end] == ':')
	}
	if feastDays[l] && k > 0 && ws[k-1].shape == shapeLower && w.gapJoin && ws[k-1].end-ws[k-1].start <= 6 &&
		feastPrepositions[string(b[ws[k-1].start:ws[k-1].end])] {
		return true
	}
	return loneThings[l] && !(k > 0 && w.gapJoin && d.facts(b[ws[k-1].start:ws[k-1].end]).strongCue)
}
