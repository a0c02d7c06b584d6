package main

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/gateway/s3"
	"github.com/sluss/sluss/internal/s3test"
)

// s3Gateway is a versitygw that checks signatures and a real `sluss
// serve` with an s3 service in front of it, reached as s3.sluss.test (a
// name only the gateway resolves, so no client can go around it).
type s3Gateway struct {
	srv      *s3test.Server
	bin, dir string
	cfg      string
	p        *serveProc
	endpoint string // http://s3.sluss.test:PORT
	identity string // exported identity file, for age -d

	newConnEach bool // a connection per request (through a load balancer)
}

const s3Bucket = "region"

func startS3Gateway(t *testing.T) *s3Gateway {
	t.Helper()
	return startS3GatewayWith(t, s3Setup{})
}

func (g *s3Gateway) start(t *testing.T) {
	t.Helper()
	g.p = startServeBinary(t, g.bin, "--config", g.cfg, "--debug")
}

// clientEnv is what every client process gets: the proxy, the
// credentials, nothing of the developer's own settings.
func (g *s3Gateway) clientEnv(t *testing.T) []string {
	return append(s3test.CleanEnv(t),
		"HTTP_PROXY="+g.p.proxy, "http_proxy="+g.p.proxy, "NO_PROXY=", "no_proxy=",
		"AWS_ACCESS_KEY_ID="+g.srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+g.srv.SecretKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CA_BUNDLE=")
}

func runTool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkStored decrypts the object the server keeps for key with the
// real age CLI and compares it with want.
func (g *s3Gateway) checkStored(t *testing.T, key string, want []byte) {
	t.Helper()
	stored, err := os.ReadFile(g.srv.ObjectPath(s3Bucket, key))
	if err != nil {
		t.Fatalf("%s: not stored: %v", key, err)
	}
	if !crypto.IsEncrypted(stored) {
		t.Fatalf("%s: the server holds plaintext", key)
	}
	if len(want) > 64 && bytes.Contains(stored, want[:64]) {
		t.Fatalf("%s: the stored object contains plaintext", key)
	}
	age, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("the age CLI is not installed (test.sh installs it)")
	}
	out, err := exec.Command(age, "-d", "-i", g.identity, g.srv.ObjectPath(s3Bucket, key)).Output()
	if err != nil {
		t.Fatalf("%s: age -d: %v", key, err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("%s: age -d gives %d bytes that differ from the %d uploaded", key, len(out), len(want))
	}
}

func (g *s3Gateway) audited(t *testing.T, substr string) int {
	return strings.Count(g.p.audit.String(), substr)
}

func randomFile(t *testing.T, dir, name string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

const mib = 1 << 20

// s3Sizes are the files every client uploads: empty, small, at aws's
// multipart threshold, 64 MiB in 8 MiB parts (the last part full), and
// 100 MiB (the last part short).
var s3Sizes = map[string]int{"empty": 0, "one": mib, "eight": 8 * mib, "sixtyfour": 64 * mib, "hundred": 100 * mib}

func s3Files(t *testing.T) (string, map[string][]byte) {
	src := t.TempDir()
	files := map[string][]byte{}
	for name, size := range s3Sizes {
		files[name] = randomFile(t, src, name, size)
	}
	return src, files
}

func TestS3AWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3 with large files")
	}
	cl := s3test.FindClients(t)
	g := startS3Gateway(t)
	env := g.clientEnv(t)
	src, files := s3Files(t)
	aws := func(args ...string) string {
		return runTool(t, env, cl.AWS, append([]string{"--endpoint-url", g.endpoint}, args...)...)
	}
	for name := range files {
		aws("s3", "cp", filepath.Join(src, name), "s3://"+s3Bucket+"/aws/"+name)
	}
	for name, want := range files {
		g.checkStored(t, "aws/"+name, want)
	}
	back := t.TempDir()
	for name, want := range files {
		aws("s3", "cp", "s3://"+s3Bucket+"/aws/"+name, filepath.Join(back, name))
		got, _ := os.ReadFile(filepath.Join(back, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: downloaded %d bytes differ from the %d uploaded", name, len(got), len(want))
		}
	}
	// sync: the first run uploads, the second finds nothing to do.
	aws("s3", "sync", src, "s3://"+s3Bucket+"/sync/")
	if again := aws("s3", "sync", src, "s3://"+s3Bucket+"/sync/"); strings.TrimSpace(again) != "" {
		t.Errorf("a second aws s3 sync transferred again:\n%s", again)
	}
	ls := aws("s3", "ls", "s3://"+s3Bucket+"/aws/")
	for name, want := range files {
		if !strings.Contains(ls, fmt.Sprintf(" %d %s", len(want), name)) {
			t.Errorf("aws s3 ls does not list %s with its plaintext size %d:\n%s", name, len(want), ls)
		}
	}
	if n := g.audited(t, `"action":"encrypt"`); n < len(files) {
		t.Errorf("the audit log has %d encrypt events, want at least %d", n, len(files))
	}
}

func TestS3Rclone(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3 with large files")
	}
	cl := s3test.FindClients(t)
	g := startS3Gateway(t)
	env := g.clientEnv(t)
	src, files := s3Files(t)
	remote := ":s3,provider=Other,env_auth=true,endpoint='" + g.endpoint + "':" + s3Bucket + "/rclone"
	rclone := func(args ...string) string {
		return runTool(t, env, cl.Rclone, append([]string{"--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M",
			"--s3-upload-concurrency", "8", "--low-level-retries", "2", "--retries", "1"}, args...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("audit:\n%s\nstderr:\n%s", g.p.audit, g.p.stderr)
		}
	})
	rclone("copy", src, remote)
	for name, want := range files {
		g.checkStored(t, "rclone/"+name, want)
	}
	rclone("check", src, remote)
	back := t.TempDir()
	rclone("copy", remote, back)
	for name, want := range files {
		got, _ := os.ReadFile(filepath.Join(back, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: downloaded %d bytes differ from the %d uploaded", name, len(got), len(want))
		}
	}
	if out := rclone("copy", "-v", src, remote); !strings.Contains(out, "Unchanged skipping") && strings.Contains(out, "Copied") {
		t.Errorf("a second rclone copy transferred again:\n%s", out)
	}
	if g.audited(t, `"action":"encrypt"`) < len(files) {
		t.Error("the audit log lacks the uploads")
	}
}

func TestS3s3cmd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3 with large files")
	}
	cl := s3test.FindClients(t)
	g := startS3Gateway(t)
	env := g.clientEnv(t)
	src, files := s3Files(t)
	cfg := g.s3cmdConfig(t)
	s3cmd := func(args ...string) string {
		return runTool(t, env, cl.S3cmd, append([]string{"-c", cfg}, args...)...)
	}
	for name := range files {
		s3cmd("put", filepath.Join(src, name), "s3://"+s3Bucket+"/s3cmd/"+name)
	}
	for name, want := range files {
		g.checkStored(t, "s3cmd/"+name, want)
	}
	back := t.TempDir()
	for name, want := range files {
		s3cmd("get", "s3://"+s3Bucket+"/s3cmd/"+name, filepath.Join(back, name))
		got, _ := os.ReadFile(filepath.Join(back, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: downloaded %d bytes differ from the %d uploaded", name, len(got), len(want))
		}
	}
	s3cmd("sync", src+"/", "s3://"+s3Bucket+"/s3cmd-sync/")
	if out := s3cmd("sync", src+"/", "s3://"+s3Bucket+"/s3cmd-sync/"); strings.Contains(out, "upload:") {
		t.Errorf("a second s3cmd sync uploaded again:\n%s", out)
	}
	if g.audited(t, `"action":"encrypt"`) < len(files) {
		t.Error("the audit log lacks the uploads")
	}
}

