// Package tus is the gateway's tus profile: clients of the tus resumable
// upload protocol (tus-js-client, Uppy, tusd's own clients) store files
// through sluss, and every stored upload is one age file that `age -d`
// opens, however many PATCH requests it took and however often it was
// interrupted and resumed.
//
// Start with [Adapter]: give it the shared upload-state store (package
// uploads) and register [Adapter.Profile] as the gateway's "tus" profile
// (cmd/sluss does). The sealing is the shared engine's (package
// resumable); this package only translates between tus and the engine:
//
//   - POST (creation, creation-with-upload, creation-defer-length) creates
//     the upload at the provider with the ciphertext's Upload-Length (or a
//     deferred one), its Upload-Metadata values pseudonymized like file
//     names; the provider's Location goes back to the client unchanged, so
//     the client keeps talking to the same host through the gateway.
//   - PATCH hands the body to the engine at the client's plaintext
//     Upload-Offset; the engine sends ciphertext upstream in PATCHes at
//     ciphertext offsets, and the client is answered the plaintext offset
//     the gateway has taken charge of. A deferred Upload-Length is the
//     plaintext size; the provider gets the ciphertext's with the last
//     send.
//   - HEAD answers plaintext offset and length, metadata re-identified for
//     users with the reidentify right.
//   - DELETE (termination) ends the upload at the provider and in the
//     state store.
//   - Upload-Checksum (checksum extension: sha1, md5, sha256, sha512) is
//     checked against the plaintext by the gateway itself and not sent
//     upstream (a digest of the plaintext would fingerprint the file).
//     Bytes sealed before the check failed stay recorded, so a retry of
//     the same piece with other bytes is refused (409) rather than sealed
//     again with the same nonce: the client must start a new upload.
//   - GET (tusd's download of a finished upload) decrypts for users with
//     the decrypt right ([gateway.Decrypt]); others get 403. An upload
//     still in progress is not served (409): its age file is cut.
//
// A body needs a Content-Length (411 otherwise): the engine places
// pieces by their exact lengths. The client's body never goes upstream as
// it is; the adapter builds every upstream request itself, from the
// client's other headers after the gateway's header pass and a
// pseudonymized query. The path is the provider's upload id and goes
// unchanged. X-HTTP-Method-Override on POST is decided on as the method
// it names, as tusd would.
//
// With the profile's option documents "true", an office document (by
// its metadata's filename and filetype) is pseudonymized inside instead
// of encrypted: its PATCHes are spooled in the state store and only the
// rewritten document goes upstream, once whole (see documents.go).
//
// The state of a finished upload lives as long as the engine's TTL; after
// that HEAD answers 404 (the gateway no longer knows the plaintext's
// size), while GET still downloads it.
//
// Concatenation (Upload-Concat) is not offered: a partial upload has no
// known offset in the file, so its pieces cannot be sealed into one age
// stream. The gateway removes it from Tus-Extension and refuses requests
// that use it with 400, which tus clients do not retry.
//
// The state key of an upload is a digest of its URL, never a name.
// A request that needs the state store, the keys or the pseudonymizer
// while one of them cannot be reached is refused (503) before anything
// goes upstream.
package tus
