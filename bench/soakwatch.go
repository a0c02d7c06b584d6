package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// gatewayWatch reads what a gateway process holds: resident memory and
// open file descriptors from /proc, goroutines from its own /metrics.
type gatewayWatch struct {
	pid        int
	metricsURL string
	c          *http.Client
}

func newGatewayWatch(pid int, adminURL string) *gatewayWatch {
	return &gatewayWatch{pid: pid, metricsURL: adminURL + "/metrics", c: &http.Client{Timeout: 5 * time.Second}}
}

// read returns the gateway's VmRSS in bytes, its open descriptors (the
// entries of /proc/PID/fd) and go_goroutines; a figure that cannot be
// read is -1.
func (w *gatewayWatch) read(ctx context.Context) (rss int64, fds, goroutines int) {
	rss, fds, goroutines = -1, -1, -1
	if kb, err := procStatusKB(w.pid, "VmRSS:"); err == nil {
		rss = kb << 10
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", w.pid)); err == nil {
		fds = len(ents)
	}
	if g, err := w.goroutines(ctx); err == nil {
		goroutines = g
	}
	return rss, fds, goroutines
}

// goroutines scrapes go_goroutines from the gateway's /metrics.
func (w *gatewayWatch) goroutines(ctx context.Context) (int, error) {
	v, err := scrapeMetric(ctx, w.c, w.metricsURL, "go_goroutines")
	return int(v), err
}

// scrapeMetric returns the value of an unlabelled metric in the
// Prometheus text format at url.
func scrapeMetric(ctx context.Context, c *http.Client, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no %s", url, name)
}

// requestsByAction sums the gateway's sluss_requests_total by its action
// label: what the gateway itself says it did.
func (w *gatewayWatch) requestsByAction(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := w.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		labels, ok := strings.CutPrefix(sc.Text(), "sluss_requests_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(labels, "} ")
		_, action, _ := strings.Cut(labels, `action="`)
		action, _, _ = strings.Cut(action, `"`)
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if ok && err == nil {
			out[action] += v
		}
	}
	return out, sc.Err()
}

// Flatness rules of the soak's verdict. After warm-up, the measured part
// is cut in thirds by time; a figure is flat when its median over the
// last third is at most its median over the first third times
// (1 + tolerance), plus an absolute slack for small counts. A leak grows
// with the requests served, so it lifts the last third's median above the
// first's; a stall of the host, which piles up requests in flight and
// their upstream connections for a second or two, lifts a third's
// highest value but not its median, and is not a leak.
var flatnessRules = []struct {
	metric     string
	tolerance  float64
	slack      float64
	value      func(SoakSample) float64
	valueKnown func(SoakSample) bool
}{
	{"rss_bytes", 0.20, 16 << 20, func(s SoakSample) float64 { return float64(s.RSSBytes) }, func(s SoakSample) bool { return s.RSSBytes > 0 }},
	{"fds", 0.10, 32, func(s SoakSample) float64 { return float64(s.FDs) }, func(s SoakSample) bool { return s.FDs >= 0 }},
	{"goroutines", 0.10, 64, func(s SoakSample) float64 { return float64(s.Goroutines) }, func(s SoakSample) bool { return s.Goroutines >= 0 }},
}

// judgeFlatness applies flatnessRules to the samples taken in the
// measured part [from, to) (seconds since the soak began).
func judgeFlatness(samples []SoakSample, from, to float64) []Flatness {
	third := (to - from) / 3
	var out []Flatness
	for _, r := range flatnessRules {
		f := Flatness{Metric: r.metric, Tolerance: r.tolerance, Slack: r.slack}
		var first, last []float64
		for _, s := range samples {
			if !r.valueKnown(s) {
				continue
			}
			switch v := r.value(s); {
			case s.T >= from && s.T < from+third:
				first = append(first, v)
			case s.T >= to-third && s.T <= to:
				last = append(last, v)
			}
		}
		if len(first) == 0 || len(last) == 0 {
			f.Note = "too few samples in a third to judge"
			out = append(out, f)
			continue
		}
		f.FirstThird, f.LastThird = spreadOf(first).Median, spreadOf(last).Median
		f.FirstThirdMax, f.LastThirdMax = slices.Max(first), slices.Max(last)
		f.Limit = f.FirstThird*(1+r.tolerance) + r.slack
		f.Flat = f.LastThird <= f.Limit
		out = append(out, f)
	}
	return out
}

// slope is the least-squares growth of value per minute over the samples
// in [from, to].
func slope(samples []SoakSample, from, to float64, value func(SoakSample) float64, known func(SoakSample) bool) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range samples {
		if s.T < from || s.T > to || !known(s) {
			continue
		}
		x, y := s.T/60, value(s)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	if d := n*sxx - sx*sx; n >= 2 && d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}
