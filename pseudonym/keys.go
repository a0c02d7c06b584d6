package pseudonym

import (
	"errors"
	"fmt"
	"sync"
)

// KeySource gives the HMAC key of a token domain ("pnr", "name"): the
// current one for new tokens, and any earlier one by version so that a
// token's body can be checked against its original on re-identification.
// The keys package implements it on top of Vault or the embedded key file;
// StaticKeys is a small in-memory implementation.
//
// Keys must be at least 32 bytes. Implementations must be safe for
// concurrent use.
type KeySource interface {
	CurrentHMACKey(domain string) (version int, key []byte, err error)
	HMACKey(domain string, version int) ([]byte, error)
}

// ErrUnknownKey is returned (wrapped) by StaticKeys for a domain or version
// it does not hold.
var ErrUnknownKey = errors.New("pseudonym: unknown HMAC key")

// StaticKeys is an in-memory KeySource for tests, tools and benchmarks: one
// list of key versions per domain, the last being current. The zero value
// holds no keys.
type StaticKeys struct {
	mu   sync.RWMutex
	keys map[string]map[int][]byte
	cur  map[string]int
}

// NewStaticKeys returns a StaticKeys holding key as version 1 of every
// domain this package uses.
func NewStaticKeys(key []byte) *StaticKeys {
	s := &StaticKeys{}
	for _, d := range []string{DomainPersonnummer, DomainName} {
		s.Add(d, 1, key)
	}
	return s
}

// Add stores key as the given version of domain and makes it current if it
// is the highest version so far.
func (s *StaticKeys) Add(domain string, version int, key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]map[int][]byte{}
		s.cur = map[string]int{}
	}
	if s.keys[domain] == nil {
		s.keys[domain] = map[int][]byte{}
	}
	s.keys[domain][version] = append([]byte(nil), key...)
	if version > s.cur[domain] {
		s.cur[domain] = version
	}
}

// CurrentHMACKey implements KeySource.
func (s *StaticKeys) CurrentHMACKey(domain string) (int, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.cur[domain]
	if !ok {
		return 0, nil, fmt.Errorf("%w: domain %q", ErrUnknownKey, domain)
	}
	return v, s.keys[domain][v], nil
}

// HMACKey implements KeySource.
func (s *StaticKeys) HMACKey(domain string, version int) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[domain][version]
	if !ok {
		return nil, fmt.Errorf("%w: domain %q version %d", ErrUnknownKey, domain, version)
	}
	return k, nil
}
