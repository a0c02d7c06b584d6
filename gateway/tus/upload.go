package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/gateway/resumable"
)

// Meta keys the adapter keeps with an upload's state.
const (
	metaURL      = "url"      // the provider's upload URL
	metaDeferred = "deferred" // "1": created with Upload-Defer-Length
)

// checksumAlgorithms is what the gateway checks Upload-Checksum with.
const checksumAlgorithms = "sha1,md5,sha256,sha512"

// options answers the provider's capabilities as the client sees them
// through the gateway: no concatenation, the gateway's checksums, a
// maximum size in plaintext.
func (c *call) options() (*http.Response, error) {
	resp, body, err := c.roundTrip(c.request(c.ctx(), http.MethodOptions, c.req.URL, nil, 0))
	if err != nil {
		return nil, err
	}
	h := resp.Header
	if v := h.Get("Tus-Extension"); v != "" || resp.StatusCode/100 == 2 {
		var ext []string
		for _, e := range strings.Split(v, ",") {
			switch e = strings.TrimSpace(e); e {
			case "", "concatenation", "concatenation-unfinished", "checksum", "checksum-trailer":
				// Concatenation cannot give one age file; checksums are
				// the gateway's own (checksum-trailer it does not read).
			default:
				ext = append(ext, e)
			}
		}
		ext = append(ext, "checksum")
		h.Set("Tus-Extension", strings.Join(ext, ","))
		h.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
	}
	if v := h.Get("Tus-Max-Size"); v != "" {
		h.Del("Tus-Max-Size")
		if max, err := strconv.ParseInt(v, 10, 64); err == nil {
			if p, ok := c.plaintextMax(max); ok {
				h.Set("Tus-Max-Size", strconv.FormatInt(p, 10))
			}
		}
	}
	return c.passOn(resp, body), nil
}

// plaintextMax is the largest plaintext whose age file fits in max bytes.
func (c *call) plaintextMax(max int64) (int64, bool) {
	_, recipients, err := c.eng.Keys.EncryptionKeys()
	if err != nil {
		return 0, false
	}
	hs, err := crypto.HeaderSize(recipients...)
	if err != nil {
		return 0, false
	}
	for n := max; n > max-crypto.ChunkSize && n > hs; n-- {
		if p, err := crypto.PlaintextSize(n, hs); err == nil {
			return p, true
		}
	}
	return 0, false
}

// probeState fails unless the state store answers, so that a request is
// refused before anything reaches the provider when it cannot be kept.
func (c *call) probeState() error {
	_, err := c.eng.Status(c.ctx(), keyPrefix+"probe")
	if err == nil || errors.Is(err, resumable.ErrNotFound) {
		return nil
	}
	return err
}

// checkKeys fails unless the region's keys are at hand, before anything
// goes upstream.
func (c *call) checkKeys() error {
	if _, _, err := c.eng.Keys.EncryptionKeys(); err != nil {
		return fmt.Errorf("%w: %w", errKeys, err)
	}
	if _, err := c.eng.Keys.DecryptionKeys(); err != nil {
		return fmt.Errorf("%w: %w", errKeys, err)
	}
	return nil
}

