package s3test

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill the server if the test process dies without
// running its cleanups (a panic, a timeout), so no versitygw is left behind.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
