package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// childLimits bound one measuring child.
type childLimits struct {
	// Timeout is the wall-clock limit.
	Timeout time.Duration
	// MemoryCap is the resident-memory limit in bytes (0: none).
	MemoryCap int64
	// Poll is how often the child's RSS is read. Defaults to 20 ms.
	Poll time.Duration
}

// childCommand is how a measuring child is started: the agent's own
// executable with the measure subcommand.
type childCommand struct {
	Path string
	Args []string
	Env  []string
	// Nice is the child's scheduling nice value (0: the agent's own; see
	// startNiced).
	Nice int
	// Log receives a warning when Nice cannot be applied; may be nil.
	Log *slog.Logger
	// LockPath, when set, is the measurement lock: a child is started only
	// once no earlier child holding it is alive (see acquireChildSlot),
	// waiting at most LockWait (default 5 s) before errChildAlive.
	LockPath string
	LockWait time.Duration
	slot     *childSlot
}

// selfChild returns the command that re-executes this binary as
// `device-agent measure`.
func selfChild() (childCommand, error) {
	exe, err := os.Executable()
	if err != nil {
		return childCommand{}, fmt.Errorf("locate own executable: %w", err)
	}
	return childCommand{Path: exe, Args: []string{"measure"}}, nil
}

// errInterrupted means the child was stopped because ctx ended; there is
// no result.
var errInterrupted = errors.New("measurement interrupted")

// errChildAlive means an earlier measuring child of this agent is still
// alive, so no new measurement was started.
var errChildAlive = errors.New("an earlier measuring child is still alive; not starting another measurement")

// stderrTail keeps the last bytes a child wrote to stderr.
type stderrTail struct{ b []byte }

const stderrKeep = 4 << 10

func (t *stderrTail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > stderrKeep {
		t.b = append(t.b[:0], t.b[len(t.b)-stderrKeep:]...)
	}
	return len(p), nil
}

// superviseChild runs one measuring child with job on its stdin and
// returns its result. The child is killed when it exceeds lim.Timeout
// (FailTimeout) or lim.MemoryCap (FailOOM: its RSS, polled from /proc
// where readable, or its peak RSS after exit), and any other death without
// a result is FailCrash; those are results too. When ctx ends the child is
// killed and errInterrupted returned.
func superviseChild(ctx context.Context, cc childCommand, job []byte, jobID string, lim childLimits) (wire.Result, error) {
	if cc.LockPath != "" {
		wait := cc.LockWait
		if wait <= 0 {
			wait = 5 * time.Second
		}
		slot, err := acquireChildSlot(cc.LockPath, wait)
		if err != nil {
			return wire.Result{}, err
		}
		defer slot.release()
		cc.slot = slot
	}
	var stdout bytes.Buffer
	var stderr stderrTail
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(cc.Path, cc.Args...)
		dieWithParent(cmd)
		if cc.slot != nil {
			cc.slot.inherit(cmd)
		}
		cmd.Env = append(append(os.Environ(), cc.Env...), envAgentParent+"="+strconv.Itoa(os.Getpid()),
			envChildTimeout+"="+lim.Timeout.String(), envChildMemoryCap+"="+strconv.FormatInt(lim.MemoryCap, 10))
		cmd.Stdin = bytes.NewReader(job)
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		return cmd
	}
	// The memory cap: the OS's where the agent may set one (a cgroup v2
	// group on Linux; on Windows the job object of containChild), else the
	// RSS poll of superviseProcess.
	capKind := capNone
	var oc *osCap
	if lim.MemoryCap > 0 {
		capKind = capRSSPoll
		c, err := newOSCap(lim.MemoryCap, strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(capSeq.Add(1), 10))
		switch {
		case err == nil:
			oc, capKind = c, c.kind
			defer c.close()
		case cc.Log != nil:
			cc.Log.Debug("memory cap by RSS poll", "why", err)
		}
	}
	cmd := newCmd()
	if oc != nil {
		oc.before(cmd)
	}
	niceErr, err := startNiced(cmd, cc.Nice)
	if err != nil && oc != nil && oc.retry != nil {
		// e.g. a kernel before 5.7 (no CLONE_INTO_CGROUP): start, then move.
		cmd = newCmd()
		oc.before(cmd)
		oc.retry(cmd)
		niceErr, err = startNiced(cmd, cc.Nice)
	}
	if niceErr != nil && cc.Log != nil {
		cc.Log.Warn("measuring at normal priority", "nice", cc.Nice, "err", niceErr)
	}
	if err != nil {
		return failed(jobID, wire.FailCrash, fmt.Sprintf("start measuring child: %v", err)), nil
	}
	if cc.slot != nil {
		cc.slot.started()
	}
	if oc != nil {
		if err := oc.after(cmd.Process); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return failed(jobID, wire.FailInternal, fmt.Sprintf("put measuring child into its cgroup: %v", err)), nil
		}
	}
	jobCap := int64(0)
	if oc == nil {
		jobCap = lim.MemoryCap
	}
	contained, err := containChild(cmd.Process, jobCap)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return failed(jobID, wire.FailInternal, fmt.Sprintf("contain measuring child: %v", err)), nil
	}
	defer contained.release()
	if contained.capKind != "" {
		oc, capKind = &osCap{kind: contained.capKind, exceeded: contained.exceeded}, contained.capKind
	}
	pollLim := lim
	if oc != nil {
		pollLim.MemoryCap = 0 // the OS enforces it
	}
	o := superviseProcess(ctx, cmd, pollLim)
	if o.interrupted {
		return wire.Result{}, errInterrupted
	}
	if oc != nil && o.killedFor == "" && o.waitErr != nil {
		if hit, peak := oc.exceeded(); hit {
			return failed(jobID, wire.FailOOM, fmt.Sprintf("measuring child reached its memory cap of %s (%s; peak %s) and was stopped%s",
				fmtBytes(lim.MemoryCap), capKind, fmtBytes(peak), stderrSuffix(stderr.b))), nil
		}
	}
	switch {
	case o.killedFor == wire.FailTimeout:
		return failed(jobID, wire.FailTimeout, fmt.Sprintf("measurement exceeded its time limit of %v and was killed", lim.Timeout)), nil
	case o.killedFor == wire.FailOOM:
		return failed(jobID, wire.FailOOM, fmt.Sprintf("measuring child reached %s resident memory, above its cap of %s, and was killed",
			fmtBytes(o.rssAtKill), fmtBytes(lim.MemoryCap))), nil
	case lim.MemoryCap > 0 && o.peak > lim.MemoryCap:
		// It finished between two polls, but it did exceed the cap.
		return failed(jobID, wire.FailOOM, fmt.Sprintf("measuring child peaked at %s resident memory, above its cap of %s",
			fmtBytes(o.peak), fmtBytes(lim.MemoryCap))), nil
	}
	waitErr := o.waitErr
	if waitErr != nil {
		return failed(jobID, wire.FailCrash, fmt.Sprintf("measuring child died (%v)%s", waitErr, stderrSuffix(stderr.b))), nil
	}
	var res wire.Result
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil || res.Status == "" {
		return failed(jobID, wire.FailCrash, fmt.Sprintf("measuring child wrote no result (%v)%s", err, stderrSuffix(stderr.b))), nil
	}
	if res.JobID != jobID {
		return failed(jobID, wire.FailInternal, fmt.Sprintf("measuring child answered for job %q", res.JobID)), nil
	}
	if res.Measurement != nil {
		res.Measurement.MemoryCap = capKind
	}
	return res, nil
}

