package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	agetest "c2sp.org/CCTV/age"
	"filippo.io/age"
)

// The payload reader replaces age's STREAM reader, so it is checked against
// age itself, file by file: on every CCTV vector, on damaged files, and
// under fuzzing.

// readers are the ways the gateway and the CLI read a plaintext: large
// reads, one byte at a time, and io.Copy (which uses WriteTo).
var readers = []struct {
	name string
	read func(io.Reader) ([]byte, error)
}{
	{"ReadAll", io.ReadAll},
	{"OneByte", func(r io.Reader) ([]byte, error) { return io.ReadAll(iotest.OneByteReader(r)) }},
	{"Copy", func(r io.Reader) ([]byte, error) {
		var b bytes.Buffer
		_, err := io.Copy(&b, r)
		return b.Bytes(), err
	}},
}

// agreeWithAge decrypts file with Decrypt and with age.Decrypt and fails
// unless they agree: both refuse the header or neither, with a
// NoIdentityMatchError on both sides or neither; then both return the same
// plaintext, and end in an error or neither. src wraps the reader we
// decrypt.
func agreeWithAge(t *testing.T, file []byte, ids []age.Identity, src func(io.Reader) io.Reader, read func(io.Reader) ([]byte, error)) {
	t.Helper()
	theirs, theirErr := age.Decrypt(bytes.NewReader(file), slices.Clone(ids)...)
	ours, ourErr := Decrypt(src(bytes.NewReader(file)), slices.Clone(ids)...)
	if (theirErr == nil) != (ourErr == nil) {
		t.Fatalf("header: age says %v, we say %v", theirErr, ourErr)
	}
	var noMatch *age.NoIdentityMatchError
	if errors.As(theirErr, &noMatch) != errors.As(ourErr, &noMatch) {
		t.Fatalf("header: age says %v, we say %v", theirErr, ourErr)
	}
	if theirErr != nil {
		return
	}
	want, theirErr := io.ReadAll(theirs)
	got, ourErr := read(ours)
	if (theirErr == nil) != (ourErr == nil) {
		t.Fatalf("payload: age says %v after %d bytes, we say %v after %d", theirErr, len(want), ourErr, len(got))
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("payload: we return %d bytes that are not age's %d", len(got), len(want))
	}
}

func sameReader(r io.Reader) io.Reader { return r }

