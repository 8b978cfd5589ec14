package pareto

import (
	"cmp"
	"math"
	"slices"
)

// ConstrainedRanks returns each point's front number under constrained
// domination (0 = the constrained Pareto front), the same numbering as
// ConstrainedSort, in O(n) memory: feasible points (violation 0) are
// ranked by non-dominated sorting among themselves; infeasible points
// come after every feasible front, one front per distinct violation,
// smallest first. violations may be nil (all feasible).
//
// Feasible points are ranked by efficient non-dominated sorting with
// sequential search (Zhang et al., "An efficient approach to
// non-dominated sorting for evolutionary multiobjective optimization",
// IEEE TEVC 19(2), 2015): taken in lexicographic order a point can only
// be dominated by points before it, so it joins the first front none of
// whose members dominates it. Unlike ConstrainedSort it keeps no
// domination lists, so 5,000 trials rank in a few megabytes.
func ConstrainedRanks(points [][]float64, violations []float64) []int {
	rank := make([]int, len(points))
	viol := func(i int) float64 {
		if violations == nil {
			return 0
		}
		return violations[i]
	}
	var feas, infeas []int
	for i := range points {
		if viol(i) == 0 {
			feas = append(feas, i)
		} else {
			infeas = append(infeas, i)
		}
	}
	slices.SortStableFunc(feas, func(a, b int) int { return slices.Compare(points[a], points[b]) })
	var fronts [][]int
	for _, i := range feas {
		k := slices.IndexFunc(fronts, func(f []int) bool {
			// Search a front from its last member: later members are
			// lexicographically closer, so more likely to dominate.
			for j := len(f) - 1; j >= 0; j-- {
				if Dominates(points[f[j]], points[i]) {
					return false
				}
			}
			return true
		})
		if k < 0 {
			k = len(fronts)
			fronts = append(fronts, nil)
		}
		fronts[k] = append(fronts[k], i)
		rank[i] = k
	}
	slices.SortFunc(infeas, func(a, b int) int { return cmp.Compare(viol(a), viol(b)) })
	next := len(fronts)
	for j, i := range infeas {
		if j > 0 && viol(i) != viol(infeas[j-1]) {
			next++
		}
		rank[i] = next
	}
	return rank
}

// Knee returns the index (into front) of the front's knee, or -1 for an
// empty front. The points are in minimisation form and should be mutually
// non-dominated. Each objective is normalised over the front to [0, 1]
// (its best value 0, its worst 1; an objective on which every point agrees
// is 0 everywhere). The knee is the point farthest on the good side of the
// hyperplane Σ x_k = 1 through the unit points, i.e. the one with the
// smallest sum of normalised objectives; in two dimensions the unit points
// are the front's normalised extremes, so this is the classic knee, the
// point farthest from the line through the two extremes. A front with no
// point strictly on the good side (a concave front, or only its extremes)
// has no knee; then the most balanced point is returned instead, the one
// whose worst normalised objective is smallest. Ties go to the smaller
// sum, then the smaller worst objective, then the lower index.
func Knee(front [][]float64) int {
	if len(front) == 0 {
		return -1
	}
	m := len(front[0])
	lo, hi := slices.Clone(front[0]), slices.Clone(front[0])
	for _, p := range front[1:] {
		for k := range m {
			lo[k], hi[k] = min(lo[k], p[k]), max(hi[k], p[k])
		}
	}
	sums, worsts := make([]float64, len(front)), make([]float64, len(front))
	for i, p := range front {
		for k := range m {
			x := 0.0
			if hi[k] > lo[k] {
				x = (p[k] - lo[k]) / (hi[k] - lo[k])
			}
			sums[i] += x
			worsts[i] = max(worsts[i], x)
		}
	}
	// The extremes have a sum of at least 1; a knee lies below that.
	const eps = 1e-9
	knee := slices.ContainsFunc(sums, func(s float64) bool { return s < 1-eps })
	best := 0
	for i := 1; i < len(front); i++ {
		a := [2]float64{sums[i], worsts[i]}
		b := [2]float64{sums[best], worsts[best]}
		if !knee {
			a[0], a[1], b[0], b[1] = a[1], a[0], b[1], b[0]
		}
		if a[0] < b[0]-eps || (math.Abs(a[0]-b[0]) <= eps && a[1] < b[1]-eps) {
			best = i
		}
	}
	return best
}
