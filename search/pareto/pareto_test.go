package pareto

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestDominates(t *testing.T) {
	cases := []struct {
		a, b []float64
		want bool
	}{
		{[]float64{1, 2}, []float64{2, 2}, true},
		{[]float64{1, 2}, []float64{1, 2}, false},
		{[]float64{1, 3}, []float64{2, 2}, false},
		{[]float64{0, 0, 0}, []float64{0, 0, 1}, true},
	}
	for _, c := range cases {
		if got := Dominates(c.a, c.b); got != c.want {
			t.Errorf("Dominates(%v, %v) = %v", c.a, c.b, got)
		}
	}
}

func TestSortHand(t *testing.T) {
	// Fronts by hand: {0,1,2} (a staircase), {3,4} (each dominated by one of
	// the first), {5} (dominated by 3).
	pts := [][]float64{{1, 5}, {2, 3}, {4, 1}, {2, 5}, {5, 2}, {3, 6}}
	got := Sort(pts)
	want := [][]int{{0, 1, 2}, {3, 4}, {5}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Sort = %v, want %v", got, want)
	}
}

func TestConstrainedSortHand(t *testing.T) {
	pts := [][]float64{{1, 1}, {5, 5}, {0, 0}, {2, 2}}
	viol := []float64{0.5, 0, 0.1, 0}
	// Feasible 3 dominates feasible 1; every feasible dominates the
	// infeasible; 2 (violation 0.1) dominates 0 (violation 0.5).
	got := ConstrainedSort(pts, viol)
	want := [][]int{{3}, {1}, {2}, {0}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("ConstrainedSort = %v, want %v", got, want)
	}
}

// TestSortBruteForce checks every front against its definition: no member
// is dominated by a member of the same or a later front, and each member
// of front k>0 is dominated by some member of front k-1.
func TestSortBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 50; trial++ {
		n, m := 1+r.IntN(40), 2+r.IntN(3)
		pts := randomPoints(r, n, m, 6) // a coarse grid makes ties likely
		fronts := Sort(pts)
		rank := make([]int, n)
		seen := 0
		for k, f := range fronts {
			for _, i := range f {
				rank[i] = k
			}
			seen += len(f)
		}
		if seen != n {
			t.Fatalf("fronts cover %d of %d points", seen, n)
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if Dominates(pts[j], pts[i]) && rank[j] >= rank[i] {
					t.Fatalf("%v (front %d) dominated by %v (front %d)", pts[i], rank[i], pts[j], rank[j])
				}
			}
			if rank[i] > 0 {
				ok := false
				for _, j := range fronts[rank[i]-1] {
					ok = ok || Dominates(pts[j], pts[i])
				}
				if !ok {
					t.Fatalf("%v in front %d is not dominated by front %d", pts[i], rank[i], rank[i]-1)
				}
			}
		}
		if got, want := NonDominated(pts), fronts[0]; !slices.Equal(got, want) {
			t.Fatalf("NonDominated = %v, front 0 = %v", got, want)
		}
	}
}

func randomPoints(r *rand.Rand, n, m, grid int) [][]float64 {
	pts := make([][]float64, n)
	for i := range pts {
		pts[i] = make([]float64, m)
		for k := range pts[i] {
			if grid > 0 {
				pts[i][k] = float64(r.IntN(grid))
			} else {
				pts[i][k] = r.Float64()
			}
		}
	}
	return pts
}

func TestCrowdingDistanceHand(t *testing.T) {
	pts := [][]float64{{0, 4}, {1, 2}, {2, 1}, {4, 0}}
	front := []int{0, 1, 2, 3}
	d := CrowdingDistance(pts, front)
	// Inner points: objective 0 range 4, objective 1 range 4.
	// Point 1: (2-0)/4 + (4-1)/4 = 1.25; point 2: (4-1)/4 + (2-0)/4 = 1.25.
	if !math.IsInf(d[0], 1) || !math.IsInf(d[3], 1) || d[1] != 1.25 || d[2] != 1.25 {
		t.Fatalf("CrowdingDistance = %v", d)
	}
}

