package search

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/hilsearch/hilsearch/search/pareto"
)

func twoObjSpec() *Spec {
	return &Spec{Objectives: []Objective{{Metric: "params", Direction: Maximize}, {Metric: "decode_ms_p50@x", Direction: Minimize}}}
}

func TestFrontAndHistory(t *testing.T) {
	s := twoObjSpec()
	res := []Result{
		{Number: 0, Outcome: Outcome{Values: []float64{1, 3}}},
		{Number: 1, Outcome: Outcome{Values: []float64{3, 1}, Violation: 1}}, // infeasible
		{Number: 2, Outcome: Outcome{Values: []float64{2, 2}}},
		{Number: 3, Outcome: Outcome{Values: []float64{1, 4}}}, // dominated by 0
		{Number: 4, Outcome: Outcome{Values: []float64{3, 3}}},
	}
	// Minimised, (3,3) is (-3,3) and dominates (1,3) = (-1,3).
	if got := s.Front(res); !slices.Equal(got, []int{2, 4}) {
		t.Fatalf("Front = %v, want [2 4]", got)
	}
	ref := []float64{0, 5} // params > 0, decode < 5
	h := s.HypervolumeHistory(res, ref)
	// Each prefix must match pareto.Hypervolume of its feasible points.
	var feas [][]float64
	for i, r := range res {
		if r.Outcome.Feasible() {
			feas = append(feas, s.Minimized(r.Outcome.Values))
		}
		if want := pareto.Hypervolume(feas, ref); math.Abs(h[i]-want) > 1e-12 {
			t.Fatalf("history[%d] = %g, want %g", i, h[i], want)
		}
	}
	if h[0] != 2 || h[1] != 2 {
		t.Fatalf("history starts %v, want 2, 2 (the infeasible trial adds nothing)", h[:2])
	}
	if h[len(h)-1] != 3*2+2*1 {
		// (-3,3) gives 3·2 = 6 and (-2,2) adds [−2,0]x[2,3] = 2.
		t.Fatalf("final hypervolume %g, want 8", h[len(h)-1])
	}
	order, imp := s.RankByImprovement(res, []Outcome{{Values: []float64{4, 4}}, {Values: []float64{9, 0.5}, Violation: 0.1}, {Values: []float64{2.5, 1}}}, ref)
	if order[0] != 2 || imp[1] != 0 {
		t.Fatalf("RankByImprovement = %v %v", order, imp)
	}
}

// TestSpecRoundTrip checks that a parsed spec marshals to JSON that parses
// to the same spec (the coordinator stores specs as JSON).
func TestSpecRoundTrip(t *testing.T) {
	s, err := Parse([]byte(validJSON))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse(b)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, b)
	}
	b2, _ := json.Marshal(s2)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed the spec:\n%s\n%s", b, b2)
	}
}

func TestValuesJSON(t *testing.T) {
	v := Values{{MetricDecodeP50, 1024}: 12.5, {MetricPeakRSS, 4096}: 300}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"decode_ms_p50:1024":12.5,"peak_rss_mb:4096":300}` {
		t.Fatalf("json %s", b)
	}
	var back Values
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 2 || back[MetricKey{MetricDecodeP50, 1024}] != 12.5 {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"foo:1": 1}`), &back); err == nil {
		t.Fatal("unknown metric accepted")
	}
}

func TestRanksRecommendAndBox(t *testing.T) {
	s := twoObjSpec() // params maximised, decode minimised
	res := []Result{
		{Number: 0, Outcome: Outcome{Values: []float64{100, 1}}},                  // extreme: small and fast
		{Number: 1, Outcome: Outcome{Values: []float64{1000, 10}}},                // extreme: big and slow
		{Number: 2, Outcome: Outcome{Values: []float64{800, 2}}},                  // the knee
		{Number: 3, Outcome: Outcome{Values: []float64{700, 3}}},                  // dominated by 2
		{Number: 4, Outcome: Outcome{Values: []float64{5000, 0.1}, Violation: 2}}, // infeasible
	}
	if got, want := s.Ranks(res), []int{0, 0, 0, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("Ranks = %v, want %v", got, want)
	}
	if got := s.Recommend(res); got != 2 {
		t.Fatalf("Recommend = %d, want 2", got)
	}
	if got := s.Recommend(res[4:]); got != -1 {
		t.Fatalf("Recommend of an infeasible-only front = %d, want -1", got)
	}
	if got := s.Recommend(nil); got != -1 {
		t.Fatalf("Recommend(nil) = %d, want -1", got)
	}
	// Ideal (minimisation form) is (-1000, 1); the box to (0, 11) is 1000·10.
	ref := []float64{0, 11}
	if got := s.HypervolumeBox(res, ref); got != 10000 {
		t.Fatalf("HypervolumeBox = %g, want 10000", got)
	}
	hv := s.HypervolumeHistory(res, ref)
	if f := hv[len(hv)-1] / s.HypervolumeBox(res, ref); !(f > 0 && f <= 1) {
		t.Fatalf("hypervolume fraction %g outside (0, 1]", f)
	}
	if got := s.HypervolumeBox(res[4:], ref); got != 0 {
		t.Fatalf("HypervolumeBox with no feasible result = %g, want 0", got)
	}
}
