package pseudonym

// English job titles, teams and offices in Swedish text: "Key Account
// Manager", "Service Desk", "Head of Operations", "Data Protection
// Officer". They are written in title case, so every word looks like a
// name to the rules, and some are names somewhere (Key, Head, Lead).

// englishOffice holds the lower-case English words such phrases are made
// of. true marks a head: the noun an English title or office ends with. A
// phrase needs one as its last word; the others only modify it.
var englishOffice = map[string]bool{
	// heads: roles
	"manager": true, "officer": true, "director": true, "advisor": true, "adviser": true,
	"coordinator": true, "consultant": true, "specialist": true, "analyst": true,
	"assistant": true, "engineer": true, "developer": true, "architect": true, "designer": true,
	"administrator": true, "owner": true, "lead": true, "leader": true, "master": true,
	"president": true, "executive": true, "controller": true, "accountant": true,
	"representative": true, "supervisor": true, "associate": true, "trainee": true,
	"intern": true, "head": true, "partner": true, "champion": true, "steward": true,
	"scientist": true, "strategist": true, "writer": true, "editor": true, "producer": true,
	"agent": true, "expert": true, "tester": true, "recruiter": true, "buyer": true,
	// heads: offices, teams and functions
	"desk": true, "support": true, "success": true, "operations": true, "intelligence": true,
	"management": true, "services": true, "service": true, "relations": true,
	"resources": true, "team": true, "office": true, "center": true, "centre": true,
	"department": true, "unit": true, "board": true, "committee": true, "council": true,
	"protection": true, "security": true, "development": true, "research": true,
	"sales": true, "marketing": true, "finance": true, "procurement": true,
	"compliance": true, "governance": true, "strategy": true, "delivery": true,
	"communications": true, "engineering": true, "analytics": true, "hub": true, "lab": true,
	"platform": true, "solutions": true, "excellence": true, "innovation": true,
	"experience": true, "acquisition": true, "onboarding": true, "helpdesk": true,
	"region": true, "division": true, "program": true, "programme": true, "portfolio": true,
	// modifiers
	"key": false, "account": false, "project": false, "product": false, "senior": false,
	"junior": false, "chief": false, "technical": false, "business": false, "customer": false,
	"data": false, "digital": false, "general": false, "global": false, "regional": false,
	"nordic": false, "human": false, "public": false, "information": false, "quality": false,
	"legal": false, "risk": false, "privacy": false, "health": false, "safety": false,
	"content": false, "brand": false, "solution": false, "system": false, "systems": false,
	"network": false, "cloud": false, "scrum": false, "agile": false, "change": false,
	"area": false, "country": false, "principal": false, "deputy": false, "vice": false, "managing": false,
	"operating": false, "financial": false, "people": false, "talent": false, "learning": false,
	"user": false, "client": false, "channel": false, "field": false,
	"inside": false, "international": false, "corporate": false, "strategic": false,
	"release": false, "test": false,
	"software": false, "hardware": false, "infrastructure": false, "site": false, "reliability": false, "devops": false,
}

// officeStretch returns the first stretch [s, t) of the run ws[k:e] that
// is an English office phrase, or s == t when there is none. A stretch of
// one word counts only if it is a head no name list holds, or stands
// beside "of", "and" or "&" (Head of Operations).
func (d *nameDetector) officeStretch(b []byte, ws []word, k, e int) (int, int) {
	for i := k; i < e; i++ {
		if !d.officeWord(b, ws[i]) {
			continue
		}
		j := i
		for j < e && d.officeWord(b, ws[j]) {
			j++
		}
		// Back to the last head of the stretch.
		t := j
		for t > i && !englishOffice[string(appendLower(d.buf[:0], b[ws[t-1].start:ws[t-1].end]))] {
			t--
		}
		switch {
		case t-i >= 2:
			return i, t
		case t-i == 1 && (d.facts(b[ws[i].start:ws[i].end]).flags&(nameFlags|lexForeign|lexWorld) == 0 ||
			englishJoinAround(b, ws[i])):
			return i, t
		}
		i = j - 1
	}
	return e, e
}

// officeLengths has bit n of entry c-'a' set when a word of englishOffice
// starts with c and has n letters: most capitalised words (Anna, Berg)
// are ruled out before any map is asked.
var officeLengths = func() (t [26]uint32) {
	for w := range englishOffice {
		t[w[0]-'a'] |= 1 << len(w)
	}
	return t
}()

// officeWord reports whether w, in title case, is one of englishOffice.
func (d *nameDetector) officeWord(b []byte, w word) bool {
	n := w.end - w.start
	if w.shape != shapeCap || n > 16 || b[w.start] < 'A' || b[w.start] > 'Z' || officeLengths[b[w.start]-'A']&(1<<n) == 0 {
		return false
	}
	_, ok := englishOffice[string(appendLower(d.buf[:0], b[w.start:w.end]))]
	return ok
}

// englishJoinAround reports whether "of", "and", "for" or "&" stands right
// before or after w.
func englishJoinAround(b []byte, w word) bool {
	for _, j := range [...]string{" of ", " and ", " for ", " & "} {
		if w.end+len(j) <= len(b) && string(b[w.end:w.end+len(j)]) == j ||
			w.start >= len(j) && string(b[w.start-len(j):w.start]) == j {
			return true
		}
	}
	return false
}