// vectorIdentities returns the identities of a CCTV vector, all of them:
// X25519 and scrypt ones are age's, post-quantum ones ours.
func vectorIdentities(t *testing.T, contents []byte, v vector) []age.Identity {
	var ids []age.Identity
	for _, s := range v.identities {
		if strings.HasPrefix(s, "AGE-SECRET-KEY-PQ-1") {
			id, err := ParseIdentity(s)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		} else if id, err := age.ParseX25519Identity(s); err == nil {
			ids = append(ids, id)
		}
	}
	hdr, _, _ := bytes.Cut(contents, []byte("\n\n"))
	for _, line := range strings.Split(string(hdr), "\n") {
		if p, ok := strings.CutPrefix(line, "passphrase: "); ok {
			id, err := age.NewScryptIdentity(p)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	return ids
}

func TestPayloadReaderOnCCTVVectors(t *testing.T) {
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, e := range entries {
		contents, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := parseVector(t, contents)
		ids := vectorIdentities(t, contents, v)
		if v.armored || len(ids) == 0 {
			continue
		}
		ran++
		t.Run(e.Name(), func(t *testing.T) {
			checkVector(t, v, ids)
			for _, rd := range readers {
				agreeWithAge(t, v.file, ids, sameReader, rd.read)
			}
		})
	}
	if ran < 100 {
		t.Fatalf("ran only %d vectors; the CCTV module has more than 100 binary ones", ran)
	}
}

// TestPayloadReaderOnDamagedFiles cuts, extends and flips files around
// every chunk boundary and compares the outcome with age's.
func TestPayloadReaderOnDamagedFiles(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ids := []age.Identity{id}
	for _, size := range []int64{0, 1, 1000, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 2*ChunkSize + 7} {
		file := encryptBytes(t, randomBytes(t, size), id.Recipient())
		for _, d := range damagedFiles(t, file) {
			for _, rd := range readers {
				agreeWithAge(t, d, ids, sameReader, rd.read)
			}
		}
		// Sources that return short reads, or data together with io.EOF.
		for _, src := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader} {
			agreeWithAge(t, file, ids, src, io.ReadAll)
		}
	}
}

// damagedFiles returns file, then copies of it cut, flipped and extended
// around the header, the nonce and every chunk boundary.
func damagedFiles(t *testing.T, file []byte) [][]byte {
	hdrLen, err := ReadHeaderSize(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	payload := int(hdrLen) + nonceSize
	cuts := []int{0, int(hdrLen) - 1, int(hdrLen), int(hdrLen) + 5, payload, payload + 1, payload + chunkOverhead, len(file) - 1}
	for c := payload; c < len(file); c += encChunkSize {
		cuts = append(cuts, c-1, c, c+1, c+chunkOverhead-1, c+chunkOverhead, c+chunkOverhead+1, c+encChunkSize-1)
	}
	var damaged [][]byte
	damaged = append(damaged, file)
	for _, c := range cuts {
		if c >= 0 && c < len(file) {
			damaged = append(damaged, file[:c])
			flipped := slices.Clone(file)
			flipped[c] ^= 0x40
			damaged = append(damaged, flipped)
		}
	}
	for _, tail := range []string{"x", strings.Repeat("y", chunkOverhead), strings.Repeat("z", encChunkSize)} {
		damaged = append(damaged, append(slices.Clone(file), tail...))
	}
	return damaged
}

// FuzzPayloadReader compares Decrypt with age.Decrypt on mutated files.
func FuzzPayloadReader(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int64{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1} {
		f.Add(encryptBytes(f, randomBytes(f, n), id.Recipient()))
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		for _, rd := range readers {
			agreeWithAge(t, file, []age.Identity{id}, sameReader, rd.read)
		}
	})
}

// TestPayloadReaderKeepsOneBuffer is the point of the reader: a chunk costs
// no allocation (in age's reader, a 64 KiB one). The header's allocations
// are the same for a 1-chunk and a 64-chunk file and cancel out.
func TestPayloadReaderKeepsOneBuffer(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	allocs := func(chunks int) float64 {
		file := encryptBytes(t, make([]byte, chunks*ChunkSize), id.Recipient())
		return testing.AllocsPerRun(5, func() {
			r, err := Decrypt(bytes.NewReader(file), id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, onlyReader{r}, buf); err != nil {
				t.Fatal(err)
			}
		})
	}
	one, many := allocs(1), allocs(64)
	if perChunk := (many - one) / 63; perChunk > 0.1 {
		t.Fatalf("%.2f allocations per chunk (%.0f for 1 chunk, %.0f for 64)", perChunk, one, many)
	}
}

// onlyReader hides WriteTo, so that copying goes through Read.
type onlyReader struct{ io.Reader }

// TestPayloadReadersShareNoPlaintext decrypts different files at once, so
// that pooled buffers pass between readers, and checks every plaintext
// (run with -race).
func TestPayloadReadersShareNoPlaintext(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var files, plains [][]byte
	for _, n := range []int64{0, 10, ChunkSize, ChunkSize + 3, 3 * ChunkSize} {
		pt := randomBytes(t, n)
		plains = append(plains, pt)
		files = append(files, encryptBytes(t, pt, id.Recipient()))
	}
	errs := make(chan error, 4*len(files))
	for range 4 {
		for i := range files {
			go func() {
				r, err := Decrypt(bytes.NewReader(files[i]), id)
				if err == nil {
					var got []byte
					got, err = readers[i%len(readers)].read(r)
					if err == nil && !bytes.Equal(got, plains[i]) {
						err = errors.New("wrong plaintext")
					}
				}
				errs <- err
			}()
		}
	}
	for range 4 * len(files) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// errKind sorts a ReadAt error as a caller must: none, io.EOF, or failure.
func errKind(err error) string {
	switch {
	case err == nil:
		return "nil"
	case err == io.EOF:
		return "EOF"
	}
	return "error"
}

// agreeWithAgeAt opens file with NewReaderAt and with age.DecryptReaderAt
// and fails unless they agree on the opening (error, no match, size) and on
// every read in reads (offset, length): bytes read, kind of error, bytes.
// A whole-file read and an io.SectionReader read through small buffers are
// always among them.
func agreeWithAgeAt(t *testing.T, file []byte, ids []age.Identity, reads [][2]int64) {
	t.Helper()
	theirs, theirSize, theirErr := age.DecryptReaderAt(bytes.NewReader(file), int64(len(file)), slices.Clone(ids)...)
	ours, ourSize, ourErr := NewReaderAt(bytes.NewReader(file), int64(len(file)), slices.Clone(ids)...)
	if (theirErr == nil) != (ourErr == nil) {
		t.Fatalf("open: age says %v, we say %v", theirErr, ourErr)
	}
	var noMatch *age.NoIdentityMatchError
	if errors.As(theirErr, &noMatch) != errors.As(ourErr, &noMatch) {
		t.Fatalf("open: age says %v, we say %v", theirErr, ourErr)
	}
	if theirErr != nil {
		return
	}
	if ourSize != theirSize {
		t.Fatalf("plaintext size: age says %d, we say %d", theirSize, ourSize)
	}
	reads = append(reads, [2]int64{0, theirSize}, [2]int64{0, theirSize + 10})
	for _, rd := range reads {
		off, n := rd[0], rd[1]
		if n < 0 || n > 1<<24 {
			continue
		}
		want, got := make([]byte, n), make([]byte, n)
		wn, werr := theirs.ReadAt(want, off)
		gn, gerr := ours.ReadAt(got, off)
		if wn != gn || errKind(werr) != errKind(gerr) || !bytes.Equal(want[:wn], got[:gn]) {
			t.Fatalf("ReadAt(%d bytes, %d): age %d, %v; we %d, %v", n, off, wn, werr, gn, gerr)
		}
	}
	want, werr := io.ReadAll(io.NewSectionReader(theirs, 0, theirSize))
	got, gerr := io.ReadAll(io.NewSectionReader(ours, 0, ourSize))
	if errKind(werr) != errKind(gerr) || !bytes.Equal(want, got) {
		t.Fatalf("section read: age %d bytes, %v; we %d, %v", len(want), werr, len(got), gerr)
	}
}

func TestPayloadReaderAtOnCCTVVectors(t *testing.T) {
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		contents, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := parseVector(t, contents)
		ids := vectorIdentities(t, contents, v)
		if v.armored || len(ids) == 0 {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			agreeWithAgeAt(t, v.file, ids, [][2]int64{{1, 3}, {ChunkSize - 1, 2}, {ChunkSize, ChunkSize}, {0, 2 * ChunkSize}})
		})
	}
}

