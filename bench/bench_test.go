package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/sluss/sluss/pseudonym"
)

// shortRun is one real `sluss bench --json --html` of a few seconds,
// shared by the tests that look at its output.
var shortRun struct {
	once     sync.Once
	err      error
	json     []byte
	html     string
	report   Report
	hasServe bool
}

// sluss is the binary the tests run, built once into a directory that
// TestMain removes.
var sluss struct {
	once sync.Once
	dir  string
	exe  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sluss.dir != "" {
		os.RemoveAll(sluss.dir)
	}
	os.Exit(code)
}

// slussBinary builds ../cmd/sluss once.
func slussBinary(t *testing.T) string {
	t.Helper()
	sluss.once.Do(func() {
		sluss.dir, sluss.err = os.MkdirTemp("", "sluss-bench-test-")
		if sluss.err != nil {
			return
		}
		sluss.exe = filepath.Join(sluss.dir, "sluss")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", sluss.exe, "../cmd/sluss").CombinedOutput()
		if err != nil {
			sluss.err = fmt.Errorf("go build ../cmd/sluss: %v\n%s", err, out)
		}
	})
	if sluss.err != nil {
		t.Fatal(sluss.err)
	}
	return sluss.exe
}

// runBench runs `sluss bench --json` with args and decodes the report.
func runBench(t *testing.T, args ...string) ([]byte, *Report) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, slussBinary(t), append([]string{"bench", "--json"}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sluss bench %q: %v\nstderr:\n%s", args, err, stderr.String())
	}
	var r Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return out, &r
}

func runShortBench(t *testing.T) {
	t.Helper()
	shortRun.once.Do(func() {
		exe := slussBinary(t)
		help, _ := exec.Command(exe, "help").CombinedOutput()
		shortRun.hasServe = bytes.Contains(help, []byte("\n  serve "))
		htmlFile := filepath.Join(sluss.dir, "report.html")
		args := []string{"--html", htmlFile, "--duration", "400ms", "--warmup", "200ms", "--runs", "2", "--concurrency", "2"}
		if !shortRun.hasServe {
			t.Log("this sluss has no serve command yet: measuring direct mode only")
			args = append(args, "--mode", "direct")
		}
		var r *Report
		shortRun.json, r = runBench(t, args...)
		shortRun.report = *r
		h, err := os.ReadFile(htmlFile)
		shortRun.html, shortRun.err = string(h), err
	})
	if shortRun.err != nil {
		t.Fatalf("short bench: %v", shortRun.err)
	}
}

// TestReportSchema validates the real --json output against
// report.schema.json.
func TestReportSchema(t *testing.T) {
	runShortBench(t)
	validateReport(t, shortRun.json)

	// The same report against itself as --baseline: every ratio 1, every
	// delta 0, and still valid.
	r := shortRun.report
	r.Cells = slices.Clone(r.Cells)
	r.Settings.Baseline = "itself.json"
	CompareWithBaseline(&r, &shortRun.report)
	for _, c := range r.Cells {
		if !c.Available {
			continue
		}
		b := c.VsBaseline
		if b == nil || b.MBPerSecRatio != 1 || (b.P99MsDelta != nil && *b.P99MsDelta != 0) || (b.ProxyCPURatio != nil && *b.ProxyCPURatio != 1) {
			t.Errorf("%s × %s against itself: %+v", c.Scenario, c.Mode, b)
		}
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	validateReport(t, js)
}

// validateReport checks a --json document against report.schema.json.
func validateReport(t *testing.T, js []byte) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatalf("compiling report.schema.json: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("report does not match report.schema.json: %v", err)
	}
}

