package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluss/sluss/crypto"
)

// apiTokens are one token per role, plus one with every role.
var apiTokens = map[string][]string{
	"tok-encrypt":      {"encrypt"},
	"tok-decrypt":      {"decrypt"},
	"tok-pseudonymize": {"pseudonymize"},
	"tok-reidentify":   {"reidentify"},
	"tok-audit":        {"audit"},
	"tok-all":          {"encrypt", "decrypt", "pseudonymize", "reidentify", "audit"},
}

func apiConfig() APIConfig {
	var c APIConfig
	for tok, roles := range apiTokens {
		sum := sha256.Sum256([]byte(tok))
		c.Tokens = append(c.Tokens, APIToken{Name: strings.TrimPrefix(tok, "tok-"), SHA256: hex.EncodeToString(sum[:]), Roles: roles})
	}
	return c
}

// apiCallTo makes one API call to the harness's admin listener.
func (h *harness) apiCallTo(t testing.TB, method, path, token, contentType string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, h.admin+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ n, off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 7 % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// heapPeak samples the heap until stop is called and returns the peak
// growth over the starting value.
func heapPeak() (stop func() uint64) {
	// A low GC target keeps garbage from passing for live memory.
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
					peak.Store(m.HeapInuse - base)
				}
			}
		}
	}()
	return func() uint64 {
		close(done)
		debug.SetGCPercent(old)
		return peak.Load()
	}
}

