// Package crypto is sluss's file envelope: age v1 files encrypted to the
// post-quantum hybrid recipient mlkem768x25519 (X-Wing: ML-KEM-768 +
// X25519), implemented with github.com/cloudflare/circl.
//
// For most uses, parse or generate an [Identity] (AGE-SECRET-KEY-PQ-1…),
// take its [Identity.Recipient] (age1pq1…), and stream with [Encrypt] or
// [EncryptReader] and [Decrypt]. A proxy that must announce a Content-Length
// before streaming uses [EncryptedSize]; one that serves HTTP Range requests
// uses [DecryptRange] or [NewReaderAt] over an io.ReaderAt of the stored
// object; [IsEncrypted] sniffs whether a body is an age file at all.
//
// The file format, the STREAM payload and armor are filippo.io/age's: this
// package adds the recipient stanza (X-Wing and the HPKE suite it uses,
// hpke.go), sizes, and a reader of age's STREAM payload that opens chunks
// in place (payload.go; age still checks the header). Every file it writes
// decrypts with `age -d -i` (age ≥ 1.3), which is the region's exit plan;
// PERFORMANCE.md says why these parts are not age's or circl's own.
//
// Identities never print their secret: String and GoString show a public
// fingerprint. [Identity.SecretKey] and [Identity.Seed] are the only ways
// out, for key storage and export.
package crypto
