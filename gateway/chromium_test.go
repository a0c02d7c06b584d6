package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluss/sluss/crypto"
)

// The browser test drives headless Chromium with the DevTools protocol
// over --remote-debugging-pipe (JSON messages separated by NUL on fds 3
// and 4), which needs no dependency beyond the standard library: the few
// commands used here (navigate, set a file input, evaluate, screenshot)
// do not justify a CDP client library.

// cdp is a minimal DevTools protocol client.
type cdp struct {
	w       io.Writer
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpMessage
	events  chan cdpMessage
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func newCDP(w io.Writer, r io.Reader) *cdp {
	c := &cdp{w: w, pending: map[int]chan cdpMessage{}, events: make(chan cdpMessage, 1024)}
	go func() {
		br := bufio.NewReaderSize(r, 1<<20)
		for {
			b, err := br.ReadBytes(0)
			if err != nil {
				close(c.events)
				return
			}
			var m cdpMessage
			if json.Unmarshal(bytes.TrimSuffix(b, []byte{0}), &m) != nil {
				continue
			}
			if m.ID != 0 {
				c.mu.Lock()
				ch := c.pending[m.ID]
				delete(c.pending, m.ID)
				c.mu.Unlock()
				if ch != nil {
					ch <- m
				}
				continue
			}
			select {
			case c.events <- m:
			default: // nobody waits for that many events
			}
		}
	}()
	return c
}

// call sends one command and waits for its result.
func (c *cdp) call(ctx context.Context, session, method string, params any, result any) error {
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan cdpMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	p, _ := json.Marshal(params)
	msg, _ := json.Marshal(struct {
		ID        int             `json:"id"`
		Method    string          `json:"method"`
		Params    json.RawMessage `json:"params"`
		SessionID string          `json:"sessionId,omitempty"`
	}{id, method, p, session})
	if _, err := c.w.Write(append(msg, 0)); err != nil {
		return err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// waitEvent waits for an event of the session.
func (c *cdp) waitEvent(ctx context.Context, session, method string) error {
	for {
		select {
		case m, ok := <-c.events:
			if !ok {
				return errors.New("chromium went away")
			}
			if m.Method == method && m.SessionID == session {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		}
	}
}

// formApp adds the upstream web application: GET /app/form is an HTML
// form with a personnummer field and a file input; POST /app/submit stores
// what it gets and answers with a page that shows the personnummer it
// received.
func formApp(c *cloud) {
	c.mux.HandleFunc("GET /app/form", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"><title>Remiss</title></head><body>
<h1>Ny remiss</h1>
<form method="post" action="/app/submit" enctype="multipart/form-data">
<label>Personnummer <input id="pnr" name="personnummer"></label>
<label>Namn <input id="namn" name="namn"></label>
<label>Bilaga <input id="file" type="file" name="bilaga"></label>
<button id="send" type="submit">Skicka</button>
</form></body></html>`)
	})
	c.mux.HandleFunc("POST /app/submit", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		pnr, namn := r.FormValue("personnummer"), r.FormValue("namn")
		f, fh, err := r.FormFile("bilaga")
		if err != nil {
			http.Error(w, "no file", 400)
			return
		}
		data, _ := io.ReadAll(f)
		os.WriteFile(filepath.Join(c.dir, "app-file"), data, 0o600)
		os.WriteFile(filepath.Join(c.dir, "app-fields"), []byte(pnr+"\n"+namn+"\n"+fh.Filename), 0o600)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>Mottaget</title>
<style>body{font-family:sans-serif;margin:2em}span{font-weight:bold}</style></head><body>
<h1>Remissen är mottagen</h1>
<p>Patient: <span id="pnr-out">%s</span>, <span id="namn-out">%s</span></p>
<p>Bilaga: <span id="file-out">%s</span> (%d bytes lagrade)</p>
<p><a id="patient" href="/app/patient/%s">Patientens sida</a></p>
</body></html>`, pnr, namn, fh.Filename, len(data), pnr)
	})
	// The patient's page, whose URL holds the personnummer, links on; the
	// next page keeps the Referer the browser sent.
	c.mux.HandleFunc("GET /app/patient/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"><title>Patient</title></head><body>
<p><a id="next" href="/app/next">Vidare</a></p></body></html>`)
	})
	c.mux.HandleFunc("GET /app/next", func(w http.ResponseWriter, r *http.Request) {
		os.WriteFile(filepath.Join(c.dir, "app-referer"), []byte(r.Header.Get("Referer")), 0o600)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"><title>Vidare</title></head><body></body></html>`)
	})
}

