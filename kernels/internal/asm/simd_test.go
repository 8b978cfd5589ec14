package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Every candidate in impls_test.go is compared with the pure-Go reference
// over every block count (or length) 0..300 and several large sizes.
// Inputs are checked unchanged after each call; outputs written through
// slices are surrounded by sentinel guard regions.

// Tolerances. Quantised dots compute every block's integer sum exactly and
// only the float accumulation may differ (FMA contraction of the reference
// on some targets), so they must agree to quantTol relative to Σ|terms|,
// and exactly when every partial sum is an integer below 2^24 (checked
// separately). Float dots may reorder the summation: floatTol relative to
// Σ|a·b| is ≈ 2^-23·log2(n) with margin.
const (
	quantTol = 1e-6
	floatTol = 2e-6
)

func sizes(max int, large ...int) []int {
	s := make([]int, 0, max+1+len(large))
	for n := 0; n <= max; n++ {
		s = append(s, n)
	}
	return append(s, large...)
}

var blockCounts = sizes(300, 512, 1024, 2731)

func f16Scale(r *rand.Rand) (uint16, float32) {
	v := float32(r.Float64()*0.02 + 1e-4)
	if r.IntN(2) == 0 {
		v = -v
	}
	h := F32ToF16(v)
	return h, F16Table[h]
}

// q8Row returns nb random q8_0 blocks (full int8 range, -128 included) and
// Σ|scale|·Σ|q| bounds per block for tolerances.
func qRow(r *rand.Rand, nb int, q4 bool) (w []byte, d []float32) {
	bs := Q8Bytes
	if q4 {
		bs = Q4Bytes
	}
	w = make([]byte, nb*bs)
	d = make([]float32, nb)
	for b := 0; b < nb; b++ {
		h, f := f16Scale(r)
		w[b*bs], w[b*bs+1] = byte(h), byte(h>>8)
		d[b] = f
		for i := 2; i < bs; i++ {
			w[b*bs+i] = byte(r.Uint32())
		}
	}
	return w, d
}

// actRows returns k quantised activation rows of nb blocks in
// [-lim, lim] with random positive scales.
func actRows(r *rand.Rand, k, nb int, lim int) ([]int8, []float32) {
	xq := make([]int8, k*nb*QK)
	for i := range xq {
		xq[i] = int8(r.IntN(2*lim+1) - lim)
	}
	xs := make([]float32, k*nb)
	for i := range xs {
		xs[i] = float32(r.Float64()*0.05 + 1e-4)
	}
	return xq, xs
}

// absBound is Σ_b |d_b·xs_b|·Σ_i|w_i·x_i| of DotQ8/DotQ4, the scale for
// the quantised tolerances.
func absBound(w []byte, xq []int8, xs []float32, q4 bool) float64 {
	bs := Q8Bytes
	if q4 {
		bs = Q4Bytes
	}
	nb := len(w) / bs
	var s float64
	for b := 0; b < nb; b++ {
		d := F16Table[uint16(w[b*bs])|uint16(w[b*bs+1])<<8]
		var a float64
		for i := 0; i < QK; i++ {
			var q int
			if q4 {
				v := w[b*bs+2+i%16]
				if i < 16 {
					q = int(v&15) - 8
				} else {
					q = int(v>>4) - 8
				}
			} else {
				q = int(int8(w[b*bs+2+i]))
			}
			a += math.Abs(float64(q) * float64(xq[b*QK+i]))
		}
		s += math.Abs(float64(d)*float64(xs[b])) * a
	}
	return s
}

func close32(got, want float32, bound float64, tol float64) bool {
	if got == want {
		return true
	}
	if math.IsNaN(float64(got)) || math.IsNaN(float64(want)) {
		return false
	}
	return math.Abs(float64(got)-float64(want)) <= tol*bound+1e-30
}

func TestDotQImpls(t *testing.T) {
	for _, q4 := range []bool{false, true} {
		impls, ref := dotQ8Impls, DotQ8
		if q4 {
			impls, ref = dotQ4Impls, DotQ4
		}
		for _, im := range impls {
			t.Run(fmt.Sprintf("q4=%v/impl=%s", q4, im.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, 2))
				for _, nb := range blockCounts {
					w, _ := qRow(r, nb, q4)
					xq, xs := actRows(r, 1, nb, 127)
					w0, xq0, xs0 := slices.Clone(w), slices.Clone(xq), slices.Clone(xs)
					want := ref(w, xq, xs)
					got := im.f(w, xq, xs)
					if !close32(got, want, absBound(w, xq, xs, q4), quantTol) {
						t.Fatalf("nb=%d: got %v, want %v", nb, got, want)
					}
					if !slices.Equal(w, w0) || !slices.Equal(xq, xq0) || !slices.Equal(xs, xs0) {
						t.Fatalf("nb=%d: inputs modified", nb)
					}
					if again := im.f(w, xq, xs); math.Float32bits(again) != math.Float32bits(got) {
						t.Fatalf("nb=%d: not deterministic: %v then %v", nb, got, again)
					}
				}
			})
		}
	}
}

