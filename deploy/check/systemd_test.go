package check

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const unitFile = "../systemd/sluss.service"

// slussBinary is where the unit runs sluss; the checks replace it with a
// file that exists here.
const slussBinary = "/usr/local/bin/sluss"

// unitCopy writes the unit to a temporary directory with ExecStart
// pointing at an executable that exists (systemd-analyze verify checks
// it), and returns the copy's path.
func unitCopy(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluss")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("ExecStart="+slussBinary+" ")) {
		t.Fatalf("%s: ExecStart does not run %s", unitFile, slussBinary)
	}
	unit := filepath.Join(dir, "sluss.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(raw, []byte(slussBinary), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

// TestSystemdUnitVerify: systemd-analyze verify loads the unit without an
// error or a warning (an unknown or misspelt key is only a warning).
func TestSystemdUnitVerify(t *testing.T) {
	bin := findTool(t, "systemd-analyze")
	out, err := exec.Command(bin, "verify", "--man=no", unitCopy(t)).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitSecurity: systemd-analyze security rates the unit's
// exposure "OK" (below 2.0 of 10; a plain service is about 9.6).
func TestSystemdUnitSecurity(t *testing.T) {
	bin := findTool(t, "systemd-analyze")
	out, err := exec.Command(bin, "security", "--offline=yes", "--no-pager", unitCopy(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for sluss\.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in\n%s", out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || level >= 2.0 {
		t.Fatalf("exposure level %s %s, want below 2.0\n%s", m[1], m[2], out)
	}
	t.Logf("exposure level %s %s", m[1], m[2])
}

// TestSystemdUnitHardening reads the unit itself: the hardening and the
// run-time settings sluss depends on are there with these values, whether
// or not systemd-analyze is installed.
func TestSystemdUnitHardening(t *testing.T) {
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit, err := parseUnit(f)
	if err != nil {
		t.Fatalf("%s: %v", unitFile, err)
	}
	tests := []struct {
		key  string // Section.Key
		want []string
	}{
		{"Service.ExecStart", []string{slussBinary + " serve --config /etc/sluss/sluss.yaml"}},
		{"Service.ExecReload", []string{"/bin/kill -HUP $MAINPID"}}, // sluss reopens the audit log
		{"Service.Restart", []string{"on-failure"}},
		{"Service.User", []string{"sluss"}},
		{"Service.NoNewPrivileges", []string{"yes"}},
		{"Service.CapabilityBoundingSet", []string{""}},
		{"Service.AmbientCapabilities", []string{""}},
		{"Service.ProtectSystem", []string{"strict"}},
		{"Service.ProtectHome", []string{"yes"}},
		{"Service.PrivateTmp", []string{"yes"}},
		{"Service.PrivateDevices", []string{"yes"}},
		{"Service.RestrictAddressFamilies", []string{"AF_INET AF_INET6 AF_UNIX"}},
		{"Service.SystemCallFilter", []string{"@system-service", "~@privileged @resources"}},
		{"Service.SystemCallArchitectures", []string{"native"}},
		{"Service.MemoryDenyWriteExecute", []string{"yes"}},
		{"Service.StateDirectory", []string{"sluss"}},
		{"Service.LogsDirectory", []string{"sluss"}},
		{"Service.ReadWritePaths", []string{"/var/lib/sluss /var/log/sluss"}},
		{"Service.UMask", []string{"0077"}},
		{"Install.WantedBy", []string{"multi-user.target"}},
	}
	for _, tt := range tests {
		if got := unit[tt.key]; fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
		}
	}
	for key, values := range unit {
		for _, v := range values {
			if strings.Contains(strings.ToLower(key), "environment") && strings.Contains(v, "://") {
				t.Errorf("%s holds a URL: secrets go in the EnvironmentFile or a credential", key)
			}
		}
	}
}

// parseUnit reads a systemd unit file into "Section.Key" → its values in
// order (a key may repeat); an empty assignment is kept as "".
func parseUnit(r io.Reader) (map[string][]string, error) {
	unit := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		case section == "":
			return nil, fmt.Errorf("line %d: outside a section", n)
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || strings.HasSuffix(line, "\\") {
				return nil, fmt.Errorf("line %d: not KEY=VALUE on one line", n)
			}
			k := section + "." + strings.TrimSpace(key)
			unit[k] = append(unit[k], strings.TrimSpace(value))
		}
	}
	return unit, sc.Err()
}

