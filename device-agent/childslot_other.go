//go:build !unix

package agent

import (
	"os/exec"
	"sync"
	"time"
)

// On Windows the lock cannot be inherited (exec.Cmd.ExtraFiles is
// unsupported); the slot is held in this process while the child runs,
// and the job object (containChild) kills the child with the agent, so no
// child outlives the process that holds the slot.
var (
	slotMu   sync.Mutex
	slotBusy = map[string]bool{}
)

func acquireChildSlot(path string, wait time.Duration) (*childSlot, error) {
	deadline := time.Now().Add(wait)
	for {
		slotMu.Lock()
		if !slotBusy[path] {
			slotBusy[path] = true
			slotMu.Unlock()
			return &childSlot{path: path}, nil
		}
		slotMu.Unlock()
		if time.Now().After(deadline) {
			return nil, errChildAlive
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childSlot is a held measurement slot.
type childSlot struct{ path string }

func (s *childSlot) inherit(*exec.Cmd) {}

// release frees the slot; call it once the child has been waited for.
func (s *childSlot) release() {
	slotMu.Lock()
	delete(slotBusy, s.path)
	slotMu.Unlock()
}

// started: the slot stays held here until release.
func (s *childSlot) started() {}
