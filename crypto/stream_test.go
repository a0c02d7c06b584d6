package crypto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

var testSizes = []int64{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize - 1, 3 * ChunkSize, 10 << 20}

func randomBytes(t testing.TB, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func encryptBytes(t testing.TB, plaintext []byte, rs ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Encrypt(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEncryptedSizeIsExact(t *testing.T) {
	a, b, c := mustIdentity(t), mustIdentity(t), mustIdentity(t)
	sets := [][]age.Recipient{
		{a.Recipient()},
		{a.Recipient(), b.Recipient(), c.Recipient()}, // region key plus escrow keys
	}
	for _, rs := range sets {
		for _, n := range testSizes {
			pt := randomBytes(t, n)
			ct := encryptBytes(t, pt, rs...)
			want, err := EncryptedSize(n, rs...)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(ct)) != want {
				t.Errorf("%d recipients, %d bytes: EncryptedSize = %d, real %d", len(rs), n, want, len(ct))
			}
			h, _ := HeaderSize(rs...)
			got, err := ReadHeaderSize(bytes.NewReader(ct))
			if err != nil || got != h {
				t.Errorf("ReadHeaderSize = %d, %v; HeaderSize = %d", got, err, h)
			}
			if p, err := PlaintextSize(int64(len(ct)), h); err != nil || p != n {
				t.Errorf("PlaintextSize = %d, %v; want %d", p, err, n)
			}
			// EncryptReader produces the same sizes as Encrypt.
			r, err := EncryptReader(bytes.NewReader(pt), rs...)
			if err != nil {
				t.Fatal(err)
			}
			m, err := io.Copy(io.Discard, r)
			if err != nil || m != want {
				t.Errorf("EncryptReader produced %d bytes, %v; want %d", m, err, want)
			}
			for _, id := range []*Identity{a, b, c}[:len(rs)] {
				dr, err := Decrypt(bytes.NewReader(ct), id)
				if err != nil {
					t.Fatal(err)
				}
				back, err := io.ReadAll(dr)
				if err != nil || !bytes.Equal(back, pt) {
					t.Fatalf("round trip of %d bytes failed: %v", n, err)
				}
			}
		}
	}
	// Other recipient types are sized too (measured by wrapping).
	x, _ := age.GenerateX25519Identity()
	ct := encryptBytes(t, []byte("x"), x.Recipient())
	if want, _ := EncryptedSize(1, x.Recipient()); want != int64(len(ct)) {
		t.Errorf("X25519: EncryptedSize = %d, real %d", want, len(ct))
	}
	sr, _ := age.NewScryptRecipient("pw")
	sr.SetWorkFactor(1)
	ct = encryptBytes(t, []byte("x"), sr)
	if want, _ := EncryptedSize(1, sr); want != int64(len(ct)) {
		t.Errorf("scrypt: EncryptedSize = %d, real %d", want, len(ct))
	}
}

func TestPlaintextSizeRejectsImpossibleSizes(t *testing.T) {
	h := int64(1649)
	for _, enc := range []int64{0, h, h + nonceSize, h + nonceSize + 15, h + nonceSize + encChunkSize + chunkOverhead} {
		if _, err := PlaintextSize(enc, h); err == nil {
			t.Errorf("PlaintextSize(%d, %d) accepted an impossible size", enc, h)
		}
	}
}

func TestDecryptRange(t *testing.T) {
	id := mustIdentity(t)
	pt := randomBytes(t, 5*ChunkSize+1234)
	ct := encryptBytes(t, pt, id.Recipient())
	c := int64(ChunkSize)
	ranges := []struct{ off, n int64 }{
		{0, 1}, {0, c}, {0, c + 1}, {1, c - 2}, // inside and at the first boundary
		{c - 1, 2}, {c, c}, {c, 1}, {c - 1, 1}, // at a boundary
		{c / 2, 3 * c}, {70000, 200000 - 70000 + 1}, // across several chunks
		{5 * c, 1234}, {5*c + 1233, 1}, {5*c + 1233, 100}, // the short last chunk, clipped
		{int64(len(pt)), 10}, // empty at the end
	}
	for _, r := range ranges {
		src := &countingReaderAt{r: bytes.NewReader(ct)}
		rd, err := DecryptRange(src, int64(len(ct)), r.off, r.n, id)
		if err != nil {
			t.Fatalf("range %d+%d: %v", r.off, r.n, err)
		}
		got, err := io.ReadAll(rd)
		if err != nil {
			t.Fatalf("range %d+%d: %v", r.off, r.n, err)
		}
		end := min(r.off+r.n, int64(len(pt)))
		if !bytes.Equal(got, pt[r.off:end]) {
			t.Fatalf("range %d+%d: wrong bytes", r.off, r.n)
		}
		// Header, final chunk and the covering chunks only, never the whole file.
		covering := (end-1)/c - r.off/c + 1
		if limit := int64(4096+2*encChunkSize) + covering*encChunkSize; src.n > limit && r.n > 0 {
			t.Errorf("range %d+%d read %d ciphertext bytes, want at most %d", r.off, r.n, src.n, limit)
		}
	}
	if _, err := DecryptRange(bytes.NewReader(ct), int64(len(ct)), int64(len(pt))+1, 1, id); err == nil {
		t.Error("range past the end accepted")
	}
}

type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestBadInput: each kind of damage gives a precise error and never a byte
// of unauthenticated plaintext.
func TestBadInput(t *testing.T) {
	id, other := mustIdentity(t), mustIdentity(t)
	pt := randomBytes(t, 3*ChunkSize+10)
	ct := encryptBytes(t, pt, id.Recipient())
	hdr, _ := HeaderSize(id.Recipient())
	flip := func(i int64) []byte {
		b := bytes.Clone(ct)
		b[i] ^= 0x01
		return b
	}
	// The MAC's first base64 character swapped for another valid one (any
	// bit flip could make the base64 invalid rather than the MAC wrong).
	badMAC := bytes.Clone(ct)
	if badMAC[hdr-44] == 'A' {
		badMAC[hdr-44] = 'B'
	} else {
		badMAC[hdr-44] = 'A'
	}
	cases := []struct {
		name    string
		file    []byte
		id      age.Identity
		wantErr string
		// good is how much plaintext may come out before the error: the
		// chunks before the damaged one, all authenticated.
		good int
	}{
		{"tampered header stanza", flip(100), id, "", 0},
		{"tampered header MAC", badMAC, id, "bad header MAC", 0},
		{"tampered nonce", flip(hdr + 2), id, "failed to decrypt and authenticate", 0},
		{"tampered first chunk", flip(hdr + nonceSize + 10), id, "failed to decrypt and authenticate", 0},
		{"tampered last chunk", flip(int64(len(ct)) - 3), id, "failed to decrypt and authenticate", 3 * ChunkSize},
		{"truncated in header", ct[:hdr-10], id, "failed to read header", 0},
		{"truncated at a chunk boundary", ct[:hdr+nonceSize+2*encChunkSize], id, "", 2 * ChunkSize},
		{"truncated mid chunk", ct[:hdr+nonceSize+encChunkSize+100], id, "", ChunkSize},
		{"trailing data", append(bytes.Clone(ct), 0), id, "failed to decrypt and authenticate", 3 * ChunkSize},
		{"wrong identity", ct, other, "did not match any of the recipients", 0},
		{"not an age file", []byte("hello world, this is plaintext\n"), id, "failed to read header", 0},
		{"empty", nil, id, "failed to read header", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out []byte
			r, err := Decrypt(bytes.NewReader(tc.file), tc.id)
			if err == nil {
				out, err = io.ReadAll(r)
			}
			if err == nil {
				t.Fatal("damaged file decrypted without error")
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			}
			if len(out) > tc.good || !bytes.Equal(out, pt[:len(out)]) {
				t.Fatalf("released %d plaintext bytes, at most %d authenticated ones allowed", len(out), tc.good)
			}
		})
	}
	var nm *age.NoIdentityMatchError
	if _, err := Decrypt(bytes.NewReader(ct), other); !errors.As(err, &nm) {
		t.Errorf("wrong identity: error is %T, want *age.NoIdentityMatchError", err)
	}
	if _, err := Decrypt(bytes.NewReader(ct)); !errors.Is(err, ErrNoIdentities) {
		t.Errorf("no identities: %v", err)
	}
	if _, err := Encrypt(io.Discard); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("no recipients: %v", err)
	}
	if _, err := EncryptedSize(1); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("EncryptedSize with no recipients: %v", err)
	}
}

func TestIsEncrypted(t *testing.T) {
	id := mustIdentity(t)
	ct := encryptBytes(t, []byte("x"), id.Recipient())
	var armored bytes.Buffer
	aw := armor.NewWriter(&armored)
	aw.Write(ct)
	aw.Close()
	for _, tc := range []struct {
		in   []byte
		want bool
	}{
		{ct, true},
		{ct[:SniffLen], true},
		{armored.Bytes()[:SniffLen], true},
		{ct[:10], false}, // too short to tell
		{[]byte("age-encryption.org/v2\n"), false},
		{[]byte("%PDF-1.7"), false},
		{nil, false},
	} {
		if got := IsEncrypted(tc.in); got != tc.want {
			t.Errorf("IsEncrypted(%q) = %v", tc.in, got)
		}
	}
}
