//go:build windows

package agent

import (
	"fmt"
	"os"
	"os/exec"
	"unsafe"

	"golang.org/x/sys/windows"
)

// dieWithParent has nothing to do on Windows: the measuring child is put
// into a job object after it started (containChild), and whatever it
// starts is in that job too. (llama-bench is not run on Windows.)
func dieWithParent(*exec.Cmd) {}

// containChild puts the measuring child into a new job object with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE. The agent holds the only handle, so
// when the agent dies (for any reason) Windows closes it and kills the
// child and anything it started. With memCap > 0 the job also limits each
// process's committed memory (JOB_OBJECT_LIMIT_PROCESS_MEMORY): Windows
// refuses the allocation past it, and the Go runtime dies "out of
// memory". (This caps commit, private bytes, not the working set the
// peak reports; for a process that touches what it allocates, as the
// measuring child does, they agree.) release closes the handle once the
// child has been waited for.
func containChild(p *os.Process, memCap int64) (c contained, err error) {
	c.release = func() {}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return c, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if memCap > 0 {
		info.BasicLimitInformation.LimitFlags |= windows.JOB_OBJECT_LIMIT_PROCESS_MEMORY
		info.ProcessMemoryLimit = uintptr(memCap)
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return c, fmt.Errorf("set job object limits: %w", err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(p.Pid))
	if err != nil {
		_ = windows.CloseHandle(job)
		return c, fmt.Errorf("open measuring child: %w", err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		_ = windows.CloseHandle(job)
		return c, fmt.Errorf("assign measuring child to job object: %w", err)
	}
	c.release = func() { _ = windows.CloseHandle(job) }
	if memCap > 0 {
		c.capKind = capJobObject
		c.exceeded = func() (bool, int64) {
			var got windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
			if err := windows.QueryInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
				uintptr(unsafe.Pointer(&got)), uint32(unsafe.Sizeof(got)), nil); err != nil {
				return false, 0
			}
			peak := int64(got.PeakProcessMemoryUsed)
			// A refused allocation leaves the peak below the cap by at
			// most the size asked for; the Go runtime asks for at most a
			// 64 MiB arena at a time, a KV cache for more only when it is
			// larger than that, so this is a lower bound on a hit.
			return peak >= memCap-64<<20, peak
		}
	}
	return c, nil
}
