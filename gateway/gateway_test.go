package gateway

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/sluss/sluss/crypto"
)

func TestPutGetRoundTrip(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	cl := h.client("", "")
	for _, size := range []int{0, 1, 64 << 10, 1<<20 + 7} {
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
