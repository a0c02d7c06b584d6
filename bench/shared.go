package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluss/sluss/internal/haproxytest"
	"github.com/sluss/sluss/internal/pgtest"
)

// The shared scenario (only when named) measures what sharing the
// re-identification store between gateways costs: three `sluss serve`
// with the form profile behind HAProxy (deploy/haproxy/haproxy.cfg, as
// internal/haproxytest rewrites it for loopback), once with the embedded
// bbolt stores (one per gateway: bbolt cannot be shared, so this is the
// baseline of what a store costs) and once with one PostgreSQL (started
// like internal/pgtest's) shared by the three. It reports three scenarios
// of its own, each in modes haproxy-bbolt and haproxy-postgres:
//
//   - shared-form: form posts through HAProxy, each with fresh
//     personnummer (so every post writes new mappings), echoed by the sink
//     and so re-identified on the way back;
//   - shared-reidentify-cold and shared-reidentify-warm: one client
//     calling POST /v1/reidentify on a gateway's admin listener with
//     records another call pseudonymized: cold the first time the gateway
//     sees their tokens, warm the second time (see measureReidentify).
const (
	ScenarioShared          = "shared"
	ScenarioSharedForm      = "shared-form"
	ScenarioSharedReidCold  = "shared-reidentify-cold"
	ScenarioSharedReidWarm  = "shared-reidentify-warm"
	ModeSharedBolt          = "haproxy-bbolt"
	ModeSharedPostgres      = "haproxy-postgres"
	sharedGateways          = 3
	DefaultSharedReidRecord = 300 // records per run of the re-identification cells
)

// sharedTitles name the shared scenario's cells for tables and charts.
var sharedTitles = map[string]string{
	ScenarioSharedForm:     "Form posts with fresh personnummer, 3 gateways behind HAProxy",
	ScenarioSharedReidCold: "Re-identification, cold: /v1/reidentify of tokens new to the gateway",
	ScenarioSharedReidWarm: "Re-identification, warm: /v1/reidentify of tokens it re-identified before",
}

// SharedRun is what the shared scenario adds to its cells.
type SharedRun struct {
	Gateways int    `json:"gateways"`
	Balancer string `json:"balancer"` // haproxy and its version
	Database string `json:"database"` // PostgreSQL server version, "" if not started
	Keys     string `json:"keys"`     // where the gateways' keys are
	// ReidentifyRecords is how many records each run of the
	// re-identification cells sends, one after another.
	ReidentifyRecords int `json:"reidentify_records"`
	// PostgresToBolt is the form posts per second with PostgreSQL over
	// those with bbolt (medians), when both were measured.
	PostgresToBolt *float64 `json:"postgres_to_bbolt,omitempty"`
}

func (r *SharedRun) describe() string {
	ratio := "not measured"
	if r.PostgresToBolt != nil {
		ratio = fmt.Sprintf("%.2f", *r.PostgresToBolt)
		if cost := 1 - *r.PostgresToBolt; cost > 0 {
			ratio += fmt.Sprintf(" (PostgreSQL costs %.0f %% of the bbolt throughput)", cost*100)
		} else {
			ratio += " (PostgreSQL costs nothing against bbolt here)"
		}
	}
	db := r.Database
	if db == "" {
		db = "not started"
	}
	return fmt.Sprintf("shared: %d gateways (form profile) behind %s; %s; PostgreSQL %s (started as internal/pgtest does, but with fsync and synchronous_commit on: durable, as bbolt is). Re-identification: %d records per run, one client, /v1/reidentify on the admin listener of gateway 1 (bbolt: only it holds the mappings) or gateway 2 (postgres: it wrote none of them, so cold lookups go to the database). Form posts/s postgres/bbolt: %s.",
		r.Gateways, r.Balancer, r.Keys, db, r.ReidentifyRecords, ratio)
}

// findRepoFile finds a file of the sluss repository (rel from its root)
// above the working directory or the executable.
func findRepoFile(rel string) (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("the shared scenario needs %s of the sluss repository: run the bench inside a checkout", rel)
}

// haproxyProcess is HAProxy in TCP mode in front of the gateways.
type haproxyProcess struct {
	*process
	addr, socket, version string
}

