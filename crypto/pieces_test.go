package crypto

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sealPieces seals plaintext cut into pieces of pieceSize bytes, each on
// its own and in reverse order, as parallel parts would be.
func sealPieces(t *testing.T, p *Pieces, plaintext []byte, pieceSize int) []byte {
	t.Helper()
	var pieces [][]byte
	for off := 0; off < len(plaintext) || off == 0; off += pieceSize {
		pieces = append(pieces, plaintext[off:min(off+pieceSize, len(plaintext))])
		if len(plaintext) == 0 {
			break
		}
	}
	sealed := make([][]byte, len(pieces))
	for i := len(pieces) - 1; i >= 0; i-- {
		first := int64(i * pieceSize / ChunkSize)
		piece := pieces[i]
		for c := 0; c < len(piece) || c == 0; c += ChunkSize {
			chunk := piece[c:min(c+ChunkSize, len(piece))]
			final := i == len(pieces)-1 && c+ChunkSize >= len(piece)
			var err error
			sealed[i], err = p.SealChunk(sealed[i], first+int64(c/ChunkSize), chunk, final)
			if err != nil {
				t.Fatal(err)
			}
			if len(piece) == 0 {
				break
			}
		}
		if got, want := int64(len(sealed[i])), SealedSize(int64(len(piece))); got != want {
			t.Fatalf("piece %d: sealed %d bytes, SealedSize says %d", i, got, want)
		}
	}
	return append(p.Opening(), bytes.Join(sealed, nil)...)
}

func TestPiecesDecryptAsOneFile(t *testing.T) {
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		size, piece int
	}{
		{"empty", 0, 4 * ChunkSize},
		{"one short chunk", 100, 4 * ChunkSize},
		{"last piece full", 12 * ChunkSize, 4 * ChunkSize},
		{"last piece short", 10*ChunkSize + 7, 4 * ChunkSize},
		{"last chunk full, piece short", 9 * ChunkSize, 4 * ChunkSize},
		{"one piece", 3*ChunkSize + 1, 4 * ChunkSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plaintext := make([]byte, tc.size)
			rand.Read(plaintext)
			p, err := NewPieces(id.Recipient())
			if err != nil {
				t.Fatal(err)
			}
			file := sealPieces(t, p, plaintext, tc.piece)
			want, err := EncryptedSize(int64(tc.size), id.Recipient())
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(file)) != want {
				t.Fatalf("file is %d bytes, EncryptedSize says %d", len(file), want)
			}
			r, err := Decrypt(bytes.NewReader(file), id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plaintext) {
				t.Fatal("decrypted pieces differ from the plaintext")
			}
			if age, err := exec.LookPath("age"); err == nil {
				dir := t.TempDir()
				idf, in := filepath.Join(dir, "id.txt"), filepath.Join(dir, "f.age")
				os.WriteFile(idf, []byte(id.SecretKey()+"\n"), 0o600)
				os.WriteFile(in, file, 0o600)
				out, err := exec.Command(age, "-d", "-i", idf, in).Output()
				if err != nil || !bytes.Equal(out, plaintext) {
					t.Fatalf("age -d: %v (%d bytes out)", err, len(out))
				}
			}
		})
	}
}

func TestOpenPiecesContinuesTheFile(t *testing.T) {
	id, _ := GenerateIdentity()
	p, err := NewPieces(id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	q, err := OpenPieces(p.Opening(), id)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, ChunkSize)
	rand.Read(a)
	s1, _ := p.SealChunk(nil, 0, a, false)
	s2, _ := q.SealChunk(nil, 0, a, false)
	if !bytes.Equal(s1, s2) {
		t.Fatal("a reopened file seals differently")
	}
	b := bytes.Clone(a)
	b[7] ^= 1
	s3, _ := q.SealChunk(nil, 0, b, false)
	if bytes.Equal(s1[len(s1)-16:], s3[len(s3)-16:]) {
		t.Fatal("other plaintext at the same index gives the same tag")
	}
	if _, err := q.OpenChunk(nil, 0, s1, true); err == nil {
		t.Fatal("a chunk opened with the wrong final flag")
	}
	other, _ := GenerateIdentity()
	if _, err := OpenPieces(p.Opening(), other); err == nil {
		t.Fatal("opened with the wrong identity")
	}
	if _, err := OpenPieces(p.Opening()[:10], id); err == nil {
		t.Fatal("opened a truncated opening")
	}
}

func TestSealChunkRefusesMisplacedChunks(t *testing.T) {
	id, _ := GenerateIdentity()
	p, _ := NewPieces(id.Recipient())
	if _, err := p.SealChunk(nil, 1, nil, true); err == nil {
		t.Error("sealed an empty final chunk that is not the first")
	}
	if _, err := p.SealChunk(nil, 0, make([]byte, 10), false); err == nil {
		t.Error("sealed a short chunk that is not final")
	}
	if _, err := p.SealChunk(nil, 0, make([]byte, ChunkSize+1), true); err == nil {
		t.Error("sealed an overlong chunk")
	}
}
