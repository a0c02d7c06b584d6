// Package graph is the gateway's graph profile: OneDrive and SharePoint
// clients (rclone, the Microsoft Graph SDKs' large-file upload task, the
// sync clients' REST calls) store files through sluss, and every file the
// provider keeps is one age file that `age -d` opens, however the client
// cut it into upload-session fragments.
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
//     every other request as JSON.
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