// TestShortBenchIsConsistent checks the structure of a real run and that
// every figure is positive and agrees with the others. It never compares a
// speed with a threshold.
func TestShortBenchIsConsistent(t *testing.T) {
	runShortBench(t)
	r := shortRun.report
	if r.Schema != ReportSchema || r.Machine.Cores < 1 || r.Machine.CPUModel == "" || !strings.HasPrefix(r.Machine.GoVersion, "go") {
		t.Errorf("header: %+v %+v", r.Schema, r.Machine)
	}
	wantModes := []string{ModeDirect}
	if shortRun.hasServe {
		wantModes = DefaultModes
	}
	var want []string
	for _, s := range Scenarios() {
		if s.Explicit {
			continue // the soak runs only when named
		}
		for _, m := range wantModes {
			if s.API && m != ModeFull {
				continue
			}
			want = append(want, s.Name+" × "+m)
		}
	}
	var got []string
	for _, c := range r.Cells {
		got = append(got, c.Scenario+" × "+c.Mode)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cells:\n got %q\nwant %q", got, want)
	}

	direct := map[string]Cell{}
	for _, c := range r.Cells {
		if c.Mode == ModeDirect {
			direct[c.Scenario] = c
		}
	}
	for _, c := range r.Cells {
		name := c.Scenario + " × " + c.Mode
		if !c.Available {
			if c.Note == "" {
				t.Errorf("%s: not available without a reason", name)
			}
			if c.Mode == ModeDirect || (!c.isAPI() && shortRun.hasServe && c.Mode == ModeInspect) {
				t.Errorf("%s must be available: %s", name, c.Note)
			}
			t.Logf("%s not available: %s", name, c.Note)
			continue
		}
		checkCell(t, name, c, r.Settings.Runs)
		if c.Mode == ModeDirect && c.Errors != 0 {
			t.Errorf("%s: %d errors straight to the sink: %q", name, c.Errors, c.ErrorSamples)
		} else if c.Errors != 0 {
			t.Logf("%s: %d errors: %q", name, c.Errors, c.ErrorSamples)
		}
		if c.Mode != ModeDirect {
			if c.ProxyCPUSecPerGB == nil || *c.ProxyCPUSecPerGB <= 0 || c.ProxyPeakRSS == nil || *c.ProxyPeakRSS <= 0 {
				t.Errorf("%s: proxy CPU per GB and peak RSS must be measured and positive", name)
			} else if want := *c.ProxyCPUSeconds / (float64(c.PayloadBytes) / 1e9); !approx(*c.ProxyCPUSecPerGB, want) {
				t.Errorf("%s: proxy CPU s/GB %v, want %v from CPU and bytes", name, *c.ProxyCPUSecPerGB, want)
			}
			if d, ok := direct[c.Scenario]; ok && d.Available {
				if c.RatioToDirect == nil || !approx(*c.RatioToDirect, c.MBPerSec.Median/d.MBPerSec.Median) {
					t.Errorf("%s: ratio to direct %v, want %v", name, c.RatioToDirect, c.MBPerSec.Median/d.MBPerSec.Median)
				}
				if c.AddedP99Ms == nil || !approx(*c.AddedP99Ms, c.P99Ms.Median-d.P99Ms.Median) {
					t.Errorf("%s: added p99 %v, want %v", name, c.AddedP99Ms, c.P99Ms.Median-d.P99Ms.Median)
				}
			}
		} else if c.ProxyCPUSecPerGB != nil || c.RatioToDirect != nil {
			t.Errorf("%s: direct mode has no proxy and no ratio", name)
		}
	}
}

func (c Cell) isAPI() bool { return strings.HasPrefix(c.Scenario, "api-") }

