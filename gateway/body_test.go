package gateway

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"

	"github.com/sluss/sluss/pseudonym"
)

func refusalStatus(err error) int {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Status
	}
	return 0
}

func compress(coding string, b []byte) []byte {
	var out bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&out)
	case "zlib":
		w = zlib.NewWriter(&out)
	case "raw":
		w, _ = flate.NewWriter(&out, flate.DefaultCompression)
	case "br":
		w = brotli.NewWriter(&out)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func encodeIn(enc encoding.Encoding, s string) []byte {
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

// TestCharsetRoundTrip: every byte of the single-byte charsets, and UTF-16
// with either BOM, come back as they went when nothing is replaced.
func TestCharsetRoundTrip(t *testing.T) {
	identity := func(r io.Reader, w io.Writer) (pseudonym.Counts, error) {
		_, err := io.Copy(w, r)
		return pseudonym.Counts{}, err
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	u16 := func(e unicode.Endianness, b unicode.BOMPolicy) []byte {
		return encodeIn(unicode.UTF16(e, b), "Åsa 19121212-1212 €")
	}
	for _, tc := range []struct {
		label string
		in    []byte
	}{
		{"iso-8859-1", all}, {"windows-1252", all}, {"latin1", all}, {"iso-8859-15", all},
		{"", all}, // not UTF-8: read as windows-1252
		{"utf-16", u16(unicode.LittleEndian, unicode.UseBOM)},
		{"utf-16", u16(unicode.BigEndian, unicode.UseBOM)},
		{"utf-16", u16(unicode.BigEndian, unicode.IgnoreBOM)},
		{"", u16(unicode.LittleEndian, unicode.UseBOM)},
		{"utf-16le", u16(unicode.LittleEndian, unicode.IgnoreBOM)},
		{"utf-16be", u16(unicode.BigEndian, unicode.IgnoreBOM)},
		{"utf-8", all},
	} {
		tr, err := inCharset(tc.label, "the body", identity)
		if err != nil {
			t.Fatalf("%s: %v", tc.label, err)
		}
		var out bytes.Buffer
		if _, err := tr(bytes.NewReader(tc.in), &out); err != nil || !bytes.Equal(out.Bytes(), tc.in) {
			t.Errorf("%q: round trip differs (%v)", tc.label, err)
		}
	}
	if _, err := inCharset("shift_jis", "the body", identity); refusalStatus(err) != 415 {
		t.Errorf("shift_jis: %v", err)
	}
	// Undeclared text that starts as UTF-8 must stay UTF-8.
	tr, _ := inCharset("", "the body", identity)
	in := append(bytes.Repeat([]byte("ab"), sniffLen), 0xc5, 's', 'a')
	if _, err := tr(bytes.NewReader(in), io.Discard); refusalStatus(err) != 415 {
		t.Errorf("invalid UTF-8 after a UTF-8 head: %v", err)
	}
}

// TestDecodeLimits: a body is decoded as it is read, and fails once it
// expands past the limits.
func TestDecodeLimits(t *testing.T) {
	text := func(n int) []byte {
		// Text that compresses as prose does, a few times.
		return []byte(base64.StdEncoding.EncodeToString(content(n*3/4, 7)))
	}
	read := func(body []byte, codings []string, lim expansion) (int64, error) {
		r, err := decodeContent(io.NopCloser(bytes.NewReader(body)), codings, lim, "the body", 400)
		if err != nil {
			return 0, err
		}
		return io.Copy(io.Discard, r)
	}
	plain := text(3 << 20)
	if n, err := read(compress("gzip", plain), []string{"gzip"}, expansion{maxBytes: 4 << 20, ratio: 100}); err != nil || n != int64(len(plain)) {
		t.Errorf("within the limits: %d, %v", n, err)
	}
	if _, err := read(compress("gzip", plain), []string{"gzip"}, expansion{maxBytes: 2 << 20, ratio: 100}); refusalStatus(err) != 413 {
		t.Errorf("past max bytes: %v", err)
	}
	if _, err := read(compress("gzip", plain), []string{"gzip"}, expansion{maxBytes: 64 << 20, ratio: 1}); refusalStatus(err) != 413 {
		t.Errorf("past the ratio: %v", err)
	}
	// Stacked: the ratio counts all layers.
	bomb := compress("gzip", compress("gzip", make([]byte, 32<<20)))
	if _, err := read(bomb, []string{"gzip", "gzip"}, expansion{maxBytes: 64 << 20, ratio: 100}); refusalStatus(err) != 413 {
		t.Errorf("stacked bomb: %v", err)
	}
	for _, c := range []string{"zlib", "raw"} {
		if n, err := read(compress(c, plain), []string{"deflate"}, expansion{maxBytes: 64 << 20, ratio: 100}); err != nil || n != int64(len(plain)) {
			t.Errorf("deflate (%s): %d, %v", c, n, err)
		}
	}
	h := http.Header{"Content-Encoding": {"gzip", "br"}}
	if c, err := contentCodings(h, "the body"); err != nil || strings.Join(c, ",") != "gzip,br" {
		t.Errorf("codings %v, %v", c, err)
	}
}
