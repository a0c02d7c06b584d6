package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/rs/zerolog"
)

type corpusLabel struct {
	kind       Kind
	start, end int
}

type corpusDoc struct {
	name   string
	format Format
	text   string
	labels []corpusLabel
}

var labelRE = regexp.MustCompile(`\[\[([PN]):(.*?)\]\]`)

// loadCorpus reads testdata/corpus and strips the inline labels.
func loadCorpus(t testing.TB) []corpusDoc {
	files, err := filepath.Glob("testdata/corpus/*.*")
	if err != nil {
		t.Fatal(err)
	}
	var docs []corpusDoc
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := parseCorpusDoc(filepath.Base(f), raw); ok {
			docs = append(docs, d)
		}
	}
	if len(docs) < 60 {
		t.Fatalf("corpus has %d documents, want at least 60", len(docs))
	}
	return docs
}

// freshCorpusFile holds documents written after the detector was tuned on
// testdata/corpus, to check that it generalises: one txtar member per
// document, labelled the same way.
const freshCorpusFile = "testdata/corpus_fresh.txtar"

func loadFreshCorpus(t testing.TB) []corpusDoc {
	a, err := txtar.ParseFile(freshCorpusFile)
	if err != nil {
		t.Fatal(err)
	}
	var docs []corpusDoc
	for _, f := range a.Files {
		d, ok := parseCorpusDoc(f.Name, f.Data)
		if !ok {
			t.Fatalf("%s: %s: unknown format", freshCorpusFile, f.Name)
		}
		docs = append(docs, trimFinalNewline(d))
	}
	if len(docs) < 15 {
		t.Fatalf("%s has %d documents, want at least 15", freshCorpusFile, len(docs))
	}
	return docs
}

// trimFinalNewline drops the newline txtar adds after a member, so that
// form bodies end as they would on the wire.
func trimFinalNewline(d corpusDoc) corpusDoc {
	if d.format == FormatForm && strings.HasSuffix(d.text, "\n") {
		d.text = strings.TrimSuffix(d.text, "\n")
	}
	return d
}

// parseCorpusDoc strips the inline labels of one document; the name's
// extension gives the format.
func parseCorpusDoc(name string, raw []byte) (corpusDoc, bool) {
	var format Format
	switch filepath.Ext(name) {
	case ".txt":
		format = FormatText
	case ".json":
		format = FormatJSON
	case ".csv":
		format = FormatCSV
	case ".form":
		format = FormatForm
	default:
		return corpusDoc{}, false
	}
	d := corpusDoc{name: name, format: format}
	var b strings.Builder
	last := 0
	for _, m := range labelRE.FindAllSubmatchIndex(raw, -1) {
		b.Write(raw[last:m[0]])
		start := b.Len()
		b.Write(raw[m[4]:m[5]])
		kind := KindName
		if raw[m[2]] == 'P' {
			kind = KindPersonnummer
		}
		d.labels = append(d.labels, corpusLabel{kind, start, b.Len()})
		last = m[1]
	}
	b.Write(raw[last:])
	d.text = b.String()
	return d, true
}

var corpusNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestPseudonymizer(t testing.TB, cfg Config) (*Pseudonymizer, *MemoryStore) {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return corpusNow }
	}
	st := NewMemoryStore()
	p, err := New(cfg, NewStaticKeys(bytes.Repeat([]byte{7}, 32)), st)
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

