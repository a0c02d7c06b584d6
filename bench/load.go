package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// target is where one mode's requests go: the sink, directly or through a
// proxy, and the process to measure, if any.
type target struct {
	mode     string
	proxy    *url.URL       // nil: direct
	roots    *x509.CertPool // what the client trusts for the TLS it sees
	sinkBase string         // https://127.0.0.1:PORT
	apiBase  string         // http://ADMIN for API scenarios, "" if none
	pid      int            // the proxy's process (tree) to measure; 0 if not ours

	sinkRoots *x509.CertPool // the sink's CA, to look at what it stored

	localAddr *net.TCPAddr // the clients' source address; nil: the system's choice
}

// newClient returns a keep-alive HTTP/1.1 client for one worker: its own
// transport, so each worker holds its own connection the way independent
// users do.
func (t *target) newClient() *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: t.localAddr}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: t.roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}
	if t.proxy != nil {
		tr.Proxy = http.ProxyURL(t.proxy)
	}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// sample is one completed request.
type sample struct {
	done    time.Time
	latency time.Duration
	err     error
}

// Bounds of what drive adapts to a slow target.
const (
	maxWarmupWait   = 15 * time.Second
	maxWindowFactor = 4
)

// maxSamplesPerWorker bounds memory on very long runs; beyond it samples
// are dropped and the cell says so.
const maxSamplesPerWorker = 1 << 18

// requestFunc builds request number seq of worker w. check, if not nil,
// validates the response (status and body length).
type requestFunc func(t *target, w, seq int) (req *http.Request, check func(status int, got int64) error, err error)

// snapshot is the state at a window boundary.
type snapshot struct {
	at          time.Time
	bytes       int64 // payload moved so far, all workers
	requests    int64 // completed without error so far
	errors      int64
	self        time.Duration
	proxy       procUsage
	sink        time.Duration
	machineBusy time.Duration
	machineAll  time.Duration
}

// workerCounts are one worker's running totals, read at window
// boundaries; they hold even where samples are no longer kept.
type workerCounts struct {
	bytes, requests, errors atomic.Int64
}

func takeSnapshot(proxyPID, sinkPID int, counts []workerCounts) snapshot {
	s := snapshot{at: time.Now(), self: selfCPU()}
	for i := range counts {
		s.bytes += counts[i].bytes.Load()
		s.requests += counts[i].requests.Load()
		s.errors += counts[i].errors.Load()
	}
	if proxyPID > 0 {
		s.proxy, _ = treeUsage(proxyPID)
	}
	if sinkPID > 0 {
		s.sink, _ = procCPU(sinkPID)
	}
	s.machineBusy, s.machineAll = machineCPU()
	return s
}

// loadResult is what drive returns: every sample of every worker and the
// snapshots at the boundaries of the measured windows (len = runs+1).
type loadResult struct {
	samples   []sample
	snapshots []snapshot
	dropped   bool
	window    time.Duration // of the runs, maybe lengthened
	measured  bool          // the proxy is our child: CPU and memory are known
	peakRSS   int64         // of the proxy, bytes
}

