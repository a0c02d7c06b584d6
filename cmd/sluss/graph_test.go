package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/internal/graphtest"
)

// graphGateway is the Graph emulator behind a real `sluss serve` with a
// graph service for both its hosts, graph.example.test (the API) and
// up.example.test (upload and download URLs), names only the gateway
// resolves. Two users: alice may decrypt and re-identify, bob may not.
type graphGateway struct {
	srv      *graphtest.Server
	p        *serveProc
	identity string
}

const (
	graphAPIHost    = "graph.example.test"
	graphUploadHost = "up.example.test"
	// graphName is the fictional person's file every test uploads.
	graphName = "19121212-1212 Tolvan Tolvansson.docx"
)

var graphPersonal = []string{"19121212-1212", "191212-1212", "Tolvan", "Tolvansson"}

func startGraphGateway(t *testing.T) *graphGateway {
	t.Helper()
	return startGraphGatewayWith(t, "", "")
}

// startGraphGatewayWith starts the gateway with more of the graph
// service's configuration (YAML lines indented for the service) and of
// the gateway's (indented for gateway:).
func startGraphGatewayWith(t *testing.T, service, gateway string) *graphGateway {
	t.Helper()
	srv := graphtest.Start(t, graphAPIHost, graphUploadHost)
	bin, dir := buildSluss(t), t.TempDir()
	var users strings.Builder
	for _, name := range []string{"alice", "bob"} {
		hash, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "%s:%s\n", name, hash)
	}
	os.WriteFile(filepath.Join(dir, "users"), []byte(users.String()), 0o600)
	cfg := filepath.Join(dir, "sluss.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  users_file: %s
  groups:
    - name: staff
      members: [alice]
      rights: [decrypt, reidentify]
  resolve:
    %s: [127.0.0.1]
    %s: [127.0.0.1]
  services:
    - name: onedrive
      hosts: [%s, %s]
      profile: graph
      ports: [%s]
      allow_loopback: true
%s%s`, filepath.Join(dir, "keys"), filepath.Join(dir, "users"), graphAPIHost, graphUploadHost, graphAPIHost, graphUploadHost, srv.Port(), service, gateway)), 0o600)
	g := &graphGateway{srv: srv, p: startServeBinary(t, bin, "--config", cfg, "--debug")}
	out, err := exec.Command(bin, "keys", "export-identity", "--config", cfg, "--"+exportConsentFlag).Output()
	if err != nil {
		t.Fatalf("sluss keys export-identity: %v", err)
	}
	g.identity = filepath.Join(dir, "identity.txt")
	os.WriteFile(g.identity, out, 0o600)
	return g
}

// client is a Graph client of user through the gateway.
func (g *graphGateway) client(user string) *graphtest.Client {
	proxy, _ := url.Parse(g.p.proxy)
	proxy.User = url.UserPassword(user, user+"-pw")
	return &graphtest.Client{
		HTTP:    &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}},
		APIBase: g.srv.APIBase(), Token: g.srv.Token,
	}
}

// checkStored decrypts the item's stored bytes with the real age CLI.
func (g *graphGateway) checkStored(t *testing.T, id string, want []byte) {
	t.Helper()
	stored, err := os.ReadFile(g.srv.ItemPath(id))
	if err != nil {
		t.Fatalf("item %s not stored: %v", id, err)
	}
	if !crypto.IsEncrypted(stored) {
		t.Fatalf("the provider holds plaintext")
	}
	if len(want) >= 64 && bytes.Contains(stored, want[:64]) {
		t.Fatalf("the stored file contains plaintext")
	}
	age, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("the age CLI is not installed (test.sh installs it)")
	}
	out, err := exec.Command(age, "-d", "-i", g.identity, g.srv.ItemPath(id)).Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("age -d gives %d bytes that differ from the %d uploaded", len(out), len(want))
	}
}

// noPersonalData fails if a personal value of the tests reached the
// provider, the gateway's debug log or its audit log.
func (g *graphGateway) noPersonalData(t *testing.T) {
	t.Helper()
	for where, text := range map[string]string{"the provider": g.srv.Seen(), "the debug log": g.p.stderr.String(), "the audit log": g.p.audit.String()} {
		for _, v := range append(graphPersonal, url.PathEscape(graphName), "Tolvan%20Tolvansson") {
			if strings.Contains(text, v) {
				t.Errorf("%s saw %q", where, v)
			}
		}
	}
	// Upload and download URLs are pre-authenticated by their query.
	for where, text := range map[string]string{"the debug log": g.p.stderr.String(), "the audit log": g.p.audit.String()} {
		for _, v := range []string{"sig=", "tempauth="} {
			if strings.Contains(text, v) {
				t.Errorf("%s holds an upload or download URL's query (%s…)", where, v)
			}
		}
	}
}

func (g *graphGateway) audited(substr string) int { return strings.Count(g.p.audit.String(), substr) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestGraphUploadSessions: files of several sizes, uploaded in upload
// sessions through the gateway in fragments of 320 KiB multiples (with and
// without item.fileSize), are stored as age files the real age CLI
// opens, read back byte-identical (Range too) by a user who may decrypt,
// refused to one who may not, listed with their plaintext size and name,
// and no personal data reaches the provider or the logs.
func TestGraphUploadSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Graph")
	}
	g := startGraphGateway(t)
	alice, bob := g.client("alice"), g.client("bob")
	ctx := context.Background()
	cases := []struct {
		name     string
		size     int
		fragment int64
		noSize   bool
	}{
		{"one byte", 1, graphtest.Granule, false},
		{"odd, small fragments", 3*graphtest.Granule + 12345, graphtest.Granule, false},
		{"odd, no fileSize", 5*graphtest.Granule + 777, 2 * graphtest.Granule, true},
		{"10 MiB", 10 * mib, 10 * mib, false},
		{"100 MiB", 100 * mib, 10 * mib, false},
		{"100 MiB, 60 MiB fragments, no fileSize", 100*mib - 1, 60 * mib, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.size)
			alice.NoFileSize = tc.noSize
			it, err := alice.Upload(ctx, "Akter/"+graphName, bytes.NewReader(data), int64(len(data)), tc.fragment)
			if err != nil {
				t.Fatal(err)
			}
			if it.Size != int64(tc.size) || it.Name != graphName {
				t.Errorf("driveItem: size %d name %q, want %d %q", it.Size, it.Name, tc.size, graphName)
			}
			checkQuickXor(t, "driveItem", it, data)
			g.checkStored(t, it.ID, data)
			for _, stored := range g.srv.Items() {
				if stored.ID == it.ID && !strings.Contains(g.srv.Seen(), `"name":"`+stored.Name+`"`) {
					t.Errorf("the provider got item.name other than the path's file name %q", stored.Name)
				}
			}
			resp, err := alice.Download(ctx, it.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
				t.Fatalf("download: %d, %d bytes, identical %v", resp.StatusCode, len(got), bytes.Equal(got, data))
			}
			off, n := tc.size/3, min(tc.size-tc.size/3, 100_000)
			resp, err = alice.Download(ctx, it.ID, fmt.Sprintf("bytes=%d-%d", off, off+n-1))
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[off:off+n]) {
				t.Errorf("range download: %d, %d bytes", resp.StatusCode, len(got))
			}
			meta, err := alice.Item(ctx, "Akter/"+graphName)
			if err != nil || meta.Size != int64(tc.size) || meta.Name != graphName || meta.ID != it.ID {
				t.Errorf("metadata: %+v %v", meta, err)
			}
			checkQuickXor(t, "metadata", meta, data)
			list, err := alice.Children(ctx, "Akter")
			if err != nil || len(list) != 1 || list[0].Size != int64(tc.size) || list[0].Name != graphName {
				t.Errorf("listing: %+v %v", list, err)
			} else {
				checkQuickXor(t, "listing", &list[0], data)
			}
			resp, err = bob.Download(ctx, it.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || len(data) >= 16 && bytes.Contains(got, data[:16]) {
				t.Errorf("bob's download: %d, want 403", resp.StatusCode)
			}
		})
	}
	if n := g.audited(`"action":"encrypt"`); n < len(cases)*2 {
		t.Errorf("the audit log has %d encrypted requests, want at least %d", n, len(cases)*2)
	}
	if g.audited(`"host":"`+graphUploadHost) == 0 || g.audited(`"action":"decrypt"`) == 0 || g.audited(`"action":"deny"`) == 0 {
		t.Errorf("the audit log lacks upload-host requests, decryptions or denials:\n%s", g.p.audit.String())
	}
	g.noPersonalData(t)
}