// create is tus creation: the upload is made at the provider for the
// ciphertext's size, then a body the client sent with it
// (creation-with-upload) is appended like a PATCH.
func (c *call) create() (*http.Response, error) {
	size := int64(-1)
	lengthHeader, deferHeader := c.req.Header.Get("Upload-Length"), c.req.Header.Get("Upload-Defer-Length")
	switch {
	case lengthHeader != "" && deferHeader != "":
		return nil, badRequest("Upload-Length and Upload-Defer-Length exclude each other")
	case lengthHeader != "":
		n, err := parseSize(lengthHeader, "Upload-Length")
		if err != nil {
			return nil, err
		}
		size = n
	case strings.TrimSpace(deferHeader) != "1":
		return nil, badRequest("a creation request needs Upload-Length, or Upload-Defer-Length: 1")
	}
	body, err := c.pieceBody(false)
	if err != nil {
		return nil, err
	}
	isDoc, err := c.isDocumentUpload(c.req.Header.Get("Upload-Metadata"))
	if err != nil {
		return nil, err
	}
	meta, err := c.pseudonymizeMetadata(c.req.Header.Get("Upload-Metadata"))
	if err != nil {
		return nil, err
	}
	if isDoc {
		return c.createDocument(size, body, meta)
	}
	if err := c.checkKeys(); err != nil {
		return nil, err
	}
	if err := c.probeState(); err != nil {
		return nil, err
	}
	var location string
	var created http.Header
	var upURL *url.URL
	info, err := c.eng.Begin(c.ctx(), resumable.Options{Size: size}, func(cipherSize int64) (string, map[string]string, error) {
		out := c.request(c.ctx(), http.MethodPost, c.req.URL, nil, 0)
		if cipherSize >= 0 {
			out.Header.Set("Upload-Length", strconv.FormatInt(cipherSize, 10))
		} else {
			out.Header.Set("Upload-Defer-Length", "1")
		}
		if meta != "" {
			out.Header.Set("Upload-Metadata", meta)
		}
		resp, answer, err := c.roundTrip(out)
		if err != nil {
			return "", nil, err
		}
		if resp.StatusCode != http.StatusCreated {
			return "", nil, &passedOn{resp: resp, body: answer}
		}
		location = resp.Header.Get("Location")
		u, err := c.req.URL.Parse(location)
		if err != nil || location == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", nil, &Error{Status: http.StatusBadGateway, Msg: "the provider created the upload without a usable Location"}
		}
		upURL, created = u, resp.Header
		m := map[string]string{metaURL: u.String()}
		if cipherSize < 0 {
			m[metaDeferred] = "1"
		}
		return stateKey(u), m, nil
	})
	var po *passedOn
	if errors.As(err, &po) {
		return c.passOn(po.resp, po.body), nil
	}
	if err != nil {
		if upURL != nil {
			// Created at the provider but not kept here: nobody could
			// continue it, so it goes (best effort; it holds no data).
			c.roundTrip(c.request(c.ctx(), http.MethodDelete, upURL, nil, 0))
		}
		return nil, err
	}
	h := http.Header{"Location": {location}}
	keep(h, created, "Upload-Expires")
	c.x.Encrypted(info.KeyVersion)
	if body.n > 0 || size == 0 {
		// An empty file is one empty final chunk: the engine sends it now,
		// since no PATCH will come.
		up := &upstream{c: c, url: upURL, deferred: size < 0}
		res, err := c.eng.Append(c.ctx(), stateKey(upURL), body.piece(0, -1), up)
		if err != nil && size == 0 {
			// The client would take the upload for complete.
			return nil, err
		}
		if err != nil {
			e := engineError(err)
			c.x.Log.Debug().Err(err).Int("status", e.Status).Msg("tus creation-with-upload: body not taken")
			// The upload exists; the client learns its offset by HEAD.
			h.Set("Upload-Offset", "0")
			return c.reply(http.StatusCreated, h), nil
		}
		h.Set("Upload-Offset", strconv.FormatInt(res.Offset, 10))
		keepReply(h, res.Reply)
	}
	return c.reply(http.StatusCreated, h), nil
}

// passedOn is an upstream answer to hand to the client as it is.
type passedOn struct {
	resp *http.Response
	body []byte
}

func (p *passedOn) Error() string { return "the provider answered " + p.resp.Status }

// keepReply copies what the client may use from the last upstream answer
// the engine got.
func keepReply(h http.Header, reply any) {
	if rh, ok := reply.(http.Header); ok {
		keep(h, rh, "Upload-Expires")
	}
}

// status loads the state of the upload the request names.
func (c *call) status() (string, resumable.Info, error) {
	key := stateKey(c.uploadURL())
	info, err := c.eng.Status(c.ctx(), key)
	return key, info, err
}

