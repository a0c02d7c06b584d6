package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestS3Scenario runs the s3 scenario tiny (2 objects of 16 MiB, two
// parts each, one run) against a real versitygw and checks that every
// cell has figures, that the gateway's cells have its memory and the
// ratio, and that the gateway's audit log saw the parts encrypted and the
// objects decrypted.
func TestS3Scenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts versitygw and sluss serve and moves 200 MB")
	}
	if _, err := findVersitygw(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	const objects, size, parts = 2, 16 << 20, 2
	js, r := runBench(t, "--scenario", "s3", "--objects", "2", "--size", "16M", "--runs", "1")
	validateReport(t, js)
	if want := []string{ScenarioS3Upload, ScenarioS3Download}; strings.Join(r.Settings.Scenarios, ",") != strings.Join(want, ",") {
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
		if c.MBPerSec == nil || c.MBPerSec.Median <= 0 || c.Requests != objects || c.Errors != 0 || c.PayloadBytes != objects*size {
			t.Errorf("%s: %v MB/s, %d objects, %d errors, %d bytes; want > 0, %d, 0, %d", name, c.MBPerSec, c.Requests, c.Errors, c.PayloadBytes, objects, objects*size)
		}
		if c.SizeBytes != size || c.Concurrency != 4 || c.S3 == nil || c.S3.ObjectsPerRun != objects || c.S3.PartSizeBytes != 8<<20 {
			t.Errorf("%s: size %d, concurrency %d, s3 %+v", name, c.SizeBytes, c.Concurrency, c.S3)
			continue
		}
		if c.Mode != ModeFull {
			continue
		}
		if c.ProxyPeakRSS == nil || *c.ProxyPeakRSS <= 0 || c.ProxyCPUSecPerGB == nil || c.RatioToDirect == nil || *c.RatioToDirect <= 0 {
			t.Errorf("%s: peak RSS %v, CPU/GB %v, ratio %v; want all > 0", name, c.ProxyPeakRSS, c.ProxyCPUSecPerGB, c.RatioToDirect)
		}
		// The measured objects' parts and downloads, at least; the
		// warm-up object adds more.
		if ev := c.S3.AuditEvents; ev["encrypt"] < objects*parts || ev["decrypt"] < objects {
			t.Errorf("%s: the gateway's audit log has %v, want at least %d encrypt and %d decrypt events", name, ev, objects*parts, objects)
		}
		if !c.S3.StoredEncrypted {
			t.Errorf("%s: the stored objects were not found to be age files", name)
		}
	}
	for _, s := range []string{ScenarioS3Upload, ScenarioS3Download} {
		for _, m := range []string{ModeDirect, ModeFull} {
			if !seen[s+" × "+m] {
				t.Errorf("no cell %s × %s", s, m)
			}
		}
	}
}

// TestS3NeedsVersitygw: without versitygw the bench fails at once and
// says where it looked and how to install it.
func TestS3NeedsVersitygw(t *testing.T) {
	exe := slussBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "bench", "--scenario", "s3", "-q")
	cmd.Env = []string{"PATH=" + t.TempDir(), "GOPATH=" + t.TempDir(), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("sluss bench --scenario s3 without versitygw succeeded:\n%s", out)
	}
	for _, want := range []string{"versitygw", "PATH", "GOPATH", "go install"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the error does not mention %q:\n%s", want, out)
		}
	}
}
