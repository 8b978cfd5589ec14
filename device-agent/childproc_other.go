//go:build !linux && !windows

package agent

import (
	"os"
	"os/exec"
)

// prepareChild: no parent-death signal on this OS (Darwin, the BSDs); the
// measuring child polls its parent instead (watchParent, every 20 ms).
func prepareChild(*exec.Cmd) {}

// containChild has nothing to do here; see prepareChild.
func containChild(*os.Process) (release func(), err error) { return func() {}, nil }
