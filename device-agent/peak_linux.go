package agent

import "os"

// resetPeakRSS resets this process's peak resident set (VmHWM) to its
// current resident set by writing 5 to /proc/self/clear_refs (proc(5),
// Linux 4.0+; Android too). It reports whether the reset was made.
func resetPeakRSS() bool {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, err = f.WriteString("5")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err == nil
}
