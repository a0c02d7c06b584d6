package gateway

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestFullReader(t *testing.T) {
	data := content(100<<10, 3)
	if err := iotest.TestReader(fullReader{iotest.OneByteReader(bytes.NewReader(data))}, data); err != nil {
		t.Fatal(err)
	}
	// Bytes read before an error come with it, and the error stays: a
	// client that vanishes mid-upload must not look like a short body.
	r := fullReader{io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(io.ErrUnexpectedEOF))}
	buf := make([]byte, 10)
	if n, err := r.Read(buf); n != 3 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read = %d, %v; want 3, unexpected EOF", n, err)
	}
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("second Read = %d, %v; want 0, unexpected EOF", n, err)
	}
}
