package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluss/sluss/gateway/s3"
	"github.com/sluss/sluss/internal/s3test"
)

// s3User is a sluss user of a gateway started with users.
type s3User struct {
	name, password string
	rights         []string
}

// s3Setup changes what startS3GatewayWith starts.
type s3Setup struct {
	// users, if any, are written to a bcrypt users file, each in a group
	// of its own with its rights; without users, loopback clients are the
	// local user with every right.
	users []s3User
	// front, if set, sits between the gateway and versitygw: it gets every
	// upstream request and passes it on to next (versitygw), or not.
	front func(next http.Handler) http.Handler
	// virtual serves buckets as host names (region.s3.sluss.test).
	virtual bool
	// tls serves versitygw over HTTPS (the gateway trusts its CA), and
	// clients reach it through CONNECT and the gateway's CA.
	tls bool
	// options are the s3 service's options: (YAML lines, indented);
	// {{root}} stands for versitygw's access key.
	options string
	// issued are access keys issued to sluss users (id → user); each
	// one's secret is its id reversed.
	issued map[string]string
	// gateway are more lines of the gateway: section (YAML, indented
	// two spaces), such as limits.
	gateway string
}

// startS3GatewayWith is startS3Gateway with users or a fault-injecting
// front before versitygw.
func startS3GatewayWith(t *testing.T, setup s3Setup) *s3Gateway {
	t.Helper()
	var opts []s3test.Option
	hosts, resolve := "[s3.sluss.test]", "    s3.sluss.test: [127.0.0.1]\n"
	if setup.tls {
		opts = append(opts, s3test.TLS("s3.sluss.test"))
	}
	if setup.virtual {
		opts = append(opts, s3test.VirtualHosts("s3.sluss.test"))
		hosts = `[s3.sluss.test, "*.s3.sluss.test"]`
		resolve += "    " + s3Bucket + ".s3.sluss.test: [127.0.0.1]\n"
	}
	srv := s3test.Start(t, opts...)
	srv.CreateBucket(t, s3Bucket)
	g := &s3Gateway{srv: srv, bin: buildSluss(t), dir: t.TempDir()}
	_, port, _ := strings.Cut(srv.Addr, ":")
	if setup.front != nil {
		port = startFront(t, srv, setup.front)
	}
	g.endpoint = "http://s3.sluss.test:" + port
	upstreamCA := ""
	if setup.tls {
		g.endpoint = "https://s3.sluss.test:" + port
		upstreamCA = "  upstream_ca: " + srv.CAFile + "\n"
	}
	var users strings.Builder
	if len(setup.users) > 0 {
		var file strings.Builder
		users.WriteString("  users_file: " + filepath.Join(g.dir, "users") + "\n  groups:\n")
		for _, u := range setup.users {
			hash, err := bcrypt.GenerateFromPassword([]byte(u.password), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&file, "%s:%s\n", u.name, hash)
			fmt.Fprintf(&users, "    - name: %s-group\n      members: [%s]\n      rights: [%s]\n", u.name, u.name, strings.Join(u.rights, ", "))
		}
		os.WriteFile(filepath.Join(g.dir, "users"), []byte(file.String()), 0o600)
	}
	g.cfg = filepath.Join(g.dir, "sluss.yaml")
	os.WriteFile(g.cfg, []byte(fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  resolve:
%s%s%s%s  services:
    - name: storage
      hosts: %s
      profile: s3
      ports: [%s]
      allow_loopback: true
%s`, filepath.Join(g.dir, "keys"), resolve, upstreamCA, users.String(), setup.gateway, hosts, port, strings.ReplaceAll(setup.options, "{{root}}", srv.AccessKey))), 0o600)
	addKey := func(id, secret string, flags ...string) {
		add := exec.Command(g.bin, append([]string{"keys", "s3", "add", "--config", g.cfg, id}, flags...)...)
		add.Stdin = strings.NewReader(secret + "\n")
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("sluss keys s3 add: %v\n%s", err, out)
		}
	}
	addKey(srv.AccessKey, srv.SecretKey)
	for id, user := range setup.issued {
		addKey(id, reverse(id), "--issued", "--user", user)
	}
	g.start(t)
	exp := exec.Command(g.bin, "keys", "export-identity", "--config", g.cfg, "--"+exportConsentFlag)
	out, err := exp.Output()
	if err != nil {
		t.Fatalf("sluss keys export-identity: %v", err)
	}
	g.identity = filepath.Join(g.dir, "identity.txt")
	os.WriteFile(g.identity, out, 0o600)
	return g
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// startFront serves front(versitygw) on a loopback port of its own and
// returns the port. Requests keep the Host the gateway signed.
func startFront(t *testing.T, srv *s3test.Server, front func(http.Handler) http.Handler) string {
	t.Helper()
	target, _ := url.Parse(srv.URL)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		// Requests the gateway cuts on purpose are no news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: front(rp)}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// s3Call is one request a test signs itself and sends through the
// gateway.
type s3Call struct {
	method, path string
	body         []byte
	header       http.Header
	cred         s3.Credentials // default: the server's root key
	payload      string         // x-amz-content-sha256; default UNSIGNED-PAYLOAD
	proxy        string         // default: the gateway's proxy URL, no user
}

func (g *s3Gateway) do(t *testing.T, c s3Call) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(c.method, g.endpoint+c.path, bytes.NewReader(c.body))
	if c.body == nil {
		req.Body = http.NoBody
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if c.cred.AccessKeyID == "" {
		c.cred = g.cred()
	}
	if c.payload == "" {
		c.payload = s3.UnsignedPayload
	}
	if err := s3.Sign(req, c.cred, "us-east-1", c.payload, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c.proxy == "" {
		c.proxy = g.p.proxy
	}
	proxy, _ := url.Parse(c.proxy)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return resp, readAll(resp)
}

// proxyAs is the gateway's proxy URL with a user's credentials.
func (g *s3Gateway) proxyAs(u s3User) string {
	p, _ := url.Parse(g.p.proxy)
	p.User = url.UserPassword(u.name, u.password)
	return p.String()
}

// directHead sends a HEAD straight to versitygw, as the storage provider
// would answer anyone.
func (g *s3Gateway) directHead(t *testing.T, key string) http.Header {
	t.Helper()
	req, _ := http.NewRequest("HEAD", g.srv.URL+"/"+s3Bucket+"/"+key, nil)
	if err := s3.Sign(req, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("direct HEAD %s: %s", key, resp.Status)
	}
	return resp.Header
}

// TestS3NoPersonalData: object keys and metadata holding personnummer
// and names go through the gateway; neither the audit log, nor the debug
// log, nor an error answer of the gateway holds them, the provider keeps
// the metadata only sealed, and HEAD through the gateway gives it back.
func TestS3NoPersonalData(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	// The provider fails a part, and cuts GETs (three times: the
	// gateway's transport retries a GET on a reused connection), so that
	// the gateway's error paths log too.
	failPart := &failFirst{match: isUploadPart}
	cutGet := &failFirst{match: func(r *http.Request) bool {
		return r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/"+s3Bucket+"/people/")
	}, cut: true, times: 3}
	g := startS3GatewayWith(t, s3Setup{front: func(next http.Handler) http.Handler { return failPart.front(cutGet.front(next)) }})
	const name = "Astrid Lindqvist"
	secrets := []string{"19121212-1212", "191212121212", name, "Astrid", "Lindqvist"}
	for i := 1; i <= 2; i++ {
		pnr := testPersonnummer(i)
		secrets = append(secrets, pnr, strings.ReplaceAll(pnr, "-", ""))
	}
	keyOf := func(pnr string) string { return "people/" + pnr + " " + name + ".txt" }
	escaped := func(key string) string { return "/" + s3Bucket + "/" + strings.ReplaceAll(key, " ", "%20") }
	note := "journal för " + name + " 19121212-1212"
	meta := http.Header{"X-Amz-Meta-Note": {note}}
	data := []byte("anteckningar\n")

	// PutObject, and a multipart upload of two parts.
	put := keyOf("19121212-1212")
	if resp, body := g.do(t, s3Call{method: "PUT", path: escaped(put), body: data, header: meta}); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	nameOnly := "people/" + name + " remiss.txt"
	if resp, body := g.do(t, s3Call{method: "PUT", path: escaped(nameOnly), body: data, header: meta}); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	multi := keyOf(testPersonnummer(1))
	resp, body := g.do(t, s3Call{method: "POST", path: escaped(multi) + "?uploads=", header: meta})
	up, ok := xmlText(body, "UploadId")
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("CreateMultipartUpload: %d %s", resp.StatusCode, body)
	}
	part1 := make([]byte, 5*mib)
	rand.Read(part1)
	partPath := func(n int) string {
		return fmt.Sprintf("%s?partNumber=%d&uploadId=%s", escaped(multi), n, url.QueryEscape(up))
	}
	if resp, body := g.do(t, s3Call{method: "PUT", path: partPath(1), body: part1}); resp.StatusCode != 500 || failPart.count() != 1 {
		t.Fatalf("part 1, failed by the provider: %d %s", resp.StatusCode, body)
	}
	var etags []string
	for n, p := range [][]byte{part1, data} {
		resp, body := g.do(t, s3Call{method: "PUT", path: partPath(n + 1), body: p})
		if resp.StatusCode != 200 {
			t.Fatalf("part %d: %d %s", n+1, resp.StatusCode, body)
		}
		etags = append(etags, resp.Header.Get("Etag"))
	}
	var doc strings.Builder
	doc.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&doc, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	doc.WriteString("</CompleteMultipartUpload>")
	if resp, body := g.do(t, s3Call{method: "POST", path: escaped(multi) + "?uploadId=" + url.QueryEscape(up), body: []byte(doc.String())}); resp.StatusCode != 200 {
		t.Fatalf("CompleteMultipartUpload: %d %s", resp.StatusCode, body)
	}
	// The provider's keys are tokens; each object is one age file.
	stored := g.storedKeys(t, "people/")
	if len(stored) != 3 {
		t.Fatalf("the provider holds %d objects under people/, want 3: %v", len(stored), stored)
	}
	contents := map[string]int{}
	for _, k := range stored {
		for _, sec := range secrets {
			if strings.Contains(k, sec) {
				t.Errorf("the provider's key %q holds %q", k, sec)
			}
		}
		contents[string(g.decryptStored(t, k))]++
	}
	if contents[string(data)] != 2 || contents[string(append(bytes.Clone(part1), data...))] != 1 {
		t.Error("the stored objects do not decrypt to what was uploaded")
	}
	if resp, body := g.do(t, s3Call{method: "GET", path: escaped(put)}); resp.StatusCode/100 != 5 || cutGet.count() == 0 {
		t.Errorf("GET cut by the provider: %d %s", resp.StatusCode, body)
	}

	for _, key := range stored {
		// The provider holds the metadata sealed.
		held := g.directHead(t, key).Get("X-Amz-Meta-Note")
		if !strings.HasPrefix(held, "sluss1.") || strings.Contains(held, "1212") || strings.Contains(held, "Astrid") {
			t.Errorf("%s: versitygw holds x-amz-meta-note %q, want it sealed", key, held)
		}
	}
	for _, key := range []string{put, nameOnly, multi} {
		// The gateway opens it.
		resp, _ := g.do(t, s3Call{method: "HEAD", path: escaped(key)})
		if got := resp.Header.Get("X-Amz-Meta-Note"); resp.StatusCode != 200 || got != note {
			t.Errorf("%s: HEAD through the gateway: %d, x-amz-meta-note %q, want %q", key, resp.StatusCode, got, note)
		}
		if resp, body := g.do(t, s3Call{method: "GET", path: escaped(key)}); resp.StatusCode != 200 || resp.Header.Get("X-Amz-Meta-Note") != note {
			t.Errorf("%s: GET through the gateway: %d, x-amz-meta-note %q", key, resp.StatusCode, resp.Header.Get("X-Amz-Meta-Note"))
		} else if key == put && body != string(data) {
			t.Errorf("%s: GET gives %q", key, body)
		}
	}

	// Refusals the gateway answers itself must not echo the key.
	refused := keyOf(testPersonnummer(2))
	for _, tc := range []struct {
		name string
		call s3Call
		code string
	}{
		{"wrong secret", s3Call{method: "PUT", path: escaped(refused), body: data, cred: s3.Credentials{AccessKeyID: g.srv.AccessKey, Secret: "wrong"}}, "SignatureDoesNotMatch"},
		{"unknown key", s3Call{method: "GET", path: escaped(refused), cred: s3.Credentials{AccessKeyID: "AKIANOTKNOWN", Secret: "x"}}, "InvalidAccessKeyId"},
		{"part of no upload", s3Call{method: "PUT", path: escaped(refused) + "?partNumber=1&uploadId=nosuch", body: data}, "NoSuchUpload"},
		{"no such key (versitygw's answer)", s3Call{method: "GET", path: escaped(refused)}, "NoSuchKey"},
		{"body shorter than signed", s3Call{method: "PUT", path: escaped(refused), body: data, payload: strings.Repeat("0", 64)}, "XAmzContentSHA256Mismatch"},
	} {
		resp, body := g.do(t, tc.call)
		if s3Code(body) != tc.code {
			t.Errorf("%s: %d %s, want %s", tc.name, resp.StatusCode, body, tc.code)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) || strings.Contains(body, strings.ReplaceAll(s, " ", "%20")) {
				t.Errorf("%s: the error answer holds %q:\n%s", tc.name, s, body)
			}
		}
		if n := len(g.storedKeys(t, "people/")); n != 3 {
			t.Errorf("%s: the provider holds %d objects under people/, want 3", tc.name, n)
		}
	}

	if n := g.audited(t, `"action":"encrypt"`); n < 4 {
		t.Errorf("the audit log has %d encrypt events, want 4 (two PUTs, two parts)", n)
	}
	for _, log := range []struct{ name, text string }{{"audit log", g.p.audit.String()}, {"debug log", g.p.stderr.String()}} {
		for _, s := range append(secrets, note) {
			if strings.Contains(log.text, s) || strings.Contains(log.text, strings.ReplaceAll(s, " ", "%20")) {
				t.Errorf("the %s holds %q", log.name, s)
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("audit:\n%s\nstderr:\n%s", g.p.audit, g.p.stderr)
	}
}

func xmlText(doc, name string) (string, bool) {
	_, rest, ok := strings.Cut(doc, "<"+name+">")
	if !ok {
		return "", false
	}
	v, _, ok := strings.Cut(rest, "</"+name+">")
	return v, ok
}

// TestS3Rights: with a users file, anyone signed in may upload, but only
// a user with the decrypt right reads an encrypted object (or its
// metadata) in plaintext; others get S3's AccessDenied.
func TestS3Rights(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	reader := s3User{"reader", "läs-lösen", []string{"decrypt"}}
	clerk := s3User{"clerk", "skriv-lösen", nil}
	g := startS3GatewayWith(t, s3Setup{users: []s3User{reader, clerk}})
	data := []byte("protokoll från mötet\n")
	note := "utkast"
	path := "/" + s3Bucket + "/rights/protokoll.txt"

	if resp, _ := g.do(t, s3Call{method: "PUT", path: path, body: data}); resp.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("PUT without proxy credentials: %d, want 407", resp.StatusCode)
	}
	if resp, body := g.do(t, s3Call{method: "PUT", path: path, body: data, proxy: g.proxyAs(clerk), header: http.Header{"X-Amz-Meta-Note": {note}}}); resp.StatusCode != 200 {
		t.Fatalf("PUT by a user without decrypt: %d %s", resp.StatusCode, body)
	}
	g.checkStored(t, "rights/protokoll.txt", data)

	for _, tc := range []struct {
		user   s3User
		method string
		status int
		body   string // for 200
		code   string // for errors
		note   string // x-amz-meta-note, "sealed" for sealed
	}{
		{clerk, "GET", 403, "", "AccessDenied", ""},
		{clerk, "HEAD", 200, "", "", "sealed"},
		{reader, "GET", 200, string(data), "", note},
		{reader, "HEAD", 200, "", "", note},
	} {
		resp, body := g.do(t, s3Call{method: tc.method, path: path, proxy: g.proxyAs(tc.user)})
		name := tc.user.name + " " + tc.method
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, body, tc.status)
			continue
		}
		if tc.code != "" && (s3Code(body) != tc.code || resp.Header.Get("Content-Type") != "application/xml") {
			t.Errorf("%s: %s %q, want an S3 XML error %s", name, resp.Header.Get("Content-Type"), body, tc.code)
		}
		if tc.code != "" && strings.Contains(body, string(data[:8])) {
			t.Errorf("%s: the refusal holds plaintext", name)
		}
		if tc.status == 200 && body != tc.body {
			t.Errorf("%s: body %q, want %q", name, body, tc.body)
		}
		got := resp.Header.Get("X-Amz-Meta-Note")
		switch {
		case tc.note == "sealed" && !strings.HasPrefix(got, "sluss1."):
			t.Errorf("%s: x-amz-meta-note %q, want it sealed", name, got)
		case tc.note != "sealed" && got != tc.note:
			t.Errorf("%s: x-amz-meta-note %q, want %q", name, got, tc.note)
		}
	}
	audit := g.p.audit.String()
	if !strings.Contains(audit, `"user":"clerk"`) || !strings.Contains(audit, `"user":"reader"`) || !strings.Contains(audit, `"action":"deny"`) {
		t.Errorf("the audit log does not name the users and the refusal:\n%s", audit)
	}
}

// failFirst is a front that answers the first upstream request (or the
// first times) matching match with a 500 after reading a little of its body, as a provider
// failing mid-upload would (or, with cut, closes the connection without
// an answer), and passes on everything else.
type failFirst struct {
	match  func(*http.Request) bool
	cut    bool
	times  int // default 1
	mu     sync.Mutex
	failed int
}

func (f *failFirst) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail := f.failed < max(f.times, 1) && f.match(r)
		if fail {
			f.failed++
		}
		f.mu.Unlock()
		if !fail {
			next.ServeHTTP(w, r)
			return
		}
		io.CopyN(io.Discard, r.Body, 64<<10)
		if f.cut {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
	})
}

func (f *failFirst) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func isUploadPart(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == "PUT" && q.Has("partNumber") && q.Has("uploadId")
}

// TestS3PartRetry: an UploadPart that failed (the client's body cut
// short, or the provider answering 500) is retried with a fresh
// signature, and the retry is accepted; then the same with rclone and the
// AWS CLI, which send Expect: 100-continue for large parts.
func TestS3PartRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	ff := &failFirst{match: isUploadPart}
	g := startS3GatewayWith(t, s3Setup{front: ff.front})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("audit:\n%s\nstderr:\n%s", g.p.audit, g.p.stderr)
		}
	})
	part1 := make([]byte, 5*mib)
	rand.Read(part1)
	part2 := []byte("the end")

	// The provider fails part 1's first upstream request: the client gets
	// an error, and its retry goes through.
	key := "retry/provider"
	up := g.createUpload(t, key)
	if status, _, body := g.putPart(t, key, up, 1, part1); status/100 != 5 {
		t.Fatalf("part 1 with the provider failing: %d %s, want a 5xx", status, body)
	}
	if ff.count() != 1 {
		t.Fatal("the front failed no upstream request")
	}
	status, etag1, body := g.putPart(t, key, up, 1, part1)
	if status != 200 {
		t.Fatalf("part 1 retried: %d %s", status, body)
	}
	status, etag2, body := g.putPart(t, key, up, 2, part2)
	if status != 200 {
		t.Fatalf("part 2: %d %s", status, body)
	}
	if status, body := g.complete(t, key, up, etag1, etag2); status != 200 {
		t.Fatalf("complete: %d %s", status, body)
	}
	g.checkStored(t, key, append(bytes.Clone(part1), part2...))

	// The client's body breaks off: the retry goes through.
	key = "retry/cut"
	up = g.createUpload(t, key)
	g.cutPart(t, key, up, 1, part1, 3*mib)
	status, etag1, body = g.putPart(t, key, up, 1, part1)
	if status != 200 {
		t.Fatalf("part 1 retried after a cut body: %d %s", status, body)
	}
	status, etag2, body = g.putPart(t, key, up, 2, part2)
	if status != 200 {
		t.Fatalf("part 2: %d %s", status, body)
	}
	if status, body := g.complete(t, key, up, etag1, etag2); status != 200 {
		t.Fatalf("complete: %d %s", status, body)
	}
	g.checkStored(t, key, append(bytes.Clone(part1), part2...))
}

// cutPart sends an UploadPart through the proxy whose body stops after
// n of its bytes, and closes the connection.
func (g *s3Gateway) cutPart(t *testing.T, key, upload string, part int, data []byte, n int) {
	t.Helper()
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/%s/%s?partNumber=%d&uploadId=%s", g.endpoint, s3Bucket, key, part, url.QueryEscape(upload)), bytes.NewReader(data))
	if err := s3.Sign(req, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now()); err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	req.WriteProxy(&wire)
	proxy, _ := url.Parse(g.p.proxy)
	conn, err := net.Dial("tcp", proxy.Host)
	if err != nil {
		t.Fatal(err)
	}
	before := g.audited(t, key)
	conn.Write(wire.Bytes()[:wire.Len()-len(data)+n])
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	// Wait until the gateway has noticed the cut and logged the request.
	for deadline := time.Now().Add(20 * time.Second); g.audited(t, key) == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the cut request is not in the audit log:\n%s", g.p.audit)
		}
	}
}

// TestS3PartRetryClients: the provider fails one UploadPart of rclone's
// and the AWS CLI's uploads (both send Expect: 100-continue for large
// parts); the client retries the part and the upload completes. rclone
// 1.60's SDK (aws-sdk-go v1) retries by itself, signing the Expect:
// 100-Continue left from the first attempt, which the gateway's proxy had
// removed: --low-level-retries 1 leaves it only that retry.
func TestS3PartRetryClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	for _, client := range []string{"rclone", "aws"} {
		t.Run(client, func(t *testing.T) {
			ff := &failFirst{match: func(r *http.Request) bool {
				return isUploadPart(r) && r.URL.Query().Get("partNumber") == "3"
			}}
			g := startS3GatewayWith(t, s3Setup{front: ff.front})
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("audit:\n%s\nstderr:\n%s", g.p.audit, g.p.stderr)
				}
			})
			env := g.clientEnv(t)
			src := t.TempDir()
			want := randomFile(t, src, "file", 20*mib)
			var out string
			switch client {
			case "rclone":
				remote := ":s3,provider=Other,env_auth=true,endpoint='" + g.endpoint + "':" + s3Bucket + "/rclone"
				out = runTool(t, env, cl.Rclone, "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M", "--s3-upload-concurrency", "1",
					"--low-level-retries", "1", "--retries", "1", "-vv", "copy", src, remote)
			case "aws":
				out = runTool(t, env, cl.AWS, "--endpoint-url", g.endpoint, "--debug", "s3", "cp", filepath.Join(src, "file"), "s3://"+s3Bucket+"/aws/file")
			}
			if ff.count() != 1 {
				t.Fatalf("the front failed no upload part:\n%s", out)
			}
			// Only the client's own retry of the failed part may be sent
			// again, and the gateway must accept it.
			if strings.Contains(g.p.audit.String(), `"action":"deny"`) || strings.Contains(out, "SignatureDoesNotMatch") {
				t.Errorf("the gateway refused a request of the retried upload:\n%s", out)
			}
			g.checkStored(t, client+"/file", want)
			if t.Failed() || testing.Verbose() {
				t.Log(out)
			}
		})
	}
}

// TestS3IssuedKeys: a key the region issued to a sluss user works in that
// user's proxy session only, and the gateway signs its requests upstream
// with the service's own key, which the user never sees.
func TestS3IssuedKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	anna := s3User{name: "anna", password: "anna-pw", rights: []string{"decrypt"}}
	bob := s3User{name: "bob", password: "bob-pw", rights: []string{"decrypt"}}
	const key = "ANNAISSUED01"
	g := startS3GatewayWith(t, s3Setup{
		users:   []s3User{anna, bob},
		options: "      options:\n        upstream_key: {{root}}\n",
		issued:  map[string]string{key: "anna"},
	})
	src := t.TempDir()
	data := randomFile(t, src, "f", 3*mib)
	env := func(u s3User) []string {
		p := g.proxyAs(u)
		return append(s3test.CleanEnv(t), "HTTP_PROXY="+p, "http_proxy="+p, "NO_PROXY=", "no_proxy=",
			"AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+reverse(key), "AWS_DEFAULT_REGION=us-east-1", "AWS_CA_BUNDLE=")
	}
	runTool(t, env(anna), cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", filepath.Join(src, "f"), "s3://"+s3Bucket+"/issued/f")
	g.checkStored(t, "issued/f", data)
	back := filepath.Join(t.TempDir(), "back")
	runTool(t, env(anna), cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", "s3://"+s3Bucket+"/issued/f", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Error("anna's download differs")
	}
	if !strings.Contains(g.p.audit.String(), `"user":"anna"`) {
		t.Error("the audit log does not name anna")
	}
	cmd := exec.Command(cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", filepath.Join(src, "f"), "s3://"+s3Bucket+"/issued/bob")
	cmd.Env = env(bob)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "AccessDenied") {
		t.Errorf("anna's key in bob's session: %v\n%s", err, out)
	}
	g.notStored(t, "issued/bob")
}

// storedKeys lists the provider's object keys under prefix, from its own
// files.
func (g *s3Gateway) storedKeys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	root := filepath.Join(g.srv.Dir, s3Bucket)
	filepath.WalkDir(filepath.Join(root, prefix), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		keys = append(keys, filepath.ToSlash(rel))
		return nil
	})
	return keys
}

// decryptStored decrypts the provider's object with the real age CLI.
func (g *s3Gateway) decryptStored(t *testing.T, key string) []byte {
	t.Helper()
	age, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("the age CLI is not installed (test.sh installs it)")
	}
	out, err := exec.Command(age, "-d", "-i", g.identity, g.srv.ObjectPath(s3Bucket, key)).Output()
	if err != nil {
		t.Fatalf("%s: age -d: %v", key, err)
	}
	return out
}

// TestS3VirtualHosted: clients that name the bucket in the host
// (https://region.s3.sluss.test/key) get the same: one age file per
// object, plaintext sizes and ETags in listings, copies.
func TestS3VirtualHosted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	g := startS3GatewayWith(t, s3Setup{virtual: true})
	cfg := filepath.Join(t.TempDir(), "aws-config")
	os.WriteFile(cfg, []byte("[default]\ns3 =\n  addressing_style = virtual\n"), 0o600)
	env := append(g.clientEnv(t), "AWS_CONFIG_FILE="+cfg)
	aws := func(args ...string) string {
		return runTool(t, env, cl.AWS, append([]string{"--endpoint-url", g.endpoint}, args...)...)
	}
	src := t.TempDir()
	files := map[string][]byte{"small": randomFile(t, src, "small", 100_000), "multi": randomFile(t, src, "multi", 20*mib)}
	for name := range files {
		aws("s3", "cp", filepath.Join(src, name), "s3://"+s3Bucket+"/vh/"+name)
	}
	aws("s3", "cp", "s3://"+s3Bucket+"/vh/small", "s3://"+s3Bucket+"/vh/copy")
	files["copy"] = files["small"]
	ls := aws("s3", "ls", "s3://"+s3Bucket+"/vh/")
	for name, want := range files {
		g.checkStored(t, "vh/"+name, want)
		if !strings.Contains(ls, fmt.Sprintf(" %d %s", len(want), name)) {
			t.Errorf("%s is not listed with its plaintext size:\n%s", name, ls)
		}
		back := filepath.Join(t.TempDir(), name)
		aws("s3", "cp", "s3://"+s3Bucket+"/vh/"+name, back)
		if got, _ := os.ReadFile(back); !bytes.Equal(got, want) {
			t.Errorf("%s: the download differs", name)
		}
	}
	if !strings.Contains(g.p.audit.String(), `"host":"`+s3Bucket+`.s3.sluss.test"`) {
		t.Error("the audit log shows no virtual-hosted request")
	}
}

// TestS3OverTLS: the usual case, HTTPS: the client CONNECTs through the
// gateway, trusts the gateway's CA, and sends UNSIGNED-PAYLOAD bodies; the
// gateway speaks TLS to the provider.
func TestS3OverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	g := startS3GatewayWith(t, s3Setup{tls: true})
	env := append(g.clientEnv(t), "HTTPS_PROXY="+g.p.proxy, "https_proxy="+g.p.proxy, "AWS_CA_BUNDLE="+filepath.Join(g.dir, "keys", "ca.pem"))
	src := t.TempDir()
	files := map[string][]byte{"small": randomFile(t, src, "small", 300_000), "multi": randomFile(t, src, "multi", 24*mib)}
	for name := range files {
		runTool(t, env, cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", filepath.Join(src, name), "s3://"+s3Bucket+"/tls/"+name)
	}
	for name, want := range files {
		g.checkStored(t, "tls/"+name, want)
		back := filepath.Join(t.TempDir(), name)
		runTool(t, env, cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", "s3://"+s3Bucket+"/tls/"+name, back)
		if got, _ := os.ReadFile(back); !bytes.Equal(got, want) {
			t.Errorf("%s: the download differs", name)
		}
	}
	// s3.sluss.test resolves only inside the gateway: the client cannot
	// have gone around it, and the audit log shows the inspected uploads.
	if !strings.Contains(g.p.audit.String(), `"method":"PUT","path":"/`+s3Bucket+`/tls/multi","action":"encrypt"`) {
		t.Error("the audit log lacks the uploads")
	}
}

// TestS3HeadersPseudonymized: what a client says of an object in headers
// the provider keeps (Content-Disposition's file name, x-amz-tagging)
// goes as tokens, and comes back as the originals through the gateway.
func TestS3HeadersPseudonymized(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	g := startS3Gateway(t)
	pnr := testPersonnummer(3)
	disposition := `attachment; filename="` + pnr + ` Astrid Lindqvist.pdf"`
	resp := g.s3Request(t, "PUT", "/"+s3Bucket+"/headers/file", []byte("remiss"), g.cred(), func(r *http.Request) {
		r.Header.Set("Content-Disposition", disposition)
		r.Header.Set("X-Amz-Tagging", "patient="+pnr)
		s3.Sign(r, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
	})
	if body := readAll(resp); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	held := g.directHead(t, "headers/file").Get("Content-Disposition")
	if strings.Contains(held, pnr[2:8]) || strings.Contains(held, "Lindqvist") || held == "" {
		t.Errorf("the provider holds Content-Disposition %q", held)
	}
	resp = g.s3Request(t, "HEAD", "/"+s3Bucket+"/headers/file", nil, g.cred(), nil)
	resp.Body.Close()
	if got := resp.Header.Get("Content-Disposition"); got != disposition {
		t.Errorf("HEAD through the gateway: Content-Disposition %q, want %q", got, disposition)
	}
	direct, _ := http.NewRequest("GET", g.srv.URL+"/"+s3Bucket+"/headers/file?tagging", nil)
	s3.Sign(direct, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
	dresp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(direct)
	if err != nil {
		t.Fatal(err)
	}
	if tags := readAll(dresp); strings.Contains(tags, pnr[2:8]) || !strings.Contains(tags, "patient") {
		t.Errorf("the provider holds the tags %s", tags)
	}
	resp = g.s3Request(t, "GET", "/"+s3Bucket+"/headers/file?tagging", nil, g.cred(), nil)
	if tags := readAll(resp); !strings.Contains(tags, pnr) {
		t.Errorf("the tags through the gateway: %s", tags)
	}
	for _, log := range []string{g.p.audit.String(), g.p.stderr.String()} {
		if strings.Contains(log, pnr) || strings.Contains(log, "Lindqvist") {
			t.Error("a header's personal data is in the gateway's logs")
		}
	}
}

// TestS3QueryPseudonymized: query values that name things (a prefix, a
// response-content-disposition with a file name) reach the provider as
// tokens; the answer's headers come back with the originals.
func TestS3QueryPseudonymized(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	var mu sync.Mutex
	var seen []string
	g := startS3GatewayWith(t, s3Setup{front: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.URL.RawQuery)
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}})
	pnr := testPersonnummer(5)
	if resp := g.s3Request(t, "PUT", "/"+s3Bucket+"/q/file", []byte("brev"), g.cred(), nil); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, readAll(resp))
	}
	disposition := `attachment; filename="` + pnr + `.pdf"`
	resp := g.s3Request(t, "GET", "/"+s3Bucket+"/q/file?response-content-disposition="+url.QueryEscape(disposition), nil, g.cred(), nil)
	if body := readAll(resp); resp.StatusCode != 200 || body != "brev" || !strings.Contains(resp.Header.Get("Content-Disposition"), pnr+".pdf") {
		t.Errorf("GET with response-content-disposition: %d %q, Content-Disposition %q", resp.StatusCode, body, resp.Header.Get("Content-Disposition"))
	}
	resp = g.s3Request(t, "GET", "/"+s3Bucket+"?list-type=2&prefix="+url.QueryEscape("q/"+pnr), nil, g.cred(), nil)
	if resp.StatusCode != 200 {
		t.Errorf("ListObjectsV2 with a prefix: %d %s", resp.StatusCode, readAll(resp))
	}
	readAll(resp)
	mu.Lock()
	defer mu.Unlock()
	for _, q := range seen {
		if u, _ := url.QueryUnescape(q); strings.Contains(u, pnr) || strings.Contains(u, strings.ReplaceAll(pnr, "-", "")) {
			t.Errorf("the provider got a personnummer in a query: %s", u)
		}
	}
	if len(seen) < 3 {
		t.Errorf("the provider saw %d requests, want 3", len(seen))
	}
}
