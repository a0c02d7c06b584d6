package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ChildEnv is set in the environment of every process the bench starts,
// so that one never starts a bench of its own (a test binary standing in
// for sluss would otherwise run its tests again, recursively).
const ChildEnv = "SLUSS_BENCH_CHILD"

// process is a child the benchmark started (sink, gateway, peer) and
// measures through /proc.
type process struct {
	name   string
	cmd    *exec.Cmd
	stderr *tailBuffer
	exited chan struct{}
	err    error // set when exited is closed
}

// startProcess starts cmd in its own process group, dying with us
// (Pdeathsig), and returns its standard output (nil if cmd.Stdout is set).
func startProcess(cmd *exec.Cmd, name string) (*process, io.ReadCloser, error) {
	p := &process{name: name, cmd: cmd, stderr: &tailBuffer{max: 8 << 10}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, ChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out io.ReadCloser
	if cmd.Stdout == nil {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, out, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after a grace period.
// Only the group this benchmark created is signalled.
func (p *process) stop() {
	if p == nil || !p.running() {
		return
	}
	pgid := p.pid()
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Helpers that outlived their parent (squid's) are in the same group.
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// stderrTail is the end of what the process wrote on stderr, for errors.
func (p *process) stderrTail() string {
	s := strings.TrimSpace(p.stderr.String())
	if s == "" {
		return ""
	}
	return fmt.Sprintf("\n%s stderr:\n%s", p.name, s)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procUsage is CPU time and peak memory of a process and its descendants.
type procUsage struct {
	cpu     time.Duration // user + system
	peakRSS int64         // bytes, VmHWM summed over the tree
}

// treeUsage reads /proc for pid and every descendant.
func treeUsage(pid int) (procUsage, error) {
	var u procUsage
	pids := descendants(pid)
	for _, p := range pids {
		cpu, err := procCPU(p)
		if err != nil {
			if p == pid {
				return u, err
			}
			continue // a helper that just exited
		}
		u.cpu += cpu
		if hwm, err := procStatusKB(p, "VmHWM:"); err == nil {
			u.peakRSS += hwm << 10
		}
	}
	return u, nil
}

// resetPeakRSS clears VmHWM of pid and its descendants (clear_refs 5), so
// the next reading is the peak of what follows.
func resetPeakRSS(pid int) {
	for _, p := range descendants(pid) {
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p), []byte("5"), 0)
	}
}

// descendants returns pid followed by all processes below it.
func descendants(pid int) []int {
	children := map[int][]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		f, err := procStatFields(p)
		if err != nil || len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	out := []int{pid}
	for i := 0; i < len(out) && i < 10000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// procStatFields returns the fields of /proc/PID/stat after the command
// name, so field 0 is the state, 1 the parent, 11 utime and 12 stime.
func procStatFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func procCPU(pid int) (time.Duration, error) {
	f, err := procStatFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			v := strings.Fields(rest)
			if len(v) == 0 {
				break
			}
			return strconv.ParseInt(v[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// selfCPU is the CPU time of this process (the load generators).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the busy and total CPU time of the whole machine since
// boot, from /proc/stat, summed over all cores.
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	var sum, idle int64
	for i, s := range f[1:] {
		if i >= 8 { // guest time is already counted in user
			break
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		sum += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return time.Duration(sum-idle) * time.Second / clockTicks, time.Duration(sum) * time.Second / clockTicks
}

// executableOf returns the absolute path of a program on PATH or in the
// usual sbin directories (squid lives in /usr/sbin, which a non-root PATH
// may lack).
func executableOf(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}
