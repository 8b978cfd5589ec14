package search

import (
	"fmt"

	"github.com/hilsearch/hilsearch/arch"
)

// AnalyticStandIn is an analytic stand-in for a device, built from arch's
// FLOP and byte counts with a roofline model. It exists only to benchmark
// and test the optimizers without hardware: it is NEVER a measurement, and
// the product must never offer its numbers as measured ones.
//
// Each phase takes max(FLOPs/compute, bytes/bandwidth) plus a fixed
// overhead per forward pass:
//   - prefill of L tokens: FLOPsPrefill(L); all weights plus the KV cache
//     written; prefill_tps = L / time.
//   - decode step at depth D: FLOPsDecode(D); all weights, the KV cache of
//     D tokens and the recurrent state read; decode_ms_p50 = decode_ms_p95 =
//     time (the stand-in has no noise).
//   - ttft_ms at L: prefill(L) plus one decode step at depth L.
//   - peak_rss_mb at context C: arch's MemoryEstimate (f16 KV cache) plus
//     a fixed runtime size.
type AnalyticStandIn struct {
	// Devices holds the modelled device of each target name.
	Devices map[string]StandInDevice
}

// StandInDevice is the roofline of one modelled device.
type StandInDevice struct {
	// GFLOPS is sustained compute in 10⁹ FLOP/s.
	GFLOPS float64
	// GBps is sustained memory bandwidth in 10⁹ B/s.
	GBps float64
	// OverheadMs is the fixed cost of one forward pass.
	OverheadMs float64
	// BaseRSSMB is the runtime's own resident memory in MiB.
	BaseRSSMB float64
}

// DefaultStandIn models a phone-class and a laptop-class CPU with round
// numbers (they are not measurements of any device).
func DefaultStandIn() *AnalyticStandIn {
	return &AnalyticStandIn{Devices: map[string]StandInDevice{
		"phone":  {GFLOPS: 120, GBps: 40, OverheadMs: 0.5, BaseRSSMB: 30},
		"laptop": {GFLOPS: 600, GBps: 80, OverheadMs: 0.2, BaseRSSMB: 40},
	}}
}

// Evaluate returns the stand-in metrics of s for every target of spec at
// every prompt length, depth and context of its workload.
func (a *AnalyticStandIn) Evaluate(spec *Spec, s *arch.Spec) (map[string]Values, error) {
	w := spec.Workload
	weights := float64(s.WeightBytes(w.Precision))
	out := make(map[string]Values, len(spec.Targets))
	for _, t := range spec.Targets {
		dev, ok := a.Devices[t.Name]
		if !ok {
			return nil, fmt.Errorf("analytic stand-in: no modelled device for target %q", t.Name)
		}
		phase := func(flops int64, bytes float64) float64 { // ms
			c := float64(flops) / (dev.GFLOPS * 1e9)
			m := bytes / (dev.GBps * 1e9)
			return 1e3*max(c, m) + dev.OverheadMs
		}
		decode := func(d int) float64 {
			return phase(s.FLOPsDecode(d), weights+float64(s.KVBytes(d, false)+2*s.StateBytes()))
		}
		v := Values{}
		for _, L := range w.PromptLengths {
			p := phase(s.FLOPsPrefill(L), weights+float64(s.KVBytes(L, false)))
			v[MetricKey{MetricPrefillTPS, L}] = float64(L) / (p / 1e3)
			v[MetricKey{MetricTTFT, L}] = p + decode(L)
		}
		for _, d := range w.DecodeDepths {
			v[MetricKey{MetricDecodeP50, d}] = decode(d)
			v[MetricKey{MetricDecodeP95, d}] = decode(d)
		}
		maxPrompt := 0
		for _, L := range w.PromptLengths {
			maxPrompt = max(maxPrompt, L)
		}
		for _, c := range contexts(&w, AtContext) {
			m := s.MemoryEstimate(w.Precision, c, false, min(c, maxPrompt))
			v[MetricKey{MetricPeakRSS, c}] = float64(m.Total)/(1<<20) + dev.BaseRSSMB
		}
		out[t.Name] = v
	}
	return out, nil
}
