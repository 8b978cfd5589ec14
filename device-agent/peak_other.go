//go:build !linux

package agent

// resetPeakRSS cannot reset the peak resident set on this OS: rows report
// the process's peak so far.
func resetPeakRSS() bool { return false }
