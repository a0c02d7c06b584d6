package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluss/sluss/crypto"
)

// The tus scenario (only when named) measures tus 1.0 uploads (creation,
// then PATCHes in order) against a real tus server, tusd with its file
// store, once directly and once through a `sluss serve` with a tus
// service, which seals the PATCHes into one age file per upload. It
// reports one scenario of its own, tus-upload, in modes direct and
// gateway-full.
const (
	ScenarioTus       = "tus"
	ScenarioTusUpload = "tus-upload"
)

// Defaults of the tus scenario: 4 files of 100 MiB per run in PATCHes of
// 5 MiB, 4 uploads at once.
const (
	DefaultTusFiles = 4
	tusFileSize     = 100 << 20
	tusChunkSize    = 5 << 20
	tusInFlight     = 4
	tusHost         = "tus.sluss.test" // only the gateway resolves it
)

// TusRun is what the tus scenario adds to its cell.
type TusRun struct {
	Server         string `json:"server"` // tusd and its version
	Client         string `json:"client"`
	FilesPerRun    int    `json:"files_per_run"`
	ChunkSizeBytes int64  `json:"chunk_size_bytes"`
	InFlight       int    `json:"in_flight"` // uploads at once
	// AuditEvents counts the gateway's audit log by action over the whole
	// scenario: proof the requests took the path through it.
	AuditEvents map[string]int `json:"audit_events,omitempty"`
	// StoredEncrypted: every upload checked in tusd's store after a run
	// through the gateway is an age file.
	StoredEncrypted bool `json:"stored_encrypted,omitempty"`
}

var tusTitles = map[string]string{
	ScenarioTusUpload: "tus uploads, 5 MiB PATCHes (encrypt into one age file), tusd",
}

func (r *TusRun) describe() string {
	var events []string
	for _, a := range slices.Sorted(maps.Keys(r.AuditEvents)) {
		events = append(events, fmt.Sprintf("%s %d", a, r.AuditEvents[a]))
	}
	audit := "not read"
	if len(events) > 0 {
		audit = strings.Join(events, ", ")
	}
	stored := "not checked"
	if r.StoredEncrypted {
		stored = "age files"
	}
	return fmt.Sprintf("tus: %s, client %s; each run %d uploads, %d at once, each a POST and PATCHes of %s in order. The gateway's audit log (whole scenario): %s; uploads stored through it: %s.",
		r.Server, r.Client, r.FilesPerRun, r.InFlight, sizeName(r.ChunkSizeBytes), audit, stored)
}

// findTusd finds tusd on PATH or in GOPATH/bin.
func findTusd() (string, error) {
	if p, err := exec.LookPath("tusd"); err == nil {
		return p, nil
	}
	dirs := []string{build.Default.GOPATH}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(filepath.SplitList(strings.TrimSpace(string(out))), dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "tusd")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("the tus scenario needs tusd, found neither on PATH nor in $(go env GOPATH)/bin: install it with `go install github.com/tus/tusd/v2/cmd/tusd@v2.9.1` (./test.sh does)")
}

// tusdVersion is the module version tusd was built from.
func tusdVersion(bin string) string {
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "mod" {
				return f[2]
			}
		}
	}
	return "(version unknown)"
}

type tusdServer struct {
	*process
	addr, dir, version string
}

func startTusd(ctx context.Context, e *env, bin string) (*tusdServer, error) {
	s := &tusdServer{dir: filepath.Join(e.dir, "tusd"), version: tusdVersion(bin)}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	s.addr = "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", strconv.Itoa(ports[0]), "-upload-dir", s.dir, "-base-path", "/files/")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir}
	cmd.Stdout = io.Discard
	if s.process, _, err = startProcess(cmd, "tusd"); err != nil {
		return nil, err
	}
	if err := waitListening(ctx, s.process, s.addr, 30*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("tusd did not start: %w%s", err, s.stderrTail())
	}
	return s, nil
}