// drive runs workers against t without pause for warm-up + runs×window,
// taking snapshots at each window boundary, then stops them.
//
// onMeasure, if not nil, is called when the measured runs begin; the
// function it returns when they end.
func drive(ctx context.Context, t *target, workers int, build requestFunc, warmup, window time.Duration, runs int, sinkPID int, progress func(string), onMeasure func() func()) (*loadResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type workerOut struct {
		samples []sample
		dropped bool
	}
	outs := make([]workerOut, workers)
	// Payload is counted as it moves, not when a request completes, so a
	// window shorter than one large request still sees its share.
	counts := make([]workerCounts, workers)
	// What the warm-up learns: requests done and their summed latency.
	var done, latencySum, firstDone atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := t.newClient()
			defer c.CloseIdleConnections()
			for seq := 0; ctx.Err() == nil; seq++ {
				s, ok := doOne(ctx, c, t, build, w, seq, &counts[w].bytes)
				if !ok {
					return // cancelled mid-request: not a sample
				}
				if s.err != nil {
					counts[w].errors.Add(1)
				} else {
					counts[w].requests.Add(1)
				}
				if seq == 0 {
					firstDone.Add(1)
				}
				done.Add(1)
				latencySum.Add(int64(s.latency))
				if len(outs[w].samples) >= maxSamplesPerWorker {
					outs[w].dropped = true
					continue
				}
				outs[w].samples = append(outs[w].samples, s)
				if s.err != nil {
					// Do not spin on a dead proxy: errors come back fast.
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		}()
	}

	res := &loadResult{window: window}
	err := func() error {
		if !sleepCtx(ctx, warmup) {
			return ctx.Err()
		}
		// Warm-up lasts until every worker has finished a request (its
		// connection, TLS handshakes and leaf certificate are made), up to
		// maxWarmupWait more.
		for waited := time.Duration(0); firstDone.Load() < int64(workers) && waited < maxWarmupWait; waited += 50 * time.Millisecond {
			if !sleepCtx(ctx, 50*time.Millisecond) {
				return ctx.Err()
			}
		}
		// A run shorter than a request measures little but the edges:
		// lengthen runs to twice the mean latency seen so far, within
		// maxWindowFactor times what was asked.
		if n := done.Load(); n > 0 {
			mean := time.Duration(latencySum.Load() / n)
			res.window = min(max(window, 2*mean), maxWindowFactor*window).Round(10 * time.Millisecond)
		}
		if res.window != window && progress != nil {
			progress(fmt.Sprintf("requests take long here: runs of %v instead of %v", res.window, window))
		}
		if t.pid > 0 {
			resetPeakRSS(t.pid)
		}
		if onMeasure != nil {
			if done := onMeasure(); done != nil {
				defer done()
			}
		}
		res.snapshots = append(res.snapshots, takeSnapshot(t.pid, sinkPID, counts))
		for r := range runs {
			if progress != nil {
				progress(fmt.Sprintf("run %d/%d", r+1, runs))
			}
			if !sleepCtx(ctx, res.window) {
				return ctx.Err()
			}
			res.snapshots = append(res.snapshots, takeSnapshot(t.pid, sinkPID, counts))
		}
		return nil
	}()
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if t.pid > 0 {
		res.measured = true
		res.peakRSS = res.snapshots[len(res.snapshots)-1].proxy.peakRSS
	}
	for _, o := range outs {
		res.samples = append(res.samples, o.samples...)
		res.dropped = res.dropped || o.dropped
	}
	return res, nil
}

// doOne sends one request and reads the whole response. ok is false when
// the context ended during the request.
func doOne(ctx context.Context, c *http.Client, t *target, build requestFunc, w, seq int, moved *atomic.Int64) (s sample, ok bool) {
	req, check, err := build(t, w, seq)
	if err != nil {
		return sample{done: time.Now(), err: err}, true
	}
	req = req.WithContext(ctx)
	if req.Body != nil {
		req.Body = countingReader{req.Body, moved}
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return s, false
		}
		return sample{done: time.Now(), latency: time.Since(start), err: err}, true
	}
	got, err := io.Copy(io.Discard, countingReader{resp.Body, moved})
	resp.Body.Close()
	now := time.Now()
	if ctx.Err() != nil {
		return s, false
	}
	s = sample{done: now, latency: now.Sub(start)}
	switch {
	case err != nil:
		s.err = fmt.Errorf("reading response: %w", err)
	case check != nil:
		s.err = check(resp.StatusCode, got)
	case resp.StatusCode/100 != 2:
		s.err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return s, true
}

// sleepCtx sleeps for d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// countingReader adds what it reads to n.
type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

func (c countingReader) Close() error { return c.r.Close() }
