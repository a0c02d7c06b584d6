package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: per
// scenario a throughput chart by mode (median bar, min–max whisker), a
// latency distribution chart, and the figures; inline SVG drawn here, no
// script, no external style, so a team can attach it to its assessment.
func WriteHTML(w io.Writer, r *Report) error {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sluss bench</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1120px;color:#1d2733;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 8px;border-bottom:1px solid #d7dde4;padding-bottom:4px}
.meta{color:#55606d}.charts{display:flex;flex-wrap:wrap;gap:16px}
svg{background:#fafbfc;border:1px solid #e3e7ec;border-radius:4px}
svg text{font:12px system-ui,sans-serif;fill:#1d2733}
table{border-collapse:collapse;margin-top:10px;font-size:12.5px}
td,th{padding:3px 8px;text-align:right;border-bottom:1px solid #e8ecf0}th{background:#f1f4f7}td:first-child,th:first-child{text-align:left}
.note{color:#8a4b00;font-size:12.5px;margin:4px 0}.flag{color:#b00020}.ok{color:#1b7a3a}
h3{font-size:15px;margin:20px 0 6px}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>sluss bench</h1>\n<p class=meta>%s · %d cores · %s · %s · kernel %s · sluss %s<br>started %s, %.0f s; %d runs of %.1f s per cell after %.1f s warm-up; MB = 10<sup>6</sup> bytes of payload (request + response bodies)</p>\n",
		esc(r.Machine.CPUModel), r.Machine.Cores, esc(r.Machine.GoVersion), esc(r.Machine.OS), esc(r.Machine.Kernel), esc(r.Machine.Sluss),
		r.Started.Format("2006-01-02 15:04 MST"), r.Seconds, r.Settings.Runs, r.Settings.RunSeconds, r.Settings.WarmupSeconds)

	b.WriteString(overviewSVG(r))
	if r.Settings.Baseline != "" {
		fmt.Fprintf(&b, "<h2>Against the baseline %s</h2>\n<table><tr><th>scenario</th><th>mode</th><th>MB/s now÷then</th><th>p99 ms now−then</th><th>proxy CPU/GB now÷then</th></tr>\n", esc(r.Settings.Baseline))
		for _, c := range r.Cells {
			if v := c.VsBaseline; v != nil {
				fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%.2f×</td><td>%s</td><td>%s</td></tr>\n", esc(c.Scenario), esc(c.Mode), v.MBPerSecRatio, optf(v.P99MsDelta, "%+.2f"), optf(v.ProxyCPURatio, "%.2f×"))
			}
		}
		b.WriteString("</table>\n")
	}
	for _, name := range r.Settings.Scenarios {
		var cells []Cell
		for _, c := range r.Cells {
			if c.Scenario == name {
				cells = append(cells, c)
			}
		}
		if len(cells) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<section id=%q><h2>%s <small class=meta>(%s)</small></h2>\n<div class=charts>\n", name, esc(scenarioTitle(name)), esc(name))
		b.WriteString(throughputSVG(cells))
		b.WriteString(latencySVG(cells))
		b.WriteString("</div>\n")
		b.WriteString(cellTable(cells))
		for _, c := range cells {
			if c.Soak != nil {
				b.WriteString(soakHTML(c))
			}
		}
		if cells[0].S3 != nil {
			fmt.Fprintf(&b, "<p class=meta>%s</p>\n", esc(cells[0].S3.describe()))
		}
		if cells[0].Nextcloud != nil {
			fmt.Fprintf(&b, "<p class=meta>%s</p>\n", esc(cells[0].Nextcloud.describeNextcloud()))
		}
		if cells[0].Tus != nil {
			fmt.Fprintf(&b, "<p class=meta>%s</p>\n", esc(cells[0].Tus.describe()))
		}
		if cells[0].Graph != nil {
			fmt.Fprintf(&b, "<p class=meta>%s</p>\n", esc(cells[0].Graph.describe()))
		}
		if cells[0].Shared != nil {
			fmt.Fprintf(&b, "<p class=meta>%s</p>\n", esc(cells[0].Shared.describe()))
		}
		for _, c := range cells {
			if len(c.Profile) > 0 {
				fmt.Fprintf(&b, "<p class=meta>%s, where its CPU went (perf, %s):", esc(c.Mode), esc(c.ProfileFile))
				for i, p := range c.Profile[:min(8, len(c.Profile))] {
					sep := ","
					if i == 0 {
						sep = ""
					}
					kernel := ""
					if p.Kernel {
						kernel = " [kernel]"
					}
					fmt.Fprintf(&b, "%s %.1f%% <code>%s</code>%s", sep, p.Percent, esc(p.Symbol), kernel)
				}
				b.WriteString("</p>\n")
			}
			if c.Note != "" {
				fmt.Fprintf(&b, "<p class=note>%s: %s</p>\n", esc(c.Mode), esc(c.Note))
			}
			for _, e := range c.ErrorSamples {
				fmt.Fprintf(&b, "<p class=note>%s error: %s</p>\n", esc(c.Mode), esc(e))
			}
		}
		b.WriteString("</section>\n")
	}
	b.WriteString("<p class=meta><span class=flag>*</span> machine-bound: at least 90% of all cores were busy during the runs; the figure is the machine's limit, not only the proxy's. Proxy CPU is user+system time of the proxy's process tree per 10<sup>9</sup> payload bytes; peak RSS is its VmHWM during the measured runs.</p>\n</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func scenarioTitle(name string) string {
	if t := s3Titles[name]; t != "" {
		return t
	}
	if t := ncTitles[name]; t != "" {
		return t
	}
	if t := tusTitles[name]; t != "" {
		return t
	}
	if t := graphTitles[name]; t != "" {
		return t
	}
	if t := sharedTitles[name]; t != "" {
		return t
	}
	for _, s := range Scenarios() {
		if s.Name == name {
			return s.Title
		}
	}
	return name
}

// modeColors keeps a mode's colour the same in every chart.
var modeColors = map[string]string{
	ModeDirect:    "#6b7785",
	ModeInspect:   "#2a7ab8",
	ModeFull:      "#0b4f86",
	ModeProxy:     "#1b8a6b",
	ModeMitmproxy: "#c2571a",
	ModeSquid:     "#8e44ad",
}

func colorOf(mode string) string {
	if c, ok := modeColors[mode]; ok {
		return c
	}
	return "#444"
}

// throughputSVG draws one horizontal bar per mode: the median MB/s, a
// whisker from min to max, the value and req/s at the end.
func throughputSVG(cells []Cell) string {
	const width, left, right, barH, gap, top = 540, 120, 150, 22, 10, 28
	height := top + len(cells)*(barH+gap) + 30
	maxV := 0.0
	for _, c := range cells {
		if c.Available && c.MBPerSec != nil {
			maxV = max(maxV, c.MBPerSec.Max)
		}
	}
	step := niceStep(maxV / 4)
	if step <= 0 {
		step = 1
	}
	axisMax := math.Ceil(maxV/step) * step
	if axisMax <= 0 {
		axisMax = 1
	}
	plotW := float64(width - left - right)
	x := func(v float64) float64 { return float64(left) + v/axisMax*plotW }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="throughput by mode">`, width, height, width, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-weight="600">Throughput, MB/s (median, min–max)</text>`, left)
	axisY := top + len(cells)*(barH+gap)
	for v := 0.0; v <= axisMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e1e5ea"/>`, x(v), top-4, x(v), axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#55606d">%s</text>`, x(v), axisY+16, num(v))
	}
	for i, c := range cells {
		y := top + i*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+barH/2+4, html.EscapeString(c.Mode))
		if !c.Available || c.MBPerSec == nil {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#8a4b00">not available</text>`, left+4, y+barH/2+4)
			continue
		}
		m := c.MBPerSec
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s" rx="2"><title>%s: %s MB/s</title></rect>`, left, y, max(1, x(m.Median)-float64(left)), barH, colorOf(c.Mode), html.EscapeString(c.Mode), num(m.Median))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#1d2733" stroke-width="1.5"/>`, x(m.Min), y+barH/2, x(m.Max), y+barH/2)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#1d2733"/><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#1d2733"/>`, x(m.Min), y+5, x(m.Min), y+barH-5, x(m.Max), y+5, x(m.Max), y+barH-5)
		label := num(m.Median) + " MB/s · " + num(c.ReqPerSec.Median) + " req/s"
		if c.MachineBound {
			label += " *"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`, x(m.Max)+6, y+barH/2+4, label)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// latencySVG draws each mode's latency distribution: latency (log scale)
// at each percentile of Cell.Latency.
func latencySVG(cells []Cell) string {
	const width, height, left, right, top, bottom = 540, 260, 56, 135, 28, 40
	lo, hi := math.Inf(1), 0.0
	for _, c := range cells {
		for _, p := range c.Latency {
			if p.Ms > 0 {
				lo, hi = min(lo, p.Ms), max(hi, p.Ms)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="latency distribution by mode">`, width, height, width, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-weight="600">Latency distribution, ms (log scale) by percentile</text>`, left)
	if hi == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#8a4b00">no completed requests</text></svg>`+"\n", left, height/2)
		return b.String()
	}
	lo10, hi10 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if hi10 <= lo10 {
		hi10 = lo10 + 1
	}
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	y := func(ms float64) float64 {
		return float64(top) + plotH - (math.Log10(max(ms, math.Pow(10, lo10)))-lo10)/(hi10-lo10)*plotH
	}
	n := len(curvePercentiles)
	x := func(i int) float64 { return float64(left) + float64(i)/float64(n-1)*plotW }
	for e := lo10; e <= hi10; e++ {
		v := math.Pow(10, e)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e1e5ea"/>`, left, y(v), float64(left)+plotW, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#55606d">%s</text>`, left-6, y(v)+4, strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), "."))
	}
	for i, p := range curvePercentiles {
		label := "p" + strings.TrimSuffix(fmt.Sprintf("%g", p), ".0")
		switch p {
		case 0:
			label = "min"
		case 100:
			label = "max"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eef1f4"/>`, x(i), top, x(i), float64(top)+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#55606d">%s</text>`, x(i), float64(top)+plotH+16, label)
	}
	row := 0
	for _, c := range cells {
		if len(c.Latency) != n {
			continue
		}
		var pts []string
		for i, p := range c.Latency {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(p.Ms)))
		}
		col := colorOf(c.Mode)
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, col, strings.Join(pts, " "), html.EscapeString(c.Mode))
		for i, p := range c.Latency {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s p%g: %.3f ms</title></circle>`, x(i), y(p.Ms), col, html.EscapeString(c.Mode), p.Percentile, p.Ms)
		}
		ly := top + 8 + row*18
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%d" y="%d">%s</text>`, width-right+10, ly, width-right+28, ly, col, width-right+32, ly+4, html.EscapeString(c.Mode))
		row++
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// overviewSVG draws, per scenario, each mode's throughput as a share of
// direct's: the one picture of what the proxies cost.
func overviewSVG(r *Report) string {
	type row struct {
		scenario string
		cells    []Cell
	}
	var rows []row
	maxRatio := 1.0
	for _, name := range r.Settings.Scenarios {
		var cs []Cell
		for _, c := range r.Cells {
			if c.Scenario == name && c.Mode != ModeDirect && c.Available && c.RatioToDirect != nil {
				cs = append(cs, c)
				maxRatio = max(maxRatio, *c.RatioToDirect)
			}
		}
		if len(cs) > 0 {
			rows = append(rows, row{name, cs})
		}
	}
	if len(rows) == 0 {
		return ""
	}
	const width, left, right, barH, top = 1080, 150, 40, 15, 46
	height := top + 20
	for _, rw := range rows {
		height += len(rw.cells)*barH + 14
	}
	axisMax := math.Ceil(maxRatio*4) / 4
	plotW := float64(width - left - right)
	x := func(v float64) float64 { return float64(left) + v/axisMax*plotW }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="throughput relative to direct">`, width, height, width, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-weight="600">Throughput as a share of direct (median MB/s ÷ direct's), by scenario</text>`, left)
	lx := left
	for _, m := range []string{ModeInspect, ModeFull, ModeProxy, ModeMitmproxy, ModeSquid} {
		if !slices.Contains(r.Settings.Modes, m) {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%d" y="26" width="12" height="10" fill="%s"/><text x="%d" y="35">%s</text>`, lx, colorOf(m), lx+16, m)
		lx += 30 + 7*len(m)
	}
	y := top
	bottom := height - 20
	tick := 0.25
	if axisMax > 2 {
		tick = niceStep(axisMax / 4)
		axisMax = math.Ceil(axisMax/tick) * tick
	}
	for v := 0.0; v <= axisMax+tick/100; v += tick {
		stroke := "#e1e5ea"
		if v == 1 {
			stroke = "#6b7785"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, x(v), top-2, x(v), bottom, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#55606d">%g×</text>`, x(v), bottom+14, v)
	}
	for _, rw := range rows {
		h := len(rw.cells) * barH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+h/2+4, html.EscapeString(rw.scenario))
		for i, c := range rw.cells {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s × %s: %.2f× direct</title></rect>`,
				left, y+i*barH, max(1, x(*c.RatioToDirect)-float64(left)), barH-2, colorOf(c.Mode), html.EscapeString(c.Scenario), html.EscapeString(c.Mode), *c.RatioToDirect)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10">%.2f×</text>`, x(*c.RatioToDirect)+4, y+i*barH+barH-3, *c.RatioToDirect)
		}
		y += h + 14
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceStep rounds a raw axis step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func cellTable(cells []Cell) string {
	var b strings.Builder
	b.WriteString("<table><tr><th>mode</th><th>clients</th><th>MB/s</th><th>min–max</th><th>req/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>+p99 ms vs direct</th><th>× direct</th><th>errors</th><th>proxy CPU s/GB</th><th>proxy peak RSS</th><th>client cores</th><th>other cores</th><th>machine busy</th></tr>\n")
	for _, c := range cells {
		if !c.Available || c.MBPerSec == nil {
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td><td colspan=14 style=\"text-align:left\">not available</td></tr>\n", html.EscapeString(c.Mode), c.Concurrency)
			continue
		}
		busy := fmt.Sprintf("%.0f%%", c.MachineBusy*100)
		if c.MachineBound {
			busy += " <span class=flag>*</span>"
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td><td>%s</td><td>%s–%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%.2f</td><td>%.2f</td><td>%s</td></tr>\n",
			html.EscapeString(c.Mode), c.Concurrency, num(c.MBPerSec.Median), num(c.MBPerSec.Min), num(c.MBPerSec.Max), num(c.ReqPerSec.Median),
			ms(c.P50Ms), ms(c.P95Ms), ms(c.P99Ms), optf(c.AddedP99Ms, "%+.2f"), optf(c.RatioToDirect, "%.2f×"), c.Errors,
			optf(c.ProxyCPUSecPerGB, "%.1f"), optBytes(c.ProxyPeakRSS), c.ClientCores, c.OtherCores, busy)
	}
	b.WriteString("</table>\n")
	return b.String()
}

