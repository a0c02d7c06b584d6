package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluss/sluss/keys"
)

const keysSynopsis = `COMMAND [--config FILE | --data-dir DIR]

Commands:
  init             create the first version of every key (idempotent)
  rotate           add a version: --identity, --hmac DOMAIN or --ca
  list             show versions, creation times and public fingerprints
  recipient        print the age1pq1… recipients new files are encrypted to
  export-identity  print every identity version (AGE-SECRET-KEY-PQ-1…), for
                   the exit plan; needs --i-understand-this-exports-the-private-key
  s3               add, list and remove S3 access keys (sluss keys s3 help)`

var keysCommands = map[string]func(ctx context.Context, e *env, args []string) error{
	"init":            runKeysInit,
	"rotate":          runKeysRotate,
	"list":            runKeysList,
	"recipient":       runKeysRecipient,
	"export-identity": runKeysExport,
	"s3":              runKeysS3,
}

func runKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: sluss keys %s\n", keysSynopsis)
		if len(args) == 0 {
			return usagef("missing keys command")
		}
		return flag.ErrHelp
	}
	cmd, ok := keysCommands[args[0]]
	if !ok {
		return usagef("unknown keys command %q; run 'sluss keys help'", args[0])
	}
	return cmd(ctx, e, args[1:])
}

// noArgs parses a keys subcommand's flags and refuses positional arguments.
func noArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if len(fs.Args()) > 0 {
		return usagef("unexpected argument %q", fs.Args()[0])
	}
	return nil
}

func runKeysInit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys init", "[--config FILE | --data-dir DIR]")
	sf := addStoreFlags(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	res, err := adm.Init(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, r := range res {
		what := "exists"
		if r.Created {
			what = "created"
		}
		fmt.Fprintf(tw, "%s\tv%d\t%s\n", r.Kind, r.Version, what)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "keys are in %s\n", adm.Location())
	return nil
}

func runKeysRotate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys rotate", "(--identity | --hmac DOMAIN | --ca) [--config FILE | --data-dir DIR]")
	sf := addStoreFlags(fs)
	identity := fs.Bool("identity", false, "add a region identity version; earlier versions stay for decryption")
	hmac := fs.String("hmac", "", "add a pseudonymization key version for `DOMAIN` (pnr, name)")
	ca := fs.Bool("ca", false, "replace the gateway CA (clients must trust the new certificate)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{*identity, *hmac != "", *ca} {
		if set {
			n++
		}
	}
	if n != 1 {
		return usagef("say what to rotate: exactly one of --identity, --hmac DOMAIN or --ca")
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	var (
		kind string
		v    int
	)
	switch {
	case *identity:
		kind = keys.KindIdentity
		v, err = adm.RotateIdentity(ctx)
	case *hmac != "":
		kind = "hmac/" + *hmac
		v, err = adm.RotateHMAC(ctx, *hmac)
	default:
		kind = keys.KindCA
		v, err = adm.RotateCA(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: now v%d\n", kind, v)
	switch kind {
	case keys.KindIdentity:
		fmt.Fprintln(e.stdout, "New files are encrypted to the new version once gateways refresh; earlier versions still decrypt.")
	case keys.KindCA:
		fmt.Fprintln(e.stdout, "Clients must trust the new CA certificate ('sluss ca export').")
	}
	return nil
}

func runKeysList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys list", "[--config FILE | --data-dir DIR]")
	sf := addStoreFlags(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	list, err := adm.List(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "keys in %s\n", adm.Location())
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tVERSION\tCURRENT\tCREATED\tFINGERPRINT\tNOTE")
	for _, k := range list {
		cur := ""
		if k.Current {
			cur = "*"
		}
		note := ""
		if !k.Expires.IsZero() {
			note = "expires " + k.Expires.UTC().Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\tv%d\t%s\t%s\t%s\t%s\n", k.Kind, k.Version, cur, k.Created.UTC().Format(time.RFC3339), k.Fingerprint, note)
	}
	return tw.Flush()
}

func runKeysRecipient(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys recipient", "[--config FILE | --data-dir DIR]")
	sf := addStoreFlags(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	enc, err := adm.Recipients(ctx)
	if err != nil {
		return err
	}
	// A recipients file: usable as sluss encrypt -R or age -R.
	fmt.Fprintf(e.stdout, "# region identity v%d (fingerprint %s)\n%s\n", enc.Version, enc.Region.Fingerprint(), enc.Region)
	for i, r := range enc.Escrow {
		fmt.Fprintf(e.stdout, "# escrow recipient %d (fingerprint %s)\n%s\n", i+1, r.Fingerprint(), r)
	}
	return nil
}

const exportConsentFlag = "i-understand-this-exports-the-private-key"

func runKeysExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys export-identity", "--"+exportConsentFlag+" [-o OUTPUT] [--config FILE | --data-dir DIR]")
	sf := addStoreFlags(fs)
	consent := fs.Bool(exportConsentFlag, false, "confirm that the region's private identities are to be written out")
	out := fs.String("o", "", "write to `OUTPUT` (created with mode 0600, never overwritten) instead of standard output")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if !*consent {
		return usagef("this prints the region's private identities, which decrypt every stored object; if that is what you want, add --%s", exportConsentFlag)
	}
	var w io.Writer = e.stdout
	if *out != "" && *out != "-" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	ids, err := adm.ExportIdentities(ctx)
	if err != nil {
		if f, ok := w.(*os.File); ok && f != e.stdout {
			os.Remove(f.Name())
		}
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# sluss region identities from %s, exported %s, newest first.\n", adm.Location(), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(&b, "# Every object sluss stored decrypts with: age -d -i THIS_FILE (age >= 1.3)")
	for _, id := range ids {
		fmt.Fprintf(&b, "# version %d, created %s, recipient fingerprint %s\n%s\n",
			id.Version, id.Created.UTC().Format(time.RFC3339), id.Recipient().Fingerprint(), id.SecretKey())
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && f != e.stdout {
		return f.Close()
	}
	return nil
}
