package pareto

import (
	"math"
	"slices"
)

// Dominates reports whether a Pareto-dominates b (minimisation): a is no
// worse in every objective and better in at least one.
func Dominates(a, b []float64) bool {
	better := false
	for i := range a {
		if a[i] > b[i] {
			return false
		}
		if a[i] < b[i] {
			better = true
		}
	}
	return better
}

// ConstrainedDominates is Deb's constrained domination: a feasible point
// (violation 0) dominates every infeasible one; of two infeasible points
// the one with the smaller violation dominates; two feasible points compare
// by Pareto dominance.
func ConstrainedDominates(a, b []float64, va, vb float64) bool {
	switch {
	case va == 0 && vb == 0:
		return Dominates(a, b)
	case va == 0:
		return true
	case vb == 0:
		return false
	}
	return va < vb
}

// Sort is the fast non-dominated sort (Deb et al., NSGA-II): it returns the
// fronts as index lists, front 0 first; within a front indices ascend.
func Sort(points [][]float64) [][]int {
	return ConstrainedSort(points, nil)
}

// ConstrainedSort is Sort under constrained domination; violations may be
// nil (all feasible).
func ConstrainedSort(points [][]float64, violations []float64) [][]int {
	n := len(points)
	viol := func(i int) float64 {
		if violations == nil {
			return 0
		}
		return violations[i]
	}
	dominated := make([][]int, n) // dominated[i]: points i dominates
	count := make([]int, n)       // count[i]: points dominating i
	var front []int
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			switch {
			case ConstrainedDominates(points[i], points[j], viol(i), viol(j)):
				dominated[i] = append(dominated[i], j)
				count[j]++
			case ConstrainedDominates(points[j], points[i], viol(j), viol(i)):
				dominated[j] = append(dominated[j], i)
				count[i]++
			}
		}
	}
	for i := 0; i < n; i++ {
		if count[i] == 0 {
			front = append(front, i)
		}
	}
	var fronts [][]int
	for len(front) > 0 {
		fronts = append(fronts, front)
		var next []int
		for _, i := range front {
			for _, j := range dominated[i] {
				count[j]--
				if count[j] == 0 {
					next = append(next, j)
				}
			}
		}
		slices.Sort(next)
		front = next
	}
	return fronts
}

// NonDominated returns the indices of the non-dominated points (front 0),
// ascending. Duplicate points are all kept.
func NonDominated(points [][]float64) []int {
	var out []int
	for i, p := range points {
		ok := true
		for j, q := range points {
			if j != i && Dominates(q, p) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// CrowdingDistance returns the crowding distance of each member of front
// (indices into points), in front order: the sum over objectives of the
// normalised gap between each member's neighbours, infinite at the
// extremes. Ties in an objective are broken by index so the result is
// deterministic.
func CrowdingDistance(points [][]float64, front []int) []float64 {
	n := len(front)
	d := make([]float64, n)
	if n == 0 {
		return d
	}
	if n <= 2 {
		for i := range d {
			d[i] = math.Inf(1)
		}
		return d
	}
	m := len(points[front[0]])
	order := make([]int, n)
	for k := 0; k < m; k++ {
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			pa, pb := points[front[a]][k], points[front[b]][k]
			switch {
			case pa < pb:
				return -1
			case pa > pb:
				return 1
			}
			return front[a] - front[b]
		})
		lo, hi := points[front[order[0]]][k], points[front[order[n-1]]][k]
		d[order[0]], d[order[n-1]] = math.Inf(1), math.Inf(1)
		if hi == lo {
			continue
		}
		for i := 1; i < n-1; i++ {
			d[order[i]] += (points[front[order[i+1]]][k] - points[front[order[i-1]]][k]) / (hi - lo)
		}
	}
	return d
}

// Ideal returns the componentwise minimum of points (nil for none).
func Ideal(points [][]float64) []float64 {
	if len(points) == 0 {
		return nil
	}
	out := slices.Clone(points[0])
	for _, p := range points[1:] {
		for k := range out {
			out[k] = min(out[k], p[k])
		}
	}
	return out
}

// Nadir returns the componentwise maximum of the non-dominated points
// (nil for none).
func Nadir(points [][]float64) []float64 {
	nd := NonDominated(points)
	if len(nd) == 0 {
		return nil
	}
	out := slices.Clone(points[nd[0]])
	for _, i := range nd[1:] {
		for k := range out {
			out[k] = max(out[k], points[i][k])
		}
	}
	return out
}

// NadirReference returns a reference point for hypervolume from observed
// points: the nadir of their non-dominated set pushed out by margin times
// the ideal–nadir range in each objective (by margin times |nadir|, or by
// margin when that is 0, where the range is empty), so that the extreme
// points of the front contribute volume. A margin of 0.1 is common.
func NadirReference(points [][]float64, margin float64) []float64 {
	nadir, ideal := Nadir(points), Ideal(points)
	if nadir == nil {
		return nil
	}
	ref := make([]float64, len(nadir))
	for k := range ref {
		span := nadir[k] - ideal[k]
		if span <= 0 {
			span = math.Abs(nadir[k])
		}
		if span == 0 {
			span = 1
		}
		ref[k] = nadir[k] + margin*span
	}
	return ref
}

// ConstrainedFront returns front 0 of ConstrainedSort (ascending indices)
// without sorting the other fronts: the non-dominated feasible points, or,
// when none is feasible, every point of the smallest violation. It sorts
// the points lexicographically, so a point can only be dominated by one
// before it, and checks each point against the front found so far:
// O(n log n + n·|front|) instead of O(n²).
func ConstrainedFront(points [][]float64, violations []float64) []int {
	viol := func(i int) float64 {
		if violations == nil {
			return 0
		}
		return violations[i]
	}
	var idx []int
	for i := range points {
		if viol(i) == 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 && len(points) > 0 {
		best := viol(0)
		for i := range points {
			best = min(best, viol(i))
		}
		for i := range points {
			if viol(i) == best {
				idx = append(idx, i)
			}
		}
		return idx
	}
	slices.SortStableFunc(idx, func(a, b int) int { return slices.Compare(points[a], points[b]) })
	var front []int
	for _, i := range idx {
		dominated := false
		for _, f := range front {
			if Dominates(points[f], points[i]) {
				dominated = true
				break
			}
		}
		if !dominated {
			front = append(front, i)
		}
	}
	slices.Sort(front)
	return front
}
