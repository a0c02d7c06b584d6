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
.note{color:#8a4b00;font-size:12.5px;margin:4px 0}.flag{color:#b00020}
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
