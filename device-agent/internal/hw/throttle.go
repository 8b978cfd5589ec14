package hw

import (
	"fmt"
	"slices"
)

// DefaultMinClockRatio is the share of its reference clock below which a
// used core counts as throttled.
const DefaultMinClockRatio = 0.9

// ThrottleLimits say when a repetition counts as throttled.
type ThrottleLimits struct {
	// MinClockRatio is the share of the reference clock a used core must
	// keep; values outside (0, 1] mean DefaultMinClockRatio.
	MinClockRatio float64
	// ReferenceKHz is each CPU's expected clock under load, e.g. what the
	// warm-up ran at. CPUs without an entry use cpuinfo_max_freq, which
	// suits phones (a cluster's clock is shared, so its maximum holds with
	// every core busy) but not x86 boost clocks, which only one or two
	// cores reach.
	ReferenceKHz map[int]int64
	// ThrottleC is the temperature (°C, of the hottest CPU sensor, see
	// CPUTempC) that counts as throttling; 0 checks no temperature. The
	// Sampler's ThrottlePointC is the kernel's own point.
	ThrottleC float64
}

// ThrottleVerdict is DetectThrottle's answer.
type ThrottleVerdict struct {
	// Throttled is set when any reason was found.
	Throttled bool `json:"throttled"`
	// Reasons says, for people, what was too slow or too hot.
	Reasons []string `json:"reasons,omitempty"`
	// ClockChecked says whether any used core had a clock to compare;
	// TempChecked whether a CPU temperature was read while ThrottleC was
	// set. A verdict with neither could not tell.
	ClockChecked bool `json:"clock_checked"`
	TempChecked  bool `json:"temp_checked"`
}

// DetectThrottle judges one repetition from the samples taken just before
// and just after it, for the CPUs its workers used. A used core is
// throttled when its clock in the after sample, or its ceiling
// (scaling_max_freq) in either sample, is below MinClockRatio of its
// reference clock; the repetition is also throttled when the CPU
// temperature of either sample reached ThrottleC. The before sample's
// clocks are not judged: an idle core between repetitions runs slow by
// design. The after sample must be taken while the workers are still
// busy (or right at the end of the timed region), since governors lower
// idle clocks within milliseconds.
func DetectThrottle(before, after Sample, used []int, lim ThrottleLimits) ThrottleVerdict {
	ratio := lim.MinClockRatio
	if ratio <= 0 || ratio > 1 {
		ratio = DefaultMinClockRatio
	}
	var v ThrottleVerdict
	add := func(format string, args ...any) {
		v.Throttled = true
		v.Reasons = append(v.Reasons, fmt.Sprintf(format, args...))
	}
	clockOf := func(s Sample, cpu int) (CoreClock, bool) {
		i := slices.IndexFunc(s.Clocks, func(c CoreClock) bool { return c.CPU == cpu })
		if i < 0 {
			return CoreClock{}, false
		}
		return s.Clocks[i], true
	}
	cpus := slices.Clone(used)
	slices.Sort(cpus)
	for _, cpu := range slices.Compact(cpus) {
		a, ok := clockOf(after, cpu)
		ref := lim.ReferenceKHz[cpu]
		if ref <= 0 {
			ref = a.MaxKHz
		}
		if !ok || ref <= 0 {
			continue
		}
		floor := ratio * float64(ref)
		if a.CurKHz > 0 {
			v.ClockChecked = true
			if float64(a.CurKHz) < floor {
				add("cpu%d ran at %d MHz, below %.0f%% of %d MHz", cpu, a.CurKHz/1000, 100*ratio, ref/1000)
			}
		}
		ceiling := a.CapKHz
		if b, ok := clockOf(before, cpu); ok && b.CapKHz > 0 && (ceiling == 0 || b.CapKHz < ceiling) {
			ceiling = b.CapKHz
		}
		if ceiling > 0 {
			v.ClockChecked = true
			if float64(ceiling) < floor {
				add("cpu%d capped at %d MHz (scaling_max_freq), below %.0f%% of %d MHz", cpu, ceiling/1000, 100*ratio, ref/1000)
			}
		}
	}
	if lim.ThrottleC > 0 {
		for _, s := range []struct {
			when string
			s    Sample
		}{{"before", before}, {"after", after}} {
			c, ok := CPUTempC(s.s.Thermal)
			if !ok {
				continue
			}
			v.TempChecked = true
			if c >= lim.ThrottleC {
				add("CPU temperature %.1f °C %s the repetition reached the throttle point %.1f °C", c, s.when, lim.ThrottleC)
			}
		}
	}
	return v
}
