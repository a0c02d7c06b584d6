package grafana

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/sluss/sluss/bench"
)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		RefID        string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("sluss.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("sluss.json: %v", err)
	}
	return d
}

// query is one PromQL expression of the dashboard and where it is.
type query struct {
	where  string
	expr   string
	legend string
}

// queries returns every expression of the dashboard: panel targets, and
// the expressions inside label_values(…) of query variables.
func (d dashboard) queries() []query {
	var out []query
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, query{fmt.Sprintf("panel %d %q, target %s", p.ID, p.Title, tg.RefID), tg.Expr, tg.LegendFormat})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			json.Unmarshal(v.Query, &q.Query) // older dashboards: a plain string
		}
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			out = append(out, query{"variable $" + v.Name, m[1], "{{" + m[2] + "}}"})
		} else {
			out = append(out, query{"variable $" + v.Name, q.Query, ""})
		}
	}
	return out
}

// labelValues matches Grafana's label_values(EXPR, LABEL).
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// TestDashboardStructure checks what Grafana needs of the panels: unique
// ids, a place on the 24-column grid, a Prometheus data source taken
// from the $datasource variable, and one expression per target.
func TestDashboardStructure(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] {
		t.Error("no $datasource variable")
	}
	ids := map[int]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("panel %q: id %d missing or used twice", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, p.GridPos)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: data source %+v, want prometheus ${datasource}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("panel %q: target %q with expression %q", p.Title, tg.RefID, tg.Expr)
				}
				refs[tg.RefID] = true
			}
		}
	}
	walk(d.Panels)
	for _, q := range d.queries() {
		for _, m := range regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`).FindAllStringSubmatch(q.expr, -1) {
			if !vars[m[1]] {
				t.Errorf("%s: uses $%s, which is not a variable of the dashboard", q.where, m[1])
			}
		}
	}
}

// TestDashboardMetricsExist reads every PromQL expression of the
// dashboard and checks each metric it names against the /metrics of a
// real `sluss serve` that has handled uploads, downloads, forms, API
// calls, a refused CONNECT and a failed TLS handshake; and each label it
// matches, groups by or shows in a legend against that metric's labels.
// A panel that names a metric the gateway does not export fails here.
func TestDashboardMetricsExist(t *testing.T) {
	exported := scrapeRealGateway(t)
	problems := checkQueries(readDashboard(t).queries(), exported)
	for _, p := range problems {
		t.Error(p)
	}
	// Which of the gateway's own metrics no panel shows (reported, not
	// failed: a new metric may come before its panel).
	used := map[string]bool{}
	for _, q := range readDashboard(t).queries() {
		if u, err := parsePromQL(q.expr); err == nil {
			for _, s := range u.selectors {
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s.metric, "_bucket"), "_sum"), "_count")] = true
			}
		}
	}
	var unused []string
	for name := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(name, "sluss_") && !used[base] && !slices.Contains(unused, base) {
			unused = append(unused, base)
		}
	}
	slices.Sort(unused)
	if len(unused) > 0 {
		t.Logf("sluss metrics no panel shows: %s", strings.Join(unused, ", "))
	}
}

// TestCheckCatchesUnknownMetrics makes sure the check fails where it
// must: a metric, a label or a legend the gateway does not have.
func TestCheckCatchesUnknownMetrics(t *testing.T) {
	exported := map[string]map[string]bool{
		"sluss_requests_total":                  {"action": true, "status": true},
		"sluss_request_duration_seconds_bucket": {"action": true, "le": true},
	}
	good := []query{
		{"ok", `sum by (action) (rate(sluss_requests_total{job="x", status=~"5.."}[5m]))`, "{{action}}"},
		{"ok", `histogram_quantile(0.9, sum by (le) (rate(sluss_request_duration_seconds_bucket[5m])))`, ""},
		{"ok", `up{instance=~"$instance"}`, "{{instance}}"},
	}
	if p := checkQueries(good, exported); len(p) > 0 {
		t.Errorf("good queries flagged: %q", p)
	}
	for _, bad := range []query{
		{"typo", `rate(sluss_request_total[5m])`, ""},
		{"histogram family without suffix", `rate(sluss_request_duration_seconds[5m])`, ""},
		{"unknown label", `sluss_requests_total{reason="x"}`, ""},
		{"unknown grouping", `sum by (service) (sluss_requests_total)`, ""},
		{"unknown legend", `sum by (action) (sluss_requests_total)`, "{{status}}"},
		{"unknown function", `rat(sluss_requests_total[5m])`, ""},
	} {
		if p := checkQueries([]query{bad}, exported); len(p) == 0 {
			t.Errorf("%s: %s not flagged", bad.where, bad.expr)
		}
	}
}

// prometheusLabels are added by Prometheus to every scraped series.
var prometheusLabels = map[string]bool{"job": true, "instance": true}

// prometheusSeries are the series Prometheus itself writes for each
// scrape target, not the gateway.
var prometheusSeries = map[string]bool{"up": true}

// checkQueries returns what is wrong with queries against the exported
// series (name → its label names).
func checkQueries(queries []query, exported map[string]map[string]bool) []string {
	var problems []string
	for _, q := range queries {
		u, err := parsePromQL(q.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", q.where, q.expr, err))
			continue
		}
		if len(u.selectors) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %s selects no metric", q.where, q.expr))
		}
		known := map[string]bool{}
		for l := range prometheusLabels {
			known[l] = true
		}
		for _, s := range u.selectors {
			labels, ok := exported[s.metric]
			if !ok && !prometheusSeries[s.metric] {
				problems = append(problems, fmt.Sprintf("%s: metric %s is not exported by the gateway", q.where, s.metric))
				continue
			}
			for _, l := range s.labels {
				if !labels[l] && !prometheusLabels[l] {
					problems = append(problems, fmt.Sprintf("%s: %s has no label %q", q.where, s.metric, l))
				}
			}
			for l := range labels {
				known[l] = true
			}
		}
		for _, l := range u.grouping {
			if !known[l] {
				problems = append(problems, fmt.Sprintf("%s: groups by %q, which none of its metrics has", q.where, l))
			}
		}
		for _, m := range regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`).FindAllStringSubmatch(q.legend, -1) {
			if l := m[1]; !known[l] || (len(u.grouping) > 0 && !slices.Contains(u.grouping, l) && !aggregatesKeep(q.expr)) {
				problems = append(problems, fmt.Sprintf("%s: legend shows {{%s}}, which the result does not have", q.where, l))
			}
		}
	}
	return problems
}

