package haproxytest

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill HAProxy if the test process dies without
// running its cleanups (a panic, a timeout), so no haproxy is left behind.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