func checkCell(t *testing.T, name string, c Cell, runs int) {
	t.Helper()
	if len(c.Runs) != runs {
		t.Errorf("%s: %d runs, want %d", name, len(c.Runs), runs)
	}
	if c.Concurrency < 1 || c.SizeBytes <= 0 {
		t.Errorf("%s: concurrency %d, size %d", name, c.Concurrency, c.SizeBytes)
	}
	var reqs, bytes int64
	var mbs, rps, p99s []float64
	for i, run := range c.Runs {
		if run.Seconds <= 0 || run.Requests <= 0 || run.PayloadBytes <= 0 || run.ClientCPU <= 0 {
			t.Errorf("%s run %d: figures must be positive: %+v", name, i, run)
			continue
		}
		if !approx(run.MBPerSec, float64(run.PayloadBytes)/run.Seconds/1e6) {
			t.Errorf("%s run %d: %v MB/s but %d bytes in %vs", name, i, run.MBPerSec, run.PayloadBytes, run.Seconds)
		}
		if !approx(run.ReqPerSec, float64(run.Requests)/run.Seconds) {
			t.Errorf("%s run %d: %v req/s but %d requests in %vs", name, i, run.ReqPerSec, run.Requests, run.Seconds)
		}
		if !(0 < run.P50Ms && run.P50Ms <= run.P95Ms && run.P95Ms <= run.P99Ms) {
			t.Errorf("%s run %d: percentiles out of order: %v %v %v", name, i, run.P50Ms, run.P95Ms, run.P99Ms)
		}
		if run.MachineBusy <= 0 || run.MachineBusy > 1 {
			t.Errorf("%s run %d: machine busy %v", name, i, run.MachineBusy)
		}
		reqs += run.Requests
		bytes += run.PayloadBytes
		mbs, rps, p99s = append(mbs, run.MBPerSec), append(rps, run.ReqPerSec), append(p99s, run.P99Ms)
	}
	if reqs != c.Requests || bytes != c.PayloadBytes {
		t.Errorf("%s: totals %d requests, %d bytes; runs add up to %d, %d", name, c.Requests, c.PayloadBytes, reqs, bytes)
	}
	for what, pair := range map[string]struct {
		s *Spread
		v []float64
	}{"MB/s": {c.MBPerSec, mbs}, "req/s": {c.ReqPerSec, rps}, "p99": {c.P99Ms, p99s}} {
		if pair.s == nil {
			t.Errorf("%s: no %s spread", name, what)
			continue
		}
		if pair.s.Min != slices.Min(pair.v) || pair.s.Max != slices.Max(pair.v) || !(pair.s.Min <= pair.s.Median && pair.s.Median <= pair.s.Max) || pair.s.Min <= 0 {
			t.Errorf("%s: %s spread %+v does not fit the runs %v", name, what, *pair.s, pair.v)
		}
	}
	if len(c.Latency) != len(curvePercentiles) {
		t.Errorf("%s: latency curve has %d points", name, len(c.Latency))
	}
	for i := 1; i < len(c.Latency); i++ {
		if c.Latency[i].Ms < c.Latency[i-1].Ms || c.Latency[i].Percentile <= c.Latency[i-1].Percentile {
			t.Errorf("%s: latency curve not monotonic at %v", name, c.Latency[i])
		}
	}
	if c.Latency[0].Ms <= 0 {
		t.Errorf("%s: fastest request took %v ms", name, c.Latency[0].Ms)
	}
	if c.ClientCPUSeconds <= 0 || c.ClientCores <= 0 || c.SinkCPUSeconds < 0 || c.MachineBusy <= 0 {
		t.Errorf("%s: CPU figures must be positive: client %v (%v cores), sink %v, machine %v", name, c.ClientCPUSeconds, c.ClientCores, c.SinkCPUSeconds, c.MachineBusy)
	}
	if c.MachineBound != (c.MachineBusy >= machineBoundAt) {
		t.Errorf("%s: machine_bound %v with busy %v", name, c.MachineBound, c.MachineBusy)
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestHTMLRendersInChromium opens the --html page of a real run in headless
// Chromium and checks, on the screenshot, that the charts are drawn.
func TestHTMLRendersInChromium(t *testing.T) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not installed; test.sh installs it (apt-get install -y chromium)")
		}
		t.Skip("chromium not installed: sudo apt-get install -y chromium")
	}
	runShortBench(t)
	for _, want := range []string{"<svg", "Throughput, MB/s", "Latency distribution", "<polyline", "<rect"} {
		if !strings.Contains(shortRun.html, want) {
			t.Errorf("page has no %q", want)
		}
	}
	if strings.Contains(shortRun.html, "<script") || strings.Contains(shortRun.html, "http://") && !strings.Contains(shortRun.html, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("page must be self-contained: no script, no external resources")
	}
	dir := t.ArtifactDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(shortRun.html), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--screenshot="+shot, "--window-size=1200,1600", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The direct mode's bars and lines are drawn in #6b7785: count them.
	b := img.Bounds()
	drawn := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, 0x6b) && near(g>>8, 0x77) && near(bl>>8, 0x85) {
				drawn++
			}
		}
	}
	if b.Dx() != 1200 || drawn < 500 {
		t.Errorf("screenshot %v has %d pixels of the direct mode's colour: the charts did not render", b, drawn)
	}
	t.Logf("screenshot: %s (%d chart pixels)", shot, drawn)
}

