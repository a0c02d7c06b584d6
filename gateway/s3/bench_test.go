package s3

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// What a signature costs the gateway on a typical UploadPart: an 8 MiB
// part from minio-go over plain HTTP, streaming-signed (aws-chunked,
// 64 KiB chunks, each with its own signature), with the part's CRC32C
// header minio-go adds; and the upstream request the gateway signs for
// it. bench/README.md quotes the figures.

const (
	benchKeyID    = "AKIDBENCH0000000000"
	benchSecret   = "bench/secret+key0000000000000000000000000"
	benchRegion   = "us-east-1"
	benchHost     = "s3.sluss.test:7070"
	benchPartSize = 8 << 20
	benchUploadID = "b5c0e5e8-6d2f-4f4b-9f57-3a4c1d0e2f61"
)

var benchTime = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

func benchLookup(id string) (string, error) {
	if id == benchKeyID {
		return benchSecret, nil
	}
	return "", ErrUnknownAccessKey
}

// uploadPartRequest is part 3 of an upload signed as minio-go signs it,
// and its aws-chunked body as sent.
func uploadPartRequest(b *testing.B) (*http.Request, []byte) {
	b.Helper()
	data := make([]byte, benchPartSize)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	req, err := http.NewRequest(http.MethodPut, "http://"+benchHost+"/region/reports/q3.bin?partNumber=3&uploadId="+benchUploadID, bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("User-Agent", "MinIO (linux; amd64) minio-go/v7.4.1")
	req.Header.Set("X-Amz-Checksum-Crc32c", "yZRlqg==")
	req = signer.StreamingSignV4(req, benchKeyID, benchSecret, "", benchRegion, int64(len(data)), benchTime, sha256Hasher{sha256.New()})
	body, err := io.ReadAll(req.Body)
	if err != nil {
		b.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return req, body
}

// BenchmarkVerify checks the Authorization header of an UploadPart: the
// canonical request, the signing key, the signature.
func BenchmarkVerify(b *testing.B) {
	req, _ := uploadPartRequest(b)
	for b.Loop() {
		if _, err := Verify(req, benchHost, benchTime, benchLookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPartBody verifies the header and then reads the 8 MiB
// part through Signed.Body, which checks every chunk's signature (and
// so hashes every byte with SHA-256): the whole cost of the client's
// signature on one part.
func BenchmarkVerifyPartBody(b *testing.B) {
	req, body := uploadPartRequest(b)
	b.SetBytes(benchPartSize)
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		s, err := Verify(req, benchHost, benchTime, benchLookup)
		if err != nil {
			b.Fatal(err)
		}
		r, _, err := s.Body(req)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchPartSize {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}

// BenchmarkSHA256Part is the floor under BenchmarkVerifyPartBody: one
// SHA-256 pass over the part's bytes.
func BenchmarkSHA256Part(b *testing.B) {
	data := make([]byte, benchPartSize)
	b.SetBytes(benchPartSize)
	for b.Loop() {
		sha256.Sum256(data)
	}
}

// BenchmarkSign signs the upstream UploadPart the gateway sends for it
// (UNSIGNED-PAYLOAD: the sealed part is streamed). A client part becomes
// one upstream part, or two when it may be the file's last.
func BenchmarkSign(b *testing.B) {
	req, err := http.NewRequest(http.MethodPut, "http://"+benchHost+"/region/reports/q3.bin?partNumber=5&uploadId="+benchUploadID, http.NoBody)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = benchPartSize + 2048
	cred := Credentials{AccessKeyID: benchKeyID, Secret: benchSecret}
	for b.Loop() {
		if err := Sign(req, cred, benchRegion, UnsignedPayload, benchTime); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := Verify(req, benchHost, benchTime, benchLookup); err != nil {
		b.Fatalf("the signed request does not verify: %v", err)
	}
}
