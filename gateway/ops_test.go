package gateway

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrape fetches /metrics and parses it with Prometheus's text parser. It
// also checks that no personal value appears anywhere in it.
func (h *harness) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkNoPersonalValues(t, "/metrics", string(raw))
	var p expfmt.TextParser
	mf, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mf
}

// sum adds the values of a family's series whose labels include want.
func sum(mf map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var total float64
	f := mf[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

func TestMetrics(t *testing.T) {
	c := newCloud(t)
	recordsAPI(c)
	h := newHarness(t, pseudonymConfig(t, c))
	before := h.scrape(t)
	for _, name := range []string{"sluss_requests_total", "sluss_bytes_total", "sluss_request_duration_seconds", "sluss_key_store_errors_total", "sluss_identifiers_total", "sluss_keys_ready"} {
		if _, ok := before[name]; !ok && name != "sluss_requests_total" && name != "sluss_request_duration_seconds" {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if sum(before, "sluss_keys_ready", nil) != 1 {
		t.Errorf("keys not ready")
	}
	src := writeTemp(t, "p.json", []byte(patientJSON))
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-H", "Content-Type: application/json", "--data-binary", "@"+src, c.URL()+"/api/records"); err != nil {
		t.Fatalf("POST: %v %s", err, e)
	}
	if _, e, err := h.curl(t, "-f", "--proxy-user", "alice:a-pass", "-o", "/dev/null", c.URL()+"/api/records/1"); err != nil {
		t.Fatalf("GET: %v %s", err, e)
	}
	h.curl(t, "--proxy-user", "bob:b-pass", "-o", "/dev/null", "http://blocked.test/")
	h.keys.failing.Store(true)
	h.curl(t, "--proxy-user", "alice:a-pass", "-o", "/dev/null", "-T", src, c.URL()+"/x.bin")
	resp, _ := http.Get(h.admin + "/readyz")
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz with keys down: %s", resp.Status)
	}
	failing := h.scrape(t)
	h.keys.failing.Store(false)
	after := h.scrape(t)

	if got := sum(after, "sluss_requests_total", map[string]string{"action": "pseudonymize", "status": "201"}); got != 1 {
		t.Errorf("pseudonymize requests: %v", got)
	}
	if sum(after, "sluss_requests_total", map[string]string{"action": "block"}) < 1 {
		t.Errorf("block not counted")
	}
	if got := sum(after, "sluss_identifiers_total", map[string]string{"operation": "pseudonymized", "type": "personnummer"}); got != 6 {
		t.Errorf("personnummer pseudonymized: %v", got)
	}
	// Read back once: the six personnummer of patientJSON, its "namn"
	// field (one token) and Anna Andersson (not "Ring", a verb).
	if got := sum(after, "sluss_identifiers_total", map[string]string{"operation": "reidentified"}); got != 9 {
		t.Errorf("re-identifications: %v", got)
	}
	if sum(after, "sluss_bytes_total", map[string]string{"direction": "up"}) <= sum(before, "sluss_bytes_total", map[string]string{"direction": "up"}) {
		t.Errorf("bytes did not move")
	}
	if sum(after, "sluss_request_duration_seconds", nil) < 3 {
		t.Errorf("latency histogram did not move")
	}
	if sum(failing, "sluss_key_store_errors_total", nil) < 1 || sum(failing, "sluss_keys_ready", nil) != 0 {
		t.Errorf("key store failure not visible in metrics")
	}
	if sum(after, "sluss_keys_ready", nil) != 1 {
		t.Errorf("keys not ready again")
	}
}

// pacRuntime is the part of the PAC runtime browsers provide that the
// file uses, as in Mozilla's pac utils.
const pacRuntime = `
function isPlainHostName(host) { return host.indexOf('.') < 0; }
function dnsDomainIs(host, domain) {
  return host.length >= domain.length && host.substring(host.length - domain.length) == domain;
}
function shExpMatch(str, pattern) {
  var re = new RegExp('^' + pattern.replace(/\./g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(str);
}
function isInNet() { throw new Error("isInNet must not be used: it resolves names"); }
function dnsResolve() { throw new Error("dnsResolve must not be used"); }
`

func TestProxyPAC(t *testing.T) {
	node := needTool(t, "node", "apt-get install -y nodejs")
	for _, def := range []string{"block", "tunnel"} {
		cfg := Config{Default: def, PACProxy: "sluss.region.test:3128", Services: []ServiceConfig{
			{Name: "files", Hosts: []string{"files.example.org", "*.blob.example.net"}, Profile: "storage"},
			{Name: "banned", Hosts: []string{"banned.example.com"}, Action: "block"},
		}}
		h := newHarness(t, cfg)
		resp, err := http.Get(h.admin + "/proxy.pac")
		if err != nil {
			t.Fatal(err)
		}
		pac, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-ns-proxy-autoconfig" {
			t.Errorf("PAC Content-Type %q", ct)
		}
		cases := map[string]string{
			"files.example.org":      "PROXY sluss.region.test:3128",
			"a.b.blob.example.net":   "PROXY sluss.region.test:3128",
			"FILES.example.org":      "PROXY sluss.region.test:3128",
			"unlisted.example.com":   "PROXY sluss.region.test:3128", // the block page, or the logged tunnel
			"banned.example.com":     "PROXY sluss.region.test:3128",
			"blob.example.net.evil":  "PROXY sluss.region.test:3128",
			"intranet":               "DIRECT",
			"localhost":              "DIRECT",
			"127.0.0.1":              "DIRECT",
			"10.1.2.3":               "DIRECT",
			"172.20.0.1":             "DIRECT",
			"192.168.1.1":            "DIRECT",
			"[::1]":                  "DIRECT",
			"172.32.0.1":             "PROXY sluss.region.test:3128",
			"www.example.org":        "PROXY sluss.region.test:3128",
			"notfiles.example.org.x": "PROXY sluss.region.test:3128",
		}
		var script strings.Builder
		script.WriteString(pacRuntime)
		script.Write(pac)
		script.WriteString("\nvar out = {};\n")
		for host := range cases {
			script.WriteString("out[" + jsString(host) + "] = FindProxyForURL(" + jsString("https://"+host+"/") + ", " + jsString(host) + ");\n")
		}
		script.WriteString("process.stdout.write(JSON.stringify(out));\n")
		out, err := exec.Command(node, "-e", script.String()).CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		for host, want := range cases {
			if !strings.Contains(string(out), jsString(host)+":"+jsString(want)) {
				t.Errorf("default %s: FindProxyForURL(%s) is not %q: %s", def, host, want, out)
			}
		}
		if !strings.Contains(string(pac), "default "+def) {
			t.Errorf("PAC does not say the default action %s", def)
		}
	}
	// Without pac_proxy, the proxy listener's address.
	h := newHarness(t, Config{})
	resp, _ := http.Get(h.admin + "/proxy.pac")
	pac, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(pac), `"PROXY `+strings.TrimPrefix(h.proxy, "http://")+`"`) {
		t.Errorf("PAC does not name the proxy listener")
	}
}

func jsString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
