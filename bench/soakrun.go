package bench

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// soakSettings are the soak's own knobs, resolved from Options.
type soakSettings struct {
	duration, warmup, think time.Duration
	connections             int
	maxSize                 int64
}

// soakSettingsOf resolves the soak's knobs: Duration is the whole soak
// (default DefaultSoakDuration), the first fifth of it warm-up unless
// Warmup is given, Concurrency users (default DefaultSoakConnections),
// ThinkTime between their requests, Size the largest object.
func soakSettingsOf(o Options) soakSettings {
	s := soakSettings{duration: o.Duration, warmup: o.Warmup, think: o.ThinkTime, connections: o.Concurrency, maxSize: o.Size}
	if s.duration <= 0 {
		s.duration = DefaultSoakDuration
	}
	if s.warmup <= 0 || s.warmup >= s.duration {
		s.warmup = s.duration / 5
	}
	if s.think <= 0 {
		s.think = DefaultThinkTime
	}
	if s.connections <= 0 {
		s.connections = DefaultSoakConnections
	}
	if s.maxSize <= 0 || s.maxSize > soakMaxObject {
		s.maxSize = soakMaxObject
	}
	s.maxSize = max(s.maxSize, 2<<10)
	return s
}

// measureSoak runs the soak: its own `sluss serve` approving the sink
// twice, as 127.0.0.1 with the storage profile and as localhost with the
// form profile, so that every user's connection goes to one gateway;
// users ramp up over the first half of the warm-up, then request and
// think until the time is up; the gateway is read every sample interval.
// Afterwards everything stored is checked (checkRoundTrip) and the
// verdict given.
func measureSoak(ctx context.Context, e *env, s *Scenario, ss soakSettings, progress func(string)) Cell {
	c := Cell{Scenario: s.Name, Mode: ModeFull, Concurrency: ss.connections, SizeBytes: ss.maxSize}
	fail := func(err error) Cell {
		c.Available = false
		c.Note = err.Error()
		return c
	}
	_, port, err := net.SplitHostPort(e.sink.addr)
	if err != nil {
		return fail(err)
	}
	progress("starting sluss serve --approve " + e.sink.addr + "=storage --approve localhost:" + port + "=form")
	g, err := startGateway(ctx, e, "soak", e.sink.addr+"=storage", "localhost:"+port+"=form")
	if err != nil {
		return fail(err)
	}
	defer g.stop()
	proxied := &target{mode: ModeFull, proxy: g.proxyURL, pid: g.pid()}
	if proxied.roots, err = loadCertPool(g.caFile); err != nil {
		return fail(err)
	}
	if proxied.sinkRoots, err = loadCertPool(e.sink.caFile); err != nil {
		return fail(err)
	}
	// The API users call from 127.0.0.1, where the gateway's own
	// upstream connections to the sink also start (bench/README.md,
	// "Found by the soak").
	api := &target{mode: ModeFull, apiBase: g.adminURL}
	storageBase, formBase := "https://"+e.sink.addr, "https://localhost:"+port

	counts := make([]workerCounts, 1)
	l := &soakLoad{data: payload(ss.maxSize + 1<<20), forms: formBodies(0), maxSize: ss.maxSize, think: ss.think, moved: &counts[0].bytes}
	users := soakUsers(ss.connections, proxied, api, storageBase, formBase, 1)
	sk := &Soak{
		Connections: ss.connections, ThinkSeconds: ss.think.Seconds(), WarmupSeconds: ss.warmup.Seconds(),
		MaxSizeBytes: ss.maxSize, ErrorsByKind: map[string]int64{},
	}
	roles := map[string]int{}
	for _, u := range users {
		roles[u.role]++
	}
	for _, r := range []string{roleStorage, roleForm, roleAPI} {
		if roles[r] > 0 {
			sk.Users = append(sk.Users, SoakUsers{Role: r, Connections: roles[r]})
		}
	}
	c.Note = fmt.Sprintf("%d connections to one gateway (%d storing and fetching files of 1 KiB–%s, %d posting forms, %d calling the API), each thinking %v on average between requests",
		ss.connections, roles[roleStorage], sizeName(ss.maxSize), roles[roleForm], roles[roleAPI], ss.think)

	watch := newGatewayWatch(g.pid(), g.adminURL)
	sk.Before = gatewayState(watch.read(ctx))
	interval := max(time.Second, ss.duration/600)
	sk.SampleSeconds = interval.Seconds()

	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.run(ctx, l, stop, ss.warmup/2)
		}()
	}
	// The sampler reads the gateway every interval until the load stops.
	var samplesMu sync.Mutex
	sampleNow := func() {
		// The load's counters at T; the gateway right after (its
		// /metrics may take a moment to answer on a busy host).
		smp := SoakSample{T: time.Since(start).Seconds(), Requests: l.requests.Load(), Errors: l.errors.Load(), PayloadBytes: l.moved.Load(), InFlight: l.inFlight.Load()}
		smp.RSSBytes, smp.FDs, smp.Goroutines = watch.read(ctx)
		samplesMu.Lock()
		sk.Samples = append(sk.Samples, smp)
		samplesMu.Unlock()
	}
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		for sampleNow(); ; sampleNow() {
			select {
			case <-t.C:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()

	res := &loadResult{window: (ss.duration - ss.warmup) / 3, measured: true}
	snap := func() { res.snapshots = append(res.snapshots, takeSnapshotOf(proxied.pid, e.sink.pid(), counts, l)) }
	ok := func() bool {
		progress(fmt.Sprintf("warm-up: %d users ramping up over %v", ss.connections, ss.warmup/2))
		if !sleepCtx(ctx, ss.warmup) {
			return false
		}
		resetPeakRSS(proxied.pid)
		snap()
		for k := range 3 {
			progress(fmt.Sprintf("third %d/3 of %v: %d requests, %d errors so far, %d in flight", k+1, res.window.Round(time.Second), l.requests.Load(), l.errors.Load(), l.inFlight.Load()))
			if !sleepCtx(ctx, res.window) {
				return false
			}
			snap()
		}
		return true
	}()
	sk.End = gatewayState(watch.read(ctx))
	close(stop)
	<-samplerDone
	progress(fmt.Sprintf("load stopped after %v; waiting for %d requests in flight", time.Since(start).Round(time.Second), l.inFlight.Load()))
	wg.Wait()
	sk.Seconds = time.Since(start).Seconds()
	sk.Requests = l.requests.Load()
	if m, err := watch.requestsByAction(ctx); err == nil {
		sk.GatewayRequests = m
	}
	if !ok {
		return fail(ctx.Err())
	}
	res.peakRSS = res.snapshots[len(res.snapshots)-1].proxy.peakRSS

	progress("checking: every stored object through the gateway, the sink's copies, a sample decrypted with the region identity")
	sk.RoundTrip = checkRoundTrip(ctx, e, g, proxied, storageBase, users)
	sleepCtx(ctx, time.Second) // let the gateway close what the clients closed
	sk.After = gatewayState(watch.read(ctx))

	// The cell's figures are the measured part's, cut in thirds: the
	// thirds are its runs.
	for _, u := range users {
		for _, r := range u.records {
			res.samples = append(res.samples, sample{done: r.done, latency: r.latency, err: r.err})
		}
	}
	c.Available = true
	summarize(&c, res, runtime.NumCPU())
	from, to := res.snapshots[0].at, res.snapshots[len(res.snapshots)-1].at
	for _, k := range soakKinds {
		if f := kindFigures(k, users, from, to); f.Requests+f.Errors > 0 {
			sk.Kinds = append(sk.Kinds, f)
		}
	}
	var lat []time.Duration
	seen := map[string]bool{}
	for _, u := range users {
		for _, r := range u.records {
			if r.err != nil {
				sk.Errors++
				sk.ErrorsByKind[errorKind(r.err)]++
				if msg := r.kind + ": " + r.err.Error(); len(sk.ErrorSamples) < 5 && !seen[msg] {
					seen[msg] = true
					sk.ErrorSamples = append(sk.ErrorSamples, msg)
				}
			} else if !r.done.Before(from) && r.done.Before(to) {
				lat = append(lat, r.latency)
			}
		}
	}
	slices.Sort(lat)
	sk.P50Ms, sk.P99Ms, sk.P999Ms = percentile(lat, 50), percentile(lat, 99), percentile(lat, 99.9)
	fromS, toS := from.Sub(start).Seconds(), to.Sub(start).Seconds()
	sk.Flatness = judgeFlatness(sk.Samples, fromS, toS)
	sk.RSSSlopeBytesPerMin = slope(sk.Samples, fromS, toS, flatnessRules[0].value, flatnessRules[0].valueKnown)
	sk.FDSlopePerMin = slope(sk.Samples, fromS, toS, flatnessRules[1].value, flatnessRules[1].valueKnown)
	sk.Holds, sk.Verdict = soakVerdict(sk)
	c.Soak = sk
	return c
}

// takeSnapshotOf is takeSnapshot with the soak's own counters.
func takeSnapshotOf(proxyPID, sinkPID int, counts []workerCounts, l *soakLoad) snapshot {
	counts[0].requests.Store(l.requests.Load())
	counts[0].errors.Store(l.errors.Load())
	return takeSnapshot(proxyPID, sinkPID, counts)
}

func gatewayState(rss int64, fds, goroutines int) GatewayState {
	return GatewayState{RSSBytes: rss, FDs: fds, Goroutines: goroutines}
}

// soakVerdict: the soak holds when no request failed, every figure of
// flatnessRules stayed flat after warm-up, and the round trip is intact.
func soakVerdict(sk *Soak) (bool, []string) {
	holds := true
	var why []string
	if sk.Errors == 0 {
		why = append(why, "no request failed")
	} else {
		holds = false
		var kinds []string
		for k, n := range sk.ErrorsByKind {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
		}
		sort.Strings(kinds)
		why = append(why, fmt.Sprintf("%d requests failed: %s", sk.Errors, strings.Join(kinds, ", ")))
	}
	for _, f := range sk.Flatness {
		word := "flat"
		if !f.Flat {
			word, holds = "NOT flat", false
		}
		line := fmt.Sprintf("%s %s after warm-up: median %s in the last third, %s in the first, limit %s (+%.0f%% +%s); highest %s and %s",
			f.Metric, word, metricValue(f.Metric, f.LastThird), metricValue(f.Metric, f.FirstThird), metricValue(f.Metric, f.Limit), f.Tolerance*100, metricValue(f.Metric, f.Slack),
			metricValue(f.Metric, f.LastThirdMax), metricValue(f.Metric, f.FirstThirdMax))
		if f.Note != "" {
			line += ": " + f.Note
		}
		why = append(why, line)
	}
	rt := sk.RoundTrip
	if rt.OK {
		why = append(why, fmt.Sprintf("round trip intact: all %d uploads came back through the gateway; the %d stored objects are age files; %d decrypted by %s with the region identity; %d stored forms hold no identifier",
			rt.Uploads, rt.Stored, rt.Decrypted, rt.DecryptTool, rt.FormsStored))
	} else {
		holds = false
		why = append(why, fmt.Sprintf("round trip NOT intact: %d of %d uploads not verified, %d mismatches, %d of %d stored objects age files, %d of %d decryptions failed, %d form leaks; %s",
			rt.Unverified, rt.Uploads, rt.Mismatches, rt.AgeFiles, rt.Stored, rt.DecryptFailed, rt.Decrypted+rt.DecryptFailed, rt.FormLeaks, strings.Join(rt.Problems, "; ")))
	}
	return holds, why
}

// metricValue formats a figure of a flatness metric.
func metricValue(metric string, v float64) string {
	if metric == "rss_bytes" {
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprintf("%.0f", v)
}

// sizeName writes a size in KiB or MiB.
func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
