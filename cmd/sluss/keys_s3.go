package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluss/sluss/keys"
)

const keysS3Synopsis = `COMMAND [--config FILE | --data-dir DIR]

Commands:
  add ACCESS_KEY_ID [--user NAME] [--issued]
                   store an S3 access key; the secret is read from standard
                   input (one line). Transparent (a client's own key at the
                   service) unless --issued (a key the region gave user NAME;
                   requests are signed upstream with the service's key).
                   Adding an ID again replaces its secret.
  list             show the access key IDs, modes and users, never a secret
  remove ACCESS_KEY_ID
                   delete an S3 access key`

var keysS3Commands = map[string]func(ctx context.Context, e *env, args []string) error{
	"add":    runKeysS3Add,
	"list":   runKeysS3List,
	"remove": runKeysS3Remove,
}

func runKeysS3(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: sluss keys s3 %s\n", keysS3Synopsis)
		if len(args) == 0 {
			return usagef("missing keys s3 command")
		}
		return flag.ErrHelp
	}
	cmd, ok := keysS3Commands[args[0]]
	if !ok {
		return usagef("unknown keys s3 command %q; run 'sluss keys s3 help'", args[0])
	}
	return cmd(ctx, e, args[1:])
}

// accessKeyIDArg parses a keys s3 subcommand's flags and its one
// positional argument, the access key ID.
func accessKeyIDArg(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		return "", usagef("missing ACCESS_KEY_ID")
	case 1:
		return pos[0], nil
	}
	return "", usagef("unexpected argument %q", pos[1])
}

func runKeysS3Add(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys s3 add", "ACCESS_KEY_ID [--user NAME] [--issued] [--config FILE | --data-dir DIR] < SECRET")
	sf := addStoreFlags(fs)
	user := fs.String("user", "", "attribute the key's requests to sluss user `NAME`")
	issued := fs.Bool("issued", false, "the region issued this key to --user; requests are signed upstream with the service's key")
	id, err := accessKeyIDArg(fs, args)
	if err != nil {
		return err
	}
	if *issued && *user == "" {
		return usagef("--issued needs --user NAME: the user the key is issued to")
	}
	secret, err := readS3Secret(e.stdin)
	if err != nil {
		return err
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	c := keys.S3Credential{AccessKeyID: id, Secret: secret, User: *user, Issued: *issued}
	if err := adm.AddS3Credential(ctx, c); err != nil {
		return err
	}
	mode := "transparent"
	if *issued {
		mode = "issued to " + *user
	}
	fmt.Fprintf(e.stdout, "added s3 access key %s (%s)\n", id, mode)
	return nil
}

// readS3Secret reads the secret access key: the first line of standard
// input, without its line ending.
func readS3Secret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("failed to read the secret from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usagef("no secret on standard input; pipe it in: sluss keys s3 add ACCESS_KEY_ID < secret-file")
	}
	return line, nil
}

func runKeysS3List(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys s3 list", "[--config FILE | --data-dir DIR]")
	sf := addStoreFlags(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	list, err := adm.ListS3Credentials(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, c := range list {
		user := c.User
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.AccessKeyID, c.Mode(), user, c.Created.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func runKeysS3Remove(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "keys s3 remove", "ACCESS_KEY_ID [--config FILE | --data-dir DIR]")
	sf := addStoreFlags(fs)
	id, err := accessKeyIDArg(fs, args)
	if err != nil {
		return err
	}
	adm, err := sf.openKeyAdmin(ctx, e)
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := adm.RemoveS3Credential(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed s3 access key %s\n", id)
	return nil
}
