//go:build !linux

package placement

import (
	"fmt"
	"runtime"
)

// Supported reports whether PinThread can pin threads on this OS.
const Supported = false

// PinThread is not possible on this OS: it returns ErrUnsupported. (macOS
// only has affinity hints, which Apple silicon ignores; Windows would need
// SetThreadAffinityMask, which this package does not call yet.)
func PinThread(cpus []int) (unpin func(), err error) {
	return nil, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}

// ThreadID returns -1: thread ids are not used on this OS.
func ThreadID() int { return -1 }

// TaskAffinity returns ErrUnsupported on this OS.
func TaskAffinity(tid int) ([]int, error) {
	return nil, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}

// TaskLastCPU returns ErrUnsupported on this OS.
func TaskLastCPU(tid int) (int, error) {
	return -1, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}
