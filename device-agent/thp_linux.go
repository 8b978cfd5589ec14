//go:build linux

package agent

import "golang.org/x/sys/unix"

// disableTHP turns transparent huge pages off for this process
// (PR_SET_THP_DISABLE, Linux 3.15+; checked at each page fault, so it
// applies to mappings touched from now on). With THP a fault can make
// 2 MiB resident where 4 KiB was touched, so a row's peak RSS would depend
// on which huge pages an earlier row happened to fault in, not only on its
// own caches. The measuring child is a process of its own, so nothing
// else is affected.
func disableTHP() error { return unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0) }
