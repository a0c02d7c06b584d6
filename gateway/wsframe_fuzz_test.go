package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// refFrame is a frame as refParse decodes it: every field, nothing
// checked.
type refFrame struct {
	fin, masked bool
	rsv, op     byte
	length      uint64
	minimal     bool
	payload     []byte // unmasked; nil when cut short
	complete    bool
}

// refParse decodes data into frames the simplest way, independently of
// wsReader, without any validation.
func refParse(data []byte) []refFrame {
	var out []refFrame
	for len(data) > 0 {
		var f refFrame
		if len(data) < 2 {
			return append(out, f)
		}
		f.fin, f.rsv, f.op = data[0]&0x80 != 0, data[0]&0x70, data[0]&0x0f
		f.masked = data[1]&0x80 != 0
		n, rest := uint64(data[1]&0x7f), data[2:]
		f.minimal = true
		switch n {
		case 126:
			if len(rest) < 2 {
				return append(out, f)
			}
			n, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
			f.minimal = n >= 126
		case 127:
			if len(rest) < 8 {
				return append(out, f)
			}
			n, rest = binary.BigEndian.Uint64(rest), rest[8:]
			f.minimal = n > 0xffff
		}
		f.length = n
		var key []byte
		if f.masked {
			if len(rest) < 4 {
				return append(out, f)
			}
			key, rest = rest[:4], rest[4:]
		}
		if uint64(len(rest)) < n {
			return append(out, f)
		}
		f.payload, f.complete = bytes.Clone(rest[:n]), true
		for i := range f.payload {
			if key != nil {
				f.payload[i] ^= key[i&3]
			}
		}
		out = append(out, f)
		data = rest[n:]
	}
	return out
}

// refValid says whether RFC 6455 allows frame f next, given whether a
// fragmented message is open, and updates that.
func refValid(f refFrame, fromClient bool, open *bool) bool {
	control := f.op >= 8
	switch {
	case f.rsv != 0, f.masked != fromClient, !f.minimal, f.length>>63 != 0:
		return false
	case f.op > 2 && f.op < 8, f.op > 10:
		return false
	case control && (!f.fin || f.length > 125):
		return false
	case f.op == 0 && !*open, (f.op == 1 || f.op == 2) && *open:
		return false
	}
	if !control {
		*open = !f.fin
	}
	return true
}

type readFrame struct {
	fin     bool
	op      byte
	msgOp   byte
	payload []byte
}

// readAll reads data's frames with wsReader.
func readAll(data []byte, fromClient bool) ([]readFrame, error) {
	r := newWSReader(bytes.NewReader(data), fromClient)
	var out []readFrame
	for {
		h, err := r.next()
		if err != nil {
			return out, err
		}
		if h.length > int64(len(data)) {
			// Cut short, necessarily: read it as such, without a buffer
			// of the length it claims.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return out, err
			}
			return out, errors.New("frame longer than its stream, read whole")
		}
		p, err := r.appendPayload(nil)
		if err != nil {
			return out, err
		}
		out = append(out, readFrame{h.fin, h.op, r.messageOp(), p})
	}
}

