//go:build linux

package agent

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd when the process that starts it
// dies, so a llama-bench outlives no measuring child the agent killed
// (timeout, memory cap, shutdown).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
