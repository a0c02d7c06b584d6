package gateway

import (
	"crypto"
	"crypto/x509"

	"filippo.io/age"
)

// KeySource is what the gateway needs of the region's key store. It is
// asked on every request, so a rotated or revoked key takes effect at once;
// implementations cache as they see fit.
type KeySource interface {
	// EncryptionKeys returns the recipients new objects are encrypted to
	// (the region's current key and any escrow recipients) and the key
	// version, for the audit log.
	EncryptionKeys() (version int, recipients []age.Recipient, err error)
	// DecryptionKeys returns every identity that may have encrypted a stored
	// object, newest first.
	DecryptionKeys() ([]age.Identity, error)
	// CA returns the region CA that signs the leaf certificates the gateway
	// shows clients for inspected services.
	CA() (cert *x509.Certificate, key crypto.Signer, err error)
	// Ready returns nil while the key material is usable, and the reason
	// otherwise.
	Ready() error
}