// capSeq numbers the cgroups of one agent's children.
var capSeq atomic.Uint64

// procOutcome is how a supervised process ended.
type procOutcome struct {
	// interrupted: ctx ended and the process was killed.
	interrupted bool
	// killedFor is wire.FailTimeout or wire.FailOOM when the supervisor
	// killed the process for a limit; rssAtKill is its RSS then.
	killedFor string
	rssAtKill int64
	// peak is the process's peak RSS (its rusage after exit), 0 if unknown.
	peak    int64
	waitErr error
}

// superviseProcess waits for the started cmd, killing it when it exceeds
// lim.Timeout or lim.MemoryCap (its RSS polled from /proc where readable)
// or when ctx ends. It is the one supervisor of the measuring child and of
// the llama-bench the child runs.
func superviseProcess(ctx context.Context, cmd *exec.Cmd, lim childLimits) procOutcome {
	if lim.Poll <= 0 {
		lim.Poll = 20 * time.Millisecond
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timeoutC <-chan time.Time
	if lim.Timeout > 0 {
		t := time.NewTimer(lim.Timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	poll := time.NewTicker(lim.Poll)
	defer poll.Stop()
	statusPath := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
	var o procOutcome
	for {
		select {
		case o.waitErr = <-done:
			o.peak = childMaxRSS(cmd.ProcessState)
			return o
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			o.interrupted = true
			return o
		case <-timeoutC:
			o.killedFor = wire.FailTimeout
			_ = cmd.Process.Kill()
		case <-poll.C:
			if lim.MemoryCap <= 0 || o.killedFor != "" {
				continue
			}
			data, err := os.ReadFile(statusPath)
			if err != nil {
				continue
			}
			if rss, ok := statusKB(string(data), "VmRSS:"); ok && rss > lim.MemoryCap {
				o.killedFor, o.rssAtKill = wire.FailOOM, rss
				_ = cmd.Process.Kill()
			}
		}
	}
}

func stderrSuffix(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	return ": " + s
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}
