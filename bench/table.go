package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as the human table `sluss bench` prints:
// one row per scenario × mode, medians of the runs with their range.
func WriteTable(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "sluss bench — %s, %d cores, %s, %s\n", r.Machine.CPUModel, r.Machine.Cores, r.Machine.GoVersion, r.Machine.OS)
	fmt.Fprintf(w, "%d runs of %.1fs per cell after %.1fs warm-up; MB = 10^6 bytes of payload; median [min–max] over runs\n\n",
		r.Settings.Runs, r.Settings.RunSeconds, r.Settings.WarmupSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmode\tconc\tMB/s\t[range]\treq/s\tp50 ms\tp95 ms\tp99 ms\t+p99 ms\terrors\t×direct\tproxy CPU s/GB\tproxy peak RSS\tclient cores\tother cores\tmachine busy\t")
	var notes []string
	flagged := false
	for _, c := range r.Cells {
		if !c.Available {
			fmt.Fprintf(tw, "%s\t%s\t%d\t—\t\t%s\n", c.Scenario, c.Mode, c.Concurrency, strings.Repeat("—\t", 12))
			notes = append(notes, fmt.Sprintf("%s × %s not available: %s", c.Scenario, c.Mode, c.Note))
			continue
		}
		busy := fmt.Sprintf("%.0f%%", c.MachineBusy*100)
		if c.MachineBound {
			busy += " *"
			flagged = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t[%s–%s]\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t\n",
			c.Scenario, c.Mode, c.Concurrency,
			num(c.MBPerSec.Median), num(c.MBPerSec.Min), num(c.MBPerSec.Max),
			num(c.ReqPerSec.Median), ms(c.P50Ms), ms(c.P95Ms), ms(c.P99Ms),
			optf(c.AddedP99Ms, "%+.2f"), c.Errors, optf(c.RatioToDirect, "%.2f×"),
			optf(c.ProxyCPUSecPerGB, "%.1f"), optBytes(c.ProxyPeakRSS), c.ClientCores, c.OtherCores, busy)
		if c.Note != "" {
			notes = append(notes, fmt.Sprintf("%s × %s: %s", c.Scenario, c.Mode, c.Note))
		}
		for _, e := range c.ErrorSamples {
			notes = append(notes, fmt.Sprintf("%s × %s error: %s", c.Scenario, c.Mode, e))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if flagged {
		fmt.Fprintf(w, "\n* machine-bound: ≥ %.0f%% of all cores were busy (client, sink, proxy, and anything else on the host, shown as other cores); the figure is the machine's limit, not only the proxy's.\n", machineBoundAt*100)
	}
	if r.Settings.Baseline != "" {
		fmt.Fprintf(w, "\nAgainst the baseline %s:\n\n", r.Settings.Baseline)
		bw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(bw, "scenario\tmode\tMB/s now÷then\tp99 ms now−then\tproxy CPU/GB now÷then\t")
		for _, c := range r.Cells {
			if b := c.VsBaseline; b != nil {
				fmt.Fprintf(bw, "%s\t%s\t%.2f×\t%s\t%s\t\n", c.Scenario, c.Mode, b.MBPerSecRatio, optf(b.P99MsDelta, "%+.2f"), optf(b.ProxyCPURatio, "%.2f×"))
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "note: "+n)
		}
	}
	for _, c := range r.Cells {
		if c.Soak != nil {
			if err := writeSoak(w, c); err != nil {
				return err
			}
		}
	}
	for _, c := range r.Cells {
		if c.S3 != nil {
			fmt.Fprintln(w, "\n"+c.S3.describe())
			break // the same for all of its cells
		}
	}
	for _, c := range r.Cells {
		if c.Nextcloud != nil {
			fmt.Fprintln(w, "\n"+c.Nextcloud.describeNextcloud())
			break
		}
	}
	for _, c := range r.Cells {
		if c.Tus != nil {
			fmt.Fprintln(w, "\n"+c.Tus.describe())
			break
		}
	}
	for _, c := range r.Cells {
		if c.Graph != nil {
			fmt.Fprintln(w, "\n"+c.Graph.describe())
			break
		}
	}
	for _, c := range r.Cells {
		if c.Shared != nil {
			fmt.Fprintln(w, "\n"+c.Shared.describe())
			break
		}
	}
	_, err := fmt.Fprintf(w, "\n%d cells in %.0fs.\n", len(r.Cells), r.Seconds)
	return err
}

// writeSoak writes the soak's own figures and its verdict.
func writeSoak(w io.Writer, c Cell) error {
	sk := c.Soak
	verdict := "HOLDS"
	if !sk.Holds {
		verdict = "DOES NOT HOLD"
	}
	var roles []string
	for _, u := range sk.Users {
		roles = append(roles, fmt.Sprintf("%d %s", u.Connections, u.Role))
	}
	fmt.Fprintf(w, "\nsoak × %s: %s — %d connections (%s), think %.1fs on average, %.0fs of load (%.0fs warm-up), objects up to %s\n\n",
		c.Mode, verdict, sk.Connections, strings.Join(roles, ", "), sk.ThinkSeconds, sk.Seconds, sk.WarmupSeconds, sizeName(sk.MaxSizeBytes))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\trequests\terrors\treq/s\tp50 ms\tp99 ms\tp999 ms\tmax ms\t")
	for _, k := range sk.Kinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t\n", k.Kind, k.Requests, k.Errors, num(k.ReqPerSec), k.P50Ms, k.P99Ms, k.P999Ms, k.MaxMs)
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%s\t%.2f\t%.2f\t%.2f\t\t\n", c.Requests, c.Errors, num(c.ReqPerSec.Median), sk.P50Ms, sk.P99Ms, sk.P999Ms)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "gateway\tbefore\tend of load\tafter clients left\tgrowth/min after warm-up\t")
	mib := func(v int64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }
	fmt.Fprintf(tw, "RSS\t%s\t%s\t%s\t%+.1f MiB\t\n", mib(sk.Before.RSSBytes), mib(sk.End.RSSBytes), mib(sk.After.RSSBytes), sk.RSSSlopeBytesPerMin/(1<<20))
	fmt.Fprintf(tw, "open fds\t%d\t%d\t%d\t%+.1f\t\n", sk.Before.FDs, sk.End.FDs, sk.After.FDs, sk.FDSlopePerMin)
	fmt.Fprintf(tw, "goroutines\t%d\t%d\t%d\t\t\n", sk.Before.Goroutines, sk.End.Goroutines, sk.After.Goroutines)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, v := range sk.Verdict {
		fmt.Fprintln(w, "  - "+v)
	}
	for _, e := range sk.ErrorSamples {
		fmt.Fprintln(w, "  error: "+e)
	}
	return nil
}

// num formats a rate with precision that fits its size.
func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func optf(v *float64, format string) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf(format, *v)
}

func optBytes(v *int64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB", float64(*v)/(1<<20))
}

func ms(s *Spread) string {
	if s == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", s.Median)
}