// soakHTML shows the soak: the verdict, the gateway's memory, descriptors
// and goroutines over time with the flatness limits, the load over time,
// and the figures per request kind.
func soakHTML(c Cell) string {
	sk := c.Soak
	esc := html.EscapeString
	var b strings.Builder
	verdict, class := "holds", "ok"
	if !sk.Holds {
		verdict, class = "does not hold", "flag"
	}
	fmt.Fprintf(&b, "<h3>Soak: <span class=%s>%s</span></h3>\n<p class=meta>%s. %.0f s of load, the first %.0f s warm-up (shaded; not judged), the rest cut in thirds (dotted lines); the gateway read every %.0f s. A figure is flat when its median over the last third stays under the limit (dashed): the first third's median (solid) × (1 + tolerance) + slack.</p>\n<ul>\n",
		class, verdict, esc(c.Note), sk.Seconds, sk.WarmupSeconds, sk.SampleSeconds)
	for _, v := range sk.Verdict {
		fmt.Fprintf(&b, "<li>%s</li>\n", esc(v))
	}
	for _, e := range sk.ErrorSamples {
		fmt.Fprintf(&b, "<li class=note>error: %s</li>\n", esc(e))
	}
	b.WriteString("</ul>\n<div class=charts>\n")
	from, to := sk.WarmupSeconds, sk.Seconds
	if len(sk.Samples) > 0 {
		to = min(to, sk.Samples[len(sk.Samples)-1].T)
	}
	limit := func(metric string) *Flatness {
		for i := range sk.Flatness {
			if sk.Flatness[i].Metric == metric {
				return &sk.Flatness[i]
			}
		}
		return nil
	}
	series := func(f func(SoakSample) (float64, bool)) (xs, ys []float64) {
		for _, s := range sk.Samples {
			if v, ok := f(s); ok {
				xs, ys = append(xs, s.T), append(ys, v)
			}
		}
		return xs, ys
	}
	mib := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	xs, ys := series(func(s SoakSample) (float64, bool) { return float64(s.RSSBytes) / (1 << 20), s.RSSBytes > 0 })
	rss := limit("rss_bytes")
	if rss != nil {
		scaled := *rss
		scaled.FirstThird, scaled.Limit = rss.FirstThird/(1<<20), rss.Limit/(1<<20)
		rss = &scaled
	}
	b.WriteString(timeSeriesSVG("Gateway RSS, MiB (VmRSS)", "rss", xs, ys, from, to, rss, mib, modeColors[ModeFull]))
	xs, ys = series(func(s SoakSample) (float64, bool) { return float64(s.FDs), s.FDs >= 0 })
	b.WriteString(timeSeriesSVG("Gateway open file descriptors", "fds", xs, ys, from, to, limit("fds"), count, "#1b8a6b"))
	xs, ys = series(func(s SoakSample) (float64, bool) { return float64(s.Goroutines), s.Goroutines >= 0 })
	b.WriteString(timeSeriesSVG("Gateway goroutines (go_goroutines)", "goroutines", xs, ys, from, to, limit("goroutines"), count, "#8e44ad"))
	// Rates over at least half a sample interval: a sampler that was
	// late takes its next sample at once, and two samples a few
	// milliseconds apart would draw a spike that never was.
	var rxs, rys []float64
	for i, j := 0, 1; j < len(sk.Samples); j++ {
		p, q := sk.Samples[i], sk.Samples[j]
		if dt := q.T - p.T; dt >= sk.SampleSeconds/2 {
			rxs, rys = append(rxs, q.T), append(rys, float64(q.Requests+q.Errors-p.Requests-p.Errors)/dt)
			i = j
		}
	}
	b.WriteString(timeSeriesSVG("Requests completed per second", "load", rxs, rys, from, to, nil, count, "#c2571a"))
	b.WriteString("</div>\n<table><tr><th>kind</th><th>requests</th><th>errors</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>p999 ms</th><th>max ms</th></tr>\n")
	for _, k := range sk.Kinds {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td></tr>\n", esc(k.Kind), k.Requests, k.Errors, num(k.ReqPerSec), k.P50Ms, k.P99Ms, k.P999Ms, k.MaxMs)
	}
	fmt.Fprintf(&b, "<tr><td>all</td><td>%d</td><td>%d</td><td>%s</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td></td></tr>\n</table>\n", c.Requests, c.Errors, num(c.ReqPerSec.Median), sk.P50Ms, sk.P99Ms, sk.P999Ms)
	fmt.Fprintf(&b, "<table><tr><th>gateway</th><th>before</th><th>end of load</th><th>after clients left</th></tr>\n<tr><td>RSS</td><td>%s</td><td>%s</td><td>%s</td></tr>\n<tr><td>open fds</td><td>%d</td><td>%d</td><td>%d</td></tr>\n<tr><td>goroutines</td><td>%d</td><td>%d</td><td>%d</td></tr>\n</table>\n",
		optBytes(&sk.Before.RSSBytes), optBytes(&sk.End.RSSBytes), optBytes(&sk.After.RSSBytes), sk.Before.FDs, sk.End.FDs, sk.After.FDs, sk.Before.Goroutines, sk.End.Goroutines, sk.After.Goroutines)
	return b.String()
}

