package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluss/sluss/crypto"
)

// The tus tests run a real tusd (file store) behind a real `sluss serve`
// with a tus service, reached over HTTPS as tus.example.test (a name only
// the gateway resolves), and real tus-js-client in Node as the client.
// test.sh installs tusd and tus-js-client and sets SLUSS_REQUIRE_TUS=1,
// which makes a missing tool fail the tests instead of skipping them.

const (
	tusHost     = "tus.example.test"
	tusPassword = "correct horse"
	// The fictional person of the tests' file names.
	tusName = "Tolvan Tolvansson"
	tusPnr  = "19121212-1212"
)

// tusTools finds tusd, node and the npm directory holding tus-js-client.
type tusTools struct {
	tusd, node, modules string
}

func findTusTools(t *testing.T) tusTools {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("SLUSS_REQUIRE_TUS") != "" {
			t.Fatalf("%s is not installed and SLUSS_REQUIRE_TUS is set (test.sh installs it)", what)
		}
		t.Skipf("%s is not installed (test.sh installs it)", what)
	}
	var tt tusTools
	var err error
	if tt.tusd, err = exec.LookPath("tusd"); err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		tt.tusd = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "tusd")
		if _, err := os.Stat(tt.tusd); err != nil {
			missing("tusd")
		}
	}
	if tt.node, err = exec.LookPath("node"); err != nil {
		missing("node (Debian nodejs)")
	}
	tt.modules, _ = filepath.Abs(filepath.Join("..", "..", ".cache", "npm", "node_modules"))
	for _, m := range []string{"tus-js-client", "http-proxy-agent", "https-proxy-agent"} {
		if _, err := os.Stat(filepath.Join(tt.modules, m, "package.json")); err != nil {
			missing(m + " in .cache/npm")
		}
	}
	return tt
}

// tusRig is tusd and a gateway in front of it.
type tusRig struct {
	tools     tusTools
	bin, dir  string
	uploadDir string // tusd's file store
	tusd      *exec.Cmd
	tusdLog   *lockedBuffer
	port      string
	p         *serveProc
	endpoint  string // https://tus.example.test:PORT/files/
	caFile    string // the gateway's CA, which clients trust
	identity  string // exported region identity, for age -d
	cfg       string // the gateway's configuration file
}

func startTusRig(t *testing.T) *tusRig {
	t.Helper()
	return startTusRigWith(t, tusRigConfig{})
}

// tusRigConfig adds to the rig's gateway configuration: YAML lines
// indented for the tus service (options) and for the gateway (limits).
type tusRigConfig struct {
	service, gateway string
}

