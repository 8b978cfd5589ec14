package search

import (
	"github.com/hilsearch/hilsearch/search/pareto"
)

// Front returns the indices (into results) of the Pareto front under
// constrained domination: the non-dominated feasible results, or, when no
// result is feasible, those with the smallest violation.
func (s *Spec) Front(results []Result) []int {
	pts := make([][]float64, len(results))
	viol := make([]float64, len(results))
	for i, r := range results {
		pts[i], viol[i] = s.Minimized(r.Outcome.Values), r.Outcome.Violation
	}
	return pareto.ConstrainedFront(pts, viol)
}

// HypervolumeHistory returns, for each prefix results[:i+1], the
// hypervolume of its feasible outcomes with respect to ref (minimisation
// form, e.g. from ReferencePoint). Pass results in the order trials
// finished to plot progress.
func (s *Spec) HypervolumeHistory(results []Result, ref []float64) []float64 {
	out := make([]float64, len(results))
	var pts [][]float64
	hv := 0.0
	for i, r := range results {
		if r.Outcome.Feasible() {
			y := s.Minimized(r.Outcome.Values)
			if improves(pts, y, ref) {
				pts = append(pts, y)
				hv = pareto.Hypervolume(pts, ref)
			}
		}
		out[i] = hv
	}
	return out
}

// improves reports whether y lies inside ref and is dominated by no point
// of pts (only then can it change the hypervolume).
func improves(pts [][]float64, y, ref []float64) bool {
	for k := range y {
		if !(y[k] < ref[k]) {
			return false
		}
	}
	for _, p := range pts {
		if pareto.Dominates(p, y) || equal(p, y) {
			return false
		}
	}
	return true
}

func equal(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// RankByImprovement orders candidate outcomes by the hypervolume each would
// add to the feasible front of results (largest first), the ranking the
// LFM2 report applies to candidates that pass the device constraints.
// Infeasible candidates add nothing.
func (s *Spec) RankByImprovement(results []Result, candidates []Outcome, ref []float64) (order []int, improvement []float64) {
	var front [][]float64
	for _, i := range s.Front(results) {
		if results[i].Outcome.Feasible() {
			front = append(front, s.Minimized(results[i].Outcome.Values))
		}
	}
	pts := make([][]float64, len(candidates))
	for i, c := range candidates {
		if c.Feasible() {
			pts[i] = s.Minimized(c.Values)
		} else {
			pts[i] = ref // on the reference point: adds no volume
		}
	}
	return pareto.RankByImprovement(front, pts, ref)
}
