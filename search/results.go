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

// Ranks returns each result's front number under constrained domination:
// 0 for the constrained Pareto front (the results Front returns), 1 for
// the front that remains without it, and so on; infeasible results rank
// after every feasible one (see pareto.ConstrainedRanks).
func (s *Spec) Ranks(results []Result) []int {
	pts := make([][]float64, len(results))
	viol := make([]float64, len(results))
	for i, r := range results {
		pts[i], viol[i] = s.Minimized(r.Outcome.Values), r.Outcome.Violation
	}
	return pareto.ConstrainedRanks(pts, viol)
}

// Recommend returns the index (into results) of the front's recommended
// point, or -1 when the front has no feasible result (no result, or none
// meets the constraints). The recommended point is the knee of the
// feasible front (pareto.Knee): with every objective scaled to [0, 1]
// over the front, the point with the smallest sum, which in two
// objectives is the point farthest below the line through the front's two
// extremes; a front with no point below that line (concave) gets its most
// balanced point, the one whose worst scaled objective is smallest. A
// one-objective search recommends its best result.
func (s *Spec) Recommend(results []Result) int {
	var idx []int
	var pts [][]float64
	for _, i := range s.Front(results) {
		if results[i].Outcome.Feasible() {
			idx = append(idx, i)
			pts = append(pts, s.Minimized(results[i].Outcome.Values))
		}
	}
	k := pareto.Knee(pts)
	if k < 0 {
		return -1
	}
	return idx[k]
}

// HypervolumeBox returns the volume of the box from the ideal point (the
// best value of each objective over the feasible results) to ref, both in
// minimisation form: the largest hypervolume any set of these results
// could have, so hypervolume / box reads as a fraction in [0, 1]. It
// returns 0 when there is no feasible result or the box is empty in some
// objective (every feasible result at or beyond the reference).
func (s *Spec) HypervolumeBox(results []Result, ref []float64) float64 {
	var pts [][]float64
	for _, r := range results {
		if r.Outcome.Feasible() {
			pts = append(pts, s.Minimized(r.Outcome.Values))
		}
	}
	ideal := pareto.Ideal(pts)
	if ideal == nil || len(ref) != len(ideal) {
		return 0
	}
	box := 1.0
	for k := range ref {
		d := ref[k] - ideal[k]
		if !(d > 0) {
			return 0
		}
		box *= d
	}
	return box
}

// RecommendRule says in one sentence how Recommend chooses (shown next to
// the recommended point).
const RecommendRule = "the knee of the feasible front: objectives scaled to [0, 1] over the front, the smallest sum (in two objectives, farthest below the line through the extremes); on a front with no point below that line, the most balanced point"
