// Package nextcloud is the gateway's nextcloud profile: the Nextcloud
// desktop client (nextcloudcmd), the web uploader and other WebDAV
// clients store files through sluss, and every file the server keeps is
// one age file that `age -d` opens, chunked uploads included.
//
// Start with [Adapter]: give it the shared upload-state store (package
// uploads) and register [Adapter.Profile] as the gateway's "nextcloud"
// profile (cmd/sluss does). The profile is the built-in webdav profile
// (uploads encrypted, PROPFIND sizes in plaintext, names pseudonymized,
// downloads decrypted for users with the decrypt right) plus:
//
//   - chunked upload (uploads.go): MKCOL of /remote.php/dav/uploads/USER/ID,
//     chunk PUTs, the final MOVE of ID/.file, DELETE of the folder. Each
//     client chunk is one piece of the shared engine (package resumable),
//     ordered by its number, so parallel chunks wait for their
//     predecessors and the server assembles one age file from the
//     engine's sends, named 00001, 00002… by the engine's send number.
//     Both numberings are taken: chunking v2 (MKCOL with a Destination,
//     chunks 1…10000) and the desktop client's (chunks counted from 0,
//     with OC-Chunk-Offset, which is checked);
//   - PROPFIND of an upload folder (the desktop client's resume) answered
//     from the upload state: the client's chunks with plaintext sizes;
//   - sizes in the client's terms: OC-Total-Length is the plaintext size
//     from the client and the age file's size upstream; listings give
//     files' oc:size in plaintext as well as getcontentlength (sizes.go);
//   - checksums: an OC-Checksum on a chunk (SHA1, MD5, Adler32) is
//     checked against the chunk's plaintext and not sent on. The one on
//     the final MOVE covers the whole file, which the gateway never holds
//     at once: it is dropped, not checked (the engine's per-chunk SHA-256
//     and the age tags protect what was stored);
//   - what would carry plaintext past the engine is refused: bulk upload
//     (POST /remote.php/dav/bulk; the capability is removed from the
//     capabilities the client reads) and chunking v1 (PUTs named
//     …-chunking-ID-COUNT-INDEX, whose pieces would be sealed as files of
//     their own);
//   - with the option documents: "true" (documents.go), office documents
//     are pseudonymized inside instead of encrypted: whole PUTs and GETs
//     by the documents profile's rules, chunked uploads spooled in the
//     upload state (uploads.Spool) until the final MOVE, which
//     pseudonymizes the document and stores it as chunks of the upload
//     folder and a MOVE with its new OC-Total-Length. The mode is kept in
//     the upload state from the MKCOL's or the first chunk's Destination;
//     an upload that names no file before its MOVE (the desktop client's)
//     and fits a document is spooled pending, then pseudonymized or
//     encrypted through the engine by the MOVE's Destination.
//
// The account in WebDAV paths (/remote.php/dav/files/ACCOUNT/…, also in
// Destination) is left as the client wrote it (account.go): it is the
// server's name for the user, sent in Authorization anyway, and a token
// in its place would name no user.
//
// The upload state is keyed by a digest of the host and the upload
// folder's path as sent upstream (pseudonymized), so no name reaches the
// store's keys.
package nextcloud