// detectedSpans aligns the pseudonymized output with the input: every token
// in out stands for the text its re-identification gives back.
func detectedSpans(t *testing.T, p *Pseudonymizer, d corpusDoc, out string) []corpusLabel {
	var spans []corpusLabel
	o, i := 0, 0
	b := []byte(out)
	for o < len(b) {
		k := strings.Index(out[o:], tokenPrefix)
		if n := nextJSONNumberToken(d.format, out, o); n >= 0 && (k < 0 || n < o+k) {
			// A personnummer written as a JSON number has a number for
			// its token, of its own length (see number.go).
			num := digitsFrom(out, n)
			orig, _, err := p.ReidentifyString(context.Background(), d.format, num)
			if err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			if orig == num {
				// An ordinary number of the token's form (an invoice
				// number in a string), which no token stands for.
				i += n + len(num) - o
				o = n + len(num)
				continue
			}
			i += n - o
			if !strings.HasPrefix(d.text[i:], orig) {
				t.Fatalf("%s: output does not align with input at %d: %q vs %q", d.name, i, d.text[i:min(len(d.text), i+30)], orig)
			}
			spans = append(spans, corpusLabel{KindPersonnummer, i, i + len(orig)})
			i += len(orig)
			o = n + len(orig)
			continue
		}
		if k < 0 {
			break
		}
		at := o + k
		id, _, end, ok := parseToken(b, at)
		if !ok {
			o = at + 1
			continue
		}
		i += at - o
		orig, _, err := p.ReidentifyString(context.Background(), d.format, out[at:end])
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if esc := strings.ReplaceAll(orig, `"`, `""`); d.format == FormatCSV && !strings.HasPrefix(d.text[i:], orig) &&
			strings.HasPrefix(d.text[i:], esc) {
			orig = esc // a quoted field's whole value, its quotes doubled in the input
		}
		if !strings.HasPrefix(d.text[i:], orig) {
			t.Fatalf("%s: output does not align with input at %d: %q vs %q", d.name, i, d.text[i:min(len(d.text), i+30)], orig)
		}
		spans = append(spans, corpusLabel{id.kind, i, i + len(orig)})
		i += len(orig)
		o = end
	}
	return spans
}

// nextJSONNumberToken returns the offset in a JSON document's output of
// the first run of digits at or after from that has the numeric-token
// form (IsNumberToken), or -1.
func nextJSONNumberToken(format Format, out string, from int) int {
	if format != FormatJSON {
		return -1
	}
	for i := from; i < len(out); i++ {
		if !isDigit(out[i]) || i > 0 && (isDigit(out[i-1]) || out[i-1] == '.' || out[i-1] == '-') {
			continue
		}
		if r := digitsFrom(out, i); IsNumberToken(r) && (i+len(r) == len(out) || out[i+len(r)] != '.' && out[i+len(r)] != 'e' && out[i+len(r)] != 'E') {
			return i
		}
	}
	return -1
}

// digitsFrom returns the digits of out from i on.
func digitsFrom(out string, i int) string {
	e := i
	for e < len(out) && isDigit(out[e]) {
		e++
	}
	return out[i:e]
}

type score struct{ tp, fn, fp, detTP int }

func (s score) recall() float64 {
	if s.tp+s.fn == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fn)
}

func (s score) precision() float64 {
	if s.detTP+s.fp == 0 {
		return 1
	}
	return float64(s.detTP) / float64(s.detTP+s.fp)
}

func overlaps(a, b corpusLabel) bool { return a.start < b.end && b.start < a.end }

// labelWords splits a name label into the words that must be replaced:
// those with an upper-case letter (particles such as "af" and "von" need
// not be), or, in a name written all in lower case ("serkan demir" in a
// chat), every word but a particle.
func labelWords(text string, l corpusLabel) []corpusLabel {
	var out []corpusLabel
	lower := strings.ToLower(text[l.start:l.end]) == text[l.start:l.end]
	s := l.start
	flush := func(e int) {
		w := text[s:e]
		if strings.ToLower(w) != w || lower && !nameParticles[w] {
			out = append(out, corpusLabel{l.kind, s, e})
		}
	}
	for k := l.start; k < l.end; k++ {
		if c := text[k]; c == ' ' || c == '+' || c == ',' {
			if k > s {
				flush(k)
			}
			s = k + 1
		}
	}
	if l.end > s {
		flush(l.end)
	}
	return out
}

// stylesCorpusFile holds documents in the styles issue 16 lists (chat and
// SMS in lower case, "Efternamn, Förnamn" lists, ALL CAPS, rooms and
// prizes named after people, organisation records, statutes, the 12-digit
// personnummer with "+", serial numbers 000), written before the detector
// was tuned for them; see testdata/corpus/README.md.
const stylesCorpusFile = "testdata/corpus_styles.txtar"