func startTusRigWith(t *testing.T, rc tusRigConfig) *tusRig {
	t.Helper()
	g := &tusRig{tools: findTusTools(t), bin: buildSluss(t), dir: t.TempDir(), uploadDir: t.TempDir(), tusdLog: &lockedBuffer{}}
	upstreamCA, cert, key := writeServerCert(t, tusHost, t.TempDir())
	g.port = freePort(t)
	g.tusd = exec.Command(g.tools.tusd, "-host", "127.0.0.1", "-port", g.port, "-upload-dir", g.uploadDir,
		"-base-path", "/files/", "-tls-certificate", cert, "-tls-key", key, "-verbose")
	g.tusd.Stdout, g.tusd.Stderr = g.tusdLog, g.tusdLog
	if err := g.tusd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.tusd.Process.Kill(); g.tusd.Wait() })
	waitPort(t, "127.0.0.1:"+g.port, g.tusdLog)

	users := filepath.Join(g.dir, "users")
	var lines strings.Builder
	for _, u := range []string{"alice", "bob"} {
		hash, _ := bcrypt.GenerateFromPassword([]byte(tusPassword), bcrypt.MinCost)
		fmt.Fprintf(&lines, "%s:%s\n", u, hash)
	}
	os.WriteFile(users, []byte(lines.String()), 0o600)
	cfg := filepath.Join(g.dir, "sluss.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  upstream_ca: %s
  users_file: %s
  groups:
    - name: readers
      members: [alice]
      rights: [decrypt, reidentify]
  resolve:
    %s: [127.0.0.1]
%s  services:
    - name: uploads
      hosts: [%s]
      profile: tus
      ports: [%s]
      allow_loopback: true
%s`, filepath.Join(g.dir, "keys"), upstreamCA, users, tusHost, rc.gateway, tusHost, g.port, rc.service)), 0o600)
	g.cfg = cfg
	g.p = startServeBinary(t, g.bin, "--config", cfg, "--debug")
	g.caFile = filepath.Join(g.dir, "keys", "ca.pem")
	g.endpoint = "https://" + tusHost + ":" + g.port + "/files/"
	out, err := exec.Command(g.bin, "keys", "export-identity", "--config", cfg, "--"+exportConsentFlag).Output()
	if err != nil {
		t.Fatalf("sluss keys export-identity: %v", err)
	}
	g.identity = filepath.Join(g.dir, "identity.txt")
	os.WriteFile(g.identity, out, 0o600)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway stderr:\n%s\naudit:\n%s\ntusd:\n%s", tail(g.p.stderr.String(), 8000), tail(g.p.audit.String(), 8000), tail(g.tusdLog.String(), 4000))
		}
	})
	return g
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func waitPort(t *testing.T, addr string, log *lockedBuffer) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s:\n%s", addr, log)
		}
	}
}

// writeServerCert makes a CA and a certificate it issues for host, and
// returns the files of the CA, the certificate and its key.
func writeServerCert(t *testing.T, host, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tus test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leafT, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER)
}

// proxyURL is the gateway's proxy address with user's credentials.
func (g *tusRig) proxyURL(user string) *url.URL {
	u, _ := url.Parse(g.p.proxy)
	u.User = url.UserPassword(user, tusPassword)
	return u
}

// client is a Go HTTP client of user through the gateway, trusting its CA.
func (g *tusRig) client(t *testing.T, user string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(g.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(g.proxyURL(user)), TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// jsUpload is what testdata/tus-upload.js is given.
type jsUpload struct {
	Endpoint    string            `json:"endpoint"`
	Proxy       string            `json:"proxy"`
	File        string            `json:"file"`
	ChunkSize   int               `json:"chunkSize"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Storage     string            `json:"storage,omitempty"`
	AbortAfter  int64             `json:"abortAfter,omitempty"`
	DeferLength bool              `json:"deferLength,omitempty"`
	Retry       bool              `json:"retry,omitempty"`
}

type jsResult struct {
	URL     string `json:"url"`
	Aborted bool   `json:"aborted"`
	Resumed bool   `json:"resumed"`
	Sent    int64  `json:"sent"`
}

// upload runs tus-js-client in Node through the gateway as alice.
func (g *tusRig) upload(t *testing.T, o jsUpload) jsResult {
	t.Helper()
	o.Endpoint, o.Proxy = g.endpoint, g.proxyURL("alice").String()
	arg, _ := json.Marshal(o)
	script, _ := filepath.Abs(filepath.Join("testdata", "tus-upload.js"))
	cmd := exec.Command(g.tools.node, script, string(arg))
	// Only the gateway's CA is added to Node's trust: tusd's own is not,
	// so a client that went around the gateway would fail.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "NODE_PATH=" + g.tools.modules, "NODE_EXTRA_CA_CERTS=" + g.caFile}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tus-js-client %s (chunk %d): %v\n%s%s", filepath.Base(o.File), o.ChunkSize, err, out, stderr.String())
	}
	var r jsResult
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.URL == "" {
		t.Fatalf("tus-js-client printed no upload URL: %q %v", out, err)
	}
	return r
}

// stored returns the file tusd keeps for the upload at u.
func (g *tusRig) stored(u string) string {
	pu, _ := url.Parse(u)
	return filepath.Join(g.uploadDir, path.Base(pu.Path))
}

