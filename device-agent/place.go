package agent

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/device-agent/internal/placement"
	"github.com/hilsearch/hilsearch/workload"
)

// choosePlacement picks the CPUs of a thread request (placement.Select,
// the rule shared by jobs and `bench -t/-C`). An explicit count above the
// allowed CPUs is not refused, as before placement existed: the workers
// share every allowed CPU, and the choice's note says so. Without a CPU
// description (a profile that lists no cores), "auto" becomes one worker
// per logical CPU, unplaced.
func choosePlacement(cpu hw.CPU, threads workload.Threads, mask string) (placement.Choice, error) {
	req := threads.String()
	c, err := placement.Select(cpu, req, mask)
	if err == nil {
		return c, nil
	}
	if errors.Is(err, placement.ErrNoCPU) && len(cpu.Cores) == 0 && mask == "" {
		n := int(threads)
		if threads == workload.ThreadsAuto {
			n = runtime.NumCPU()
		}
		return placement.Choice{Threads: n, Rule: map[bool]string{true: "auto", false: "fastest"}[threads == workload.ThreadsAuto],
			Note: "the profile lists no cores: workers not placed"}, nil
	}
	if threads != workload.ThreadsAuto && mask == "" {
		var ids []int
		allowed, _ := hw.ParseCPUList(cpu.AllowedCPUs)
		for _, co := range cpu.Cores {
			if len(allowed) == 0 || slices.Contains(allowed, co.ID) {
				ids = append(ids, co.ID)
			}
		}
		if len(ids) > 0 && int(threads) > len(ids) {
			if c, err := placement.Select(cpu, req, placement.Mask(ids)); err == nil {
				c.Rule = "fastest"
				return c, nil
			}
		}
	}
	return placement.Choice{}, err
}

// pinning is a placement in force: the goroutine that made it (worker 0,
// the one calling Prefill and Decode) is pinned to the choice's first CPU,
// and every model built with its Start hook pins worker i to
// Choice.Worker(i) on its locked thread.
type pinning struct {
	Choice placement.Choice
	// Pinned is false when placement was not possible (Note says why);
	// the workers then run where the OS puts them.
	Pinned bool
	Note   string

	unpin func()
	mu    sync.Mutex
	tids  map[int]int // worker → kernel thread id, of the latest model
	errs  []error
	wg    sync.WaitGroup
}

// pin applies c on the calling goroutine's thread. It never fails: a
// placement that cannot be made is recorded (Pinned false, Note).
func pin(c placement.Choice) *pinning {
	p := &pinning{Choice: c, tids: map[int]int{}}
	switch {
	case len(c.CPUs) == 0:
		p.Note = c.Note
	case !placement.Supported:
		p.Note = fmt.Sprintf("thread pinning is not possible on %s: workers not pinned", runtime.GOOS)
	default:
		unpin, err := placement.PinThread([]int{c.Worker(0)})
		if err != nil {
			p.Note = "worker 0 not pinned: " + err.Error()
			break
		}
		p.unpin, p.Pinned = unpin, true
		p.tids[0] = placement.ThreadID()
	}
	return p
}

// Start returns the kernels.Options.WorkerStart hook for one model build
// of threads workers, or nil when nothing is pinned. Call Wait after the
// build.
func (p *pinning) Start(threads int) func(worker int) {
	if !p.Pinned {
		return nil
	}
	p.wg.Add(threads - 1)
	return func(w int) {
		defer p.wg.Done()
		_, err := placement.PinThread([]int{p.Choice.Worker(w)}) // the thread ends with the pool, never unpinned
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("worker %d: %w", w, err))
			return
		}
		p.tids[w] = placement.ThreadID()
	}
}

// Wait waits until every worker of the latest build has pinned itself and
// returns their errors.
func (p *pinning) Wait() error {
	if !p.Pinned {
		return nil
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return errors.New("placement: the workers did not start within 30 s")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// Threads returns the kernel thread id of each worker of the latest build
// that pinned itself (worker 0 is the caller's).
func (p *pinning) Threads() map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int]int, len(p.tids))
	for k, v := range p.tids {
		out[k] = v
	}
	return out
}

// Release restores the caller's thread.
func (p *pinning) Release() {
	if p.unpin != nil {
		p.unpin()
		p.unpin = nil
	}
}

// Describe is the placement for a measurement's Placement field.
func (p *pinning) Describe() string {
	s := p.Choice.Rule
	if s == "" {
		s = "none"
	}
	if len(p.Choice.CPUs) > 0 {
		s += " cpus " + p.Choice.List()
	}
	if p.Choice.Threads != len(p.Choice.CPUs) && len(p.Choice.CPUs) > 0 {
		s += ", " + strconv.Itoa(p.Choice.Threads) + " threads"
	}
	if p.Choice.Note != "" {
		s += "; " + p.Choice.Note
	}
	if p.Note != "" && p.Note != p.Choice.Note {
		s += "; " + p.Note
	}
	return s
}
