package pareto

import (
	"math/rand/v2"
	"testing"
)

// TestConstrainedRanksEqualConstrainedSort checks the memory-light ranking
// against the fronts of ConstrainedSort on random points with ties and
// mixed feasibility.
func TestConstrainedRanksEqualConstrainedSort(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 200; trial++ {
		n, m := r.IntN(60), 1+r.IntN(4)
		pts := randomPoints(r, n, m, 5)
		var viol []float64
		if trial%2 == 1 {
			viol = make([]float64, n)
			for i := range viol {
				if r.IntN(3) == 0 {
					viol[i] = float64(1+r.IntN(3)) / 4
				}
			}
		}
		want := make([]int, n)
		for k, f := range ConstrainedSort(pts, viol) {
			for _, i := range f {
				want[i] = k
			}
		}
		got := ConstrainedRanks(pts, viol)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d: point %d %v (violation %v): rank %d, ConstrainedSort says %d\npoints %v\nviolations %v", trial, i, pts[i], viol, got[i], want[i], pts, viol)
			}
		}
	}
}

func TestKneeHand(t *testing.T) {
	cases := []struct {
		name  string
		front [][]float64
		want  int
	}{
		{"empty", nil, -1},
		{"one point", [][]float64{{3, 4}}, 0},
		// Extremes (1,10) and (10,1); (2,3) is far below the line through them.
		{"convex 2-D", [][]float64{{1, 10}, {10, 1}, {2, 3}, {6, 1.5}}, 2},
		// Units do not matter: the same front with x in ms and y in bytes.
		{"scaled 2-D", [][]float64{{0.001, 1e7}, {0.01, 1e6}, {0.002, 3e6}, {0.006, 1.5e6}}, 2},
		// Two points: both on the line; the tie goes to the lower index.
		{"two extremes", [][]float64{{1, 2}, {2, 1}}, 0},
		// A concave front has no knee: the most balanced point wins, not an
		// extreme. Normalised: (1,0), (0.35,0.85), (0.24,0.91), (0,1).
		{"concave 2-D", [][]float64{{0.030, -763}, {0.0148, -218}, {0.0123, -177}, {0.0067, -124}}, 1},
		// A flat objective is ignored; the knee of the rest wins.
		{"flat objective", [][]float64{{5, 1, 10}, {5, 10, 1}, {5, 2, 2}}, 2},
		// Equal sums: the more balanced point wins.
		{"balanced tie", [][]float64{{0, 1, 1}, {1, 0, 1}, {0.5, 0.5, 1}, {0.5, 0.5, 0}, {0.9, 0.1, 0}}, 3},
	}
	for _, c := range cases {
		if got := Knee(c.front); got != c.want {
			t.Errorf("%s: Knee = %d, want %d", c.name, got, c.want)
		}
	}
}
