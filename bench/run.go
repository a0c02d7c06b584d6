package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Options say what to measure. The zero value, with Exe set, is the
// default run: every scenario, direct and both gateway modes, about a
// minute on a 2-core machine.
type Options struct {
	// Exe is the sluss binary to run as `sluss bench --serve-sink` and
	// `sluss serve` (usually os.Executable()).
	Exe string

	Scenarios []string // names from Scenarios(); empty: all
	Modes     []string // direct, gateway-inspect, gateway-full; empty: DefaultModes (or direct and gateway with Proxy)
	Peers     []string // mitmproxy, squid

	// Proxy is a gateway already running (host:port), measured as mode
	// "gateway" instead of starting sluss serve; ProxyCA is the CA its
	// leaf certificates chain to. It must trust the sink's CA upstream
	// (see SinkDir). ProxyPID, if it runs here, lets the bench read its
	// CPU and memory; API is its admin listener (http://host:port).
	Proxy, ProxyCA string
	ProxyPID       int
	API            string

	Warmup      time.Duration // before the measured runs of each cell; default 500ms
	Duration    time.Duration // one measured run; default 1s
	Runs        int           // measured runs per cell; default 3
	Concurrency int           // workers; default per scenario
	Size        int64         // body size; default per scenario

	// The soak (scenario soak, only when named) runs Duration in all,
	// default DefaultSoakDuration, of which the first fifth (or Warmup,
	// if set) is warm-up; Concurrency users (default 1 000) each think
	// ThinkTime on average (default DefaultThinkTime) between requests;
	// Size caps its objects (default 64 MiB). Runs does not apply.
	ThinkTime time.Duration

	// Objects is how many objects each run of the s3 scenario (only when
	// named) uploads and downloads, default DefaultS3Objects; there Size
	// is the object size (default 64 MiB) and Concurrency the parts (or,
	// downloading, objects) in flight (default 4).
	Objects int

	// SinkDir keeps the sink's CA across runs (a gateway already running
	// must trust it); default a temporary directory.
	SinkDir string

	// PerfDir, if set, gets a Linux perf recording of the proxy during the
	// measured runs of each cell (SCENARIO-MODE.perf.data, for perf report)
	// and each cell its top symbols. Sampling perturbs the figures a
	// little; compare profiled runs with profiled runs.
	PerfDir string

	// Progress receives one line per step (stderr for the CLI); may be nil.
	Progress io.Writer
}