// TestGraphResumeMidFragment: a fragment cut part way through its body;
// the client asks the status, resumes from the plaintext offset it is
// given, and the file completes. When the gateway had sent the provider
// a whole upstream fragment of it before the cut, the status points
// inside the client's broken fragment (where the provider's ciphertext
// ends), and the provider never gets the same range twice.
func TestGraphResumeMidFragment(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Graph")
	}
	g := startGraphGateway(t)
	c := g.client("alice")
	ctx := context.Background()
	data := randomBytes(100 * mib)
	for _, tc := range []struct {
		name          string
		fragment, cut int64
		firstSends    int  // upstream fragments starting at 0
		inside        bool // the status points inside the broken fragment
	}{
		// Graph's largest fragment, cut in its middle: the one upstream
		// fragment it became is dropped by the provider and sent again.
		{"60 MiB fragment", 60 * mib, 30 * mib, 2, false},
		// A fragment larger than Graph takes becomes two upstream; the
		// cut falls in the second, so the first is not sent again.
		{"100 MiB fragment", 100 * mib, 80 * mib, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.name + " " + graphName
			ses, err := c.CreateSession(ctx, name, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			seenBefore := len(g.srv.Seen())
			putsBefore := g.audited(`"method":"PUT"`)
			cut := &cutReader{r: bytes.NewReader(data[:tc.fragment]), left: tc.cut}
			if _, err := c.PutFragment(ctx, ses.UploadURL, cut, 0, tc.fragment, int64(len(data))); err == nil {
				t.Fatal("a fragment cut short was taken")
			}
			// The status is asked once the gateway has done with the
			// broken request (its audit event is written when it ends).
			for deadline := time.Now().Add(30 * time.Second); g.audited(`"method":"PUT"`) == putsBefore; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the broken fragment never ended at the gateway")
				}
			}
			st, err := c.Status(ctx, ses.UploadURL)
			if err != nil {
				t.Fatal(err)
			}
			off, err := st.NextOffset()
			if err != nil || off < 0 || off >= tc.fragment || tc.inside != (off > 0) {
				t.Fatalf("status after the cut: %v %v; want to resume within the broken fragment (past its start: %v)", st.NextExpectedRanges, err, tc.inside)
			}
			t.Logf("resuming at %d", off)
			// A fragment past the resume offset is refused with 416.
			var se *graphtest.StatusError
			if _, err := c.PutFragment(ctx, ses.UploadURL, bytes.NewReader(data[off+graphtest.Granule:off+2*graphtest.Granule]), off+graphtest.Granule, graphtest.Granule, int64(len(data))); !errors.As(err, &se) || se.Status != http.StatusRequestedRangeNotSatisfiable {
				t.Errorf("a fragment past the resume offset: %v, want 416", err)
			}
			var it *graphtest.DriveItem
			for it == nil {
				n := min(tc.fragment, int64(len(data))-off)
				reply, err := c.PutFragment(ctx, ses.UploadURL, bytes.NewReader(data[off:off+n]), off, n, int64(len(data)))
				if err != nil {
					t.Fatal(err)
				}
				switch v := reply.(type) {
				case *graphtest.DriveItem:
					it = v
				case *graphtest.Session:
					if off, err = v.NextOffset(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if it.Size != int64(len(data)) {
				t.Errorf("driveItem size %d, want %d", it.Size, len(data))
			}
			checkQuickXor(t, "driveItem", it, data)
			if n := strings.Count(g.srv.Seen()[seenBefore:], "Content-Range: bytes 0-"); n != tc.firstSends {
				t.Errorf("the provider was sent the start of the file %d times, want %d", n, tc.firstSends)
			}
			g.checkStored(t, it.ID, data)
		})
	}
	g.noPersonalData(t)
}

