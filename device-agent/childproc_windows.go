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
// child and anything it started. release closes the handle once the child
// has been waited for.
func containChild(p *os.Process) (release func(), err error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return func() {}, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return func() {}, fmt.Errorf("set job object limits: %w", err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(p.Pid))
	if err != nil {
		_ = windows.CloseHandle(job)
		return func() {}, fmt.Errorf("open measuring child: %w", err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		_ = windows.CloseHandle(job)
		return func() {}, fmt.Errorf("assign measuring child to job object: %w", err)
	}
	return func() { _ = windows.CloseHandle(job) }, nil
}
