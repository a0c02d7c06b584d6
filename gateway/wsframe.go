package gateway

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"
)

// WebSocket framing, RFC 6455 section 5: a reader that checks every frame
// against the RFC before anything of it is relayed, and a writer that
// masks what it sends to a server with a fresh key per frame.

// Opcodes.
const (
	wsContinuation byte = 0x0
	wsText         byte = 0x1
	wsBinary       byte = 0x2
	wsClose        byte = 0x8
	wsPing         byte = 0x9
	wsPong         byte = 0xa
)

// Close codes (RFC 6455 section 7.4.1) the gateway sends.
const (
	wsCloseNormal      = 1000
	wsCloseProtocol    = 1002
	wsCloseUnsupported = 1003
	wsCloseInvalidData = 1007
	wsCloseTooBig      = 1009
	wsCloseInternal    = 1011
)

// wsMaxControl is the largest payload of a control frame.
const wsMaxControl = 125

// wsError is a peer breaking the protocol or the gateway's policy: the
// session ends with a close frame of code and reason to both sides. The
// reason is ours, never text from the peer.
type wsError struct {
	code   int
	reason string
}

func (e *wsError) Error() string { return fmt.Sprintf("websocket: %s (close %d)", e.reason, e.code) }

func wsProtocolError(reason string) *wsError { return &wsError{wsCloseProtocol, reason} }

// wsHeader is a frame header.
type wsHeader struct {
	fin    bool
	rsv    byte // the RSV1-3 bits, in place (0x70)
	op     byte
	masked bool
	key    [4]byte
	length int64
}

// wsReader reads the frames of one direction of a WebSocket connection.
// next checks each header: reserved bits clear (the gateway lets no
// extension be negotiated), known opcodes, masking as the direction
// requires, lengths in their minimal form, control frames whole and short,
// continuation frames only inside a fragmented message and data frames
// only outside one. Read then returns the frame's payload, unmasked.
type wsReader struct {
	br *bufio.Reader
	// fromClient: frames must be masked (client to server); otherwise
	// they must not be.
	fromClient bool

	h    wsHeader
	left int64 // payload bytes of h not yet read
	pos  int   // mask key position of the next payload byte

	inMessage bool // a fragmented message is open
	msgOp     byte // its opcode: wsText or wsBinary
}

func newWSReader(r io.Reader, fromClient bool) *wsReader {
	return &wsReader{br: bufio.NewReaderSize(r, 16<<10), fromClient: fromClient}
}

// next skips what is left of the current frame's payload and reads the
// next header. It returns io.EOF when the stream ends between frames,
// io.ErrUnexpectedEOF inside one, and a *wsError for a frame that breaks
// the protocol (after which the stream cannot be followed).
func (r *wsReader) next() (wsHeader, error) {
	if r.left > 0 {
		if _, err := io.CopyN(io.Discard, r.br, r.left); err != nil {
			return wsHeader{}, unexpected(err)
		}
		r.left = 0
	}
	var b [8]byte
	if _, err := io.ReadFull(r.br, b[:2]); err != nil {
		if err == io.EOF {
			return wsHeader{}, io.EOF
		}
		return wsHeader{}, unexpected(err)
	}
	h := wsHeader{fin: b[0]&0x80 != 0, rsv: b[0] & 0x70, op: b[0] & 0x0f, masked: b[1]&0x80 != 0}
	switch n := b[1] & 0x7f; n {
	case 126:
		if _, err := io.ReadFull(r.br, b[:2]); err != nil {
			return wsHeader{}, unexpected(err)
		}
		h.length = int64(binary.BigEndian.Uint16(b[:2]))
		if h.length < 126 {
			return wsHeader{}, wsProtocolError("frame length not in its minimal form")
		}
	case 127:
		if _, err := io.ReadFull(r.br, b[:8]); err != nil {
			return wsHeader{}, unexpected(err)
		}
		u := binary.BigEndian.Uint64(b[:8])
		if u>>63 != 0 {
			return wsHeader{}, wsProtocolError("frame length has its most significant bit set")
		}
		if u <= 0xffff {
			return wsHeader{}, wsProtocolError("frame length not in its minimal form")
		}
		h.length = int64(u)
	default:
		h.length = int64(n)
	}
	if h.masked {
		if _, err := io.ReadFull(r.br, h.key[:]); err != nil {
			return wsHeader{}, unexpected(err)
		}
	}
	if err := r.check(h); err != nil {
		return wsHeader{}, err
	}
	if h.op < wsClose {
		r.inMessage = !h.fin
		if h.op != wsContinuation {
			r.msgOp = h.op
		}
	}
	r.h, r.left, r.pos = h, h.length, 0
	return h, nil
}