// checkStored decrypts tusd's file of the upload at u with the real age
// CLI and compares it with want.
func (g *tusRig) checkStored(t *testing.T, u string, want []byte) {
	t.Helper()
	f := g.stored(u)
	head := make([]byte, 64<<10)
	fh, err := os.Open(f)
	if err != nil {
		t.Fatalf("tusd has no file for %s: %v", u, err)
	}
	n, _ := fh.Read(head)
	fh.Close()
	if !crypto.IsEncrypted(head[:n]) {
		t.Fatalf("tusd holds %s in plaintext", u)
	}
	if len(want) >= 64 && bytes.Contains(head[:n], want[:64]) {
		t.Fatalf("tusd's file of %s contains plaintext", u)
	}
	age, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("the age CLI is not installed (test.sh installs it)")
	}
	out, err := exec.Command(age, "-d", "-i", g.identity, f).Output()
	if err != nil {
		t.Fatalf("age -d of tusd's file of %s: %v", u, err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("age -d of tusd's file gives %d bytes that differ from the %d uploaded", len(out), len(want))
	}
}

// download GETs the upload at u through the gateway as user.
func (g *tusRig) download(t *testing.T, user, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := g.client(t, user).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp, b.Bytes()
}

// checkNoPersonalData: the fictional person's name and personnummer are
// neither in the gateway's debug log and audit log nor in tusd's files.
func (g *tusRig) checkNoPersonalData(t *testing.T) {
	t.Helper()
	values := []string{tusPnr, "191212121212", "Tolvan", "Tolvansson"}
	for what, text := range map[string]string{"debug log": g.p.stderr.String(), "audit log": g.p.audit.String(), "tusd's log": g.tusdLog.String()} {
		for _, v := range values {
			if strings.Contains(text, v) {
				t.Errorf("the %s contains %q", what, v)
			}
		}
	}
	infos, _ := filepath.Glob(filepath.Join(g.uploadDir, "*.info"))
	if len(infos) == 0 {
		t.Error("tusd has no .info files to check")
	}
	for _, f := range infos {
		b, _ := os.ReadFile(f)
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("tusd's %s contains %q", filepath.Base(f), v)
			}
		}
	}
}