func TestAPIEncryptDecrypt50MiB(t *testing.T) {
	cfg := Config{API: apiConfig()}
	h := newHarness(t, cfg)
	const size = 50 << 20
	enc := filepath.Join(t.TempDir(), "enc.age")
	stop := heapPeak()

	resp := h.apiCallTo(t, "POST", "/v1/encrypt", "tok-encrypt", "application/octet-stream", &patternReader{n: size})
	f, _ := os.Create(enc)
	n, err := io.Copy(f, resp.Body)
	f.Close()
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("encrypt: %s %v", resp.Status, err)
	}
	if want, _ := crypto.EncryptedSize(size, h.keys.id.Recipient()); resp.ContentLength >= 0 && resp.ContentLength != want || n != want {
		t.Errorf("encrypted size %d (Content-Length %d), want %d", n, resp.ContentLength, want)
	}
	f, _ = os.Open(enc)
	defer f.Close()
	resp = h.apiCallTo(t, "POST", "/v1/decrypt", "tok-decrypt", "application/octet-stream", f)
	got, want := sha256.New(), sha256.New()
	m, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	io.Copy(want, &patternReader{n: size})
	if err != nil || resp.StatusCode != 200 || m != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("decrypt: %s, %d bytes, %v", resp.Status, m, err)
	}
	peak := stop()
	t.Logf("heap growth during the 50 MiB round trip: %.1f MiB", float64(peak)/(1<<20))
	if peak > 24<<20 {
		t.Errorf("heap grew by %d MiB for a streamed 50 MiB round trip", peak>>20)
	}
	// The real age CLI agrees.
	out := filepath.Join(t.TempDir(), "plain")
	h.ageDecrypt(t, enc, out)
	if st, _ := os.Stat(out); st == nil || st.Size() != size {
		t.Errorf("age -d of the API's output has the wrong size")
	}
	// Tampered input: refused before anything is sent, or cut.
	resp = h.apiCallTo(t, "POST", "/v1/decrypt", "tok-decrypt", "", strings.NewReader("not age at all"))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"request_id"`) {
		t.Errorf("decrypt of junk: %s %s", resp.Status, b)
	}
	// Tampered after the header: the plaintext before the bad chunk may
	// arrive, the response is cut, and the bad chunk's plaintext never.
	var ct bytes.Buffer
	ew, _ := crypto.Encrypt(&ct, h.keys.id.Recipient())
	io.Copy(ew, &patternReader{n: 200 << 10})
	ew.Close()
	tampered := ct.Bytes()
	tampered[len(tampered)-100] ^= 1
	resp = h.apiCallTo(t, "POST", "/v1/decrypt", "tok-decrypt", "application/octet-stream", bytes.NewReader(tampered))
	n2, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil || n2 > 192<<10 {
		t.Errorf("tampered decrypt: %d bytes, %v; want a cut response without the last chunk", n2, err)
	}
	if !h.auditHas(t, `"service":"api"`, `"action":"encrypt"`, `"user":"encrypt"`, `"bytes_up":52428800`) {
		t.Errorf("audit lacks the API call:\n%s", h.audit.String())
	}
}

func TestAPIPseudonymizeRoles(t *testing.T) {
	h := newHarness(t, Config{API: apiConfig()})
	resp := h.apiCallTo(t, "POST", "/v1/pseudonymize", "tok-pseudonymize", "application/json", strings.NewReader(patientJSON))
	tokens, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !json.Valid(tokens) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("pseudonymize: %s", resp.Status)
	}
	checkNoPersonalValues(t, "pseudonymized JSON", string(tokens))
	resp = h.apiCallTo(t, "POST", "/v1/reidentify", "tok-reidentify", "application/json", bytes.NewReader(tokens))
	back, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var a, b map[string]any
	json.Unmarshal([]byte(patientJSON), &a)
	if err := json.Unmarshal(back, &b); err != nil || resp.StatusCode != 200 || !mapsEqual(a, b) {
		t.Errorf("reidentify: %s: round trip differs", resp.Status)
	}
	// CSV and text select their transformers.
	resp = h.apiCallTo(t, "POST", "/v1/pseudonymize", "tok-all", "text/csv", strings.NewReader("namn;personnummer\nTolvan Tolvansson;19121212-1212\n"))
	csv, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(csv), "namn;personnummer\nsl_") {
		t.Errorf("CSV: %s", resp.Status)
	}
	checkNoPersonalValues(t, "pseudonymized CSV", string(csv))
	// Broken JSON: 400, JSON error with request ID, no value quoted.
	resp = h.apiCallTo(t, "POST", "/v1/pseudonymize", "tok-all", "application/json", strings.NewReader(`{"namn": "Tolvan Tolvansson", 19121212-1212}`))
	e, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ae apiError
	if resp.StatusCode != 400 || json.Unmarshal(e, &ae) != nil || ae.RequestID == "" || ae.RequestID != resp.Header.Get("X-Sluss-Request-Id") {
		t.Errorf("broken JSON: %s %s", resp.Status, e)
	}
	checkNoPersonalValues(t, "error body", string(e))
	resp = h.apiCallTo(t, "POST", "/v1/pseudonymize", "tok-all", "image/png", strings.NewReader("x"))
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("image/png: %s", resp.Status)
	}

	// Each role: 401 without a token (or with an unknown one), 403 without
	// the role, and the role's own token passes the check.
	for _, ep := range []struct{ path, role string }{
		{"/v1/encrypt", "encrypt"}, {"/v1/decrypt", "decrypt"}, {"/v1/pseudonymize", "pseudonymize"}, {"/v1/reidentify", "reidentify"},
	} {
		for tok, roles := range apiTokens {
			resp := h.apiCallTo(t, "POST", ep.path, tok, "text/plain", strings.NewReader("hej"))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			allowed := slices.Contains(roles, ep.role)
			if allowed && resp.StatusCode == 403 || !allowed && resp.StatusCode != 403 {
				t.Errorf("%s with %s: %s", ep.path, tok, resp.Status)
			}
			if !allowed && !strings.Contains(string(body), `"request_id"`) {
				t.Errorf("%s with %s: error body not JSON with a request ID", ep.path, tok)
			}
		}
		for _, tok := range []string{"", "tok-unknown"} {
			resp := h.apiCallTo(t, "POST", ep.path, tok, "text/plain", strings.NewReader("hej"))
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with token %q: %s", ep.path, tok, resp.Status)
			}
		}
	}
	resp = h.apiCallTo(t, "GET", "/v1/recipient", "", "", nil)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("recipient without a token: %s", resp.Status)
	}
	resp = h.apiCallTo(t, "GET", "/v1/recipient", "tok-encrypt", "", nil)
	var rc struct{ Recipients []string }
	json.NewDecoder(resp.Body).Decode(&rc)
	resp.Body.Close()
	if len(rc.Recipients) != 1 || rc.Recipients[0] != h.keys.id.Recipient().String() {
		t.Errorf("recipient: %v", rc.Recipients)
	}
	if !h.auditHas(t, `"service":"api"`, `"action":"deny"`, `"status":403`) || !h.auditHas(t, `"action":"reidentify"`, `"reidentified":`) {
		t.Errorf("audit lacks API denials or counts")
	}
}

func mapsEqual(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestAPILoopbackMode: with no tokens, loopback callers need none; off
// loopback (a listener on another address) every call needs one.
func TestAPILoopbackMode(t *testing.T) {
	h := newHarness(t, Config{})
	resp := h.apiCallTo(t, "POST", "/v1/pseudonymize", "", "text/plain", strings.NewReader("personnummer 19121212-1212"))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !tokenRE.Match(b) {
		t.Errorf("loopback call without a token: %s", resp.Status)
	}
	a, _ := newAPIAuth(APIConfig{})
	r := httptest.NewRequest("POST", "/v1/encrypt", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8081}))
	if who, status, _ := a.authenticate(r); who != nil || status != 401 {
		t.Errorf("non-loopback listener without a token: %v %d", who, status)
	}
}

// TestOpenAPIMatchesRoutes parses openapi.yaml, compares its paths and
// methods with the admin routes, and calls every documented route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.yaml: %v", err)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	h := newHarness(t, Config{API: apiConfig()})
	var routes []string
	for _, rt := range h.gw.adminRoutes() {
		routes = append(routes, rt.pattern)
	}
	slices.Sort(documented)
	slices.Sort(routes)
	if !slices.Equal(documented, routes) {
		t.Fatalf("openapi.yaml documents\n%v\nthe admin listener serves\n%v", documented, routes)
	}
	encrypted := func() io.Reader {
		var b bytes.Buffer
		w, _ := crypto.Encrypt(&b, h.keys.id.Recipient())
		io.WriteString(w, "hej")
		w.Close()
		return &b
	}
	for _, rt := range documented {
		method, path, _ := strings.Cut(rt, " ")
		var body io.Reader
		ct := ""
		if method == "POST" {
			body, ct = strings.NewReader("hej"), "text/plain"
			if path == "/v1/decrypt" {
				body, ct = encrypted(), "application/octet-stream"
			}
		}
		resp := h.apiCallTo(t, method, path, "tok-all", ct, body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s", rt, resp.Status)
		}
		if _, ok := doc.Paths[path][strings.ToLower(method)]["responses"].(map[string]any)["200"]; !ok {
			t.Errorf("%s: 200 not documented", rt)
		}
	}
	// The served copy is the file.
	resp := h.apiCallTo(t, "GET", "/v1/openapi.yaml", "", "", nil)
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(served, raw) {
		t.Errorf("served openapi.yaml differs from the file")
	}
}