// aggregatesKeep reports whether an expression with grouping keeps other
// labels too (without, or on/ignoring of a binary operation without an
// aggregation), where the legend check cannot tell.
func aggregatesKeep(expr string) bool {
	return strings.Contains(expr, "without") || strings.Contains(expr, "ignoring") || strings.Contains(expr, "on(") || strings.Contains(expr, "on (")
}

// scrapeRealGateway builds cmd/sluss, starts `sluss serve` in front of
// the bench's HTTPS sink (storage profile as 127.0.0.1, form profile as
// localhost), drives a few requests of each kind through it, checks its
// audit log saw them, and returns the series of its /metrics: sample
// name (histograms as _bucket, _sum and _count) → label names.
func scrapeRealGateway(t *testing.T) map[string]map[string]bool {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "sluss")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", exe, "../../cmd/sluss").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The upstream: the bench's sink, in this process.
	sinkDir := filepath.Join(dir, "sink")
	ready := &lineWriter{lines: make(chan string, 1)}
	sinkCtx, stopSink := context.WithCancel(ctx)
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- bench.ServeSink(sinkCtx, "127.0.0.1:0", sinkDir, ready) }()
	defer func() { stopSink(); <-sinkDone }()
	var sinkAddr string
	select {
	case line := <-ready.lines:
		sinkAddr = strings.TrimPrefix(line, "sink listening on ")
	case err := <-sinkDone:
		t.Fatalf("sink: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("sink did not start")
	}
	_, sinkPort, _ := net.SplitHostPort(sinkAddr)

	ports := freePorts(t, 2)
	listen, admin := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	data := filepath.Join(dir, "gateway")
	serve := exec.CommandContext(ctx, exe, "serve", "--listen", listen, "--admin-listen", admin, "--data-dir", data,
		"--approve", sinkAddr+"=storage", "--approve", "localhost:"+sinkPort+"=form",
		"--upstream-ca", filepath.Join(sinkDir, bench.SinkCAFile))
	var audit, stderr syncBuffer
	serve.Stdout, serve.Stderr = &audit, &stderr
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(syscall.SIGTERM)
		serve.Wait()
	}()
	adminURL := "http://" + admin
	waitReady(t, adminURL+"/readyz", &stderr)

	caPEM, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	proxy := &url.URL{Scheme: "http", Host: listen}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer c.CloseIdleConnections()
	do := func(method, u, contentType string, body []byte, want int) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s %s: status %d (want %d), %v", method, u, resp.StatusCode, want, err)
		}
		return got
	}
	object := bytes.Repeat([]byte("sluss dashboard test object\n"), 40000)
	do(http.MethodPut, "https://"+sinkAddr+"/store/dash/object.bin", "application/octet-stream", object, http.StatusCreated)
	if got := do(http.MethodGet, "https://"+sinkAddr+"/store/dash/object.bin", "", nil, http.StatusOK); !bytes.Equal(got, object) {
		t.Fatal("the object did not come back as uploaded")
	}
	const pnr = "19121212-1212"
	form := []byte(`{"namn":"Tolvan Tolvansson","personnummer":"` + pnr + `","anteckning":"ring tillbaka"}`)
	if got := do(http.MethodPost, "https://localhost:"+sinkPort+"/echo/arende", "application/json", form, http.StatusOK); !bytes.Equal(got, form) {
		t.Fatalf("the form came back as %q", got)
	}
	// The API, on the admin listener.
	api := &http.Client{Timeout: 30 * time.Second}
	for _, call := range []struct{ path, ct string }{{"/v1/encrypt", "application/octet-stream"}, {"/v1/pseudonymize", "application/json"}} {
		resp, err := api.Post(adminURL+call.path, call.ct, bytes.NewReader(form))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", call.path, err, resp)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A CONNECT the policy refuses: the sink's host on a port it does
	// not allow (nothing is dialled).
	if resp, err := c.Get("https://127.0.0.1:1/"); err == nil {
		resp.Body.Close()
		t.Fatal("a CONNECT to a port no service allows went through")
	}
	// A client that does not speak TLS after CONNECT.
	conn, err := net.DialTimeout("tcp", listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", sinkAddr)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if status, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(status, " 200") {
		t.Fatalf("CONNECT: %q %v", status, err)
	}
	conn.Write([]byte("this is not a TLS client hello\r\n\r\n"))
	io.Copy(io.Discard, conn)
	conn.Close()

	// The gateway's audit log saw the requests, and no personnummer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		actions := auditActions(audit.String())
		missing := ""
		for _, a := range []string{"encrypt", "decrypt", "pseudonymize"} {
			if actions[a] == 0 {
				missing = a
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log has no %q event: %v", missing, actions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(audit.String(), pnr) || strings.Contains(audit.String(), "Tolvansson") {
		t.Error("the audit log holds the form's personal data")
	}

	resp, err := api.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	series := map[string]map[string]bool{}
	add := func(name string, labels []string) {
		if series[name] == nil {
			series[name] = map[string]bool{}
		}
		for _, l := range labels {
			series[name][l] = true
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName())
			}
			switch f.GetType().String() {
			case "HISTOGRAM", "GAUGE_HISTOGRAM":
				add(name+"_bucket", append(slices.Clone(labels), "le"))
				add(name+"_sum", labels)
				add(name+"_count", labels)
			case "SUMMARY":
				add(name, append(slices.Clone(labels), "quantile"))
				add(name+"_sum", labels)
				add(name+"_count", labels)
			default:
				add(name, labels)
			}
		}
	}
	for _, want := range []string{"sluss_refusals_total", "sluss_request_duration_seconds_bucket", "process_open_fds"} {
		if series[want] == nil {
			t.Fatalf("the gateway's /metrics has no %s after the requests: %d series", want, len(series))
		}
	}
	return series
}

// auditActions counts the audit events by action.
func auditActions(log string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		var ev struct {
			Log    string `json:"log"`
			Action string `json:"action"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Log == "audit" {
			out[ev.Action]++
		}
	}
	return out
}

func waitReady(t *testing.T, u string, stderr *syncBuffer) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("sluss serve did not become ready:\n%s", stderr.String())
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// lineWriter sends the first line written to it.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
	sent  bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 && !w.sent {
		w.sent = true
		w.lines <- string(w.buf[:i])
	}
	return len(p), nil
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