// auditLines returns the audit events that contain all of substrs.
func (g *tusRig) auditLines(substrs ...string) int {
	n := 0
	for _, l := range strings.Split(g.p.audit.String(), "\n") {
		ok := l != ""
		for _, s := range substrs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// TestTusJSClient: tus-js-client uploads files of 0 B, 1 MiB and 100 MiB
// in PATCHes of 1 MiB and of 5 000 001 bytes, one with a deferred
// length, one interrupted in the middle of a PATCH and resumed by its
// fingerprint; tusd stores age files that `age -d` opens to the original
// bytes, the download through the gateway is byte-identical, HEAD answers
// in plaintext with the file name re-identified, and tusd holds tokens
// where the client wrote a name and a personnummer.
func TestTusJSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tus with 100 MiB files")
	}
	g := startTusRig(t)
	src := t.TempDir()
	files := map[string][]byte{}
	for name, size := range map[string]int{"empty": 0, "one": mib, "hundred": 100 * mib, "odd": 3*mib + 5} {
		files[name] = randomFile(t, src, name, size)
	}
	filename := func(name string) string { return tusName + " " + tusPnr + " " + name + ".bin" }
	type done struct {
		name, url string
	}
	var uploads []done
	for _, chunk := range []int{mib, 5_000_001} {
		for _, name := range []string{"empty", "one", "hundred"} {
			r := g.upload(t, jsUpload{File: filepath.Join(src, name), ChunkSize: chunk,
				Metadata: map[string]string{"filename": filename(name), "filetype": "application/octet-stream"}})
			uploads = append(uploads, done{name, r.URL})
		}
	}
	// creation-defer-length: the length comes with the last PATCH.
	r := g.upload(t, jsUpload{File: filepath.Join(src, "odd"), ChunkSize: mib, DeferLength: true, Metadata: map[string]string{"filename": filename("odd")}})
	uploads = append(uploads, done{"odd", r.URL})

	// Interrupted in the middle of a PATCH, resumed by the fingerprint
	// tus-js-client kept in its URL storage.
	storage := filepath.Join(t.TempDir(), "tus-urls.json")
	first := g.upload(t, jsUpload{File: filepath.Join(src, "hundred"), ChunkSize: 5_000_001, Storage: storage, AbortAfter: 37*mib + 12345,
		Metadata: map[string]string{"filename": filename("resumed")}})
	if !first.Aborted {
		t.Fatalf("the upload was not interrupted: %+v", first)
	}
	heads := g.auditLines(`"method":"HEAD"`)
	second := g.upload(t, jsUpload{File: filepath.Join(src, "hundred"), ChunkSize: 5_000_001, Storage: storage, Retry: true,
		Metadata: map[string]string{"filename": filename("resumed")}})
	if !second.Resumed || second.URL != first.URL {
		t.Fatalf("the second run did not resume the interrupted upload: %+v after %+v", second, first)
	}
	if g.auditLines(`"method":"HEAD"`) <= heads {
		t.Error("the resumed upload asked no HEAD through the gateway")
	}
	uploads = append(uploads, done{"hundred", second.URL})
	// The gateway saw the PATCH cut where the client stopped, and asked
	// tusd how much of it tusd kept before it sent the rest.
	cutAt := strconv.FormatInt(37*mib+12345-7*5_000_001, 10)
	if g.auditLines(path.Base(second.URL), `"method":"PATCH"`, `"bytes_up":`+cutAt+`,`, `"status":400`) != 1 {
		t.Errorf("the audit log has no PATCH of %s bytes cut by the client", cutAt)
	}
	if n := strings.Count(g.tusdLog.String(), "event=RequestIncoming method=HEAD path="+path.Base(second.URL)); n < 2 {
		t.Errorf("tusd got %d HEAD requests for the resumed upload, want the client's and the gateway's own", n)
	}

	alice := g.client(t, "alice")
	for _, u := range uploads {
		want := files[u.name]
		if !strings.HasPrefix(u.url, "https://"+tusHost+":"+g.port+"/files/") {
			t.Errorf("%s: upload URL %s is not tusd's through the gateway", u.name, u.url)
		}
		g.checkStored(t, u.url, want)
		resp, got := g.download(t, "alice", u.url)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("%s: download through the gateway: %s, %d bytes, identical %v (want %d)", u.name, resp.Status, len(got), bytes.Equal(got, want), len(want))
		}
		// tusd names the file by its metadata: the token, which the
		// gateway re-identifies for alice.
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, tusName) {
			t.Errorf("%s: the download's Content-Disposition %q is not re-identified for alice", u.name, cd)
		}
		req, _ := http.NewRequest(http.MethodHead, u.url, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		hr, err := alice.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		hr.Body.Close()
		size := strconv.Itoa(len(want))
		if hr.StatusCode != http.StatusOK || hr.Header.Get("Upload-Offset") != size || hr.Header.Get("Upload-Length") != size {
			t.Errorf("%s: HEAD: %s, Upload-Offset %q, Upload-Length %q, want %s for both", u.name, hr.Status, hr.Header.Get("Upload-Offset"), hr.Header.Get("Upload-Length"), size)
		}
		if md := decodeMetadata(hr.Header.Get("Upload-Metadata")); !strings.HasPrefix(md["filename"], tusName+" "+tusPnr) {
			t.Errorf("%s: HEAD's metadata is not re-identified for alice: %q", u.name, md["filename"])
		}
	}
	// bob has no reidentify right: he sees tokens.
	req, _ := http.NewRequest(http.MethodHead, uploads[1].url, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	hr, err := g.client(t, "bob").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if md := decodeMetadata(hr.Header.Get("Upload-Metadata")); md["filename"] == "" || strings.Contains(md["filename"], "Tolvan") || strings.Contains(md["filename"], tusPnr) {
		t.Errorf("bob's HEAD shows the file name %q", md["filename"])
	}

	if n := g.auditLines(`"action":"encrypt"`, `"host":"`+tusHost); n < len(uploads) {
		t.Errorf("the audit log has %d encrypt events for %s, want at least %d", n, tusHost, len(uploads))
	}
	if n := g.auditLines(`"method":"PATCH"`, `"service":"uploads"`); n < 100 {
		t.Errorf("the audit log has %d PATCH events, want at least 100", n)
	}
	g.checkNoPersonalData(t)
}

func decodeMetadata(h string) map[string]string {
	out := map[string]string{}
	for _, item := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), " ")
		b, _ := base64.StdEncoding.DecodeString(v)
		out[k] = string(b)
	}
	return out
}

// tusDo sends one tus request through the gateway.
func tusDo(t *testing.T, c *http.Client, method, u string, body []byte, h map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(&b)
	return resp
}

