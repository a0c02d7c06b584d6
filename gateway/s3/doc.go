// Package s3 lets S3 clients store files through sluss: it checks the
// client's AWS Signature V4 ([Verify]), decodes and checks the body as the
// client signed it ([Signed.Body]) and signs the request sent upstream
// ([Sign]). Failures are S3 errors ([Error], [WriteError]).
package s3
