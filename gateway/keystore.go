package gateway

import (
	stdcrypto "crypto"
	"crypto/x509"

	"filippo.io/age"

	"github.com/sluss/sluss/keys"
)

// FromStore adapts the region's key store to the gateway.
func FromStore(s keys.Store) KeySource { return storeSource{s} }

type storeSource struct{ s keys.Store }

func (k storeSource) EncryptionKeys() (int, []age.Recipient, error) {
	enc, err := k.s.Encryption()
	if err != nil {
		return 0, nil, err
	}
	return enc.Version, enc.Recipients(), nil
}

func (k storeSource) DecryptionKeys() ([]age.Identity, error) {
	ids, err := k.s.Identities()
	if err != nil {
		return nil, err
	}
	return keys.AgeIdentities(ids), nil
}

func (k storeSource) CA() (*x509.Certificate, stdcrypto.Signer, error) {
	ca, err := k.s.CA()
	if err != nil {
		return nil, nil, err
	}
	return ca.Cert, ca.Key, nil
}

func (k storeSource) Ready() error { return k.s.Ready() }
