package gateway

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/crypto"
)

// readAllBy reads r to its end or first error with reads of n bytes.
func readAllBy(r io.Reader, n int) ([]byte, error) {
	var out []byte
	buf := make([]byte, n)
	for {
		m, err := r.Read(buf)
		out = append(out, buf[:m]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// TestEndCheckedReader: every byte passes, in order, whatever the read
// sizes and however the source reports its end; a source that fails keeps
// its last byte.
func TestEndCheckedReader(t *testing.T) {
	data := content(200<<10+3, 1)
	sources := map[string]func() io.Reader{
		"plain":    func() io.Reader { return bytes.NewReader(data) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
	}
	for name, src := range sources {
		for _, n := range []int{1, 2, 7, 32 << 10, 64 << 10, 1 << 20} {
			got, err := readAllBy(&endCheckedReader{r: src()}, n)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s, reads of %d: %d bytes, %v", name, n, len(got), err)
			}
		}
	}
	for _, n := range []int{1, 100, 4096} {
		failing := io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(errors.New("cut")))
		got, err := readAllBy(&endCheckedReader{r: failing}, n)
		if err == nil || len(got) != 999 || !bytes.Equal(got, data[:999]) {
			t.Errorf("failing source, reads of %d: %d bytes, %v; want 999 and the error", n, len(got), err)
		}
	}

	// An age file cut at a chunk boundary: every chunk left authenticates;
	// the reader keeps the last byte back and returns the error.
	id, _ := crypto.GenerateIdentity()
	var ct bytes.Buffer
	w, _ := crypto.Encrypt(&ct, id.Recipient())
	w.Write(data)
	w.Close()
	hs, _ := crypto.ReadHeaderSize(bytes.NewReader(ct.Bytes()))
	cut := ct.Bytes()[:hs+16+2*(crypto.ChunkSize+16)]
	pt, err := crypto.Decrypt(bytes.NewReader(cut), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(&endCheckedReader{r: pt})
	if err == nil || len(got) != 2*crypto.ChunkSize-1 {
		t.Fatalf("cut age file: %d bytes, %v; want %d and an error", len(got), err, 2*crypto.ChunkSize-1)
	}
}

// BenchmarkDecryptDownload is an 8 MiB GET of an encrypted object through
// the gateway, decrypted for the client:
//
//	go test -run '^$' -bench DecryptDownload -benchtime 3s ./gateway
func BenchmarkDecryptDownload(b *testing.B) {
	c := newCloud(b)
	h := newHarness(b, storageConfig(c, "storage"))
	h.gw.audit = zerolog.New(io.Discard)
	const size = 8 << 20
	var ct bytes.Buffer
	w, _ := crypto.Encrypt(&ct, h.keys.id.Recipient())
	w.Write(content(size, 1))
	w.Close()
	if err := os.WriteFile(filepath.Join(c.dir, "x"), ct.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	cl := h.client("", "")
	b.SetBytes(size)
	for b.Loop() {
		resp, err := cl.Get(c.URL() + "/x")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("GET: %d bytes, %v", n, err)
		}
	}
}