func (o *Options) defaults() {
	if o.Warmup <= 0 {
		o.Warmup = 500 * time.Millisecond
	}
	if o.Duration <= 0 {
		o.Duration = time.Second
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
}

// Run starts the sink (and gateways, and peers), measures every scenario ×
// mode cell, stops everything it started and returns the report. A cell
// that cannot be measured (a missing profile or route, a peer that fails
// to start) is reported as not available with the reason; only a failure
// of the bench itself (no sink) is an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	soak, s3, shared, tus, graph, nc := soakSettingsOf(o), s3SettingsOf(o), sharedSettingsOf(o), tusSettingsOf(o), graphSettingsOf(o), ncSettingsOf(o)
	o.defaults()
	started := time.Now()
	scenarios, err := selectScenarios(o.Scenarios)
	if err != nil {
		return nil, err
	}
	modeNames := o.Modes
	if len(modeNames) == 0 {
		modeNames = DefaultModes
		if o.Proxy != "" {
			modeNames = []string{ModeDirect, ModeProxy}
		}
	}
	var unique []string
	for _, m := range append(slices.Clip(modeNames), o.Peers...) {
		if !slices.Contains(unique, m) {
			unique = append(unique, m)
		}
	}
	modeNames = unique
	for _, name := range modeNames {
		switch name {
		case ModeDirect, ModeInspect, ModeFull, ModeMitmproxy, ModeSquid:
		case ModeProxy:
			if o.Proxy == "" || o.ProxyCA == "" {
				return nil, errors.New("mode gateway needs --proxy ADDR and --proxy-ca FILE")
			}
		default:
			return nil, fmt.Errorf("unknown mode %q (known: direct, gateway-inspect, gateway-full, gateway, mitmproxy, squid)", name)
		}
	}
	if o.Exe == "" {
		return nil, errors.New("bench: Options.Exe (the sluss binary) is required")
	}
	if os.Getenv(ChildEnv) != "" {
		return nil, fmt.Errorf("refusing to run a bench inside a process a bench started (%s is set)", ChildEnv)
	}
	var versitygwBin string
	if slices.ContainsFunc(scenarios, func(s *Scenario) bool { return s.Name == ScenarioS3 }) {
		if versitygwBin, err = findVersitygw(); err != nil {
			return nil, err
		}
	}

	var tusdBin string
	if slices.ContainsFunc(scenarios, func(s *Scenario) bool { return s.Name == ScenarioTus }) {
		if tusdBin, err = findTusd(); err != nil {
			return nil, err
		}
	}

	var haproxyBin string
	if slices.ContainsFunc(scenarios, func(s *Scenario) bool { return s.Name == ScenarioShared }) {
		if haproxyBin, err = exec.LookPath("haproxy"); err != nil {
			return nil, fmt.Errorf("the shared scenario needs haproxy (Debian's haproxy; ./test.sh installs it): %w", err)
		}
	}

	dir, err := os.MkdirTemp("", "sluss-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logf := func(s string) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "bench: %s\n", s)
		}
	}
	sinkDir := o.SinkDir
	if sinkDir == "" {
		sinkDir = filepath.Join(dir, "sink")
	}
	if err := os.MkdirAll(sinkDir, 0o755); err != nil {
		return nil, err
	}
	sink, err := startSink(ctx, o.Exe, sinkDir)
	if err != nil {
		return nil, err
	}
	defer sink.stop()
	logf("sink on https://" + sink.addr + ", CA " + sink.caFile)
	e := &env{exe: o.Exe, dir: dir, sink: sink, log: logf}

	var modes []mode
	defer func() {
		for _, m := range modes {
			m.close()
		}
	}()
	unavailable := map[string]string{}
	for _, name := range modeNames {
		switch name {
		case ModeDirect:
			modes = append(modes, &directMode{e})
		case ModeInspect, ModeFull:
			modes = append(modes, newGatewayMode(e, name))
		case ModeProxy:
			modes = append(modes, &externalMode{env: e, proxy: &url.URL{Scheme: "http", Host: o.Proxy}, ca: o.ProxyCA, pid: o.ProxyPID, api: o.API})
		case ModeMitmproxy, ModeSquid:
			m, err := newPeerMode(e, name)
			var missing *MissingPeerError
			if errors.As(err, &missing) {
				logf(missing.Error())
				unavailable[name] = missing.Error()
				modes = append(modes, &missingMode{name, missing.Error()})
				continue
			}
			if err != nil {
				return nil, err
			}
			modes = append(modes, m)
		}
	}

	rep := &Report{
		Schema:  ReportSchema,
		Started: started.UTC(),
		Machine: describeMachine(),
		Settings: Settings{
			WarmupSeconds: o.Warmup.Seconds(),
			RunSeconds:    o.Duration.Seconds(),
			Runs:          o.Runs,
			Modes:         modeNames,
			Proxy:         o.Proxy,
		},
	}
	type job struct {
		s *Scenario
		m mode
	}
	var jobs []job
	runS3, runShared, runTus, runGraph, runNextcloud := false, false, false, false, false
	for _, s := range scenarios {
		if s.Name == ScenarioShared {
			// Measured below, its own way, as three scenarios of cells.
			runShared = true
			rep.Settings.Scenarios = append(rep.Settings.Scenarios, ScenarioSharedForm, ScenarioSharedReidCold, ScenarioSharedReidWarm)
			continue
		}
		if s.Name == ScenarioNextcloud {
			// Measured below, its own way, as two scenarios of cells.
			runNextcloud = true
			rep.Settings.Scenarios = append(rep.Settings.Scenarios, ScenarioNextcloudUpload, ScenarioNextcloudDownload)
			continue
		}
		if s.Name == ScenarioTus {
			// Measured below, its own way.
			runTus = true
			rep.Settings.Scenarios = append(rep.Settings.Scenarios, ScenarioTusUpload)
			continue
		}
		if s.Name == ScenarioGraph {
			// Measured below, its own way, as two scenarios of cells.
			runGraph = true
			rep.Settings.Scenarios = append(rep.Settings.Scenarios, ScenarioGraphUpload, ScenarioGraphDownload)
			continue
		}
		if s.Name == ScenarioS3 {
			// Measured below, its own way, as two scenarios of cells.
			runS3 = true
			rep.Settings.Scenarios = append(rep.Settings.Scenarios, ScenarioS3Upload, ScenarioS3Download)
			continue
		}
		rep.Settings.Scenarios = append(rep.Settings.Scenarios, s.Name)
		if s.Name == ScenarioSoak {
			// The soak starts its own gateway with the full policy.
			i := slices.IndexFunc(modes, func(m mode) bool { return m.name() == ModeFull })
			if i < 0 {
				jobs = append(jobs, job{s, &missingMode{ModeFull, "the soak runs through gateway-full (its own sluss serve); add --mode gateway-full"}})
			} else {
				jobs = append(jobs, job{s, modes[i]})
			}
			continue
		}
		for _, m := range modes {
			if s.API && (m.name() == ModeDirect || m.name() == ModeInspect || Peers[m.name()] != "") {
				continue // the API is the gateway's alone
			}
			jobs = append(jobs, job{s, m})
		}
	}
	for i, j := range jobs {
		prefix := fmt.Sprintf("[%d/%d] %s × %s", i+1, len(jobs), j.s.Name, j.m.name())
		progress := func(s string) { logf(prefix + ": " + s) }
		var c Cell
		switch _, missing := j.m.(*missingMode); {
		case j.s.Name == ScenarioSoak && !missing:
			c = measureSoak(ctx, e, j.s, soak, progress)
		default:
			c = measure(ctx, e, j.s, j.m, o, progress)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if c.Available && c.Soak != nil {
			verdict := "holds"
			if !c.Soak.Holds {
				verdict = "does NOT hold"
			}
			logf(fmt.Sprintf("%s: %s: %.0f req/s, p999 %.0f ms, %d errors", prefix, verdict, c.ReqPerSec.Median, c.Soak.P999Ms, c.Soak.Errors))
		} else if c.Available {
			logf(fmt.Sprintf("%s: %.1f MB/s, %.0f req/s, p99 %s ms, %d errors", prefix, c.MBPerSec.Median, c.ReqPerSec.Median, ms(c.P99Ms), c.Errors))
		} else {
			logf(prefix + ": not available: " + c.Note)
		}
		rep.Cells = append(rep.Cells, c)
	}
	// The scenarios measured their own way, in runs of so many objects or
	// files rather than of a time: when one is all that runs, the
	// header gives their mean length and no warm-up.
	own := []struct {
		on      bool
		name    string
		runs    int
		measure func(progress func(string)) []Cell
	}{
		{runS3, "s3", s3.runs, func(p func(string)) []Cell { return measureS3(ctx, e, versitygwBin, s3, p) }},
		{runNextcloud, "nextcloud", nc.runs, func(p func(string)) []Cell { return measureNextcloud(ctx, e, nc, p) }},
		{runTus, "tus", tus.runs, func(p func(string)) []Cell { return measureTus(ctx, e, tusdBin, tus, p) }},
		{runGraph, "graph", graph.runs, func(p func(string)) []Cell { return measureGraph(ctx, e, graph, p) }},
	}
	for _, sc := range own {
		if !sc.on {
			continue
		}
		cells := sc.measure(func(s string) { logf(sc.name + ": " + s) })
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for _, c := range cells {
			if c.Available {
				logf(fmt.Sprintf("%s: %s × %s: %.1f MB/s, %d errors", sc.name, c.Scenario, c.Mode, c.MBPerSec.Median, c.Errors))
			} else {
				logf(fmt.Sprintf("%s: %s × %s: not available: %s", sc.name, c.Scenario, c.Mode, c.Note))
			}
		}
		rep.Cells = append(rep.Cells, cells...)
		if len(scenarios) == 1 {
			var secs float64
			var n int
			for _, c := range cells {
				for _, r := range c.Runs {
					secs += r.Seconds
					n++
				}
			}
			rep.Settings.WarmupSeconds, rep.Settings.RunSeconds, rep.Settings.Runs = 0, secs/float64(max(1, n)), sc.runs
		}
	}
	if runShared {
		progress := func(s string) { logf("shared: " + s) }
		cells := measureShared(ctx, e, haproxyBin, shared, progress)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for _, c := range cells {
			if c.Available {
				logf(fmt.Sprintf("shared: %s × %s: %.0f req/s, p50 %s ms, p99 %s ms, %d errors", c.Scenario, c.Mode, c.ReqPerSec.Median, ms(c.P50Ms), ms(c.P99Ms), c.Errors))
			} else {
				logf(fmt.Sprintf("shared: %s × %s: not available: %s", c.Scenario, c.Mode, c.Note))
			}
		}
		if len(cells) > 0 && cells[0].Shared.PostgresToBolt != nil {
			logf(fmt.Sprintf("shared: form posts/s, postgres/bbolt: %.2f", *cells[0].Shared.PostgresToBolt))
		}
		rep.Cells = append(rep.Cells, cells...)
		if len(scenarios) == 1 {
			rep.Settings.Modes = []string{ModeSharedBolt, ModeSharedPostgres}
		}
	}
	if len(scenarios) == 1 && scenarios[0].Name == ScenarioSoak {
		// The soak's cell has three runs, the thirds after its warm-up.
		rep.Settings.WarmupSeconds = soak.warmup.Seconds()
		rep.Settings.RunSeconds = ((soak.duration - soak.warmup) / 3).Seconds()
		rep.Settings.Runs = 3
	}
	compareWithDirect(rep.Cells)
	rep.Seconds = time.Since(started).Seconds()
	return rep, nil
}