// The memory-deny-write-execute probe: this test binary, started again
// with envMDWE set, turns on the kernel's MDWE (prctl PR_SET_MDWE, the
// protection MemoryDenyWriteExecute= gives) and executes the program named
// by the variable with the remaining arguments; "probe" executes this
// binary once more, to check that a writable executable mapping is
// refused after an exec, as it will be for sluss.
const (
	envMDWE            = "SLUSS_CHECK_MDWE"
	prSetMDWE          = 65
	mdweRefuseExecGain = 1
	exitMDWEUnknown    = 77 // the kernel has no PR_SET_MDWE
	exitMDWEIneffect   = 78 // a W+X mapping was allowed
)

func TestMain(m *testing.M) {
	switch v := os.Getenv(envMDWE); v {
	case "":
		os.Exit(m.Run())
	case "probed":
		b, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE|syscall.PROT_EXEC, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err == nil {
			syscall.Munmap(b)
			os.Exit(exitMDWEIneffect)
		}
		os.Exit(0)
	default:
		os.Exit(runUnderMDWE(v, os.Args[1:]))
	}
}

func runUnderMDWE(prog string, args []string) int {
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetMDWE, mdweRefuseExecGain, 0, 0, 0, 0); errno != 0 {
		return exitMDWEUnknown
	}
	env := make([]string, 0, len(os.Environ()))
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, envMDWE+"=") {
			env = append(env, e)
		}
	}
	if prog == "probe" {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		prog, args, env = self, nil, append(env, envMDWE+"=probed")
	}
	err := syscall.Exec(prog, append([]string{prog}, args...), env)
	fmt.Fprintf(os.Stderr, "exec %s: %v\n", prog, err)
	return 1
}

// mdweCommand runs prog with args under memory-deny-write-execute.
func mdweCommand(t *testing.T, prog string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), envMDWE+"="+prog)
	return cmd
}

// TestMemoryDenyWriteExecute: the unit's MemoryDenyWriteExecute=yes does
// not break sluss. Go's runtime never maps memory writable and executable;
// this runs the real gateway under the kernel's MDWE to show it: it starts,
// is ready, and encrypts and decrypts through its API.
func TestMemoryDenyWriteExecute(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sluss")
	}
	// The protection is real here, or the test proves nothing.
	probe := mdweCommand(t, "probe")
	if out, err := probe.CombinedOutput(); err != nil {
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit) && exit.ExitCode() == exitMDWEUnknown:
			t.Skip("the kernel has no PR_SET_MDWE (Linux 6.3 and later)")
		case errors.As(err, &exit) && exit.ExitCode() == exitMDWEIneffect:
			t.Fatalf("PR_SET_MDWE is set but a writable executable mapping was allowed")
		default:
			t.Fatalf("MDWE probe: %v\n%s", err, out)
		}
	}

	dir := t.TempDir()
	cmd := mdweCommand(t, buildSluss(t), "serve", "--data-dir", filepath.Join(dir, "data"),
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--audit-log", filepath.Join(dir, "audit.json"))
	base, output := startServe(t, cmd)

	client := &http.Client{Timeout: 30 * time.Second}
	call := func(method, path string, body []byte) []byte {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s %v\n%s\nsluss output:\n%s", method, path, resp.Status, err, b, output.String())
		}
		return b
	}
	call(http.MethodGet, "/healthz", nil)
	call(http.MethodGet, "/readyz", nil)
	plaintext := []byte("encrypted and decrypted under MemoryDenyWriteExecute")
	sealed := call(http.MethodPost, "/v1/encrypt", plaintext)
	if !bytes.HasPrefix(sealed, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("/v1/encrypt returned no age file: %.40q", sealed)
	}
	if got := call(http.MethodPost, "/v1/decrypt", sealed); !bytes.Equal(got, plaintext) {
		t.Fatalf("/v1/decrypt returned %q", got)
	}
}
