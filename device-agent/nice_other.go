//go:build !linux

package agent

import (
	"errors"
	"os/exec"
)

// startNiced starts cmd; a nice value other than 0 is not supported on
// this OS (nice is per process there, and the agent would have to change
// its own), so the child runs at the agent's priority.
func startNiced(cmd *exec.Cmd, nice int) (niceErr, startErr error) {
	if nice != 0 {
		niceErr = errors.New("setting the measuring child's priority is supported on Linux and Android only")
	}
	return niceErr, cmd.Start()
}
