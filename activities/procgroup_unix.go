//go:build unix

package activities

import (
	"os/exec"
	"syscall"
	"time"
)

// stopGroup runs cmd in a process group of its own and, when its context ends, kills the whole
// group, so that nothing the command started outlives it; waiting for its output then ends after
// at most waitDelay.
func stopGroup(cmd *exec.Cmd, waitDelay time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
}
