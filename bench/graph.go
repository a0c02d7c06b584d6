package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sluss/sluss/crypto"
	"github.com/sluss/sluss/internal/graphtest"
)

// The graph scenario (only when named) measures Microsoft Graph upload
// sessions and /content downloads against the Graph emulator
// (internal/graphtest, in this process), once directly and once through
// a `sluss serve` with a graph service for its API and upload hosts. It
// reports two scenarios of its own, graph-upload and graph-download,
// each in modes direct and gateway-full.
const (
	ScenarioGraph         = "graph"
	ScenarioGraphUpload   = "graph-upload"
	ScenarioGraphDownload = "graph-download"
)

// Defaults of the graph scenario: 4 files of 100 MiB per run, uploaded in
// 10 MiB fragments (32 × 320 KiB), one after another.
const (
	DefaultGraphFiles = 4
	graphFileSize     = 100 << 20
	graphFragment     = 10 << 20
	// Only the gateway resolves them. Not one a subdomain of the other,
	// as graph.microsoft.com and *.1drv.com are not: a client keeps its
	// Authorization header on a redirect to a subdomain.
	graphAPIHost    = "graph.sluss.test"
	graphUploadHost = "upload.sluss.test"
)

// GraphRun is what the graph scenario adds to its cells.
type GraphRun struct {
	Server        string `json:"server"`
	Client        string `json:"client"`
	FilesPerRun   int    `json:"files_per_run"`
	FragmentBytes int64  `json:"fragment_bytes"`
	// AuditEvents counts the gateway's audit log by action over the
	// whole scenario: proof the requests took the path through it.
	AuditEvents map[string]int `json:"audit_events,omitempty"`
	// StoredEncrypted: every file the gateway stored is an age file at
	// the emulator (checked after each upload run).
	StoredEncrypted bool `json:"stored_encrypted,omitempty"`
}

var graphTitles = map[string]string{
	ScenarioGraphUpload:   "Graph upload sessions, 10 MiB fragments (encrypt into one age file), Graph emulator",
	ScenarioGraphDownload: "Graph /content downloads through the redirect (decrypt), Graph emulator",
}

func (r *GraphRun) describe() string {
	stored := "not checked"
	if r.StoredEncrypted {
		stored = "age files"
	}
	return fmt.Sprintf("graph: %s, client %s; each run %d files uploaded one after another in upload sessions of %s fragments, then downloaded whole one after another, each compared with what was sent. The gateway's audit log (whole scenario): %s; files stored through it: %s.",
		r.Server, r.Client, r.FilesPerRun, sizeName(r.FragmentBytes), auditSummary(r.AuditEvents), stored)
}

func auditSummary(events map[string]int) string {
	if len(events) == 0 {
		return "not read"
	}
	var parts []string
	for _, a := range slices.Sorted(maps.Keys(events)) {
		parts = append(parts, fmt.Sprintf("%s %d", a, events[a]))
	}
	return strings.Join(parts, ", ")
}

// graphSettings are the graph scenario's knobs, resolved from Options.
type graphSettings struct {
	files, runs int
	size        int64
}

func graphSettingsOf(o Options) graphSettings {
	s := graphSettings{files: o.Objects, runs: o.Runs, size: o.Size}
	if s.files <= 0 {
		s.files = DefaultGraphFiles
	}
	if s.runs <= 0 {
		s.runs = 3
	}
	if s.size <= 0 {
		s.size = graphFileSize
	}
	return s
}

// startGraphGateway starts a `sluss serve` with one graph service for
// the emulator's two hosts, resolved to 127.0.0.1.
func startGraphGateway(ctx context.Context, e *env, srv *graphtest.Server) (*auditedGateway, error) {
	dir := filepath.Join(e.dir, "gateway-graph")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "sluss.yaml")
	conf := fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  resolve:
    %s: [127.0.0.1]
    %s: [127.0.0.1]
  services:
    - name: onedrive
      hosts: [%s, %s]
      profile: graph
      ports: [%s]
      allow_loopback: true
