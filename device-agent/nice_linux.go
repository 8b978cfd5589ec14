//go:build linux

package agent

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// startNiced starts cmd with the scheduling nice value nice (-20…19; 0
// leaves it unchanged). On Linux a nice value belongs to a thread and a
// forked process inherits its parent thread's, so the forking thread is
// locked, given the value, used to start the child and restored: every
// thread of the child is born with it. niceErr reports a value that could
// not be applied (raising priority needs CAP_SYS_NICE); the child then runs
// at the agent's own priority.
func startNiced(cmd *exec.Cmd, nice int) (niceErr, startErr error) {
	if nice == 0 {
		return nil, cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return fmt.Errorf("read priority: %w", err), cmd.Start()
	}
	old := 20 - raw // the raw syscall returns 20-nice
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		return fmt.Errorf("set nice %d: %w", nice, err), cmd.Start()
	}
	startErr = cmd.Start()
	// Going back to a larger nice value (lower priority) is always allowed.
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, old)
	return nil, startErr
}