func near(a uint32, b uint32) bool { return a+3 >= b && a <= b+3 }

// TestPeers measures mitmdump and squid (ssl-bump) with a short run of
// small requests: they start, bump TLS with their own CA, trust the sink,
// and are measured like the gateway.
func TestPeers(t *testing.T) {
	for _, exe := range []string{"mitmdump", "squid"} {
		if _, err := executableOf(exe); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed; test.sh installs it (apt-get install -y mitmproxy squid-openssl)", exe)
			}
			t.Skip("peers not installed: sudo apt-get install -y mitmproxy squid-openssl")
		}
	}
	_, r := runBench(t, "--scenario", "small", "--mode", "direct", "--peer", "mitmproxy", "--peer", "squid",
		"--duration", "400ms", "--warmup", "300ms", "--runs", "2", "--concurrency", "2")
	if len(r.Cells) != 3 {
		t.Fatalf("%d cells, want direct, mitmproxy and squid", len(r.Cells))
	}
	for _, c := range r.Cells {
		name := c.Scenario + " × " + c.Mode
		if !c.Available {
			t.Fatalf("%s not available: %s", name, c.Note)
		}
		checkCell(t, name, c, 2)
		if c.Errors != 0 {
			t.Errorf("%s: %d errors: %q", name, c.Errors, c.ErrorSamples)
		}
		if c.Mode != ModeDirect && (c.ProxyCPUSecPerGB == nil || *c.ProxyCPUSecPerGB <= 0 || c.ProxyPeakRSS == nil || *c.ProxyPeakRSS <= 0) {
			t.Errorf("%s: the peer's CPU and memory must be measured", name)
		}
	}
}

// TestFormBodiesCarryIdentifiers checks, with sluss's own detectors, that
// each body of the form scenario has the identifiers it promises, so the
// pseudonymize path has work to do.
func TestFormBodiesCarryIdentifiers(t *testing.T) {
	p, err := pseudonym.New(pseudonym.Config{}, pseudonym.NewStaticKeys(bytes.Repeat([]byte{7}, 32)), pseudonym.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range formBodies(0) {
		f, ok := pseudonym.FormatFromContentType(b.contentType)
		if !ok {
			t.Fatalf("body %d: no format for %s", i, b.contentType)
		}
		var out bytes.Buffer
		counts, err := p.Transform(context.Background(), f, bytes.NewReader(b.body), &out)
		if err != nil {
			t.Fatalf("body %d (%s): %v", i, b.contentType, err)
		}
		if counts.Personnummer != 3 || counts.Names != 2 {
			t.Errorf("body %d (%s): found %d personnummer and %d names, want 3 and 2", i, b.contentType, counts.Personnummer, counts.Names)
		}
		if len(b.body) < 1900 || len(b.body) > 2200 {
			t.Errorf("body %d: %d bytes, want about 2 KiB", i, len(b.body))
		}
	}
}

func TestSpreadAndPercentile(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Spread
	}{
		{[]float64{3}, Spread{3, 3, 3}},
		{[]float64{5, 1, 3}, Spread{1, 3, 5}},
		{[]float64{4, 1, 3, 2}, Spread{1, 2.5, 4}},
	} {
		if got := spreadOf(tc.in); *got != tc.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tc.in, *got, tc.want)
		}
	}
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]float64{0: 1, 50: 50, 99: 99, 99.9: 100, 100: 100} {
		if got := percentile(d, p); got != want {
			t.Errorf("percentile(1..100 ms, %v) = %v, want %v", p, got, want)
		}
	}
}

