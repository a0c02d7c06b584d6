package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/authentication"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	nethttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go-core/fileuploader"
)

// TestGraphMicrosoftSDK: Microsoft's own Go SDK upload task
// (msgraph-sdk-go-core fileuploader, kiota's HTTP client with its
// default middleware, through the gateway as an authenticated proxy)
// uploads files in 10 MiB slices, and resumes an upload whose first
// fragment broke off, from the nextExpectedRanges the gateway gives.
func TestGraphMicrosoftSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Graph")
	}
	g := startGraphGateway(t)
	c := g.client("alice")
	ctx := context.Background()
	proxy, _ := url.Parse(g.p.proxy)
	hc, err := nethttp.GetClientWithAuthenticatedProxySettings(proxy.String(), "alice", "alice-pw", nethttp.GetDefaultMiddlewares()...)
	if err != nil {
		t.Fatal(err)
	}
	// Upload URLs are pre-authenticated: the SDK sends them no token.
	adapter, err := nethttp.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		&authentication.AnonymousAuthenticationProvider{}, jsonserialization.NewJsonParseNodeFactory(), jsonserialization.NewJsonSerializationWriterFactory(), hc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	upload := func(t *testing.T, name string, data []byte, broken bool) {
		path := filepath.Join(dir, "f")
		os.WriteFile(path, data, 0o600)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		s, err := c.CreateSession(ctx, name, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		const slice = 10 * mib
		if broken {
			puts := g.audited(`"method":"PUT"`)
			cut := &cutReader{r: bytes.NewReader(data[:slice]), left: slice / 2}
			if _, err := c.PutFragment(ctx, s.UploadURL, cut, 0, slice, int64(len(data))); err == nil {
				t.Fatal("a fragment cut short was taken")
			}
			for deadline := time.Now().Add(30 * time.Second); g.audited(`"method":"PUT"`) == puts; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the broken fragment never ended at the gateway")
				}
			}
		}
		exp, _ := time.Parse(time.RFC3339Nano, s.ExpirationDateTime)
		session := &sdkSession{url: s.UploadURL, expires: exp, ranges: s.NextExpectedRanges}
		task := fileuploader.NewLargeFileUploadTask[*sdkItem](adapter, session, f, slice, newSDKItem, nil)
		var res fileuploader.UploadResult[*sdkItem]
		if broken {
			if res, err = task.Resume(func(int64, int64) {}); err != nil {
				t.Fatal(err)
			}
		} else {
			res = task.Upload(func(int64, int64) {})
		}
		if !res.GetUploadSucceeded() {
			t.Fatalf("the SDK's upload failed: %v", res.GetResponseErrors())
		}
		it := res.GetItemResponse()
		if it == nil || it.size != int64(len(data)) || it.name != name {
			t.Fatalf("the SDK's driveItem: %+v", it)
		}
		g.checkStored(t, it.id, data)
	}
	t.Run("upload", func(t *testing.T) { upload(t, "sdk "+graphName, randomBytes(25*mib+333), false) })
	t.Run("resume", func(t *testing.T) { upload(t, "sdk resumed "+graphName, randomBytes(25*mib+333), true) })
	if g.audited(`"host":"`+graphUploadHost) < 6 {
		t.Errorf("the audit log lacks the SDK's fragments")
	}
	g.noPersonalData(t)
}

// sdkSession is the fileuploader.UploadSession the SDK's task works on.
type sdkSession struct {
	url     string
	expires time.Time
	ranges  []string
}

func (s *sdkSession) GetExpirationDateTime() *time.Time  { return &s.expires }
func (s *sdkSession) SetExpirationDateTime(t *time.Time) { s.expires = *t }
func (s *sdkSession) GetNextExpectedRanges() []string    { return s.ranges }
func (s *sdkSession) SetNextExpectedRanges(r []string)   { s.ranges = r }
func (s *sdkSession) GetOdataType() *string              { return nil }
func (s *sdkSession) GetUploadUrl() *string              { return &s.url }

// sdkItem is the part of a driveItem the test reads, as a kiota
// Parsable (msgraph-sdk-go's models would bring the whole Graph API).
type sdkItem struct {
	id, name string
	size     int64
}

func newSDKItem(serialization.ParseNode) (serialization.Parsable, error) { return &sdkItem{}, nil }

func (i *sdkItem) Serialize(serialization.SerializationWriter) error { return nil }

func (i *sdkItem) GetFieldDeserializers() map[string]func(serialization.ParseNode) error {
	str := func(dst *string) func(serialization.ParseNode) error {
		return func(n serialization.ParseNode) error {
			v, err := n.GetStringValue()
			if v != nil {
				*dst = *v
			}
			return err
		}
	}
	return map[string]func(serialization.ParseNode) error{
		"id":   str(&i.id),
		"name": str(&i.name),
		"size": func(n serialization.ParseNode) error {
			v, err := n.GetInt64Value()
			if v != nil {
				i.size = *v
			}
			return err
		},
	}
}

// TestGraphMicrosoftSDKDocuments: the SDK's upload task stores a DOCX
// in slices that do not divide it through a documents graph service: the
// provider holds it pseudonymized, the task gets the driveItem with the
// size it uploaded, and a user with the reidentify right reads the
// original text back.
func TestGraphMicrosoftSDKDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Graph")
	}
	g := startGraphGatewayWith(t, "      options:\n        documents: \"true\"\n", "")
	c := g.client("alice")
	ctx := context.Background()
	proxy, _ := url.Parse(g.p.proxy)
	hc, err := nethttp.GetClientWithAuthenticatedProxySettings(proxy.String(), "alice", "alice-pw", nethttp.GetDefaultMiddlewares()...)
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := nethttp.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		&authentication.AnonymousAuthenticationProvider{}, jsonserialization.NewJsonParseNodeFactory(), jsonserialization.NewJsonSerializationWriterFactory(), hc)
	if err != nil {
		t.Fatal(err)
	}
	letter := graphDocFixture(t, "letter.docx")
	f, err := os.Open(filepath.Join("..", "..", "pseudonym", "document", "testdata", "letter.docx"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := c.CreateSession(ctx, "sdk/letter.docx", int64(len(letter)))
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := time.Parse(time.RFC3339Nano, s.ExpirationDateTime)
	session := &sdkSession{url: s.UploadURL, expires: exp, ranges: s.NextExpectedRanges}
	puts := g.audited(`"host":"` + graphUploadHost)
	task := fileuploader.NewLargeFileUploadTask[*sdkItem](adapter, session, f, 2999, newSDKItem, nil)
	res := task.Upload(func(int64, int64) {})
	if !res.GetUploadSucceeded() {
		t.Fatalf("the SDK's upload failed: %v", res.GetResponseErrors())
	}
	it := res.GetItemResponse()
	if it == nil || it.size != int64(len(letter)) || it.name != "letter.docx" {
		t.Fatalf("the SDK's driveItem: %+v", it)
	}
	for deadline := time.Now().Add(10 * time.Second); g.audited(`"host":"`+graphUploadHost)-puts < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the audit log lacks the SDK's three fragments")
		}
	}
	stored, err := os.ReadFile(g.srv.ItemPath(it.id))
	if err != nil {
		t.Fatal(err)
	}
	graphTokenized(t, "the stored DOCX", stored)
	resp, err := c.Download(ctx, it.id, "")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	sameXMLText(t, "alice's download", letter, got)
	g.noPersonalData(t)
}
