// Package s3 is the gateway's s3 profile: S3 clients (aws cli, s3cmd,
// rclone, the SDKs) store files through sluss, and every stored object is
// one age file that `age -d` opens, multipart uploads included.
//
// Start with [Adapter]: give it the key store's S3 credentials and the
// shared upload-state store (package uploads), and register
// [Adapter.Profile] as the gateway's "s3" profile (cmd/sluss does). For each
// request the adapter
//
//   - checks the client's AWS Signature V4 ([Verify]: Authorization header
//     or presigned URL) and decodes the body as the client signed it
//     ([Signed.Body]: hex payload hash, UNSIGNED-PAYLOAD, aws-chunked with
//     chunk signatures and trailers);
//   - checks the client's Content-MD5 and x-amz-checksum-* against the
//     plaintext, and sends none of them upstream (a digest of the
//     plaintext would fingerprint the file);
//   - encrypts PutObject bodies whole, and seals UploadPart bodies where
//     they sit in the one age file of the upload (multipart.go explains how
//     the file's end is found and why no chunk is ever sealed twice with
//     different plaintext);
//   - with the option documents: "true", pseudonymizes office documents
//     inside instead (documents.go): parts are kept in the upload state
//     until CompleteMultipartUpload, and nothing of a document leaves
//     before the whole is rewritten;
//   - seals user metadata (x-amz-meta-*) with a key derived from the region
//     identity;
//   - signs what it sends upstream ([Sign]) with the client's own credential
//     (transparent keys) or the service's (issued keys);
//   - answers in the client's terms: ETags are MD5s of the plaintext,
//     listings and HEAD give plaintext sizes, GET decrypts (Range too) for
//     users with the decrypt right, and errors are S3's XML ([Error]).
//
// What the gateway knows of an object it stored (the provider's ETag and
// the client's) and of an upload in progress (the age file's opening,
// part sizes, chunk digests) lives in the upload-state store, so an upload
// survives a restart.
package s3
