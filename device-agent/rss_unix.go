//go:build unix

package agent

import (
	"os"
	"runtime"
	"syscall"
)

// maxrssBytes converts ru_maxrss to bytes: it is in bytes on Darwin and
// in KiB elsewhere (Linux, Android, the BSDs).
func maxrssBytes(v int64) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return v
	}
	return v * 1024
}

// rusageSelfMaxRSS is this process's peak RSS from getrusage, 0 if unknown.
func rusageSelfMaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return maxrssBytes(int64(ru.Maxrss))
}

// childMaxRSS is the peak RSS of a waited-for child, 0 if unknown.
func childMaxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru != nil {
		return maxrssBytes(int64(ru.Maxrss))
	}
	return 0
}
