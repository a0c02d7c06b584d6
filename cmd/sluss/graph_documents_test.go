package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/internal/graphtest"
	"github.com/sluss/sluss/pseudonym"
)

// graphDocPersonal are the personal values of the document fixtures
// (pseudonym/document/testdata).
var graphDocPersonal = []string{
	"19121212-1212", "701063-2391", "811218-9876", "Tolvansson", "Andersson", "Ängström",
	"Łukasz", "Żółć", "Karin", "Nilsson", "8112189876", "198003154260", "194607137454",
}

var graphTokenRE = regexp.MustCompile(pseudonym.TokenPattern)

func graphDocFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pseudonym", "document", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// graphTokenized fails unless doc is a document with tokens and none of
// the fixtures' personal values.
func graphTokenized(t *testing.T, what string, doc []byte) {
	t.Helper()
	if crypto.IsEncrypted(doc) {
		t.Fatalf("%s is an age file, not a pseudonymized document", what)
	}
	tokens := 0
	for name, text := range documentXMLText(t, what, doc) {
		for _, v := range graphDocPersonal {
			if strings.Contains(text, v) {
				t.Errorf("%s: %s holds a personal value", what, name)
			}
		}
		tokens += len(graphTokenRE.FindAllString(text, -1))
	}
	if tokens == 0 {
		t.Errorf("%s: no tokens", what)
	}
}

func graphDo(t *testing.T, c *graphtest.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func graphGet(t *testing.T, c *graphtest.Client, req *http.Request) []byte {
	t.Helper()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", req.URL.Path, resp.StatusCode, b)
	}
	return b
}

