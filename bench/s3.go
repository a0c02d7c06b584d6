package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluss/sluss/crypto"
)

// The s3 scenario (only when named) measures S3 multipart uploads and
// whole-object downloads against a real S3 server, versitygw with its
// posix backend, once directly and once through a `sluss serve` with an
// s3 service, with minio-go as the client. It reports two scenarios of
// its own, s3-upload and s3-download, each in modes direct and
// gateway-full.
const (
	ScenarioS3         = "s3"
	ScenarioS3Upload   = "s3-upload"
	ScenarioS3Download = "s3-download"
)

// Defaults of the s3 scenario: 4 objects of 64 MiB per run, uploaded in
// 8 MiB parts, 4 parts (or, downloading, 4 objects) in flight.
const (
	DefaultS3Objects = 4
	s3ObjectSize     = 64 << 20
	s3PartSize       = 8 << 20
	s3InFlight       = 4
	s3Bucket         = "bench"
	s3Region         = "us-east-1"
	s3Host           = "s3.sluss.test" // only the gateway resolves it
)

// S3Run is what the s3 scenario adds to its cells.
type S3Run struct {
	Server        string `json:"server"` // versitygw and its version line
	Client        string `json:"client"` // minio-go
	ObjectsPerRun int    `json:"objects_per_run"`
	PartSizeBytes int64  `json:"part_size_bytes"`
	InFlight      int    `json:"in_flight"` // parts of one object (upload) or objects (download) at once
	// AuditEvents counts the gateway's audit log by action over the
	// whole scenario (warm-up included), the same for both of its cells:
	// proof the requests took the path through it.
	AuditEvents map[string]int `json:"audit_events,omitempty"`
	// StoredEncrypted: every object the gateway stored is an age file on
	// versitygw's disk (checked after each upload run).
	StoredEncrypted bool `json:"stored_encrypted,omitempty"`
}

// s3Titles name the s3 scenario's cells for tables and charts.
var s3Titles = map[string]string{
	ScenarioS3Upload:   "S3 multipart uploads, 8 MiB parts (encrypt into one age file), versitygw",
	ScenarioS3Download: "S3 GetObject of whole objects (decrypt), versitygw",
}

// describe says in one paragraph what the s3 cells measured.
func (r *S3Run) describe() string {
	return "s3: " + r.describeBody()
}

// describeBody is the paragraph without the scenario's name.
func (r *S3Run) describeBody() string {
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
	return fmt.Sprintf("%s, client %s; each run %d objects uploaded one after another, %d parts of %s at once, then downloaded whole, %d objects at once, each compared with what was sent. The gateway's audit log (whole scenario): %s; objects stored through it: %s.",
		r.Server, r.Client, r.ObjectsPerRun, r.InFlight, sizeName(r.PartSizeBytes), min(r.InFlight, r.ObjectsPerRun), audit, stored)
}

// findVersitygw finds versitygw on PATH or in GOPATH/bin, where go install
// (and ./test.sh) put it.
func findVersitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	dirs := []string{build.Default.GOPATH}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(filepath.SplitList(strings.TrimSpace(string(out))), dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("the s3 scenario needs versitygw, found neither on PATH nor in $(go env GOPATH)/bin: install it with `go install github.com/versity/versitygw/cmd/versitygw@latest` (./test.sh does)")
}

// minioVersion is the minio-go module this binary was built with.
func minioVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/minio/minio-go/v7" {
				return "minio-go " + d.Version
			}
		}
	}
	return "minio-go v7"
}

// versitygwVersion reads `versitygw --version` (Version : X, Build : Y)
// as "X (build Y)".
func versitygwVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "(version unknown)"
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if fields["Version"] == "" {
		return "(version unknown)"
	}
	return fields["Version"] + " (build " + fields["Build"] + ")"
}

// versitygw is a running S3 server.
type versitygw struct {
	*process
	addr           string // 127.0.0.1:PORT
	dir            string // posix root: DIR/BUCKET/KEY
	access, secret string
	version        string
	direct         *minio.Client
	directHTTP     *http.Transport
}