func TestPayloadReaderAtOnDamagedFiles(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	c := int64(ChunkSize)
	reads := [][2]int64{
		{0, 1}, {0, c}, {0, c + 1}, {1, c}, {c - 1, 2}, {c, c}, {c, 2 * c}, {c / 2, 3 * c},
		{2 * c, c}, {2*c + 3, 10}, {2*c + 7, 1}, {2*c + 8, 1}, {-1, 1}, {3 * c, 1},
		{0, c - 1}, {c, c - 1}, {0, 2*c - 1}, {c + 1, c - 1},
	}
	for range 20 {
		var r [16]byte
		rand.Read(r[:])
		reads = append(reads, [2]int64{int64(binary.BigEndian.Uint32(r[:4]) % uint32(3*c)), int64(binary.BigEndian.Uint32(r[4:8]) % uint32(3*c))})
	}
	for _, size := range []int64{0, 1, 1000, c - 1, c, c + 1, 2 * c, 2*c + 7} {
		file := encryptBytes(t, randomBytes(t, size), id.Recipient())
		for _, d := range damagedFiles(t, file) {
			agreeWithAgeAt(t, d, []age.Identity{id}, reads)
		}
	}
}

// FuzzPayloadReaderAt compares NewReaderAt with age.DecryptReaderAt on
// mutated files and arbitrary reads.
func FuzzPayloadReaderAt(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int64{0, 1, ChunkSize, 2*ChunkSize + 1} {
		f.Add(encryptBytes(f, randomBytes(f, n), id.Recipient()), int64(n/2), int64(ChunkSize))
	}
	f.Fuzz(func(t *testing.T, file []byte, off, n int64) {
		agreeWithAgeAt(t, file, []age.Identity{id}, [][2]int64{{off, n % (4 * ChunkSize)}})
	})
}