func (r *wsReader) check(h wsHeader) error {
	switch {
	case h.rsv != 0:
		return wsProtocolError("reserved bits set, but no extension was negotiated")
	case h.masked != r.fromClient && r.fromClient:
		return wsProtocolError("client frame not masked")
	case h.masked != r.fromClient:
		return wsProtocolError("server frame masked")
	}
	switch h.op {
	case wsClose, wsPing, wsPong:
		if !h.fin {
			return wsProtocolError("fragmented control frame")
		}
		if h.length > wsMaxControl {
			return wsProtocolError("control frame longer than 125 bytes")
		}
	case wsContinuation:
		if !r.inMessage {
			return wsProtocolError("continuation frame outside a fragmented message")
		}
	case wsText, wsBinary:
		if r.inMessage {
			return wsProtocolError("new message inside a fragmented one")
		}
	default:
		return wsProtocolError("unknown opcode")
	}
	return nil
}

// messageOp is the opcode of the message the current data frame belongs
// to: wsText or wsBinary.
func (r *wsReader) messageOp() byte { return r.msgOp }

// Read reads the current frame's payload, unmasked; io.EOF at its end.
func (r *wsReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.br.Read(p)
	r.left -= int64(n)
	if r.h.masked {
		r.pos = wsMask(r.h.key, r.pos, p[:n])
	}
	if err == io.EOF && r.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// appendPayload appends the rest of the current frame's payload to dst.
// The caller bounds the frame's length first.
func (r *wsReader) appendPayload(dst []byte) ([]byte, error) {
	n := int(r.left)
	start := len(dst)
	if cap(dst)-start < n {
		grown := make([]byte, start, start+n)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+n]
	if _, err := io.ReadFull(r, dst[start:]); err != nil {
		return dst[:start], unexpected(err)
	}
	return dst, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// wsMask XORs b with key, starting at key position pos, and returns the
// position after b. Masking and unmasking are the same operation.
func wsMask(key [4]byte, pos int, b []byte) int {
	pos &= 3
	i := 0
	if len(b) >= 16 {
		// Eight bytes at a time with the key rotated to pos.
		var k [8]byte
		for j := range k {
			k[j] = key[(pos+j)&3]
		}
		k8 := binary.LittleEndian.Uint64(k[:])
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

// wsWriter writes frames to one side. Frames to a server are masked, each
// with a fresh random key. It is safe for concurrent use: a frame, once
// begun, is written whole before another.
type wsWriter struct {
	mu     sync.Mutex
	w      io.Writer
	toServ bool
	buf    []byte
}

func newWSWriter(w io.Writer, toServer bool) *wsWriter {
	return &wsWriter{w: w, toServ: toServer}
}

// appendHeader appends a frame header for a payload of length bytes; key
// is used when masked.
func appendWSHeader(dst []byte, fin bool, op byte, masked bool, key [4]byte, length int64) []byte {
	b0 := op & 0x0f
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case length < 126:
		dst = append(dst, b0, m|byte(length))
	case length <= 0xffff:
		dst = append(dst, b0, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(length))
	}
	if masked {
		dst = append(dst, key[:]...)
	}
	return dst
}

func newMaskKey() ([4]byte, error) {
	var k [4]byte
	_, err := rand.Read(k[:])
	return k, err
}

// smallFrame is the largest payload copied next to its header, so that
// header and payload leave in one write.
const smallFrame = 4 << 10

// writeFrame writes one frame. A payload to a server is masked in place:
// the caller must not use it afterwards.
func (w *wsWriter) writeFrame(fin bool, op byte, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var key [4]byte
	if w.toServ {
		var err error
		if key, err = newMaskKey(); err != nil {
			return err
		}
		wsMask(key, 0, payload)
	}
	w.buf = appendWSHeader(w.buf[:0], fin, op, w.toServ, key, int64(len(payload)))
	if len(payload) <= smallFrame {
		w.buf = append(w.buf, payload...)
		_, err := w.w.Write(w.buf)
		return err
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	_, err := w.w.Write(payload)
	return err
}

// copyFrame writes a frame with h's fin, opcode and length whose payload
// streams from r (a wsReader positioned on that frame), in chunks, masked
// anew when it goes to a server.
func (w *wsWriter) copyFrame(h wsHeader, r io.Reader, chunk []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var key [4]byte
	if w.toServ {
		var err error
		if key, err = newMaskKey(); err != nil {
			return err
		}
	}
	w.buf = appendWSHeader(w.buf[:0], h.fin, h.op, w.toServ, key, h.length)
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	pos := 0
	for left := h.length; left > 0; {
		c := chunk
		if int64(len(c)) > left {
			c = c[:left]
		}
		n, err := io.ReadFull(r, c)
		if w.toServ {
			pos = wsMask(key, pos, c[:n])
		}
		if n > 0 {
			if _, werr := w.w.Write(c[:n]); werr != nil {
				return werr
			}
		}
		left -= int64(n)
		if err != nil {
			return unexpected(err)
		}
	}
	return nil
}

// parseClose checks a close frame's payload: empty, or a code valid on
// the wire followed by UTF-8. It returns the code (0 for none) and reason.
func parseClose(p []byte) (int, []byte, error) {
	switch {
	case len(p) == 0:
		return 0, nil, nil
	case len(p) == 1:
		return 0, nil, wsProtocolError("close frame with a one-byte payload")
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return 0, nil, wsProtocolError("close frame with an invalid code")
	}
	if !utf8.Valid(p[2:]) {
		return 0, nil, &wsError{wsCloseInvalidData, "close reason is not valid UTF-8"}
	}
	return code, p[2:], nil
}

// validCloseCode reports whether a close code may be sent in a frame
// (RFC 6455 section 7.4 and the IANA registry).
func validCloseCode(c int) bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// closePayload builds a close frame's payload, cutting the reason at a
// rune boundary to fit a control frame.
func closePayload(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(make([]byte, 0, wsMaxControl), uint16(code))
	for len(reason) > wsMaxControl-2 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	return append(p, reason...)
}

// wsAccept is the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// validWSKey reports whether a Sec-WebSocket-Key is the base64 of 16
// bytes, as RFC 6455 section 4.1 requires.
func validWSKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}

// wsCounter counts the messages in one direction of a WebSocket stream
// it only watches (inspect services relay the bytes as they are). It
// follows frame headers and skips payloads; it tolerates extensions
// (reserved bits), and stops counting at the first header that cannot be
// a frame's, since it can no longer find the boundaries.
type wsCounter struct {
	hdr  [14]byte
	n    int   // header bytes collected
	skip int64 // payload bytes still to pass
	lost bool
}

// feed follows p and returns how many messages ended in it.
func (c *wsCounter) feed(p []byte) (messages int) {
	for len(p) > 0 && !c.lost {
		if c.skip > 0 {
			k := int64(len(p))
			if k > c.skip {
				k = c.skip
			}
			c.skip -= k
			p = p[k:]
			continue
		}
		need := 2
		if c.n >= 2 {
			need = wsHeaderLen(c.hdr[0], c.hdr[1])
		}
		k := copy(c.hdr[c.n:need], p)
		c.n += k
		p = p[k:]
		if c.n < need || need == 2 && wsHeaderLen(c.hdr[0], c.hdr[1]) > 2 {
			continue
		}
		length, ok := wsCounterLength(c.hdr[:c.n])
		op := c.hdr[0] & 0x0f
		if !ok || op > wsBinary && op < wsClose || op > wsPong {
			c.lost = true
			break
		}
		if op <= wsBinary && c.hdr[0]&0x80 != 0 {
			messages++
		}
		c.skip, c.n = length, 0
	}
	return messages
}

// wsHeaderLen is the length of a header from its first two bytes.
func wsHeaderLen(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

func wsCounterLength(h []byte) (int64, bool) {
	switch n := h[1] & 0x7f; n {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:])), true
	case 127:
		u := binary.BigEndian.Uint64(h[2:])
		return int64(u), u>>63 == 0
	default:
		return int64(n), true
	}
}
