package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// leafCache makes the certificates the gateway shows clients for inspected
// hosts, signed by the region CA, and keeps them until shortly before they
// expire. Concurrent requests for one host make one certificate.
type leafCache struct {
	keys KeySource
	now  func() time.Time

	mu    sync.Mutex
	certs map[string]*leafEntry
}

type leafEntry struct {
	ready chan struct{}
	cert  *tls.Certificate
	err   error
}

const (
	leafLifetime = 7 * 24 * time.Hour
	maxLeaves    = 10000
)

func newLeafCache(keys KeySource) *leafCache {
	return &leafCache{keys: keys, now: time.Now, certs: map[string]*leafEntry{}}
}

// get returns the leaf certificate for host (a name or an IP address).
func (c *leafCache) get(host string) (*tls.Certificate, error) {
	c.mu.Lock()
	e, ok := c.certs[host]
	if ok {
		select {
		case <-e.ready:
			// The wall clock may jump either way (a clock that ran ahead
			// and was corrected): a leaf not valid now is made again.
			if now := c.now(); e.err != nil || now.After(e.cert.Leaf.NotAfter.Add(-time.Hour)) || now.Before(e.cert.Leaf.NotBefore) {
				ok = false
			}
		default:
		}
	}
	if !ok {
		if len(c.certs) >= maxLeaves {
			clear(c.certs)
		}
		e = &leafEntry{ready: make(chan struct{})}
		c.certs[host] = e
		c.mu.Unlock()
		e.cert, e.err = c.make(host)
		close(e.ready)
		return e.cert, e.err
	}
	c.mu.Unlock()
	<-e.ready
	return e.cert, e.err
}

func (c *leafCache) make(host string) (*tls.Certificate, error) {
	caCert, caKey, err := c.keys.CA()
	if err != nil {
		return nil, fmt.Errorf("region CA unavailable: %w", err)
	}
	now := c.now()
	// A leaf cannot outlive its CA: past the CA's validity, say so rather
	// than sign a certificate every client rejects.
	switch {
	case now.After(caCert.NotAfter):
		return nil, fmt.Errorf("region CA expired at %s (clock at %s): rotate it (sluss keys rotate --ca)",
			caCert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.Before(caCert.NotBefore):
		return nil, fmt.Errorf("region CA not valid until %s (clock at %s): check the clock",
			caCert.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafLifetime)
	if caCert.NotAfter.Before(notAfter) {
		notAfter = caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"sluss gateway"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("failed to sign leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, caCert.Raw}, PrivateKey: crypto.Signer(key), Leaf: leaf}, nil
}
