package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
)

func TestPutGetRoundTrip(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	cl := h.client("", "")
	for _, size := range []int{0, 1, 14 << 10, 16 << 10, 64 << 10, 1<<20 + 7} {
		data := content(size, uint64(size))
		req, _ := http.NewRequest(http.MethodPut, c.URL()+"/obj", bytes.NewReader(data))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %d: %s", size, resp.Status)
		}
		stored := c.stored(t, "obj")
		if !crypto.IsEncrypted(stored) {
			t.Fatalf("PUT %d: stored object is not an age file", size)
		}
		pt, err := crypto.Decrypt(bytes.NewReader(stored), h.keys.id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(pt)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("PUT %d: stored object does not decrypt to the upload (%v)", size, err)
		}
		resp, err = cl.Get(c.URL() + "/obj")
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET %d: got %d bytes (%v), want the upload", size, len(got), err)
		}
		if resp.ContentLength != int64(size) {
			t.Errorf("GET %d: Content-Length %d", size, resp.ContentLength)
		}
	}
	if !h.auditHas(t, `"action":"encrypt"`, `"method":"PUT"`, `"key_version":1`) || !h.auditHas(t, `"action":"decrypt"`, `"method":"GET"`) {
		t.Errorf("audit log lacks encrypt/decrypt events:\n%s", h.audit.String())
	}
}

// cutBody is a request body that fails after n bytes.
type cutBody struct{ n int }

func (b *cutBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, errors.New("client gave up")
	}
	n := min(len(p), b.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	b.n -= n
	return n, nil
}

// TestCutSmallBodySendsNothing: a small body is read whole before it goes
// upstream, so one that ends before its Content-Length never reaches the
// provider, encrypted or not.
func TestCutSmallBodySendsNothing(t *testing.T) {
	for _, profile := range []string{"storage", "inspect"} {
		t.Run(profile, func(t *testing.T) {
			c := newCloud(t)
			h := newHarness(t, storageConfig(c, profile))
			cl := h.client("", "")
			req, _ := http.NewRequest(http.MethodPut, c.URL()+"/cut", &cutBody{n: 1000})
			req.ContentLength = 4000
			if resp, err := cl.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode < 300 {
					t.Fatalf("PUT of a cut body: %s", resp.Status)
				}
			}
			// The gateway may still be reading when the client returns: its
			// audit event says when it is done.
			for deadline := time.Now().Add(5 * time.Second); !h.auditHas(t, `"method":"PUT"`) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if n := c.requests.Load(); n != 0 {
				t.Errorf("the provider got %d requests from a cut body", n)
			}
		})
	}
}
