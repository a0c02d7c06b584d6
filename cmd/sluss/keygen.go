package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sluss/sluss/crypto"
)

func runKeygen(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keygen", "[-o OUTPUT] | -y [INPUT]")
	out := fs.String("o", "", "write the identity to `OUTPUT` (created with mode 0600; never overwritten)")
	toPublic := fs.Bool("y", false, "print the recipient of the identity file `INPUT` (or stdin)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *toPublic {
		if *out != "" {
			return usagef("-y and -o cannot be used together")
		}
		return printRecipients(e, pos)
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}

	id, err := crypto.GenerateIdentity()
	if err != nil {
		return err
	}
	w := e.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite an identity file", *out)
		}
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	recipient := id.Recipient().String()
	if _, err := fmt.Fprintf(w, "# created: %s\n# public key: %s\n%s\n",
		time.Now().Format(time.RFC3339), recipient, id.SecretKey()); err != nil {
		return fmt.Errorf("failed to write identity: %w", err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Close(); err != nil {
			return fmt.Errorf("failed to write identity: %w", err)
		}
	}
	fmt.Fprintf(e.stderr, "Public key: %s\n", recipient)
	return nil
}

// printRecipients prints the recipient of every identity in the file (or
// stdin), like age-keygen -y.
func printRecipients(e *env, pos []string) error {
	var in io.Reader = e.stdin
	name := "standard input"
	switch len(pos) {
	case 0:
	case 1:
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, pos[0]
	default:
		return usagef("too many arguments")
	}
	ids, err := parseIdentityFile(in, name)
	if err != nil {
		return err
	}
	for _, id := range ids {
		pq, ok := id.(*crypto.Identity)
		if !ok {
			return fmt.Errorf("%s: only AGE-SECRET-KEY-PQ-1 identities are supported with -y", name)
		}
		fmt.Fprintln(e.stdout, pq.Recipient())
	}
	return nil
}
