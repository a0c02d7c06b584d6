package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Report is the whole result of one `sluss bench`, the document --json
// writes. Its schema is report.schema.json; bench/README.md explains each
// field. Units are in the names: MB = 10^6 bytes, GB = 10^9 bytes.
type Report struct {
	Schema   string    `json:"schema"` // "sluss-bench/1"
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"` // wall time of the whole bench
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Cells    []Cell    `json:"cells"`
}

// ReportSchema is the value of Report.Schema for this layout.
const ReportSchema = "sluss-bench/1"

// Machine describes where the bench ran.
type Machine struct {
	CPUModel  string `json:"cpu_model"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Kernel    string `json:"kernel"`
	Sluss     string `json:"sluss_version"`
}

// Settings are the knobs the run used.
type Settings struct {
	WarmupSeconds float64  `json:"warmup_seconds"`
	RunSeconds    float64  `json:"run_seconds"`
	Runs          int      `json:"runs"`
	Scenarios     []string `json:"scenarios"`
	Modes         []string `json:"modes"`
	Proxy         string   `json:"proxy,omitempty"`    // --proxy, for a gateway already running
	Baseline      string   `json:"baseline,omitempty"` // --baseline: the earlier report cells are compared with
}

// Cell is one scenario measured in one mode.
type Cell struct {
	Scenario    string `json:"scenario"`
	Mode        string `json:"mode"`
	Available   bool   `json:"available"`
	Note        string `json:"note,omitempty"` // why not available, or what to know
	Concurrency int    `json:"concurrency"`
	SizeBytes   int64  `json:"size_bytes"` // request (or object) body size

	// Below only when Available.
	Runs         []RunResult `json:"runs,omitempty"`
	MBPerSec     *Spread     `json:"mb_per_s,omitempty"`
	ReqPerSec    *Spread     `json:"req_per_s,omitempty"`
	P50Ms        *Spread     `json:"p50_ms,omitempty"`
	P95Ms        *Spread     `json:"p95_ms,omitempty"`
	P99Ms        *Spread     `json:"p99_ms,omitempty"`
	Latency      []Point     `json:"latency_ms,omitempty"` // percentile curve over all runs
	Requests     int64       `json:"requests"`
	PayloadBytes int64       `json:"payload_bytes"`
	Errors       int64       `json:"errors"`
	ErrorSamples []string    `json:"error_samples,omitempty"`

	// ProxyCPUSecPerGB is the proxy's CPU seconds per GB of payload; absent
	// in direct mode or for a proxy that is not our child.
	ProxyCPUSecPerGB *float64 `json:"proxy_cpu_s_per_gb,omitempty"`
	ProxyCPUSeconds  *float64 `json:"proxy_cpu_s,omitempty"`
	ProxyPeakRSS     *int64   `json:"proxy_peak_rss_bytes,omitempty"`
	SinkCPUSeconds   float64  `json:"sink_cpu_s"`
	ClientCPUSeconds float64  `json:"client_cpu_s"`
	ClientCores      float64  `json:"client_cores"` // client CPU / wall time
	MachineBusy      float64  `json:"machine_busy"` // fraction of all cores busy (any process)
	OtherCores       float64  `json:"other_cores"`  // cores used by processes not in the bench (other work on the host)
	MachineBound     bool     `json:"machine_bound"`

	// Compared with direct mode of the same scenario (absent for direct).
	RatioToDirect *float64 `json:"ratio_to_direct,omitempty"`
	AddedP50Ms    *float64 `json:"added_p50_ms,omitempty"`
	AddedP99Ms    *float64 `json:"added_p99_ms,omitempty"`

	// Where the proxy's CPU went (--perf): top symbols, and the recording.
	Profile     []ProfileEntry `json:"profile,omitempty"`
	ProfileFile string         `json:"profile_file,omitempty"`

	// Compared with the same cell of an earlier report (--baseline).
	VsBaseline *Comparison `json:"vs_baseline,omitempty"`

	// Soak is what the soak scenario adds: its mix, the gateway's
	// resources over time and the verdict.
	Soak *Soak `json:"soak,omitempty"`

	// S3 is what the s3 scenario's cells (s3-upload, s3-download) add:
	// the server, the shape of the load, the gateway's audit.
	S3 *S3Run `json:"s3,omitempty"`

	// Nextcloud is what the nextcloud scenario's cells
	// (nextcloud-upload, nextcloud-download) add, in the s3 scenario's
	// terms: objects are files, parts are chunks.
	Nextcloud *S3Run `json:"nextcloud,omitempty"`

	// Tus is what the tus scenario's cells (tus-upload) add.
	Tus *TusRun `json:"tus,omitempty"`
	// Graph is what the graph scenario's cells (graph-upload,
	// graph-download) add: the emulator, the fragments, the gateway's
	// audit.
	Graph *GraphRun `json:"graph,omitempty"`

	// Shared is what the shared scenario's cells (shared-form,
	// shared-reidentify-cold, shared-reidentify-warm) add: the gateways,
	// the balancer, the database, the PostgreSQL/bbolt ratio.
	Shared *SharedRun `json:"shared,omitempty"`
}

// Soak is the soak scenario's account of one gateway carrying many mostly
// idle users for minutes: did it hold?
type Soak struct {
	Connections   int     `json:"connections"`
	ThinkSeconds  float64 `json:"think_seconds"`  // mean pause of each user between requests (exponential, at most 10×)
	Seconds       float64 `json:"seconds"`        // load time, warm-up included
	WarmupSeconds float64 `json:"warmup_seconds"` // not judged for flatness, not in the latency figures
	MaxSizeBytes  int64   `json:"max_size_bytes"` // largest object

	Users []SoakUsers `json:"users"` // connections per role
	Kinds []SoakKind  `json:"kinds"` // per request kind, over the measured part

	// Requests completed without error in the whole soak, warm-up
	// included; Errors counts those that failed, by kind (status NNN,
	// timeout, digest mismatch, …).
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	ErrorSamples []string         `json:"error_samples,omitempty"`

	// Latency of every request of the measured part, all kinds.
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`

	// Samples of the gateway over time, from before the first request to
	// the end of the load.
	SampleSeconds float64      `json:"sample_seconds"`
	Samples       []SoakSample `json:"samples"`
	Flatness      []Flatness   `json:"flatness"`
	// Growth per minute over the measured part (least squares), for
	// reading alongside the verdict.
	RSSSlopeBytesPerMin float64 `json:"rss_slope_bytes_per_min"`
	FDSlopePerMin       float64 `json:"fds_slope_per_min"`

	// The gateway before the first request, when the load stopped
	// (1 000 connections still open), and after every client closed its
	// connections.
	Before GatewayState `json:"before"`
	End    GatewayState `json:"end"`
	After  GatewayState `json:"after"`

	// GatewayRequests is the gateway's own count of the requests it
	// handled by action (sluss_requests_total) when the load stopped:
	// the requests took the path through it.
	GatewayRequests map[string]float64 `json:"gateway_requests,omitempty"`

	RoundTrip SoakRoundTrip `json:"round_trip"`

	Holds   bool     `json:"holds"`
	Verdict []string `json:"verdict"` // why it holds or not, one line per condition
}

