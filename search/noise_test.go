package search

import (
	"slices"
	"testing"
)

func noisySpec() *Spec {
	return &Spec{
		Targets:    []Target{{Name: "dev", Class: "x"}},
		Objectives: []Objective{{Metric: "decode_ms_p50@dev", At: 0, Direction: Minimize}, {Metric: "prefill_tps@dev", At: 0, Direction: Maximize}},
	}
}

func nr(n int, a, b, sa, sb float64) NoisyResult {
	return NoisyResult{Result: Result{Number: n, Outcome: Outcome{Values: []float64{a, b}}}, Std: []float64{sa, sb}}
}

func TestNoisyFront(t *testing.T) {
	s := noisySpec()
	// Minimising latency, maximising throughput.
	res := []NoisyResult{
		nr(0, 10, 100, 0.1, 1), // front, clear of everyone
		nr(1, 5, 50, 0.1, 1),   // front; trial 2 is close behind
		nr(2, 5.1, 49.5, 0.1, 1),
		nr(3, 20, 40, 0.1, 1), // far behind: certainly dominated
		nr(4, 3, 10, 0, 0),    // front, exact
	}
	got := map[int]NoiseVerdict{}
	for _, v := range s.NoisyFront(res, 2) {
		got[v.Number] = v
	}
	want := map[int][2]bool{0: {true, false}, 1: {true, true}, 2: {false, true}, 3: {false, false}, 4: {true, false}}
	for n, w := range want {
		if g := got[n]; g.OnFront != w[0] || g.Ambiguous != w[1] {
			t.Errorf("trial %d: on front %v ambiguous %v, want %v %v", n, g.OnFront, g.Ambiguous, w[0], w[1])
		}
	}
	if got[1].Neighbour != 2 || got[2].Neighbour != 1 {
		t.Errorf("neighbours %d, %d; want 2, 1", got[1].Neighbour, got[2].Neighbour)
	}
	// Narrower intervals resolve the pair.
	for _, v := range s.NoisyFront(res, 0.1) {
		if v.Ambiguous {
			t.Errorf("z=0.1: trial %d still ambiguous", v.Number)
		}
	}
}

func TestRemeasureIsBounded(t *testing.T) {
	s := noisySpec()
	res := []NoisyResult{
		nr(0, 10, 100, 0.1, 1),
		nr(1, 5, 50, 0.5, 3),
		nr(2, 5.1, 49.5, 0.5, 3),
		nr(3, 7, 70, 0.5, 5),
		nr(4, 7.2, 69, 0.5, 5),
	}
	ref := []float64{30, 0}
	all := s.ChooseRemeasure(res, ref, RemeasureOptions{Budget: 10})
	if len(all) == 0 {
		t.Fatal("nothing to re-measure")
	}
	// Front members come before dominated trials.
	if !slices.Contains(all[:2], 1) && !slices.Contains(all[:2], 3) {
		t.Errorf("order %v: want ambiguous front members first", all)
	}
	if got := s.ChooseRemeasure(res, ref, RemeasureOptions{Budget: 2}); len(got) != 2 || !slices.Equal(got, all[:2]) {
		t.Errorf("budget 2: %v, want %v", got, all[:2])
	}
	for i := range res {
		res[i].Remeasured = DefaultMaxRemeasure
	}
	if got := s.ChooseRemeasure(res, ref, RemeasureOptions{Budget: 10}); len(got) != 0 {
		t.Errorf("trials at their re-measure limit were chosen again: %v", got)
	}
	if got := s.ChooseRemeasure(res, ref, RemeasureOptions{Budget: 0}); got != nil {
		t.Errorf("no budget, got %v", got)
	}
}

func TestPoolRepeats(t *testing.T) {
	m, sd := PoolRepeats(10, 1, 12, 1)
	if m != 11 || sd > 0.71 || sd < 0.70 {
		t.Errorf("pool = %g ± %g", m, sd)
	}
	if m, _ := PoolRepeats(10, 0, 20, 0); m != 15 {
		t.Errorf("pool without spreads = %g", m)
	}
}

func TestObjectiveStd(t *testing.T) {
	s := noisySpec()
	s.Objectives = append(s.Objectives, Objective{Metric: "params", Direction: Maximize})
	sd := s.ObjectiveStd(map[string]Values{"dev": {{Metric: MetricDecodeP50}: 0.5}})
	if !slices.Equal(sd, []float64{0.5, 0, 0}) {
		t.Errorf("std %v, want [0.5 0 0] (prefill's spread unknown, params exact)", sd)
	}
}
