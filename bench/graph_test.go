package bench

import (
	"strings"
	"testing"
)

// TestGraphScenario: the graph scenario reports graph-upload and
// graph-download, direct and through the gateway, with the gateway's
// audit and the stored files checked to be age files.
func TestGraphScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluss serve and moves 120 MB")
	}
	const files, size, fragments = 2, 15 << 20, 2
	js, r := runBench(t, "--scenario", "graph", "--objects", "2", "--size", "15M", "--runs", "1")
	validateReport(t, js)
	if want := []string{ScenarioGraphUpload, ScenarioGraphDownload}; strings.Join(r.Settings.Scenarios, ",") != strings.Join(want, ",") {
		t.Errorf("settings.scenarios = %q, want %q", r.Settings.Scenarios, want)
	}
	seen := map[string]bool{}
	for _, c := range r.Cells {
		name := c.Scenario + " × " + c.Mode
		seen[name] = true
		if !c.Available {
			t.Errorf("%s not available: %s", name, c.Note)
			continue
		}
		if c.MBPerSec == nil || c.MBPerSec.Median <= 0 || c.Requests != files || c.Errors != 0 || c.PayloadBytes != files*size {
			t.Errorf("%s: %v MB/s, %d files, %d errors, %d bytes; want > 0, %d, 0, %d", name, c.MBPerSec, c.Requests, c.Errors, c.PayloadBytes, files, files*size)
		}
		if c.SizeBytes != size || c.Graph == nil || c.Graph.FilesPerRun != files || c.Graph.FragmentBytes != 10<<20 {
			t.Errorf("%s: size %d, graph %+v", name, c.SizeBytes, c.Graph)
			continue
		}
		if c.Mode != ModeFull {
			continue
		}
		if c.ProxyPeakRSS == nil || *c.ProxyPeakRSS <= 0 || c.RatioToDirect == nil || *c.RatioToDirect <= 0 {
			t.Errorf("%s: peak RSS %v, ratio %v; want both > 0", name, c.ProxyPeakRSS, c.RatioToDirect)
		}
		if ev := c.Graph.AuditEvents; ev["encrypt"] < files*(fragments+1) || ev["decrypt"] < files {
			t.Errorf("%s: the gateway's audit log has %v, want at least %d encrypt and %d decrypt events", name, ev, files*(fragments+1), files)
		}
		if !c.Graph.StoredEncrypted {
			t.Errorf("%s: the stored files were not found to be age files", name)
		}
	}
	for _, s := range []string{ScenarioGraphUpload, ScenarioGraphDownload} {
		for _, m := range []string{ModeDirect, ModeFull} {
			if !seen[s+" × "+m] {
				t.Errorf("no cell %s × %s", s, m)
			}
		}
	}
}