// startHAProxy runs haproxy from the example configuration (rewritten by
// haproxytest.Config) in front of backends and waits until it reports
// every one UP.
func startHAProxy(ctx context.Context, e *env, bin string, backends []haproxytest.Backend) (*haproxyProcess, error) {
	example, err := findRepoFile(haproxytest.ExampleConfig)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(example)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, "haproxy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	h := &haproxyProcess{socket: filepath.Join(dir, "admin.sock")}
	cfg, err := haproxytest.Config(string(raw), h.socket, backends)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", example, err)
	}
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, bin, "-v").Output(); err == nil {
		h.version, _, _ = strings.Cut(string(out), "\n")
	}
	// The frontend's socket is bound here and inherited (bind fd@3).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.addr = ln.Addr().String()
	lnFile, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return nil, err
	}
	defer lnFile.Close()
	cmd := exec.Command(bin, "-db", "-f", cfgFile)
	cmd.ExtraFiles = []*os.File{lnFile}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdout = io.Discard
	if h.process, _, err = startProcess(cmd, "haproxy"); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		up, err := h.allUp(len(backends))
		if up {
			return h, nil
		}
		if time.Now().After(deadline) || !h.running() {
			h.stop()
			return nil, fmt.Errorf("haproxy: not every gateway UP within 30s: %v%s", err, h.stderrTail())
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			h.stop()
			return nil, ctx.Err()
		}
	}
}

// allUp asks the runtime API for "show stat" and reports whether n
// servers are UP.
func (h *haproxyProcess) allUp(n int) (bool, error) {
	conn, err := net.DialTimeout("unix", h.socket, time.Second)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		return false, err
	}
	raw, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		return false, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("# "))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return false, fmt.Errorf("unreadable stats: %v", err)
	}
	svname, status := -1, -1
	for i, f := range rows[0] {
		switch f {
		case "svname":
			svname = i
		case "status":
			status = i
		}
	}
	if svname < 0 || status < 0 {
		return false, errors.New("stats without svname or status")
	}
	up := 0
	var states []string
	for _, row := range rows[1:] {
		if len(row) <= max(svname, status) || row[svname] == "FRONTEND" || row[svname] == "BACKEND" {
			continue
		}
		states = append(states, row[svname]+" "+row[status])
		if row[status] == "UP" {
			up++
		}
	}
	if up < n {
		return false, fmt.Errorf("servers: %s", strings.Join(states, ", "))
	}
	return true, nil
}

