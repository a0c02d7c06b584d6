package gateway

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/pseudonym"
)

// personalValues are every personnummer and name the tests send. No log,
// metric or error body may contain any of them.
var personalValues = []string{
	"19121212-1212", "121212-1212", "191212121212", "701063-2391", "19701063-2391",
	"811218-9876", "Tolvan", "Tolvansson", "Anna Andersson", "Andersson",
	"1212121212", "Björn", "Ängström", "Łukasz", "Żółć",
}

var tokenRE = regexp.MustCompile(pseudonym.TokenPattern)

// record is what the test cloud's /api/records endpoint keeps.
type record struct {
	contentType string
	body        []byte
}

// recordsAPI adds a small JSON API to the cloud: POST /api/records stores
// a body, GET /api/records/{n} returns it with its Content-Type.
func recordsAPI(c *cloud) func(n int) record {
	var mu sync.Mutex
	var recs []record
	c.mux.HandleFunc("POST /api/records", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		recs = append(recs, record{r.Header.Get("Content-Type"), b})
		n := len(recs)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d}`, n)
	})
	c.mux.HandleFunc("GET /api/records/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		mu.Lock()
		defer mu.Unlock()
		if n < 1 || n > len(recs) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", recs[n-1].contentType)
		w.Write(recs[n-1].body)
	})
	return func(n int) record {
		mu.Lock()
		defer mu.Unlock()
		if n < 1 || n > len(recs) {
			return record{}
		}
		return recs[n-1]
	}
}

// pseudonymConfig is a webdav service whose /api/ pseudonymizes JSON, with
// alice allowed to re-identify and bob not.
func pseudonymConfig(t *testing.T, c *cloud) Config {
	cfg := storageConfig(c, "webdav")
	cfg.Services[0].Rules = []RuleConfig{{Path: "/api/*", Request: []string{"pseudonymize"}, Response: []string{"reidentify"}}}
	cfg.UsersFile = writeUsers(t, map[string]string{"alice": "a-pass", "bob": "b-pass"})
	cfg.Groups = []GroupConfig{
		{Name: "staff", Members: []string{"alice", "bob"}, Rights: []string{"decrypt"}},
		{Name: "registry", Members: []string{"alice"}, Rights: []string{"reidentify"}},
	}
	return cfg
}

const patientJSON = `{
  "namn": "Tolvan Tolvansson",
  "personnummer": "19121212-1212",
  "kort": "121212-1212",
  "tolv": "191212121212",
  "samordningsnummer": "701063-2391",
  "samordning_lang": "19701063-2391",
  "anteckning": "Ring Anna Andersson om 811218-9876 i morgon",
  "antal": 3,
  "aktiv": true
}`

func TestCurlPseudonymizeJSON(t *testing.T) {
	c := newCloud(t)
	get := recordsAPI(c)
	h := newHarness(t, pseudonymConfig(t, c))
	src := writeTemp(t, "patient.json", []byte(patientJSON))

	out, e, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", "-H", "Content-Type: application/json", "--data-binary", "@"+src, c.URL()+"/api/records")
	if err != nil || out != `{"id":1}` {
		t.Fatalf("POST: %v: %s %s", err, out, e)
	}
	stored := get(1)
	var orig, up map[string]any
	json.Unmarshal([]byte(patientJSON), &orig)
	if err := json.Unmarshal(stored.body, &up); err != nil {
		t.Fatalf("stored body is not JSON: %v", err)
	}
	for _, v := range personalValues {
		if bytes.Contains(stored.body, []byte(v)) {
			t.Errorf("upstream received a personal value")
		}
	}
	if len(up) != len(orig) {
		t.Errorf("stored JSON has %d keys, want %d", len(up), len(orig))
	}
	for k, v := range orig {
		s, isString := v.(string)
		switch {
		case !isString && up[k] != v:
			t.Errorf("%s: non-string value changed", k)
		case isString && k != "anteckning" && !tokenOnly.MatchString(fmt.Sprint(up[k])):
			t.Errorf("%s: stored value is not a token", k)
		case isString && len(tokenRE.FindAllString(fmt.Sprint(up[k]), -1)) == 0:
			t.Errorf("%s: no token in %d-byte value", k, len(s))
		}
	}
	if !h.auditHas(t, `"method":"POST"`, `"replaced_personnummer":6`, `"path":"/api/records"`) {
		t.Errorf("audit lacks the pseudonymization counts:\n%s", h.audit.String())
	}

	// alice sees the originals, bob the tokens.
	out, e, err = h.curl(t, "-f", "--proxy-user", "alice:a-pass", "--compressed", c.URL()+"/api/records/1")
	var back map[string]any
	if err != nil || json.Unmarshal([]byte(out), &back) != nil {
		t.Fatalf("alice GET: %v: %s\n%s", err, e, h.audit.String())
	}
	for k, v := range orig {
		if back[k] != v {
			t.Errorf("alice: %s not re-identified", k)
		}
	}
	out, _, err = h.curl(t, "-f", "--proxy-user", "bob:b-pass", c.URL()+"/api/records/1")
	if err != nil || out != string(stored.body) {
		t.Errorf("bob GET: %v: want the tokens", err)
	}
	// By type: the six personnummer forms, and the names.
	if !h.auditHas(t, `"user":"alice"`, `"reidentified_personnummer":6`, `"reidentified_names":`) ||
		h.auditHas(t, `"user":"alice"`, `"reidentified_names":0`) {
		t.Errorf("audit lacks the re-identification counts by type:\n%s", h.audit.String())
	}

	// Broken JSON is refused with nothing upstream.
	before := c.requests.Load()
	out, _, _ = h.curl(t, "--proxy-user", "bob:b-pass", "-H", "Accept: application/json", "-H", "Content-Type: application/json",
		"--data-binary", `{"namn": "Tolvan Tolvansson", "personnummer": 19121212-1212`, "-w", "\n%{http_code}", c.URL()+"/api/records")
	if !strings.HasSuffix(out, "\n400") || !strings.Contains(out, "invalid json") || !strings.Contains(out, "request_id") {
		t.Errorf("broken JSON: %s", out)
	}
	checkNoPersonalValues(t, "error body", out)
	if c.requests.Load() != before {
		t.Errorf("broken JSON reached the upstream")
	}
	// So is a body type the rule cannot pseudonymize.
	out, _, _ = h.curl(t, "--proxy-user", "bob:b-pass", "-H", "Content-Type: application/octet-stream",
		"--data-binary", "19121212-1212", "-o", "/dev/null", "-w", "%{http_code}", c.URL()+"/api/records")
	if out != "415" || c.requests.Load() != before {
		t.Errorf("octet-stream body: %s", out)
	}
	// The re-identification store down: refused, nothing upstream, and
	// alice gets tokens rather than a half re-identified page.
	h.store.down.Store(true)
	out, _, _ = h.curl(t, "--proxy-user", "bob:b-pass", "-H", "Content-Type: application/json", "--data-binary", "@"+src, "-o", "/dev/null", "-w", "%{http_code}", c.URL()+"/api/records")
	if out != "503" || c.requests.Load() != before {
		t.Errorf("POST with the store down: %s", out)
	}
	out, _, _ = h.curl(t, "--proxy-user", "alice:a-pass", "-w", "\n%{http_code}", c.URL()+"/api/records/1")
	h.store.down.Store(false)
	if !strings.HasSuffix(out, "\n503") {
		t.Errorf("GET with the store down: %s", out)
	}
	checkNoPersonalValues(t, "error body", out)
	if n := sum(h.scrape(t), "sluss_key_store_errors_total", map[string]string{"operation": "pseudonym"}); n != 2 {
		t.Errorf("store failures counted %v times, want 2", n)
	}
	// A response without a token has nothing to put back: it passes as
	// sent, even with the store down.
	c.mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	h.store.down.Store(true)
	out, _, err = h.curl(t, "-f", "--proxy-user", "alice:a-pass", c.URL()+"/api/status")
	h.store.down.Store(false)
	if err != nil || out != `{"ok":true}` {
		t.Errorf("token-free response with the store down: %q, %v", out, err)
	}
	// Query values are pseudonymized, and re-identified in responses.
	c.mux.HandleFunc("GET /api/query", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, r.URL.RawQuery)
	})
	out, _, err = h.curl(t, "-f", "--proxy-user", "bob:b-pass", c.URL()+"/api/query?patient=19121212-1212&namn=Tolvan+Tolvansson&sida=2")
	if err != nil || !strings.HasPrefix(out, "patient=sl_pnr") || !strings.Contains(out, "&namn=sl_name") || !strings.HasSuffix(out, "&sida=2") {
		t.Errorf("query upstream: %v", err)
	}
	checkNoPersonalValues(t, "upstream query", out)
	out, _, err = h.curl(t, "-f", "--proxy-user", "alice:a-pass", c.URL()+"/api/query?patient=19121212-1212&sida=2")
	if err != nil || out != "patient=19121212-1212&sida=2" {
		t.Errorf("query re-identified for alice: %v", err)
	}
	before = c.requests.Load()
	// Key store down: refused, nothing upstream.
	h.keys.failing.Store(true)
	out, _, _ = h.curl(t, "--proxy-user", "bob:b-pass", "-F", "namn=Tolvan Tolvansson", "-F", "f=@"+src, "-o", "/dev/null", "-w", "%{http_code}", c.URL()+"/api/records")
	h.keys.failing.Store(false)
	if out != "503" || c.requests.Load() != before {
		t.Errorf("form upload with keys down: %s", out)
	}
}

func TestCurlPseudonymizeFiles(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, pseudonymConfig(t, c))
	data := content(150<<10, 42)
	src := writeTemp(t, "upload.pdf", data)
	const name = "19121212-1212 Tolvan Tolvansson.pdf"
	base := c.URL() + "/files/"
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-X", "MKCOL", base); err != nil {
		t.Fatalf("MKCOL: %v %s", err, e)
	}
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-T", src, base+"19121212-1212%20Tolvan%20Tolvansson.pdf"); err != nil {
		t.Fatalf("PUT: %v %s", err, e)
	}
	entries, _ := os.ReadDir(filepath.Join(c.dir, "files"))
	if len(entries) != 1 {
		t.Fatalf("upstream holds %d files", len(entries))
	}
	up := entries[0].Name()
	if strings.Contains(up, "1212") || strings.Contains(up, "Tolvan") || !strings.HasSuffix(up, ".pdf") || !tokenRE.MatchString(up) {
		t.Errorf("upstream file name is not pseudonymized")
	}
	if !crypto.IsEncrypted(c.stored(t, "files/"+up)) {
		t.Errorf("upstream file is not encrypted")
	}

	propfind := func(user string) string {
		out, e, err := h.curl(t, "-f", "--proxy-user", user, "-X", "PROPFIND", "-H", "Depth: 1", "--compressed", base)
		if err != nil {
			t.Fatalf("PROPFIND as %s: %v %s", user, err, e)
		}
		return out
	}
	if l := propfind("alice:a-pass"); !strings.Contains(l, "/files/19121212-1212%20Tolvan%20Tolvansson.pdf</") ||
		!strings.Contains(l, ">"+name+"</") || strings.Contains(l, "sl_") {
		t.Errorf("alice's listing lacks the real name")
	}
	if l := propfind("bob:b-pass"); !strings.Contains(l, up) || strings.Contains(l, "Tolvan") {
		t.Errorf("bob's listing is not tokens only")
	}
	back := filepath.Join(t.TempDir(), "back")
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-o", back, base+"19121212-1212%20Tolvan%20Tolvansson.pdf"); err != nil || fileSum(t, back) != fileSum(t, src) {
		t.Errorf("GET by the real name: %v %s", err, e)
	}
	// MOVE: the Destination's file name is pseudonymized too.
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-X", "MOVE", "-H", "Destination: "+base+"Anna%20Andersson%20811218-9876.pdf",
		base+"19121212-1212%20Tolvan%20Tolvansson.pdf"); err != nil {
		t.Fatalf("MOVE: %v %s", err, e)
	}
	entries, _ = os.ReadDir(filepath.Join(c.dir, "files"))
	for _, en := range entries {
		if strings.Contains(en.Name(), "Anna") || strings.Contains(en.Name(), "9876") {
			t.Errorf("MOVE destination not pseudonymized")
		}
	}
	if l := propfind("alice:a-pass"); !strings.Contains(l, ">Anna Andersson 811218-9876.pdf</") {
		t.Errorf("listing after MOVE lacks the real name")
	}

	// A multipart form: text parts pseudonymized, file encrypted under a
	// pseudonymized name.
	form := writeTemp(t, "19121212-1212.txt", data)
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-F", "namn=Tolvan Tolvansson", "-F", "note=pnr 19121212-1212", "-F", "file=@"+form, "-F", "blob=<"+form+";type=application/octet-stream", c.URL()+"/form"); err != nil {
		t.Fatalf("form POST: %v %s", err, e)
	}
	body := c.stored(t, "form-1")
	checkNoPersonalValues(t, "stored form", string(body))
	i := bytes.Index(body, []byte("\r\n"))
	mr := multipart.NewReader(bytes.NewReader(body), string(body[2:i]))
	parts := 0
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		parts++
		b, _ := io.ReadAll(p)
		switch p.FormName() {
		case "namn":
			if !tokenOnly.Match(b) {
				t.Errorf("name field is not one token")
			}
		case "note":
			if !tokenRE.Match(b) {
				t.Errorf("note field has no token")
			}
		case "blob":
			if !crypto.IsEncrypted(b) {
				t.Errorf("a binary part without a file name left unencrypted")
			}
		case "file":
			_, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			if !crypto.IsEncrypted(b) || !tokenRE.MatchString(params["filename"]) {
				t.Errorf("file part: encrypted %v, name pseudonymized %v", crypto.IsEncrypted(b), tokenRE.MatchString(params["filename"]))
			}
		}
	}
	if parts != 4 {
		t.Errorf("stored form has %d parts", parts)
	}
	if h.auditHas(t, "Tolvan") || !h.auditHas(t, `"method":"PUT"`, `"path":"/files/sl_name`) {
		t.Errorf("audit path not pseudonymized:\n%s", h.audit.String())
	}
}

