package pseudonym

import (
	"bytes"
	"testing"
)

// TestLowerGate checks that the cheap test before the lower-case scan of a
// value (mayHoldLowerName) lets through every line of the corpora in which
// the scan finds a name: a value it rules out holds none.
func TestLowerGate(t *testing.T) {
	lx, err := loadLexicon()
	if err != nil {
		t.Fatal(err)
	}
	docs := loadCorpus(t)
	for _, f := range []string{stylesCorpusFile, styles2CorpusFile, heldOutCorpusFile, heldOut2CorpusFile, freshCorpusFile} {
		docs = append(docs, loadTxtarCorpus(t, f, 1)...)
	}
	lines, found := 0, 0
	for _, doc := range docs {
		for _, line := range bytes.Split([]byte(doc.text), []byte("\n")) {
			if len(line) > maxLowerValue || !severalWords(line) {
				continue
			}
			lines++
			d := newNameDetector(lx)
			d.valueMode = true
			ms := d.lowerLine(nil, line, 0, len(line), 0, 0)
			if len(ms) == 0 {
				continue
			}
			found++
			if !newNameDetector(lx).mayHoldLowerName(line) {
				t.Errorf("%s: the gate rules out %q, where the scan finds %q", doc.name, line, line[ms[0].start:ms[0].end])
			}
		}
	}
	t.Logf("%d lines, %d with a lower-case name", lines, found)
	if found < 50 {
		t.Fatalf("only %d lines with a lower-case name: the test checks too little", found)
	}
}
