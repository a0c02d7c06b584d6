package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildSluss builds the real binary with go build into a temporary
// directory.
func buildSluss(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH: cannot build the sluss binary")
	}
	bin := filepath.Join(t.TempDir(), "sluss")
	args := []string{"build", "-o", bin}
	if os.Getenv("SLUSS_TEST_RACE") != "" {
		// The end-to-end tests then also run the gateway under the race
		// detector (slow; not in CI by default).
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

// testPersonnummer is the i-th of a series of distinct, valid
// personnummer (YYYYMMDD-NNNC, born from 1950 on, Luhn-checked).
func testPersonnummer(i int) string {
	d := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/900)
	nine := fmt.Sprintf("%s%03d", d.Format("060102"), 100+i%900)
	sum := 0
	for k, c := range nine {
		v := int(c-'0') * (2 - k%2)
		sum += v/10 + v%10
	}
	return fmt.Sprintf("%s%s-%03d%d", d.Format("2006"), d.Format("0102"), 100+i%900, (10-sum%10)%10)
}

// serveProc is a running `sluss serve`.
type serveProc struct {
	cmd           *exec.Cmd
	proxy, admin  string
	audit, stderr *lockedBuffer
	exited        chan struct{}
}

var (
	proxyLineRE = regexp.MustCompile(`proxy:\s+(http://\S+)`)
	adminLineRE = regexp.MustCompile(`admin:\s+(http://\S+)/healthz`)
)

