package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// KindS3 is the kind of the one document that holds every S3 access key
// the gateway knows. Unlike the other kinds it is not versioned: adding a
// key replaces one with the same ID, and keys can be removed. A store
// without the document holds no S3 keys.
const KindS3 = "s3"

// S3Credential is an S3 access key the gateway verifies clients' SigV4
// signatures with.
//
// A transparent credential (Issued false) is a client's own key at the
// cloud service: the gateway holds the same secret, verifies with it and
// signs upstream with it. An issued credential is one the region gave a
// user: the gateway verifies with it and signs upstream with the service's
// own (transparent) credential. User is the sluss user name the requests
// are attributed to; issued credentials always have one.
type S3Credential struct {
	AccessKeyID string
	Secret      string
	User        string
	Issued      bool
	Created     time.Time
}

// Mode is "issued" or "transparent".
func (c S3Credential) Mode() string {
	if c.Issued {
		return s3Issued
	}
	return s3Transparent
}

// String names the credential by access key ID and mode, never by its
// secret.
func (c S3Credential) String() string {
	s := "S3 access key " + strconv.Quote(c.AccessKeyID) + " (" + c.Mode()
	if c.User != "" {
		s += ", user " + strconv.Quote(c.User)
	}
	return s + ")"
}

// GoString keeps %#v from printing the secret.
func (c S3Credential) GoString() string { return "keys.S3Credential(" + c.String() + ")" }

const (
	s3Transparent = "transparent"
	s3Issued      = "issued"
	maxS3Secret   = 256
	maxS3User     = 128
)

var (
	accessKeyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,128}$`)
	// quotablePattern is what messages may quote: an ID's characters.
	quotablePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{0,128}$`)
)

// check validates a credential; its messages never contain the secret.
func (c S3Credential) check() error {
	if !accessKeyIDPattern.MatchString(c.AccessKeyID) {
		return fmt.Errorf("S3 access key ID %s: want 3 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-'", describeAccessKeyID(c.AccessKeyID))
	}
	switch {
	case c.Secret == "":
		return fmt.Errorf("S3 access key %q: the secret is empty", c.AccessKeyID)
	case len(c.Secret) > maxS3Secret:
		return fmt.Errorf("S3 access key %q: the secret is %d bytes, longer than %d", c.AccessKeyID, len(c.Secret), maxS3Secret)
	case strings.IndexFunc(c.Secret, notPrintable) >= 0:
		return fmt.Errorf("S3 access key %q: the secret contains whitespace or control characters", c.AccessKeyID)
	}
	switch {
	case c.Issued && c.User == "":
		return fmt.Errorf("S3 access key %q: an issued key needs the user it is issued to", c.AccessKeyID)
	case len(c.User) > maxS3User:
		return fmt.Errorf("S3 access key %q: the user name is longer than %d bytes", c.AccessKeyID, maxS3User)
	case strings.IndexFunc(c.User, notPrintable) >= 0 || strings.Contains(c.User, ":"):
		// sluss user names come from "name:hash" lines.
		return fmt.Errorf("S3 access key %q: the user name contains whitespace, control characters or ':'", c.AccessKeyID)
	}
	return nil
}

func notPrintable(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }

// describeAccessKeyID quotes an access key ID for a message when it is
// made of an ID's characters. Anything else (a secret pasted in the wrong
// place, a client's garbage) is described by its length only.
func describeAccessKeyID(id string) string {
	if quotablePattern.MatchString(id) {
		return strconv.Quote(id)
	}
	return fmt.Sprintf("(malformed, %d bytes)", len(id))
}

// s3Entry is an S3Credential as the store keeps it.
type s3Entry struct {
	AccessKeyID string    `json:"access_key_id"`
	Secret      string    `json:"secret"`
	Mode        string    `json:"mode"`
	User        string    `json:"user,omitempty"`
	Created     time.Time `json:"created"`
}

func (e s3Entry) String() string   { return "S3 access key " + strconv.Quote(e.AccessKeyID) }
func (e s3Entry) GoString() string { return e.String() }

func (e s3Entry) credential() S3Credential {
	return S3Credential{AccessKeyID: e.AccessKeyID, Secret: e.Secret, User: e.User, Issued: e.Mode == s3Issued, Created: e.Created}
}

func s3EntryOf(c S3Credential) s3Entry {
	return s3Entry{AccessKeyID: c.AccessKeyID, Secret: c.Secret, Mode: c.Mode(), User: c.User, Created: c.Created}
}

