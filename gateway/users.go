package gateway

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Right is something a group lets its members do.
type Right string

const (
	// RightDecrypt lets a user read encrypted objects in plaintext.
	RightDecrypt Right = "decrypt"
	// RightReidentify lets a user see re-identified pseudonyms.
	RightReidentify Right = "reidentify"
)

// User is who a request is made for.
type User struct {
	Name   string
	rights map[Right]bool
}

// Can reports whether the user holds right. A nil user holds nothing.
func (u *User) Can(r Right) bool { return u != nil && u.rights[r] }

// localUser is who loopback clients are when no users are configured: the
// person at the machine, with every right.
func localUser() *User {
	return &User{Name: "local", rights: map[Right]bool{RightDecrypt: true, RightReidentify: true}}
}

// Users authenticates proxy clients against a bcrypt password file.
type Users struct {
	hashes map[string][]byte
	rights map[string]map[Right]bool

	// bcrypt is slow on purpose; a client sending the same credentials on
	// every request is checked once per cacheTTL.
	mu    sync.Mutex
	cache map[[32]byte]cachedUser
}

type cachedUser struct {
	user    *User
	expires time.Time
}

const cacheTTL = 5 * time.Minute

// LoadUsers reads a password file of "name:bcrypt-hash" lines (as written
// by `htpasswd -nB`; # starts a comment) and the groups granting rights.
func LoadUsers(path string, groups []GroupConfig) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read users file: %w", err)
	}
	defer f.Close()
	u := &Users{hashes: map[string][]byte{}, rights: map[string]map[Right]bool{}, cache: map[[32]byte]cachedUser{}}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name, hash, ok := strings.Cut(s, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("users file line %d: want name:bcrypt-hash", line)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("users file line %d: not a bcrypt hash", line)
		}
		u.hashes[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read users file: %w", err)
	}
	for _, g := range groups {
		for _, r := range g.Rights {
			if Right(r) != RightDecrypt && Right(r) != RightReidentify {
				return nil, fmt.Errorf("group %q: unknown right %q", g.Name, r)
			}
		}
		for _, m := range g.Members {
			if u.rights[m] == nil {
				u.rights[m] = map[Right]bool{}
			}
			for _, r := range g.Rights {
				u.rights[m][Right(r)] = true
			}
		}
	}
	return u, nil
}

// authenticate checks the Proxy-Authorization header. It returns nil if the
// credentials are missing or wrong.
func (us *Users) authenticate(h http.Header) *User {
	v := h.Get("Proxy-Authorization")
	if v == "" {
		return nil
	}
	key := sha256.Sum256([]byte(v))
	now := time.Now()
	us.mu.Lock()
	c, ok := us.cache[key]
	us.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.user
	}
	u := us.check(v)
	if u != nil {
		us.mu.Lock()
		if len(us.cache) >= 4096 {
			clear(us.cache)
		}
		us.cache[key] = cachedUser{u, now.Add(cacheTTL)}
		us.mu.Unlock()
	}
	return u
}

func (us *Users) check(v string) *User {
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return nil
	}
	name, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil
	}
	hash, known := us.hashes[name]
	if !known {
		// Spend the same time as for a known user.
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil || !known {
		return nil
	}
	return &User{Name: name, rights: us.rights[name]}
}

// dummyHash is a bcrypt hash of nothing anyone types, cost 10.
var dummyHash = []byte("$2a$10$CwTycUXWue0Thq9StjUM0uJ8.8cmZ2Cy0Rkl6tFMh7fJNvNY0hHai")

// Owner names the user as the owner of state the gateway keeps for them
// (an unfinished document upload that the provider has not seen): stable,
// free of personal data beyond the configured user name, and "" for no
// user.
func (u *User) Owner() string {
	if u == nil {
		return ""
	}
	return "u:" + u.Name
}
