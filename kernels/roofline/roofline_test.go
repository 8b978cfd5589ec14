package roofline

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// guarded returns a slice of n words with g guard words on each side in
// the same allocation: the data and the guards are random, so a loop that
// reads a guard word gets a different sum.
func guarded(r *rand.Rand, n, g int) (all, data []uint64) {
	all = make([]uint64, g+n+g)
	for i := range all {
		all[i] = r.Uint64()
	}
	return all, all[g : g+n : g+n]
}

func naiveSum(p []uint64) uint64 {
	var s uint64
	for _, v := range p {
		s += v
	}
	return s
}

func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lengths := []int{}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1<<12, 1<<12+7, 1<<16+63, chunkWords+5)
	if !testing.Short() {
		lengths = append(lengths, 3<<20+13)
	}
	for _, k := range impls {
		for _, n := range lengths {
			all, data := guarded(r, n, 64)
			before := slices.Clone(all)
			want := naiveSum(data)
			if got := sumGo(data); got != want {
				t.Fatalf("sumGo n=%d: %#x, want %#x", n, got, want)
			}
			if got := k.sum(data); got != want {
				t.Fatalf("%s n=%d: sum %#x, want %#x", k.name, n, got, want)
			}
			if !slices.Equal(all, before) {
				t.Fatalf("%s n=%d: the read loop wrote to its input", k.name, n)
			}
			// unaligned starts
			if n > 1 {
				if got, want := k.sum(data[1:]), naiveSum(data[1:]); got != want {
					t.Fatalf("%s n=%d offset 1: sum %#x, want %#x", k.name, n-1, got, want)
				}
			}
		}
	}
}

// exactInputs fills acc, a and b with small integers so that every product
// and partial sum of a few iterations is an exactly representable float32:
// fused and unfused multiply-adds then agree bit for bit.
func exactInputs(r *rand.Rand, acc, a, b []float32) {
	for i := range acc {
		acc[i] = float32(r.IntN(201) - 100)
	}
	nonzero := func() float32 { return float32((r.IntN(4) + 1) * (1 - 2*r.IntN(2))) } // ±1..4
	for i := range a {
		a[i], b[i] = nonzero(), nonzero()
	}
}

func TestFMAMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const guard = 16
	for _, k := range impls {
		for _, iters := range []int{0, 1, 2, 3, 7, 100} {
			n := k.accs * k.lanes
			buf := make([]float32, guard+n+guard)
			for i := range buf {
				buf[i] = float32(math.NaN())
			}
			acc := buf[guard : guard+n : guard+n]
			a, b := make([]float32, k.lanes), make([]float32, k.lanes)
			exactInputs(r, acc, a, b)
			if k.lanes == 1 { // the go loop, acc·a + b: a = 1 keeps it exact
				a[0] = 1
			}
			want := slices.Clone(acc)
			k.ref(want, a, b, iters)
			if iters > 0 && slices.Equal(want, acc) {
				t.Fatalf("%s iters=%d: the inputs do not move the accumulators", k.name, iters)
			}
			k.fma(acc, a, b, iters)
			if !slices.Equal(acc, want) {
				t.Fatalf("%s iters=%d: acc\n%v\nwant\n%v", k.name, iters, acc, want)
			}
			for i, v := range buf {
				if (i < guard || i >= guard+n) && !math.IsNaN(float64(v)) {
					t.Fatalf("%s iters=%d: wrote guard word %d", k.name, iters, i)
				}
			}
		}
	}
}

