package pseudonym

import (
	"os"
	"strings"
	"testing"
)

// go test -run TestDebugWords -words "text" prints the classification.
func TestDebugWords(t *testing.T) {
	in := os.Getenv("WORDS")
	if in == "" {
		t.Skip()
	}
	lx, _ := loadLexicon()
	d := newNameDetector(lx)
	d.keepAll = true
	b := []byte(in)
	d.splitWords(b)
	for _, w := range d.words {
		text := b[w.start:w.end]
		f := d.lookup(text)
		t.Logf("%-16q shape=%d f=%04b common=%v join=%v sent=%v", text, w.shape, f, d.common(text), w.gapJoin, w.gapSentence)
		if os.Getenv("FACTS") != "" {
			t.Logf("    %+v", d.facts(text))
		}
	}
	var names []string
	for _, m := range d.find(nil, b, 0, nil) {
		names = append(names, string(b[m.start:m.end])+" ["+m.rule+"]")
	}
	t.Log(strings.Join(names, " | "))
}
