package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/internal/nextcloudtest"
)

// The nextcloud scenario (only when named) measures Nextcloud chunked
// uploads (chunking v2 as the web uploader does it: MKCOL, chunk PUTs in
// parallel, MOVE) and whole-file downloads against the test Nextcloud
// (internal/nextcloudtest, served from the bench process over HTTPS), once
// directly and once through a `sluss serve` with a nextcloud service. It
// reports two scenarios of its own, nextcloud-upload and
// nextcloud-download, each in modes direct and gateway-full.
const (
	ScenarioNextcloud         = "nextcloud"
	ScenarioNextcloudUpload   = "nextcloud-upload"
	ScenarioNextcloudDownload = "nextcloud-download"
)

// Defaults of the nextcloud scenario: 3 files of 100 MiB per run, in
// 10 MiB chunks, 4 chunks (or, downloading, 3 files) in flight.
const (
	DefaultNextcloudFiles = 3
	ncFileSize            = 100 << 20
	ncChunkSize           = 10 << 20
	ncInFlight            = 4
)

var ncTitles = map[string]string{
	ScenarioNextcloudUpload:   "Nextcloud chunked uploads, 10 MiB chunks (encrypt into one age file), test Nextcloud",
	ScenarioNextcloudDownload: "Nextcloud GET of whole files (decrypt), test Nextcloud",
}

// describeNextcloud says in one paragraph what the nextcloud cells
// measured.
func (r *S3Run) describeNextcloud() string {
	return "nextcloud: " + r.describeBody()
}

// ncSettingsOf resolves the nextcloud scenario's knobs (--objects,
// --concurrency, --size, --runs).
func ncSettingsOf(o Options) s3Settings {
	s := s3Settings{objects: o.Objects, inFlight: o.Concurrency, runs: o.Runs, size: o.Size, perfDir: o.PerfDir}
	if s.objects <= 0 {
		s.objects = DefaultNextcloudFiles
	}
	if s.inFlight <= 0 {
		s.inFlight = ncInFlight
	}
	if s.runs <= 0 {
		s.runs = 3
	}
	if s.size <= 0 {
		s.size = ncFileSize
	}
	return s
}

// ncWay is one way to the server: directly or through the gateway.
type ncWay struct {
	mode   string
	client *http.Client
	base   string // https://HOST:PORT
	pid    int    // the gateway's, 0 direct
}

func startNextcloudGateway(ctx context.Context, e *env, srv *nextcloudtest.Server) (*auditedGateway, error) {
	dir := filepath.Join(e.dir, "gateway-nextcloud")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "sluss.yaml")
	conf := fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  upstream_ca: %s
  resolve:
    %s: [127.0.0.1]
  services:
    - name: nextcloud
      hosts: [%s]
      profile: nextcloud
      ports: [%s]
      allow_loopback: true
