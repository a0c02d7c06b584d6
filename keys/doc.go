// Package keys holds the region's key material and decides where it lives:
// in HashiCorp Vault (KV v2) when one is configured, otherwise in an
// embedded file store in the data directory.
//
// For most uses, call [Open] with a [Config] and use the [Store] it returns:
// [Store.Encryption] gives the recipients every upload is encrypted to (the
// region's current identity plus any offline escrow recipients),
// [Store.Identities] every retained identity for decryption,
// [Store.CurrentHMACKey] and [Store.HMACKey] the pseudonymization keys, and
// [Store.CA] the certificate authority the gateway signs leaf certificates
// with, and [Store.S3Credential] the S3 access keys the gateway verifies
// SigV4 signatures with. These are memory reads from a cache that a background loop refreshes
// every [Config.RefreshInterval]; no request reaches Vault per operation.
// When refreshing fails for longer than [Config.MaxStaleness] the store
// fails closed: every method returns an error wrapping [ErrUnavailable] and
// [Store.Ready] says why.
//
// Operators create and rotate keys through [Admin] ([OpenAdmin]): Init makes
// the first version of everything, the Rotate methods add versions (older
// identity versions stay, so earlier files still decrypt), List shows
// versions and public fingerprints, and ExportIdentities hands out the
// private identities for the exit plan: with them, `age -d -i` reads every
// stored object without sluss. AddS3Credential, ListS3Credentials and
// RemoveS3Credential manage the S3 access keys, which live only here,
// never in the configuration file.
//
// Secret values never appear in String or GoString output, errors or log
// lines of this package.
package keys
