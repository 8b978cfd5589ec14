package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func (p *problem) packVec(t int) []byte {
	nb := p.c / QK
	xq, xs := p.xq[t*p.c:(t+1)*p.c], p.xs[t*nb:(t+1)*nb]
	if p.bs == Q4Bytes {
		v := make([]byte, VecBytesQ4(p.c))
		PackVecQ4(v, xq, xs, p.c)
		return v
	}
	v := make([]byte, VecBytesQ8(p.c))
	PackVecQ8(v, xq, xs, p.c)
	return v
}

func (p *problem) matVec(dst []float32, r0, r1 int, xv []byte) {
	if p.bs == Q4Bytes {
		MatVecQ4(dst, p.w, p.c, r0, r1, xv)
	} else {
		MatVecQ8(dst, p.w, p.c, r0, r1, xv)
	}
}

// matVecVariants runs f once per matrix × vector loop this CPU has: the
// AVX-512 VNNI loops (with their layouts) when present, and the AVX2 (or
// reference) loops.
func matVecVariants(t *testing.T, f func(t *testing.T)) {
	saved := mv512
	defer func() { mv512 = saved }()
	for _, on := range []bool{true, false} {
		if on && !saved {
			continue
		}
		mv512 = on
		t.Run(fmt.Sprintf("avx512=%v", on), f)
	}
}

func TestMatVecMatchesExactSums(t *testing.T) { matVecVariants(t, testMatVecMatchesExactSums) }

func testMatVecMatchesExactSums(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for nb := 1; nb <= 40; nb++ {
			c := nb * QK
			R := 1 + r.IntN(9)
			p := newProblem(r, bs, c, R, 1)
			xv := p.packVec(0)
			r0 := r.IntN(R)
			r1 := r0 + 1 + r.IntN(R-r0)
			buf, dst := guarded(R)
			p.matVec(dst, r0, r1, xv)
			checkGuards(t, buf, func(i int) bool { return i >= r0 && i < r1 })
			for row := r0; row < r1; row++ {
				want, mag := p.exact(0, row)
				if got := float64(dst[row]); math.Abs(got-want) > 1e-5*mag+1e-30 {
					t.Fatalf("bs=%d nb=%d row %d: %g, want %g (±%g)", bs, nb, row, got, want, 1e-5*mag)
				}
			}
		}
	}
}

// TestMatVecSIMDIsBitIdenticalToReference: the assembly performs
// matVecRowGo's lane operations in the same order.
func TestMatVecSIMDIsBitIdenticalToReference(t *testing.T) {
	if !simd {
		t.Skip("no SIMD loop on this CPU or build")
	}
	matVecVariants(t, testMatVecSIMDIsBitIdenticalToReference)
}

func testMatVecSIMDIsBitIdenticalToReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for _, nb := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 31, 32, 33, 34, 35, 144, 145, 146, 147} {
			c := nb * QK
			R := 5
			p := newProblem(r, bs, c, R, 1)
			xv := p.packVec(0)
			got := make([]float32, R)
			p.matVec(got, 0, R, xv)
			want := make([]float32, R)
			matVecGoRows(&want[0], &p.w[0], nb*bs, R, &xv[0], nb, bs)
			for row := 0; row < R; row++ {
				if math.Float32bits(got[row]) != math.Float32bits(want[row]) {
					t.Fatalf("bs=%d nb=%d row %d: simd %g, reference %g", bs, nb, row, got[row], want[row])
				}
			}
		}
	}
}

// BenchmarkMatVec streams LFM2-sized q4_0/q8_0 matrices (larger than the
// cache) through one thread and reports weight GB/s.
func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, bs := range []int{Q4Bytes, Q8Bytes} {
		for _, sh := range [][2]int{{4608, 1024}, {1024, 4608}, {65536, 1024}} {
			R, c := sh[0], sh[1]
			name := map[int]string{Q4Bytes: "q4_0", Q8Bytes: "q8_0"}[bs]
			for _, on := range []bool{true, false} {
				if on && !mv512 {
					continue
				}
				b.Run(fmt.Sprintf("%s/avx512=%v/r=%d/c=%d", name, on, R, c), func(b *testing.B) {
					saved := mv512
					defer func() { mv512 = saved }()
					mv512 = on
					p := newProblem(r, bs, c, R, 1)
					xv := p.packVec(0)
					dst := make([]float32, R)
					b.SetBytes(int64(len(p.w)))
					for b.Loop() {
						p.matVec(dst, 0, R, xv)
					}
				})
			}
		}
	}
}