// startServe runs the binary's serve command and waits for its start-up
// message; it is killed at cleanup if still running.
func startServeBinary(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{audit: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.audit, p.stderr
	p.cmd.Env = append(os.Environ(), "SLUSS_CONFIG=")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector found a race in sluss serve:\n%s", p.stderr)
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := p.stderr.String()
		pm, am := proxyLineRE.FindStringSubmatch(out), adminLineRE.FindStringSubmatch(out)
		if pm != nil && am != nil {
			p.proxy, p.admin = pm[1], am[1]
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("sluss serve exited: %v\n%s", p.cmd.ProcessState, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluss serve printed no start-up message:\n%s", out)
		}
	}
}

// TestFaultKill9: `sluss serve` with a form service is killed with SIGKILL
// while many clients post JSON with distinct personnummer, and started
// again on the same data directory. Every token the upstream received —
// including those of requests whose clients never saw an answer — has its
// mapping: re-identified through the restarted gateway's API, each record
// is exactly what its client sent.
func TestFaultKill9(t *testing.T) {
	bin := buildSluss(t)
	var (
		mu       sync.Mutex
		received = map[int][]byte{} // record id → body as the upstream got it
	)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var rec struct {
			ID int `json:"id"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		received[rec.ID] = b
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	up.StartTLS()
	defer up.Close()
	upCA := filepath.Join(t.TempDir(), "upstream-ca.pem")
	os.WriteFile(upCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o644)
	upURL, _ := url.Parse(up.URL)
	dataDir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dataDir, "--approve", upURL.Host + "=form", "--upstream-ca", upCA}
	gw := startServeBinary(t, bin, args...)

	caPEM, err := os.ReadFile(filepath.Join(dataDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	proxyURL, _ := url.Parse(gw.proxy)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 32,
	}}

	const workers = 16
	var (
		next     atomic.Int64
		answered atomic.Int64
		sent     sync.Map // id → personnummer
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				id := int(next.Add(1))
				pnr := testPersonnummer(id)
				sent.Store(id, pnr)
				resp, err := client.Post(up.URL+"/records", "application/json", strings.NewReader(fmt.Sprintf(`{"id":%d,"personnummer":"%s"}`, id, pnr)))
				if err != nil {
					return // the gateway is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("record %d before the kill: %s", id, resp.Status)
					return
				}
				answered.Add(1)
			}
		})
	}
	for deadline := time.Now().Add(30 * time.Second); answered.Load() < 1000; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records in 30 s", answered.Load())
		}
	}
	if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-gw.exited
	wg.Wait()
	if ws, ok := gw.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("serve did not die of SIGKILL: %v", gw.cmd.ProcessState)
	}
	mu.Lock()
	got := make(map[int][]byte, len(received))
	for id, b := range received {
		got[id] = b
	}
	mu.Unlock()
	t.Logf("killed with %d records answered, %d received upstream, %d started", answered.Load(), len(got), next.Load())

	// Restarted on the same data directory, the gateway re-identifies
	// every record the upstream holds, in one API call.
	gw2 := startServeBinary(t, bin, args...)
	var ids []int
	var upstream, want bytes.Buffer
	upstream.WriteByte('[')
	want.WriteByte('[')
	for id, b := range got {
		pnr, _ := sent.Load(id)
		if bytes.Contains(b, []byte(pnr.(string))) || !bytes.Contains(b, []byte("sl_pnr")) {
			t.Fatalf("record %d reached the upstream without a token", id)
		}
		if len(ids) > 0 {
			upstream.WriteByte(',')
			want.WriteByte(',')
		}
		ids = append(ids, id)
		upstream.Write(b)
		fmt.Fprintf(&want, `{"id":%d,"personnummer":"%s"}`, id, pnr)
	}
	upstream.WriteByte(']')
	want.WriteByte(']')
	resp, err := http.Post(gw2.admin+"/v1/reidentify", "application/json", &upstream)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/v1/reidentify after the restart: %s", resp.Status)
	}
	if !bytes.Equal(back, want.Bytes()) {
		var gotRecs, wantRecs []json.RawMessage
		json.Unmarshal(back, &gotRecs)
		json.Unmarshal(want.Bytes(), &wantRecs)
		lost := 0
		for i := range wantRecs {
			if i >= len(gotRecs) || !bytes.Equal(gotRecs[i], wantRecs[i]) {
				lost++
			}
		}
		t.Fatalf("%d of %d records upstream do not re-identify after kill -9", lost, len(wantRecs))
	}
	t.Logf("all %d records the upstream received re-identify after kill -9 and restart", len(ids))

	// No personnummer in what either process logged.
	for _, log := range []string{gw.audit.String(), gw.stderr.String(), gw2.audit.String(), gw2.stderr.String()} {
		for _, id := range ids {
			if pnr, _ := sent.Load(id); strings.Contains(log, pnr.(string)) {
				t.Fatal("a log contains a personnummer")
			}
		}
	}
	if !strings.Contains(gw.audit.String(), `"action":"pseudonymize"`) || !strings.Contains(gw2.audit.String(), `"path":"/v1/reidentify"`) {
		t.Errorf("the audit logs lack the posts or the re-identification")
	}
}

// TestFaultServeReadOnly: the re-identification store file on a
// read-only bind mount, or the whole data directory read-only, stops
// `sluss serve` at start-up with one line that names what it could not
// write, rather than serving requests it would have to refuse. (A
// read-only remount under a running gateway is refused by the kernel while
// the store file is open for writing, EBUSY, and chattr +i does not stop
// writes through a descriptor already open: start-up is where a read-only
// store shows for real.)
func TestFaultServeReadOnly(t *testing.T) {
	bin := buildSluss(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	gw := startServeBinary(t, bin, "--data-dir", dataDir)
	gw.cmd.Process.Signal(syscall.SIGTERM)
	<-gw.exited
	db := filepath.Join(dataDir, "pseudonyms.db")
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, mount, want string }{
		{"store-file", db, "failed to open store: open " + db + ": read-only file system"},
		{"data-dir", dataDir, "read-only file system"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if out, err := exec.Command("mount", "--bind", "-o", "ro", c.mount, c.mount).CombinedOutput(); err != nil {
				t.Skipf("cannot bind-mount read-only (needs root or CAP_SYS_ADMIN): %v: %s", err, bytes.TrimSpace(out))
			}
			defer exec.Command("umount", c.mount).Run()
			if f, err := os.OpenFile(db, os.O_RDWR, 0); !errors.Is(err, syscall.EROFS) {
				f.Close()
				t.Fatalf("the store file is writable: %v", err)
			}
			cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), "SLUSS_CONFIG=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("serve exited 0")
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("serve kept running:\n%s", stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "sluss serve: ") || !strings.Contains(last, c.want) {
				t.Fatalf("serve said:\n%s", stderr.String())
			}
			t.Logf("%s", last)
		})
	}
}