// SoakUsers is how many connections play one role.
type SoakUsers struct {
	Role        string `json:"role"` // storage, form, api
	Connections int    `json:"connections"`
}

// SoakKind is one kind of request of the soak, over its measured part.
type SoakKind struct {
	Kind      string  `json:"kind"` // upload, download, form, api-encrypt, api-pseudonymize
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ReqPerSec float64 `json:"req_per_s"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
}

// SoakSample is one reading of the gateway and the load during the soak.
type SoakSample struct {
	T            float64 `json:"t_s"`        // seconds since the soak began
	RSSBytes     int64   `json:"rss_bytes"`  // VmRSS; -1 unknown
	FDs          int     `json:"fds"`        // entries of /proc/PID/fd; -1 unknown
	Goroutines   int     `json:"goroutines"` // go_goroutines from its /metrics; -1 unknown
	Requests     int64   `json:"requests"`   // completed without error so far
	Errors       int64   `json:"errors"`     // failed so far
	PayloadBytes int64   `json:"payload_bytes"`
	InFlight     int64   `json:"in_flight"` // requests sent and not yet answered
}

// GatewayState is one reading of the gateway.
type GatewayState struct {
	RSSBytes   int64 `json:"rss_bytes"`
	FDs        int   `json:"fds"`
	Goroutines int   `json:"goroutines"`
}

// Flatness is one figure's verdict: flat when LastThird <= Limit =
// FirstThird × (1 + Tolerance) + Slack, where FirstThird and LastThird
// are the medians of the samples in the first and last third of the
// measured part. The thirds' highest values are kept for reading.
type Flatness struct {
	Metric        string  `json:"metric"`      // rss_bytes, fds, goroutines
	FirstThird    float64 `json:"first_third"` // median
	LastThird     float64 `json:"last_third"`  // median
	FirstThirdMax float64 `json:"first_third_max"`
	LastThirdMax  float64 `json:"last_third_max"`
	Tolerance     float64 `json:"tolerance"`
	Slack         float64 `json:"slack"`
	Limit         float64 `json:"limit"`
	Flat          bool    `json:"flat"`
	Note          string  `json:"note,omitempty"`
}

// SoakRoundTrip is the check after the load: everything stored comes
// back, and what the provider holds is ciphertext and tokens.
type SoakRoundTrip struct {
	// Uploads the sink acknowledged, and how many of them came back
	// intact (same size and SHA-256) through the gateway, during the
	// load or after it; Unverified = Uploads − Verified.
	Uploads    int `json:"uploads"`
	Verified   int `json:"verified"`
	Unverified int `json:"unverified"`
	// Objects the sink holds at the end, each downloaded through the
	// gateway once more; how many are age files; Mismatches among them.
	Stored     int `json:"stored"`
	AgeFiles   int `json:"age_files"`
	Mismatches int `json:"mismatches"`
	// A sample of the stored ciphertext decrypted outside the gateway
	// with the region identity (sluss keys export-identity), by Tool.
	Decrypted      int    `json:"decrypted"`
	DecryptFailed  int    `json:"decrypt_failed"`
	DecryptTool    string `json:"decrypt_tool"`
	DecryptedBytes int64  `json:"decrypted_bytes"`
	// Form posts the sink kept, read there: none may hold a personnummer
	// or a surname of the generated records.
	FormsStored int      `json:"forms_stored"`
	FormLeaks   int      `json:"form_leaks"`
	Problems    []string `json:"problems,omitempty"`
	OK          bool     `json:"ok"`
}

// Comparison is a cell against the same scenario × mode of a baseline
// report: before and after a change.
type Comparison struct {
	MBPerSecRatio float64  `json:"mb_per_s_ratio"`                     // median now ÷ median then
	P99MsDelta    *float64 `json:"p99_ms_delta,omitempty"`             // median p99 now − then
	ProxyCPURatio *float64 `json:"proxy_cpu_s_per_gb_ratio,omitempty"` // now ÷ then
}

// RunResult is one measured window of a cell.
type RunResult struct {
	Seconds      float64 `json:"seconds"`
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	PayloadBytes int64   `json:"payload_bytes"`
	MBPerSec     float64 `json:"mb_per_s"`
	ReqPerSec    float64 `json:"req_per_s"`
	P50Ms        float64 `json:"p50_ms"`
	P95Ms        float64 `json:"p95_ms"`
	P99Ms        float64 `json:"p99_ms"`
	ProxyCPU     float64 `json:"proxy_cpu_s"`
	ClientCPU    float64 `json:"client_cpu_s"`
	SinkCPU      float64 `json:"sink_cpu_s"`
	MachineBusy  float64 `json:"machine_busy"`
}

// Spread is a figure over the runs of a cell.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// Point is one percentile of a latency distribution.
type Point struct {
	Percentile float64 `json:"p"`
	Ms         float64 `json:"ms"`
}

// curvePercentiles are the points of Cell.Latency.
var curvePercentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.9, 100}

// machineBoundAt is the share of all cores busy above which a cell is
// flagged: the machine, not the proxy, was the limit.
const machineBoundAt = 0.9

func spreadOf(v []float64) *Spread {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &Spread{Min: s[0], Median: m, Max: s[len(s)-1]}
}

// percentile of sorted durations, nearest-rank, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// summarize turns a load result into the figures of c.
func summarize(c *Cell, res *loadResult, cores int) {
	var all []time.Duration
	errSeen := map[string]bool{}
	var proxyCPU, sinkCPU, clientCPU, machineCPU, wall float64
	var busy []float64
	var p50, p95, p99 []float64
	for k := 0; k+1 < len(res.snapshots); k++ {
		from, to := res.snapshots[k], res.snapshots[k+1]
		secs := to.at.Sub(from.at).Seconds()
		var lat []time.Duration
		r := RunResult{Seconds: secs, PayloadBytes: to.bytes - from.bytes, Requests: to.requests - from.requests, Errors: to.errors - from.errors}
		for _, s := range res.samples {
			if s.done.Before(from.at) || !s.done.Before(to.at) {
				continue
			}
			if s.err != nil {
				if msg := s.err.Error(); len(c.ErrorSamples) < 5 && !errSeen[msg] {
					errSeen[msg] = true
					c.ErrorSamples = append(c.ErrorSamples, msg)
				}
				continue
			}
			lat = append(lat, s.latency)
		}
		slices.Sort(lat)
		all = append(all, lat...)
		r.MBPerSec = float64(r.PayloadBytes) / secs / 1e6
		r.ReqPerSec = float64(r.Requests) / secs
		if len(lat) > 0 {
			r.P50Ms, r.P95Ms, r.P99Ms = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
			p50, p95, p99 = append(p50, r.P50Ms), append(p95, r.P95Ms), append(p99, r.P99Ms)
		}
		r.ProxyCPU = (to.proxy.cpu - from.proxy.cpu).Seconds()
		r.ClientCPU = (to.self - from.self).Seconds()
		r.SinkCPU = (to.sink - from.sink).Seconds()
		if d := to.machineAll - from.machineAll; d > 0 {
			r.MachineBusy = float64(to.machineBusy-from.machineBusy) / float64(d)
		}
		machineCPU += (to.machineBusy - from.machineBusy).Seconds()
		c.Runs = append(c.Runs, r)
		c.Requests += r.Requests
		c.Errors += r.Errors
		c.PayloadBytes += r.PayloadBytes
		proxyCPU += r.ProxyCPU
		sinkCPU += r.SinkCPU
		clientCPU += r.ClientCPU
		wall += secs
		busy = append(busy, r.MachineBusy)
	}
	pick := func(f func(RunResult) float64) *Spread {
		v := make([]float64, len(c.Runs))
		for i, r := range c.Runs {
			v[i] = f(r)
		}
		return spreadOf(v)
	}
	c.MBPerSec = pick(func(r RunResult) float64 { return r.MBPerSec })
	c.ReqPerSec = pick(func(r RunResult) float64 { return r.ReqPerSec })
	// Latency spreads are over the runs in which a request completed.
	c.P50Ms, c.P95Ms, c.P99Ms = spreadOf(p50), spreadOf(p95), spreadOf(p99)
	if len(all) > 0 {
		slices.Sort(all)
		for _, p := range curvePercentiles {
			c.Latency = append(c.Latency, Point{p, percentile(all, p)})
		}
	}
	if len(p99) < len(c.Runs) {
		c.addNote(fmt.Sprintf("no request completed in %d of %d runs: latency is from the others; use a longer --duration", len(c.Runs)-len(p99), len(c.Runs)))
	}
	c.SinkCPUSeconds = sinkCPU
	c.ClientCPUSeconds = clientCPU
	if wall > 0 {
		c.ClientCores = clientCPU / wall
		c.OtherCores = max(0, machineCPU-clientCPU-sinkCPU-proxyCPU) / wall
	}
	if b := spreadOf(busy); b != nil {
		c.MachineBusy = b.Median
		c.MachineBound = b.Median >= machineBoundAt
	}
	if res.measured {
		c.ProxyCPUSeconds = &proxyCPU
		if c.PayloadBytes > 0 {
			v := proxyCPU / (float64(c.PayloadBytes) / 1e9)
			c.ProxyCPUSecPerGB = &v
		}
		rss := res.peakRSS
		c.ProxyPeakRSS = &rss
	}
	if res.dropped {
		c.addNote("some samples were not kept (run too long for memory): latency uses the first ones")
	}
}

func (c *Cell) addNote(s string) {
	if c.Note != "" {
		c.Note += "; "
	}
	c.Note += s
}

// CompareWithBaseline fills VsBaseline of every cell of r that the
// baseline report also measured.
func CompareWithBaseline(r, baseline *Report) {
	then := map[string]*Cell{}
	for i := range baseline.Cells {
		c := &baseline.Cells[i]
		if c.Available && c.MBPerSec != nil && c.MBPerSec.Median > 0 {
			then[c.Scenario+" "+c.Mode] = c
		}
	}
	for i := range r.Cells {
		c := &r.Cells[i]
		b := then[c.Scenario+" "+c.Mode]
		if b == nil || !c.Available || c.MBPerSec == nil {
			continue
		}
		cmp := &Comparison{MBPerSecRatio: c.MBPerSec.Median / b.MBPerSec.Median}
		if c.P99Ms != nil && b.P99Ms != nil {
			d := c.P99Ms.Median - b.P99Ms.Median
			cmp.P99MsDelta = &d
		}
		if c.ProxyCPUSecPerGB != nil && b.ProxyCPUSecPerGB != nil && *b.ProxyCPUSecPerGB > 0 {
			q := *c.ProxyCPUSecPerGB / *b.ProxyCPUSecPerGB
			cmp.ProxyCPURatio = &q
		}
		c.VsBaseline = cmp
	}
}

// compareWithDirect fills the ratio and added-latency fields of every cell
// from the direct cell of its scenario.
func compareWithDirect(cells []Cell) {
	direct := map[string]*Cell{}
	for i := range cells {
		if cells[i].Mode == ModeDirect && cells[i].Available && cells[i].MBPerSec != nil {
			direct[cells[i].Scenario] = &cells[i]
		}
	}
	for i := range cells {
		c := &cells[i]
		d := direct[c.Scenario]
		if d == nil || c == d || !c.Available || c.MBPerSec == nil {
			continue
		}
		if d.MBPerSec.Median > 0 {
			r := c.MBPerSec.Median / d.MBPerSec.Median
			c.RatioToDirect = &r
		}
		if c.P99Ms != nil && d.P99Ms != nil {
			a50 := c.P50Ms.Median - d.P50Ms.Median
			a99 := c.P99Ms.Median - d.P99Ms.Median
			c.AddedP50Ms, c.AddedP99Ms = &a50, &a99
		}
	}
}
