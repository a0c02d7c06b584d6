package pseudonym

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestExplainSpans checks that Config.Explain reports exactly the spans a
// transform replaced, each with a rule, on every labelled document of
// every format.
func TestExplainSpans(t *testing.T) {
	var got []Decision
	p, _ := newTestPseudonymizer(t, Config{Explain: func(d Decision) { got = append(got, d) }})
	docs := append(loadCorpus(t), loadFreshCorpus(t)...)
	docs = append(docs, loadTxtarCorpus(t, stylesCorpusFile, 40)...)
	for _, d := range docs {
		got = got[:0]
		out, c, err := p.PseudonymizeString(context.Background(), d.format, d.text)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		want := detectedSpans(t, p, d, out)
		if len(got) != len(want) || len(got) != c.Total() {
			t.Errorf("%s: %d decisions, %d spans replaced, counts %d", d.name, len(got), len(want), c.Total())
			continue
		}
		for i, w := range want {
			g := got[i]
			if g.Offset != int64(w.start) || g.Length != w.end-w.start || g.Kind != w.kind || g.Rule == "" {
				t.Errorf("%s: decision %d is %+v, want offset %d length %d kind %v", d.name, i, g, w.start, w.end-w.start, w.kind)
			}
		}
	}
}

// TestExplainOffsetsStream checks the offsets across the chunks of a long
// text stream.
func TestExplainOffsetsStream(t *testing.T) {
	var got []Decision
	p, _ := newTestPseudonymizer(t, Config{Explain: func(d Decision) { got = append(got, d) }})
	in := string(benchText(300 << 10))
	c, err := p.Transform(context.Background(), FormatText, strings.NewReader(in), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != c.Total() || len(got) < 100 {
		t.Fatalf("%d decisions, counts %+v", len(got), c)
	}
	for _, d := range got {
		v := in[d.Offset : d.Offset+int64(d.Length)]
		switch {
		case d.Kind == KindName && (v == "Anna" || v == "Berg"):
		case d.Kind == KindPersonnummer && len(v) == 11 && v[6] == '-':
		default:
			t.Fatalf("decision %+v points at %q", d, v)
		}
	}
}
