package agent

import (
	"context"
	"runtime"

	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// guard judges each timed repetition by the clocks and temperatures
// sampled just before and just after it (hw.Sampler, hw.DetectThrottle):
// a repetition during which a used core ran below DefaultMinClockRatio of
// its reference clock, or its ceiling was lowered below that, or the CPU
// temperature reached the kernel's passive trip point, is throttled. The
// timing loop discards it and runs another, at most maxDiscard times per
// row.
//
// The reference clock is cpuinfo_max_freq on Arm (a cluster's clock is
// shared and its maximum holds with every core busy) and, on x86, the
// fastest clock a warm-up of this job ran at: boost clocks above the
// all-core clock are reached by one or two cores only, so the hardware
// maximum would condemn every repetition. (A laptop already throttled at
// its first warm-up is therefore not caught on x86; its temperature may
// be.)
type guard struct {
	ctx        context.Context
	s          *hw.Sampler
	used       []int
	lim        hw.ThrottleLimits
	maxDiscard int
	warmRef    bool
}

// newGuard samples env's sources for the CPUs used (all CPUs when the
// workers are not placed).
func newGuard(ctx context.Context, env hw.Env, used []int, maxDiscard int) *guard {
	g := &guard{ctx: ctx, s: hw.NewSampler(ctx, env), used: used, maxDiscard: maxDiscard,
		warmRef: env.GOARCH == "amd64" || env.GOARCH == "386" || (env.GOARCH == "" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "386"))}
	if c, ok := g.s.ThrottlePointC(); ok {
		g.lim.ThrottleC = c
	}
	return g
}

// sample reads the clocks and temperatures now.
func (g *guard) sample() hw.Sample { return g.s.Sample(g.ctx) }

// reference raises the reference clocks to those read right after a
// warm-up (x86 only, see guard).
func (g *guard) reference() {
	if !g.warmRef {
		return
	}
	if g.lim.ReferenceKHz == nil {
		g.lim.ReferenceKHz = map[int]int64{}
	}
	for _, c := range g.s.Clocks(g.ctx) {
		g.lim.ReferenceKHz[c.CPU] = max(g.lim.ReferenceKHz[c.CPU], c.CurKHz)
	}
}

// judge says whether the repetition between before and after ran
// throttled.
func (g *guard) judge(before, after hw.Sample) hw.ThrottleVerdict {
	used := g.used
	if len(used) == 0 {
		for _, c := range after.Clocks {
			used = append(used, c.CPU)
		}
	}
	return hw.DetectThrottle(before, after, used, g.lim)
}