// TestGraphSessionEdges: DELETE cancels at the provider and in the
// gateway; a fragment to an upload URL the gateway did not create is
// refused with nothing forwarded; deferCommit and an empty file are
// refused.
func TestGraphSessionEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Graph")
	}
	g := startGraphGateway(t)
	c := g.client("alice")
	ctx := context.Background()
	ses, err := c.CreateSession(ctx, "x.bin", 10*mib)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutFragment(ctx, ses.UploadURL, bytes.NewReader(make([]byte, graphtest.Granule)), 0, graphtest.Granule, 10*mib); err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, ses.UploadURL); err != nil {
		t.Fatal(err)
	}
	if g.srv.Sessions() != 0 {
		t.Errorf("the provider still has %d sessions after DELETE", g.srv.Sessions())
	}
	var se *graphtest.StatusError
	if _, err := c.Status(ctx, ses.UploadURL); !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Errorf("status after DELETE: %v, want 404", err)
	}

	// A session made around the gateway.
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.srv.Addr+"/v1.0/me/drive/root:/around.bin:/createUploadSession", strings.NewReader(`{}`))
	req.Host = graphAPIHost
	req.Header.Set("Authorization", "Bearer "+g.srv.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var around graphtest.Session
	readJSONInto(t, resp, &around)
	secret := "PLAINTEXT-MUST-NOT-LEAVE"
	if _, err := c.PutFragment(ctx, around.UploadURL, strings.NewReader(secret), 0, int64(len(secret)), int64(len(secret))); !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Errorf("a fragment to an unknown session: %v, want 404", err)
	}
	if strings.Contains(g.srv.Seen(), secret) || len(g.srv.Items()) != 0 {
		t.Errorf("the fragment to an unknown session reached the provider")
	}

	for body, want := range map[string]int{
		`{"item":{"name":"a.bin","fileSize":0}}`:       http.StatusBadRequest,
		`{"item":{"name":"a.bin"},"deferCommit":true}`: http.StatusNotImplemented,
		`{"item":`: http.StatusBadRequest,
	} {
		req, _ := http.NewRequest(http.MethodPost, g.srv.APIBase()+"/me/drive/root:/a.bin:/createUploadSession", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.srv.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(string(b), `"error"`) {
			t.Errorf("createUploadSession %s: %d %s, want %d", body, resp.StatusCode, b, want)
		}
	}
	// Side doors: a file in a JSON batch, an Outlook attachment session,
	// a compressed fragment.
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, g.srv.APIBase()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.srv.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	batch := `{"requests":[{"id":"1","method":"PUT","url":"/me/drive/root:/b.txt:/content","headers":{"Content-Type":"text/plain"},"body":"` + secret + `"}]}`
	if st, body := post("/$batch", batch); st != http.StatusNotImplemented {
		t.Errorf("a batch that uploads a file: %d %s, want 501", st, body)
	}
	if st, body := post("/me/messages/AAMk/attachments/createUploadSession", `{"AttachmentItem":{"attachmentType":"file","name":"a.bin","size":10}}`); st != http.StatusNotImplemented {
		t.Errorf("an attachment upload session: %d %s, want 501", st, body)
	}
	ses, err = c.CreateSession(ctx, "gz.bin", 100)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPut, ses.UploadURL, strings.NewReader(secret))
	req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/100", len(secret)-1))
	req.Header.Set("Content-Encoding", "gzip")
	if resp, err := c.HTTP.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a gzip fragment: %v %v, want 415", resp.StatusCode, err)
	}
	if strings.Contains(g.srv.Seen(), secret) || len(g.srv.Items()) != 0 {
		t.Errorf("a refused request reached the provider")
	}

	// A simple upload (PUT …:/content) is encrypted whole; it is how
	// an empty file is uploaded (an upload session cannot take one).
	for _, size := range []int{100_000, 0} {
		data := randomBytes(size)
		name := fmt.Sprintf("%d %s", size, graphName)
		req, _ = http.NewRequest(http.MethodPut, g.srv.APIBase()+"/me/drive/root:/"+url.PathEscape(name)+":/content", bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+g.srv.Token)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err = c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var it graphtest.DriveItem
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &it) != nil || it.Size != int64(size) || it.Name != name {
			t.Fatalf("simple upload of %d bytes: %d %s", size, resp.StatusCode, b)
		}
		checkQuickXor(t, "simple upload", &it, data)
		g.checkStored(t, it.ID, data)
		if meta, err := c.Item(ctx, name); err != nil || meta.Size != int64(size) {
			t.Errorf("metadata of the simple upload: %+v %v", meta, err)
		}
		resp, err := c.Download(ctx, it.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
			t.Errorf("download of the simple upload of %d bytes: %d, %d bytes", size, resp.StatusCode, len(got))
		}
	}
	if g.audited(`"host":"`+graphUploadHost) == 0 {
		t.Error("the audit log has no request to the upload host")
	}
	g.noPersonalData(t)
}

