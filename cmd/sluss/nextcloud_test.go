package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
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
	"github.com/sluss/sluss/internal/nextcloudtest"
)

// ncGateway is the test Nextcloud and a real `sluss serve` with a
// nextcloud service in front of it, reached as cloud.example.com (a name
// only the gateway resolves to 127.0.0.1, so no client can go around it).
type ncGateway struct {
	srv      *nextcloudtest.Server
	bin, dir string
	p        *serveProc
	base     string // https://cloud.example.com:PORT
	identity string // exported identity file, for age -d
	caFile   string // the gateway's CA
	// chunkSize is the desktop client's chunk size; 0: ncChunkSize.
	chunkSize int
}

// startNextcloudGateway starts the test server and the gateway; users,
// if any, are written to a users file, each in a group of its own.
func startNextcloudGateway(t *testing.T, users ...s3User) *ncGateway {
	t.Helper()
	return startNextcloudGatewayWith(t, ncSetup{users: users})
}

// ncSetup is what a test changes in the gateway's configuration.
type ncSetup struct {
	users []s3User
	// options and gateway are YAML lines: the service's (indented
	// under it) and the gateway's (limits…).
	options, gateway string
}

func startNextcloudGatewayWith(t *testing.T, setup ncSetup) *ncGateway {
	t.Helper()
	users := setup.users
	srv := nextcloudtest.Start(t)
	g := &ncGateway{srv: srv, bin: buildSluss(t), dir: t.TempDir()}
	g.base = "https://" + nextcloudtest.Host + ":" + srv.Port
	var usersCfg strings.Builder
	if len(users) > 0 {
		var file strings.Builder
		usersCfg.WriteString("  users_file: " + filepath.Join(g.dir, "users") + "\n  groups:\n")
		for _, u := range users {
			hash, err := bcrypt.GenerateFromPassword([]byte(u.password), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&file, "%s:%s\n", u.name, hash)
			fmt.Fprintf(&usersCfg, "    - name: %s-group\n      members: [%s]\n      rights: [%s]\n", u.name, u.name, strings.Join(u.rights, ", "))
		}
		os.WriteFile(filepath.Join(g.dir, "users"), []byte(file.String()), 0o600)
	}
	cfg := filepath.Join(g.dir, "sluss.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  upstream_ca: %s
  resolve:
    %s: [127.0.0.1]
%s%s  services:
    - name: cloud
      hosts: [%s]
      profile: nextcloud
      ports: [%s]
      allow_loopback: true
%s`, filepath.Join(g.dir, "keys"), srv.CAFile, nextcloudtest.Host, usersCfg.String(), setup.gateway, nextcloudtest.Host, srv.Port, setup.options)), 0o600)
	g.p = startServeBinary(t, g.bin, "--config", cfg, "--debug")
	out, err := exec.Command(g.bin, "keys", "export-identity", "--config", cfg, "--"+exportConsentFlag).Output()
	if err != nil {
		t.Fatalf("sluss keys export-identity: %v", err)
	}
	g.identity = filepath.Join(g.dir, "identity.txt")
	os.WriteFile(g.identity, out, 0o600)
	g.caFile = filepath.Join(g.dir, "keys", "ca.pem")
	return g
}

// nextcloudcmd finds the desktop client, or skips (fails with
// SLUSS_REQUIRE_NEXTCLOUD=1).
func nextcloudcmd(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("SLUSS_REQUIRE_NEXTCLOUD") == "1" || os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	p, err := exec.LookPath("nextcloudcmd")
	if err != nil {
		missing("nextcloudcmd not found (Debian nextcloud-desktop-cmd; test.sh installs it)")
	}
	// The client gets a certificate directory of its own in a mount
	// namespace (see sync).
	if out, err := exec.Command("unshare", append(unshareArgs(), "true")...).CombinedOutput(); err != nil {
		missing(fmt.Sprintf("unshare cannot make a mount namespace here (%v: %s), so nextcloudcmd cannot be given the gateway's CA", err, strings.TrimSpace(string(out))))
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		missing("the openssl CLI is not installed (it names the CA file as OpenSSL looks it up)")
	}
	return p
}

// unshareArgs make a mount namespace: as root directly, otherwise in a
// user namespace of its own.
func unshareArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"-m", "--"}
	}
	return []string{"-r", "-m", "--"}
}

// ncChunkSize is the desktop client's chunk size in the tests: no
// multiple of 64 KiB, so chunks end inside the age file's chunks.
const ncChunkSize = 5_000_001

// sync runs nextcloudcmd on dir through the gateway, trusting the
// gateway's CA only (no --trust), and returns its output.
func (g *ncGateway) sync(t *testing.T, bin, dir string, trustCA bool) (string, error) {
	t.Helper()
	out, err := g.syncCommand(t, bin, dir, trustCA).CombinedOutput()
	return string(out), err
}

// syncCommand is the nextcloudcmd command sync runs, with extra flags.
func (g *ncGateway) syncCommand(t *testing.T, bin, dir string, trustCA bool, extra ...string) *exec.Cmd {
	t.Helper()
	chunk := ncChunkSize
	if g.chunkSize > 0 {
		chunk = g.chunkSize
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C.UTF-8",
		fmt.Sprintf("OWNCLOUD_CHUNK_SIZE=%d", chunk),
		fmt.Sprintf("OWNCLOUD_MIN_CHUNK_SIZE=%d", chunk),
		fmt.Sprintf("OWNCLOUD_MAX_CHUNK_SIZE=%d", chunk),
		"OWNCLOUD_TARGET_CHUNK_UPLOAD_DURATION=0",
		"QT_QPA_PLATFORM=offscreen",
	}
	// Qt reads its roots from fixed directories (SSL_CERT_FILE is not
	// read), so the client runs in a mount namespace of its own whose
	// /etc/ssl/certs holds the gateway's CA alone, or nothing.
	certs := t.TempDir()
	if trustCA {
		g.hashedCA(t, certs)
	}
	args := append(unshareArgs(), "sh", "-c", `mount --bind "$0" /etc/ssl/certs && exec "$@"`, certs,
		bin, "--non-interactive", "--max-sync-retries", "1", "--httpproxy", g.p.proxy)
	args = append(append(args, extra...), "-u", g.srv.User, "-p", g.srv.Password, dir, g.base)
	cmd := exec.Command("unshare", args...)
	cmd.Env = env
	return cmd
}

// hashedCA writes the gateway's CA into dir as OpenSSL looks certificates
// up: by the hash of their subject.
func (g *ncGateway) hashedCA(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-hash", "-noout", "-in", g.caFile).Output()
	if err != nil {
		t.Fatalf("openssl x509 -hash: %v", err)
	}
	pemBytes, err := os.ReadFile(g.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, strings.TrimSpace(string(out))+".0"), pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
}

// contentRequests counts the requests that moved file content: PUT and
// GET of files and chunks.
func contentRequests(reqs []nextcloudtest.Request) int {
	n := 0
	for _, r := range reqs {
		if (r.Method == http.MethodPut || r.Method == http.MethodGet) && strings.HasPrefix(r.Path, "/remote.php/") {
			n++
		}
	}
	return n
}

// storedFiles decrypts every file the server keeps with the real age CLI
// and returns them by the digest of their plaintext; it fails on a file
// that is not an age file.
func (g *ncGateway) storedFiles(t *testing.T) map[[32]byte]string {
	t.Helper()
	age, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("the age CLI is not installed (test.sh installs it)")
	}
	got := map[[32]byte]string{}
	root := g.srv.FilePath("")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		stored, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if !crypto.IsEncrypted(stored) {
			t.Errorf("%s: the server holds plaintext", rel)
			return nil
		}
		out, err := exec.Command(age, "-d", "-i", g.identity, p).Output()
		if err != nil {
			t.Errorf("%s: age -d: %v", rel, err)
			return nil
		}
		got[sha256.Sum256(out)] = rel
		return nil
	})
	return got
}

// personal are the personal values of the tests' file names.
var personal = []string{"19121212", "1212 Tolvan", "Tolvan", "Tolvansson"}

// noPersonalData fails if a personal value is in s.
func noPersonalData(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range personal {
		if strings.Contains(s, v) {
			t.Errorf("%s contains %q", what, v)
		}
	}
}

// TestNextcloudDesktop: the real desktop client syncs a folder up through
// the gateway, a 23 MiB file in 5 000 001-byte chunks (chunk ends inside
// age chunks) and a file named with a personnummer; the server holds age
// files that `age -d` opens to the originals, under pseudonymized names;
// a fresh folder syncs down byte-identical with the real names; a second
// sync moves no file content. The client trusts the gateway's CA (and
// fails without it: it verifies).
func TestNextcloudDesktop(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	bin := nextcloudcmd(t)
	g := startNextcloudGateway(t)
	src := t.TempDir()
	files := map[string][]byte{
		"big.bin":                             randomFile(t, src, "big.bin", 23*mib),
		"19121212-1212 Tolvan Tolvansson.txt": []byte("Journal för 19121212-1212 Tolvan Tolvansson\n"),
		"Tolvan Tolvansson/scan.bin":          randomFile(t, src, "Tolvan Tolvansson/scan.bin", 11*mib+12345),
		"docs/small.txt":                      []byte("small\n"),
	}
	for name, b := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755)
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}

	if out, err := g.sync(t, bin, t.TempDir(), false); err == nil || !strings.Contains(out, "SSL handshake failed") {
		t.Fatalf("nextcloudcmd without the gateway's CA: %v, want an SSL handshake failure (does it verify?)\n%s", err, lastLines(out, 20))
	}
	if out, err := g.sync(t, bin, src, true); err != nil {
		t.Fatalf("nextcloudcmd (up): %v\n%s", err, lastLines(out, 60))
	}
	reqs := g.srv.Requests()
	var mkcols, chunks, moves int
	for _, r := range reqs {
		switch {
		case r.Method == "MKCOL" && strings.HasPrefix(r.Path, "/remote.php/dav/uploads/"):
			mkcols++
		case r.Method == http.MethodPut && strings.HasPrefix(r.Path, "/remote.php/dav/uploads/"):
			chunks++
		case r.Method == "MOVE" && strings.HasSuffix(r.Path, "/.file"):
			moves++
		}
		noPersonalData(t, "a path the server saw", r.Path)
		for k, vs := range r.Header {
			noPersonalData(t, "the server's "+k+" header", strings.Join(vs, " "))
		}
	}
	t.Logf("the server saw %d chunked uploads, %d chunk PUTs, %d final MOVEs", mkcols, chunks, moves)
	// 23 MiB in 5 MB chunks: 5 chunks; 11 MiB: 3.
	if mkcols != 2 || moves != 2 || chunks < 8 {
		t.Errorf("the server saw %d chunked uploads, %d chunk PUTs and %d final MOVEs; want 2, at least 8, 2", mkcols, chunks, moves)
	}
	stored := g.storedFiles(t)
	for name, b := range files {
		rel, ok := stored[sha256.Sum256(b)]
		if !ok {
			t.Errorf("%s: no file on the server decrypts to it", name)
			continue
		}
		noPersonalData(t, "the server's file name "+rel, rel)
	}

	dst := t.TempDir()
	if out, err := g.sync(t, bin, dst, true); err != nil {
		t.Fatalf("nextcloudcmd (down): %v\n%s", err, lastLines(out, 60))
	}
	for name, b := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s synced down: %d bytes (%v), want the %d uploaded", name, len(got), err, len(b))
		}
	}

	before := contentRequests(g.srv.Requests())
	for _, dir := range []string{src, dst} {
		if out, err := g.sync(t, bin, dir, true); err != nil {
			t.Fatalf("nextcloudcmd (again): %v\n%s", err, lastLines(out, 60))
		}
	}
	if n := contentRequests(g.srv.Requests()) - before; n != 0 {
		t.Errorf("a second sync moved file content: %d PUT/GET requests", n)
	}

	audit := g.p.audit.String()
	for _, m := range []string{`"method":"MKCOL"`, `"method":"MOVE"`, `"method":"PROPFIND"`, `"method":"GET"`} {
		if !strings.Contains(audit, m) {
			t.Errorf("the audit log has no %s request", m)
		}
	}
	if n := strings.Count(audit, `"method":"PUT"`); n < chunks {
		t.Errorf("the audit log has %d PUTs, fewer than the %d chunks", n, chunks)
	}
	noPersonalData(t, "the audit log", audit)
	noPersonalData(t, "the gateway's debug log", g.p.stderr.String())
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// davRequest sends a request through the gateway's proxy with the test
// server's credentials.
func (g *ncGateway) davRequest(t *testing.T, client *http.Client, method, path string, body []byte, h map[string]string) (int, string, http.Header) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequest(method, g.base+path, rd)
	} else {
		req, err = http.NewRequest(method, g.base+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(g.srv.User, g.srv.Password)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAll(resp), resp.Header
}

// proxyClient is an HTTP client through the gateway that trusts its CA;
// user, if not empty, authenticates to the proxy.
func (g *ncGateway) proxyClient(t *testing.T, user, password string) *http.Client {
	t.Helper()
	pu, _ := url.Parse(g.p.proxy)
	if user != "" {
		pu.User = url.UserPassword(user, password)
	}
	return gatewayClient(t, pu, g.caFile)
}

func gatewayClient(t *testing.T, proxy *url.URL, caFile string) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("the gateway's CA file holds no certificate")
	}
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16,
	}}
}

// TestNextcloudDesktopResume: nextcloudcmd is killed in the middle of a
// chunked upload; run again, it asks the gateway what the upload folder
// holds (PROPFIND, answered with the chunks' plaintext sizes), sends only
// the chunks it misses and finishes; the file decrypts to the original.
func TestNextcloudDesktopResume(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end Nextcloud")
	}
	bin := nextcloudcmd(t)
	g := startNextcloudGateway(t)
	src := t.TempDir()
	file := randomFile(t, src, "resume.bin", 23*mib)
	chunkPUTs := func() int {
		n := 0
		for _, r := range g.srv.Requests() {
			if r.Method == http.MethodPut && strings.HasPrefix(r.Path, "/remote.php/dav/uploads/") && r.Status/100 == 2 {
				n++
			}
		}
		return n
	}
	cmd := g.syncCommand(t, bin, src, true, "--uplimit", "3000")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for chunkPUTs() < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the server saw %d chunks in two minutes\n%s", chunkPUTs(), lastLines(out.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	before := chunkPUTs()
	if _, err := os.Stat(g.srv.FilePath("resume.bin")); err == nil {
		t.Fatal("the upload finished before it was interrupted; nothing to resume")
	}
	resumed, err := g.sync(t, bin, src, true)
	if err != nil {
		t.Fatalf("nextcloudcmd (resume): %v\n%s", err, lastLines(resumed, 60))
	}
	if !strings.Contains(resumed, "Resuming") {
		t.Errorf("nextcloudcmd did not resume the upload:\n%s", lastLines(resumed, 60))
	}
	// 23 MiB in 5 000 001-byte chunks is 5 chunks; those stored before
	// the kill are not sent again.
	if total := chunkPUTs(); total > 5 || total <= before {
		t.Errorf("the server stored %d chunks before the kill and %d in all, want the rest of 5 after", before, total)
	}
	if got := g.storedFiles(t)[sha256.Sum256(file)]; got != "resume.bin" {
		t.Errorf("resume.bin on the server does not decrypt to the file (found %q)", got)
	}
	t.Logf("%d chunks stored before the kill, %d in all", before, chunkPUTs())
}
