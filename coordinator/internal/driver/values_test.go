package driver

import (
	"math"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/workload"
)

// TestValuesPeakPerContext: with per-context peaks each context gets its
// row's own peak_rss_mb; without, every context gets the job's peak.
func TestValuesPeakPerContext(t *testing.T) {
	w := workload.Workload{PromptLengths: []int{512}, DecodeDepths: []int{8192}}
	m := &wire.Measurement{PeakRSSBytes: 300 << 20,
		Prefill: []wire.PrefillResult{{PromptLength: 512, Row: wire.Row{PeakRSSBytes: 200 << 20}}},
		Decode:  []wire.DecodeResult{{Depth: 8192, Row: wire.Row{PeakRSSBytes: 300 << 20}}}}
	key := func(at int) search.MetricKey { return search.MetricKey{Metric: search.MetricPeakRSS, At: at} }
	v := Values(m, w)
	if v[key(512)] != 300 || v[key(8192)] != 300 {
		t.Fatalf("without per-context peaks: %v %v, want the job's 300 at both", v[key(512)], v[key(8192)])
	}
	m.PeakRSSPerContext = true
	v = Values(m, w)
	if v[key(512)] != 200 || v[key(8192)] != 300 {
		t.Fatalf("per-context peaks: %v %v, want 200 and 300", v[key(512)], v[key(8192)])
	}
}

// TestValuesEnergy: a row's energy median is its energy metric; a row
// without one gives no value, and EnergyMissing gives the agent's reason
// only for the energy metrics the spec refers to.
func TestValuesEnergy(t *testing.T) {
	w := workload.Workload{PromptLengths: []int{512}, DecodeDepths: []int{0, 4096}}
	m := &wire.Measurement{AgentVersion: "v", Prefill: []wire.PrefillResult{{PromptLength: 512, Row: wire.Row{Energy: &wire.Energy{Source: "stand-in", MJPerToken: &wire.Stat{Median: 0.5}}}}},
		Decode: []wire.DecodeResult{{Depth: 0, Row: wire.Row{Energy: &wire.Energy{Source: "stand-in", MJPerToken: &wire.Stat{Median: 7}}}},
			{Depth: 4096, Row: wire.Row{Energy: &wire.Energy{Unavailable: "no battery"}}}}}
	v := Values(m, w)
	if got := v[search.MetricKey{Metric: search.MetricPrefillEnergy, At: 512}]; got != 0.5 {
		t.Fatalf("prefill energy %v, want 0.5", got)
	}
	if got := v[search.MetricKey{Metric: search.MetricDecodeEnergy, At: 0}]; got != 7 {
		t.Fatalf("decode energy at 0: %v, want 7", got)
	}
	if _, ok := v[search.MetricKey{Metric: search.MetricDecodeEnergy, At: 4096}]; ok {
		t.Fatal("decode energy at 4096 has a value, but the row's energy is unavailable")
	}
	spec := func(at int) *search.Spec {
		return &search.Spec{Objectives: []search.Objective{{Metric: "decode_energy_mj_per_token@phone", At: at}}}
	}
	if why := EnergyMissing(m, spec(0), "phone"); why != "" {
		t.Fatalf("depth 0 has energy, yet %q", why)
	}
	if why := EnergyMissing(m, spec(4096), "phone"); why != "decode_energy_mj_per_token at 4096: energy unavailable on this device: no battery" {
		t.Fatalf("depth 4096: %q", why)
	}
	if why := EnergyMissing(m, spec(4096), "laptop"); why != "" {
		t.Fatalf("another target's spec: %q", why)
	}
}

// TestValuesSpread: each timed value's spread is its row's relative
// spread of the median times the value; peak RSS has none.
func TestValuesSpread(t *testing.T) {
	w := workload.Workload{PromptLengths: []int{64}, DecodeDepths: []int{0}}
	m := &wire.Measurement{PeakRSSBytes: 100 << 20,
		Prefill: []wire.PrefillResult{{PromptLength: 64, TokensPerSec: wire.Stat{Median: 200, RelSpread: 0.05}, TTFTms: wire.Stat{Median: 40, RelSpread: 0.1}}},
		Decode:  []wire.DecodeResult{{Depth: 0, MsPerToken: wire.Stat{P50: 10, P95: 12, RelSpread: 0.02}}}}
	v, sd := ValuesSpread(m, w)
	for k, want := range map[search.MetricKey][2]float64{
		{Metric: search.MetricPrefillTPS, At: 64}: {200, 10},
		{Metric: search.MetricTTFT, At: 64}:       {40, 4},
		{Metric: search.MetricDecodeP50, At: 0}:   {10, 0.2},
		{Metric: search.MetricDecodeP95, At: 0}:   {12, 0.24},
		{Metric: search.MetricPeakRSS, At: 64}:    {100, 0},
	} {
		if v[k] != want[0] || math.Abs(sd[k]-want[1]) > 1e-12 {
			t.Errorf("%s: %g ± %g, want %g ± %g", k, v[k], sd[k], want[0], want[1])
		}
	}
}

// TestRemeasureReleased: the bound is released in proportion to the
// trials completed, rounded up, and whole at the end.
func TestRemeasureReleased(t *testing.T) {
	for _, c := range []struct{ bound, complete, trials, want int }{
		{4, 0, 16, 0}, {4, 1, 16, 1}, {4, 4, 16, 1}, {4, 5, 16, 2}, {4, 15, 16, 4}, {4, 16, 16, 4}, {4, 20, 16, 4}, {3, 1, 0, 3},
	} {
		if got := remeasureReleased(c.bound, c.complete, c.trials); got != c.want {
			t.Errorf("remeasureReleased(%d, %d, %d) = %d, want %d", c.bound, c.complete, c.trials, got, c.want)
		}
	}
}
