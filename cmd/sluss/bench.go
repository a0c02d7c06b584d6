package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluss/sluss/bench"
)

func runBench(ctx context.Context, e *env, args []string) error {
	// The sink upstream is this same binary in a hidden mode, so the
	// bench's own process does nothing but generate load.
	if len(args) == 2 && (args[0] == "--serve-sink" || args[0] == "-serve-sink") {
		return bench.ServeSink(ctx, "127.0.0.1:0", args[1], e.stdout)
	}
	fs := newFlagSet(e, "bench", "[flags]")
	var (
		o                       bench.Options
		scenarios, modes, peers stringList
		size                    string
		jsonOut                 bool
		htmlFile, baselineFile  string
		quiet                   bool
	)
	fs.Var(&scenarios, "scenario", "`SCENARIO` to run, repeatable or comma-separated: upload, download, form, small, latency, api-encrypt, api-pseudonymize (default all of these), soak (only when named: 1 000 users for 5 minutes), s3 (only when named: multipart uploads and downloads to versitygw, direct and through an s3 gateway), tus (only when named: 100 MiB tus uploads in 5 MiB PATCHes to tusd, direct and through a tus gateway), graph (only when named: Graph upload sessions of 100 MiB files in 10 MiB fragments and downloads, to the Graph emulator, direct and through a graph gateway), nextcloud (only when named: chunked uploads and downloads to the test Nextcloud, direct and through a nextcloud gateway), shared (only when named: three gateways behind HAProxy, form posts and re-identification with bbolt and with PostgreSQL)")
	fs.Var(&modes, "mode", "`MODE` to measure, repeatable or comma-separated: direct, gateway-inspect, gateway-full, gateway (with --proxy) (default direct, gateway-inspect, gateway-full)")
	fs.Var(&peers, "peer", "also measure a MITM `PEER`: mitmproxy or squid (Debian packages mitmproxy, squid-openssl); repeatable")
	fs.DurationVar(&o.Duration, "duration", 0, "length of one measured run (default 1s); for soak the whole soak (default 5m)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "warm-up before the runs of each cell, not measured (default 500ms; for soak a fifth of --duration)")
	fs.DurationVar(&o.ThinkTime, "think", 0, "soak: mean pause of each user between requests, exponential (default 5s)")
	fs.IntVar(&o.Runs, "runs", 3, "measured runs per cell (min/median/max over them)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "`N` workers (keep-alive clients) per cell (default per scenario: 16, 1 for latency, 4 for the API, 1000 for soak; for s3 the parts or objects in flight, 4; for tus the uploads at once, 4)")
	fs.IntVar(&o.Objects, "objects", 0, "s3, tus: `N` objects (uploads) per run (default 4); graph: files per run (default 4); shared: records per re-identification run (default 300)")
	fs.StringVar(&size, "size", "", "body `SIZE`, e.g. 1K, 64K, 8M (default per scenario; for soak the largest object, default 64M; for s3 the object, default 64M, in 8M parts; for tus the file, default 100M)")
	fs.StringVar(&o.Proxy, "proxy", "", "measure a gateway already running at `ADDR` (host:port) instead of starting sluss serve")
	fs.StringVar(&o.ProxyCA, "proxy-ca", "", "CA certificate `FILE` of the --proxy gateway")
	fs.IntVar(&o.ProxyPID, "proxy-pid", 0, "`PID` of the --proxy gateway, if on this host, to report its CPU and memory")
	fs.StringVar(&o.API, "api", "", "admin listener `URL` of the --proxy gateway, for the API scenarios")
	fs.StringVar(&o.SinkDir, "sink-dir", "", "keep the sink's CA in `DIR` across runs (a --proxy gateway must trust DIR/sink-ca.pem upstream)")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON (schema: bench/report.schema.json) instead of the table")
	fs.StringVar(&baselineFile, "baseline", "", "compare with an earlier `REPORT` (a --json output): before and after a change")
	fs.StringVar(&o.PerfDir, "perf", "", "record the proxy with Linux perf during each cell's runs into `DIR` (Debian linux-perf) and report its top symbols")
	fs.StringVar(&htmlFile, "html", "", "also write a self-contained HTML page with charts to `FILE`")
	fs.BoolVar(&quiet, "q", false, "no progress on stderr")
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("unexpected argument %q", positional[0])
	}
	o.Scenarios, o.Modes, o.Peers = splitList(scenarios), splitList(modes), splitList(peers)
	if size != "" {
		if o.Size, err = parseByteSize(size); err != nil {
			return usagef("--size: %v", err)
		}
	}
	if (o.Proxy == "") != (o.ProxyCA == "") {
		return usagef("--proxy and --proxy-ca go together")
	}
	var baseline *bench.Report
	if baselineFile != "" {
		if baseline, err = readReport(baselineFile); err != nil {
			return err
		}
	}
	if o.PerfDir != "" {
		if err := os.MkdirAll(o.PerfDir, 0o755); err != nil {
			return err
		}
		if o.PerfDir, err = filepath.Abs(o.PerfDir); err != nil {
			return err
		}
	}
	if o.Exe, err = os.Executable(); err != nil {
		return fmt.Errorf("cannot find the sluss binary to start the sink and gateways: %w", err)
	}
	if !quiet {
		o.Progress = e.stderr
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if baseline != nil {
		rep.Settings.Baseline = baselineFile
		bench.CompareWithBaseline(rep, baseline)
	}
	if htmlFile != "" {
		if err := writeFileWith(htmlFile, func(w io.Writer) error { return bench.WriteHTML(w, rep) }); err != nil {
			return err
		}
	}
	if jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return bench.WriteTable(e.stdout, rep)
}

// readReport reads a report that sluss bench --json wrote.
func readReport(name string) (*bench.Report, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var r bench.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", name, err)
	}
	if r.Schema != bench.ReportSchema {
		return nil, fmt.Errorf("baseline %s is not a %s report (schema %q)", name, bench.ReportSchema, r.Schema)
	}
	return &r, nil
}

// writeFileWith writes a file through f, removing it if f fails.
func writeFileWith(name string, f func(io.Writer) error) error {
	out, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f(out); err != nil {
		out.Close()
		os.Remove(name)
		return err
	}
	return out.Close()
}

// splitList flattens repeated and comma-separated flag values.
func splitList(l stringList) []string {
	var out []string
	for _, v := range l {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseByteSize reads 1024, 1K, 64KiB, 8M, 8MiB, 1G (powers of 1024).
func parseByteSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return n * mult, nil
}
