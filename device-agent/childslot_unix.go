//go:build unix

package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// acquireChildSlot takes the exclusive flock on path, waiting at most
// wait. The returned file is handed to the measuring child (ExtraFiles),
// so the lock lives exactly as long as the child and anything it started
// that inherited the descriptor: the kernel drops it when the last of them
// exits, whoever killed them. A lock still held therefore means an earlier
// measuring child of this agent (or of a previous run of it, orphaned) is
// still alive, checked rather than assumed: errChildAlive.
func acquireChildSlot(path string, wait time.Duration) (*childSlot, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("measurement lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("measurement lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &childSlot{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("measurement lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, errChildAlive
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childSlot is a held measurement lock.
type childSlot struct{ f *os.File }

// inherit passes the locked descriptor to the child (fd 3).
func (s *childSlot) inherit(cmd *exec.Cmd) { cmd.ExtraFiles = append(cmd.ExtraFiles, s.f) }

// release closes the agent's descriptor: after a start the child keeps
// the lock until it (and its descendants) exit; otherwise it is freed.
func (s *childSlot) release() { _ = s.f.Close() }

// started is called once the child runs: it now holds the lock alone.
func (s *childSlot) started() { _ = s.f.Close() }