// TestFMAReferencesAgree checks the two reference loops on a one-lane
// input: fmaGo's (acc·a + b) with a = 1 equals fmaRef's (acc + a·b) with b
// = 1 swapped in, and fmaGo equals its loop written out.
func TestFMAReferencesAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, iters := range []int{0, 1, 5, 33} {
		acc := make([]float32, 8)
		a, b := []float32{0}, []float32{0}
		exactInputs(r, acc, a, b)
		a[0] = float32(r.IntN(5) - 2)
		got, want := slices.Clone(acc), slices.Clone(acc)
		if iters > 5 {
			a[0] = 1 // keep |acc| small enough to stay exact
		}
		fmaGo(got, a, b, iters)
		fmaGoRef(want, a, b, iters)
		if !slices.Equal(got, want) {
			t.Fatalf("fmaGo iters=%d: %v, want %v", iters, got, want)
		}
		// with a = 1 both loops add b each iteration
		one := []float32{1}
		x, y := slices.Clone(acc), slices.Clone(acc)
		fmaGoRef(x, one, b, iters)
		fmaRef(y, one, b, iters)
		if !slices.Equal(x, y) {
			t.Fatalf("references disagree at a=1, iters=%d: %v vs %v", iters, x, y)
		}
	}
}

func TestSelectedIsWidest(t *testing.T) {
	names := make([]string, len(impls))
	for i, k := range impls {
		names[i] = k.name
	}
	t.Logf("variants on this CPU, widest first: %v", names)
	if Variant() != impls[0].name || impls[len(impls)-1].name != "go" {
		t.Fatalf("Variant %q, impls %v", Variant(), impls)
	}
}

func TestBandwidthResult(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	_, buf := guarded(r, 1<<16+3, 0)
	for _, threads := range []int{1, 2, 3} {
		res, err := Bandwidth(buf, threads, 3)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sum != naiveSum(buf) {
			t.Fatalf("threads=%d: sum %#x, want %#x", threads, res.Sum, naiveSum(buf))
		}
		if len(res.Passes) != 3 || res.Bytes != 8*int64(len(buf)) || res.Threads != threads || res.Variant != Variant() {
			t.Fatalf("threads=%d: %+v", threads, res)
		}
		if res.BytesPerSec != slices.Max(res.Passes) || res.MedianBytesPerSec != Median(res.Passes) || !(res.BytesPerSec > 0) {
			t.Fatalf("threads=%d: best/median not from passes: %+v", threads, res)
		}
	}
	for _, bad := range []struct{ n, threads, passes int }{{64, 0, 1}, {64, 1, 0}, {15, 2, 1}} {
		if _, err := Bandwidth(make([]uint64, bad.n), bad.threads, bad.passes); err == nil {
			t.Errorf("Bandwidth(%d words, %d threads, %d passes): no error", bad.n, bad.threads, bad.passes)
		}
	}
}

func TestFMAPeakResult(t *testing.T) {
	res, err := FMAPeak(2, 2, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	k := selected
	if len(res.Passes) != 2 || res.Threads != 2 || res.Variant != k.name || res.Lanes != k.lanes || res.Accumulators != k.accs {
		t.Fatalf("%+v", res)
	}
	if res.FLOPsPerSec != slices.Max(res.Passes) || !(res.FLOPsPerSec > 0) {
		t.Fatalf("best is not the largest pass: %+v", res)
	}
	if math.IsNaN(float64(res.Checksum)) || math.IsInf(float64(res.Checksum), 0) || res.Checksum <= 0 {
		t.Fatalf("checksum %v: the accumulators should be finite and positive", res.Checksum)
	}
	if _, err := FMAPeak(1, 1, 0); err == nil {
		t.Error("FMAPeak with a zero duration: no error")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		x    []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		orig := slices.Clone(c.x)
		if got := Median(c.x); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.x, got, c.want)
		}
		if !slices.Equal(orig, c.x) {
			t.Errorf("Median reordered its input")
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestParallelRunsEveryWorkerEveryPass(t *testing.T) {
	const threads, runs = 3, 4
	var seen [runs][threads]int
	durs := parallel(threads, runs, func(p, w int) { seen[p][w]++ })
	if len(durs) != runs {
		t.Fatalf("%d durations, want %d", len(durs), runs)
	}
	for p := range runs {
		for w := range threads {
			if seen[p][w] != 1 {
				t.Fatalf("pass %d worker %d ran %d times", p, w, seen[p][w])
			}
		}
		if durs[p] <= 0 {
			t.Fatalf("pass %d: duration %v", p, durs[p])
		}
	}
}
