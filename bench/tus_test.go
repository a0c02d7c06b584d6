package bench

import (
	"os"
	"strings"
	"testing"
)

// TestTusScenario runs the tus scenario tiny (2 uploads of 16 MiB in
// 5 MiB PATCHes, one run) against a real tusd and checks that both cells
// have figures, that the gateway's cell has its memory and the ratio,
// and that the gateway's audit log saw the PATCHes encrypted.
func TestTusScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tusd and sluss serve and moves 100 MB")
	}
	if _, err := findTusd(); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("SLUSS_REQUIRE_TUS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	const files, size = 2, 16 << 20
	js, r := runBench(t, "--scenario", "tus", "--objects", "2", "--size", "16M", "--runs", "1")
	validateReport(t, js)
	if want := ScenarioTusUpload; strings.Join(r.Settings.Scenarios, ",") != want {
		t.Errorf("settings.scenarios = %q, want %q", r.Settings.Scenarios, want)
	}
	seen := map[string]bool{}
	for _, c := range r.Cells {
		seen[c.Mode] = true
		if !c.Available {
			t.Errorf("%s not available: %s", c.Mode, c.Note)
			continue
		}
		if c.MBPerSec == nil || c.MBPerSec.Median <= 0 || c.Requests != files || c.Errors != 0 || c.PayloadBytes != files*size {
			t.Errorf("%s: %v MB/s, %d uploads, %d errors, %d bytes; want > 0, %d, 0, %d", c.Mode, c.MBPerSec, c.Requests, c.Errors, c.PayloadBytes, files, files*size)
		}
		if c.Tus == nil || c.Tus.FilesPerRun != files || c.Tus.ChunkSizeBytes != 5<<20 {
			t.Errorf("%s: tus %+v", c.Mode, c.Tus)
			continue
		}
		if c.Mode != ModeFull {
			continue
		}
		if c.ProxyPeakRSS == nil || *c.ProxyPeakRSS <= 0 || c.RatioToDirect == nil || *c.RatioToDirect <= 0 {
			t.Errorf("gateway: peak RSS %v, ratio %v; want both > 0", c.ProxyPeakRSS, c.RatioToDirect)
		}
		// 4 PATCHes per 16 MiB upload, the warm-up's included.
		if ev := c.Tus.AuditEvents; ev["encrypt"] < (files+1)*4 {
			t.Errorf("the gateway's audit log has %v, want at least %d encrypt events", ev, (files+1)*4)
		}
		if !c.Tus.StoredEncrypted {
			t.Error("the stored uploads were not found to be age files")
		}
	}
	if !seen[ModeDirect] || !seen[ModeFull] {
		t.Errorf("cells for %v, want direct and gateway-full", seen)
	}
}
