package search

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExcessNoiseRecoversDrift draws repeated measurements whose runs
// scatter by a known relative drift on top of a small within-run spread
// and checks that ExcessNoise recovers the drift.
func TestExcessNoiseRecoversDrift(t *testing.T) {
	for _, drift := range []float64{0, 0.05, 0.10, 0.20} {
		rng := rand.New(rand.NewPCG(1, uint64(1000*drift)))
		const within = 0.01
		var groups [][]Repeat
		for g := 0; g < 400; g++ {
			truth := 1 + 10*rng.Float64()
			var rs []Repeat
			for i := 0; i < 2+g%2; i++ {
				v := truth * (1 + drift*rng.NormFloat64() + within*rng.NormFloat64())
				rs = append(rs, Repeat{Value: v, Std: within * v})
			}
			groups = append(groups, rs)
		}
		r, dof := ExcessNoise(groups)
		if dof != 600 {
			t.Errorf("drift %.2f: dof %d, want 600", drift, dof)
		}
		tol := 0.2 * drift
		if drift == 0 {
			tol = 0.005
		}
		if math.Abs(r-drift) > tol {
			t.Errorf("drift %.2f: estimated %.4f", drift, r)
		}
	}
}

func TestExcessNoiseEdges(t *testing.T) {
	if r, dof := ExcessNoise(nil); r != 0 || dof != 0 {
		t.Errorf("no groups: %g, %d", r, dof)
	}
	// Single measurements and unusable values carry no information.
	if r, dof := ExcessNoise([][]Repeat{{{Value: 1}}, {{Value: 2}, {Value: math.Inf(1)}}, {{Value: -1}, {Value: 3}}}); r != 0 || dof != 0 {
		t.Errorf("no repeats: %g, %d", r, dof)
	}
	// Repeats that agree within their own spread: no excess.
	if r, _ := ExcessNoise([][]Repeat{{{10, 1}, {10.5, 1}}, {{20, 2}, {19, 2}}}); r != 0 {
		t.Errorf("agreeing repeats: r = %g, want 0", r)
	}
	// Repeats with no stated spread that differ: the excess explains all
	// of it. Two values 10% apart around their mean: (±0.05·m)² each, so
	// r² = 2·0.05² / 1 → r = 0.0707.
	r, dof := ExcessNoise([][]Repeat{{{Value: 0.95}, {Value: 1.05}}})
	if dof != 1 || math.Abs(r-0.05*math.Sqrt2) > 1e-9 {
		t.Errorf("two values 10%% apart: r = %.6f (dof %d), want %.6f", r, dof, 0.05*math.Sqrt2)
	}
	if got := WithExcessNoise(10, 0.3, 0.04); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("WithExcessNoise(10, 0.3, 0.04) = %g, want 0.5", got)
	}
}

// TestExcessNoiseByKey: each metric's drift is recovered from networks
// measured twice, a metric with too few repeats is left out, and the
// inflated spreads of a measurement and of objectives follow.
func TestExcessNoiseByKey(t *testing.T) {
	dec := MetricKey{Metric: MetricDecodeP50, At: 0}
	pre := MetricKey{Metric: MetricPrefillTPS, At: 128}
	rare := MetricKey{Metric: MetricTTFT, At: 128}
	rng := rand.New(rand.NewPCG(7, 18))
	var groups [][]ValuesRepeat
	for g := 0; g < 300; g++ {
		td, tp := 5+20*rng.Float64(), 100+900*rng.Float64()
		var reps []ValuesRepeat
		for range 2 {
			d := td * (1 + 0.10*rng.NormFloat64() + 0.01*rng.NormFloat64())
			p := tp * (1 + 0.03*rng.NormFloat64() + 0.01*rng.NormFloat64())
			v, sd := Values{dec: d, pre: p}, Values{dec: 0.01 * d, pre: 0.01 * p}
			if g < MinExcessNoiseDOF-1 {
				v[rare], sd[rare] = 1+rng.Float64(), 0.001
			}
			reps = append(reps, ValuesRepeat{Values: v, Std: sd})
		}
		groups = append(groups, reps)
	}
	r, dof := ExcessNoiseByKey(groups)
	if math.Abs(r[dec]-0.10) > 0.02 || math.Abs(r[pre]-0.03) > 0.008 || dof[dec] != 300 || dof[pre] != 300 {
		t.Fatalf("decode %.4f (dof %d), prefill %.4f (dof %d); want 0.10 and 0.03 over 300", r[dec], dof[dec], r[pre], dof[pre])
	}
	if _, ok := r[rare]; ok || dof[rare] != 0 {
		t.Fatalf("a metric with %d differences got an estimate %g", MinExcessNoiseDOF-1, r[rare])
	}

	noise := map[string]Values{"dev": {dec: 0.1}}
	got := InflateStd(Values{dec: 20, pre: 500}, Values{dec: 0.3, pre: 5}, noise["dev"])
	if math.Abs(got[dec]-math.Hypot(0.3, 2)) > 1e-12 || got[pre] != 5 {
		t.Fatalf("inflated spreads %v", got)
	}
	s := &Spec{Objectives: []Objective{{Metric: "decode_ms_p50@dev", At: 0, Direction: Minimize}, {Metric: "params", Direction: Maximize}}}
	std := s.InflateObjectiveStd([]float64{0.3, 0}, []float64{20, 3.5e8}, noise)
	if math.Abs(std[0]-math.Hypot(0.3, 2)) > 1e-12 || std[1] != 0 {
		t.Fatalf("inflated objective spreads %v", std)
	}
	if std := s.InflateObjectiveStd([]float64{0.3, 0}, []float64{20, 3.5e8}, nil); std[0] != 0.3 {
		t.Fatalf("no noise estimate changed the spread: %v", std)
	}
}