func readJSONInto(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// cutReader gives left bytes of r, then fails, as a client that loses
// its connection part way through a body.
type cutReader struct {
	r    io.Reader
	left int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("connection lost")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// TestGraphMemoryFlat: a 1 GiB upload in 60 MiB fragments grows the
// gateway's peak RSS by less than 100 MiB.
func TestGraphMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1 GiB")
	}
	g := startGraphGateway(t)
	c := g.client("alice")
	ctx := context.Background()
	warm := randomBytes(11 * mib)
	if _, err := c.Upload(ctx, "warm.bin", bytes.NewReader(warm), int64(len(warm)), 10*mib); err != nil {
		t.Fatal(err)
	}
	pid := g.p.cmd.Process.Pid
	before := vmKiB(t, pid, "VmRSS")
	const size = 1 << 30
	it, err := c.Upload(ctx, "big.bin", randomReaderAt{}, size, 60*mib)
	if err != nil {
		t.Fatal(err)
	}
	peak := vmKiB(t, pid, "VmHWM")
	t.Logf("gateway RSS before %d MiB, peak during a 1 GiB upload %d MiB", before>>10, peak>>10)
	if growth := peak - before; growth > 100<<10 {
		t.Errorf("peak RSS grew by %d MiB during a 1 GiB upload, want < 100", growth>>10)
	}
	if it.Size != size {
		t.Errorf("driveItem size %d", it.Size)
	}
	if st, err := os.Stat(g.srv.ItemPath(it.ID)); err != nil || st.Size() <= size {
		t.Fatalf("the 1 GiB file was not stored encrypted: %v", err)
	}
}

// randomReaderAt is an endless file of pseudo-random bytes (a function
// of the offset), so that 1 GiB need not be held by the test.
type randomReaderAt struct{}

func (randomReaderAt) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		x := uint64(off+int64(i)) * 0x9E3779B97F4A7C15
		p[i] = byte(x >> 56)
	}
	return len(p), nil
}

// checkQuickXor: the driveItem's hashes are the plaintext's quickXorHash
// alone (the provider's are of the ciphertext), as rclone checks it.
func checkQuickXor(t *testing.T, what string, it *graphtest.DriveItem, data []byte) {
	t.Helper()
	var h graphtest.QuickXorHash
	h.Write(data)
	if it.File == nil || len(it.File.Hashes) != 1 || it.File.Hashes["quickXorHash"] != h.Base64() {
		var hashes map[string]string
		if it.File != nil {
			hashes = it.File.Hashes
		}
		t.Errorf("%s: hashes %v, want only the plaintext's quickXorHash %s", what, hashes, h.Base64())
	}
}