func TestHypervolumeHand(t *testing.T) {
	cases := []struct {
		name string
		pts  [][]float64
		ref  []float64
		want float64
	}{
		{"1d", [][]float64{{3}, {1}}, []float64{4}, 3},
		{"2d staircase", [][]float64{{1, 3}, {2, 2}, {3, 1}}, []float64{4, 4}, 6},
		{"2d with dominated and outside", [][]float64{{1, 3}, {2, 2}, {3, 1}, {3, 3}, {5, 0}}, []float64{4, 4}, 6},
		{"3d single", [][]float64{{1, 1, 1}}, []float64{2, 3, 4}, 1 * 2 * 3},
		// Boxes 2·2·1 = 4 and 1·1·2 = 2 overlapping in [1,2]²x[1,2] = 1.
		{"3d two", [][]float64{{0, 0, 1}, {1, 1, 0}}, []float64{2, 2, 2}, 4 + 2 - 1},
		// Boxes 2·1·1·1 and 1·2·1·1 overlapping in a unit cube.
		{"4d two", [][]float64{{0, 1, 1, 1}, {1, 0, 1, 1}}, []float64{2, 2, 2, 2}, 2 + 2 - 1},
		{"5d corner", [][]float64{{0, 0, 0, 0, 0}, {1, 1, 1, 1, 1}}, []float64{2, 2, 2, 2, 2}, 32},
		{"empty", nil, []float64{1, 1}, 0},
	}
	for _, c := range cases {
		if got := Hypervolume(c.pts, c.ref); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: Hypervolume = %g, want %g", c.name, got, c.want)
		}
	}
}

// inclusionExclusion is the brute-force reference: the union volume of the
// boxes [p, ref] as the alternating sum over all non-empty subsets of the
// volume of their intersection [max p, ref].
func inclusionExclusion(pts [][]float64, ref []float64) float64 {
	n, m := len(pts), len(ref)
	var total float64
	corner := make([]float64, m)
	for mask := 1; mask < 1<<n; mask++ {
		for k := range corner {
			corner[k] = math.Inf(-1)
		}
		bits := 0
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				bits++
				for k := range corner {
					corner[k] = max(corner[k], pts[i][k])
				}
			}
		}
		v := 1.0
		for k := range corner {
			v *= max(0, ref[k]-corner[k])
		}
		if bits%2 == 1 {
			total += v
		} else {
			total -= v
		}
	}
	return total
}

// gridVolume is a second brute-force reference: it cuts space at every
// coordinate and adds each grid cell dominated by some point.
func gridVolume(pts [][]float64, ref []float64) float64 {
	m := len(ref)
	axes := make([][]float64, m)
	for k := 0; k < m; k++ {
		a := []float64{ref[k]}
		for _, p := range pts {
			if p[k] < ref[k] {
				a = append(a, p[k])
			}
		}
		slices.Sort(a)
		axes[k] = slices.Compact(a)
	}
	idx := make([]int, m)
	var total float64
	for {
		cellLo := make([]float64, m)
		v := 1.0
		for k := 0; k < m; k++ {
			if idx[k]+1 >= len(axes[k]) {
				v = 0
				break
			}
			cellLo[k] = axes[k][idx[k]]
			v *= axes[k][idx[k]+1] - axes[k][idx[k]]
		}
		if v > 0 {
			for _, p := range pts {
				dom := true
				for k := range p {
					if p[k] > cellLo[k] {
						dom = false
						break
					}
				}
				if dom {
					total += v
					break
				}
			}
		}
		k := 0
		for ; k < m; k++ {
			idx[k]++
			if idx[k] < len(axes[k])-1 {
				break
			}
			idx[k] = 0
		}
		if k == m {
			return total
		}
	}
}

func TestHypervolumeBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		m := 2 + trial%4 // 2..5 objectives
		n := 1 + r.IntN(10)
		grid := 0
		if trial%3 == 0 {
			grid = 5 // ties and duplicates
		}
		pts := randomPoints(r, n, m, grid)
		ref := make([]float64, m)
		for k := range ref {
			ref[k] = 0.9
			if grid > 0 {
				ref[k] = 4.5
			}
		}
		got := Hypervolume(pts, ref)
		want := inclusionExclusion(pts, ref)
		if math.Abs(got-want) > 1e-9*max(1, want) {
			t.Fatalf("m=%d n=%d: Hypervolume = %.15g, inclusion–exclusion %.15g\npoints %v", m, n, got, want, pts)
		}
		if n <= 8 {
			if g := gridVolume(pts, ref); math.Abs(got-g) > 1e-9*max(1, g) {
				t.Fatalf("m=%d n=%d: Hypervolume = %.15g, grid %.15g", m, n, got, g)
			}
		}
	}
	// Larger sets against the grid only (2-D and 3-D).
	for trial := 0; trial < 20; trial++ {
		m := 2 + trial%2
		pts := randomPoints(r, 40, m, 0)
		ref := []float64{1, 1, 1}[:m]
		got, want := Hypervolume(pts, ref), gridVolume(pts, ref)
		if math.Abs(got-want) > 1e-9 {
			t.Fatalf("m=%d n=40: Hypervolume = %.15g, grid %.15g", m, got, want)
		}
	}
}

func TestContributionsAndImprovement(t *testing.T) {
	pts := [][]float64{{1, 3}, {2, 2}, {3, 1}, {3, 3}}
	ref := []float64{4, 4}
	c := Contributions(pts, ref)
	// Middle point's exclusive box: [2,3]x[2,3] = 1; the ends: [1,2]x[3,4]=1
	// and [3,4]x[1,2]=1; the dominated point: 0.
	want := []float64{1, 1, 1, 0}
	for i := range want {
		if math.Abs(c[i]-want[i]) > 1e-12 {
			t.Fatalf("Contributions = %v, want %v", c, want)
		}
	}
	front := pts[:3]
	// (1.5,1.5) dominates [1.5,4]² = 6.25, of which the front already
	// covers [2,4]² = 4, [1.5,2]x[3,4] = 0.5 and [3,4]x[1.5,2] = 0.5.
	if got := Improvement(front, []float64{1.5, 1.5}, ref); math.Abs(got-1.25) > 1e-12 {
		t.Errorf("Improvement = %g, want 1.25", got)
	}
	order, imp := RankByImprovement(front, [][]float64{{3.5, 3.5}, {1.5, 1.5}, {0, 0}, {5, 5}}, ref)
	if !slices.Equal(order, []int{2, 1, 0, 3}) || imp[0] != 0 || imp[3] != 0 || imp[2] != 16-6 {
		t.Errorf("RankByImprovement = %v %v", order, imp)
	}
}

func TestNadirReference(t *testing.T) {
	pts := [][]float64{{1, 5}, {3, 1}, {4, 6}}
	ref := NadirReference(pts, 0.1)
	// Non-dominated: (1,5), (3,1); nadir (3,5); ideal (1,1); spans 2 and 4.
	if ref[0] != 3.2 || ref[1] != 5.4 {
		t.Errorf("NadirReference = %v", ref)
	}
}

func TestConstrainedFrontEqualsFirstFrontOfSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		n, m := 1+r.IntN(60), 1+r.IntN(4)
		pts := make([][]float64, n)
		viol := make([]float64, n)
		for i := range pts {
			pts[i] = make([]float64, m)
			for k := range pts[i] {
				pts[i][k] = float64(r.IntN(6)) // coarse values: ties and duplicates
			}
			if r.IntN(4) == 0 {
				viol[i] = float64(1 + r.IntN(3))
			}
		}
		if trial%5 == 0 { // all infeasible
			for i := range viol {
				viol[i] = float64(1 + r.IntN(3))
			}
		}
		want := ConstrainedSort(pts, viol)[0]
		if got := ConstrainedFront(pts, viol); !slices.Equal(got, want) {
			t.Fatalf("trial %d: ConstrainedFront = %v, ConstrainedSort front 0 = %v\npoints %v\nviolations %v", trial, got, want, pts, viol)
		}
	}
	if got := ConstrainedFront(nil, nil); len(got) != 0 {
		t.Fatalf("empty input: %v", got)
	}
}