func patchHeaders(offset int64, extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(offset, 10)}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// tusdSaw counts the requests tusd got with method for the upload id ("" for creations).
// tusd 2.9 logs the path bare and the request id after it
// ("path=ID requestId=…"), older versions at the line's end or quoted.
func (g *tusRig) tusdSaw(method, id string) int {
	log := g.tusdLog.String()
	return strings.Count(log, "event=RequestIncoming method="+method+" path="+id+"\n") +
		strings.Count(log, "event=RequestIncoming method="+method+" path="+id+" ") +
		strings.Count(log, "event=RequestIncoming method="+method+` path="`+id+`"`)
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestTusAttacks: what a client must not get away with through the
// gateway. A PATCH at a wrong offset, without the tus content type, or
// with a wrong Upload-Checksum is refused with nothing sent to tusd;
// concatenation is refused and not offered; after a PATCH cut in the
// middle, the client resumes where tusd's ciphertext ends, inside that
// PATCH, and a PATCH from the old offset is refused (that other bytes
// where ciphertext left are refused is the resumable engine's test,
// TestInterruptedPiece); a user without
// the decrypt right gets 403 on GET; termination removes the upload.
// Neither the gateway's logs nor tusd hold the name and personnummer of
// the file name.
func TestTusAttacks(t *testing.T) {
	g := startTusRig(t)
	alice, bob := g.client(t, "alice"), g.client(t, "bob")

	opt := tusDo(t, alice, http.MethodOptions, g.endpoint, nil, nil)
	if ext := opt.Header.Get("Tus-Extension"); strings.Contains(ext, "concatenation") || !strings.Contains(ext, "checksum") || !strings.Contains(ext, "creation-defer-length") {
		t.Errorf("OPTIONS: Tus-Extension %q, want checksum and creation-defer-length, no concatenation", ext)
	}
	if alg := opt.Header.Get("Tus-Checksum-Algorithm"); !strings.Contains(alg, "sha1") {
		t.Errorf("OPTIONS: Tus-Checksum-Algorithm %q", alg)
	}

	posts := g.tusdSaw("POST", "")
	if r := tusDo(t, alice, http.MethodPost, g.endpoint, nil, map[string]string{"Upload-Length": "10", "Upload-Concat": "partial"}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("POST with Upload-Concat: %s, want 400", r.Status)
	}
	if g.tusdSaw("POST", "") != posts {
		t.Error("a refused concatenation reached tusd")
	}

	const size = 8 * mib
	data := make([]byte, size)
	rand.Read(data)
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte(tusName+" "+tusPnr+".pdf")) + ",name " + base64.StdEncoding.EncodeToString([]byte(tusName))
	created := tusDo(t, alice, http.MethodPost, g.endpoint, nil, map[string]string{"Upload-Length": strconv.Itoa(size), "Upload-Metadata": meta})
	if created.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", created.Status)
	}
	u := created.Header.Get("Location")
	id := path.Base(u)
	stored := g.stored(u)
	if r := tusDo(t, alice, http.MethodPatch, u, data[:mib], patchHeaders(0)); r.StatusCode != http.StatusNoContent || r.Header.Get("Upload-Offset") != strconv.Itoa(mib) {
		t.Fatalf("first PATCH: %s, Upload-Offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}

	if r := tusDo(t, alice, http.MethodGet, u, nil, nil); r.StatusCode != http.StatusConflict {
		t.Errorf("GET of an upload in progress: %s, want 409", r.Status)
	}

	// Refused before anything reaches tusd.
	patches, held := g.tusdSaw("PATCH", id), fileSize(t, stored)
	sha1Of := func(b []byte) string { s := sha1.Sum(b); return "sha1 " + base64.StdEncoding.EncodeToString(s[:]) }
	for _, tt := range []struct {
		name   string
		method string
		h      map[string]string
		want   int
	}{
		{"a wrong offset", http.MethodPatch, patchHeaders(5), http.StatusConflict},
		{"an offset behind", http.MethodPatch, patchHeaders(0), http.StatusConflict},
		{"a wrong offset through X-HTTP-Method-Override", http.MethodPost, patchHeaders(7, "X-HTTP-Method-Override", "PATCH"), http.StatusConflict},
		{"no tus content type", http.MethodPatch, map[string]string{"Upload-Offset": strconv.Itoa(mib), "Content-Type": "application/octet-stream"}, http.StatusUnsupportedMediaType},
		{"an unknown checksum algorithm", http.MethodPatch, patchHeaders(mib, "Upload-Checksum", "crc32 AAAAAA=="), http.StatusBadRequest},
		{"a declared length that differs", http.MethodPatch, patchHeaders(mib, "Upload-Length", "12"), http.StatusBadRequest},
	} {
		if r := tusDo(t, alice, tt.method, u, data[mib:2*mib], tt.h); r.StatusCode != tt.want {
			t.Errorf("PATCH with %s: %s, want %d", tt.name, r.Status, tt.want)
		}
	}
	if g.tusdSaw("PATCH", id) != patches || fileSize(t, stored) != held {
		t.Errorf("refused PATCHes reached tusd (%d PATCHes before, %d after; file %d → %d bytes)", patches, g.tusdSaw("PATCH", id), held, fileSize(t, stored))
	}

	// Upload-Checksum over the plaintext: a wrong one is 460 and the
	// offset stays; the right one is taken.
	if r := tusDo(t, alice, http.MethodPatch, u, data[mib:2*mib], patchHeaders(mib, "Upload-Checksum", sha1Of(data[:10]))); r.StatusCode != 460 {
		t.Errorf("PATCH with a wrong Upload-Checksum: %s, want 460", r.Status)
	}
	if r := tusDo(t, alice, http.MethodHead, u, nil, nil); r.Header.Get("Upload-Offset") != strconv.Itoa(mib) {
		t.Errorf("after a checksum mismatch HEAD says offset %q, want %d", r.Header.Get("Upload-Offset"), mib)
	}
	if r := tusDo(t, alice, http.MethodPatch, u, data[mib:2*mib], patchHeaders(mib, "Upload-Checksum", sha1Of(data[mib:2*mib]))); r.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH with the right Upload-Checksum: %s", r.Status)
	}

	// A PATCH of the last 6 MiB cut after 5 MiB, once tusd holds
	// ciphertext of more than 4 MiB of it (the engine seals and records
	// 4 MiB before it sends).
	before := fileSize(t, stored)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, u, io.MultiReader(bytes.NewReader(data[2*mib:7*mib]), blockUntil(ctx)))
	req.ContentLength = 6 * mib
	for k, v := range patchHeaders(2 * mib) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	errc := make(chan error, 1)
	go func() {
		resp, err := alice.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("the cut PATCH was answered %s", resp.Status)
		}
		errc <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); fileSize(t, stored) < before+4*mib; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tusd's file did not grow past %d bytes (%d)", before+4*mib, fileSize(t, stored))
		}
	}
	cancel()
	if err := <-errc; !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("cut PATCH: %v", err)
	}
	patchAgain := func(off int, body []byte) *http.Response {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r := tusDo(t, alice, http.MethodPatch, u, body, patchHeaders(int64(off)))
			if r.StatusCode != http.StatusLocked || time.Now().After(deadline) {
				return r
			}
		}
	}
	// The client resumes where tusd's ciphertext ends, in plaintext
	// terms: at the first 64 KiB chunk tusd does not hold whole, inside
	// the cut PATCH (once the gateway has asked tusd, after the cut
	// request let go; until then HEAD says where the PATCH began).
	var resume int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := tusDo(t, alice, http.MethodHead, u, nil, nil)
		resume, _ = strconv.Atoi(r.Header.Get("Upload-Offset"))
		if resume > 2*mib || time.Now().After(deadline) {
			break
		}
	}
	if resume%(64<<10) != 0 || resume < 6*mib-64<<10 || resume > 7*mib {
		t.Fatalf("after the cut PATCH HEAD says offset %d, want the chunk where tusd's %d bytes end (within [%d, %d])", resume, fileSize(t, stored), 6*mib-64<<10, 7*mib)
	}
	held = fileSize(t, stored)
	if r := patchAgain(2*mib, data[2*mib:]); r.StatusCode != http.StatusConflict {
		t.Errorf("the cut PATCH again from its start: %s, want 409 (the upload continues at %d)", r.Status, resume)
	}
	if fileSize(t, stored) != held {
		t.Errorf("the refused PATCH reached tusd (%d → %d bytes)", held, fileSize(t, stored))
	}
	if r := patchAgain(resume, data[resume:]); r.StatusCode != http.StatusNoContent || r.Header.Get("Upload-Offset") != strconv.Itoa(size) {
		t.Fatalf("the rest after the cut PATCH: %s, Upload-Offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	g.checkStored(t, u, data)

	if r := tusDo(t, bob, http.MethodGet, u, nil, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("bob (no decrypt right) GET: %s, want 403", r.Status)
	}
	if r := tusDo(t, alice, http.MethodGet, u, nil, nil); r.StatusCode != http.StatusOK {
		t.Errorf("alice GET: %s", r.Status)
	} else if b, _ := io.ReadAll(r.Body); !bytes.Equal(b, data) {
		t.Errorf("alice's download differs from the upload (%d bytes)", len(b))
	}
	if g.auditLines(`"user":"bob"`, `"method":"GET"`, `"action":"deny"`, `"status":403`) != 1 {
		t.Error("bob's refused download is not audited as denied")
	}

	// Termination.
	gone := tusDo(t, alice, http.MethodPost, g.endpoint, nil, map[string]string{"Upload-Defer-Length": "1"})
	if gone.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", gone.Status)
	}
	gu := gone.Header.Get("Location")
	if r := tusDo(t, alice, http.MethodPatch, gu, data[:mib], patchHeaders(0)); r.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", r.Status)
	}
	if r := tusDo(t, alice, http.MethodDelete, gu, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE: %s", r.Status)
	}
	if _, err := os.Stat(g.stored(gu)); !os.IsNotExist(err) {
		t.Errorf("tusd still has the terminated upload: %v", err)
	}
	if r := tusDo(t, alice, http.MethodHead, gu, nil, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD of a terminated upload: %s, want 404", r.Status)
	}
	// An empty file: complete with its creation; an empty PATCH after it
	// is a no-op, as at tusd.
	empty := tusDo(t, alice, http.MethodPost, g.endpoint, nil, map[string]string{"Upload-Length": "0"})
	if empty.StatusCode != http.StatusCreated || empty.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("POST of an empty file: %s, Upload-Offset %q", empty.Status, empty.Header.Get("Upload-Offset"))
	}
	eu := empty.Header.Get("Location")
	if r := tusDo(t, alice, http.MethodPatch, eu, nil, patchHeaders(0)); r.StatusCode != http.StatusNoContent || r.Header.Get("Upload-Offset") != "0" {
		t.Errorf("empty PATCH of an empty file: %s, Upload-Offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	g.checkStored(t, eu, []byte{})

	if n := g.auditLines(`"host":"`+tusHost, `"service":"uploads"`); n < 20 {
		t.Errorf("the audit log has %d events for the tus service", n)
	}
	g.checkNoPersonalData(t)
}

// blockUntil is a body that sends nothing more until ctx is done.
func blockUntil(ctx context.Context) io.Reader {
	return readerFunc(func([]byte) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestTusMemoryFlat: tus-js-client uploads 1 GiB through the gateway in
// 8 MiB PATCHes, and the gateway's peak RSS grows by less than 100 MiB;
// tusd's file decrypts with age -d to the same bytes.
func TestTusMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1 GiB")
	}
	g := startTusRig(t)
	src := t.TempDir()
	warm := randomFile(t, src, "warm", 9*mib)
	g.checkStored(t, g.upload(t, jsUpload{File: filepath.Join(src, "warm"), ChunkSize: 8 * mib}).URL, warm)
	f, err := os.Create(filepath.Join(src, "big"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	buf := make([]byte, mib)
	for range 1024 {
		rand.Read(buf)
		f.Write(buf)
		sum.Write(buf)
	}
	f.Close()
	pid := g.p.cmd.Process.Pid
	before := vmKiB(t, pid, "VmRSS")
	start := time.Now()
	r := g.upload(t, jsUpload{File: filepath.Join(src, "big"), ChunkSize: 8 * mib, Metadata: map[string]string{"filename": "big.bin"}})
	took := time.Since(start)
	peak := vmKiB(t, pid, "VmHWM")
	t.Logf("gateway RSS before %d MiB, peak during a 1 GiB tus upload %d MiB; the upload took %v", before>>10, peak>>10, took.Round(time.Second))
	if growth := peak - before; growth > 100<<10 {
		t.Errorf("peak RSS grew by %d MiB during a 1 GiB upload, want < 100", growth>>10)
	}
	age := exec.Command("age", "-d", "-i", g.identity, g.stored(r.URL))
	out, err := age.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := age.Start(); err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	io.Copy(got, out)
	if err := age.Wait(); err != nil || !bytes.Equal(got.Sum(nil), sum.Sum(nil)) {
		t.Errorf("age -d of tusd's 1 GiB file: %v, same bytes %v", err, bytes.Equal(got.Sum(nil), sum.Sum(nil)))
	}
	if n := g.auditLines(path.Base(r.URL), `"method":"PATCH"`, `"action":"encrypt"`); n != 128 {
		t.Errorf("the audit log has %d encrypted PATCHes of the 1 GiB upload, want 128", n)
	}
}

// TestTusGatewayKilled: the gateway is killed (SIGKILL) in the middle of
// a PATCH and started again on the same state; the client asks where to
// resume and completes the upload through the new process, and the file
// at tusd is one age file of the original bytes. The dead gateway's
// lease on the upload holds the new one off for at most its 20 seconds
// (423, which tus clients retry).
func TestTusGatewayKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tus")
	}
	g := startTusRig(t)
	alice := g.client(t, "alice")
	const size = 12 * mib
	data := make([]byte, size)
	rand.Read(data)
	created := tusDo(t, alice, http.MethodPost, g.endpoint, nil, map[string]string{"Upload-Length": strconv.Itoa(size)})
	if created.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", created.Status)
	}
	u := created.Header.Get("Location")
	stored := g.stored(u)
	if r := tusDo(t, alice, http.MethodPatch, u, data[:3*mib], patchHeaders(0)); r.StatusCode != http.StatusNoContent {
		t.Fatalf("first PATCH: %s", r.Status)
	}
	// The rest in one PATCH whose body stops after 7 MiB; once tusd
	// holds ciphertext of more than 4 MiB of it, the gateway dies.
	before := fileSize(t, stored)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, u, io.MultiReader(bytes.NewReader(data[3*mib:10*mib]), blockUntil(ctx)))
	req.ContentLength = size - 3*mib
	for k, v := range patchHeaders(3 * mib) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	go func() {
		if resp, err := alice.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); fileSize(t, stored) < before+4*mib; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tusd's file did not grow past %d bytes (%d)", before+4*mib, fileSize(t, stored))
		}
	}
	g.p.cmd.Process.Kill()
	<-g.p.exited
	cancel()
	old := g.p
	g.p = startServeBinary(t, g.bin, "--config", g.cfg, "--debug")
	alice = g.client(t, "alice")

	head := tusDo(t, alice, http.MethodHead, u, nil, nil)
	resume, err := strconv.Atoi(head.Header.Get("Upload-Offset"))
	if head.StatusCode != http.StatusOK || err != nil || resume < 3*mib || resume > 10*mib {
		t.Fatalf("HEAD through the new gateway: %s, Upload-Offset %q", head.Status, head.Header.Get("Upload-Offset"))
	}
	start := time.Now()
	var r *http.Response
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		r = tusDo(t, alice, http.MethodPatch, u, data[resume:], patchHeaders(int64(resume)))
		if r.StatusCode != http.StatusLocked || time.Now().After(deadline) {
			break
		}
	}
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Upload-Offset") != strconv.Itoa(size) {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("the rest through the new gateway: %s, Upload-Offset %q: %s", r.Status, r.Header.Get("Upload-Offset"), b)
	}
	t.Logf("resumed at %d of %d bytes; the dead gateway's lease held the upload %v more", resume, size, time.Since(start).Round(100*time.Millisecond))
	g.checkStored(t, u, data)
	if !strings.Contains(old.audit.String(), `"method":"PATCH"`) || !strings.Contains(g.p.audit.String(), `"method":"PATCH"`) {
		t.Error("the PATCHes are not in both gateways' audit logs")
	}
}