// checkNoPersonalValues fails if s holds any value the tests use.
func checkNoPersonalValues(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range personalValues {
		if strings.Contains(s, v) {
			t.Errorf("%s contains a personal value", what)
		}
	}
}

// TestCurlCompression: gzip request bodies are decoded and pseudonymized;
// gzip responses are decoded, re-identified and sent without
// Content-Encoding and with a correct length, for alice; bob gets the
// provider's bytes.
func TestCurlCompression(t *testing.T) {
	c := newCloud(t)
	get := recordsAPI(c)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, patientJSON)
	zw.Close()
	h := newHarness(t, pseudonymConfig(t, c))
	src := writeTemp(t, "p.json.gz", gz.Bytes())
	if out, e, err := h.curl(t, "-f", "--proxy-user", "bob:b-pass", "-H", "Content-Type: application/json", "-H", "Content-Encoding: gzip", "--data-binary", "@"+src, c.URL()+"/api/records"); err != nil {
		t.Fatalf("gzip POST: %v %s %s", err, out, e)
	}
	stored := get(1).body
	if !json.Valid(stored) || !tokenRE.Match(stored) {
		t.Fatalf("gzip body not decoded and pseudonymized")
	}
	checkNoPersonalValues(t, "stored body", string(stored))
	// The provider answers gzip when asked.
	c.mux.HandleFunc("GET /api/gz", func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(stored)
		zw.Close()
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", fmt.Sprint(b.Len()))
			w.Write(b.Bytes())
			return
		}
		w.Write(stored)
	})
	out, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-H", "Accept-Encoding: gzip, br, zstd", "-D", "-", "-o", "/dev/null", c.URL()+"/api/gz")
	if err != nil || strings.Contains(strings.ToLower(out), "content-encoding") {
		t.Errorf("alice's response headers: %v %s %s", err, out, e)
	}
	out, e, err = h.curl(t, "-f", "--proxy-user", "alice:a-pass", "--compressed", c.URL()+"/api/gz")
	var back, orig map[string]any
	json.Unmarshal([]byte(patientJSON), &orig)
	if err != nil || json.Unmarshal([]byte(out), &back) != nil || !mapsEqual(orig, back) {
		t.Errorf("alice's gzip response not re-identified: %v %s", err, e)
	}
	out, _, err = h.curl(t, "-f", "--proxy-user", "bob:b-pass", "--compressed", "-w", "%{size_download}", "-o", "/dev/null", c.URL()+"/api/gz")
	if err != nil || out == fmt.Sprint(len(stored)) {
		t.Errorf("bob's gzip response was changed (%s bytes)", out)
	}
}

// TestAuditPathPseudonymized: services that do not pseudonymize (inspect,
// block) still never log a personnummer or name from a URL path: the audit
// log gets the path with tokens.
func TestAuditPathPseudonymized(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "inspect"))
	if _, e, err := h.curl(t, c.URL()+"/patients/19121212-1212/Anna%20Andersson"); err != nil {
		t.Fatalf("GET through inspect: %v %s", err, e)
	}
	h.curl(t, "http://blocked.test/patients/121212-1212")
	if !h.auditHas(t, `"action":"inspect"`, `"path":"/patients/sl_pnr`, `/sl_name`) {
		t.Errorf("inspect: audit path not pseudonymized:\n%s", h.audit.String())
	}
	if !h.auditHas(t, `"action":"block"`, `"method":"GET"`, `"path":"/patients/sl_pnr`) {
		t.Errorf("block: audit path not pseudonymized:\n%s", h.audit.String())
	}
}
