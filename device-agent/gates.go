package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// clocksRecovered says whether every cpufreq policy's ceiling
// (scaling_max_freq) is back within hw.DefaultMinClockRatio of its
// hardware maximum; true when no ceiling is readable. A thermal or power
// limit lowers the ceiling, and it outlasts the heat on many phones.
func clocksRecovered(clocks []hw.CoreClock) (bool, string) {
	for _, c := range clocks {
		if c.CapKHz > 0 && c.MaxKHz > 0 && float64(c.CapKHz) < hw.DefaultMinClockRatio*float64(c.MaxKHz) {
			return false, fmt.Sprintf("cpu%d capped at %d of %d MHz", c.CPU, c.CapKHz/1000, c.MaxKHz/1000)
		}
	}
	return true, ""
}

// waitCool waits, bounded by coolMaxWait, until the CPU is within
// coolThreshold °C of its idle baseline and the clocks' ceilings are back
// at their maximum (where readable). It returns what it did, for the
// measurement's gates. Without sensors it returns at once.
func (a *runner) waitCool(ctx context.Context, log *slog.Logger) (g wire.Gates) {
	a.mu.Lock()
	base := a.baseline
	a.mu.Unlock()
	if a.o.coolMaxWait == 0 {
		return g
	}
	sampler := hw.NewSampler(ctx, a.env)
	start := time.Now()
	deadline := start.Add(a.o.coolMaxWait)
	defer func() { g.CooldownWaitMS = time.Since(start).Milliseconds() }()
	for first := true; ; first = false {
		s := hw.TakeSnapshot(ctx, a.env)
		if first && s.CPUTempC != nil {
			v := *s.CPUTempC
			g.CooldownTempC = &v
		}
		warm := base != nil && s.CPUTempC != nil && *s.CPUTempC > *base+a.o.coolThreshold
		recovered, why := clocksRecovered(sampler.Clocks(ctx))
		if !warm && recovered {
			return g
		}
		if time.Now().After(deadline) {
			g.CooldownTimedOut = true
			log.Warn("device still warm or throttled; measuring anyway", "temp_c", deref(s.CPUTempC), "idle_c", deref(base), "clocks", why, "waited", a.o.coolMaxWait)
			return g
		}
		log.Debug("waiting for the device to cool", "temp_c", deref(s.CPUTempC), "idle_c", deref(base), "clocks", why)
		if !sleepCtx(ctx, a.o.coolPoll) {
			return g
		}
	}
}

// batteryGate reads the battery and decides whether a job may start:
// with --min-battery N, not while the device runs on its battery below N %.
// refuse is the reason when it may not. The battery state goes into g.
func (a *runner) batteryGate(ctx context.Context, g *wire.Gates) (refuse string) {
	b := hw.NewSampler(ctx, a.env).Battery(ctx)
	g.MinBatteryPercent = a.o.minBattery
	if b == nil {
		return ""
	}
	g.BatteryPercent, g.Plugged, g.Charging = b.CapacityPercent, b.Plugged, b.Status == "Charging"
	onBattery := (b.Plugged == nil || !*b.Plugged) && b.Status != "Charging" && b.Status != "Full"
	if a.o.minBattery > 0 && onBattery && b.CapacityPercent != nil && *b.CapacityPercent < a.o.minBattery {
		return fmt.Sprintf("on battery at %d %%, below --min-battery %d %%", *b.CapacityPercent, a.o.minBattery)
	}
	return ""
}

// recordGates puts the agent's gate record into a measurement, keeping
// what the child found (a power change mid-row).
func recordGates(m *wire.Measurement, g wire.Gates) {
	if m == nil {
		return
	}
	if m.Gates != nil {
		g.PowerChanged = g.PowerChanged || m.Gates.PowerChanged
	}
	m.Gates = &g
}

// deref is *p for logging, nil when p is.
func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
