package agent

import (
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// processMemoryCounters is PROCESS_MEMORY_COUNTERS (psapi.h).
type processMemoryCounters struct {
	cb                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
}

// getProcessMemoryInfo is psapi's GetProcessMemoryInfo (golang.org/x/sys
// /windows loads psapi.dll but does not wrap this function).
var getProcessMemoryInfo = windows.NewLazySystemDLL("psapi.dll").NewProc("GetProcessMemoryInfo")

// rusageSelfMaxRSS is this process's peak working set
// (PROCESS_MEMORY_COUNTERS.PeakWorkingSetSize), 0 if unknown.
func rusageSelfMaxRSS() int64 {
	var c processMemoryCounters
	c.cb = uint32(unsafe.Sizeof(c))
	r, _, _ := getProcessMemoryInfo.Call(uintptr(windows.CurrentProcess()), uintptr(unsafe.Pointer(&c)), uintptr(c.cb))
	if r == 0 {
		return 0
	}
	return int64(c.PeakWorkingSetSize)
}

// childMaxRSS is unknown here: the measuring child reports its own peak
// working set in its result.
func childMaxRSS(*os.ProcessState) int64 { return 0 }
