package roofline

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"
)

// kernel is one implementation of the two measurement loops.
type kernel struct {
	name string
	// sum returns the wrapping uint64 sum of p (reference: sumGo).
	sum func(p []uint64) uint64
	// fma runs iters iterations of accs independent multiply-adds on
	// vectors of lanes float32 (len(a) == len(b) == lanes, len(acc) ==
	// accs·lanes); ref is its reference loop.
	fma         func(acc, a, b []float32, iters int)
	ref         func(acc, a, b []float32, iters int)
	lanes, accs int
}

// goKernel is the portable variant, always available.
var goKernel = kernel{name: "go", sum: sumGo, fma: fmaGo, ref: fmaGoRef, lanes: 1, accs: 8}

// impls lists the variants this CPU can run, widest first (tests run them
// all); selected is impls[0].
var (
	impls    = available()
	selected = impls[0]
)

// Variant names the loops Bandwidth and FMAPeak use on this CPU:
// "avx512" (zmm loads and VFMADD231PS), "avx2" (ymm, AVX2+FMA), "neon"
// (arm64 ASIMD) or "go" (pure Go, also with the purego build tag).
func Variant() string { return selected.name }

// Sum returns the wrapping uint64 sum of p with the selected read loop,
// the loop Bandwidth times.
func Sum(p []uint64) uint64 { return selected.sum(p) }

// chunkWords bounds one assembly call of the read loop (1 MiB) so that a
// worker never runs long without a preemption point.
const chunkWords = 1 << 17

// fmaIters is the iteration count of one FMA-loop call: a fraction of a
// millisecond for every variant.
const fmaIters = 1 << 15

// BandwidthResult is a read-bandwidth measurement.
type BandwidthResult struct {
	// BytesPerSec is the best timed pass: bytes read over the pass's wall
	// time. STREAM reports the best of its trials too: interference (other
	// processes, page-table walks, a late-starting thread) only ever slows
	// a pass down, so the fastest pass is the closest to what the memory
	// system delivers. Callers that want drift averaged take a median
	// over several calls.
	BytesPerSec float64 `json:"bytes_per_s"`
	// MedianBytesPerSec is the median of the timed passes.
	MedianBytesPerSec float64 `json:"median_bytes_per_s"`
	// Passes holds every timed pass in order, bytes/s.
	Passes []float64 `json:"passes_bytes_per_s"`
	// Bytes is the bytes read per pass (8·len(buf)).
	Bytes   int64 `json:"bytes"`
	Threads int   `json:"threads"`
	// Sum is the wrapping sum of the buffer, returned so the loads
	// cannot be optimised away (and to check the loop).
	Sum     uint64 `json:"sum"`
	Variant string `json:"variant"`
}

// Bandwidth measures the read bandwidth of buf: threads goroutines, each
// locked to its OS thread, sum a contiguous share of buf with the selected
// SIMD read loop, released together. One untimed warm-up pass, then passes
// timed ones; a pass lasts from the first worker's start to the last
// worker's end. buf should be far larger than the last-level cache (e.g.
// 512 MiB, or 8× the L3) and already written once so that its pages are
// mapped; its contents do not matter.
func Bandwidth(buf []uint64, threads, passes int) (BandwidthResult, error) {
	if err := checkArgs(threads, passes); err != nil {
		return BandwidthResult{}, err
	}
	if len(buf) < 8*threads {
		return BandwidthResult{}, fmt.Errorf("roofline: buffer of %d words is too small for %d threads", len(buf), threads)
	}
	k := selected
	// contiguous shares, multiples of 8 words (64 bytes) except the last
	per := len(buf) / threads / 8 * 8
	sums := make([]uint64, threads)
	durs := parallel(threads, passes+1, func(_, w int) {
		lo, hi := w*per, (w+1)*per
		if w == threads-1 {
			hi = len(buf)
		}
		var s uint64
		for i := lo; i < hi; i += chunkWords {
			s += k.sum(buf[i:min(i+chunkWords, hi)])
		}
		sums[w] = s
	})
	r := BandwidthResult{Bytes: 8 * int64(len(buf)), Threads: threads, Variant: k.name}
	for _, d := range durs[1:] {
		r.Passes = append(r.Passes, float64(r.Bytes)/d.Seconds())
	}
	for _, s := range sums {
		r.Sum += s
	}
	r.BytesPerSec = slices.Max(r.Passes)
	r.MedianBytesPerSec = Median(r.Passes)
	return r, nil
}

// FMAResult is a floating-point throughput measurement.
type FMAResult struct {
	// FLOPsPerSec is the best timed pass (2 FLOPs per lane per fused
	// multiply-add), for the reason BandwidthResult.BytesPerSec gives.
	FLOPsPerSec float64 `json:"flops_per_s"`
	// MedianFLOPsPerSec is the median of the timed passes.
	MedianFLOPsPerSec float64 `json:"median_flops_per_s"`
	// Passes holds every timed pass in order, FLOP/s.
	Passes  []float64 `json:"passes_flops_per_s"`
	Threads int       `json:"threads"`
	// Lanes and Accumulators describe the loop: Accumulators independent
	// vector registers of Lanes float32 each, one multiply-add per
	// register per iteration.
	Lanes        int `json:"lanes"`
	Accumulators int `json:"accumulators"`
	// Checksum is the sum of the final accumulators, returned so that
	// the arithmetic is used.
	Checksum float32 `json:"checksum"`
	Variant  string  `json:"variant"`
}

