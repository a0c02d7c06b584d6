// Package graph is the gateway's graph profile: OneDrive and SharePoint
// clients (rclone, the Microsoft Graph SDKs' large-file upload task, the
// sync clients' REST calls) store files through sluss, and every file the
// provider keeps is one age file that `age -d` opens, however the client
// cut it into upload-session fragments (or, in services with the
// documents option, an office document pseudonymized inside).
//
// Start with [Adapter]: give it the shared upload-state store (package
// uploads) and register [Adapter.Profile] as the gateway's "graph" profile
// (cmd/sluss does). The adapter
//
//   - creates upload sessions (POST …/createUploadSession) through the
//     shared engine (package resumable), telling the provider the age
//     file's size in item.fileSize, with the path and item.name
//     pseudonymized;
//   - takes the client's fragments (PUT uploadUrl, Content-Range in
//     plaintext bytes) as pieces of that one age file: the engine seals
//     them and sends the provider fragments in ciphertext offsets, on
//     Graph's 320 KiB grid and at most 60 MiB each;
//   - answers in plaintext terms: nextExpectedRanges of 202 answers and of
//     status GETs are plaintext offsets, 416 for a fragment that does not
//     start there, and the final driveItem with the plaintext size, its
//     quickXorHash and the name re-identified;
//   - cancels sessions (DELETE uploadUrl) at the provider and in the state;
//   - decrypts downloads (…/content, the download URL it redirects to,
//     Range too) for users with the decrypt right, 403 for others;
//   - gives driveItems the gateway stored their plaintext size and hash in
//     metadata answers (kept in the upload-state store by item id), and re-identifies names for users with the reidentify right;
//   - encrypts simple uploads (PUT …:/content) whole, and pseudonymizes
//     every other request as JSON;
//   - with the option documents: "true", pseudonymizes office documents
//     inside instead (see Documents).
//
// # Hashes
//
// The provider's file.hashes (quickXorHash, sha1Hash, sha256Hash) are of
// the ciphertext, and a client comparing them with its file would fail:
// driveItems of files the gateway stored carry instead the plaintext's
// quickXorHash alone, which clients such as rclone check. quickXorHash
// XORs each byte into a ring at a position set by its offset, so each
// fragment's share is computed as it streams and kept in the upload state
// (hashes.go), and the shares are combined when the last fragment lands;
// SHA-1 and SHA-256 cannot be computed that way without the whole file.
// If the shares do not cover the file exactly, the driveItem goes without
// a hash rather than with a wrong one.
//
// # Documents
//
// With the option documents: "true", an office document (by the name
// the createUploadSession path or item.name gives, or a simple upload's
// name or Content-Type: gateway.IsDocument) is pseudonymized inside
// instead of encrypted (documents.go), so that the provider can open it.
// The mode is decided when the session is created and kept in its state:
// a client cannot switch it midway. The provider's session is created
// without item.fileSize (optional in Graph: a quota check), since the
// rewritten document has another size. The client's fragments are
// spooled sealed in the upload-state store (uploads.Spool, one piece per
// fragment named by its offset), bounded by limits.max_document_bytes
// (413), and answered as Graph does, in the client's offsets; nothing of
// the document goes upstream. The last fragment has the gateway read the
// spool whole, pseudonymize it and upload the rewritten document to the
// provider's session in fragments of at most 60 MiB (a multiple of
// 320 KiB) with its own size. A document that is refused (not a zip,
// does not parse, macros, too large), or that the provider does not
// take whole, ends the session: the provider's session is deleted and
// the spool with it, and the client starts again. While fragments are
// spooled the provider's session sees no traffic: the expirationDateTime
// the client is given stays the one the provider set at creation.
//
// The driveItem returned, and later metadata answers, give the size and
// quickXorHash of what the client sent, as for age files: clients such
// as rclone compare them with their file. The provider's own hashes are
// of the rewritten document and are dropped. A download is the
// rewritten document (tokens) for users without the reidentify right
// and the re-identified one for users with it: either way other bytes
// than the client's, with the same text. A download URL names no file,
// so the gateway remembers, for an hour, the download URLs it sees for
// documents (the redirect of …/content, a driveItem's
// @microsoft.graph.downloadUrl in metadata answers).
//
// # Configuration
//
// Upload and download URLs are on other hosts than the API
// (graph.microsoft.com → *.up.1drv.com, *.sharepoint.com,
// *.files.1drv.com), and clients PUT fragments to them through the
// gateway: those hosts must be graph services too, or fragments would
// reach the provider as the client sent them (plaintext) — the gateway
// would not know them as uploads. One service can hold them all:
//
//	services:
//	  - name: onedrive
//	    hosts: [graph.microsoft.com, "*.up.1drv.com", "*.files.1drv.com", "*.sharepoint.com"]
//	    profile: graph
//
// # Refused
//
// What would carry a file past the encryption is refused, never
// forwarded: a PUT with a body to an upload URL the gateway did not
// create (a session opened around it, or one whose state expired), a
// JSON batch ($batch) with an upload in it, a compressed fragment, and
// upload sessions for what is not a drive item (Outlook attachments,
// print jobs: their sizes and offsets are not translated). deferCommit
// sessions are refused too: the final commit would have to be sent by
// the gateway on the client's behalf, which it does not do yet.
//
// # Resuming
//
// A client whose fragment broke off asks the upload URL where to go on
// and is given the plaintext offset the gateway has taken charge of.
// When the gateway had sent the provider part of the broken fragment (a
// client fragment larger than 60 MiB becomes several upstream), that is
// inside the fragment, at the first 64 KiB chunk the provider does not
// hold whole; otherwise it is the fragment's start. Either way the
// ciphertext the provider holds is not sent again (the engine re-seals
// to the same bytes and sends the rest), and the fragment's share of the
// quickXorHash is kept for the part counted. A fragment sent meanwhile,
// while the broken request is still winding down at the gateway, waits
// for it up to a few seconds.
package graph