// TestWritersOnOddReports renders reports a real run rarely produces: a
// scenario with nothing available, a proxy far faster than direct, a cell
// without latency.
func TestWritersOnOddReports(t *testing.T) {
	ratio, fast := 40.0, &Spread{1, 2, 3}
	r := &Report{
		Schema:   ReportSchema,
		Machine:  Machine{CPUModel: "test <cpu>", Cores: 2, GoVersion: "go1.26"},
		Settings: Settings{Runs: 1, RunSeconds: 1, Scenarios: []string{ScenarioUpload, ScenarioAPIEncrypt}, Modes: []string{ModeDirect, ModeFull}},
		Cells: []Cell{
			{Scenario: ScenarioUpload, Mode: ModeDirect, Available: true, Concurrency: 1, MBPerSec: fast, ReqPerSec: fast},
			{Scenario: ScenarioUpload, Mode: ModeFull, Available: true, Concurrency: 1, MBPerSec: &Spread{80, 80, 80}, ReqPerSec: fast, P99Ms: fast, RatioToDirect: &ratio},
			{Scenario: ScenarioAPIEncrypt, Mode: ModeFull, Note: "no <route>"},
		},
	}
	var h, tb bytes.Buffer
	if err := WriteHTML(&h, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&tb, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"not available", "no &lt;route&gt;", "test &lt;cpu&gt;", "40.00×"} {
		if !strings.Contains(h.String(), want) {
			t.Errorf("HTML has no %q", want)
		}
	}
	if strings.Contains(h.String(), "<route>") || strings.Contains(h.String(), "NaN") {
		t.Error("HTML has unescaped text or NaN")
	}
	if !strings.Contains(tb.String(), "api-encrypt × gateway-full not available: no <route>") {
		t.Errorf("table:\n%s", tb.String())
	}
}

