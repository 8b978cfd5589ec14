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
