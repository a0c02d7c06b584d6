package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/keys"
)

func runEncrypt(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "encrypt", "(-r RECIPIENT | -R PATH)... | --data-dir DIR | --config FILE [-a] [-o OUTPUT] [INPUT]")
	var rFlags, rFiles stringList
	fs.Var(&rFlags, "r", "encrypt to `RECIPIENT` (age1pq1…); repeatable")
	fs.Var(&rFiles, "R", "encrypt to the recipients listed in `PATH`; repeatable")
	sf := addStoreFlags(fs)
	armored := fs.Bool("a", false, "write PEM-armored (ASCII) output")
	out := fs.String("o", "", "write to `OUTPUT` instead of standard output")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	var recipients []age.Recipient
	for _, s := range rFlags {
		r, err := parseRecipient(s)
		if err != nil {
			return err
		}
		recipients = append(recipients, r)
	}
	for _, path := range rFiles {
		rs, err := parseRecipientFile(path)
		if err != nil {
			return err
		}
		recipients = append(recipients, rs...)
	}
	if len(recipients) == 0 && sf.given(e) {
		// The region's current recipient and its escrow recipients.
		store, err := sf.openKeyStore(ctx, e)
		if err != nil {
			return err
		}
		enc, err := store.Encryption()
		store.Close()
		if err != nil {
			return err
		}
		recipients = enc.Recipients()
	}
	if len(recipients) == 0 {
		return usagef("missing recipients: use -r or -R, or --data-dir/--config for the region's key store")
	}
	in, closeIn, err := openInput(e, pos)
	if err != nil {
		return err
	}
	defer closeIn()
	if *out == "" && !*armored && isTerminal(e.stdout) {
		return usagef("refusing to write binary ciphertext to a terminal; use -o or -a")
	}
	return writeOutput(e, *out, func(w io.Writer) error {
		var aw io.WriteCloser
		if *armored {
			aw = armor.NewWriter(w)
			w = aw
		}
		ew, err := crypto.Encrypt(w, recipients...)
		if err != nil {
			return err
		}
		if _, err := io.Copy(ew, in); err != nil {
			return err
		}
		if err := ew.Close(); err != nil {
			return err
		}
		if aw != nil {
			return aw.Close()
		}
		return nil
	})
}

func runDecrypt(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "decrypt", "(-i PATH)... | --data-dir DIR | --config FILE [-o OUTPUT] [INPUT]")
	var iFiles stringList
	fs.Var(&iFiles, "i", "use the identity file at `PATH`; repeatable")
	sf := addStoreFlags(fs)
	out := fs.String("o", "", "write to `OUTPUT` instead of standard output; written only if the whole file authenticates")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	var ids []age.Identity
	for _, path := range iFiles {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		got, err := parseIdentityFile(f, path)
		f.Close()
		if err != nil {
			return err
		}
		ids = append(ids, got...)
	}
	if sf.given(e) {
		// Every retained version of the region's identity.
		store, err := sf.openKeyStore(ctx, e)
		if err != nil {
			return err
		}
		stored, err := store.Identities()
		store.Close()
		if err != nil {
			return err
		}
		ids = append(ids, keys.AgeIdentities(stored)...)
	}
	if len(ids) == 0 {
		return usagef("missing identities: use -i, or --data-dir/--config for the region's key store")
	}
	in, closeIn, err := openInput(e, pos)
	if err != nil {
		return err
	}
	defer closeIn()
	return writeOutput(e, *out, func(w io.Writer) error {
		src := bufio.NewReaderSize(in, 64<<10)
		var r io.Reader = src
		if peek, _ := src.Peek(crypto.SniffLen); bytes.HasPrefix(peek, []byte("-----BEGIN")) {
			r = armor.NewReader(src)
		}
		pr, err := crypto.Decrypt(r, ids...)
		if err != nil {
			var nm *age.NoIdentityMatchError
			if errors.As(err, &nm) {
				return errors.New("no identity matched any of the recipients")
			}
			return err
		}
		if _, err := io.Copy(w, pr); err != nil {
			return err
		}
		return nil
	})
}

func parseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		return crypto.ParseRecipient(s)
	case strings.HasPrefix(s, "age1"):
		return nil, fmt.Errorf("recipient %.12q… is a classic X25519 key, which is not post-quantum; sluss encrypts only to mlkem768x25519 recipients (age1pq1…, from 'sluss keygen' or 'age-keygen -pq')", s)
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"):
		return nil, errors.New("that is a secret key, not a recipient: pass the age1pq1… public key (sluss keygen -y FILE prints it)")
	default:
		return nil, fmt.Errorf("unknown recipient type %.12q…: want age1pq1…", s)
	}
}

func parseRecipientFile(path string) ([]age.Recipient, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []age.Recipient
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read recipients file %s: %w", path, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no recipients found in %s", path)
	}
	return rs, nil
}

// parseIdentityFile reads an identity file in age's format: one key a line,
// '#' comments and blank lines ignored. Errors name the line, never its text.
func parseIdentityFile(r io.Reader, name string) ([]age.Identity, error) {
	var ids []age.Identity
	sc := bufio.NewScanner(io.LimitReader(r, 16<<20))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var (
			id  age.Identity
			err error
		)
		switch {
		case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
			id, err = crypto.ParseIdentity(line)
		case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
			id, err = age.ParseX25519Identity(line)
			if err != nil {
				err = errors.New("malformed X25519 secret key")
			}
		default:
			err = errors.New("not an identity (want AGE-SECRET-KEY-PQ-1…)")
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read identity file %s: %w", name, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no identities found in %s", name)
	}
	return ids, nil
}

func openInput(e *env, pos []string) (io.Reader, func(), error) {
	switch len(pos) {
	case 0:
		return e.stdin, func() {}, nil
	case 1:
		if pos[0] == "-" {
			return e.stdin, func() {}, nil
		}
		f, err := os.Open(pos[0])
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	default:
		return nil, nil, usagef("too many arguments: only one input file")
	}
}

// writeOutput runs write against standard output or, with a path, against
// a temporary file beside it that is renamed into place only if write
// succeeds: a failed decryption leaves no partial file behind.
func writeOutput(e *env, path string, write func(io.Writer) error) error {
	if path == "" || path == "-" {
		// What reaches stdout before an error is authenticated plaintext.
		return write(e.stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