// s3cmdConfig writes an s3cmd configuration for the gateway (path-style,
// through the proxy, 8 MiB parts) and returns its path.
func (g *s3Gateway) s3cmdConfig(t *testing.T) string {
	t.Helper()
	proxy, _ := url.Parse(g.p.proxy)
	host := strings.TrimPrefix(g.endpoint, "http://")
	cfg := filepath.Join(t.TempDir(), "s3cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
use_https = False
proxy_host = %s
proxy_port = %s
multipart_chunk_size_mb = 8
signature_v2 = False
`, g.srv.AccessKey, g.srv.SecretKey, host, host, proxy.Hostname(), proxy.Port())), 0o600)
	return cfg
}

// s3Request sends a request signed by the gateway package's own signer
// through the gateway.
func (g *s3Gateway) s3Request(t *testing.T, method, path string, body []byte, cred s3.Credentials, sign func(*http.Request)) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, g.endpoint+path, bytes.NewReader(body))
	if body == nil {
		req.Body = http.NoBody
	}
	hash := s3.UnsignedPayload
	if sign != nil {
		sign(req)
	} else if err := s3.Sign(req, cred, "us-east-1", hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	proxy, _ := url.Parse(g.p.proxy)
	// Behind a load balancer, each request on a connection of its own
	// may reach another gateway.
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: g.newConnEach}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}

var s3CodeRE = regexp.MustCompile(`<Code>([^<]+)</Code>`)

func s3Code(body string) string {
	if m := s3CodeRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

func (g *s3Gateway) cred() s3.Credentials {
	return s3.Credentials{AccessKeyID: g.srv.AccessKey, Secret: g.srv.SecretKey}
}

func (g *s3Gateway) notStored(t *testing.T, key string) {
	t.Helper()
	if _, err := os.Stat(g.srv.ObjectPath(s3Bucket, key)); err == nil {
		t.Errorf("%s was stored", key)
	}
}

// createUpload starts a multipart upload with signed requests of the
// test's own and returns its id.
func (g *s3Gateway) createUpload(t *testing.T, key string) string {
	t.Helper()
	resp := g.s3Request(t, "POST", "/"+s3Bucket+"/"+key+"?uploads=", nil, g.cred(), nil)
	body := readAll(resp)
	m := regexp.MustCompile(`<UploadId>([^<]+)</UploadId>`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("CreateMultipartUpload: %d %s", resp.StatusCode, body)
	}
	return m[1]
}

func (g *s3Gateway) putPart(t *testing.T, key, upload string, n int, data []byte) (int, string, string) {
	t.Helper()
	resp := g.s3Request(t, "PUT", fmt.Sprintf("/%s/%s?partNumber=%d&uploadId=%s", s3Bucket, key, n, url.QueryEscape(upload)), data, g.cred(), nil)
	body := readAll(resp)
	return resp.StatusCode, resp.Header.Get("Etag"), body
}

func (g *s3Gateway) complete(t *testing.T, key, upload string, etags ...string) (int, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	b.WriteString("</CompleteMultipartUpload>")
	resp := g.s3Request(t, "POST", "/"+s3Bucket+"/"+key+"?uploadId="+url.QueryEscape(upload), []byte(b.String()), g.cred(), nil)
	return resp.StatusCode, readAll(resp)
}

// TestS3Refusals: requests the gateway must refuse with S3's own errors,
// storing nothing: a wrong secret, an unknown key, an expired presigned
// URL, a part sent again with other content.
func TestS3Refusals(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	g := startS3Gateway(t)
	data := make([]byte, 100)
	rand.Read(data)

	for _, tc := range []struct {
		name string
		cred s3.Credentials
		code string
	}{
		{"wrong secret", s3.Credentials{AccessKeyID: g.srv.AccessKey, Secret: "not-the-secret"}, "SignatureDoesNotMatch"},
		{"unknown key", s3.Credentials{AccessKeyID: "AKIANOTKNOWN", Secret: g.srv.SecretKey}, "InvalidAccessKeyId"},
	} {
		key := "refused/" + strings.ReplaceAll(tc.name, " ", "-")
		resp := g.s3Request(t, "PUT", "/"+s3Bucket+"/"+key, data, tc.cred, nil)
		body := readAll(resp)
		if resp.StatusCode != 403 || s3Code(body) != tc.code {
			t.Errorf("%s: %d %s, want 403 %s", tc.name, resp.StatusCode, body, tc.code)
		}
		g.notStored(t, key)
	}
	unsigned, _ := http.NewRequest("GET", g.endpoint+"/"+s3Bucket+"/x", nil)
	proxy, _ := url.Parse(g.p.proxy)
	pc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	if resp, err := pc.Do(unsigned); err != nil || resp.StatusCode != 403 || s3Code(readAll(resp)) != "AccessDenied" {
		t.Errorf("an unsigned request was not refused with AccessDenied")
	}

	// Presigned GET: valid, then expired.
	if resp := g.s3Request(t, "PUT", "/"+s3Bucket+"/presigned", data, g.cred(), nil); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, readAll(resp))
	}
	env := g.clientEnv(t)
	presign := func(expires string) string {
		return strings.TrimSpace(runTool(t, env, cl.AWS, "--endpoint-url", g.endpoint, "s3", "presign", "s3://"+s3Bucket+"/presigned", "--expires-in", expires))
	}
	resp, err := pc.Get(presign("300"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(resp); resp.StatusCode != 200 || got != string(data) {
		t.Errorf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
	}
	expired := presign("1")
	time.Sleep(2 * time.Second)
	resp, err = pc.Get(expired)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(resp); resp.StatusCode != 403 || s3Code(body) != "AccessDenied" {
		t.Errorf("expired presigned GET: %d %s", resp.StatusCode, body)
	}

	// A part sent again with other content is refused before anything of
	// it is sealed; the upload completes with the first content.
	key := "refused/resent"
	up := g.createUpload(t, key)
	part1 := make([]byte, 5*mib)
	rand.Read(part1)
	status, etag1, body := g.putPart(t, key, up, 1, part1)
	if status != 200 {
		t.Fatalf("part 1: %d %s", status, body)
	}
	other := bytes.Clone(part1)
	other[3*mib] ^= 1
	if status, _, body := g.putPart(t, key, up, 1, other); status != 400 || s3Code(body) != "InvalidRequest" {
		t.Errorf("part 1 sent again with other content: %d %s", status, body)
	}
	if status, etag, _ := g.putPart(t, key, up, 1, part1); status != 200 || etag != etag1 {
		t.Errorf("part 1 sent again with the same content: %d %s", status, etag)
	}
	part2 := []byte("the end")
	status, etag2, body := g.putPart(t, key, up, 2, part2)
	if status != 200 {
		t.Fatalf("part 2: %d %s", status, body)
	}
	if status, body := g.complete(t, key, up, etag1, etag2); status != 200 {
		t.Fatalf("complete: %d %s", status, body)
	}
	g.checkStored(t, key, append(bytes.Clone(part1), part2...))
	if !strings.Contains(g.p.audit.String(), `"action":"deny"`) {
		t.Error("the refusals are not in the audit log")
	}
}

// TestS3RestartAndRanges: the gateway is killed in the middle of a
// multipart upload and started again; the upload completes, and range
// reads across chunk and part boundaries give the plaintext bytes.
func TestS3RestartAndRanges(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	g := startS3Gateway(t)
	key := "restart/file"
	up := g.createUpload(t, key)
	part1, part2 := make([]byte, 5*mib), make([]byte, mib+123)
	rand.Read(part1)
	rand.Read(part2)
	status, etag1, body := g.putPart(t, key, up, 1, part1)
	if status != 200 {
		t.Fatalf("part 1: %d %s", status, body)
	}
	g.p.cmd.Process.Kill()
	<-g.p.exited
	g.start(t)
	status, etag2, body := g.putPart(t, key, up, 2, part2)
	if status != 200 {
		t.Fatalf("part 2 after the restart: %d %s", status, body)
	}
	if status, body := g.complete(t, key, up, etag1, etag2); status != 200 {
		t.Fatalf("complete after the restart: %d %s", status, body)
	}
	want := append(bytes.Clone(part1), part2...)
	g.checkStored(t, key, want)
	chunk, part := int64(crypto.ChunkSize), int64(len(part1))
	size := int64(len(want))
	for _, r := range [][2]int64{{0, 0}, {chunk - 1, chunk}, {chunk, 2*chunk - 1}, {part - 1, part}, {part - 10, part + chunk + 10}, {size - 1, size - 1}, {0, size - 1}} {
		resp := g.s3Request(t, "GET", "/"+s3Bucket+"/"+key, nil, g.cred(), func(req *http.Request) {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
			s3.Sign(req, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
		})
		got := readAll(resp)
		if resp.StatusCode != 206 || got != string(want[r[0]:r[1]+1]) {
			t.Errorf("range %d-%d: %d, %d bytes, want %d", r[0], r[1], resp.StatusCode, len(got), r[1]-r[0]+1)
		}
	}
	// By part number: the client's parts, not the provider's.
	for n, want := range [][]byte{part1, part2} {
		resp := g.s3Request(t, "GET", fmt.Sprintf("/%s/%s?partNumber=%d", s3Bucket, key, n+1), nil, g.cred(), nil)
		if got := readAll(resp); resp.StatusCode/100 != 2 || got != string(want) || resp.Header.Get("X-Amz-Mp-Parts-Count") != "2" {
			t.Errorf("GET part %d: %d, %d bytes, parts count %q", n+1, resp.StatusCode, len(got), resp.Header.Get("X-Amz-Mp-Parts-Count"))
		}
		resp = g.s3Request(t, "HEAD", fmt.Sprintf("/%s/%s?partNumber=%d", s3Bucket, key, n+1), nil, g.cred(), nil)
		resp.Body.Close()
		if resp.ContentLength != int64(len(want)) {
			t.Errorf("HEAD part %d: %d bytes, want %d", n+1, resp.ContentLength, len(want))
		}
	}
	if resp := g.s3Request(t, "GET", "/"+s3Bucket+"/"+key+"?partNumber=3", nil, g.cred(), nil); resp.StatusCode != 416 {
		t.Errorf("GET part 3 of 2: %d", resp.StatusCode)
	}
	resp := g.s3Request(t, "HEAD", "/"+s3Bucket+"/"+key, nil, g.cred(), nil)
	resp.Body.Close()
	if resp.ContentLength != size || !strings.HasSuffix(resp.Header.Get("Etag"), `-2"`) {
		t.Errorf("HEAD: %d bytes, ETag %s; want %d and a two-part ETag", resp.ContentLength, resp.Header.Get("Etag"), size)
	}
}

