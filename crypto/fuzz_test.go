package crypto

import (
	"bytes"
	"io"
	"io/fs"
	"testing"

	agetest "c2sp.org/CCTV/age"
)

func FuzzParseRecipient(f *testing.F) {
	id := mustIdentity(f)
	f.Add(id.Recipient().String())
	f.Add(id.SecretKey())
	f.Add("age1pq1")
	f.Add("age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s)
		if err != nil {
			return
		}
		// Whatever parses must print back as itself, in lower case.
		if again, err := ParseRecipient(r.String()); err != nil || !again.Equal(r) {
			t.Fatalf("recipient does not round-trip: %v", err)
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	id := mustIdentity(f)
	f.Add(id.SecretKey())
	f.Add(id.Recipient().String())
	f.Add("AGE-SECRET-KEY-PQ-1")
	f.Fuzz(func(t *testing.T, s string) {
		i, err := ParseIdentity(s)
		if err != nil {
			return
		}
		if again, err := ParseIdentity(i.SecretKey()); err != nil || !again.Recipient().Equal(i.Recipient()) {
			t.Fatalf("identity does not round-trip: %v", err)
		}
	})
}

// FuzzDecrypt feeds arbitrary bytes to Decrypt: it must never panic, and
// since age files are not malleable, the only inputs that decrypt are the
// seed files themselves, to their own plaintexts.
func FuzzDecrypt(f *testing.F) {
	id := mustIdentity(f)
	valid := map[string][]byte{}
	for _, n := range []int64{0, 1, 100, ChunkSize, ChunkSize + 1} {
		pt := randomBytes(f, n)
		ct := encryptBytes(f, pt, id.Recipient())
		valid[string(ct)] = pt
		f.Add(ct)
	}
	entries, _ := fs.ReadDir(agetest.Vectors, ".")
	for _, e := range entries {
		if b, err := fs.ReadFile(agetest.Vectors, e.Name()); err == nil {
			if _, body, ok := bytes.Cut(b, []byte("\n\n")); ok {
				f.Add(body)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decrypt(bytes.NewReader(data), id)
		if err != nil {
			return
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return
		}
		want, ok := valid[string(data)]
		if !ok {
			t.Fatalf("a file that is not one of ours decrypted to %d bytes", len(out))
		}
		if !bytes.Equal(out, want) {
			t.Fatal("a seed file decrypted to the wrong plaintext")
		}
	})
}