// unitScales sets every block scale to 1.0 so that, with small
// activations, every partial sum is an integer below 2^24 and any
// summation order gives the exact answer: this checks the integer sums
// bit for bit.
func unitScales(w []byte, bs int) {
	for b := 0; b < len(w)/bs; b++ {
		w[b*bs], w[b*bs+1] = 0x00, 0x3c
	}
}

func TestDotQExactIntegers(t *testing.T) {
	for _, q4 := range []bool{false, true} {
		impls, ref, bs := dotQ8Impls, DotQ8, Q8Bytes
		if q4 {
			impls, ref, bs = dotQ4Impls, DotQ4, Q4Bytes
		}
		for _, im := range impls {
			t.Run(fmt.Sprintf("q4=%v/impl=%s", q4, im.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(3, 4))
				for _, nb := range sizes(300) {
					w, _ := qRow(r, nb, q4)
					unitScales(w, bs)
					// |acc| ≤ 32·128·3 per block, ≤ 3.7e6 < 2^24 over 300 blocks.
					xq, _ := actRows(r, 1, nb, 3)
					xs := make([]float32, nb)
					for i := range xs {
						xs[i] = 1
					}
					if got, want := im.f(w, xq, xs), ref(w, xq, xs); got != want {
						t.Fatalf("nb=%d small x: got %v, want %v", nb, got, want)
					}
					// Full activation range over at most 4 blocks: < 2^24 too.
					k := min(nb, 4)
					bx, _ := actRows(r, 1, k, 127)
					if got, want := im.f(w[:k*bs], bx, xs[:k]), ref(w[:k*bs], bx, xs[:k]); got != want {
						t.Fatalf("nb=%d full x: got %v, want %v", k, got, want)
					}
				}
			})
		}
	}
}

func TestDotQx4Impls(t *testing.T) {
	for _, q4 := range []bool{false, true} {
		impls, ref := dotQ8x4Impls, DotQ8
		if q4 {
			impls, ref = dotQ4x4Impls, DotQ4
		}
		for _, im := range impls {
			t.Run(fmt.Sprintf("q4=%v/impl=%s", q4, im.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(5, 6))
				for _, nb := range blockCounts {
					w, _ := qRow(r, nb, q4)
					xq, xs := actRows(r, 4, nb, 127)
					xq0, xs0 := slices.Clone(xq), slices.Clone(xs)
					var got [4]float32
					got[0], got[1], got[2], got[3] = im.f(w, xq, xs)
					n := nb * QK
					for k := 0; k < 4; k++ {
						x, s := xq[k*n:(k+1)*n], xs[k*nb:(k+1)*nb]
						if want := ref(w, x, s); !close32(got[k], want, absBound(w, x, s, q4), quantTol) {
							t.Fatalf("nb=%d row %d: got %v, want %v", nb, k, got[k], want)
						}
					}
					if !slices.Equal(xq, xq0) || !slices.Equal(xs, xs0) {
						t.Fatalf("nb=%d: inputs modified", nb)
					}
				}
			})
		}
	}
}

// guardU64 returns a buffer of n words inside sentinel guard regions and a
// check that the guards are intact.
func guardU64(n int) ([]uint64, func() bool) {
	const g = 16
	const sentinel = 0xdeadbeefcafef00d
	buf := make([]uint64, n+2*g)
	for i := range buf {
		buf[i] = sentinel
	}
	return buf[g : g+n : g+n], func() bool {
		for i := 0; i < g; i++ {
			if buf[i] != sentinel || buf[len(buf)-1-i] != sentinel {
				return false
			}
		}
		return true
	}
}

