package main

import (
	"context"

	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts run `sluss` as a real process built from this
// package (testscript re-executes the test binary).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sluss": func() {
			os.Exit(run(context.Background(), &env{os.Stdin, os.Stdout, os.Stderr, os.Getenv}, os.Args[1:]))
		},
	})
}

// TestScripts runs the CLI scenarios in testdata/*.txt. Scenarios that need
// the real age CLI say so with [exec:age]; under CI its absence is an error,
// not a skip.
func TestScripts(t *testing.T) {
	if _, err := exec.LookPath("age"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("age CLI not on PATH; test.sh installs it (go install filippo.io/age/cmd/...@v1.3.1)")
		}
		t.Log("age CLI not on PATH: interop scenarios will be skipped; run ./test.sh")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Cmds:                scriptCmds,
		Setup: func(e *testscript.Env) error {
			// Keep the scripts off any data dir of the developer's.
			e.Setenv("SLUSS_DATA_DIR", filepath.Join(e.WorkDir, "sluss-data"))
			return nil
		},
	})
}

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// genfile NAME SIZE writes SIZE pseudo-random bytes (sizes may end in K or M).
	"genfile": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: genfile NAME SIZE")
		}
		n := parseSize(ts, args[1])
		b := make([]byte, n)
		r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
		r.Read(b)
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
	},
	// flipbyte NAME OFFSET flips the low bit of one byte; a negative offset
	// counts from the end.
	"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: flipbyte NAME OFFSET")
		}
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		ts.Check(err)
		off, err := strconv.Atoi(args[1])
		ts.Check(err)
		if off < 0 {
			off += len(b)
		}
		b[off] ^= 1
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
	},
	// tweakb64 NAME OFFSET replaces the base64 character at OFFSET with
	// another valid one ('A', or 'B' if it was 'A'): the text stays
	// well-formed, the value changes.
	"tweakb64": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: tweakb64 NAME OFFSET")
		}
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		ts.Check(err)
		off, err := strconv.Atoi(args[1])
		ts.Check(err)
		if b[off] == 'A' {
			b[off] = 'B'
		} else {
			b[off] = 'A'
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
	},
	// truncate NAME SIZE cuts a file to SIZE bytes; a negative size removes
	// that many bytes from the end.
	"truncate": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: truncate NAME SIZE")
		}
		st, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		n, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		if n < 0 {
			n += st.Size()
		}
		ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
	},
	// perm NAME MODE asserts a file's permission bits (octal).
	"perm": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: perm NAME MODE")
		}
		st, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		want, err := strconv.ParseUint(args[1], 8, 32)
		ts.Check(err)
		if got := st.Mode().Perm(); (got == fs.FileMode(want)) == neg {
			ts.Fatalf("%s has mode %#o, want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
		}
	},
	// size NAME BYTES asserts a file's size.
	"size": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: size NAME BYTES")
		}
		st, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		if got := st.Size(); (got == parseSize(ts, args[1])) == neg {
			ts.Fatalf("%s is %d bytes", args[0], got)
		}
	},
}

func parseSize(ts *testscript.TestScript, s string) int64 {
	mult := int64(1)
	switch s[len(s)-1] {
	case 'K':
		mult, s = 1<<10, s[:len(s)-1]
	case 'M':
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		ts.Fatalf("bad size %q: %v", s, err)
	}
	return n * mult
}