func startVersitygw(ctx context.Context, e *env, bin string) (*versitygw, error) {
	v := &versitygw{dir: filepath.Join(e.dir, "versitygw"), access: "AK" + randomHex(9), secret: randomHex(20)}
	home := filepath.Join(e.dir, "versitygw-home")
	for _, d := range []string{v.dir, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	v.version = versitygwVersion(ctx, bin)
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	v.addr = "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(bin, "--access", v.access, "--secret", v.secret, "--region", s3Region, "--quiet", "--port", v.addr, "posix", v.dir)
	// Only what it needs: versitygw also reads its flags from VGW_* and
	// ROOT_* variables.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	cmd.Stdout = io.Discard
	if v.process, _, err = startProcess(cmd, "versitygw"); err != nil {
		return nil, err
	}
	if err := waitListening(ctx, v.process, v.addr, 30*time.Second); err != nil {
		v.stop()
		return nil, fmt.Errorf("versitygw did not start: %w%s", err, v.stderrTail())
	}
	if v.direct, v.directHTTP, err = newS3Client(v.addr, v.access, v.secret, nil); err != nil {
		v.stop()
		return nil, err
	}
	// Ready when a signed request succeeds.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = v.direct.MakeBucket(ctx, s3Bucket, minio.MakeBucketOptions{Region: s3Region})
		if err == nil {
			return v, nil
		}
		if time.Now().After(deadline) || !v.running() || ctx.Err() != nil {
			v.stop()
			return nil, fmt.Errorf("versitygw: failed to create bucket %s: %w%s", s3Bucket, err, v.stderrTail())
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// objectPath is the file versitygw keeps an object's bytes in.
func (v *versitygw) objectPath(key string) string {
	return filepath.Join(v.dir, s3Bucket, filepath.FromSlash(key))
}

// newS3Client returns a minio-go client for endpoint (host:port, plain
// HTTP), through proxy if not nil. The proxy is set explicitly, never from
// the environment, so that loopback addresses go through it too.
func newS3Client(endpoint, access, secret string, proxy *url.URL) (*minio.Client, *http.Transport, error) {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * time.Minute,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		Proxy:                 nil,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Secure:       false,
		Region:       s3Region,
		Transport:    tr,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1, // a failure is a finding, not something to hide
	})
	if err != nil {
		return nil, nil, fmt.Errorf("minio-go client for %s: %w", endpoint, err)
	}
	return c, tr, nil
}

func startS3Gateway(ctx context.Context, e *env, v *versitygw) (*auditedGateway, error) {
	dir := filepath.Join(e.dir, "gateway-s3")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(v.addr)
	cfg := filepath.Join(dir, "sluss.yaml")
	conf := fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  resolve:
    %s: [127.0.0.1]
  services:
    - name: s3
      hosts: [%s]
      profile: s3
      ports: [%s]
      allow_loopback: true
`, filepath.Join(dir, "keys"), s3Host, s3Host, port)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "SLUSS_CONFIG=", "SLUSS_DATA_DIR=")
	add := exec.CommandContext(ctx, e.exe, "keys", "s3", "add", "--config", cfg, v.access)
	add.Env = env
	add.Stdin = strings.NewReader(v.secret + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sluss keys s3 add: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return startAuditedGateway(ctx, e, cfg, dir, "s3")
}

// s3Settings are the s3 scenario's knobs, resolved from Options.
type s3Settings struct {
	objects, inFlight, runs int
	size                    int64
	perfDir                 string
}

func s3SettingsOf(o Options) s3Settings {
	s := s3Settings{objects: o.Objects, inFlight: o.Concurrency, runs: o.Runs, size: o.Size, perfDir: o.PerfDir}
	if s.objects <= 0 {
		s.objects = DefaultS3Objects
	}
	if s.inFlight <= 0 {
		s.inFlight = s3InFlight
	}
	if s.runs <= 0 {
		s.runs = 3
	}
	if s.size <= 0 {
		s.size = s3ObjectSize
	}
	return s
}

// s3Way is one way to versitygw: directly or through the gateway.
type s3Way struct {
	mode   string
	client *minio.Client
	tr     *http.Transport
	pid    int // the gateway's, 0 direct
}

// measureS3 runs the s3 scenario: versitygw, the gateway in front of it,
// then per way a warm-up object and the runs, uploads first (each run
// objects uploaded one after another, inFlight parts at once), then
// downloads of what each run stored (inFlight objects at once, each
// GetObject read whole and compared). It returns the cells of s3-upload
// and s3-download, direct and gateway-full.
func measureS3(ctx context.Context, e *env, bin string, ss s3Settings, progress func(string)) []Cell {
	info := &S3Run{Client: minioVersion(), ObjectsPerRun: ss.objects, PartSizeBytes: s3PartSize, InFlight: ss.inFlight}
	newCell := func(scenario, mode string) Cell {
		return Cell{Scenario: scenario, Mode: mode, Concurrency: ss.inFlight, SizeBytes: ss.size, S3: info}
	}
	failAll := func(err error) []Cell {
		var out []Cell
		for _, m := range []string{ModeDirect, ModeFull} {
			for _, s := range []string{ScenarioS3Upload, ScenarioS3Download} {
				c := newCell(s, m)
				c.Note = err.Error()
				out = append(out, c)
			}
		}
		return out
	}
	progress("starting versitygw (posix backend)")
	v, err := startVersitygw(ctx, e, bin)
	if err != nil {
		return failAll(err)
	}
	defer v.stop()
	info.Server = "versitygw " + v.version + " (posix backend)"
	progress("starting sluss serve with an s3 service for " + s3Host + " on versitygw's port")
	g, err := startS3Gateway(ctx, e, v)
	if err != nil {
		return failAll(err)
	}
	defer g.stop()
	_, port, _ := net.SplitHostPort(v.addr)
	viaGateway, gtr, err := newS3Client(s3Host+":"+port, v.access, v.secret, g.proxyURL)
	if err != nil {
		return failAll(err)
	}
	ways := []s3Way{{ModeDirect, v.direct, v.directHTTP, 0}, {ModeFull, viaGateway, gtr, g.pid()}}
	data := payload(ss.size)
	var out []Cell
	for _, w := range ways {
		up, down := newCell(ScenarioS3Upload, w.mode), newCell(ScenarioS3Download, w.mode)
		upRes, downRes, err := runS3Way(ctx, w, v, ss, data, progress)
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
		w.tr.CloseIdleConnections()
	}
	if info.AuditEvents, err = g.auditEvents(); err != nil {
		for i := range out {
			out[i].addNote(err.Error())
		}
	}
	return out
}

// s3Result is one phase (uploads or downloads) of one way.
type s3Result struct {
	*loadResult
	profile *s3Profile // --perf, through the gateway
}

// s3Profile is where the gateway's CPU went during one phase.
type s3Profile struct {
	top  []ProfileEntry
	file string
	err  error
}

// startS3Perf records the gateway during one phase with Linux perf, if
// perfDir is set; the function it returns stops and reads the recording.
func startS3Perf(ctx context.Context, perfDir string, pid int, name string) func() *s3Profile {
	if perfDir == "" || pid <= 0 {
		return func() *s3Profile { return nil }
	}
	file := filepath.Join(perfDir, name+".perf.data")
	rec, err := startPerf(pid, file)
	if err == nil {
		err = rec.enable()
	}
	return func() *s3Profile {
		if rec == nil {
			return &s3Profile{err: err}
		}
		if stopErr := rec.stop(); err == nil {
			err = stopErr
		}
		p := &s3Profile{file: file, err: err}
		if err == nil {
			p.top, p.err = perfTop(ctx, file, 15)
		}
		return p
	}
}

// runS3Way measures one way: the upload runs, then the download runs.
func runS3Way(ctx context.Context, w s3Way, v *versitygw, ss s3Settings, data []byte, progress func(string)) (up, down *s3Result, err error) {
	prefix := w.mode + "/"
	key := func(run, k int) string { return fmt.Sprintf("%srun%d/object-%d.bin", prefix, run, k) }
	sinkPID := v.pid()
	opts := minio.PutObjectOptions{PartSize: s3PartSize, NumThreads: uint(ss.inFlight), ContentType: "application/octet-stream"}
	buf := make([][]byte, ss.inFlight)
	for i := range buf {
		buf[i] = make([]byte, len(data))
	}
	put := func(k string) error {
		info, err := w.client.PutObject(ctx, s3Bucket, k, bytes.NewReader(data), int64(len(data)), opts)
		if err != nil {
			return fmt.Errorf("upload of %s: %w", k, err)
		}
		if info.Size != int64(len(data)) {
			return fmt.Errorf("upload of %s: %d bytes acknowledged, %d sent", k, info.Size, len(data))
		}
		return nil
	}
	get := func(k string, b []byte) error {
		obj, err := w.client.GetObject(ctx, s3Bucket, k, minio.GetObjectOptions{})
		if err != nil {
			return fmt.Errorf("download of %s: %w", k, err)
		}
		defer obj.Close()
		n, err := io.ReadFull(obj, b)
		if err != nil {
			return fmt.Errorf("download of %s: %d of %d bytes: %w", k, n, len(b), err)
		}
		if extra, _ := obj.Read(make([]byte, 1)); extra > 0 {
			return fmt.Errorf("download of %s: more than the %d bytes uploaded", k, len(b))
		}
		if !bytes.Equal(b, data) {
			return fmt.Errorf("download of %s: the bytes differ from those uploaded", k)
		}
		return nil
	}

	progress(w.mode + ": warm-up: one object up and down")
	if err := put(key(0, 0)); err != nil {
		return nil, nil, err
	}
	if err := get(key(0, 0), buf[0]); err != nil {
		return nil, nil, err
	}
	w.client.RemoveObject(ctx, s3Bucket, key(0, 0), minio.RemoveObjectOptions{})

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
		if stopPerf != nil { // a phase that failed
			stopPerf()
		}
	}()
	newResult := func(scenario string) *s3Result {
		stopPerf = startS3Perf(ctx, ss.perfDir, w.pid, scenario+"-"+w.mode)
		r := &s3Result{loadResult: &loadResult{measured: w.pid > 0}}
		if w.pid > 0 {
			resetPeakRSS(w.pid)
		}
		r.snapshots = append(r.snapshots, takeSnapshot(w.pid, sinkPID, counts))
		return r
	}
	finish := func(r *s3Result) {
		r.profile, stopPerf = stopPerf(), nil
		r.window = r.snapshots[len(r.snapshots)-1].at.Sub(r.snapshots[0].at) / time.Duration(max(1, len(r.snapshots)-1))
		r.peakRSS = r.snapshots[len(r.snapshots)-1].proxy.peakRSS
	}

	up = newResult(ScenarioS3Upload)
	for run := 1; run <= ss.runs; run++ {
		progress(fmt.Sprintf("%s: upload run %d/%d: %d objects of %s, %d parts of %s at once", w.mode, run, ss.runs, ss.objects, sizeName(int64(len(data))), ss.inFlight, sizeName(s3PartSize)))
		for k := range ss.objects {
			start := time.Now()
			err := put(key(run, k))
			record(up, start, err)
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
		}
		up.snapshots = append(up.snapshots, takeSnapshot(w.pid, sinkPID, counts))
		if w.pid > 0 {
			if err := checkStoredEncrypted(v, key(run, 0), data); err != nil {
				return nil, nil, err
			}
		}
	}
	finish(up)

	down = newResult(ScenarioS3Download)
	var mu sync.Mutex
	for run := 1; run <= ss.runs; run++ {
		progress(fmt.Sprintf("%s: download run %d/%d: %d objects, %d at once", w.mode, run, ss.runs, ss.objects, ss.inFlight))
		var next atomic.Int64
		var wg sync.WaitGroup
		for i := range min(ss.inFlight, ss.objects) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int(next.Add(1)) - 1; k < ss.objects; k = int(next.Add(1)) - 1 {
					start := time.Now()
					err := get(key(run, k), buf[i])
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
		down.snapshots = append(down.snapshots, takeSnapshot(w.pid, sinkPID, counts))
		for k := range ss.objects { // not measured: only to keep the disk free
			v.direct.RemoveObject(ctx, s3Bucket, key(run, k), minio.RemoveObjectOptions{})
		}
	}
	finish(down)
	return up, down, nil
}

// checkStoredEncrypted reads what versitygw keeps for key: an age file,
// not containing the plaintext's beginning.
func checkStoredEncrypted(v *versitygw, key string, plain []byte) error {
	f, err := os.Open(v.objectPath(key))
	if err != nil {
		return fmt.Errorf("reading the stored %s: %w", key, err)
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !crypto.IsEncrypted(head) {
		return fmt.Errorf("versitygw holds %s as plaintext, not an age file", key)
	}
	if len(plain) >= 64 && bytes.Contains(head, plain[:64]) {
		return fmt.Errorf("the stored %s contains plaintext", key)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
