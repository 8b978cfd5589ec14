package pareto

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// simplexFront returns n mutually non-dominated points on the unit sphere's
// positive orthant (the hard case: every point is on the front).
func simplexFront(n, m int, seed uint64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	pts := make([][]float64, n)
	for i := range pts {
		p := make([]float64, m)
		var s float64
		for k := range p {
			p[k] = math.Abs(r.NormFloat64())
			s += p[k] * p[k]
		}
		for k := range p {
			p[k] = p[k] / math.Sqrt(s)
		}
		pts[i] = p
	}
	return pts
}

func BenchmarkHypervolume(b *testing.B) {
	for _, c := range []struct{ n, m int }{{1000, 2}, {1700, 3}, {200, 4}, {100, 5}, {200, 5}} {
		b.Run(fmt.Sprintf("n=%d/m=%d", c.n, c.m), func(b *testing.B) {
			pts := simplexFront(c.n, c.m, 1)
			ref := make([]float64, c.m)
			for k := range ref {
				ref[k] = 1.1
			}
			b.ReportAllocs()
			for b.Loop() {
				Hypervolume(pts, ref)
			}
		})
	}
}

// BenchmarkConstrainedRanks ranks 5,000 uniformly random points with 10%
// infeasible, the size of the API's 5,000-trial benchmark.
func BenchmarkConstrainedRanks(b *testing.B) {
	for _, m := range []int{2, 3, 5} {
		b.Run(fmt.Sprintf("n=5000/m=%d", m), func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 6))
			pts := randomPoints(r, 5000, m, 0)
			viol := make([]float64, len(pts))
			for i := range viol {
				if i%10 == 0 {
					viol[i] = r.Float64()
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				ConstrainedRanks(pts, viol)
			}
		})
	}
}