// head answers the upload's plaintext offset and length. The provider is
// asked too, for whether it still has the upload and for its metadata.
func (c *call) head() (*http.Response, error) {
	if _, rec, ok, err := c.docRecord(); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return c.headDocument(rec)
	}
	_, info, err := c.status()
	if err != nil {
		return nil, err
	}
	resp, body, err := c.roundTrip(c.request(c.ctx(), http.MethodHead, c.uploadURL(), nil, 0))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return c.passOn(resp, body), nil
	}
	h := http.Header{"Cache-Control": {"no-store"}}
	keep(h, resp.Header, "Upload-Expires")
	h.Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
	if info.Size >= 0 {
		h.Set("Upload-Length", strconv.FormatInt(info.Size, 10))
	} else {
		h.Set("Upload-Defer-Length", "1")
	}
	if m := resp.Header.Get("Upload-Metadata"); m != "" {
		h.Set("Upload-Metadata", c.reidentifyMetadata(m))
	}
	return c.reply(http.StatusOK, h), nil
}

// patch hands the body to the engine at the client's plaintext offset.
func (c *call) patch() (*http.Response, error) {
	if mt := c.req.Header.Get("Content-Type"); !strings.EqualFold(strings.TrimSpace(strings.Split(mt, ";")[0]), offsetOctet) {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Msg: "a PATCH must have Content-Type: " + offsetOctet}
	}
	offset, err := parseSize(c.req.Header.Get("Upload-Offset"), "Upload-Offset")
	if err != nil {
		return nil, err
	}
	size := int64(-1)
	if v := c.req.Header.Get("Upload-Length"); v != "" {
		if size, err = parseSize(v, "Upload-Length"); err != nil {
			return nil, err
		}
	}
	body, err := c.pieceBody(true)
	if err != nil {
		return nil, err
	}
	if key, rec, ok, err := c.docRecord(); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return c.patchDocument(key, rec, offset, size, body)
	}
	key, info, err := c.status()
	if err != nil {
		return nil, err
	}
	if info.Done && body.n == 0 && offset == info.Offset {
		// An empty PATCH at the end of a finished upload (an empty file's
		// only one, or a retry of the last): nothing to do, as tusd says.
		return c.reply(http.StatusNoContent, http.Header{"Upload-Offset": {strconv.FormatInt(info.Offset, 10)}}), nil
	}
	if err := c.checkKeys(); err != nil {
		return nil, err
	}
	u, err := url.Parse(info.Meta[metaURL])
	if err != nil || info.Meta[metaURL] == "" {
		return nil, &Error{Status: http.StatusInternalServerError, Msg: "the upload's state has no provider URL"}
	}
	up := &upstream{c: c, url: u, deferred: info.Meta[metaDeferred] == "1"}
	res, err := c.eng.Append(c.ctx(), key, body.piece(offset, size), up)
	if err != nil {
		return nil, err
	}
	c.x.Encrypted(res.KeyVersion)
	h := http.Header{"Upload-Offset": {strconv.FormatInt(res.Offset, 10)}}
	keepReply(h, res.Reply)
	return c.reply(http.StatusNoContent, h), nil
}

// terminate is tus termination: the provider's upload goes, then the
// gateway's state.
func (c *call) terminate() (*http.Response, error) {
	if key, _, ok, err := c.docRecord(); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return c.terminateDocument(key)
	}
	key, _, err := c.status()
	if err != nil && !errors.Is(err, resumable.ErrNotFound) {
		return nil, err
	}
	resp, body, err := c.roundTrip(c.request(c.ctx(), http.MethodDelete, c.uploadURL(), nil, 0))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		if err := c.eng.Abort(c.ctx(), key); err != nil && !errors.Is(err, resumable.ErrNotFound) {
			c.x.Log.Debug().Err(err).Msg("tus termination: state not removed (it expires)")
		}
	}
	return c.passOn(resp, body), nil
}

