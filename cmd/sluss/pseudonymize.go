package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sluss/sluss/pseudonym"
)

func runPseudonymize(ctx context.Context, e *env, args []string) error {
	return runPseudonymTool(ctx, e, "pseudonymize", args)
}

func runReidentify(ctx context.Context, e *env, args []string) error {
	return runPseudonymTool(ctx, e, "reidentify", args)
}

// runPseudonymTool is `sluss pseudonymize` and `sluss reidentify`: the same
// flags, opposite directions, over the region's key store and
// re-identification store.
func runPseudonymTool(ctx context.Context, e *env, name string, args []string) error {
	usage := "[--format auto|text|json|csv|form|html] [--fields a,b,…] [-o OUTPUT] [INPUT]"
	if name == "pseudonymize" {
		usage = "[--format auto|text|json|csv|form|html] [--fields a,b,…] [--explain] [-o OUTPUT] [INPUT]"
	}
	fs := newFlagSet(e, name, usage)
	sf := addStoreFlags(fs)
	format := fs.String("format", "auto", "input `FORMAT`: auto, text, json, csv, form or html")
	fields := fs.String("fields", "", "comma-separated JSON keys, form fields and CSV headers whose whole value is a name (default: the built-in list)")
	out := fs.String("o", "", "write to `OUTPUT` instead of standard output; written only if the whole input transforms")
	stats := fs.Bool("stats", false, "print the counts of replaced values (never the values) to standard error")
	var explain *bool
	if name == "pseudonymize" {
		explain = fs.Bool("explain", false, "print to standard error, for every replaced value, where it stands (offset, line, column, length), its type and the rule that fired; never the value, and never to a log")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	f, err := pseudonym.ParseFormat(*format)
	if err != nil {
		return usagef("--format: %v", err)
	}
	cfg := pseudonym.Config{Now: time.Now}
	if *fields != "" {
		for _, fl := range strings.Split(*fields, ",") {
			if fl = strings.TrimSpace(fl); fl != "" {
				cfg.NameFields = append(cfg.NameFields, fl)
			}
		}
	}
	in, closeIn, err := openInput(e, pos)
	if err != nil {
		return err
	}
	defer closeIn()
	if explain != nil && *explain {
		// To the terminal only: the offsets point at personal data in the
		// input, so they go to standard error, not through the logger.
		lines := &lineIndex{r: in}
		in = lines
		cfg.Explain = func(d pseudonym.Decision) {
			line, col := lines.position(d.Offset)
			kind := "name"
			if d.Kind == pseudonym.KindPersonnummer {
				kind = "personnummer"
			}
			fmt.Fprintf(e.stderr, "explain: offset=%d line=%d col=%d length=%d type=%s rule=%q\n",
				d.Offset, line, col, d.Length, kind, d.Rule)
		}
	}

	fc, err := loadServe(e, sf)
	if err != nil {
		return err
	}
	log := cliLogger(e)
	ks, err := openStore(ctx, fc.Keys, log)
	if err != nil {
		return err
	}
	defer ks.Close()
	storeKey, err := ks.ReidentificationKey()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(fc.Keys.DataDir, 0o700); err != nil {
		return err
	}
	shared, err := openSharedStores(ctx, e, fc, storeKey, log)
	if err != nil {
		return err
	}
	defer shared.Close()
	cfg.Logger = &log
	p, err := pseudonym.New(cfg, ks, shared.pseudonyms)
	if err != nil {
		return err
	}

	var counts pseudonym.Counts
	err = writeOutput(e, *out, func(w io.Writer) error {
		var err error
		if name == "pseudonymize" {
			counts, err = p.Transform(ctx, f, in, w)
		} else {
			counts, err = p.Reidentify(ctx, f, in, w)
		}
		return err
	})
	if err != nil {
		return err
	}
	if *stats {
		fmt.Fprintf(e.stderr, "personnummer=%d names=%d reidentified=%d unknown_tokens=%d\n",
			counts.Personnummer, counts.Names, counts.Reidentified(), counts.Unknown)
	}
	return nil
}

// lineIndex passes a reader through and notes where its lines start, so
// that an offset can be shown as line and column (both from 1, the column
// in bytes).
type lineIndex struct {
	r      io.Reader
	n      int64
	starts []int64 // offsets of the bytes after each line end
}

func (l *lineIndex) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			l.starts = append(l.starts, l.n+int64(i)+1)
		}
	}
	l.n += int64(n)
	return n, err
}

func (l *lineIndex) position(off int64) (line int, col int64) {
	k := sort.Search(len(l.starts), func(k int) bool { return l.starts[k] > off })
	start := int64(0)
	if k > 0 {
		start = l.starts[k-1]
	}
	return k + 1, off - start + 1
}