// sharedKeys makes one embedded key store (`sluss keys init`) and returns
// its directory, to be copied into each gateway's data directory: the
// gateways then pseudonymize with the same keys without sharing any bbolt
// file (the key store and the bbolt stores share a directory).
func sharedKeys(ctx context.Context, e *env) (string, error) {
	dir := filepath.Join(e.dir, "shared-keys")
	cmd := exec.CommandContext(ctx, e.exe, "keys", "init", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "SLUSS_CONFIG=", "SLUSS_DATA_DIR=", ChildEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("sluss keys init: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return dir, nil
}

func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, en := range entries {
		src, dst := filepath.Join(from, en.Name()), filepath.Join(to, en.Name())
		if en.IsDir() {
			if err := copyDir(src, dst); err != nil {
				return err
			}
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// startSharedGateway starts `sluss serve` with the form profile for the
// sink, in dir (a copy of the shared keys), with its stores in PostgreSQL
// when pgURL is set.
func startSharedGateway(ctx context.Context, e *env, name, dir, pgURL string) (*gatewayProcess, error) {
	conf := fmt.Sprintf("keys:\n  data_dir: %s\n", dir)
	if pgURL != "" {
		conf += fmt.Sprintf("store:\n  postgres_url: %q\n", pgURL)
	}
	cfg := filepath.Join(dir, "sluss.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	listen, admin := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	cmd := exec.Command(e.exe, "serve", "--config", cfg, "--listen", listen, "--admin-listen", admin,
		"--upstream-ca", e.sink.caFile, "--approve", e.sink.addr+"=form")
	// Nothing from our environment decides where the stores are.
	cmd.Env = append(os.Environ(), "SLUSS_CONFIG=", "SLUSS_DATA_DIR=", "SLUSS_DATABASE_URL=", "SLUSS_DATABASE_PASSWORD_FILE=")
	cmd.Stdout = io.Discard // the audit log
	p, _, err := startProcess(cmd, "sluss serve ("+name+")")
	if err != nil {
		return nil, err
	}
	g := &gatewayProcess{process: p, proxyURL: &url.URL{Scheme: "http", Host: listen}, adminURL: "http://" + admin, dir: dir}
	if err := waitReady(ctx, p, g.adminURL+"/readyz", 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("sluss serve (%s) did not become ready: %w%s", name, err, p.stderrTail())
	}
	ca, err := exportCA(ctx, e.exe, dir)
	if err != nil {
		p.stop()
		return nil, err
	}
	g.caFile = filepath.Join(dir, "bench-gateway-ca.pem")
	if err := os.WriteFile(g.caFile, ca, 0o644); err != nil {
		p.stop()
		return nil, err
	}
	return g, nil
}

// sharedSettings are the shared scenario's knobs, resolved from Options.
type sharedSettings struct {
	warmup, window time.Duration
	runs, workers  int
	records        int
	size           int64
}

func sharedSettingsOf(o Options) sharedSettings {
	s := sharedSettings{warmup: o.Warmup, window: o.Duration, runs: o.Runs, workers: o.Concurrency, records: o.Objects, size: o.Size}
	if s.warmup <= 0 {
		s.warmup = 500 * time.Millisecond
	}
	if s.window <= 0 {
		s.window = time.Second
	}
	if s.runs <= 0 {
		s.runs = 3
	}
	if s.workers <= 0 {
		s.workers = 16
	}
	if s.records <= 0 {
		s.records = DefaultSharedReidRecord
	}
	if s.size <= 0 {
		s.size = formBodySize
	}
	return s
}

// sharedStack is one store mode: three gateways and HAProxy before them.
type sharedStack struct {
	gateways []*gatewayProcess
	lb       *haproxyProcess
	roots    *x509.CertPool // the gateways' CAs
}

func (s *sharedStack) stop() {
	if s.lb != nil {
		s.lb.stop()
	}
	for _, g := range s.gateways {
		g.stop()
	}
}

func startSharedStack(ctx context.Context, e *env, haproxyBin, keys, mode, pgURL string, progress func(string)) (*sharedStack, error) {
	st := &sharedStack{roots: x509.NewCertPool()}
	progress(fmt.Sprintf("%s: starting %d gateways", mode, sharedGateways))
	st.gateways = make([]*gatewayProcess, sharedGateways)
	errs := make([]error, sharedGateways)
	var wg sync.WaitGroup
	for i := range st.gateways {
		dir := filepath.Join(e.dir, fmt.Sprintf("%s-gw%d", mode, i+1))
		if err := copyDir(keys, dir); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() { // at once: with PostgreSQL their migrations race
			defer wg.Done()
			st.gateways[i], errs[i] = startSharedGateway(ctx, e, fmt.Sprintf("%s gw%d", mode, i+1), dir, pgURL)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		st.stop()
		return nil, err
	}
	backends := make([]haproxytest.Backend, sharedGateways)
	for i, g := range st.gateways {
		pem, err := os.ReadFile(g.caFile)
		if err != nil || !st.roots.AppendCertsFromPEM(pem) {
			st.stop()
			return nil, fmt.Errorf("reading the CA of gateway %d: %v", i+1, err)
		}
		backends[i] = haproxytest.Backend{Name: fmt.Sprintf("gw%d", i+1), ProxyAddr: g.proxyURL.Host, AdminAddr: strings.TrimPrefix(g.adminURL, "http://")}
	}
	progress(mode + ": starting haproxy in front of them")
	lb, err := startHAProxy(ctx, e, haproxyBin, backends)
	if err != nil {
		st.stop()
		return nil, err
	}
	st.lb = lb
	return st, nil
}

// pnrPattern finds the personnummer and samordningsnummer of the form
// bodies, to replace them with fresh ones.
var pnrPattern = regexp.MustCompile(`\d{8}-\d{4}`)

// freshFormRequests posts the form scenario's bodies to the sink's echo
// route, each with its personnummer replaced by new ones (the names repeat):
// with the same bodies every time, the stores would see each token once
// and then only their caches would be measured.
func freshFormRequests(size int64, salt uint64) requestFunc {
	bodies := formBodies(size)
	var n atomic.Uint64
	return func(t *target, w, seq int) (*http.Request, func(int, int64) error, error) {
		b := bodies[(w+seq)%len(bodies)]
		r := rand.New(rand.NewPCG(salt, n.Add(1)))
		body := pnrPattern.ReplaceAllFunc(b.body, func(m []byte) []byte {
			return []byte(personnummer(r, m[6] >= '6'))
		})
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/echo/arende/%d", t.sinkBase, w), bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", b.contentType)
		check := func(status int, _ int64) error {
			if status != http.StatusOK {
				return fmt.Errorf("status %d", status)
			}
			return nil
		}
		return req, check, nil
	}
}

// measureShared runs the shared scenario: the bbolt stack, then the
// PostgreSQL one, each measured for form posts and re-identification.
func measureShared(ctx context.Context, e *env, haproxyBin string, ss sharedSettings, progress func(string)) []Cell {
	info := &SharedRun{Gateways: sharedGateways, ReidentifyRecords: ss.records,
		Keys: "one embedded key store (sluss keys init), a copy in each gateway's data directory"}
	newCell := func(scenario, mode string) Cell {
		c := Cell{Scenario: scenario, Mode: mode, Concurrency: ss.workers, SizeBytes: ss.size, Shared: info}
		if scenario != ScenarioSharedForm {
			c.Concurrency = 1
		}
		return c
	}
	var out []Cell
	fail := func(mode string, err error) {
		for _, s := range []string{ScenarioSharedForm, ScenarioSharedReidCold, ScenarioSharedReidWarm} {
			c := newCell(s, mode)
			c.Note = err.Error()
			out = append(out, c)
		}
	}
	keys, err := sharedKeys(ctx, e)
	if err != nil {
		fail(ModeSharedBolt, err)
		fail(ModeSharedPostgres, err)
		return out
	}
	for _, mode := range []string{ModeSharedBolt, ModeSharedPostgres} {
		cells, err := measureSharedMode(ctx, e, haproxyBin, keys, mode, ss, info, newCell, progress)
		if err != nil {
			fail(mode, err)
			continue
		}
		out = append(out, cells...)
		if ctx.Err() != nil {
			return out
		}
	}
	var bolt, pg *Cell
	for i := range out {
		if out[i].Scenario == ScenarioSharedForm && out[i].Available {
			switch out[i].Mode {
			case ModeSharedBolt:
				bolt = &out[i]
			case ModeSharedPostgres:
				pg = &out[i]
			}
		}
	}
	if bolt != nil && pg != nil && bolt.ReqPerSec.Median > 0 {
		r := pg.ReqPerSec.Median / bolt.ReqPerSec.Median
		info.PostgresToBolt = &r
	}
	return out
}

func measureSharedMode(ctx context.Context, e *env, haproxyBin, keys, mode string, ss sharedSettings, info *SharedRun, newCell func(string, string) Cell, progress func(string)) ([]Cell, error) {
	var pgURL string
	if mode == ModeSharedPostgres {
		progress(mode + ": starting PostgreSQL (initdb in a temporary directory)")
		// Durable, as bbolt is: every commit reaches the disk.
		pg, err := pgtest.Launch(pgtest.Options{Durable: true})
		if err != nil {
			return nil, err
		}
		defer pg.Close()
		pgURL = pg.URL
		info.Database = postgresVersion(ctx, pg.URL)
	}
	st, err := startSharedStack(ctx, e, haproxyBin, keys, mode, pgURL, progress)
	if err != nil {
		return nil, err
	}
	defer st.stop()
	info.Balancer = st.lb.version + " (" + haproxytest.ExampleConfig + ", balance leastconn)"

	form := newCell(ScenarioSharedForm, mode)
	t := &target{mode: mode, proxy: &url.URL{Scheme: "http", Host: st.lb.addr}, roots: st.roots, sinkBase: e.sinkBase()}
	if t.sinkRoots, err = loadCertPool(e.sink.caFile); err != nil {
		return nil, err
	}
	// Through the balancer the sink must see tokens, or this would not
	// measure pseudonymization.
	if note, err := checkPseudonymized(ctx, nil, t, ss.size); err != nil {
		return nil, err
	} else if note == "" {
		return nil, fmt.Errorf("the sink received a personnummer in clear through %s: the gateways did not pseudonymize", mode)
	}
	salt := uint64(1)
	if mode == ModeSharedPostgres {
		salt = 2
	}
	progress(mode + ": form posts through haproxy: warm-up")
	res, err := drive(ctx, t, ss.workers, freshFormRequests(ss.size, salt), ss.warmup, ss.window, ss.runs, e.sink.pid(), progress, nil)
	if err != nil {
		form.Note = err.Error()
	} else {
		form.Available = true
		summarize(&form, res, runtime.NumCPU())
		form.addNote("every post carries three new personnummer; CPU of the 3 gateways not measured")
	}
	cells := []Cell{form}

	// bbolt: only the gateway that pseudonymized holds the mappings.
	writer, reader := st.gateways[0], st.gateways[0]
	if mode == ModeSharedPostgres {
		reader = st.gateways[1]
	}
	cold, warm := newCell(ScenarioSharedReidCold, mode), newCell(ScenarioSharedReidWarm, mode)
	coldRes, warmRes, err := measureReidentify(ctx, writer, reader, ss, salt, progress, mode)
	if err != nil {
		cold.Note, warm.Note = err.Error(), err.Error()
	} else {
		for _, x := range []struct {
			c   *Cell
			res *loadResult
		}{{&cold, coldRes}, {&warm, warmRes}} {
			x.c.Available = true
			summarize(x.c, x.res, runtime.NumCPU())
		}
	}
	return append(cells, cold, warm), nil
}

// postgresVersion asks the server for its version.
func postgresVersion(ctx context.Context, u string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return "(version unknown)"
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "(version unknown)"
	}
	return v
}

// measureReidentify measures re-identification with one client: first
// runs×records fresh JSON bodies pseudonymized by writer's
// /v1/pseudonymize (not measured); then the cold runs, each calling
// reader's /v1/reidentify once per record of its own batch (tokens new to
// reader); then the warm runs, the same batches again. Every answer must
// hold the original personnummer.
func measureReidentify(ctx context.Context, writer, reader *gatewayProcess, ss sharedSettings, salt uint64, progress func(string), mode string) (cold, warm *loadResult, err error) {
	var templates []formBody
	for _, b := range formBodies(ss.size) {
		if b.contentType == "application/json" {
			templates = append(templates, b)
		}
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}}
	defer c.CloseIdleConnections()
	call := func(base, path string, body []byte) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		return b, nil
	}
	type record struct {
		pnr    []byte // one original, to check the answer
		tokens []byte // the pseudonymized body
	}
	progress(fmt.Sprintf("%s: re-identification: pseudonymizing %d×%d records on gateway 1", mode, ss.runs, ss.records))
	rng := rand.New(rand.NewPCG(salt, 1<<40))
	batches := make([][]record, ss.runs)
	for run := range batches {
		batches[run] = make([]record, ss.records)
		for i := range batches[run] {
			var first []byte
			body := pnrPattern.ReplaceAllFunc(templates[i%len(templates)].body, func(m []byte) []byte {
				p := []byte(personnummer(rng, m[6] >= '6'))
				if first == nil {
					first = p
				}
				return p
			})
			tok, err := call(writer.adminURL, "/v1/pseudonymize", body)
			if err != nil {
				return nil, nil, err
			}
			if bytes.Contains(tok, first) {
				return nil, nil, fmt.Errorf("/v1/pseudonymize left a personnummer in clear (record %d of batch %d): nothing to re-identify", i+1, run+1)
			}
			batches[run][i] = record{first, tok}
		}
	}
	phase := func(name string) (*loadResult, error) {
		counts := make([]workerCounts, 1)
		res := &loadResult{}
		res.snapshots = append(res.snapshots, takeSnapshot(0, 0, counts))
		for run, recs := range batches {
			progress(fmt.Sprintf("%s: re-identification, %s, run %d/%d: %d records one after another", mode, name, run+1, ss.runs, len(recs)))
			for _, rec := range recs {
				start := time.Now()
				got, err := call(reader.adminURL, "/v1/reidentify", rec.tokens)
				if err == nil && !bytes.Contains(got, rec.pnr) {
					err = errors.New("/v1/reidentify did not give back the personnummer")
				}
				res.samples = append(res.samples, sample{done: time.Now(), latency: time.Since(start), err: err})
				if err != nil {
					counts[0].errors.Add(1)
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					continue
				}
				counts[0].requests.Add(1)
				counts[0].bytes.Add(int64(len(rec.tokens)))
			}
			res.snapshots = append(res.snapshots, takeSnapshot(0, 0, counts))
		}
		res.window = res.snapshots[len(res.snapshots)-1].at.Sub(res.snapshots[0].at) / time.Duration(ss.runs)
		return res, nil
	}
	if cold, err = phase("cold"); err != nil {
		return nil, nil, err
	}
	if warm, err = phase("warm"); err != nil {
		return nil, nil, err
	}
	return cold, warm, nil
}
