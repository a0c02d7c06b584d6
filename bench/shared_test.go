package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluss/sluss/internal/pgtest"
)

// TestSharedScenario runs the shared scenario tiny (one short run, 20
// records) with real HAProxy and PostgreSQL and checks that every cell of
// both store modes has figures > 0, no errors, and the ratio is set.
func TestSharedScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, HAProxy and six sluss serve")
	}
	ci := os.Getenv("CI") != ""
	if _, err := exec.LookPath("haproxy"); err != nil {
		if ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	js, r := runBench(t, "--scenario", "shared", "--duration", "500ms", "--warmup", "200ms", "--runs", "1", "--concurrency", "4", "--objects", "20")
	validateReport(t, js)
	want := []string{ScenarioSharedForm, ScenarioSharedReidCold, ScenarioSharedReidWarm}
	if strings.Join(r.Settings.Scenarios, ",") != strings.Join(want, ",") {
		t.Errorf("settings.scenarios = %q, want %q", r.Settings.Scenarios, want)
	}
	seen := map[string]bool{}
	for _, c := range r.Cells {
		name := c.Scenario + " × " + c.Mode
		seen[name] = true
		if !c.Available {
			if c.Mode == ModeSharedPostgres && strings.Contains(c.Note, pgtest.ErrNotInstalled.Error()) && !ci {
				t.Skip(c.Note)
			}
			t.Errorf("%s not available: %s", name, c.Note)
			continue
		}
		if c.ReqPerSec == nil || c.ReqPerSec.Median <= 0 || c.P50Ms == nil || c.P50Ms.Median <= 0 || c.P99Ms.Median < c.P50Ms.Median || c.Errors != 0 {
			t.Errorf("%s: %v req/s, p50 %v, p99 %v, %d errors (%q); want > 0 and none", name, c.ReqPerSec, c.P50Ms, c.P99Ms, c.Errors, c.ErrorSamples)
		}
		if c.Scenario != ScenarioSharedForm && c.Requests != 20 {
			t.Errorf("%s: %d re-identifications, want 20", name, c.Requests)
		}
		if c.Shared == nil || c.Shared.Gateways != 3 || !strings.Contains(c.Shared.Balancer, "HAProxy") {
			t.Errorf("%s: shared %+v", name, c.Shared)
		}
	}
	for _, s := range want {
		for _, m := range []string{ModeSharedBolt, ModeSharedPostgres} {
			if !seen[s+" × "+m] {
				t.Errorf("no cell %s × %s", s, m)
			}
		}
	}
	if len(r.Cells) > 0 && r.Cells[0].Shared != nil {
		if p := r.Cells[0].Shared.PostgresToBolt; p == nil || *p <= 0 {
			t.Errorf("postgres/bbolt ratio %v, want > 0", p)
		}
		if !strings.HasPrefix(r.Cells[0].Shared.Database, "15") {
			t.Errorf("database %q, want PostgreSQL 15", r.Cells[0].Shared.Database)
		}
	}
}