`, filepath.Join(dir, "keys"), srv.CAFile, nextcloudtest.Host, nextcloudtest.Host, srv.Port)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	g, err := startAuditedGateway(ctx, e, cfg, dir, "nextcloud")
	if err != nil {
		return nil, err
	}
	g.caFile = filepath.Join(dir, "keys", "ca.pem")
	return g, nil
}

// ncClient is an HTTP client trusting caFile, through proxy if not nil.
func ncClient(caFile string, proxy *url.URL) (*http.Client, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool},
		ResponseHeaderTimeout: 2 * time.Minute,
		MaxIdleConnsPerHost:   16,
		DisableCompression:    true,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return &http.Client{Transport: tr}, nil
}

// measureNextcloud runs the nextcloud scenario: the test server, the
// gateway in front of it, then per way a warm-up file and the runs,
// uploads first (each run its files one after another, inFlight chunks
// at once), then downloads of what each run stored (inFlight files at
// once, each read whole and compared).
func measureNextcloud(ctx context.Context, e *env, ss s3Settings, progress func(string)) []Cell {
	info := &S3Run{Client: "Go net/http, the web uploader's pattern (chunking v2)", ObjectsPerRun: ss.objects, PartSizeBytes: ncChunkSize, InFlight: ss.inFlight}
	newCell := func(scenario, mode string) Cell {
		return Cell{Scenario: scenario, Mode: mode, Concurrency: ss.inFlight, SizeBytes: ss.size, Nextcloud: info}
	}
	failAll := func(err error) []Cell {
		var out []Cell
		for _, m := range []string{ModeDirect, ModeFull} {
			for _, s := range []string{ScenarioNextcloudUpload, ScenarioNextcloudDownload} {
				c := newCell(s, m)
				c.Note = err.Error()
				out = append(out, c)
			}
		}
		return out
	}
	progress("starting the test Nextcloud (internal/nextcloudtest, in this process)")
	srv, err := nextcloudtest.New(filepath.Join(e.dir, "nextcloud"))
	if err != nil {
		return failAll(err)
	}
	defer srv.Close()
	srv.KeepRequests(false)
	info.Server = "internal/nextcloudtest " + srv.Version + " (files on disk, served by the bench process)"
	progress("starting sluss serve with a nextcloud service for " + nextcloudtest.Host)
	g, err := startNextcloudGateway(ctx, e, srv)
	if err != nil {
		return failAll(err)
	}
	defer g.stop()
	direct, err := ncClient(srv.CAFile, nil)
	if err != nil {
		return failAll(err)
	}
	via, err := ncClient(g.caFile, g.proxyURL)
	if err != nil {
		return failAll(err)
	}
	ways := []ncWay{
		{ModeDirect, direct, srv.URL, 0},
		{ModeFull, via, "https://" + nextcloudtest.Host + ":" + srv.Port, g.pid()},
	}
	data := payload(ss.size)
	var out []Cell
	for _, w := range ways {
		up, down := newCell(ScenarioNextcloudUpload, w.mode), newCell(ScenarioNextcloudDownload, w.mode)
		upRes, downRes, err := runNextcloudWay(ctx, w, srv, ss, data, progress)
		if err != nil {
			up.Note, down.Note = err.Error(), err.Error()
			out = append(out, up, down)
			continue
		}
		for _, x := range []struct {
			c   *Cell
			res *s3Result
		}{{&up, upRes}, {&down, downRes}} {
			x.c.Available = true
			summarize(x.c, x.res.loadResult, runtime.NumCPU())
			if p := x.res.profile; p != nil && p.err != nil {
				x.c.addNote("no profile: " + p.err.Error())
			} else if p != nil {
				x.c.Profile, x.c.ProfileFile = p.top, p.file
			}
		}
		if w.pid > 0 {
			info.StoredEncrypted = true
		}
		out = append(out, up, down)
		w.client.CloseIdleConnections()
	}
	if info.AuditEvents, err = g.auditEvents(); err != nil {
		for i := range out {
			out[i].addNote(err.Error())
		}
	}
	return out
}

// ncRequest sends one request with the server's credentials and reads
// the answer (into into, if not nil).
func ncRequest(ctx context.Context, w ncWay, srv *nextcloudtest.Server, method, path string, body []byte, h map[string]string, into []byte) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(srv.User, srv.Password)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		n, err := io.ReadFull(resp.Body, into)
		if err != nil {
			return resp.StatusCode, fmt.Errorf("%d of %d bytes: %w", n, len(into), err)
		}
		if extra, _ := resp.Body.Read(make([]byte, 1)); extra > 0 {
			return resp.StatusCode, fmt.Errorf("more than the %d bytes uploaded", len(into))
		}
		return resp.StatusCode, nil
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// runNextcloudWay measures one way: the upload runs, then the download
// runs.
func runNextcloudWay(ctx context.Context, w ncWay, srv *nextcloudtest.Server, ss s3Settings, data []byte, progress func(string)) (up, down *s3Result, err error) {
	filesRoot := "/remote.php/dav/files/" + srv.User + "/"
	name := func(run, k int) string { return fmt.Sprintf("%s-run%d-file-%d.bin", w.mode, run, k) }
	var uploads atomic.Int64
	put := func(n string) error {
		id := fmt.Sprintf("bench-%s-%d", w.mode, uploads.Add(1))
		folder := "/remote.php/dav/uploads/" + srv.User + "/" + id
		h := map[string]string{"Destination": w.base + filesRoot + n, "OC-Total-Length": strconv.Itoa(len(data))}
		if code, err := ncRequest(ctx, w, srv, "MKCOL", folder, nil, h, nil); err != nil || code != http.StatusCreated {
			return fmt.Errorf("MKCOL for %s: %d %v", n, code, err)
		}
		chunks := (len(data) + ncChunkSize - 1) / ncChunkSize
		var next atomic.Int64
		errs := make(chan error, ss.inFlight)
		var wg sync.WaitGroup
		for range min(ss.inFlight, chunks) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < chunks; i = int(next.Add(1)) - 1 {
					part := data[i*ncChunkSize : min((i+1)*ncChunkSize, len(data))]
					code, err := ncRequest(ctx, w, srv, http.MethodPut, fmt.Sprintf("%s/%d", folder, i+1), part, h, nil)
					if err != nil || code != http.StatusCreated {
						errs <- fmt.Errorf("chunk %d of %s: %d %v", i+1, n, code, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		if code, err := ncRequest(ctx, w, srv, "MOVE", folder+"/.file", nil, h, nil); err != nil || code/100 != 2 {
			return fmt.Errorf("MOVE of %s: %d %v", n, code, err)
		}
		return nil
	}
	get := func(n string, b []byte) error {
		code, err := ncRequest(ctx, w, srv, http.MethodGet, filesRoot+n, nil, nil, b)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("download of %s: %d %v", n, code, err)
		}
		if !bytes.Equal(b, data) {
			return fmt.Errorf("download of %s: the bytes differ from those uploaded", n)
		}
		return nil
	}
	buf := make([][]byte, ss.inFlight)
	for i := range buf {
		buf[i] = make([]byte, len(data))
	}

	progress(w.mode + ": warm-up: one file up and down")
	if err := put(name(0, 0)); err != nil {
		return nil, nil, err
	}
	if err := get(name(0, 0), buf[0]); err != nil {
		return nil, nil, err
	}
	os.Remove(srv.FilePath(name(0, 0)))

	counts := make([]workerCounts, 1)
	record := func(res *s3Result, start time.Time, err error) {
		res.samples = append(res.samples, sample{done: time.Now(), latency: time.Since(start), err: err})
		if err != nil {
			counts[0].errors.Add(1)
			return
		}
		counts[0].requests.Add(1)
		counts[0].bytes.Add(int64(len(data)))
	}
	var stopPerf func() *s3Profile
	defer func() {
		if stopPerf != nil {
			stopPerf()
		}
	}()
	newResult := func(scenario string) *s3Result {
		stopPerf = startS3Perf(ctx, ss.perfDir, w.pid, scenario+"-"+w.mode)
		r := &s3Result{loadResult: &loadResult{measured: w.pid > 0}}
		if w.pid > 0 {
			resetPeakRSS(w.pid)
		}
		r.snapshots = append(r.snapshots, takeSnapshot(w.pid, 0, counts))
		return r
	}
	finish := func(r *s3Result) {
		r.profile, stopPerf = stopPerf(), nil
		r.window = r.snapshots[len(r.snapshots)-1].at.Sub(r.snapshots[0].at) / time.Duration(max(1, len(r.snapshots)-1))
		r.peakRSS = r.snapshots[len(r.snapshots)-1].proxy.peakRSS
	}

	up = newResult(ScenarioNextcloudUpload)
	for run := 1; run <= ss.runs; run++ {
		progress(fmt.Sprintf("%s: upload run %d/%d: %d files of %s, %d chunks of %s at once", w.mode, run, ss.runs, ss.objects, sizeName(int64(len(data))), ss.inFlight, sizeName(ncChunkSize)))
		for k := range ss.objects {
			start := time.Now()
			err := put(name(run, k))
			record(up, start, err)
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
		}
		up.snapshots = append(up.snapshots, takeSnapshot(w.pid, 0, counts))
		if w.pid > 0 {
			if err := checkStoredAge(srv.FilePath(name(run, 0)), data); err != nil {
				return nil, nil, err
			}
		}
	}
	finish(up)

	down = newResult(ScenarioNextcloudDownload)
	var mu sync.Mutex
	for run := 1; run <= ss.runs; run++ {
		progress(fmt.Sprintf("%s: download run %d/%d: %d files, %d at once", w.mode, run, ss.runs, ss.objects, ss.inFlight))
		var next atomic.Int64
		var wg sync.WaitGroup
		for i := range min(ss.inFlight, ss.objects) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int(next.Add(1)) - 1; k < ss.objects; k = int(next.Add(1)) - 1 {
					start := time.Now()
					err := get(name(run, k), buf[i])
					mu.Lock()
					record(down, start, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		down.snapshots = append(down.snapshots, takeSnapshot(w.pid, 0, counts))
		for k := range ss.objects { // not measured: only to keep the disk free
			os.Remove(srv.FilePath(name(run, k)))
		}
	}
	finish(down)
	return up, down, nil
}

// checkStoredAge reads the head of a stored file: an age file, not
// containing the plaintext's beginning.
func checkStoredAge(path string, plain []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the stored file: %w", err)
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !crypto.IsEncrypted(head) {
		return fmt.Errorf("the server holds %s as plaintext, not an age file", filepath.Base(path))
	}
	if len(plain) >= 64 && bytes.Contains(head, plain[:64]) {
		return fmt.Errorf("the stored %s contains plaintext", filepath.Base(path))
	}
	return nil
}