func TestQ4PairsImpls(t *testing.T) {
	for _, im := range q4PairImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			for _, nb := range blockCounts {
				w, _ := qRow(r, nb, true)
				xq, xs := actRows(r, 1, nb, 127)
				xq0 := slices.Clone(xq)
				xp, ok := guardU64(nb * 16)
				sums := make([]int32, nb)
				im.f.pack(xp, sums, xq)
				if !ok() || !slices.Equal(xq, xq0) {
					t.Fatalf("nb=%d: pack wrote outside dst or changed its input", nb)
				}
				want := DotQ4(w, xq, xs)
				got := im.f.dot(w, xp, sums, xs)
				if !close32(got, want, absBound(w, xq, xs, true), quantTol) {
					t.Fatalf("nb=%d: got %v, want %v", nb, got, want)
				}
			}
		})
	}
}

func TestX4PackedImpls(t *testing.T) {
	for _, im := range x4Impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			q4, ref := im.f.q4, DotQ8
			if q4 {
				ref = DotQ4
			}
			r := rand.New(rand.NewPCG(9, 10))
			for _, nb := range blockCounts {
				n := nb * QK
				w, _ := qRow(r, nb, q4)
				xq, xs := actRows(r, 8, nb, 127)
				xq0 := slices.Clone(xq)
				xa, okA := guardU64(im.f.words(n))
				xb, okB := guardU64(im.f.words(n))
				im.f.pack(xa, xq[:4*n], n)
				im.f.pack(xb, xq[4*n:], n)
				if !okA() || !okB() || !slices.Equal(xq, xq0) {
					t.Fatalf("nb=%d: pack wrote outside dst or changed its input", nb)
				}
				var got [8]float32
				got[0], got[1], got[2], got[3] = im.f.dot4(w, xa, xs[:4*nb])
				var got8 [8]float32
				im.f.dot8(w, xa, xb, xs, &got8)
				for k := 0; k < 8; k++ {
					x, s := xq[k*n:(k+1)*n], xs[k*nb:(k+1)*nb]
					want := ref(w, x, s)
					bound := absBound(w, x, s, q4)
					if k < 4 && !close32(got[k], want, bound, quantTol) {
						t.Fatalf("nb=%d x4 row %d: got %v, want %v", nb, k, got[k], want)
					}
					if !close32(got8[k], want, bound, quantTol) {
						t.Fatalf("nb=%d x8 row %d: got %v, want %v", nb, k, got8[k], want)
					}
				}
			}
		})
	}
}

func TestQuantizeQ8ActImpls(t *testing.T) {
	for _, im := range quantImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(25, 26))
			for _, nb := range blockCounts {
				x := make([]float32, nb*QK)
				for b := 0; b < nb; b++ {
					blk := x[b*QK : (b+1)*QK]
					switch b % 5 {
					case 0: // all zero: scale 0, codes 0
					case 1: // subnormal: amax/127 underflows to 0
						for i := range blk {
							blk[i] = math.Float32frombits(uint32(r.IntN(64))) * float32(1-2*r.IntN(2))
						}
					case 2: // exact halves after scaling (rounding ties)
						for i := range blk {
							blk[i] = float32(r.IntN(255)-127) / 2
						}
						blk[0] = 127
					default:
						for i := range blk {
							blk[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
						}
					}
				}
				x0 := slices.Clone(x)
				wantQ, wantS := make([]int8, nb*QK), make([]float32, nb)
				QuantizeQ8Act(x, wantQ, wantS)
				xq, okQ := guardI8(nb * QK)
				xs, okS := guardF32(make([]float32, nb))
				im.f(x, xq, xs)
				if !okQ() || !okS() || !slices.Equal(x, x0) {
					t.Fatalf("nb=%d: wrote outside xq/xs or changed x", nb)
				}
				for b := 0; b < nb; b++ {
					if math.Float32bits(xs[b]) != math.Float32bits(wantS[b]) {
						t.Fatalf("nb=%d block %d: scale %v, want %v", nb, b, xs[b], wantS[b])
					}
				}
				if !slices.Equal(xq, wantQ) {
					t.Fatalf("nb=%d: codes differ", nb)
				}
			}
		})
	}
}

// guardI8 returns n bytes inside sentinel guard regions and a check.
func guardI8(n int) ([]int8, func() bool) {
	const g = 64
	buf := make([]int8, n+2*g)
	for i := range buf {
		buf[i] = 0x5a
	}
	for i := g; i < g+n; i++ {
		buf[i] = -99
	}
	return buf[g : g+n : g+n], func() bool {
		for i := 0; i < g; i++ {
			if buf[i] != 0x5a || buf[len(buf)-1-i] != 0x5a {
				return false
			}
		}
		return true
	}
}
