package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"

	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/keys"
)

// maxProblemLines bounds what verify prints; the count is always given.
const maxProblemLines = 100

func runAudit(ctx context.Context, e *env, args []string) error {
	const usage = "usage: sluss audit verify [--data-dir DIR | --config FILE | --public-key KEY] [--open] FILE…\n       sluss audit key [--data-dir DIR | --config FILE]"
	if len(args) == 0 {
		return usagef("%s", usage)
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, e, args[1:])
	case "key":
		return runAuditKey(ctx, e, args[1:])
	case "help", "-h", "--help":
		fmt.Fprintln(e.stderr, usage)
		return nil
	}
	return usagef("unknown audit command %q\n%s", args[0], usage)
}

// runAuditVerify checks audit files: chains, signatures, final
// checkpoints. One line per problem, with file and line number; exit 0
// only when every chain is whole.
func runAuditVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "audit verify", "[--data-dir DIR | --config FILE | --public-key KEY] [--open] FILE…")
	sf := addStoreFlags(fs)
	pubText := fs.String("public-key", "", "check checkpoint signatures against `KEY` (ed25519:…, as `sluss audit key` prints it) instead of the key store's")
	open := fs.Bool("open", false, "the log may still be written: a chain without a final checkpoint is a warning, not a problem")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no audit file given (oldest first, - for standard input)")
	}
	if *pubText != "" && (sf.config != "" || sf.dataDir != "") {
		return usagef("give --public-key or a key store (--data-dir, --config), not both")
	}
	var pub ed25519.PublicKey
	if *pubText != "" {
		if pub, err = gateway.ParseAuditPublicKey(*pubText); err != nil {
			return usagef("--public-key: %v", err)
		}
	} else if pub, err = auditPublicKey(ctx, e, sf); err != nil {
		return err
	}
	v := gateway.NewAuditVerifier(pub)
	v.Open = *open
	for _, name := range files {
		if err := verifyFile(v, e, name); err != nil {
			return err
		}
	}
	r := v.Report()
	for i, p := range r.Problems {
		if i == maxProblemLines {
			fmt.Fprintf(e.stdout, "… and %d more problems\n", len(r.Problems)-i)
			break
		}
		fmt.Fprintln(e.stdout, p)
	}
	for _, w := range r.Warnings {
		fmt.Fprintln(e.stdout, "warning:", w)
	}
	for _, c := range r.Chains {
		fmt.Fprintf(e.stdout, "chain %s: seq %d–%d, %d signed, %s\n", c.Chain, c.FirstSeq, c.LastSeq, c.Checkpoints, chainEnd(c))
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%s in %d lines", plural(len(r.Problems), "problem"), r.Lines)
	}
	fmt.Fprintf(e.stdout, "ok: %d lines, %s\n", r.Lines, plural(len(r.Chains), "chain"))
	return nil
}

func verifyFile(v *gateway.AuditVerifier, e *env, name string) error {
	if name == "-" {
		return v.Verify("-", e.stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return v.Verify(name, f)
}

func chainEnd(c gateway.AuditChainSummary) string {
	var s string
	switch c.End {
	case "shutdown":
		s = "ends with its shutdown checkpoint"
	case "file_end":
		s = "ends with a file_end checkpoint (continued in a later file)"
	default:
		s = fmt.Sprintf("open after the checkpoint at seq %d", c.LastSigned)
	}
	if c.Continued {
		s = "continues from an earlier file, " + s
	}
	return s
}

// runAuditKey prints the public key that checks audit checkpoints, for
// auditors who verify without access to the key store.
func runAuditKey(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "audit key", "[--data-dir DIR | --config FILE]")
	sf := addStoreFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	pub, err := auditPublicKey(ctx, e, sf)
	if err != nil {
		return err
	}
	_, err = io.WriteString(e.stdout, gateway.AuditPublicKey(pub)+"\n")
	return err
}

// auditPublicKey derives the checkpoint key from the key store, as serve
// does.
func auditPublicKey(ctx context.Context, e *env, sf *storeFlags) (ed25519.PublicKey, error) {
	fc, err := loadServe(e, sf)
	if err != nil {
		return nil, err
	}
	store, err := keys.Open(ctx, fc.Keys, cliLogger(e))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	key, err := gateway.AuditSigningKey(store)
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