// TestExternalGateway follows bench/README's recipe for a gateway the team
// runs itself: the sink's CA kept in --sink-dir, sluss serve trusting it,
// and the bench given --proxy, --proxy-ca and --proxy-pid.
func TestExternalGateway(t *testing.T) {
	exe := slussBinary(t)
	if help, _ := exec.Command(exe, "help").CombinedOutput(); !bytes.Contains(help, []byte("\n  serve ")) {
		t.Skip("this sluss has no serve command yet")
	}
	dir := t.TempDir()
	sinkDir := filepath.Join(dir, "sink")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A sink run makes the CA; the bench's own sink will reuse it.
	sinkCmd := exec.CommandContext(ctx, exe, "bench", "--serve-sink", sinkDir)
	sink, out, err := startProcess(sinkCmd, "sink")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readLineWithin(ctx, out, 15*time.Second); err != nil {
		t.Fatalf("sink: %v%s", err, sink.stderrTail())
	}
	sink.stop()
	caBefore, err := os.ReadFile(filepath.Join(sinkDir, SinkCAFile))
	if err != nil {
		t.Fatal(err)
	}

	sinkPort, err := os.ReadFile(filepath.Join(sinkDir, SinkPortFile))
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	gwDir := filepath.Join(dir, "gateway")
	serve := exec.Command(exe, "serve", "--listen", listen, "--admin-listen", admin, "--data-dir", gwDir,
		"--approve", "127.0.0.1:"+strings.TrimSpace(string(sinkPort))+"=storage", "--upstream-ca", filepath.Join(sinkDir, SinkCAFile))
	serve.Stdout = io.Discard
	gw, _, err := startProcess(serve, "sluss serve")
	if err != nil {
		t.Fatal(err)
	}
	defer gw.stop()
	if err := waitReady(ctx, gw, "http://"+admin+"/readyz", 30*time.Second); err != nil {
		t.Fatalf("sluss serve: %v%s", err, gw.stderrTail())
	}
	ca, err := exportCA(ctx, exe, gwDir)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "gateway-ca.pem")
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}

	_, r := runBench(t, "--proxy", listen, "--proxy-ca", caFile, "--proxy-pid", fmt.Sprint(gw.pid()), "--sink-dir", sinkDir,
		"--scenario", "small", "--duration", "300ms", "--warmup", "200ms", "--runs", "2", "--concurrency", "2")
	if got := r.Settings.Modes; !slices.Equal(got, []string{ModeDirect, ModeProxy}) {
		t.Fatalf("modes %q, want direct and gateway", got)
	}
	for _, c := range r.Cells {
		name := c.Scenario + " × " + c.Mode
		if !c.Available {
			t.Fatalf("%s not available: %s", name, c.Note)
		}
		checkCell(t, name, c, 2)
		if c.Errors != 0 {
			t.Errorf("%s: %d errors: %q", name, c.Errors, c.ErrorSamples)
		}
	}
	if c := r.Cells[1]; c.ProxyCPUSecPerGB == nil || c.ProxyPeakRSS == nil {
		t.Error("--proxy-pid given, but the gateway's CPU and memory were not measured")
	}
	if caAfter, _ := os.ReadFile(filepath.Join(sinkDir, SinkCAFile)); !bytes.Equal(caBefore, caAfter) {
		t.Error("the sink made a new CA in --sink-dir instead of reusing the one the gateway trusts")
	}
}

// TestPerfProfile records the gateway with Linux perf during a short cell
// and checks the report names where its CPU went.
func TestPerfProfile(t *testing.T) {
	if _, err := executableOf("perf"); err != nil {
		t.Skip("perf not installed: sudo apt-get install -y linux-perf")
	}
	exe := slussBinary(t)
	if help, _ := exec.Command(exe, "help").CombinedOutput(); !bytes.Contains(help, []byte("\n  serve ")) {
		t.Skip("this sluss has no serve command yet")
	}
	dir := t.TempDir()
	js, r := runBench(t, "--perf", dir, "--scenario", "small", "--mode", "gateway-inspect",
		"--duration", "400ms", "--warmup", "200ms", "--runs", "1", "--concurrency", "2")
	c := r.Cells[0]
	if !c.Available {
		t.Fatalf("not available: %s", c.Note)
	}
	if len(c.Profile) == 0 {
		if strings.Contains(c.Note, "perf record") {
			t.Skipf("perf cannot record here: %s", c.Note)
		}
		t.Fatalf("no profile: %s", c.Note)
	}
	sum := 0.0
	for i, p := range c.Profile {
		if p.Symbol == "" || p.Percent <= 0 || (i > 0 && p.Percent > c.Profile[i-1].Percent) {
			t.Errorf("profile entry %d: %+v", i, p)
		}
		sum += p.Percent
	}
	if sum > 100.01 {
		t.Errorf("profile adds up to %v%%", sum)
	}
	validateReport(t, js)
	if st, err := os.Stat(c.ProfileFile); err != nil || st.Size() == 0 || filepath.Dir(c.ProfileFile) != dir {
		t.Errorf("recording %q: %v", c.ProfileFile, err)
	}
}