`, filepath.Join(dir, "keys"), graphAPIHost, graphUploadHost, graphAPIHost, graphUploadHost, srv.Port())
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return startAuditedGateway(ctx, e, cfg, dir, "graph")
}

// graphWay is one way to the emulator: directly or through the gateway.
type graphWay struct {
	mode   string
	client *graphtest.Client
	tr     *http.Transport
	pid    int // the gateway's, 0 direct
}

func newGraphTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * time.Minute,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}
}

// measureGraph runs the graph scenario: the emulator, the gateway in
// front of it, then per way a warm-up file and the runs, uploads first,
// then downloads of what each run stored. It returns the cells of
// graph-upload and graph-download, direct and gateway-full.
func measureGraph(ctx context.Context, e *env, gs graphSettings, progress func(string)) []Cell {
	info := &GraphRun{Server: "internal/graphtest (Graph upload-session emulator, files on disk)", Client: "internal/graphtest client (Microsoft's documented sequence)", FilesPerRun: gs.files, FragmentBytes: graphFragment}
	newCell := func(scenario, mode string) Cell {
		return Cell{Scenario: scenario, Mode: mode, Concurrency: 1, SizeBytes: gs.size, Graph: info}
	}
	failAll := func(err error) []Cell {
		var out []Cell
		for _, m := range []string{ModeDirect, ModeFull} {
			for _, s := range []string{ScenarioGraphUpload, ScenarioGraphDownload} {
				c := newCell(s, m)
				c.Note = err.Error()
				out = append(out, c)
			}
		}
		return out
	}
	progress("starting the Graph emulator")
	srv, err := graphtest.New(filepath.Join(e.dir, "graph"), graphAPIHost, graphUploadHost)
	if err != nil {
		return failAll(err)
	}
	defer srv.Close()
	progress("starting sluss serve with a graph service for " + graphAPIHost + " and " + graphUploadHost)
	g, err := startGraphGateway(ctx, e, srv)
	if err != nil {
		return failAll(err)
	}
	defer g.stop()
	direct := newGraphTransport()
	direct.DialContext = srv.Dial
	via := newGraphTransport()
	via.Proxy = http.ProxyURL(g.proxyURL)
	ways := []graphWay{
		{ModeDirect, &graphtest.Client{HTTP: &http.Client{Transport: direct}, APIBase: srv.APIBase(), Token: srv.Token}, direct, 0},
		{ModeFull, &graphtest.Client{HTTP: &http.Client{Transport: via}, APIBase: srv.APIBase(), Token: srv.Token}, via, g.pid()},
	}
	data := payload(gs.size)
	var out []Cell
	for _, w := range ways {
		up, down := newCell(ScenarioGraphUpload, w.mode), newCell(ScenarioGraphDownload, w.mode)
		upRes, downRes, err := runGraphWay(ctx, w, srv, gs, data, progress)
		if err != nil {
			up.Note, down.Note = err.Error(), err.Error()
			out = append(out, up, down)
			continue
		}
		up.Available, down.Available = true, true
		summarize(&up, upRes, runtime.NumCPU())
		summarize(&down, downRes, runtime.NumCPU())
		if w.pid > 0 {
			info.StoredEncrypted = true
		}
		out = append(out, up, down)
		w.tr.CloseIdleConnections()
	}
	if info.AuditEvents, err = g.auditEvents(); err != nil {
		for i := range out {
			out[i].addNote(err.Error())
		}
	}
	return out
}

// runGraphWay measures one way: the upload runs, then the download runs.
func runGraphWay(ctx context.Context, w graphWay, srv *graphtest.Server, gs graphSettings, data []byte, progress func(string)) (up, down *loadResult, err error) {
	name := func(run, k int) string { return fmt.Sprintf("%s/run%d/file-%d.bin", w.mode, run, k) }
	buf := make([]byte, len(data))
	put := func(path string) (string, error) {
		it, err := w.client.Upload(ctx, path, bytes.NewReader(data), int64(len(data)), graphFragment)
		if err != nil {
			return "", fmt.Errorf("upload of %s: %w", path, err)
		}
		if it.Size != int64(len(data)) {
			return "", fmt.Errorf("upload of %s: driveItem size %d, %d sent", path, it.Size, len(data))
		}
		return it.ID, nil
	}
	get := func(id string) error {
		resp, err := w.client.Download(ctx, id, "")
		if err != nil {
			return fmt.Errorf("download of %s: %w", id, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("download of %s: status %d", id, resp.StatusCode)
		}
		n, err := io.ReadFull(resp.Body, buf)
		if err != nil {
			return fmt.Errorf("download of %s: %d of %d bytes: %w", id, n, len(buf), err)
		}
		if extra, _ := resp.Body.Read(make([]byte, 1)); extra > 0 {
			return fmt.Errorf("download of %s: more than the %d bytes uploaded", id, len(buf))
		}
		if !bytes.Equal(buf, data) {
			return fmt.Errorf("download of %s: the bytes differ from those uploaded", id)
		}
		return nil
	}

	progress(w.mode + ": warm-up: one file up and down")
	id, err := put(name(0, 0))
	if err != nil {
		return nil, nil, err
	}
	if err := get(id); err != nil {
		return nil, nil, err
	}
	srv.Delete(id)

	counts := make([]workerCounts, 1)
	record := func(res *loadResult, start time.Time, err error) {
		res.samples = append(res.samples, sample{done: time.Now(), latency: time.Since(start), err: err})
		if err != nil {
			counts[0].errors.Add(1)
			return
		}
		counts[0].requests.Add(1)
		counts[0].bytes.Add(int64(len(data)))
	}
	newResult := func() *loadResult {
		r := &loadResult{measured: w.pid > 0}
		if w.pid > 0 {
			resetPeakRSS(w.pid)
		}
		r.snapshots = append(r.snapshots, takeSnapshot(w.pid, 0, counts))
		return r
	}
	finish := func(r *loadResult) {
		r.window = r.snapshots[len(r.snapshots)-1].at.Sub(r.snapshots[0].at) / time.Duration(max(1, len(r.snapshots)-1))
		r.peakRSS = r.snapshots[len(r.snapshots)-1].proxy.peakRSS
	}

	ids := make([][]string, gs.runs+1)
	up = newResult()
	for run := 1; run <= gs.runs; run++ {
		progress(fmt.Sprintf("%s: upload run %d/%d: %d files of %s in %s fragments", w.mode, run, gs.runs, gs.files, sizeName(int64(len(data))), sizeName(graphFragment)))
		for k := range gs.files {
			start := time.Now()
			id, err := put(name(run, k))
			record(up, start, err)
			if err == nil {
				ids[run] = append(ids[run], id)
			}
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
		}
		up.snapshots = append(up.snapshots, takeSnapshot(w.pid, 0, counts))
		if w.pid > 0 && len(ids[run]) > 0 {
			if err := checkGraphStored(srv, ids[run][0], data); err != nil {
				return nil, nil, err
			}
		}
	}
	finish(up)

	down = newResult()
	for run := 1; run <= gs.runs; run++ {
		progress(fmt.Sprintf("%s: download run %d/%d: %d files", w.mode, run, gs.runs, len(ids[run])))
		for _, id := range ids[run] {
			start := time.Now()
			record(down, start, get(id))
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
		}
		down.snapshots = append(down.snapshots, takeSnapshot(w.pid, 0, counts))
		for _, id := range ids[run] { // not measured: only to keep the disk free
			srv.Delete(id)
		}
	}
	finish(down)
	return up, down, nil
}

// checkGraphStored reads what the emulator keeps for an item: an age
// file, not containing the plaintext's beginning.
func checkGraphStored(srv *graphtest.Server, id string, plain []byte) error {
	f, err := os.Open(srv.ItemPath(id))
	if err != nil {
		return fmt.Errorf("reading the stored file: %w", err)
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !crypto.IsEncrypted(head) {
		return fmt.Errorf("the emulator holds a file as plaintext, not an age file")
	}
	if len(plain) >= 64 && bytes.Contains(head, plain[:64]) {
		return fmt.Errorf("a stored file contains plaintext")
	}
	return nil
}