func TestChromiumForm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin := needTool(t, "chromium", "apt-get install -y chromium")
	certutil := needTool(t, "certutil", "apt-get install -y libnss3-tools")
	c := newCloud(t)
	formApp(c)
	_, port, _ := splitHostPort(c.host())
	cfg := Config{UpstreamCA: c.caFile, Services: []ServiceConfig{{Name: "app", Hosts: []string{"example.com"}, Profile: "form", Ports: []int{c.port()}, AllowLoopback: true}}}
	h := newHarness(t, cfg)

	// A home whose NSS database trusts the region CA, as a managed
	// workstation's would.
	home := t.TempDir()
	nssdb := filepath.Join(home, ".pki", "nssdb")
	os.MkdirAll(nssdb, 0o700)
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + nssdb, "--empty-password"},
		{"-A", "-d", "sql:" + nssdb, "-t", "C,,", "-n", "sluss-region-ca", "-i", h.caFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	const pnr, namn = "19121212-1212", "Tolvan Tolvansson"
	fileData := []byte(secretMarker + " remissunderlag\n")
	upload := writeTemp(t, "remiss.txt", fileData)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	toChrome, chromeIn, _ := os.Pipe()    // Chromium reads fd 3
	chromeOut, fromChrome, _ := os.Pipe() // Chromium writes fd 4
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
		"--user-data-dir="+filepath.Join(home, "profile"),
		"--proxy-server="+h.proxy, "--proxy-bypass-list=<-loopback>",
		"--window-size=900,600", "--remote-debugging-pipe", "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	fromChrome.Close()
	defer func() {
		chromeIn.Close()
		cmd.Process.Kill()
		cmd.Wait()
		chromeOut.Close()
	}()
	cd := newCDP(chromeIn, chromeOut)

	var target struct{ TargetID string }
	if err := cd.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var att struct{ SessionID string }
	if err := cd.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	s := att.SessionID
	must := func(method string, params, result any) {
		t.Helper()
		if err := cd.call(ctx, s, method, params, result); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
	}
	eval := func(expr string) string {
		t.Helper()
		var res struct {
			Result struct {
				Value any `json:"value"`
			} `json:"result"`
		}
		must("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
		return fmt.Sprint(res.Result.Value)
	}
	must("Page.enable", map[string]any{}, nil)
	must("Page.navigate", map[string]any{"url": "https://example.com:" + port + "/app/form"}, nil)
	if err := cd.waitEvent(ctx, s, "Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}
	if got := eval("document.title"); got != "Remiss" {
		t.Fatalf("form page title %q (the CA or the proxy is not in use?)", got)
	}
	eval(fmt.Sprintf("document.getElementById('pnr').value = %q; document.getElementById('namn').value = %q", pnr, namn))
	var doc struct{ Root struct{ NodeID int } }
	must("DOM.getDocument", map[string]any{}, &doc)
	var q struct{ NodeID int }
	must("DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": "#file"}, &q)
	must("DOM.setFileInputFiles", map[string]any{"nodeId": q.NodeID, "files": []string{upload}}, nil)
	eval("document.getElementById('send').click()")
	if err := cd.waitEvent(ctx, s, "Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}
	if got := eval("document.title"); got != "Mottaget" {
		t.Fatalf("result page title %q", got)
	}
	// The page the upstream returned shows tokens; the browser shows the
	// originals.
	if got := eval("document.getElementById('pnr-out').textContent"); got != pnr {
		t.Errorf("personnummer on the page: %q, want the original", got)
	}
	if got := eval("document.getElementById('namn-out').textContent"); got != namn {
		t.Errorf("name on the page: %q, want the original", got)
	}
	var shot struct{ Data string }
	must("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, _ := base64.StdEncoding.DecodeString(shot.Data)
	dir := os.Getenv("SLUSS_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	shotFile := filepath.Join(dir, "chromium-form-result.png")
	if err := os.WriteFile(shotFile, png, 0o644); err != nil || len(png) < 1000 {
		t.Errorf("screenshot: %d bytes, %v", len(png), err)
	}
	t.Logf("screenshot: %s", shotFile)

	// Upstream: a token for the personnummer and the name, an age file.
	fields, _ := os.ReadFile(filepath.Join(c.dir, "app-fields"))
	lines := strings.Split(string(fields), "\n")
	if len(lines) != 3 || !tokenOnly.MatchString(lines[0]) || !tokenOnly.MatchString(lines[1]) {
		t.Errorf("upstream fields are not tokens")
	}
	checkNoPersonalValues(t, "upstream fields", string(fields))
	stored, _ := os.ReadFile(filepath.Join(c.dir, "app-file"))
	if !crypto.IsEncrypted(stored) {
		t.Fatalf("upstream file is not an age file")
	}
	h.ageDecrypt(t, filepath.Join(c.dir, "app-file"), filepath.Join(t.TempDir(), "plain"))
	pt, err := crypto.Decrypt(bytes.NewReader(stored), h.keys.id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(pt); !bytes.Equal(got, fileData) {
		t.Errorf("upstream file does not decrypt to the upload")
	}
	if !h.auditHas(t, `"method":"POST"`, `"path":"/app/submit"`, `"replaced_personnummer":1`) || !h.auditHas(t, `"method":"POST"`, `"reidentified":`) {
		t.Errorf("audit lacks the form's counts:\n%s", h.audit.String())
	}

	// From the re-identified page, the link holds the real personnummer;
	// following it and the next link sends a Referer with that URL, which
	// the upstream must see with a token only.
	if got := eval("document.getElementById('patient').getAttribute('href')"); !strings.Contains(got, pnr) {
		t.Fatalf("the re-identified link is %q, want the original personnummer in it", got)
	}
	eval("document.getElementById('patient').click()")
	if err := cd.waitEvent(ctx, s, "Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}
	if got := eval("location.pathname"); !strings.Contains(got, "/app/patient/") {
		t.Fatalf("patient page at %q", got)
	}
	eval("document.getElementById('next').click()")
	if err := cd.waitEvent(ctx, s, "Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}
	referer, err := os.ReadFile(filepath.Join(c.dir, "app-referer"))
	if err != nil {
		t.Fatalf("the next page was not requested: %v", err)
	}
	if !strings.Contains(string(referer), "/app/patient/") || !tokenRE.Match(referer) {
		t.Errorf("upstream Referer %q: want the patient page's URL with a token", referer)
	}
	checkNoPersonalValues(t, "upstream Referer", string(referer))
	if !h.auditHas(t, `"path":"/app/next"`) {
		t.Error("the audit log did not see the followed link")
	}
	checkNoPersonalValues(t, "chromium's log", stderr.String())
}
