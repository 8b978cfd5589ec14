//go:build !unix

package devpg

import "os/exec"

// Detach does nothing where process groups do not exist.
func Detach(cmd *exec.Cmd) {}
