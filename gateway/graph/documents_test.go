package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sluss/sluss/internal/graphtest"
	"github.com/sluss/sluss/pseudonym/document"
)

// TestSendDocument: a rewritten document larger than the fragment size is
// sent to the provider's session in fragments on Graph's 320 KiB grid
// with its own size in Content-Range, and the provider's driveItem comes
// back (the emulator refuses fragments off the grid or with a total that
// changes).
func TestSendDocument(t *testing.T) {
	srv := graphtest.Start(t, "graph.example.test", "up.example.test")
	hc := &http.Client{Transport: &http.Transport{DialContext: srv.Dial}}
	client := &graphtest.Client{HTTP: hc, APIBase: srv.APIBase(), Token: srv.Token}
	ctx := context.Background()
	s, err := client.CreateSession(ctx, "docs/big.docx", -1)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5*Granule+777)
	rand.Read(data)
	doc := document.NewSpool(document.Limits{})
	defer doc.Close()
	doc.Write(data)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, s.UploadURL, nil)
	c := &call{a: &Adapter{DocumentFragment: 2 * Granule}, req: req, next: hc.Transport}
	status, item, err := c.sendDocument(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := item["id"].(string)
	if status != http.StatusCreated || id == "" || jsonNumber(item["size"]) != strconv.Itoa(len(data)) {
		t.Fatalf("%d %v", status, item)
	}
	for _, want := range []string{"Content-Range: bytes 0-655359/1639177", "Content-Range: bytes 655360-1310719/1639177", "Content-Range: bytes 1310720-1639176/1639177"} {
		if !strings.Contains(srv.Seen(), want) {
			t.Errorf("the provider got no fragment with %s", want)
		}
	}
	stored, err := os.ReadFile(srv.ItemPath(id))
	if err != nil || !bytes.Equal(stored, data) {
		t.Fatalf("the provider holds %d bytes, not the document's %d (%v)", len(stored), len(data), err)
	}
}
