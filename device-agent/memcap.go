package agent

import (
	"os"
	"os/exec"
)

// Memory caps a measuring child can have (wire.Measurement.MemoryCap).
const (
	capCgroup    = "cgroup memory.max"
	capJobObject = "job object"
	capRSSPoll   = "rss poll"
	capNone      = "none"
)

// osCap is a memory cap the operating system enforces on one child
// (memcap_*.go): the child is killed, or refused memory, at the cap,
// before a phone's low-memory killer or the agent's 20 ms RSS poll could
// act.
type osCap struct {
	kind string
	// before adjusts the command before it starts; retry undoes what
	// before did that made the start fail.
	before, retry func(*exec.Cmd)
	// after puts the started process under the cap if before could not.
	after func(*os.Process) error
	// exceeded says, after the child ended, whether the cap was hit, and
	// the child's peak memory where the mechanism records it (0 if not).
	exceeded func() (bool, int64)
	close    func()
}

// contained is what containChild set up around a started child.
type contained struct {
	// release ends the containment once the child was waited for.
	release func()
	// capKind is the memory cap the containment enforces ("" for none),
	// exceeded says after the child ended whether it hit it.
	capKind  string
	exceeded func() (bool, int64)
}
