package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway"
)

// itemTTL keeps item records as long as the files may live.
const itemTTL = 100 * 365 * 24 * time.Hour

// itemKey is the state key of what the gateway knows of a stored item.
func itemKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "graph/i/" + hex.EncodeToString(sum[:])
}

// itemRecord is what the gateway keeps of a file it stored.
type itemRecord struct {
	Size     int64  `json:"size"` // plaintext: the bytes the client sent
	QuickXor string `json:"qx,omitempty"`
	// Type is the Content-Type of an office document stored
	// pseudonymized inside (not encrypted); empty for age files.
	Type string `json:"type,omitempty"`
}

// remember records the plaintext size and hash of the driveItem the
// provider made.
func (c *call) remember(item map[string]any, rec itemRecord) {
	id, _ := item["id"].(string)
	if id == "" {
		return
	}
	v, _ := json.Marshal(rec)
	if err := c.a.State.Update(c.req.Context(), itemKey(id), itemTTL, func([]byte) ([]byte, error) { return v, nil }); err != nil {
		// The file is stored; only later metadata answers lose its
		// plaintext size.
		c.x.Log.Warn().Err(err).Msg("graph: item record not stored")
	}
}

// plaintextItem makes a driveItem of an age file speak of the plaintext:
// its size, and the plaintext's quickXorHash if the gateway computed it
// (qx), in place of the provider's hashes, which are the ciphertext's.
func plaintextItem(item map[string]any, size int64, qx string) {
	item["size"] = size
	if f, ok := item["file"].(map[string]any); ok {
		delete(f, "hashes")
		if qx != "" {
			f["hashes"] = map[string]any{"quickXorHash": qx}
		}
	}
}

// simpleUpload encrypts a PUT …:/content body whole.
func (c *call) simpleUpload() (*http.Response, error) {
	if err := (gateway.Pseudonymize{EncryptedBody: true}).TransformRequest(c.x, c.req); err != nil {
		return nil, err
	}
	// The plaintext is hashed as Encrypt reads it: the driveItem gets
	// its quickXorHash.
	hashed := newQuickXorAt(0)
	if c.req.Body != nil {
		c.req.Body = readCloser{io.TeeReader(c.req.Body, hashed), c.req.Body}
	}
	if err := (gateway.Encrypt{}).TransformRequest(c.x, c.req); err != nil {
		return nil, err
	}
	// The plaintext size comes back from the item's size (sizes).
	return c.reidentify(c.req, roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := c.next.RoundTrip(r)
		if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated) {
			return resp, err
		}
		return c.rewriteItems(resp, func(item map[string]any) {
			if size, ok := c.plaintextSizeOf(item); ok {
				qx := ""
				if hashed.n == size {
					qx = quickXorSum(hashed.ring(), size)
				}
				c.remember(item, itemRecord{Size: size, QuickXor: qx})
				plaintextItem(item, size, qx)
			}
		})
	}))
}

// read serves GETs and HEADs: metadata with plaintext sizes and names,
// files decrypted.
func (c *call) read() (*http.Response, error) {
	// Which document, if any, the request is for is told before the
	// path is pseudonymized (documents.go).
	docType := c.documentRead()
	// Download URLs are made by the provider and hold only ids and
	// tokens, but a client may send any path: it is pseudonymized too
	// (and logged without the query, which holds the pre-authentication).
	if err := (gateway.Pseudonymize{}).TransformRequest(c.x, c.req); err != nil {
		return nil, err
	}
	decrypt := roundTripper(func(r *http.Request) (*http.Response, error) {
		return gateway.Decrypt{}.TransformResponse(c.x, r, c.documentType(docType, c.sizes(c.next)))
	})
	if !c.documents && docType == "" {
		return c.reidentify(c.req, decrypt)
	}
	if docType != "" && c.x.User.Can(gateway.RightReidentify) {
		// A range of the tokenized document is no range of the
		// re-identified one: the whole document is asked for.
		c.req.Header.Del("Range")
		c.req.Header.Del("If-Range")
	}
	return c.reidentify(c.req, roundTripper(func(r *http.Request) (*http.Response, error) {
		return gateway.ReidentifyDocuments{}.TransformResponse(c.x, r, decrypt)
	}))
}

// sizes is next with JSON answers' driveItems given the plaintext sizes
// of the files the gateway stored.
func (c *call) sizes(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		// Answers must come as they are to be read.
		r.Header.Del("Accept-Encoding")
		resp, err := next.RoundTrip(r)
		if err != nil || resp.StatusCode/100 != 2 {
			return resp, err
		}
		return c.rewriteItems(resp, nil)
	})
}

// rewriteItems fixes the driveItems of a JSON answer (one, or a listing's
// value). Items the gateway holds no record of keep their size; with
// fresh, the answer is to a simple upload of a file the gateway just
// stored, and fresh fixes its item.
func (c *call) rewriteItems(resp *http.Response, fresh func(item map[string]any)) (*http.Response, error) {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" || resp.Header.Get("Content-Encoding") != "" {
		return resp, nil
	}
	doc, raw, err := readJSON(resp.Body, maxJSON)
	if err != nil {
		// Too large or not an object: passed on as it came.
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(raw), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	ctx := c.req.Context()
	fix := func(item map[string]any) {
		id, _ := item["id"].(string)
		if _, file := item["file"]; !file || id == "" {
			return
		}
		if fresh != nil {
			fresh(item)
			return
		}
		if rec, ok := c.record(ctx, id); ok {
			plaintextItem(item, rec.Size, rec.QuickXor)
			if rec.Type != "" {
				c.documentDownloadURL(item, rec.Type)
			}
		}
	}
	fix(doc)
	if list, ok := doc["value"].([]any); ok {
		for _, v := range list {
			if item, ok := v.(map[string]any); ok {
				fix(item)
			}
		}
	}
	body, _ := json.Marshal(doc)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

func (c *call) record(ctx context.Context, id string) (itemRecord, bool) {
	var rec itemRecord
	v, err := c.a.State.Get(ctx, itemKey(id))
	if err != nil || json.Unmarshal(v, &rec) != nil {
		return rec, false
	}
	return rec, true
}

// plaintextSizeOf computes the plaintext size of a file the gateway just
// encrypted to the current recipients from its stored size.
func (c *call) plaintextSizeOf(item map[string]any) (int64, bool) {
	n, err := strconv.ParseInt(jsonNumber(item["size"]), 10, 64)
	if err != nil {
		return 0, false
	}
	return plaintextSize(c.x, n)
}

func jsonNumber(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return ""
}

type readCloser struct {
	io.Reader
	io.Closer
}

// plaintextSize is the plaintext size of an age file of n bytes encrypted
// to the region's current recipients.
func plaintextSize(x *gateway.Exchange, n int64) (int64, bool) {
	_, recipients, err := x.Keys.EncryptionKeys()
	if err != nil {
		return 0, false
	}
	hs, err := crypto.HeaderSize(recipients...)
	if err != nil {
		return 0, false
	}
	p, err := crypto.PlaintextSize(n, hs)
	return p, err == nil
}
