//go:build linux

package placement

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Supported reports whether PinThread can pin threads on this OS.
const Supported = true

// maxCPU is the largest CPU id a unix.CPUSet holds, plus one.
const maxCPU = len(unix.CPUSet{}) * 64

// PinThread locks the calling goroutine to its OS thread
// (runtime.LockOSThread) and restricts that thread to cpus with
// sched_setaffinity. unpin restores the thread's previous affinity and
// unlocks it; a goroutine that exits while still pinned takes its thread
// with it (the runtime terminates a locked thread whose goroutine exits),
// so a pinned thread never serves other goroutines. cpus must be within
// the process's cpuset, else the kernel refuses (EINVAL).
func PinThread(cpus []int) (unpin func(), err error) {
	set, err := cpuSet(cpus)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("placement: sched_getaffinity: %w", err)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("placement: sched_setaffinity to CPUs %v: %w", cpus, err)
	}
	return func() {
		_ = unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

func cpuSet(cpus []int) (unix.CPUSet, error) {
	var set unix.CPUSet
	if len(cpus) == 0 {
		return set, fmt.Errorf("placement: no CPU to pin to")
	}
	for _, c := range cpus {
		if c < 0 || c >= maxCPU {
			return set, fmt.Errorf("placement: CPU %d out of range [0, %d)", c, maxCPU)
		}
		set.Set(c)
	}
	return set, nil
}

// ThreadID returns the kernel id of the calling OS thread (gettid). It is
// stable only while the goroutine is locked to its thread.
func ThreadID() int { return unix.Gettid() }

// TaskAffinity returns the CPUs thread tid (a thread of any process, or 0
// for the calling thread) may run on, sorted.
func TaskAffinity(tid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil {
		return nil, fmt.Errorf("placement: sched_getaffinity(%d): %w", tid, err)
	}
	var ids []int
	for c := range maxCPU {
		if set.IsSet(c) {
			ids = append(ids, c)
		}
	}
	return ids, nil
}

// TaskLastCPU returns the CPU thread tid of this process last ran on:
// field 39 ("processor") of /proc/self/task/<tid>/stat (proc(5)).
func TaskLastCPU(tid int) (int, error) {
	data, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return -1, fmt.Errorf("placement: %w", err)
	}
	return statProcessor(string(data))
}

// statProcessor extracts field 39 from a /proc/<pid>/stat line. The second
// field (comm) is in parentheses and may hold spaces and parentheses, so
// fields are counted after the last ')'.
func statProcessor(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return -1, fmt.Errorf("placement: stat line without comm: %q", stat)
	}
	fields := strings.Fields(stat[i+1:])
	const idx = 39 - 3 // fields[0] is field 3 (state)
	if len(fields) <= idx {
		return -1, fmt.Errorf("placement: stat line has %d fields, want at least 39", len(fields)+2)
	}
	n, err := strconv.Atoi(fields[idx])
	if err != nil {
		return -1, fmt.Errorf("placement: stat field 39 %q: %w", fields[idx], err)
	}
	return n, nil
}
