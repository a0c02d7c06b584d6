package pseudonym

// Decision is one value a transform replaced, with the rule that fired,
// for a person who wants to know why (sluss pseudonymize --explain). It
// carries no value, but its offsets point into the input: show it to the
// person who holds the input, never log it.
type Decision struct {
	// Offset is where the replaced text starts in the input, in bytes;
	// Length is how many bytes it takes there. In a JSON string, a CSV
	// field or a form value they count the raw bytes (escapes included).
	Offset int64
	Length int
	Kind   Kind
	Rule   string // the rule that fired, in words
}

// Rules, as Decision.Rule reports them.
const (
	rulePnr               = "personnummer: a date that has been and a valid check digit"
	ruleSamordning        = "samordningsnummer: day of birth + 60 and a valid check digit"
	rulePnrNumber         = "personnummer written as a JSON number"
	ruleNameField         = "name field: the whole value"
	ruleLists             = "name lists and capitals: the words add up to a name"
	ruleSeen              = "document: the same word was a name earlier in this text"
	ruleCue               = "person cue before it (a role, a relation, a greeting)"
	ruleNearPnr           = "next to a personnummer"
	ruleAge               = "an age in brackets after it: Aram (9 år)"
	ruleSignature         = "a signer's initials after a slash at the end of a line: /AB"
	ruleNickname          = "a nickname in quotes right after a name: Gösta \"Knutte\" Knutsson"
	ruleListItem          = "an item of a comma list whose item before is a name"
	ruleGivenSurname      = "an ordinary word, capitalised, before a surname"
	ruleInverted          = "list cell written surname first: Efternamn, Förnamn"
	ruleSpeaker           = "chat speaker label before a message"
	ruleColumn            = "column or field of a block whose other cells are names"
	ruleSubject           = "subject of the verb after it at a sentence start"
	rulePronounPartner    = "joined to a personal pronoun: X och jag, X eller mig"
	ruleLowerList         = "lower case: a name list holds it, and it is no ordinary word"
	ruleLowerSeen         = "lower case: the document used it as a name"
	ruleLowerContext      = "lower case: a weaker name list holds it, and a cue or a name is next to it"
	ruleLowerCue          = "lower case: a given name or surname after a person cue"
	ruleLowerSurname      = "lower case: a surname after a given name"
	ruleLowerVerb         = "lower case: a given name as the subject of the verb after it"
	ruleLowerGreet        = "lower case: a word after a greeting or sign-off"
	ruleLowerSpeaker      = "lower case: a given name as a chat speaker label"
	ruleLowerSpeakers     = "lower case: a chat speaker label where the other labels are names"
	ruleLowerGivenSurname = "lower case: a given name before a surname of the lists"
	ruleLowerInitial      = "lower case: a surname's initial after a given name"
	ruleLowerHandle       = "lower case: a chat label's user name of a name and an initial (elin.s:)"
)

// decide reports one replaced value to Config.Explain, if set.
func (s *session) decide(kind Kind, off int64, n int, rule string) {
	if s.p.cfg.Explain != nil {
		s.p.cfg.Explain(Decision{Offset: off, Length: n, Kind: kind, Rule: rule})
	}
}

// pnrRule names the rule for a personnummer match.
func pnrRule(m *pnrMatch) string {
	if m.norm[6] >= '6' {
		return ruleSamordning
	}
	return rulePnr
}