func loadTxtarCorpus(t testing.TB, file string, atLeast int) []corpusDoc {
	a, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs []corpusDoc
	for _, f := range a.Files {
		d, ok := parseCorpusDoc(f.Name, f.Data)
		if !ok {
			t.Fatalf("%s: %s: unknown format", file, f.Name)
		}
		docs = append(docs, trimFinalNewline(d))
	}
	if len(docs) < atLeast {
		t.Fatalf("%s has %d documents, want at least %d", file, len(docs), atLeast)
	}
	return docs
}

// targets are the least recall and precision a corpus must score.
type targets struct{ pnrRecall, pnrPrecision, nameRecall, namePrecision float64 }

// issue16Targets are the targets of issue 16 for every corpus: personnummer
// recall 1.00 and precision 0.995, names recall 0.98 and precision 0.97.
var issue16Targets = targets{1, 0.995, 0.98, 0.97}

// TestCorpusStyles scores the styles corpus, written before the detector
// was tuned for it, against the targets of issue 16.
func TestCorpusStyles(t *testing.T) {
	checkTargets(t, scoreCorpus(t, "styles corpus", loadTxtarCorpus(t, stylesCorpusFile, 40)), issue16Targets)
}

// styles2CorpusFile holds a second set of documents in the styles of issue
// 16 (with paths and object keys, signatures, case notes, names from many
// countries), committed before the detector was run on it; see its header.
const styles2CorpusFile = "testdata/corpus_styles2.txtar"

// TestCorpusStyles2 scores the second styles corpus against the targets of
// issue 16.
func TestCorpusStyles2(t *testing.T) {
	checkTargets(t, scoreCorpus(t, "styles corpus 2", loadTxtarCorpus(t, styles2CorpusFile, 40)), issue16Targets)
}

// TestCorpus scores the first corpus: the targets of issue 16, and no
// regression from the scores it had before (names precision 0.994).
func TestCorpus(t *testing.T) {
	checkTargets(t, scoreCorpus(t, "corpus", loadCorpus(t)), targets{1, 1, 1, 0.994})
}

// TestCorpusFresh scores the documents written before the detector was
// changed for them: the targets of issue 16, and no regression from the
// scores they had before it (names recall and precision 0.990).
func TestCorpusFresh(t *testing.T) {
	checkTargets(t, scoreCorpus(t, "fresh corpus", loadFreshCorpus(t)), targets{1, 1, 0.99, 0.99})
}

// TestCorpusHeldOut scores the documents written after the detector was
// tuned on the others, and never tuned on: evidence of how the rules
// generalise. Its first scores fell short of the targets of issue 16 for
// names (recall 0.956, precision 0.915; see testdata/corpus/README.md);
// they are asserted as they were, so that a change can only improve them,
// and the documents stay untuned-on.
func TestCorpusHeldOut(t *testing.T) {
	scores := scoreCorpus(t, "held-out corpus", loadTxtarCorpus(t, heldOutCorpusFile, 10))
	if sc := scores[KindPersonnummer]; sc.recall() < 1 || sc.precision() < issue16Targets.pnrPrecision {
		t.Errorf("personnummer: recall %.3f (want 1.00), precision %.3f (want ≥ %.3f)", sc.recall(), sc.precision(), issue16Targets.pnrPrecision)
	}
	if sc := scores[KindName]; sc.recall() < 131.0/137 || sc.precision() < 129.0/141 {
		t.Errorf("names: recall %.3f (want ≥ 131/137), precision %.3f (want ≥ 129/141)", sc.recall(), sc.precision())
	}
}

// TestCorpusHeldOut2 scores the second held-out corpus, written after the
// detector was tuned on the second styles corpus and never tuned on. Its
// names scores are reported against the targets of issue 16, not asserted;
// what is asserted is the personnummer targets and, as a floor, the first
// names scores it had (recall 0.926 = 175/189, precision 0.982 = 164/167),
// so that a change can only improve them.
func TestCorpusHeldOut2(t *testing.T) {
	scores := scoreCorpus(t, "held-out corpus 2", loadTxtarCorpus(t, heldOut2CorpusFile, 15))
	if sc := scores[KindPersonnummer]; sc.recall() < 1 || sc.precision() < issue16Targets.pnrPrecision {
		t.Errorf("personnummer: recall %.3f (want 1.00), precision %.3f (want ≥ %.3f)", sc.recall(), sc.precision(), issue16Targets.pnrPrecision)
	}
	sc := scores[KindName]
	if sc.recall() < 175.0/189 || sc.precision() < 164.0/167 {
		t.Errorf("names: recall %.3f (want ≥ 175/189), precision %.3f (want ≥ 164/167)", sc.recall(), sc.precision())
	}
	if sc.recall() < issue16Targets.nameRecall || sc.precision() < issue16Targets.namePrecision {
		t.Logf("names: recall %.3f, precision %.3f: short of the targets of issue 16 (%.2f, %.2f)",
			sc.recall(), sc.precision(), issue16Targets.nameRecall, issue16Targets.namePrecision)
	}
}

