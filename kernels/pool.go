package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a persistent set of worker goroutines that run one parallel loop
// at a time. The goroutine calling Run takes part as worker 0, so a pool of
// N threads starts N-1 goroutines once and never creates more. Work is
// handed out in chunks of grain items from a shared counter, so the split
// adapts to a busy machine; which worker computes an item never changes its
// value, so results do not depend on the thread count.
//
// A Pool is not safe for concurrent Run calls; the Model owning it
// serialises them. Close stops the workers.
type Pool struct {
	n      int
	fn     func(worker, lo, hi int)
	total  int
	grain  int
	next   atomic.Int64
	gen    atomic.Uint64
	closed atomic.Bool
	// Parked workers wait on cond for a new generation. The check of gen
	// and the wait happen under mu, and Run bumps gen before taking mu to
	// broadcast, so a wake-up cannot be lost. (A lock-free handshake — store
	// "sleeping", then load gen — needs store→load ordering that
	// qemu-aarch64's emulation of STLR/LDAR on an x86 host does not give;
	// it deadlocked there.)
	mu       sync.Mutex
	cond     *sync.Cond
	sleepers int // guarded by mu
	// state holds the number of workers still busy with the current
	// generation in its low 32 bits and waitBit while the caller of Run is
	// parked on done. Keeping both in one word makes "was the caller
	// waiting when the last worker finished" one atomic decision: a
	// separate flag let a worker that finished generation K, then stalled,
	// signal the caller parked in generation K+1 before it had done K+1.
	state atomic.Int64
	done  chan struct{}
	// start, when set, runs first on each worker goroutine (workers 1 to
	// n-1) after it was locked to its OS thread (see NewPoolWith).
	start func(worker int)
	// crowded is set by Run when the pool has more threads than
	// GOMAXPROCS: the poll loops then yield from the start (yieldAfter).
	crowded atomic.Bool
	// dispatches counts the Run calls handed to the workers (not those
	// run on the caller alone); only Run's caller touches it.
	dispatches uint64
}

// waitBit marks state while the caller of Run is parked on done.
const waitBit = int64(1) << 32

// spinTime is how long an idle worker (or the caller of Run waiting for
// the workers) polls before it parks. The ops of a forward pass are
// separated by the serial parts between them (norms, the token's
// convolution or attention, quantising the next input: tens of
// microseconds in decode), and a futex wake-up costs about as much again,
// so the spin must outlast those gaps: with a count of 2000 polls (a few
// microseconds) the workers parked between nearly every decode op and
// lfm2-350m q4_0 tg128 ran at 74 t/s instead of about 100 (2 threads,
// AVX-512 machine). Between forward passes a worker gives up its core
// after spinTime.
const spinTime = 500 * time.Microsecond

// yieldAfter is how long a poll loop runs before it starts yielding the
// processor (runtime.Gosched every 64 polls) so that other goroutines of
// the process run. A pool with more threads than GOMAXPROCS yields from
// the first poll, since a worker without a processor could not finish its
// items otherwise. Yielding sooner costs decode dearly when the
// goroutine is locked to its thread (the device agent pins its workers,
// NewPoolWith): Gosched then parks the thread and hands the processor to
// another one and back, two futex wake-ups, and a worker in that dance
// misses the next op by microseconds.
const yieldAfter = 50 * time.Microsecond

// spinner is the state of one poll loop: polls so far, when the loop
// began (taken at the first time check), and whether it yields.
type spinner struct {
	i     int
	start time.Time
	yield bool
}

// spin reports whether the loop should poll again. It yields every 64
// polls when s.yield is set or once the loop has polled yieldAfter, and
// gives up after spinTime.
func (s *spinner) spin() bool {
	s.i++
	if s.i&63 != 0 {
		return true
	}
	if s.yield {
		runtime.Gosched()
	}
	if s.i&255 != 0 {
		return true
	}
	if s.start.IsZero() {
		s.start = time.Now()
		return true
	}
	d := time.Since(s.start)
	s.yield = s.yield || d >= yieldAfter
	return d < spinTime
}

