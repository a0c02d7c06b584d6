package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// frameBytes encodes one frame as a peer would, masked with a fixed key
// when masked is set.
func frameBytes(b0 byte, masked bool, length int64, payload []byte) []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out := appendWSHeader(nil, b0&0x80 != 0, b0&0x0f, masked, key, length)
	out[0] |= b0 & 0x70
	p := bytes.Clone(payload)
	if masked {
		wsMask(key, 0, p)
	}
	return append(out, p...)
}

func TestWSReaderValidation(t *testing.T) {
	long := func(n int) []byte { return bytes.Repeat([]byte{'a'}, n) }
	nonMinimal16 := []byte{0x81, 126, 0, 5, 'h', 'e', 'l', 'l', 'o'}
	nonMinimal64 := append([]byte{0x82, 127}, binary.BigEndian.AppendUint64(nil, 200)...)
	msb64 := append([]byte{0x82, 127}, binary.BigEndian.AppendUint64(nil, 1<<63)...)
	for _, tc := range []struct {
		name       string
		in         []byte
		fromClient bool
		frames     int    // frames read before the error
		err        string // "" for a clean end
	}{
		{"text, 7-bit length", frameBytes(0x81, true, 5, []byte("hello")), true, 1, ""},
		{"binary, 16-bit length", frameBytes(0x82, false, 300, long(300)), false, 1, ""},
		{"binary, 64-bit length", frameBytes(0x82, false, 70000, long(70000)), false, 1, ""},
		{"fragments with control frames between", bytes.Join([][]byte{
			frameBytes(0x01, true, 3, []byte("abc")), frameBytes(0x89, true, 1, []byte("p")),
			frameBytes(0x00, true, 3, []byte("def")), frameBytes(0x8a, true, 0, nil), frameBytes(0x80, true, 1, []byte("g")),
		}, nil), true, 5, ""},
		{"unmasked client frame", frameBytes(0x81, false, 2, []byte("hi")), true, 0, "client frame not masked"},
		{"masked server frame", frameBytes(0x81, true, 2, []byte("hi")), false, 0, "server frame masked"},
		{"RSV1 (permessage-deflate)", frameBytes(0xc1, true, 2, []byte("hi")), true, 0, "reserved bits"},
		{"RSV3", frameBytes(0x91, false, 2, []byte("hi")), false, 0, "reserved bits"},
		{"opcode 3", frameBytes(0x83, false, 0, nil), false, 0, "unknown opcode"},
		{"opcode 0xb", frameBytes(0x8b, false, 0, nil), false, 0, "unknown opcode"},
		{"fragmented ping", frameBytes(0x09, false, 0, nil), false, 0, "fragmented control"},
		{"ping of 126 bytes", frameBytes(0x89, false, 126, long(126)), false, 0, "longer than 125"},
		{"continuation first", frameBytes(0x80, false, 1, []byte("x")), false, 0, "continuation frame outside"},
		{"text inside a fragmented text", append(frameBytes(0x01, false, 1, []byte("x")), frameBytes(0x81, false, 1, []byte("y"))...), false, 1, "new message inside"},
		{"16-bit length for 5 bytes", nonMinimal16, false, 0, "minimal form"},
		{"64-bit length for 200 bytes", nonMinimal64, false, 0, "minimal form"},
		{"64-bit length with MSB", msb64, false, 0, "most significant bit"},
		{"cut in the header", []byte{0x81, 0xfe, 0x01}, true, 0, io.ErrUnexpectedEOF.Error()},
		{"cut in the payload", frameBytes(0x81, false, 10, []byte("hello"))[:7], false, 1, io.ErrUnexpectedEOF.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newWSReader(bytes.NewReader(tc.in), tc.fromClient)
			n := 0
			var err error
			for {
				if _, err = r.next(); err != nil {
					break
				}
				if _, err = r.appendPayload(nil); err != nil {
					n++
					break
				}
				n++
			}
			if err == io.EOF {
				err = nil
			}
			if n != tc.frames || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("read %d frames, then %v; want %d, then %q", n, err, tc.frames, tc.err)
			}
			var we *wsError
			if errors.As(err, &we) && we.code != wsCloseProtocol {
				t.Errorf("close code %d, want 1002", we.code)
			}
		})
	}
}

func TestWSReaderUnmasks(t *testing.T) {
	payload := []byte("Patienten 19121212-1212 och mer text än sexton byte")
	in := append(frameBytes(0x01, true, 10, payload[:10]), frameBytes(0x80, true, int64(len(payload)-10), payload[10:])...)
	r := newWSReader(bytes.NewReader(in), true)
	var got []byte
	for {
		h, err := r.next()
		if err != nil {
			break
		}
		if r.messageOp() != wsText {
			t.Errorf("frame %x: message opcode %d", h.op, r.messageOp())
		}
		got, _ = r.appendPayload(got)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("unmasked %q", got)
	}
}

func TestWSMask(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for n := 0; n < 40; n++ {
		for pos := 0; pos < 4; pos++ {
			b := content(n, uint64(n))
			want := bytes.Clone(b)
			for i := range want {
				want[i] ^= key[(pos+i)&3]
			}
			if end := wsMask(key, pos, b); end != (pos+n)&3 || !bytes.Equal(b, want) {
				t.Fatalf("n=%d pos=%d: wrong mask", n, pos)
			}
		}
	}
}