// styles3CorpusFile holds a third set of documents in the styles of issue
// 16 (registers in capitals, chat labels, names that are Swedish words,
// names from many countries), committed before the detector was run on it.
const styles3CorpusFile = "testdata/corpus_styles3.txtar"

// TestCorpusStyles3 scores the third styles corpus against the targets of
// issue 16.
func TestCorpusStyles3(t *testing.T) {
	checkTargets(t, scoreCorpus(t, "styles corpus 3", loadTxtarCorpus(t, styles3CorpusFile, 30)), issue16Targets)
}

// TestCorpusHeldOut3 scores the third held-out corpus, written after the
// detector was tuned on the third styles corpus, committed before it was
// run on them and never tuned on. Its names scores are reported against
// the targets of issue 16, not asserted; the personnummer targets are.
func TestCorpusHeldOut3(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 3", loadTxtarCorpus(t, heldOut3CorpusFile, 15)))
}

// styles4CorpusFile holds a fourth set of documents in the styles of
// issue 16 (chat labels on names no list holds, dotted hyphenated
// initials, a verb before an initial, names that are Swedish words, ALL
// CAPS, rooms, prizes and streets named after people), committed with its
// baseline score before the detector was tuned for it.
const styles4CorpusFile = "testdata/corpus_styles4.txtar"

// TestCorpusStyles4 scores the fourth styles corpus against the targets of
// issue 16 (its baseline before tuning: names recall 0.926, precision
// 0.964).
func TestCorpusStyles4(t *testing.T) {
	checkTargets(t, scoreCorpus(t, "styles corpus 4", loadTxtarCorpus(t, styles4CorpusFile, 30)), issue16Targets)
}

// heldOut3CorpusFile: see TestCorpusHeldOut3.
const heldOut3CorpusFile = "testdata/corpus_heldout3.txtar"

// heldOut2CorpusFile: see TestCorpusHeldOut2.
const heldOut2CorpusFile = "testdata/corpus_heldout2.txtar"

// heldOutCorpusFile: see TestCorpusHeldOut and testdata/corpus/README.md.
const heldOutCorpusFile = "testdata/corpus_heldout.txtar"

func checkTargets(t *testing.T, scores map[Kind]*score, want targets) {
	t.Helper()
	want.pnrRecall = max(want.pnrRecall, issue16Targets.pnrRecall)
	want.pnrPrecision = max(want.pnrPrecision, issue16Targets.pnrPrecision)
	want.nameRecall = max(want.nameRecall, issue16Targets.nameRecall)
	want.namePrecision = max(want.namePrecision, issue16Targets.namePrecision)
	if sc := scores[KindPersonnummer]; sc.recall() < want.pnrRecall || sc.precision() < want.pnrPrecision {
		t.Errorf("personnummer: recall %.3f (want ≥ %.3f), precision %.3f (want ≥ %.3f)", sc.recall(), want.pnrRecall, sc.precision(), want.pnrPrecision)
	}
	if sc := scores[KindName]; sc.recall() < want.nameRecall || sc.precision() < want.namePrecision {
		t.Errorf("names: recall %.3f (want ≥ %.3f), precision %.3f (want ≥ %.3f)", sc.recall(), want.nameRecall, sc.precision(), want.namePrecision)
	}
}

// scoreCorpus pseudonymizes every document with debug logging on, checks
// the round trip, idempotence and structure, prints recall and precision
// per type, and checks that the log holds no labelled value.
func scoreCorpus(t *testing.T, title string, docs []corpusDoc) map[Kind]*score {
	return scoreCorpusAt(t, title, docs, corpusNow)
}

