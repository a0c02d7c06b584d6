package tus

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway"
	"github.com/sluss/sluss/pseudonym"
)

type testKeys struct{ id *crypto.Identity }

func (k testKeys) EncryptionKeys() (int, []age.Recipient, error) {
	return 1, []age.Recipient{k.id.Recipient()}, nil
}
func (k testKeys) DecryptionKeys() ([]age.Identity, error) { return []age.Identity{k.id}, nil }

// downStore is an upload-state store that cannot be reached: the one
// fault of the store that a real one does not produce on demand.
type downStore struct{}

var errDown = errors.New("connection refused")

func (downStore) Get(context.Context, string) ([]byte, error) { return nil, errDown }
func (downStore) Update(context.Context, string, time.Duration, func([]byte) ([]byte, error)) error {
	return errDown
}
func (downStore) List(context.Context, string, func(string, []byte) error) error { return errDown }
func (downStore) DeletePrefix(context.Context, string) error                     { return errDown }
func (downStore) Sweep(context.Context) (int, error)                             { return 0, errDown }
func (downStore) Close() error                                                   { return nil }

// countingUpstream answers every request 500 and counts them.
type countingUpstream struct{ n atomic.Int32 }

func (c *countingUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{StatusCode: 500, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func newExchange(t *testing.T) *gateway.Exchange {
	t.Helper()
	p, err := pseudonym.New(pseudonym.Config{}, pseudonym.NewStaticKeys(make([]byte, 32)), pseudonym.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Exchange{ID: "test", Pseudonymizer: p}
}

// TestStateDownRefusesBeforeUpstream: with the state store unreachable,
// creations, PATCHes, HEADs and terminations are answered 503 and nothing
// reaches the provider.
func TestStateDownRefusesBeforeUpstream(t *testing.T) {
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	a := &Adapter{State: downStore{}, Keys: testKeys{id}}
	for _, tt := range []struct {
		method, path string
		h            map[string]string
		body         string
	}{
		{"POST", "/files/", map[string]string{"Upload-Length": "5", "Upload-Metadata": "filename dGVzdA=="}, ""},
		{"POST", "/files/", map[string]string{"Upload-Length": "5", "Content-Type": offsetOctet}, "hello"},
		{"PATCH", "/files/abc", map[string]string{"Upload-Offset": "0", "Content-Type": offsetOctet}, "hello"},
		{"HEAD", "/files/abc", nil, ""},
		{"DELETE", "/files/abc", nil, ""},
	} {
		up := &countingUpstream{}
		req, _ := http.NewRequest(tt.method, "https://tus.example.test"+tt.path, strings.NewReader(tt.body))
		for k, v := range tt.h {
			req.Header.Set(k, v)
		}
		resp, err := a.TransformResponse(newExchange(t), req, up)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %s with the state store down: %d, want 503", tt.method, tt.path, resp.StatusCode)
		}
		if n := up.n.Load(); n != 0 {
			t.Errorf("%s %s with the state store down sent %d requests upstream", tt.method, tt.path, n)
		}
	}
}

// TestRefusedBeforeUpstream: requests the adapter refuses on their face.
func TestRefusedBeforeUpstream(t *testing.T) {
	id, _ := crypto.GenerateIdentity()
	a := &Adapter{State: downStore{}, Keys: testKeys{id}}
	for _, tt := range []struct {
		name, method string
		h            map[string]string
		want         int
	}{
		{"concatenation", "POST", map[string]string{"Upload-Concat": "final;/files/a /files/b"}, 400},
		{"no length", "POST", nil, 400},
		{"both lengths", "POST", map[string]string{"Upload-Length": "1", "Upload-Defer-Length": "1"}, 400},
		{"a negative length", "POST", map[string]string{"Upload-Length": "-1"}, 400},
		{"a length past any age file", "POST", map[string]string{"Upload-Length": "9223372036854775807"}, 413},
		{"metadata not base64", "POST", map[string]string{"Upload-Length": "1", "Upload-Metadata": "filename !!"}, 400},
		{"metadata not UTF-8", "POST", map[string]string{"Upload-Length": "1", "Upload-Metadata": "filename //79"}, 400},
		{"a repeated metadata key", "POST", map[string]string{"Upload-Length": "1", "Upload-Metadata": "a YQ==,a Yg=="}, 400},
		{"PUT", "PUT", nil, 405},
		{"an override on GET", "GET", map[string]string{"X-HTTP-Method-Override": "PATCH"}, 400},
		{"PATCH without an offset", "PATCH", map[string]string{"Content-Type": offsetOctet}, 400},
	} {
		up := &countingUpstream{}
		req, _ := http.NewRequest(tt.method, "https://tus.example.test/files/x", http.NoBody)
		for k, v := range tt.h {
			req.Header.Set(k, v)
		}
		resp, _ := a.TransformResponse(newExchange(t), req, up)
		if resp.StatusCode != tt.want || up.n.Load() != 0 {
			t.Errorf("%s: %d with %d requests upstream, want %d and none", tt.name, resp.StatusCode, up.n.Load(), tt.want)
		}
	}
}

func TestMetadata(t *testing.T) {
	x := newExchange(t)
	c := &call{x: x, req: (&http.Request{}).WithContext(context.Background())}
	in := "filename " + b64("Tolvan Tolvansson 19121212-1212.pdf") + ",filetype " + b64("application/pdf") + ",comment " + b64("om 19121212-1212") + ",is_confidential"
	out, err := c.pseudonymizeMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	pairs, err := parseMetadata(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		got[p.key] = p.value
	}
	if f := got["filename"]; strings.Contains(f, "Tolvan") || strings.Contains(f, "19121212") || !strings.HasSuffix(f, ".pdf") || !strings.HasPrefix(f, pseudonym.TokenPrefix) {
		t.Errorf("filename went as %q", f)
	}
	if got["filetype"] != "application/pdf" {
		t.Errorf("filetype went as %q", got["filetype"])
	}
	if strings.Contains(got["comment"], "19121212") {
		t.Errorf("comment went as %q", got["comment"])
	}
	if _, ok := got["is_confidential"]; !ok || len(pairs) != 4 {
		t.Errorf("keys lost: %q", out)
	}
	// Re-identified for a user with the right only.
	if back := c.reidentifyMetadata(out); back != out {
		t.Errorf("re-identified for a user without the right: %q", back)
	}
}

func b64(s string) string {
	return strings.TrimSpace(formatMetadata([]metaPair{{key: "k", value: s, hasValue: true}})[2:])
}

func TestProfileOptions(t *testing.T) {
	a := &Adapter{}
	for _, tt := range []struct {
		options map[string]string
		ok      bool
	}{
		{nil, true},
		{map[string]string{"documents": "true"}, true},
		{map[string]string{"documents": "yes"}, false},
		{map[string]string{"documents": "false"}, false},
		{map[string]string{"other": "true"}, false},
	} {
		rules, err := a.Profile(tt.options)
		if (err == nil) != tt.ok {
			t.Errorf("Profile(%v): %v", tt.options, err)
			continue
		}
		if err != nil {
			continue
		}
		_, docs := rules[0].Response[0].(gateway.ReidentifyDocuments)
		if docs != (tt.options["documents"] == "true") {
			t.Errorf("Profile(%v): the rule re-identifies documents: %v", tt.options, docs)
		}
	}
}