func startTusGateway(ctx context.Context, e *env, s *tusdServer) (*auditedGateway, error) {
	dir := filepath.Join(e.dir, "gateway-tus")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(s.addr)
	cfg := filepath.Join(dir, "sluss.yaml")
	conf := fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  resolve:
    %s: [127.0.0.1]
  services:
    - name: tus
      hosts: [%s]
      profile: tus
      ports: [%s]
      allow_loopback: true
`, filepath.Join(dir, "keys"), tusHost, tusHost, port)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return startAuditedGateway(ctx, e, cfg, dir, "tus")
}

type tusSettings struct {
	files, inFlight, runs int
	size, chunk           int64
}

func tusSettingsOf(o Options) tusSettings {
	s := tusSettings{files: o.Objects, inFlight: o.Concurrency, runs: o.Runs, size: o.Size, chunk: tusChunkSize}
	if s.files <= 0 {
		s.files = DefaultTusFiles
	}
	if s.inFlight <= 0 {
		s.inFlight = tusInFlight
	}
	if s.runs <= 0 {
		s.runs = 3
	}
	if s.size <= 0 {
		s.size = tusFileSize
	}
	return s
}

// tusClient is a minimal tus 1.0 client: creation, then PATCHes in order.
type tusClient struct {
	endpoint string // http://HOST:PORT/files/
	hc       *http.Client
	chunk    int64
}

func newTusClient(endpoint string, proxy *url.URL, chunk int64) *tusClient {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * time.Minute,
		MaxIdleConnsPerHost:   16,
		DisableCompression:    true,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return &tusClient{endpoint: endpoint, hc: &http.Client{Transport: tr}, chunk: chunk}
}

func (c *tusClient) do(ctx context.Context, method, u string, body []byte, h map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// upload stores data as one tus upload and returns its URL.
func (c *tusClient) upload(ctx context.Context, data []byte) (string, error) {
	resp, err := c.do(ctx, http.MethodPost, c.endpoint, nil, map[string]string{"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": "filetype YXBwbGljYXRpb24vb2N0ZXQtc3RyZWFt"})
	if err != nil {
		return "", fmt.Errorf("creation: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("creation: %s", resp.Status)
	}
	loc, err := url.Parse(c.endpoint)
	if err == nil {
		loc, err = loc.Parse(resp.Header.Get("Location"))
	}
	if err != nil {
		return "", fmt.Errorf("creation: Location: %w", err)
	}
	u := loc.String()
	for off := int64(0); off < int64(len(data)); {
		end := min(off+c.chunk, int64(len(data)))
		resp, err := c.do(ctx, http.MethodPatch, u, data[off:end], map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(off, 10)})
		if err != nil {
			return "", fmt.Errorf("PATCH at %d: %w", off, err)
		}
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.FormatInt(end, 10) {
			return "", fmt.Errorf("PATCH at %d: %s, Upload-Offset %q, want %d", off, resp.Status, resp.Header.Get("Upload-Offset"), end)
		}
		off = end
	}
	return u, nil
}

func tusClientName() string {
	v := "go"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.GoVersion
	}
	return "sluss bench's tus 1.0 client (net/http, " + v + ")"
}

// measureTus runs the tus scenario: tusd, the gateway in front of it,
// then per way (direct, through the gateway) a warm-up upload and the
// runs, each files uploads with inFlight at once.
func measureTus(ctx context.Context, e *env, bin string, ts tusSettings, progress func(string)) []Cell {
	info := &TusRun{Client: tusClientName(), FilesPerRun: ts.files, ChunkSizeBytes: ts.chunk, InFlight: ts.inFlight}
	newCell := func(mode string) Cell {
		return Cell{Scenario: ScenarioTusUpload, Mode: mode, Concurrency: ts.inFlight, SizeBytes: ts.size, Tus: info}
	}
	failAll := func(err error) []Cell {
		var out []Cell
		for _, m := range []string{ModeDirect, ModeFull} {
			c := newCell(m)
			c.Note = err.Error()
			out = append(out, c)
		}
		return out
	}
	progress("starting tusd (file store)")
	s, err := startTusd(ctx, e, bin)
	if err != nil {
		return failAll(err)
	}
	defer s.stop()
	info.Server = "tusd " + s.version + " (file store)"
	progress("starting sluss serve with a tus service for " + tusHost + " on tusd's port")
	g, err := startTusGateway(ctx, e, s)
	if err != nil {
		return failAll(err)
	}
	defer g.stop()
	_, port, _ := net.SplitHostPort(s.addr)
	ways := []struct {
		mode   string
		client *tusClient
		pid    int
	}{
		{ModeDirect, newTusClient("http://"+s.addr+"/files/", nil, ts.chunk), 0},
		{ModeFull, newTusClient("http://"+tusHost+":"+port+"/files/", g.proxyURL, ts.chunk), g.pid()},
	}
	data := payload(ts.size)
	var out []Cell
	for _, w := range ways {
		c := newCell(w.mode)
		res, err := runTusWay(ctx, w.mode, w.client, w.pid, s, ts, data, progress)
		if err != nil {
			c.Note = err.Error()
			out = append(out, c)
			continue
		}
		c.Available = true
		summarize(&c, res, runtime.NumCPU())
		if w.pid > 0 {
			info.StoredEncrypted = true
		}
		out = append(out, c)
	}
	if info.AuditEvents, err = g.auditEvents(); err != nil {
		for i := range out {
			out[i].addNote(err.Error())
		}
	}
	return out
}

func runTusWay(ctx context.Context, mode string, c *tusClient, pid int, s *tusdServer, ts tusSettings, data []byte, progress func(string)) (*loadResult, error) {
	progress(mode + ": warm-up: one upload")
	u, err := c.upload(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("warm-up upload: %w", err)
	}
	s.remove(u)
	counts := make([]workerCounts, 1)
	res := &loadResult{measured: pid > 0}
	if pid > 0 {
		resetPeakRSS(pid)
	}
	res.snapshots = append(res.snapshots, takeSnapshot(pid, s.pid(), counts))
	var mu sync.Mutex
	for run := 1; run <= ts.runs; run++ {
		progress(fmt.Sprintf("%s: run %d/%d: %d uploads of %s, %d at once, %s PATCHes", mode, run, ts.runs, ts.files, sizeName(ts.size), ts.inFlight, sizeName(ts.chunk)))
		var next atomic.Int64
		var wg sync.WaitGroup
		var urls []string
		for range min(ts.inFlight, ts.files) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := next.Add(1) - 1; k < int64(ts.files); k = next.Add(1) - 1 {
					start := time.Now()
					u, err := c.upload(ctx, data)
					mu.Lock()
					res.samples = append(res.samples, sample{done: time.Now(), latency: time.Since(start), err: err})
					if err != nil {
						counts[0].errors.Add(1)
					} else {
						counts[0].requests.Add(1)
						counts[0].bytes.Add(int64(len(data)))
						urls = append(urls, u)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res.snapshots = append(res.snapshots, takeSnapshot(pid, s.pid(), counts))
		if pid > 0 && len(urls) > 0 {
			if err := s.checkEncrypted(urls[0], data); err != nil {
				return nil, err
			}
		}
		for _, u := range urls { // not measured: only to keep the disk free
			s.remove(u)
		}
	}
	res.window = res.snapshots[len(res.snapshots)-1].at.Sub(res.snapshots[0].at) / time.Duration(max(1, len(res.snapshots)-1))
	res.peakRSS = res.snapshots[len(res.snapshots)-1].proxy.peakRSS
	return res, nil
}

// file is where tusd keeps the bytes of the upload at u.
func (s *tusdServer) file(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return filepath.Join(s.dir, path.Base(pu.Path))
}

func (s *tusdServer) remove(u string) {
	if f := s.file(u); f != "" {
		os.Remove(f)
		os.Remove(f + ".info")
	}
}

// checkEncrypted reads what tusd keeps for the upload at u: an age file,
// not containing the plaintext's beginning.
func (s *tusdServer) checkEncrypted(u string, plain []byte) error {
	f, err := os.Open(s.file(u))
	if err != nil {
		return fmt.Errorf("reading tusd's file of %s: %w", u, err)
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !crypto.IsEncrypted(head) {
		return fmt.Errorf("tusd holds %s as plaintext, not an age file", u)
	}
	if len(plain) >= 64 && bytes.Contains(head, plain[:64]) {
		return fmt.Errorf("tusd's file of %s contains plaintext", u)
	}
	return nil
}