// scoreCorpusAt is scoreCorpus with the clock at now: the day a corpus's
// documents are dated around decides which long-form personnummer have a
// date that has been (a baptism of 2025 in a corpus written in 2026).
func scoreCorpusAt(t *testing.T, title string, docs []corpusDoc, now time.Time) map[Kind]*score {
	var logBuf bytes.Buffer
	logger := zerolog.New(&logBuf).Level(zerolog.DebugLevel)
	p, st := newTestPseudonymizer(t, Config{Logger: &logger, Now: func() time.Time { return now }})
	ctx := context.Background()
	scores := map[Kind]*score{KindPersonnummer: {}, KindName: {}}
	for _, d := range docs {
		out, _, err := p.PseudonymizeString(ctx, d.format, d.text)
		if err != nil {
			t.Errorf("%s: pseudonymize: %v", d.name, err)
			continue
		}
		spans := detectedSpans(t, p, d, out)
		for _, kind := range []Kind{KindPersonnummer, KindName} {
			sc := scores[kind]
			var want []corpusLabel
			for _, l := range d.labels {
				if l.kind != kind {
					continue
				}
				if kind == KindName {
					want = append(want, labelWords(d.text, l)...)
				} else {
					want = append(want, l)
				}
			}
			for _, w := range want {
				found := false
				for _, s := range spans {
					if s.kind == kind && overlaps(s, w) {
						found = true
					}
				}
				if found {
					sc.tp++
				} else {
					sc.fn++
					t.Logf("%s: missed %s %q", d.name, kind, d.text[w.start:w.end])
				}
			}
			for _, s := range spans {
				if s.kind != kind {
					continue
				}
				hit := false
				for _, w := range d.labels {
					if w.kind == kind && overlaps(s, w) {
						hit = true
					}
				}
				if hit {
					sc.detTP++
				} else {
					sc.fp++
					t.Logf("%s: false %s %q", d.name, kind, d.text[s.start:s.end])
				}
			}
		}
		// Round trip, byte for byte.
		back, _, err := p.ReidentifyString(ctx, d.format, out)
		if err != nil {
			t.Errorf("%s: reidentify: %v", d.name, err)
		} else if back != d.text {
			t.Errorf("%s: round trip differs:\n got %q\nwant %q", d.name, back, d.text)
		}
		// Idempotence.
		again, _, err := p.PseudonymizeString(ctx, d.format, out)
		if err != nil || again != out {
			t.Errorf("%s: pseudonymizing twice changed the output (err %v):\n%q\n%q", d.name, err, out, again)
		}
		checkStructure(t, d, out)
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%s: %d documents, %d stored tokens\n", title, len(docs), st.Len())
	for _, kind := range []Kind{KindPersonnummer, KindName} {
		sc := scores[kind]
		fmt.Fprintf(&report, "%-5s recall %.3f (%d/%d)  precision %.3f (%d/%d)\n", kind,
			sc.recall(), sc.tp, sc.tp+sc.fn, sc.precision(), sc.detTP, sc.detTP+sc.fp)
	}
	t.Log("\n" + report.String())
	fmt.Print(report.String())

	// No personal data in the debug log.
	logs := logBuf.String()
	if logs == "" {
		t.Fatal("no debug log written")
	}
	for _, d := range docs {
		for _, l := range d.labels {
			for _, w := range labelWords(d.text, corpusLabel{KindName, l.start, l.end}) {
				v := d.text[w.start:w.end]
				if len(v) >= 3 && containsWord(logs, v) {
					t.Errorf("%s: log contains labelled value %q", d.name, v)
				}
			}
			if v := d.text[l.start:l.end]; containsWord(logs, v) {
				t.Errorf("%s: log contains labelled value %q", d.name, v)
			}
		}
	}
	return scores
}

// containsWord reports whether v stands in s with no letter right before
// or after it: a labelled "tran" is in "tran ringde", not in the log's
// message "transform".
func containsWord(s, v string) bool {
	for i := 0; ; {
		k := strings.Index(s[i:], v)
		if k < 0 {
			return false
		}
		a, e := i+k, i+k+len(v)
		before, _ := utf8.DecodeLastRuneInString(s[:a])
		after, _ := utf8.DecodeRuneInString(s[e:])
		if !unicode.IsLetter(before) && !unicode.IsLetter(after) {
			return true
		}
		i = a + 1
	}
}

// checkStructure checks that JSON stays valid with the same keys and that
// CSV keeps its rows and columns.
func checkStructure(t *testing.T, d corpusDoc, out string) {
	switch d.format {
	case FormatJSON:
		var a, b any
		if err := json.Unmarshal([]byte(d.text), &a); err != nil {
			t.Fatalf("%s: corpus JSON invalid: %v", d.name, err)
		}
		if err := json.Unmarshal([]byte(out), &b); err != nil {
			t.Errorf("%s: output JSON invalid: %v", d.name, err)
			return
		}
		if ka, kb := jsonShape(a), jsonShape(b); ka != kb {
			t.Errorf("%s: JSON structure changed:\n%s\n%s", d.name, ka, kb)
		}
	case FormatCSV:
		// The separator as the rewriter sniffs it; title rows above the
		// header make records of other lengths.
		comma := rune(sniffComma(bufio.NewReader(strings.NewReader(d.text))))
		ra := csv.NewReader(strings.NewReader(d.text))
		ra.Comma, ra.FieldsPerRecord, ra.LazyQuotes = comma, -1, true
		rb := csv.NewReader(strings.NewReader(out))
		rb.Comma, rb.FieldsPerRecord, rb.LazyQuotes = comma, -1, true
		a, err := ra.ReadAll()
		if err != nil {
			t.Fatalf("%s: corpus CSV invalid: %v", d.name, err)
		}
		b, err := rb.ReadAll()
		if err != nil {
			t.Errorf("%s: output CSV invalid: %v", d.name, err)
			return
		}
		if len(a) != len(b) {
			t.Errorf("%s: %d rows became %d", d.name, len(a), len(b))
		}
		for i := range a {
			if i < len(b) && len(a[i]) != len(b[i]) {
				t.Errorf("%s: row %d: %d columns became %d", d.name, i, len(a[i]), len(b[i]))
			}
		}
	}
}

// jsonShape describes keys, array lengths and value types, not values.
func jsonShape(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{")
		for _, k := range keys {
			b.WriteString(k + ":" + jsonShape(x[k]) + ",")
		}
		return b.String() + "}"
	case []any:
		var b strings.Builder
		b.WriteString("[")
		for _, e := range x {
			b.WriteString(jsonShape(e) + ",")
		}
		return b.String() + "]"
	case string:
		return "s"
	case float64:
		if x == math.Trunc(x) && (x >= 1e9 && x < 1e10 || x >= 1e11 && x < 1e12) {
			return "n" // a personnummer and its numeric token are both ten or twelve digits
		}
		return fmt.Sprint(x)
	case bool:
		return fmt.Sprint(x)
	case nil:
		return "null"
	}
	return "?"
}

// styles5CorpusFile holds a fifth set of documents in the styles of issue
// 16, written by someone who had not read the detector and committed with
// its baseline score before the detector was tuned for it.
const styles5CorpusFile = "testdata/corpus_styles5.txtar"

// TestCorpusStyles5 scores the fifth styles corpus against the targets of
// issue 16 (its first score, before tuning: names 0.968 / 0.973).
func TestCorpusStyles5(t *testing.T) {
	checkTargets(t, scoreCorpus(t, "styles corpus 5", loadTxtarCorpus(t, styles5CorpusFile, 40)), issue16Targets)
}

// heldOut4CorpusFile: see TestCorpusHeldOut4.
const heldOut4CorpusFile = "testdata/corpus_heldout4.txtar"

// TestCorpusHeldOut4 scores the fourth held-out corpus, written blind to
// the detector while it was tuned on the fifth styles corpus and never
// tuned on. Its names scores are reported against the targets of issue 16,
// not asserted; the personnummer targets are.
func TestCorpusHeldOut4(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 4", loadTxtarCorpus(t, heldOut4CorpusFile, 20)))
}

// heldOut5CorpusFile: see TestCorpusHeldOut5.
const heldOut5CorpusFile = "testdata/corpus_heldout5.txtar"

// TestCorpusHeldOut5 scores the fifth held-out corpus, written blind to
// the detector after the rounds on the fourth and never tuned on. Its
// names scores are reported against the targets of issue 16, not asserted;
// the personnummer targets are.
func TestCorpusHeldOut5(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 5", loadTxtarCorpus(t, heldOut5CorpusFile, 20)))
}

// heldOut6CorpusFile: see TestCorpusHeldOut6.
const heldOut6CorpusFile = "testdata/corpus_heldout6.txtar"

// TestCorpusHeldOut6 scores the sixth held-out corpus, written blind after
// this session's rules (two thirds everyday text) and never tuned on. Its
// names scores are reported against the targets of issue 16, not asserted;
// the personnummer targets are.
func TestCorpusHeldOut6(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 6", loadTxtarCorpus(t, heldOut6CorpusFile, 20)))
}

// heldOut7CorpusFile: see TestCorpusHeldOut7.
const heldOut7CorpusFile = "testdata/corpus_heldout7.txtar"

// TestCorpusHeldOut7 scores the seventh held-out corpus, written blind
// (three quarters everyday text from a region and a municipality) and
// committed before it was first run; never tuned on. Names reported,
// personnummer asserted, as for the others.
func TestCorpusHeldOut7(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 7", loadTxtarCorpus(t, heldOut7CorpusFile, 20)))
}

// heldOut8CorpusFile: see TestCorpusHeldOut8.
const heldOut8CorpusFile = "testdata/corpus_heldout8.txtar"

// TestCorpusHeldOut8 scores the eighth held-out corpus, written blind
// (everyday text from many municipal domains, with brands, works and
// characters as hard negatives) and committed before it was first run;
// tuned on from the session after (see the corpus README). Names
// reported, personnummer asserted.
func TestCorpusHeldOut8(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 8", loadTxtarCorpus(t, heldOut8CorpusFile, 20)))
}

// heldOut9CorpusFile: see TestCorpusHeldOut9.
const heldOut9CorpusFile = "testdata/corpus_heldout9.txtar"

// TestCorpusHeldOut9 scores the ninth held-out corpus, written blind by a
// helper while the rules of that session were made on the fourth to
// eighth (building permits, waste and water, school meals, Komvux/SFI,
// interpreters, guardianship, cemeteries, choirs, scouts, hunting and
// riding clubs with animals' names, tenant associations, local papers).
func TestCorpusHeldOut9(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 9", loadTxtarCorpus(t, heldOut9CorpusFile, 20)))
}

// heldOut10CorpusFile: see TestCorpusHeldOut10.
const heldOut10CorpusFile = "testdata/corpus_heldout10.txtar"

// TestCorpusHeldOut10 scores the tenth held-out corpus, written blind by a
// helper while the rules of that session were made on corpus 9 and the
// older ones (chats, SMS, sign-up lists, registers with letters outside
// Swedish, bookings, minutes with foreign names, case notes, JSON, forms).
func TestCorpusHeldOut10(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 10", loadTxtarCorpus(t, heldOut10CorpusFile, 25)))
}

// heldOut11CorpusFile: see TestCorpusHeldOut11.
const heldOut11CorpusFile = "testdata/corpus_heldout11.txtar"

// TestCorpusHeldOut11 scores the eleventh held-out corpus, written blind by
// a helper while the rules of that session were made on corpora 9 and 10.
func TestCorpusHeldOut11(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 11", loadTxtarCorpus(t, heldOut11CorpusFile, 25)))
}

// reportHeldOut asserts the personnummer targets of issue 16 on a held-out
// corpus and reports, without asserting, how its names scores stand to
// the targets.
func reportHeldOut(t *testing.T, scores map[Kind]*score) {
	t.Helper()
	if sc := scores[KindPersonnummer]; sc.recall() < 1 || sc.precision() < issue16Targets.pnrPrecision {
		t.Errorf("personnummer: recall %.3f (want 1.00), precision %.3f (want ≥ %.3f)", sc.recall(), sc.precision(), issue16Targets.pnrPrecision)
	}
	if sc := scores[KindName]; sc.recall() < issue16Targets.nameRecall || sc.precision() < issue16Targets.namePrecision {
		t.Logf("names: recall %.3f, precision %.3f: short of the targets of issue 16 (%.2f, %.2f)",
			sc.recall(), sc.precision(), issue16Targets.nameRecall, issue16Targets.namePrecision)
	}
}

// heldOut12CorpusFile: see TestCorpusHeldOut12.
const heldOut12CorpusFile = "testdata/corpus_heldout12.txtar"

// TestCorpusHeldOut12 scores the twelfth held-out corpus: 50 documents
// written blind by two helpers, in the styles of issue 16, committed
// before the detector was run on them.
func TestCorpusHeldOut12(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 12", loadTxtarCorpus(t, heldOut12CorpusFile, 50)))
}

// heldOut13CorpusFile: see TestCorpusHeldOut13.
const heldOut13CorpusFile = "testdata/corpus_heldout13.txtar"

// TestCorpusHeldOut13 scores the thirteenth held-out corpus: 50 documents
// written blind by two helpers while corpus 12 was being read, committed
// before the detector was run on them.
func TestCorpusHeldOut13(t *testing.T) {
	reportHeldOut(t, scoreCorpus(t, "held-out corpus 13", loadTxtarCorpus(t, heldOut13CorpusFile, 50)))
}

// heldOut14CorpusFile: see TestCorpusHeldOut14.
const heldOut14CorpusFile = "testdata/corpus_heldout14.txtar"

// TestCorpusHeldOut14 scores the fourteenth held-out corpus: 30 documents
// written blind by a helper at the end of the session of 2026-12-07, in
// themes the earlier corpora lack, committed before the detector was run
// on them. Its documents are dated 2025–2026 (a baptism register of
// children born in 2025), so it is scored with the clock at the day it
// was written.
func TestCorpusHeldOut14(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	reportHeldOut(t, scoreCorpusAt(t, "held-out corpus 14", loadTxtarCorpus(t, heldOut14CorpusFile, 30), at))
}

// heldOut15CorpusFile: see TestCorpusHeldOut15.
const heldOut15CorpusFile = "testdata/corpus_heldout15.txtar"

// TestCorpusHeldOut15 scores the fifteenth held-out corpus: 50 documents
// written blind by two helpers at the start of the session of 2026-12-07
// (evening), in themes the earlier corpora lack, committed with their
// first scores before the detector was tuned on them. Scored with the
// clock at the day they were written.
func TestCorpusHeldOut15(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	reportHeldOut(t, scoreCorpusAt(t, "held-out corpus 15", loadTxtarCorpus(t, heldOut15CorpusFile, 50), at))
}

// heldOut16CorpusFile: see TestCorpusHeldOut16.
const heldOut16CorpusFile = "testdata/corpus_heldout16.txtar"

// TestCorpusHeldOut16 scores the sixteenth held-out corpus: 50 documents
// written blind by two helpers in the evening session of 2026-12-07, while
// the detector was tuned on corpus 15, and committed unread: like corpora
// 11 and 14 it measures text the rules were not made on.
func TestCorpusHeldOut16(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	reportHeldOut(t, scoreCorpusAt(t, "held-out corpus 16", loadTxtarCorpus(t, heldOut16CorpusFile, 50), at))
}

// heldOut17CorpusFile: see TestCorpusHeldOut17.
const heldOut17CorpusFile = "testdata/corpus_heldout17.txtar"

// TestCorpusHeldOut17 scores the seventeenth held-out corpus: 50
// documents written blind by two helpers on the morning of 2026-12-08 and
// scored before anyone read them (the first score is in the corpus
// README).
func TestCorpusHeldOut17(t *testing.T) {
	at := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	reportHeldOut(t, scoreCorpusAt(t, "held-out corpus 17", loadTxtarCorpus(t, heldOut17CorpusFile, 50), at))
}

// heldOut18CorpusFile: see TestCorpusHeldOut18.
const heldOut18CorpusFile = "testdata/corpus_heldout18.txtar"

// TestCorpusHeldOut18 scores the eighteenth held-out corpus: 50
// documents written blind by two helpers in the morning session of
// 2026-12-08 while the detector was tuned on corpus 17, and scored before
// anyone read them (the first score is in the corpus README).
func TestCorpusHeldOut18(t *testing.T) {
	at := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	reportHeldOut(t, scoreCorpusAt(t, "held-out corpus 18", loadTxtarCorpus(t, heldOut18CorpusFile, 50), at))
}
