package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// fileBackend keeps each kind of key material as one JSON file in
// DataDir/keys: identity.json, hmac-pnr.json, reidentification.json, ca.json.
// The directory is 0700 and the files 0600; files readable by group or
// others are refused. Writes go to a temporary file renamed into place
// under an exclusive lock, so a gateway reading concurrently sees the old
// or the new file, never half of one.
type fileBackend struct {
	dir string
}

// fileDoc is a document as the embedded store writes it: with a revision
// for compare-and-swap.
type fileDoc struct {
	Revision int `json:"revision"`
	document
}

func newFileBackend(dataDir string) *fileBackend {
	// Absolute, so that messages say exactly which files are meant.
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	return &fileBackend{dir: filepath.Join(dataDir, "keys")}
}

func (f *fileBackend) path(kind string) string {
	return filepath.Join(f.dir, strings.ReplaceAll(kind, "/", "-")+".json")
}

func (f *fileBackend) where(kind string) string { return f.path(kind) }
func (f *fileBackend) location() string         { return f.dir }
func (f *fileBackend) close() error             { return nil }

// prepare checks the directory before a refresh: it must exist and be
// private.
func (f *fileBackend) prepare(context.Context) error {
	st, err := os.Stat(f.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no keys in %s", ErrNotInitialized, f.dir)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", f.dir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("key directory %s is accessible by group or others (mode %#o); fix it with: chmod 700 %s", f.dir, st.Mode().Perm(), f.dir)
	}
	return nil
}

func (f *fileBackend) get(_ context.Context, kind string) (*document, int, error) {
	p := f.path(kind)
	fh, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, 0, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, 0, fmt.Errorf("key file %s is readable or writable by group or others (mode %#o); refusing to use it. Fix it with: chmod 600 %s", p, perm, p)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(fh); err != nil {
		return nil, 0, fmt.Errorf("failed to read %s: %w", p, err)
	}
	var d fileDoc
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		// json's errors name types and offsets, not values, but keep the
		// message free of the file's contents all the same.
		return nil, 0, fmt.Errorf("%s is not a sluss key file (malformed JSON)", p)
	}
	return &d.document, d.Revision, nil
}

func (f *fileBackend) put(ctx context.Context, kind string, d *document, rev int) error {
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(f.dir, 0o700); err != nil {
		return err
	}
	unlock, err := f.lock()
	if err != nil {
		return err
	}
	defer unlock()
	_, cur, err := f.get(ctx, kind)
	if err != nil {
		return err
	}
	if cur != rev {
		return fmt.Errorf("%s %w", f.path(kind), errConflict)
	}
	b, err := json.MarshalIndent(fileDoc{Revision: rev + 1, document: *d}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path(kind)); err != nil {
		return err
	}
	if dir, err := os.Open(f.dir); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// lock takes an exclusive lock on DataDir/keys/.lock, so that two admins
// rotating at once take turns.
func (f *fileBackend) lock() (func(), error) {
	l, err := os.OpenFile(filepath.Join(f.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX); err != nil {
		l.Close()
		return nil, fmt.Errorf("failed to lock %s: %w", l.Name(), err)
	}
	return func() {
		syscall.Flock(int(l.Fd()), syscall.LOCK_UN)
		l.Close()
	}, nil
}
