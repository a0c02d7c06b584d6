package graphtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// client reaches the emulator's names on its loopback address.
func client(s *Server) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.Addr)
	}}
	return &Client{HTTP: &http.Client{Transport: tr}, APIBase: s.APIBase(), Token: s.Token}
}

func TestUploadSession(t *testing.T) {
	s := Start(t, "graph.example.test", "up.example.test")
	c := client(s)
	ctx := context.Background()
	for _, size := range []int64{1, Granule, 3*Granule + 17} {
		data := make([]byte, size)
		rand.Read(data)
		it, err := c.Upload(ctx, "dir/f.bin", bytes.NewReader(data), size, Granule)
		if err != nil {
			t.Fatal(err)
		}
		var h QuickXorHash
		h.Write(data)
		if it.Size != size || it.File.Hashes["quickXorHash"] != h.Base64() {
			t.Errorf("driveItem size %d hash %v, want %d %s", it.Size, it.File.Hashes, size, h.Base64())
		}
		if stored, _ := os.ReadFile(s.ItemPath(it.ID)); !bytes.Equal(stored, data) {
			t.Errorf("stored bytes differ")
		}
		resp, err := c.Download(ctx, it.ID, "bytes=0-0")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, data[:1]) {
			t.Errorf("range download: %d %q", resp.StatusCode, b)
		}
		if got, err := c.Item(ctx, "dir/f.bin"); err != nil || got.ID != it.ID {
			t.Errorf("item by path: %v %v", got, err)
		}
	}
}

func TestFragmentRules(t *testing.T) {
	s := Start(t, "graph.example.test", "up.example.test")
	c := client(s)
	ctx := context.Background()
	const size = 3 * Granule
	data := make([]byte, size)
	ses, err := c.CreateSession(ctx, "f.bin", size)
	if err != nil {
		t.Fatal(err)
	}
	status := func(err error) int {
		var se *StatusError
		if errors.As(err, &se) {
			return se.Status
		}
		return 0
	}
	put := func(off, n, total int64) error {
		_, err := c.PutFragment(ctx, ses.UploadURL, bytes.NewReader(data[off:off+n]), off, n, total)
		return err
	}
	if err := put(0, Granule+1, size); status(err) != 400 {
		t.Errorf("a fragment off the 320 KiB grid: %v, want 400", err)
	}
	if err := put(Granule, Granule, size); status(err) != 416 {
		t.Errorf("out of order: %v, want 416", err)
	}
	if err := put(0, Granule, size+1); status(err) != 400 {
		t.Errorf("another total: %v, want 400", err)
	}
	if err := put(0, Granule, size); err != nil {
		t.Fatal(err)
	}
	if err := put(0, Granule, size); status(err) != 416 {
		t.Errorf("overlap: %v, want 416", err)
	}
	st, err := c.Status(ctx, ses.UploadURL)
	if off, _ := st.NextOffset(); err != nil || off != Granule || st.NextExpectedRanges[0] != "327680-983039" {
		t.Errorf("status: %+v %v", st, err)
	}
	req, _ := http.NewRequest(http.MethodPut, ses.UploadURL, strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Range", "bytes 327680-327680/983040")
	if resp, err := c.HTTP.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("Authorization on the upload URL: %v, want 401", resp.StatusCode)
	}
	if _, err := c.CreateSession(ctx, "empty", 0); status(err) != 400 {
		t.Errorf("an empty file's session: %v, want 400", err)
	}
	if err := c.Cancel(ctx, ses.UploadURL); err != nil {
		t.Fatal(err)
	}
	if err := put(Granule, Granule, size); status(err) != 404 {
		t.Errorf("after DELETE: %v, want 404", err)
	}
	if s.Sessions() != 0 {
		t.Errorf("%d sessions left", s.Sessions())
	}
}
