package crypto

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// The benchmarks compare, in one run, sluss's streaming encryption and
// decryption with two baselines: a bare ChaCha20-Poly1305 seal loop over
// 64 KiB chunks (the ceiling for this format on one core) and
// filippo.io/age's own HybridRecipient path.
//
//	go test ./crypto -run '^$' -bench .

var benchSizes = []int64{1 << 20, 256 << 20}

func sizeName(n int64) string { return fmt.Sprintf("%dMiB", n>>20) }

// zeroReader is an endless source that costs nothing to read.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func BenchmarkBareAEAD(b *testing.B) {
	key := make([]byte, chacha20poly1305.KeySize)
	aead, _ := chacha20poly1305.New(key)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	buf := make([]byte, ChunkSize+chunkOverhead)
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(n)
			for b.Loop() {
				for done := int64(0); done < n; done += ChunkSize {
					aead.Seal(buf[:0], nonce, buf[:ChunkSize], nil)
					nonce[0]++
				}
			}
		})
	}
}

// BenchmarkBareAEADOpen is the decryption ceiling: opening 64 KiB chunks.
func BenchmarkBareAEADOpen(b *testing.B) {
	key := make([]byte, chacha20poly1305.KeySize)
	aead, _ := chacha20poly1305.New(key)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	sealed := aead.Seal(nil, nonce, make([]byte, ChunkSize), nil)
	buf := make([]byte, ChunkSize)
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(n)
			for b.Loop() {
				for done := int64(0); done < n; done += ChunkSize {
					if _, err := aead.Open(buf[:0], nonce, sealed, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func benchEncrypt(b *testing.B, r age.Recipient) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				w, err := Encrypt(io.Discard, r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyN(w, zeroReader{}, n); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncrypt(b *testing.B) {
	id := mustIdentity(b)
	benchEncrypt(b, id.Recipient())
}

func BenchmarkEncryptAgeHybrid(b *testing.B) {
	id, _ := age.GenerateHybridIdentity()
	benchEncrypt(b, id.Recipient())
}

func benchDecrypt(b *testing.B, id age.Identity, r age.Recipient) {
	for _, n := range benchSizes {
		var ct bytes.Buffer
		w, _ := Encrypt(&ct, r)
		io.CopyN(w, zeroReader{}, n)
		w.Close()
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				pr, err := Decrypt(bytes.NewReader(ct.Bytes()), id)
				if err != nil {
					b.Fatal(err)
				}
				if m, err := io.Copy(io.Discard, pr); err != nil || m != n {
					b.Fatal(m, err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	id := mustIdentity(b)
	benchDecrypt(b, id, id.Recipient())
}

func BenchmarkDecryptAgeHybrid(b *testing.B) {
	id, _ := age.GenerateHybridIdentity()
	benchDecrypt(b, id, id.Recipient())
}

// BenchmarkKEM is the per-file public-key cost: wrapping a file key for one
// recipient (X-Wing encapsulation + HPKE seal) and unwrapping it.
func BenchmarkKEM(b *testing.B) {
	id := mustIdentity(b)
	fileKey := make([]byte, fileKeySize)
	rand.Read(fileKey)
	b.Run("Encapsulate", func(b *testing.B) {
		for b.Loop() {
			if _, err := id.Recipient().Wrap(fileKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	stanzas, _ := id.Recipient().Wrap(fileKey)
	b.Run("Decapsulate", func(b *testing.B) {
		for b.Loop() {
			if _, err := id.Unwrap(stanzas); err != nil {
				b.Fatal(err)
			}
		}
	})
	ageID, _ := age.GenerateHybridIdentity()
	b.Run("AgeEncapsulate", func(b *testing.B) {
		for b.Loop() {
			ageID.Recipient().Wrap(fileKey)
		}
	})
	ageStanzas, _ := ageID.Recipient().Wrap(fileKey)
	b.Run("AgeDecapsulate", func(b *testing.B) {
		for b.Loop() {
			if _, err := ageID.Unwrap(ageStanzas); err != nil {
				b.Fatal(err)
			}
		}
	})
}
