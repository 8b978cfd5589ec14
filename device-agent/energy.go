package agent

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
)

// batteryPoll is how often the battery's current and voltage are read
// during a timed phase (the fuel gauge averages over about that long).
const batteryPoll = 100 * time.Millisecond

// energyMeter measures the energy of timed phases. Its source is chosen
// once, from what the sampler found:
//   - RAPL (Linux powercap): the package zones' counters (or the platform
//     "psys" zone alone, which contains them) read at the edges of the
//     phase; exact to the counter's resolution.
//   - the battery (power_supply): |current × voltage| sampled every
//     batteryPoll by a goroutine during the phase and integrated
//     (trapezoids); the whole device's draw, and only while the device runs
//     on its battery (on external power the battery current is not the
//     device's draw).
//
// Without either, reason says why. An energyMeter is used by one
// goroutine (its poller is internal).
type energyMeter struct {
	ctx    context.Context
	s      *hw.Sampler
	source string
	reason string
	zones  map[string]bool // RAPL zones counted

	// one phase
	raplBefore []hw.EnergyCounter
	stop       chan struct{}
	done       chan struct{}
	mu         sync.Mutex
	joules     float64
	last       float64
	lastAt     time.Time
	lost       string // why the phase's battery figure is unusable
}

// newEnergyMeter picks the source of s.
func newEnergyMeter(ctx context.Context, s *hw.Sampler) *energyMeter {
	e := &energyMeter{ctx: ctx, s: s}
	if zones := raplZones(s.Energy(ctx)); len(zones) > 0 {
		e.zones = map[string]bool{}
		names := make([]string, 0, len(zones))
		for _, z := range zones {
			e.zones[z.Zone] = true
			n := z.Name
			if n == "" {
				n = z.Zone
			}
			names = append(names, n)
		}
		e.source = "rapl:" + strings.Join(names, "+")
		return e
	}
	b := s.Battery(ctx)
	switch {
	case b == nil:
		e.reason = "no energy source: no readable RAPL counter (Linux powercap, root only since Linux 5.10) and no battery"
		for _, n := range s.Notes {
			if strings.HasPrefix(n, "powercap:") {
				e.reason = "no energy source: " + n + "; no battery"
			}
		}
	case b.CurrentMicroA == nil || b.VoltageMicroV == nil:
		e.reason = "no energy source: the battery reports no current_now/voltage_now and there is no readable RAPL counter"
	default:
		e.source = "battery"
	}
	return e
}

// raplZones picks the counters that add up to the CPU's energy without
// counting twice: the platform zone "psys" alone when present (it
// includes the packages), else the top-level zones (intel-rapl:N,
// amd-rapl:N), whose subzones (core, uncore, dram) they contain.
func raplZones(all []hw.EnergyCounter) []hw.EnergyCounter {
	var top []hw.EnergyCounter
	for _, z := range all {
		if z.Name == "psys" {
			return []hw.EnergyCounter{z}
		}
		if strings.Count(z.Zone, ":") == 1 {
			top = append(top, z)
		}
	}
	return top
}

// available says whether the meter has a source.
func (e *energyMeter) available() bool { return e.source != "" }

// begin starts a phase.
func (e *energyMeter) begin() {
	switch {
	case e.zones != nil:
		e.raplBefore = e.s.Energy(e.ctx)
	case e.source == "battery":
		e.joules, e.lost = 0, ""
		e.lastAt = time.Now()
		e.last, e.lost = e.batteryW()
		e.stop, e.done = make(chan struct{}), make(chan struct{})
		go e.poll(e.stop, e.done)
	}
}

// poll integrates the battery's power until stop closes.
func (e *energyMeter) poll(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(batteryPoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			e.mu.Lock()
			e.step()
			e.mu.Unlock()
		}
	}
}

// step adds the trapezoid from the last reading to one taken now.
func (e *energyMeter) step() {
	w, lost := e.batteryW()
	now := time.Now()
	if lost != "" && e.lost == "" {
		e.lost = lost
	}
	e.joules += (e.last + w) / 2 * now.Sub(e.lastAt).Seconds()
	e.last, e.lastAt = w, now
}

// batteryW reads the battery's power in watts, with a reason when it is
// not the device's draw.
func (e *energyMeter) batteryW() (float64, string) {
	b := e.s.Battery(e.ctx)
	w, ok := b.PowerW()
	switch {
	case !ok:
		return 0, "the battery's current or voltage became unreadable"
	case b.Plugged != nil && *b.Plugged:
		return w, "on external power: the battery current is not the device's draw"
	case b.Status == "Charging" || b.Status == "Full":
		return w, "battery status " + b.Status + ": the battery current is not the device's draw"
	}
	return w, ""
}

// end finishes a phase and returns its energy in joules; ok is false (with
// a reason) when the phase has no usable figure.
func (e *energyMeter) end() (joules float64, reason string, ok bool) {
	switch {
	case e.zones != nil:
		after := e.s.Energy(e.ctx)
		var uj int64
		for _, b := range e.raplBefore {
			if !e.zones[b.Zone] {
				continue
			}
			found := false
			for _, a := range after {
				if a.Zone == b.Zone {
					d, ok := hw.EnergyUsedMicroJ(b, a)
					if !ok {
						return 0, "RAPL counter " + b.Zone + " went back without a known range", false
					}
					uj += d
					found = true
				}
			}
			if !found {
				return 0, "RAPL counter " + b.Zone + " became unreadable", false
			}
		}
		return float64(uj) * 1e-6, "", true
	case e.source == "battery":
		close(e.stop)
		<-e.done
		e.mu.Lock()
		defer e.mu.Unlock()
		e.step()
		if e.lost != "" {
			return 0, e.lost, false
		}
		return e.joules, "", true
	}
	return 0, e.reason, false
}

// rowEnergy collects a row's per-repetition energies.
type rowEnergy struct {
	m       *energyMeter
	tokens  int
	samples []float64 // mJ per token, of kept repetitions
	pending float64
	ok      bool
	reason  string
}

// newRowEnergy starts collecting for a row of tokens tokens per repetition.
func (e *energyMeter) row(tokens int) *rowEnergy {
	return &rowEnergy{m: e, tokens: tokens}
}

// begin and end bracket one timed phase.
func (r *rowEnergy) begin() {
	if r.m.available() {
		r.m.begin()
	}
}

func (r *rowEnergy) end() {
	r.ok = false
	if !r.m.available() {
		return
	}
	j, reason, ok := r.m.end()
	if !ok {
		r.reason = reason
		return
	}
	r.pending, r.ok = j*1000/float64(r.tokens), true
}

// keep records the last phase's figure (its repetition was kept).
func (r *rowEnergy) keep() {
	if r.ok {
		r.samples = append(r.samples, r.pending)
	}
}

// result is the row's wire form.
func (r *rowEnergy) result(kept int) *wire.Energy {
	if !r.m.available() {
		return &wire.Energy{Unavailable: r.m.reason}
	}
	e := &wire.Energy{Source: r.m.source}
	if len(r.samples) < kept || len(r.samples) == 0 {
		e.Unavailable = "energy missing for some repetitions: " + r.reason
		return e
	}
	st, err := statOf(r.samples)
	if err != nil {
		e.Unavailable = err.Error()
		return e
	}
	e.MJPerToken = &st
	return e
}