func TestWSWriterMasksFreshly(t *testing.T) {
	var out bytes.Buffer
	w := newWSWriter(&out, true)
	w.writeFrame(true, wsText, []byte("same"))
	w.writeFrame(true, wsText, []byte("same"))
	b := out.Bytes()
	if len(b) != 2*(2+4+4) || bytes.Equal(b[2:6], b[12:16]) || b[1]&0x80 == 0 {
		t.Fatalf("frames to a server not masked with fresh keys: % x", b)
	}
	r := newWSReader(&out, true)
	for range 2 {
		if _, err := r.next(); err != nil {
			t.Fatal(err)
		}
		if p, _ := r.appendPayload(nil); string(p) != "same" {
			t.Errorf("payload %q", p)
		}
	}
}

func TestParseClose(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		code int
		err  int
	}{
		{nil, 0, 0},
		{[]byte{0x03}, 0, wsCloseProtocol},
		{closePayload(1000, "hej då"), 1000, 0},
		{closePayload(4000, ""), 4000, 0},
		{closePayload(1005, ""), 0, wsCloseProtocol},
		{closePayload(1006, ""), 0, wsCloseProtocol},
		{closePayload(999, ""), 0, wsCloseProtocol},
		{closePayload(5000, ""), 0, wsCloseProtocol},
		{append(closePayload(1000, ""), 0xff), 0, wsCloseInvalidData},
	} {
		code, _, err := parseClose(tc.in)
		var we *wsError
		errors.As(err, &we)
		if code != tc.code || (we == nil) != (tc.err == 0) || we != nil && we.code != tc.err {
			t.Errorf("% x: code %d, err %v", tc.in, code, err)
		}
	}
	if p := closePayload(1003, strings.Repeat("å", 100)); len(p) > wsMaxControl {
		t.Errorf("close payload of %d bytes", len(p))
	}
}

func TestWSAccept(t *testing.T) {
	// RFC 6455 section 1.3.
	if got := wsAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("accept %s", got)
	}
}

func TestWSCounter(t *testing.T) {
	stream := bytes.Join([][]byte{
		frameBytes(0x01, true, 3, []byte("abc")), frameBytes(0x89, true, 1, []byte("p")),
		frameBytes(0x80, true, 70000, bytes.Repeat([]byte{'x'}, 70000)),
		frameBytes(0xc1, true, 2, []byte("zz")), // compressed: counted all the same
		frameBytes(0x82, true, 300, bytes.Repeat([]byte{'y'}, 300)),
		frameBytes(0x88, true, 2, []byte{3, 232}),
	}, nil)
	for _, chunk := range []int{1, 7, 1000, len(stream)} {
		var c wsCounter
		n := 0
		for b := stream; len(b) > 0; {
			k := min(chunk, len(b))
			n += c.feed(b[:k])
			b = b[k:]
		}
		if n != 3 || c.lost {
			t.Errorf("chunks of %d: %d messages, lost %v", chunk, n, c.lost)
		}
	}
}

// TestWSCopyFrame: a frame streamed in chunks arrives whole, re-masked
// with a new key towards a server and unmasked towards a client.
func TestWSCopyFrame(t *testing.T) {
	payload := content(70000, 5)
	in := frameBytes(0x82, true, int64(len(payload)), payload)
	for _, toServer := range []bool{true, false} {
		r := newWSReader(bytes.NewReader(in), true)
		h, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := newWSWriter(&out, toServer).copyFrame(h, r, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		b := out.Bytes()
		if toServer == (b[1]&0x80 == 0) || toServer && bytes.Equal(b[10:14], in[10:14]) {
			t.Errorf("to server %v: masking bit %x, key % x", toServer, b[1]&0x80, b[10:14])
		}
		back, err := readAllFrames(b, toServer)
		if err != nil || len(back) != 1 || !bytes.Equal(back[0], payload) {
			t.Errorf("to server %v: %d frames, %v", toServer, len(back), err)
		}
	}
	// Cut short, the copy says so.
	r := newWSReader(bytes.NewReader(in[:5000]), true)
	h, _ := r.next()
	if err := newWSWriter(io.Discard, true).copyFrame(h, r, make([]byte, 1000)); err != io.ErrUnexpectedEOF {
		t.Errorf("cut frame: %v", err)
	}
}

func readAllFrames(b []byte, masked bool) ([][]byte, error) {
	r := newWSReader(bytes.NewReader(b), masked)
	var out [][]byte
	for {
		if _, err := r.next(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		p, err := r.appendPayload(nil)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
}

func TestValidWSKey(t *testing.T) {
	for k, want := range map[string]bool{
		"dGhlIHNhbXBsZSBub25jZQ==": true,
		"":                         false,
		"dGhlIHNhbXBsZQ==":         false, // 10 bytes
		"not base64!":              false,
	} {
		if validWSKey(k) != want {
			t.Errorf("%q: %v", k, !want)
		}
	}
}