// measure runs one cell.
func measure(ctx context.Context, e *env, s *Scenario, m mode, o Options, progress func(string)) Cell {
	c := Cell{Scenario: s.Name, Mode: m.name(), Concurrency: s.Concurrency, SizeBytes: s.Size}
	if o.Concurrency > 0 {
		c.Concurrency = o.Concurrency
	}
	if s.Name == ScenarioLatency {
		c.Concurrency = 1 // the point of the scenario
	}
	if o.Size > 0 {
		c.SizeBytes = o.Size
	}
	if c.SizeBytes == 0 {
		c.SizeBytes = formBodySize // the form bodies' size when none is asked for
	}
	fail := func(err error) Cell {
		c.Available = false
		c.Note = err.Error()
		return c
	}
	t, err := m.target(ctx, s)
	if err != nil {
		return fail(err)
	}
	if t.sinkRoots, err = loadCertPool(e.sink.caFile); err != nil {
		return fail(err)
	}
	if s.prepare != nil {
		note, err := s.prepare(ctx, s, t, c.SizeBytes)
		if err != nil {
			return fail(err)
		}
		c.Note = note
	}
	var onMeasure func() func()
	var recording *perfRecording
	var perfErr error
	if o.PerfDir != "" && t.pid > 0 {
		recording, perfErr = startPerf(t.pid, filepath.Join(o.PerfDir, s.Name+"-"+m.name()+".perf.data"))
		if perfErr == nil {
			defer recording.stop() // idempotent; in case drive fails
			onMeasure = func() func() {
				if perfErr = recording.enable(); perfErr != nil {
					return nil
				}
				return func() { perfErr = recording.stop() }
			}
		}
	}
	progress("warm-up")
	res, err := drive(ctx, t, c.Concurrency, s.request(s, c.SizeBytes), o.Warmup, o.Duration, o.Runs, e.sink.pid(), progress, onMeasure)
	if err != nil {
		return fail(err)
	}
	c.Available = true
	if perfErr == nil && recording != nil && onMeasure != nil {
		c.Profile, perfErr = perfTop(ctx, recording.file, 15)
		c.ProfileFile = recording.file
	}
	if perfErr != nil {
		c.addNote("no profile: " + perfErr.Error())
	}
	if res.window != o.Duration {
		c.addNote(fmt.Sprintf("runs lengthened to %v so that requests complete within them", res.window))
	}
	summarize(&c, res, runtime.NumCPU())
	return c
}

// missingMode stands for a peer that is not installed.
type missingMode struct{ mode, why string }

func (m *missingMode) name() string { return m.mode }
func (m *missingMode) close()       {}
func (m *missingMode) target(context.Context, *Scenario) (*target, error) {
	return nil, errNotAvailable{m.why}
}

func selectScenarios(names []string) ([]*Scenario, error) {
	all := Scenarios()
	if len(names) == 0 {
		return slices.DeleteFunc(all, func(s *Scenario) bool { return s.Explicit }), nil
	}
	var out []*Scenario
	for _, n := range names {
		i := slices.IndexFunc(all, func(s *Scenario) bool { return s.Name == n })
		if i < 0 {
			var known []string
			for _, s := range all {
				known = append(known, s.Name)
			}
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPUModel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Sluss = "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			m.Sluss = bi.Main.Version
		}
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
		if rev != "" {
			m.Sluss += " " + rev + modified
		}
	}
	return m
}