// parseS3 checks the S3 document and indexes it by access key ID. A nil
// document holds no keys.
func parseS3(d *document, where string) (map[string]S3Credential, error) {
	out := map[string]S3Credential{}
	if d == nil {
		return out, nil
	}
	for i, e := range d.S3 {
		if e.Mode != s3Transparent && e.Mode != s3Issued {
			return nil, fmt.Errorf("%s: S3 key %d has mode %q, want %q or %q", where, i+1, e.Mode, s3Transparent, s3Issued)
		}
		c := e.credential()
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if _, dup := out[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("%s: S3 access key %q is there twice", where, c.AccessKeyID)
		}
		out[c.AccessKeyID] = c
	}
	return out, nil
}

func (c *cachedStore) S3Credential(accessKeyID string) (S3Credential, error) {
	sn, err := c.current()
	if err != nil {
		return S3Credential{}, err
	}
	cr, ok := sn.s3[accessKeyID]
	if !ok {
		return S3Credential{}, fmt.Errorf("%w: S3 access key %s", ErrNotFound, describeAccessKeyID(accessKeyID))
	}
	return cr, nil
}

// readS3 reads the S3 document for a change. Like Init, it works on a
// store that holds no keys yet.
func (a *admin) readS3(ctx context.Context) (*document, int, error) {
	if err := a.b.prepare(ctx); err != nil && !errors.Is(err, ErrNotInitialized) {
		return nil, 0, err
	}
	d, rev, err := a.b.get(ctx, KindS3)
	if err != nil {
		return nil, 0, err
	}
	if d == nil {
		d = &document{}
	}
	if _, err := parseS3(d, a.b.where(KindS3)); err != nil {
		return nil, 0, err
	}
	return d, rev, nil
}

func (a *admin) AddS3Credential(ctx context.Context, c S3Credential) error {
	c.Created = a.s.Clock().UTC().Truncate(time.Second)
	if err := c.check(); err != nil {
		return err
	}
	d, rev, err := a.readS3(ctx)
	if err != nil {
		return err
	}
	n := &document{S3: slices.Clone(d.S3)}
	i := slices.IndexFunc(n.S3, func(e s3Entry) bool { return e.AccessKeyID == c.AccessKeyID })
	replaced := i >= 0
	if replaced {
		n.S3[i] = s3EntryOf(c)
	} else {
		n.S3 = append(n.S3, s3EntryOf(c))
	}
	slices.SortFunc(n.S3, func(x, y s3Entry) int { return cmp.Compare(x.AccessKeyID, y.AccessKeyID) })
	if err := a.b.put(ctx, KindS3, n, rev); err != nil {
		return err
	}
	// An audit event, at no level so no log level hides it: an S3 key
	// grants access.
	a.log.Log().Str("action", "s3-key-added").Str("user", osUser()).Str("access_key_id", c.AccessKeyID).
		Str("mode", c.Mode()).Str("s3_user", c.User).Bool("replaced", replaced).
		Str("store", a.b.location()).Msg("S3 access key stored")
	return nil
}

func (a *admin) ListS3Credentials(ctx context.Context) ([]S3Credential, error) {
	d, _, err := a.readS3(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]S3Credential, 0, len(d.S3))
	for _, e := range d.S3 {
		c := e.credential()
		c.Secret = ""
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y S3Credential) int { return cmp.Compare(x.AccessKeyID, y.AccessKeyID) })
	return out, nil
}

func (a *admin) RemoveS3Credential(ctx context.Context, accessKeyID string) error {
	d, rev, err := a.readS3(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.S3, func(e s3Entry) bool { return e.AccessKeyID == accessKeyID })
	if i < 0 {
		return fmt.Errorf("%w: S3 access key %s in %s", ErrNotFound, describeAccessKeyID(accessKeyID), a.b.location())
	}
	removed := d.S3[i]
	n := &document{S3: slices.Delete(slices.Clone(d.S3), i, i+1)}
	if err := a.b.put(ctx, KindS3, n, rev); err != nil {
		return err
	}
	a.log.Log().Str("action", "s3-key-removed").Str("user", osUser()).Str("access_key_id", removed.AccessKeyID).
		Str("mode", removed.Mode).Str("s3_user", removed.User).Str("store", a.b.location()).Msg("S3 access key removed")
	return nil
}