// TestGraphDocuments: with the graph profile's option documents: "true",
// office documents uploaded in upload sessions (fragments that divide
// nothing, with and without item.fileSize) or whole are stored as valid
// documents with tokens in place of their personal values, listed with
// the client's size, downloaded re-identified (through the …/content
// redirect and a driveItem's download URL) by a user with the
// reidentify right and with tokens by one without; a ".docx" that is no
// zip and a document over limits.max_document_bytes are refused with
// nothing of them at the provider; a cancelled session forgets its
// fragments; other files are still age files; and no personal value
// reaches the provider or the logs.
func TestGraphDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Graph")
	}
	g := startGraphGatewayWith(t, "      options:\n        documents: \"true\"\n", "  limits:\n    max_document_bytes: 20000\n")
	alice, bob := g.client("alice"), g.client("bob")
	ctx := context.Background()
	letter, register := graphDocFixture(t, "letter.docx"), graphDocFixture(t, "register.xlsx")

	upload := func(t *testing.T, c *graphtest.Client, path string, data []byte, fragment int64) *graphtest.DriveItem {
		t.Helper()
		puts := g.audited(`"host":"` + graphUploadHost)
		it, err := c.Upload(ctx, path, bytes.NewReader(data), int64(len(data)), fragment)
		if err != nil {
			t.Fatalf("upload %s: %v", path, err)
		}
		if it.Size != int64(len(data)) || it.Name != path[strings.LastIndex(path, "/")+1:] {
			t.Fatalf("the driveItem of %s: size %d name %q", path, it.Size, it.Name)
		}
		// The audit event is written as the answer ends: wait for it.
		want := int((int64(len(data)) + fragment - 1) / fragment)
		for deadline := time.Now().Add(10 * time.Second); g.audited(`"host":"`+graphUploadHost)-puts < want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the audit log lacks the fragments of %s", path)
			}
		}
		return it
	}
	stored := func(t *testing.T, id string) []byte {
		t.Helper()
		b, err := os.ReadFile(g.srv.ItemPath(id))
		if err != nil {
			t.Fatalf("item %s not stored: %v", id, err)
		}
		return b
	}
	download := func(t *testing.T, c *graphtest.Client, id, rng string) []byte {
		t.Helper()
		resp, err := c.Download(ctx, id, rng)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download: %d %s", resp.StatusCode, b)
		}
		return b
	}

	var letterItem, registerItem *graphtest.DriveItem
	t.Run("sessions", func(t *testing.T) {
		letterItem = upload(t, bob, "docs/letter.docx", letter, 3001)
		graphTokenized(t, "the stored DOCX", stored(t, letterItem.ID))
		noSize := *bob
		noSize.NoFileSize = true
		registerItem = upload(t, &noSize, "docs/register.xlsx", register, 2500)
		graphTokenized(t, "the stored XLSX", stored(t, registerItem.ID))
		if g.audited(`"action":"pseudonymize"`) == 0 {
			t.Error("the audit log has no pseudonymize action")
		}
		if g.srv.Sessions() != 0 {
			t.Errorf("%d provider upload sessions left open", g.srv.Sessions())
		}
		// Each document reached the provider in one fragment, rewritten.
		if n := strings.Count(g.srv.Seen(), "PUT "+graphUploadHost); n != 2 {
			t.Errorf("the provider got %d fragments for the two documents, want 2", n)
		}
	})
	if letterItem == nil || registerItem == nil {
		t.FailNow()
	}

	t.Run("download", func(t *testing.T) {
		sameXMLText(t, "alice's DOCX", letter, download(t, alice, letterItem.ID, ""))
		sameXMLText(t, "alice's ranged DOCX", letter, download(t, alice, letterItem.ID, "bytes=0-99"))
		sameXMLText(t, "alice's XLSX", register, download(t, alice, registerItem.ID, ""))
		graphTokenized(t, "bob's DOCX", download(t, bob, letterItem.ID, ""))
		if g.audited(`"reidentified_`) == 0 {
			t.Error("the audit log has no re-identification")
		}
		// The download URL of a driveItem, fetched directly.
		it, err := alice.Item(ctx, "docs/letter.docx")
		if err != nil {
			t.Fatal(err)
		}
		if it.Size != int64(len(letter)) {
			t.Errorf("the DOCX is listed with %d bytes, not the %d uploaded", it.Size, len(letter))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, it.DownloadURL, nil)
		sameXMLText(t, "alice's DOCX by its download URL", letter, graphGet(t, alice, req))
		list, err := bob.Children(ctx, "docs")
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range list {
			if want := map[string]int{"letter.docx": len(letter), "register.xlsx": len(register)}[it.Name]; it.Size != int64(want) {
				t.Errorf("%s is listed with %d bytes, not the %d uploaded", it.Name, it.Size, want)
			}
		}
		if len(list) != 2 {
			t.Errorf("the folder lists %d items, want 2", len(list))
		}
		it, err = bob.Item(ctx, "docs/register.xlsx")
		if err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, it.DownloadURL, nil)
		graphTokenized(t, "bob's XLSX by its download URL", graphGet(t, bob, req))
	})

	t.Run("simple upload", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, g.srv.APIBase()+"/me/drive/root:/docs/simple.docx:/content", bytes.NewReader(letter))
		req.Header.Set("Authorization", "Bearer "+g.srv.Token)
		resp, err := bob.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var it graphtest.DriveItem
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &it) != nil {
			t.Fatalf("simple upload: %d %s", resp.StatusCode, b)
		}
		if it.Size != int64(len(letter)) {
			t.Errorf("the simple upload's driveItem has size %d, not %d", it.Size, len(letter))
		}
		graphTokenized(t, "the stored simple upload", stored(t, it.ID))
		// The download URL of the upload's own driveItem.
		dl, _ := http.NewRequestWithContext(ctx, http.MethodGet, it.DownloadURL, nil)
		sameXMLText(t, "alice's simple upload by its download URL", letter, graphGet(t, alice, dl))
		sameXMLText(t, "alice's simple upload", letter, download(t, alice, it.ID, ""))
	})

	t.Run("refused", func(t *testing.T) {
		items := len(g.srv.Items())
		providerPuts := strings.Count(g.srv.Seen(), "PUT "+graphUploadHost)
		notZip := bytes.Repeat([]byte("Besök av Tolvan Tolvansson, 19121212-1212. "), 120)
		_, err := bob.Upload(ctx, "docs/notes.docx", bytes.NewReader(notZip), int64(len(notZip)), 2000)
		var se *graphtest.StatusError
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
			t.Errorf("a .docx that is no zip: %v, want 400", err)
		}
		// A session whose path names no document but whose item.name
		// does is a document session all the same.
		body := strings.NewReader(`{"item":{"name":"trick.docx","@microsoft.graph.conflictBehavior":"replace"}}`)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.srv.APIBase()+"/me/drive/root:/docs/trick.bin:/createUploadSession", body)
		req.Header.Set("Authorization", "Bearer "+g.srv.Token)
		req.Header.Set("Content-Type", "application/json")
		var s graphtest.Session
		readJSONInto(t, graphDo(t, bob, req), &s)
		if _, err := bob.PutFragment(ctx, s.UploadURL, bytes.NewReader(notZip), 0, int64(len(notZip)), int64(len(notZip))); !errors.As(err, &se) || se.Status != http.StatusBadRequest {
			t.Errorf("a session named .docx in item.name only, given no zip: %v, want 400", err)
		}
		big := graphDocFixture(t, "slides.pptx") // 28 KiB, over the 20000 bytes allowed
		if _, err := bob.CreateSession(ctx, "docs/slides.pptx", int64(len(big))); !errors.As(err, &se) || se.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("a session for a document over the limit: %v, want 413", err)
		}
		noSize := *bob
		noSize.NoFileSize = true
		if _, err := noSize.Upload(ctx, "docs/slides.pptx", bytes.NewReader(big), int64(len(big)), 7000); !errors.As(err, &se) || se.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("a document over the limit without fileSize: %v, want 413", err)
		}
		if n := strings.Count(g.srv.Seen(), "PUT "+graphUploadHost) - providerPuts; n != 0 {
			t.Errorf("refused documents sent the provider %d fragments", n)
		}
		if n := len(g.srv.Items()); n != items {
			t.Errorf("refused documents reached the provider: %d items, want %d", n, items)
		}
		if g.srv.Sessions() != 0 {
			t.Errorf("refused documents left %d provider upload sessions open", g.srv.Sessions())
		}
	})

	t.Run("cancel", func(t *testing.T) {
		s, err := bob.CreateSession(ctx, "docs/cancelled.docx", int64(len(letter)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.PutFragment(ctx, s.UploadURL, bytes.NewReader(letter[:4000]), 0, 4000, int64(len(letter))); err != nil {
			t.Fatal(err)
		}
		// A fragment cut short is not kept.
		puts := g.audited(`"method":"PUT"`)
		cut := &cutReader{r: bytes.NewReader(letter[4000:]), left: 1000}
		if _, err := bob.PutFragment(ctx, s.UploadURL, cut, 4000, int64(len(letter)-4000), int64(len(letter))); err == nil {
			t.Fatal("a fragment cut short was taken")
		}
		for deadline := time.Now().Add(10 * time.Second); g.audited(`"method":"PUT"`) == puts; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the broken fragment never ended at the gateway")
			}
		}
		// The upload URL needs no credentials at the provider, which has
		// seen none of the fragments: only bob, who made the session, may
		// use it at the gateway.
		var se *graphtest.StatusError
		if _, err := alice.PutFragment(ctx, s.UploadURL, bytes.NewReader(letter[4000:]), 4000, int64(len(letter)-4000), int64(len(letter))); !errors.As(err, &se) || se.Status != http.StatusNotFound {
			t.Errorf("alice's fragment of bob's document session: %v, want 404", err)
		}
		if _, err := alice.Status(ctx, s.UploadURL); !errors.As(err, &se) || se.Status != http.StatusNotFound {
			t.Errorf("alice's status of bob's document session: %v, want 404", err)
		}
		st, err := bob.Status(ctx, s.UploadURL)
		if err != nil || len(st.NextExpectedRanges) == 0 || st.NextExpectedRanges[0] != "4000-7537" {
			t.Fatalf("status after a fragment: %+v %v", st, err)
		}
		if err := bob.Cancel(ctx, s.UploadURL); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Status(ctx, s.UploadURL); err == nil {
			t.Error("a cancelled session still answers")
		}
		if _, err := bob.PutFragment(ctx, s.UploadURL, bytes.NewReader(letter[4000:]), 4000, int64(len(letter)-4000), int64(len(letter))); err == nil {
			t.Error("a cancelled session took its last fragment")
		}
	})

	t.Run("not a document", func(t *testing.T) {
		data := randomBytes(700<<10 + 123)
		it := upload(t, bob, "docs/data.bin", data, graphtest.Granule)
		g.checkStored(t, it.ID, data)
	})

	g.noPersonalData(t)
	for where, text := range map[string]string{"the provider": g.srv.Seen(), "the debug log": g.p.stderr.String(), "the audit log": g.p.audit.String()} {
		for _, v := range graphDocPersonal {
			if strings.Contains(text, v) {
				t.Errorf("%s saw a personal value of the documents", where)
			}
		}
	}
}