// FMAPeak measures the fused multiply-add throughput of threads
// goroutines, each locked to its OS thread and running the selected FMA
// loop (enough independent accumulators to cover the latency of every FMA
// pipe) for d. One untimed warm-up pass of d (which also lets the clock
// settle), then passes timed ones; a pass's FLOPs are summed over the
// workers and divided by the span from the first start to the last end.
func FMAPeak(threads, passes int, d time.Duration) (FMAResult, error) {
	if err := checkArgs(threads, passes); err != nil {
		return FMAResult{}, err
	}
	if d <= 0 {
		return FMAResult{}, fmt.Errorf("roofline: pass duration %v must be positive", d)
	}
	k := selected
	accs := make([][]float32, threads)
	iters := make([]int64, threads)
	for w := range accs {
		accs[w] = make([]float32, k.accs*k.lanes)
	}
	// products of 1/32·1/32 accumulate without overflow or subnormals;
	// for the go variant (acc = acc·a + b) the sequence converges to 1.
	a, b := make([]float32, k.lanes), make([]float32, k.lanes)
	for i := range a {
		a[i], b[i] = 1.0/32, 1.0/32
	}
	if k.name == "go" {
		a[0], b[0] = 0.999, 0.001
	}
	flops := make([]int64, passes+1)
	var mu sync.Mutex
	durs := parallel(threads, passes+1, func(pass, w int) {
		start := time.Now()
		var n int64
		for time.Since(start) < d {
			k.fma(accs[w], a, b, fmaIters)
			n += fmaIters
		}
		iters[w] += n
		mu.Lock()
		flops[pass] += 2 * int64(k.accs*k.lanes) * n
		mu.Unlock()
	})
	r := FMAResult{Threads: threads, Lanes: k.lanes, Accumulators: k.accs, Variant: k.name}
	for p, dur := range durs[1:] {
		r.Passes = append(r.Passes, float64(flops[p+1])/dur.Seconds())
	}
	for _, acc := range accs {
		for _, v := range acc {
			r.Checksum += v
		}
	}
	r.FLOPsPerSec = slices.Max(r.Passes)
	r.MedianFLOPsPerSec = Median(r.Passes)
	return r, nil
}

func checkArgs(threads, passes int) error {
	switch {
	case threads < 1:
		return fmt.Errorf("roofline: threads %d must be at least 1", threads)
	case passes < 1:
		return fmt.Errorf("roofline: passes %d must be at least 1", passes)
	}
	return nil
}

// parallel runs work(pass, w) for w < threads on threads goroutines, each
// locked to its OS thread for its lifetime, runs times. The workers of a
// pass wait until all are ready and are released together; the result is
// each pass's span from the earliest worker start to the latest worker
// end. work(pass, w) for a given w always runs on the same goroutine, and
// pass p+1 starts after every worker has finished pass p.
func parallel(threads, runs int, work func(pass, w int)) []time.Duration {
	type span struct{ t0, t1 time.Time }
	spans := make([][]span, runs)
	ready := make([]sync.WaitGroup, runs)
	done := make([]sync.WaitGroup, runs)
	gates := make([]chan struct{}, runs)
	for p := range runs {
		spans[p] = make([]span, threads)
		ready[p].Add(threads)
		done[p].Add(threads)
		gates[p] = make(chan struct{})
	}
	for w := range threads {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for p := range runs {
				ready[p].Done()
				<-gates[p]
				t0 := time.Now()
				work(p, w)
				spans[p][w] = span{t0, time.Now()}
				done[p].Done()
			}
		}()
	}
	out := make([]time.Duration, runs)
	for p := range runs {
		ready[p].Wait()
		close(gates[p])
		done[p].Wait()
		t0, t1 := spans[p][0].t0, spans[p][0].t1
		for _, s := range spans[p][1:] {
			if s.t0.Before(t0) {
				t0 = s.t0
			}
			if s.t1.After(t1) {
				t1 = s.t1
			}
		}
		out[p] = max(t1.Sub(t0), time.Nanosecond)
	}
	return out
}

// Median returns the median of x (the mean of the two middle values for
// an even count), without reordering x; NaN for an empty x.
func Median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

var errLength = errors.New("roofline: slice length does not match the loop's shape")

// checkFMA panics unless acc, a and b have the shape of a loop with lanes
// lanes and accs accumulators; the assembly relies on it.
func checkFMA(acc, a, b []float32, lanes, accs int) {
	if len(a) != lanes || len(b) != lanes || len(acc) != lanes*accs {
		panic(errLength)
	}
}
