package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSoak runs the soak as the Operations issue asks, in its short form:
// 1 000 client connections to one `sluss serve` for 60 s, uploads and
// downloads of 1 KiB–64 MiB, forms with personnummer, API calls. It
// asserts the verdict's parts one by one (no error, memory, descriptors
// and goroutines flat after warm-up, every object back intact and the
// sink's copies decryptable with the region identity), never a speed.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak takes about 70 s")
	}
	exe := slussBinary(t)
	if help, _ := exec.Command(exe, "help").CombinedOutput(); !bytes.Contains(help, []byte("\n  serve ")) {
		t.Skip("this sluss has no serve command yet")
	}
	const connections, duration = 1000, 60 * time.Second
	dir := t.ArtifactDir()
	htmlFile := filepath.Join(dir, "soak.html")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "bench", "--json", "--scenario", "soak", "--duration", duration.String(), "--html", htmlFile)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sluss bench --scenario soak: %v\nstderr:\n%s", err, stderr.String())
	}
	os.WriteFile(filepath.Join(dir, "soak.json"), out, 0o644)
	validateReport(t, out)
	var r Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cells) != 1 || r.Cells[0].Scenario != ScenarioSoak || r.Cells[0].Mode != ModeFull {
		t.Fatalf("want one soak × gateway-full cell, got %d cells", len(r.Cells))
	}
	c := r.Cells[0]
	if !c.Available || c.Soak == nil {
		t.Fatalf("soak not available: %s", c.Note)
	}
	sk := c.Soak
	t.Logf("soak: %.0f s, %d connections, %d requests measured (%.0f req/s, %.0f MB/s), p50 %.1f ms, p99 %.1f ms, p999 %.1f ms",
		sk.Seconds, sk.Connections, c.Requests, c.ReqPerSec.Median, c.MBPerSec.Median, sk.P50Ms, sk.P99Ms, sk.P999Ms)
	t.Logf("gateway before / end / after: RSS %s / %s / %s, fds %d / %d / %d, goroutines %d / %d / %d",
		optBytes(&sk.Before.RSSBytes), optBytes(&sk.End.RSSBytes), optBytes(&sk.After.RSSBytes),
		sk.Before.FDs, sk.End.FDs, sk.After.FDs, sk.Before.Goroutines, sk.End.Goroutines, sk.After.Goroutines)
	for _, v := range sk.Verdict {
		t.Log("verdict: " + v)
	}

	// It was the soak that was asked for.
	if sk.Connections != connections || c.Concurrency != connections {
		t.Errorf("%d connections, want %d", sk.Connections, connections)
	}
	if sk.Seconds < duration.Seconds() || sk.Seconds > duration.Seconds()+30 {
		t.Errorf("load lasted %.1f s, want %v", sk.Seconds, duration)
	}
	// All connections were open at once: the gateway held a descriptor
	// and goroutines for each.
	if sk.End.FDs < connections || sk.End.Goroutines < connections {
		t.Errorf("at the end of the load the gateway had %d descriptors and %d goroutines: not %d connections open", sk.End.FDs, sk.End.Goroutines, connections)
	}
	kinds := map[string]SoakKind{}
	for _, k := range sk.Kinds {
		kinds[k.Kind] = k
	}
	for _, k := range soakKinds {
		if kinds[k].Requests == 0 {
			t.Errorf("no %s request completed in the measured part", k)
		}
	}
	// The requests took the path through the gateway: its own counters
	// saw encryption, decryption and pseudonymization.
	for _, action := range []string{"encrypt", "decrypt", "pseudonymize"} {
		if sk.GatewayRequests[action] == 0 {
			t.Errorf("the gateway counted no %q requests: %v", action, sk.GatewayRequests)
		}
	}
	if n := len(sk.Samples); float64(n) < sk.Seconds/sk.SampleSeconds*0.8 {
		t.Errorf("%d samples of the gateway in %.0f s", n, sk.Seconds)
	}

	// The verdict, part by part.
	if sk.Errors != 0 || c.Errors != 0 {
		t.Errorf("%d requests failed (%d measured): %v %q", sk.Errors, c.Errors, sk.ErrorsByKind, sk.ErrorSamples)
	}
	if len(sk.Flatness) != len(flatnessRules) {
		t.Errorf("%d flatness figures, want %d", len(sk.Flatness), len(flatnessRules))
	}
	for _, f := range sk.Flatness {
		if !f.Flat {
			t.Errorf("%s not flat after warm-up: last third's max %.0f > limit %.0f (first third's max %.0f)", f.Metric, f.LastThirdMax, f.Limit, f.FirstThirdMax)
		}
	}
	rt := sk.RoundTrip
	if !rt.OK || rt.Uploads == 0 || rt.Verified != rt.Uploads || rt.Mismatches != 0 {
		t.Errorf("round trip: %d uploads, %d verified, %d mismatches: %q", rt.Uploads, rt.Verified, rt.Mismatches, rt.Problems)
	}
	storage := 0
	for _, u := range sk.Users {
		if u.Role == roleStorage {
			storage = u.Connections
		}
	}
	if rt.Stored != storage || rt.AgeFiles != rt.Stored {
		t.Errorf("the sink holds %d objects of %d storage users, %d of them age files", rt.Stored, storage, rt.AgeFiles)
	}
	if rt.Decrypted != soakDecryptSample || rt.DecryptFailed != 0 || !strings.HasPrefix(rt.DecryptTool, "age ") {
		t.Errorf("decrypted %d of a sample of %d with %q outside the gateway, %d failed", rt.Decrypted, soakDecryptSample, rt.DecryptTool, rt.DecryptFailed)
	}
	if rt.FormsStored == 0 || rt.FormLeaks != 0 {
		t.Errorf("%d stored form posts, %d with identifiers in clear", rt.FormsStored, rt.FormLeaks)
	}
	if !sk.Holds {
		t.Errorf("the soak does not hold: %q", sk.Verdict)
	}

	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="soak-rss"`, `id="soak-fds"`, `id="soak-goroutines"`, "Soak: <span class=ok>holds</span>"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("soak page has no %q", want)
		}
	}
}

// TestFlatness checks the flatness rule on made-up series: a flat one,
// one that grows, one with too few samples.
func TestFlatness(t *testing.T) {
	// v MiB of memory, v descriptors, v goroutines at t seconds.
	series := func(f func(t float64) float64) []SoakSample {
		var s []SoakSample
		for t := 0.0; t <= 60; t++ {
			v := f(t)
			s = append(s, SoakSample{T: t, RSSBytes: int64(v) << 20, FDs: int(v), Goroutines: int(v)})
		}
		return s
	}
	r := rand.New(rand.NewPCG(1, 2))
	noisy := series(func(float64) float64 { return 1000 * (1 + 0.05*r.Float64()) })
	for _, f := range judgeFlatness(noisy, 12, 60) {
		if !f.Flat {
			t.Errorf("noisy but flat %s judged not flat: %+v", f.Metric, f)
		}
	}
	leaking := series(func(t float64) float64 { return 1000 + 20*t })
	for _, f := range judgeFlatness(leaking, 12, 60) {
		if f.Flat {
			t.Errorf("growing %s judged flat: %+v", f.Metric, f)
		}
	}
	if s := slope(leaking, 12, 60, flatnessRules[1].value, flatnessRules[1].valueKnown); s < 1199 || s > 1201 {
		t.Errorf("slope of 20/s = %v per minute, want 1200", s)
	}
	for _, f := range judgeFlatness(noisy[:14], 12, 60) {
		if f.Flat || f.Note == "" {
			t.Errorf("%s judged without samples in the last third: %+v", f.Metric, f)
		}
	}
}

// TestSoakSizesAndRoles checks the mix: sizes within bounds and mostly
// small, roles in the promised shares.
func TestSoakSizesAndRoles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var small, large int
	var total int64
	const n = 100000
	for range n {
		s := soakSize(r, soakMaxObject)
		if s < 1<<10 || s > soakMaxObject {
			t.Fatalf("size %d out of 1 KiB–64 MiB", s)
		}
		if s < 256<<10 {
			small++
		}
		if s >= 16<<20 {
			large++
		}
		total += s
	}
	if small < n*75/100 || large < n/200 || large > n*2/100 {
		t.Errorf("%d of %d under 256 KiB, %d of 16 MiB or more", small, n, large)
	}
	if mean := total / n; mean < 512<<10 || mean > 2<<20 {
		t.Errorf("mean size %d", mean)
	}
	if s := soakSize(r, 4<<10); s > 4<<10 {
		t.Errorf("size %d over the cap of 4 KiB", s)
	}
	roles := map[string]int{}
	for w := range 1000 {
		roles[soakRole(w, 1000)]++
	}
	if roles[roleStorage] != 700 || roles[roleForm] != 250 || roles[roleAPI] != 50 {
		t.Errorf("roles of 1000 users: %v", roles)
	}
	for _, n := range []int{1, 2, 3} {
		got := map[string]bool{}
		for w := range n {
			got[soakRole(w, n)] = true
		}
		if !got[roleStorage] || (n >= 2 && !got[roleForm]) || (n >= 3 && !got[roleAPI]) {
			t.Errorf("roles of %d users: %v", n, got)
		}
	}
}