// download is tusd's GET of an upload: the age file decrypted for users
// with the decrypt right, 403 for others.
func (c *call) download() (*http.Response, error) {
	// An upload in progress is a cut age file at the provider; the
	// answer would break off. Finished uploads whose state expired are
	// served from the provider alone.
	if _, rec, ok, err := c.docRecord(); err != nil {
		return nil, err
	} else if ok && !rec.Done {
		return nil, &Error{Status: http.StatusConflict, Msg: "the upload is not complete; it can be downloaded once all of it has been sent"}
	}
	_, info, err := c.status()
	switch {
	case err == nil && !info.Done:
		return nil, &Error{Status: http.StatusConflict, Msg: "the upload is not complete; it can be downloaded once all of it has been sent"}
	case err != nil && !errors.Is(err, resumable.ErrNotFound):
		return nil, err
	}
	out := c.request(c.ctx(), http.MethodGet, c.req.URL, nil, 0)
	resp, err := gateway.Decrypt{}.TransformResponse(c.x, out, c.next)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"Upload-Offset", "Upload-Length", "Upload-Metadata"} {
		resp.Header.Del(k)
	}
	c.x.ReidentifyHeaders(c.ctx(), resp.Header)
	return resp, nil
}

// upstream stores ciphertext at the provider: tus PATCHes at ciphertext
// offsets, HEAD for the offset after a failed send.
type upstream struct {
	c        *call
	url      *url.URL
	deferred bool // created with Upload-Defer-Length
	declared bool // the provider already has the ciphertext's length
}

func (u *upstream) Send(ctx context.Context, s resumable.Send) (any, error) {
	out := u.c.request(ctx, http.MethodPatch, u.url, s.Body, s.Length)
	out.Header.Set("Content-Type", offsetOctet)
	out.Header.Set("Upload-Offset", strconv.FormatInt(s.Offset, 10))
	if u.deferred && !u.declared && s.Last && s.Total >= 0 {
		out.Header.Set("Upload-Length", strconv.FormatInt(s.Total, 10))
	}
	resp, _, err := u.c.roundTrip(out)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return nil, &statusErr{method: "PATCH", status: resp.StatusCode}
	}
	if got, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); err != nil || got != s.Offset+s.Length {
		return nil, errNoOffset
	}
	if out.Header.Get("Upload-Length") != "" {
		u.declared = true
	}
	return resp.Header, nil
}

func (u *upstream) Offset(ctx context.Context, committed int64) (int64, error) {
	resp, _, err := u.c.roundTrip(u.c.request(ctx, http.MethodHead, u.url, nil, 0))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, &statusErr{method: "HEAD", status: resp.StatusCode}
	}
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || n < 0 {
		return 0, errNoOffset
	}
	if resp.Header.Get("Upload-Length") != "" {
		u.declared = true
	}
	return n, nil
}

// body is the client's piece: its length, and the digest it claims.
type body struct {
	c     *call
	n     int64
	r     io.Reader
	check func() error
}

// pieceBody reads what describes the request's body. A body needs a
// Content-Length (the engine places pieces by exact lengths) and, on a
// creation, the tus content type.
func (c *call) pieceBody(patch bool) (*body, error) {
	b := &body{c: c, r: http.NoBody}
	if c.req.Body == nil || c.req.Body == http.NoBody || c.req.ContentLength == 0 {
		return b, nil
	}
	if c.req.ContentLength < 0 {
		return nil, &Error{Status: http.StatusLengthRequired, Msg: "a tus body needs a Content-Length through sluss (no chunked transfer)"}
	}
	if !patch {
		if mt := c.req.Header.Get("Content-Type"); !strings.EqualFold(strings.TrimSpace(strings.Split(mt, ";")[0]), offsetOctet) {
			return nil, &Error{Status: http.StatusUnsupportedMediaType, Msg: "a creation request's body must have Content-Type: " + offsetOctet}
		}
	}
	b.n, b.r = c.req.ContentLength, c.req.Body
	if v := c.req.Header.Get("Upload-Checksum"); v != "" {
		r, check, err := newChecksum(v, b.r)
		if err != nil {
			return nil, err
		}
		b.r, b.check = r, check
	}
	return b, nil
}

func (b *body) piece(offset, size int64) resumable.Piece {
	return resumable.Piece{Offset: offset, Length: b.n, Size: size, Body: b.r, Check: b.check}
}