// vmKiB reads a line (VmRSS, VmHWM) of /proc/PID/status, in KiB.
func vmKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	m := regexp.MustCompile(field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	var n int64
	fmt.Sscan(string(m[1]), &n)
	return n
}

// TestS3MemoryFlat: a 1 GiB multipart upload, 8 parts in flight at a
// time, grows the gateway's peak RSS by less than 100 MiB.
func TestS3MemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1 GiB")
	}
	cl := s3test.FindClients(t)
	g := startS3Gateway(t)
	env := g.clientEnv(t)
	cfg := filepath.Join(t.TempDir(), "aws-config")
	os.WriteFile(cfg, []byte("[default]\ns3 =\n  max_concurrent_requests = 8\n  multipart_chunksize = 8MB\n"), 0o600)
	env = append(env, "AWS_CONFIG_FILE="+cfg)
	src := t.TempDir()
	randomFile(t, src, "warm", 9*mib)
	runTool(t, env, cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", filepath.Join(src, "warm"), "s3://"+s3Bucket+"/mem/warm")
	f, err := os.Create(filepath.Join(src, "big"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, mib)
	for range 1024 {
		rand.Read(buf)
		f.Write(buf)
	}
	f.Close()
	pid := g.p.cmd.Process.Pid
	before := vmKiB(t, pid, "VmRSS")
	runTool(t, env, cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", filepath.Join(src, "big"), "s3://"+s3Bucket+"/mem/big")
	peak := vmKiB(t, pid, "VmHWM")
	t.Logf("gateway RSS before %d MiB, peak during a 1 GiB upload %d MiB", before>>10, peak>>10)
	if growth := peak - before; growth > 100<<10 {
		t.Errorf("peak RSS grew by %d MiB during a 1 GiB upload, want < 100", growth>>10)
	}
	if st, err := os.Stat(g.srv.ObjectPath(s3Bucket, "mem/big")); err != nil || st.Size() < 1<<30 {
		t.Fatalf("the 1 GiB object was not stored: %v", err)
	}
	if g.audited(t, `"method":"PUT","path":"/region/mem/big"`) < 128 {
		t.Errorf("the audit log has fewer than 128 part uploads")
	}
}

// TestS3ObjectKeysPseudonymized: a personnummer in an object key goes
// upstream as a token, is listed and read back by its real name through
// the gateway, and appears in no log.
func TestS3ObjectKeysPseudonymized(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	g := startS3Gateway(t)
	env := g.clientEnv(t)
	pnr := testPersonnummer(7)
	src := t.TempDir()
	data := randomFile(t, src, "journal.txt", 200_000)
	key := "journal/" + pnr + ".txt"
	aws := func(args ...string) string {
		return runTool(t, env, cl.AWS, append([]string{"--endpoint-url", g.endpoint}, args...)...)
	}
	aws("s3", "cp", filepath.Join(src, "journal.txt"), "s3://"+s3Bucket+"/"+key)
	entries, err := os.ReadDir(filepath.Join(g.srv.Dir, s3Bucket, "journal"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("the server holds %d objects under journal/ (%v), want 1", len(entries), err)
	}
	stored := entries[0].Name()
	if strings.Contains(stored, pnr) || strings.Contains(stored, strings.ReplaceAll(pnr, "-", "")) {
		t.Fatalf("the personnummer went upstream in the key: %s", stored)
	}
	g.checkStored(t, "journal/"+stored, data)
	if ls := aws("s3", "ls", "s3://"+s3Bucket+"/journal/"); !strings.Contains(ls, pnr+".txt") {
		t.Errorf("the listing does not show the real name:\n%s", ls)
	}
	back := filepath.Join(t.TempDir(), "back")
	aws("s3", "cp", "s3://"+s3Bucket+"/"+key, back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Error("the object read back by its real name differs")
	}
	// Tags go as tokens and come back as the originals; the object's
	// attributes are the plaintext's.
	aws("s3api", "put-object-tagging", "--bucket", s3Bucket, "--key", key, "--tagging", "TagSet=[{Key=patient,Value="+pnr+"}]")
	if tags := aws("s3api", "get-object-tagging", "--bucket", s3Bucket, "--key", key); !strings.Contains(tags, pnr) {
		t.Errorf("the tag does not come back with its original value:\n%s", tags)
	}
	attrs := aws("s3api", "get-object-attributes", "--bucket", s3Bucket, "--key", key, "--object-attributes", "ETag", "ObjectSize", "Checksum", "ObjectParts")
	if !strings.Contains(attrs, fmt.Sprintf(`"ObjectSize": %d`, len(data))) || !strings.Contains(attrs, md5hex(data)) {
		t.Errorf("GetObjectAttributes does not give the plaintext's size and ETag:\n%s", attrs)
	}
	// A copy on the provider is the same age file, listed and read by its
	// real name; conditional reads take the ETag the client knows.
	aws("s3", "cp", "s3://"+s3Bucket+"/"+key, "s3://"+s3Bucket+"/copy/"+pnr+".txt")
	if ls := aws("s3", "ls", "s3://"+s3Bucket+"/copy/"); !strings.Contains(ls, fmt.Sprintf(" %d %s.txt", len(data), pnr)) {
		t.Errorf("the copy is not listed with its name and plaintext size:\n%s", ls)
	}
	copyBack := filepath.Join(t.TempDir(), "copy")
	aws("s3", "cp", "s3://"+s3Bucket+"/copy/"+pnr+".txt", copyBack)
	if got, _ := os.ReadFile(copyBack); !bytes.Equal(got, data) {
		t.Error("the copy differs")
	}
	etag := `"` + md5hex(data) + `"`
	for _, tc := range []struct {
		header string
		status int
	}{{"If-None-Match", 304}, {"If-Match", 200}} {
		resp := g.s3Request(t, "GET", "/"+s3Bucket+"/"+url.PathEscape("journal")+"/"+pnr+".txt", nil, g.cred(), func(r *http.Request) {
			r.Header.Set(tc.header, etag)
			s3.Sign(r, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
		})
		readAll(resp)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: the client's ETag: %d, want %d", tc.header, resp.StatusCode, tc.status)
		}
	}
	// DeleteObjects names the keys by their real names; the tokens go.
	aws("s3api", "delete-objects", "--bucket", s3Bucket, "--delete", `{"Objects":[{"Key":"`+key+`"}]}`)
	aws("s3", "rm", "--recursive", "s3://"+s3Bucket+"/copy/")
	for _, dir := range []string{"journal", "copy"} {
		if left, _ := os.ReadDir(filepath.Join(g.srv.Dir, s3Bucket, dir)); len(left) != 0 {
			t.Errorf("deleting left %d objects under %s/", len(left), dir)
		}
	}
	for _, log := range []string{g.p.audit.String(), g.p.stderr.String()} {
		if strings.Contains(log, pnr) || strings.Contains(log, strings.ReplaceAll(pnr, "-", "")[2:]) {
			t.Fatal("the personnummer is in the gateway's logs")
		}
	}
	if !strings.Contains(g.p.audit.String(), `"path":"/region/journal/`) {
		t.Error("the audit log does not show the upload")
	}
}

// TestS3MultipartEdges: the hard cases of multipart uploads, each either
// one age file at the end or refused with an S3 error before anything of
// it is stored.
func TestS3MultipartEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	g := startS3Gateway(t)
	part := func(n int) []byte {
		b := make([]byte, 5*mib)
		rand.Read(b)
		return b
	}
	code := func(status int, body string) string { return fmt.Sprintf("%d %s", status, s3Code(body)) }

	t.Run("out of order and concurrent, last part full", func(t *testing.T) {
		key := "edges/concurrent"
		up := g.createUpload(t, key)
		parts := [][]byte{part(1), part(2), part(3)}
		etags := make([]string, 3)
		errs := make(chan string, 3)
		for _, n := range []int{3, 1, 2} {
			go func() {
				status, etag, body := g.putPart(t, key, up, n, parts[n-1])
				etags[n-1] = etag
				if status != 200 {
					errs <- fmt.Sprintf("part %d: %d %s", n, status, body)
					return
				}
				errs <- ""
			}()
		}
		for range 3 {
			if e := <-errs; e != "" {
				t.Fatal(e)
			}
		}
		if status, body := g.complete(t, key, up, etags...); status != 200 {
			t.Fatalf("complete: %d %s", status, body)
		}
		g.checkStored(t, key, bytes.Join(parts, nil))
	})

	t.Run("whole-object checksum on complete", func(t *testing.T) {
		// Newer SDKs send the whole object's CRC64NVME with Complete: it
		// says nothing of the XML body, and the upload completes.
		key := "edges/full-object-checksum"
		up := g.createUpload(t, key)
		data := []byte("one part, the whole object")
		status, etag, body := g.putPart(t, key, up, 1, data)
		if status != 200 {
			t.Fatalf("part 1: %d %s", status, body)
		}
		doc := "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + etag + "</ETag></Part></CompleteMultipartUpload>"
		resp := g.s3Request(t, "POST", "/"+s3Bucket+"/"+key+"?uploadId="+url.QueryEscape(up), []byte(doc), g.cred(), func(r *http.Request) {
			r.Header.Set("X-Amz-Checksum-Crc64nvme", "AAAAAAAAAAA=")
			r.Header.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
			s3.Sign(r, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
		})
		if got := readAll(resp); resp.StatusCode != 200 {
			t.Fatalf("complete: %d %s", resp.StatusCode, got)
		}
		g.checkStored(t, key, data)
	})

	t.Run("uneven parts refused", func(t *testing.T) {
		key := "edges/uneven"
		up := g.createUpload(t, key)
		if status, _, body := g.putPart(t, key, up, 1, part(1)); status != 200 {
			t.Fatalf("part 1: %d %s", status, body)
		}
		if got := code2(g.putPart(t, key, up, 2, make([]byte, 6*mib))); got != "400 InvalidRequest" {
			t.Errorf("a part larger than part 1: %s", got)
		}
		if status, _, body := g.putPart(t, key, up, 2, []byte("short")); status != 200 {
			t.Fatalf("a short part 2: %d %s", status, body)
		}
		if got := code2(g.putPart(t, key, up, 3, part(3))); got != "400 InvalidRequest" {
			t.Errorf("a part after a short one: %s", got)
		}
		if status, body := g.complete(t, key, up, `"x"`, `"y"`, `"z"`); code(status, body) != "400 InvalidPart" {
			t.Errorf("complete with parts that were not uploaded: %s", code(status, body))
		}
		g.notStored(t, key)
	})

	t.Run("part 1 not a multiple of 64 KiB", func(t *testing.T) {
		key := "edges/odd"
		up := g.createUpload(t, key)
		if status, _, body := g.putPart(t, key, up, 1, make([]byte, 5*mib+1)); status != 200 {
			t.Fatalf("part 1: %d %s", status, body)
		}
		if got := code2(g.putPart(t, key, up, 2, []byte("x"))); got != "400 InvalidRequest" {
			t.Errorf("part 2 after an odd part 1: %s", got)
		}
	})

	t.Run("gaps, copies and aborts", func(t *testing.T) {
		key := "edges/gap"
		up := g.createUpload(t, key)
		p1 := part(1)
		_, e1, _ := g.putPart(t, key, up, 1, p1)
		_, e3, _ := g.putPart(t, key, up, 3, []byte("three"))
		var b strings.Builder
		fmt.Fprintf(&b, "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part><Part><PartNumber>3</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>", e1, e3)
		resp := g.s3Request(t, "POST", "/"+s3Bucket+"/"+key+"?uploadId="+url.QueryEscape(up), []byte(b.String()), g.cred(), nil)
		if got := code(resp.StatusCode, readAll(resp)); got != "400 InvalidPart" {
			t.Errorf("complete with a gap: %s", got)
		}
		resp = g.s3Request(t, "PUT", fmt.Sprintf("/%s/%s?partNumber=2&uploadId=%s", s3Bucket, key, url.QueryEscape(up)), nil, g.cred(), func(r *http.Request) {
			r.Header.Set("X-Amz-Copy-Source", "/"+s3Bucket+"/edges/concurrent")
			s3.Sign(r, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
		})
		if got := code(resp.StatusCode, readAll(resp)); got != "501 NotImplemented" {
			t.Errorf("UploadPartCopy: %s", got)
		}
		resp = g.s3Request(t, "DELETE", "/"+s3Bucket+"/"+key+"?uploadId="+url.QueryEscape(up), nil, g.cred(), nil)
		if resp.StatusCode != 204 {
			t.Errorf("abort: %d %s", resp.StatusCode, readAll(resp))
		}
		resp = g.s3Request(t, "GET", "/"+s3Bucket+"/"+key+"?uploadId="+url.QueryEscape(up), nil, g.cred(), nil)
		if got := code(resp.StatusCode, readAll(resp)); got != "404 NoSuchUpload" {
			t.Errorf("ListParts after abort: %s", got)
		}
		if got := code2(g.putPart(t, key, up, 2, []byte("late"))); got != "404 NoSuchUpload" {
			t.Errorf("a part after abort: %s", got)
		}
		g.notStored(t, key)
	})

	t.Run("digests", func(t *testing.T) {
		data := []byte("the plaintext the client promised")
		put := func(key, header, value string) (int, string, http.Header) {
			resp := g.s3Request(t, "PUT", "/"+s3Bucket+"/"+key, data, g.cred(), func(r *http.Request) {
				r.Header.Set(header, value)
				s3.Sign(r, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
			})
			return resp.StatusCode, readAll(resp), resp.Header
		}
		if status, body, _ := put("edges/bad-md5", "Content-Md5", "1B2M2Y8AsgTpgAmY7PhCfg=="); code(status, body) != "400 BadDigest" {
			t.Errorf("a wrong Content-MD5: %s", code(status, body))
		}
		g.notStored(t, "edges/bad-md5")
		if status, body, _ := put("edges/bad-crc", "X-Amz-Checksum-Crc32", "AAAAAA=="); code(status, body) != "400 BadDigest" {
			t.Errorf("a wrong x-amz-checksum-crc32: %s", code(status, body))
		}
		g.notStored(t, "edges/bad-crc")
		sum := md5sum(data)
		status, body, h := put("edges/good-md5", "Content-Md5", sum)
		if status != 200 {
			t.Fatalf("a right Content-MD5: %d %s", status, body)
		}
		g.checkStored(t, "edges/good-md5", data)
		raw, _ := os.ReadFile(g.srv.ObjectPath(s3Bucket, "edges/good-md5"))
		if strings.Trim(h.Get("Etag"), `"`) != md5hex(data) || md5hex(raw) == md5hex(data) {
			t.Errorf("the client's ETag is %s, want the plaintext's MD5", h.Get("Etag"))
		}
	})

	t.Run("an XML object is the client's own", func(t *testing.T) {
		// It looks like a listing, and is larger than any answer the
		// gateway rewrites: it comes back byte for byte.
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0"?><ListBucketResult>`)
		for b.Len() < 33*mib {
			fmt.Fprintf(&b, "<Contents><Key>edges/xml</Key><ETag>&quot;%s&quot;</ETag><Size>1</Size></Contents>", md5hex(b.Bytes()[:b.Len()%1000]))
		}
		b.WriteString("</ListBucketResult>")
		data := b.Bytes()
		resp := g.s3Request(t, "PUT", "/"+s3Bucket+"/edges/xml", data, g.cred(), func(r *http.Request) {
			r.Header.Set("Content-Type", "application/xml")
			s3.Sign(r, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
		})
		if resp.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, readAll(resp))
		}
		readAll(resp)
		resp = g.s3Request(t, "GET", "/"+s3Bucket+"/edges/xml", nil, g.cred(), nil)
		if got := readAll(resp); resp.StatusCode != 200 || got != string(data) {
			t.Errorf("GET of an XML object: %d, %d bytes of %d, equal %v", resp.StatusCode, len(got), len(data), got == string(data))
		}
	})

	t.Run("browser POST upload refused", func(t *testing.T) {
		body := "--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nedges/form\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nplaintext\r\n--b--\r\n"
		resp := g.s3Request(t, "POST", "/"+s3Bucket, []byte(body), g.cred(), func(r *http.Request) {
			r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
			s3.Sign(r, g.cred(), "us-east-1", s3.UnsignedPayload, time.Now())
		})
		if got := code(resp.StatusCode, readAll(resp)); got != "501 NotImplemented" {
			t.Errorf("POST Object: %s", got)
		}
		g.notStored(t, "edges/form")
	})
}

func code2(status int, _ string, body string) string {
	return fmt.Sprintf("%d %s", status, s3Code(body))
}

func md5sum(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestS3MinioGo: minio-go signs its bodies in aws-chunked streaming form
// over http, with trailing checksums when asked, and uploads in 16 MiB
// parts, in parallel.
func TestS3MinioGo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	g := startS3Gateway(t)
	proxy, _ := url.Parse(g.p.proxy)
	mc, err := minio.New(strings.TrimPrefix(g.endpoint, "http://"), &minio.Options{
		Creds:           credentials.NewStaticV4(g.srv.AccessKey, g.srv.SecretKey, ""),
		Transport:       &http.Transport{Proxy: http.ProxyURL(proxy)},
		BucketLookup:    minio.BucketLookupPath,
		Region:          "us-east-1",
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		size int
		opts minio.PutObjectOptions
	}{
		{"small", 300_000, minio.PutObjectOptions{UserMetadata: map[string]string{"note": "kept"}}},
		{"checksummed", 200_000, minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}},
		{"multipart", 40 * mib, minio.PutObjectOptions{PartSize: 16 * mib, NumThreads: 3}},
		{"multipart-checksummed", 33 * mib, minio.PutObjectOptions{PartSize: 16 * mib, NumThreads: 2, Checksum: minio.ChecksumCRC32C}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			rand.Read(data)
			key := "minio/" + tc.name
			if _, err := mc.PutObject(ctx, s3Bucket, key, bytes.NewReader(data), int64(len(data)), tc.opts); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			g.checkStored(t, key, data)
			st, err := mc.StatObject(ctx, s3Bucket, key, minio.StatObjectOptions{})
			if err != nil || st.Size != int64(len(data)) {
				t.Fatalf("StatObject: %v, size %d, want %d", err, st.Size, len(data))
			}
			if _, ok := tc.opts.UserMetadata["note"]; ok && st.UserMetadata["Note"] != "kept" {
				t.Errorf("metadata note: %q, want %q", st.UserMetadata["Note"], "kept")
			}
			obj, err := mc.GetObject(ctx, s3Bucket, key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("GetObject: %v, %d bytes", err, len(got))
			}
			var ro minio.GetObjectOptions
			lo, hi := tc.size/2, min(tc.size/2+100_000, tc.size-1)
			ro.SetRange(int64(lo), int64(hi))
			obj, err = mc.GetObject(ctx, s3Bucket, key, ro)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data[lo:hi+1]) {
				t.Fatalf("ranged GetObject: %v, %d bytes", err, len(got))
			}
		})
	}
	for o := range mc.ListObjects(ctx, s3Bucket, minio.ListObjectsOptions{Prefix: "minio/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		st, _ := os.Stat(g.srv.ObjectPath(s3Bucket, o.Key))
		if st == nil || o.Size >= st.Size() {
			t.Errorf("%s listed with %d bytes, not its plaintext size", o.Key, o.Size)
		}
	}
	if !strings.Contains(g.p.audit.String(), `"path":"/region/minio/multipart"`) {
		t.Error("the audit log lacks minio-go's requests")
	}
}

// TestS3Interrupted: each client is killed in the middle of a multipart
// upload and run again: aws and rclone start a new upload, s3cmd
// --continue-put resumes the old one (ListParts tells it which parts are
// there, by the ETags it knows). Either way the object is one age file.
func TestS3Interrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end S3")
	}
	cl := s3test.FindClients(t)
	g := startS3Gateway(t)
	env := g.clientEnv(t)
	src := t.TempDir()
	data := randomFile(t, src, "big", 64*mib)
	file := filepath.Join(src, "big")
	awsCfg := filepath.Join(t.TempDir(), "aws-config")
	os.WriteFile(awsCfg, []byte("[default]\ns3 =\n  max_bandwidth = 16MB/s\n"), 0o600)
	s3cfg := g.s3cmdConfig(t)
	remote := ":s3,provider=Other,env_auth=true,endpoint='" + g.endpoint + "':" + s3Bucket + "/int/rclone"
	for _, tc := range []struct {
		name  string
		key   string
		first []string
		again []string
	}{
		{"aws", "int/aws", []string{cl.AWS, "--endpoint-url", g.endpoint, "s3", "cp", file, "s3://" + s3Bucket + "/int/aws"}, nil},
		{"rclone", "int/rclone/big", []string{cl.Rclone, "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M", "--bwlimit", "16M", "copyto", file, remote + "/big"}, nil},
		{"s3cmd", "int/s3cmd", []string{cl.S3cmd, "-c", s3cfg, "--limit-rate=16m", "put", file, "s3://" + s3Bucket + "/int/s3cmd"},
			[]string{cl.S3cmd, "-c", s3cfg, "--continue-put", "put", file, "s3://" + s3Bucket + "/int/s3cmd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := append(append([]string(nil), env...), "AWS_CONFIG_FILE="+awsCfg)
			mark := fmt.Sprintf(`"method":"PUT","path":"/%s/%s"`, s3Bucket, tc.key)
			before := g.audited(t, mark)
			cmd := exec.Command(tc.first[0], tc.first[1:]...)
			cmd.Env = e
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			interrupted := false
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if g.audited(t, mark)-before >= 2 {
					cmd.Process.Kill()
					interrupted = true
					break
				}
				select {
				case err := <-done:
					t.Fatalf("the first upload ended before it could be interrupted: %v", err)
				default:
				}
			}
			<-done
			if !interrupted {
				t.Fatal("the first upload sent no parts")
			}
			again := tc.again
			if again == nil {
				again = tc.first
			}
			runTool(t, e, again[0], again[1:]...)
			g.checkStored(t, tc.key, data)
			if tc.again != nil {
				// Resumed: one CreateMultipartUpload and one Complete in
				// all, no second upload.
				posts := fmt.Sprintf(`"method":"POST","path":"/%s/%s"`, s3Bucket, tc.key)
				if n := g.audited(t, posts); n != 2 {
					t.Errorf("%d POSTs for the object, want 2 (create, then complete after resuming)", n)
				}
			}
		})
	}
}
