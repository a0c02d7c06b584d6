package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProfileEntry is one symbol of where a proxy spent its CPU during a
// cell's measured runs, from Linux perf (--perf DIR).
type ProfileEntry struct {
	Percent float64 `json:"percent"`
	Symbol  string  `json:"symbol"`
	Kernel  bool    `json:"kernel,omitempty"`
}

// perfSampleHz is the sampling rate: low enough to perturb the proxy
// little, high enough for a few thousand samples in a cell.
const perfSampleHz = 499

// perfRecording is `perf record` attached to a proxy, its events
// disabled until enable: attaching takes perf a while on a busy machine,
// so it is started before the warm-up and switched on at the runs.
type perfRecording struct {
	p        *process
	file     string
	ctl, ack string // control and acknowledgement FIFOs
}

// startPerf attaches perf record (with call graphs, for a later
// `perf report -i FILE`) to pid, recording nothing until enable.
func startPerf(pid int, file string) (*perfRecording, error) {
	exe, err := executableOf("perf")
	if err != nil {
		return nil, errNotAvailable{"perf is not installed; install it with: sudo apt-get install -y linux-perf"}
	}
	r := &perfRecording{file: file, ctl: file + ".ctl", ack: file + ".ack"}
	for _, f := range []string{r.ctl, r.ack} {
		os.Remove(f)
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			return nil, fmt.Errorf("perf control FIFO: %w", err)
		}
	}
	cmd := exec.Command(exe, "record", "--quiet", "-D", "-1", "--control", "fifo:"+r.ctl+","+r.ack,
		"-F", strconv.Itoa(perfSampleHz), "-g", "-p", strconv.Itoa(pid), "-o", file)
	p, out, err := startProcess(cmd, "perf record")
	if err != nil {
		r.removeFIFOs()
		return nil, err
	}
	go bufio.NewReader(out).WriteTo(discard{})
	r.p = p
	return r, nil
}

// enable switches sampling on and waits (at most 30 s) for perf to say
// it has. Both FIFOs are opened read-write, which never blocks on Linux,
// so nothing waits on perf beyond the read deadline.
func (r *perfRecording) enable() error {
	ctl, err := os.OpenFile(r.ctl, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer ctl.Close()
	ack, err := os.OpenFile(r.ack, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer ack.Close()
	if _, err := ctl.WriteString("enable\n"); err != nil {
		return err
	}
	if err := ack.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	line, err := bufio.NewReader(ack).ReadString('\n')
	switch {
	case err != nil && !r.p.running():
		return fmt.Errorf("perf record exited: %v%s", r.p.err, r.p.stderrTail())
	case err != nil:
		return fmt.Errorf("perf record did not start: %w%s", err, r.p.stderrTail())
	case strings.TrimSpace(line) != "ack":
		return fmt.Errorf("perf answered %q", line)
	}
	return nil
}

// stop ends the recording (SIGINT, so perf writes its file) and waits.
func (r *perfRecording) stop() error {
	defer r.removeFIFOs()
	if !r.p.running() {
		return nil
	}
	syscall.Kill(r.p.pid(), syscall.SIGINT)
	select {
	case <-r.p.exited:
	case <-time.After(20 * time.Second):
		r.p.stop()
		return fmt.Errorf("perf record did not finish%s", r.p.stderrTail())
	}
	return nil
}

func (r *perfRecording) removeFIFOs() {
	os.Remove(r.ctl)
	os.Remove(r.ack)
}

// perfLine is one line of `perf report --sort symbol -g none --stdio`:
// "    21.96%  [.] golang.org/x/crypto/chacha20poly1305.chacha20Poly1305Seal.abi0".
var perfLine = regexp.MustCompile(`^\s*([0-9.]+)%\s+\[(.)\]\s+(.*?)\s*(?:-\s+-\s*)?$`)

// perfTop returns the n symbols with most samples in a recording.
func perfTop(ctx context.Context, file string, n int) ([]ProfileEntry, error) {
	exe, err := executableOf("perf")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "report", "-i", file, "--no-children", "--sort", "symbol", "-g", "none", "--stdio")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("perf report: %w: %s", err, lastLines(stderr.String(), 3))
	}
	var top []ProfileEntry
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := perfLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pct, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		top = append(top, ProfileEntry{Percent: pct, Symbol: strings.TrimSuffix(m[3], ".abi0"), Kernel: m[2] == "k"})
		if len(top) == n {
			break
		}
	}
	if len(top) == 0 {
		return nil, fmt.Errorf("perf report of %s has no samples", file)
	}
	return top, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
