// Package resumable is the one engine behind the protocols that send a
// file as a sequence of pieces appended at plaintext offsets — tus,
// Microsoft Graph upload sessions and Nextcloud chunked upload — so that
// what the provider stores is one age file that `age -d` opens, whatever
// the client's piece sizes.
//
// Start with [Engine]: give it the shared upload-state store (package
// uploads) and the region's keys, call [Engine.Begin] when the client
// creates an upload, [Engine.Append] for every piece it sends, and
// [Engine.Status] when it asks where to resume. The protocol adapter
// supplies an [Upstream] that knows how to store ciphertext at an offset
// at the provider and how to ask the provider how much it holds.
//
// # How pieces become one age file
//
// The age STREAM seals chunk i (64 KiB of plaintext) with counter i, and
// the file's last chunk with a final flag. A client's pieces need not end
// on chunk boundaries, so the engine seals only whole chunks and carries
// the plaintext of the unfinished chunk in the upload state (sealed at
// rest, at most a few chunks) until the next piece completes it. The
// client is answered in plaintext terms: its offset is everything the
// gateway has taken charge of, stored upstream or carried.
//
// When the total size is unknown (tus Upload-Defer-Length, chunking
// without OC-Total-Length), the last whole chunk is held back too, since
// it may turn out to be the file's final one.
//
// Some providers take ciphertext only in multiples of a granule (Graph:
// 320 KiB); then sealed chunks past the last whole granule are carried as
// plaintext and sealed again, to the same bytes, with the next piece.
//
// # Nonces
//
// Sealing two different plaintexts at one chunk index reuses a nonce, and
// the provider is the adversary: whatever went on the wire counts as
// released, stored or not. Before a batch of sealed chunks leaves, their
// tags are written to the upload state; a chunk sealed again (a retry
// after a failed or interrupted piece) must give the recorded tag, or the
// piece is refused ([ErrChanged]) before that chunk leaves. After an
// interrupted piece the engine asks the provider how much it kept
// ([Upstream.Offset]), lets the client resume from the first chunk the
// provider does not hold whole — inside the broken piece, if it kept part
// of it — and sends only the rest.
//
// # Concurrency
//
// One piece of an upload is appended at a time, across gateways: a piece
// takes a lease on the upload's record (20 seconds, renewed while it
// runs, so a gateway that dies holds the upload for no longer; another
// piece meanwhile gets [ErrBusy]). Pieces that arrive in parallel and are
// ordered by sequence number rather than offset (Nextcloud chunk names)
// wait for their predecessor ([Piece.Seq]).
package resumable
