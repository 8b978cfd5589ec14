//go:build linux

package agent

import (
	"os"
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd (SIGKILL) the moment the
// process that starts it dies, kill -9 included (PR_SET_PDEATHSIG; Linux
// and Android): the measuring child dies with its agent, and a llama-bench
// with the measuring child the agent killed (timeout, memory cap,
// shutdown). Strictly the signal follows the forking thread, not the
// process: the Go runtime never ends a thread that is not locked to a
// goroutine, and startNiced unlocks the one it locks, so in practice it
// is the agent's death. The child's own parent poll (watchParent) stays as
// the fallback for the window between fork and prctl.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// containChild has nothing to do on Linux: Pdeathsig is set at fork, and
// the memory cap is a cgroup (memcap_linux.go).
func containChild(*os.Process, int64) (contained, error) { return contained{release: func() {}}, nil }