// NewPool starts a pool of threads workers (threads ≥ 1).
func NewPool(threads int) *Pool { return NewPoolWith(threads, nil) }

// NewPoolWith is NewPool with a start hook: each worker goroutine other
// than the caller of Run (workers 1 to threads-1) locks itself to its OS
// thread (runtime.LockOSThread) and calls start(worker) before its first
// item, for instance to set that thread's CPU affinity. The thread stays
// the worker's until Close. Worker 0 is whichever goroutine calls Run;
// placing it is the caller's business.
func NewPoolWith(threads int, start func(worker int)) *Pool {
	if threads < 1 {
		threads = 1
	}
	p := &Pool{n: threads, done: make(chan struct{}, 1), start: start}
	p.cond = sync.NewCond(&p.mu)
	for i := 1; i < threads; i++ {
		go p.loop(i)
	}
	return p
}

// Threads returns the number of workers, the caller included.
func (p *Pool) Threads() int { return p.n }

// Close stops the worker goroutines. The pool must be idle.
func (p *Pool) Close() {
	if p.closed.Swap(true) {
		return
	}
	p.wakeAll()
}

// wakeAll starts a new generation and wakes the parked workers.
func (p *Pool) wakeAll() {
	p.gen.Add(1)
	p.mu.Lock()
	if p.sleepers > 0 {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}

// Run calls fn(worker, lo, hi) over [0, total) in chunks of grain items
// and returns when every chunk is done. fn must write only outputs owned by
// its items and use only per-worker scratch indexed by worker.
func (p *Pool) Run(total, grain int, fn func(worker, lo, hi int)) {
	if total <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	if p.n == 1 || total <= grain {
		fn(0, 0, total)
		return
	}
	p.dispatches++
	if c := p.n > runtime.GOMAXPROCS(0); c != p.crowded.Load() {
		p.crowded.Store(c)
	}
	p.fn, p.total, p.grain = fn, total, grain
	p.next.Store(0)
	p.state.Store(int64(p.n - 1)) // the workers other than the caller
	p.wakeAll()
	p.work(0)
	// Wait for the other workers: spin briefly, then park so that a
	// descheduled worker (a busy machine) gets the core instead of a spinner.
	sp := spinner{yield: p.crowded.Load()}
	for p.state.Load() != 0 {
		if sp.spin() {
			continue
		}
		// Announce the park. If the count was already zero no worker will
		// signal; otherwise the worker whose decrement reaches zero sees
		// waitBit and sends exactly one token.
		if p.state.Or(waitBit)&^waitBit != 0 {
			<-p.done
		}
		break
	}
	p.fn = nil
}

func (p *Pool) work(worker int) {
	total, grain := int64(p.total), int64(p.grain)
	for {
		lo := p.next.Add(grain) - grain
		if lo >= total {
			return
		}
		hi := min(lo+grain, total)
		p.fn(worker, int(lo), int(hi))
	}
}

func (p *Pool) loop(id int) {
	if p.start != nil {
		// Never unlocked: the goroutine's exit at Close ends the thread,
		// so a thread the hook changed never serves other goroutines.
		runtime.LockOSThread()
		p.start(id)
	}
	// The pool starts at generation 0; a Run may bump it before this
	// goroutine is first scheduled, so do not read the current value here.
	var seen uint64
	for {
		// Wait for a new generation: spin, then park.
		sp := spinner{yield: p.crowded.Load()}
		for p.gen.Load() == seen {
			if sp.spin() {
				continue
			}
			p.mu.Lock()
			p.sleepers++
			for p.gen.Load() == seen {
				p.cond.Wait()
			}
			p.sleepers--
			p.mu.Unlock()
		}
		seen = p.gen.Load()
		if p.closed.Load() {
			return
		}
		p.work(id)
		if p.state.Add(-1) == waitBit {
			p.done <- struct{}{}
		}
	}
}