// timeSeriesSVG draws ys over xs (seconds), the warm-up before from
// shaded, the thirds of [from, to] marked, and, given a flatness verdict,
// the first third's median and the limit the last third's must stay
// under.
func timeSeriesSVG(title, id string, xs, ys []float64, from, to float64, f *Flatness, format func(float64) string, color string) string {
	const width, height, left, right, top, bottom = 540, 240, 56, 16, 28, 34
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" id="soak-%s">`, width, height, width, height, html.EscapeString(title), id)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-weight="600">%s</text>`, left, html.EscapeString(title))
	if len(xs) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#8a4b00">no samples</text></svg>`+"\n", left, height/2)
		return b.String()
	}
	xMax := max(to, xs[len(xs)-1])
	yMax := slices.Max(ys)
	if f != nil {
		yMax = max(yMax, f.Limit)
	}
	step := niceStep(yMax / 4)
	if step <= 0 {
		step = 1
	}
	yTop := math.Ceil(yMax*1.05/step) * step
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	x := func(t float64) float64 { return float64(left) + t/xMax*plotW }
	y := func(v float64) float64 { return float64(top) + plotH - v/yTop*plotH }
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="#eef1f4"><title>warm-up</title></rect>`, left, top, x(from)-float64(left), plotH)
	for v := 0.0; v <= yTop+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e1e5ea"/>`, left, y(v), width-right, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#55606d">%s</text>`, left-6, y(v)+4, format(v))
	}
	tStep := niceStep(xMax / 6)
	for t := 0.0; t <= xMax+tStep/100; t += tStep {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#55606d">%gs</text>`, x(t), height-bottom+16, t)
	}
	third := (to - from) / 3
	for k := 1; k <= 2; k++ {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#9aa5b1" stroke-dasharray="2,3"/>`, x(from+float64(k)*third), top, x(from+float64(k)*third), float64(top)+plotH)
	}
	if f != nil {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1d2733" stroke-width="1.5"><title>first third's median: %s</title></line>`, x(from), y(f.FirstThird), x(from+third), y(f.FirstThird), format(f.FirstThird))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#b00020" stroke-dasharray="6,4"><title>limit for the last third: %s</title></line>`, x(to-third), y(f.Limit), x(to), y(f.Limit), format(f.Limit))
	}
	var pts []string
	for i := range xs {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(xs[i]), y(ys[i])))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
	b.WriteString("</svg>\n")
	return b.String()
}
