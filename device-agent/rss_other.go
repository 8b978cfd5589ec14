//go:build !unix && !windows

package agent

import "os"

// rusageSelfMaxRSS is unknown without getrusage (Windows would need
// GetProcessMemoryInfo from psapi.dll; not implemented yet).
func rusageSelfMaxRSS() int64 { return 0 }

// childMaxRSS is unknown without getrusage.
func childMaxRSS(*os.ProcessState) int64 { return 0 }
