//go:build !linux && !windows

package agent

import (
	"os"
	"os/exec"
)

// dieWithParent: no parent-death signal on this OS (Darwin, the BSDs); the
// measuring child polls its parent instead (watchParent, every 20 ms). A
// llama-bench whose measuring child was killed runs to its end.
func dieWithParent(*exec.Cmd) {}

// containChild has nothing to do here; see dieWithParent.
func containChild(*os.Process, int64) (contained, error) { return contained{release: func() {}}, nil }
