//go:build !linux

package agent

import "os/exec"

// dieWithParent does nothing here: only Linux (and Android) can tie a
// child's life to its parent's. A llama-bench whose measuring child was
// killed runs to its end.
func dieWithParent(*exec.Cmd) {}