// FuzzWebSocketFrames checks the frame reader against an independent
// decoder, the writer against the reader, the passive counter against
// the reader, and the session relay: whatever comes in, what it sends on
// is valid WebSocket, text is UTF-8 and bounded, binary only if allowed,
// and the messages are the ones that came in.
func FuzzWebSocketFrames(f *testing.F) {
	key := [4]byte{9, 8, 7, 6}
	masked := func(fin bool, op byte, p string) []byte {
		b := appendWSHeader(nil, fin, op, true, key, int64(len(p)))
		q := []byte(p)
		wsMask(key, 0, q)
		return append(b, q...)
	}
	plain := func(fin bool, op byte, p string) []byte {
		return append(appendWSHeader(nil, fin, op, false, key, int64(len(p))), p...)
	}
	f.Add(bytes.Join([][]byte{masked(false, wsText, "Tolvan "), masked(true, wsPing, "p"), masked(true, wsContinuation, "Tolvansson")}, nil), true, false)
	f.Add(bytes.Join([][]byte{plain(true, wsBinary, string(make([]byte, 300))), plain(true, wsClose, "\x03\xe8bye")}, nil), false, true)
	f.Add(plain(true, wsText, string(bytes.Repeat([]byte("å"), 300))), false, false)
	// The 64-bit length form, cut short (a whole one would make a slow seed).
	f.Add(append(appendWSHeader(nil, true, wsBinary, false, key, 70000), "abc"...), false, true)
	f.Add(masked(true, wsText, "\xff"), true, false)
	f.Add([]byte{0xc1, 0x80, 1, 2, 3, 4}, true, false)
	f.Add(append([]byte{0x82, 127}, binary.BigEndian.AppendUint64(nil, 1<<62)...), false, true)
	f.Fuzz(func(t *testing.T, data []byte, fromClient, allowBinary bool) {
		frames, err := readAll(data, fromClient)

		// The reader agrees with the reference decoder: it accepts
		// exactly the valid frames, up to the first invalid or cut one.
		ref := refParse(data)
		open := false
		for i, rf := range ref {
			if i < len(frames) {
				fr := frames[i]
				if !refValid(rf, fromClient, &open) || !rf.complete || fr.fin != rf.fin || fr.op != rf.op || !bytes.Equal(fr.payload, rf.payload) {
					t.Fatalf("frame %d: reader accepted %+v, reference decodes %+v", i, fr, rf)
				}
				continue
			}
			var we *wsError
			switch {
			case errors.As(err, &we):
				// (It may refuse a bad length before the mask key is in.)
				if refValid(rf, fromClient, &open) {
					t.Fatalf("frame %d: reader refused (%v) a frame the reference finds valid: %+v", i, err, rf)
				}
			case err == io.ErrUnexpectedEOF:
				if rf.complete && refValid(rf, fromClient, &open) {
					t.Fatalf("frame %d: reader says cut, reference has it whole", i)
				}
			default:
				t.Fatalf("frame %d: reader stopped with %v", i, err)
			}
			break
		}
		if len(frames) > len(ref) || err == io.EOF && len(frames) != len(ref) {
			t.Fatalf("reader read %d frames, reference %d (%v)", len(frames), len(ref), err)
		}

		// What the writer writes, the reader reads back the same.
		var re bytes.Buffer
		w := newWSWriter(&re, fromClient)
		for _, fr := range frames {
			w.writeFrame(fr.fin, fr.op, bytes.Clone(fr.payload))
		}
		again, err2 := readAll(re.Bytes(), fromClient)
		if err2 != io.EOF || len(again) != len(frames) {
			t.Fatalf("re-encoded frames: %d of %d, %v", len(again), len(frames), err2)
		}
		for i := range again {
			if again[i].fin != frames[i].fin || again[i].op != frames[i].op || !bytes.Equal(again[i].payload, frames[i].payload) {
				t.Fatalf("re-encoded frame %d differs", i)
			}
		}

		// The counter, in any chunking, counts the reader's messages on a
		// stream the reader accepts whole.
		if err == io.EOF {
			want := 0
			for _, fr := range frames {
				if fr.op <= wsBinary && fr.fin {
					want++
				}
			}
			for _, chunk := range []int{1, 3, len(data) + 1} {
				var c wsCounter
				n := 0
				for b := data; len(b) > 0; {
					k := min(chunk, len(b))
					n += c.feed(b[:k])
					b = b[k:]
				}
				if n != want || c.lost {
					t.Fatalf("counter in chunks of %d: %d messages, want %d", chunk, n, want)
				}
			}
		}

		// The relay, with transforms that change nothing.
		const maxMsg = 1 << 10
		s := &wsSession{ctx: context.Background(), u: &upgrade{binary: allowBinary, stats: &upgradeStats{}}, x: &Exchange{Log: zerolog.Nop()}, max: maxMsg}
		same := func(_ context.Context, b []byte) ([]byte, error) { return b, nil }
		sameControl := func(_ context.Context, b []byte, _ int) ([]byte, error) { return b, nil }
		var out bytes.Buffer
		from := &wsSide{name: "from", in: newWSReader(bytes.NewReader(data), fromClient), messages: new(atomic.Int64), transform: same, control: sameControl}
		to := &wsSide{name: "to", out: newWSWriter(&out, fromClient)}
		relayErr := s.relay(from, to)
		sent, err3 := readAll(out.Bytes(), fromClient)
		// An allowed binary frame streams: when the input is cut inside
		// one, so is the output.
		streamCut := allowBinary && relayErr == io.ErrUnexpectedEOF && err3 != nil && err3 != io.EOF && !errors.As(err3, new(*wsError))
		if err3 != io.EOF && !streamCut {
			t.Fatalf("the relay sent invalid frames: %v (relay: %v)", err3, relayErr)
		}
		// The expected output, from the reader's frames.
		var want []readFrame
		var text []byte
		closed := false
	expect:
		for _, fr := range frames {
			switch {
			case closed:
			case fr.op == wsClose:
				if _, _, err := parseClose(fr.payload); err != nil {
					break expect
				}
				closed = true
				want = append(want, fr)
			case fr.op >= wsPing:
				want = append(want, fr)
			case fr.msgOp == wsBinary:
				if !allowBinary {
					break expect
				}
				want = append(want, fr)
			default:
				if len(text)+len(fr.payload) > maxMsg {
					break expect
				}
				text = append(text, fr.payload...)
				if fr.fin {
					if !utf8.Valid(text) {
						break expect
					}
					want = append(want, readFrame{true, wsText, wsText, text})
					text = nil
				}
			}
		}
		if len(sent) != len(want) {
			t.Fatalf("relay sent %d frames, want %d (relay: %v)", len(sent), len(want), relayErr)
		}
		for i := range sent {
			if sent[i].fin != want[i].fin || sent[i].op != want[i].op || !bytes.Equal(sent[i].payload, want[i].payload) {
				t.Fatalf("relayed frame %d differs", i)
			}
			if sent[i].op == wsText && len(sent[i].payload) > maxMsg {
				t.Fatalf("relayed a text message of %d bytes", len(sent[i].payload))
			}
		}
		var we *wsError
		if relayErr != nil && !errors.As(relayErr, &we) && relayErr != io.ErrUnexpectedEOF {
			t.Fatalf("relay ended with %v", relayErr)
		}
	})
}
