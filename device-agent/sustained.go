package agent

import (
	"context"
	"math"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// powerState names a battery sample's power state for change detection:
// plugged in or not, and the battery status. "" without a battery.
func powerState(b *hw.BatterySample) string {
	if b == nil {
		return "-"
	}
	p := "battery"
	if b.Plugged != nil && *b.Plugged {
		p = "plugged"
	}
	return p + "/" + b.Status
}

// sustainedWindow is the length of one window of a sustained run of
// length total: a twentieth of the run, between 0.5 s and 10 s.
func sustainedWindow(total time.Duration) time.Duration {
	return min(max(total/20, 500*time.Millisecond), 10*time.Second)
}

// sustainedSpan is the span over which the first and last speeds of a
// run of length total are taken: a minute, or a third of a shorter run.
func sustainedSpan(total time.Duration) time.Duration {
	return min(time.Minute, total/3)
}

// sustained decodes at depth d without pause for total: it restores the
// depth's snapshot every n tokens (untimed) and times each token, and
// reports the tokens/s of each window, of the first and of the last span,
// and whether the guard found a window throttled. The caches must be
// sized for d+n (timing.context).
func (b *timing) sustained(ctx context.Context, d, n int, total time.Duration) (*wire.Sustained, error) {
	b.model.Reset()
	if d > 0 {
		if _, err := b.model.Prefill(b.tokens[:d]); err != nil {
			return nil, err
		}
	}
	snap := b.model.Snapshot()
	win := sustainedWindow(total)
	span := sustainedSpan(total)
	out := &wire.Sustained{Depth: d, Tokens: n, WindowSeconds: win.Seconds(), SpanSeconds: span.Seconds()}

	// Each token's end time and its decode time, for the spans.
	type tok struct {
		at  time.Duration
		dur time.Duration
	}
	var toks []tok
	en := b.energy
	if en.available() {
		en.begin()
	}
	start := time.Now()
	winStart := start
	winSample := b.guard.sample()
	var winTokens int
	var winBusy time.Duration
	closeWindow := func(now time.Time) {
		after := b.guard.sample()
		w := wire.SustainedWindow{StartSeconds: winStart.Sub(start).Seconds(), Tokens: winTokens}
		if winBusy > 0 {
			w.TokensPerSec = float64(winTokens) / winBusy.Seconds()
		}
		w.Throttled = b.guard.judge(winSample, after).Throttled
		w.MinClockMHz = minUsedClockMHz(after, b.guard.used)
		if c, ok := hw.CPUTempC(after.Thermal); ok {
			w.MaxTempC = c
		}
		out.Throttled = out.Throttled || w.Throttled
		out.Windows = append(out.Windows, w)
		winStart, winSample, winTokens, winBusy = now, after, 0, 0
	}
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if i%n == 0 {
			if err := b.model.RestoreSnapshot(snap); err != nil {
				return nil, err
			}
		}
		t0 := time.Now()
		if _, err := b.model.Decode(b.tokens[(d+i%n)%len(b.tokens)]); err != nil {
			return nil, err
		}
		t1 := time.Now()
		toks = append(toks, tok{at: t1.Sub(start), dur: t1.Sub(t0)})
		winTokens++
		winBusy += t1.Sub(t0)
		if t1.Sub(winStart) >= win {
			closeWindow(t1)
		}
		if t1.Sub(start) >= total {
			break
		}
	}
	elapsed := time.Since(start)
	if winTokens > 0 {
		closeWindow(time.Now())
	}
	out.Seconds = elapsed.Seconds()
	rate := func(from, to time.Duration) float64 {
		var k int
		var busy time.Duration
		for _, t := range toks {
			if t.at > from && t.at <= to {
				k++
				busy += t.dur
			}
		}
		if busy <= 0 {
			return 0
		}
		return float64(k) / busy.Seconds()
	}
	out.FirstTPS = rate(0, span)
	out.LastTPS = rate(elapsed-span, elapsed)
	if out.FirstTPS > 0 {
		out.Ratio = out.LastTPS / out.FirstTPS
	}
	if en.available() {
		e := &wire.Energy{Source: en.source}
		if j, reason, ok := en.end(); ok {
			v := j * 1000 / float64(len(toks))
			e.MJPerToken = &wire.Stat{Median: v, Mean: v, Min: v, Max: v, P50: v, P95: v, Samples: []float64{v}}
		} else {
			e.Unavailable = reason
		}
		out.Energy = e
	} else {
		out.Energy = &wire.Energy{Unavailable: en.reason}
	}
	return out, nil
}

// minUsedClockMHz is the lowest current clock among the used CPUs (all
// CPUs when used is empty), 0 when none is readable.
func minUsedClockMHz(s hw.Sample, used []int) float64 {
	lo := math.Inf(1)
	for _, c := range s.Clocks {
		if c.CurKHz <= 0 {
			continue
		}
		if len(used) > 0 && !containsInt(used, c.CPU) {
			continue
		}
		lo = min(lo, float64(c.CurKHz)/1000)
	}
	if math.IsInf(lo, 1) {
		return 0
	}
	return lo
}

func containsInt(v []int, x int) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}
