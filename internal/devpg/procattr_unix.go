//go:build unix

package devpg

import (
	"os/exec"
	"syscall"
)

// Detach puts cmd in its own process group, so a Ctrl-C at the terminal
// reaches only the coordinator, which then stops its children in order.
func Detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
