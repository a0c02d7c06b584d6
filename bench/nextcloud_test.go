package bench

import (
	"strings"
	"testing"
)

// TestNextcloudScenario runs the nextcloud scenario tiny (2 files of
// 25 MiB, three chunks each, one run) and checks that every cell has
// figures, that the gateway's cells have its memory and the ratio, and
// that its audit log saw the chunks encrypted and the files decrypted.
func TestNextcloudScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluss serve and moves 200 MB")
	}
	const files, size, chunks = 2, 25 << 20, 3
	js, r := runBench(t, "--scenario", "nextcloud", "--objects", "2", "--size", "25M", "--runs", "1")
	validateReport(t, js)
	if want := []string{ScenarioNextcloudUpload, ScenarioNextcloudDownload}; strings.Join(r.Settings.Scenarios, ",") != strings.Join(want, ",") {
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
		if c.SizeBytes != size || c.Nextcloud == nil || c.Nextcloud.ObjectsPerRun != files || c.Nextcloud.PartSizeBytes != ncChunkSize {
			t.Errorf("%s: size %d, nextcloud %+v", name, c.SizeBytes, c.Nextcloud)
			continue
		}
		if c.Mode != ModeFull {
			continue
		}
		if c.ProxyPeakRSS == nil || *c.ProxyPeakRSS <= 0 || c.ProxyCPUSecPerGB == nil || c.RatioToDirect == nil || *c.RatioToDirect <= 0 {
			t.Errorf("%s: peak RSS %v, CPU/GB %v, ratio %v; want all > 0", name, c.ProxyPeakRSS, c.ProxyCPUSecPerGB, c.RatioToDirect)
		}
		if ev := c.Nextcloud.AuditEvents; ev["encrypt"] < files*chunks || ev["decrypt"] < files {
			t.Errorf("%s: the gateway's audit log has %v, want at least %d encrypt and %d decrypt events", name, ev, files*chunks, files)
		}
		if !c.Nextcloud.StoredEncrypted {
			t.Errorf("%s: the stored files were not found to be age files", name)
		}
	}
	for _, s := range []string{ScenarioNextcloudUpload, ScenarioNextcloudDownload} {
		for _, m := range []string{ModeDirect, ModeFull} {
			if !seen[s+" × "+m] {
				t.Errorf("no cell %s × %s", s, m)
			}
		}
	}
}
