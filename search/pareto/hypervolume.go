package pareto

import (
	"cmp"
	"slices"
)

// Hypervolume returns the volume of objective space dominated by points and
// bounded by ref (minimisation). Points that are not strictly better than
// ref in every objective contribute nothing. It is exact (WFG; see the
// package documentation).
func Hypervolume(points [][]float64, ref []float64) float64 {
	pl := make([][]float64, 0, len(points))
	for _, p := range points {
		if strictlyBelow(p, ref) {
			pl = append(pl, p)
		}
	}
	if len(pl) == 0 {
		return 0
	}
	pl = nondominatedCopy(pl)
	return wfg(pl, ref)
}

func strictlyBelow(p, ref []float64) bool {
	for k := range p {
		if !(p[k] < ref[k]) {
			return false
		}
	}
	return true
}

// nondominatedCopy returns the distinct non-dominated points of pl, sorted
// by the last objective ascending (then lexicographically).
func nondominatedCopy(pl [][]float64) [][]float64 {
	s := slices.Clone(pl)
	m := len(s[0])
	slices.SortFunc(s, func(a, b []float64) int {
		if c := cmp.Compare(a[m-1], b[m-1]); c != 0 {
			return c
		}
		return slices.Compare(a, b)
	})
	s = slices.CompactFunc(s, slices.Equal)
	out := s[:0:0]
	for i, p := range s {
		dom := false
		for j, q := range s {
			if j != i && Dominates(q, p) {
				dom = true
				break
			}
		}
		if !dom {
			out = append(out, p)
		}
	}
	return out
}

// wfg computes the hypervolume of a non-dominated set sorted by the last
// objective.
func wfg(pl [][]float64, ref []float64) float64 {
	m := len(ref)
	switch {
	case len(pl) == 0:
		return 0
	case m == 1:
		return ref[0] - pl[0][0]
	case m == 2:
		return hv2(pl, ref)
	}
	var vol float64
	for k := range pl {
		vol += exclusive(pl, k, ref)
	}
	return vol
}

// exclusive is the volume dominated by pl[k] and by none of pl[k+1:].
func exclusive(pl [][]float64, k int, ref []float64) float64 {
	v := box(pl[k], ref)
	if k+1 < len(pl) {
		ls := make([][]float64, 0, len(pl)-k-1)
		for _, q := range pl[k+1:] {
			w := make([]float64, len(q))
			for i := range q {
				w[i] = max(pl[k][i], q[i])
			}
			ls = append(ls, w)
		}
		v -= wfg(nondominatedCopy(ls), ref)
	}
	return v
}

func box(p, ref []float64) float64 {
	v := 1.0
	for i := range p {
		v *= ref[i] - p[i]
	}
	return v
}

// hv2 sweeps a 2-D non-dominated set: sorted by the second objective
// ascending, the first objective descends.
func hv2(pl [][]float64, ref []float64) float64 {
	s := slices.Clone(pl)
	slices.SortFunc(s, func(a, b []float64) int { return cmp.Compare(a[1], b[1]) })
	var vol float64
	x := ref[0]
	for _, p := range s {
		if p[0] < x {
			vol += (x - p[0]) * (ref[1] - p[1])
			x = p[0]
		}
	}
	return vol
}

// Contributions returns each point's exclusive hypervolume contribution:
// Hypervolume(points) minus Hypervolume(points without it). Dominated and
// duplicated points contribute 0.
func Contributions(points [][]float64, ref []float64) []float64 {
	total := Hypervolume(points, ref)
	out := make([]float64, len(points))
	rest := make([][]float64, 0, len(points))
	for i := range points {
		rest = rest[:0]
		rest = append(rest, points[:i]...)
		rest = append(rest, points[i+1:]...)
		out[i] = max(0, total-Hypervolume(rest, ref))
	}
	return out
}

// Improvement returns how much adding cand to front grows the hypervolume.
func Improvement(front [][]float64, cand, ref []float64) float64 {
	base := Hypervolume(front, ref)
	with := append(slices.Clone(front), cand)
	return max(0, Hypervolume(with, ref)-base)
}

// RankByImprovement orders candidates by the hypervolume each would add to
// front, largest first (ties by index), and returns the indices with their
// improvements. This is the ranking the LFM2 report applies to candidates
// that pass the device constraints.
func RankByImprovement(front, candidates [][]float64, ref []float64) (order []int, improvement []float64) {
	improvement = make([]float64, len(candidates))
	base := Hypervolume(front, ref)
	with := slices.Clone(front)
	for i, c := range candidates {
		improvement[i] = max(0, Hypervolume(append(with[:len(front):len(front)], c), ref)-base)
	}
	order = make([]int, len(candidates))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(improvement[b], improvement[a]) })
	return order, improvement
}
