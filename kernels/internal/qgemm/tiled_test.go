package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tiledVariants runs f with the tiled reference loops and, where the CPU
// has them, the tiled AVX-512 VNNI loops.
func tiledVariants(t *testing.T, f func(t *testing.T, useSIMD bool)) {
	for _, on := range []bool{false, true} {
		if on && !(simd && tiled) {
			continue
		}
		t.Run(fmt.Sprintf("simd=%v", on), func(t *testing.T) { f(t, on) })
	}
}

// withTiledOffset runs f with OffsetQ8 = 128, which the tiled q8_0 loops
// read (it is so wherever they run; the purego build has 0).
func withTiledOffset(f func()) {
	saved := OffsetQ8
	defer func() { OffsetQ8 = saved }()
	OffsetQ8 = 128
	f()
}

// tiledCopy returns a copy of p's weights repacked by Repack.
func (p *problem) tiledCopy() []byte {
	w := append([]byte(nil), p.w...)
	Repack(w, p.bs, p.R, p.c)
	return w
}

// packVecTiled packs token t of p for the tiled matrix × vector loops.
func (p *problem) packVecTiled(t int) []byte {
	nb := p.c / QK
	xq, xs := p.xq[t*p.c:(t+1)*p.c], p.xs[t*nb:(t+1)*nb]
	if p.bs == Q4Bytes {
		v := make([]byte, VecBytesQ4(p.c))
		PackVecQ4Tiled(v, xq, xs, p.c)
		return v
	}
	v := make([]byte, VecBytesQ8(p.c))
	PackVecQ8Tiled(v, xq, xs, p.c)
	return v
}

func TestRepackKeepsEveryBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, bs := range []int{Q4Bytes, Q8Bytes} {
		for _, R := range []int{1, 15, 16, 17, 32, 45} {
			p := newProblem(r, bs, 96, R, 1)
			w := p.tiledCopy()
			if len(w) != len(p.w) {
				t.Fatalf("bs=%d R=%d: repacked size %d, want %d", bs, R, len(w), len(p.w))
			}
			for row := 0; row < R; row++ {
				for b := 0; b < 3; b++ {
					d0, q0 := Block(p.w, bs, R, p.c, row, b, false)
					d1, q1 := Block(w, bs, R, p.c, row, b, true)
					if d0 != d1 || q0 != q1 {
						t.Fatalf("bs=%d R=%d row %d block %d: tiled (%x, %x), row-major (%x, %x)", bs, R, row, b, d1, q1, d0, q0)
					}
				}
			}
		}
	}
}

// TestTiledGEMMIsBitIdenticalToRowMajor: the tiled loops (reference and
// assembly) do the row-major reference tile's chain per element, so over
// any row range, token count and output stride they give its bits, and
// write nothing outside their outputs.
func TestTiledGEMMIsBitIdenticalToRowMajor(t *testing.T) {
	tiledVariants(t, func(t *testing.T, useSIMD bool) {
		withTiledOffset(func() { testTiledGEMM(t, useSIMD) })
	})
}

func testTiledGEMM(t *testing.T, useSIMD bool) {
	r := rand.New(rand.NewPCG(13, 14))
	cs := []int{32, 64, 96, 320, 1024}
	if !testing.Short() {
		cs = append(cs, 4608)
	}
	for _, bs := range []int{Q4Bytes, Q8Bytes} {
		for _, c := range cs {
			for _, n := range []int{1, 7, 8, 9, 16, 17, 31, 40, 100} {
				for _, R := range []int{1, 15, 16, 17, 33, 48, 1 + r.IntN(70)} {
					p := newProblem(r, bs, c, R, n)
					w := p.tiledCopy()
					ldd := R + r.IntN(3)
					r0, r1 := 0, R
					if r.IntN(2) == 0 {
						r0 = r.IntN(R)
						r1 = r0 + 1 + r.IntN(R-r0)
					}
					want := make([]float32, n*ldd)
					mulRows(want, ldd, p.w, bs, c, r0, r1, p.xp, n, false)
					buf, got := guarded((n-1)*ldd + R)
					mulRowsTiled(got, ldd, w, bs, R, c, r0, r1, p.xp, n, useSIMD)
					checkGuards(t, buf, func(i int) bool { c := i % ldd; return c >= r0 && c < r1 })
					for tk := 0; tk < n; tk++ {
						for row := r0; row < r1; row++ {
							i := tk*ldd + row
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("bs=%d c=%d n=%d R=%d rows [%d,%d): C[%d][%d] = %g, row-major reference %g", bs, c, n, R, r0, r1, tk, row, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestTiledMatVecIsBitIdenticalToOneTokenGEMM: the tiled matrix × vector
// loops compute each row with the GEMM's chain, so they equal the
// row-major reference tile for one token, over any row range.
func TestTiledMatVecIsBitIdenticalToOneTokenGEMM(t *testing.T) {
	tiledVariants(t, func(t *testing.T, useSIMD bool) {
		saved := tiled
		defer func() { tiled = saved }()
		tiled = useSIMD
		withTiledOffset(func() { testTiledMatVec(t) })
	})
}

func testTiledMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, bs := range []int{Q4Bytes, Q8Bytes} {
		for _, c := range []int{32, 64, 96, 320, 1024, 4608} {
			for _, R := range []int{1, 15, 16, 17, 33, 48, 130, 1 + r.IntN(200)} {
				p := newProblem(r, bs, c, R, 1)
				w := p.tiledCopy()
				want := make([]float32, R)
				mulRows(want, R, p.w, bs, c, 0, R, p.xp, 1, false)
				xv := p.packVecTiled(0)
				for rep := 0; rep < 4; rep++ {
					r0, r1 := 0, R
					if rep > 0 {
						r0 = r.IntN(R)
						r1 = r0 + 1 + r.IntN(R-r0)
					}
					buf, got := guarded(R)
					if bs == Q4Bytes {
						MatVecQ4Tiled(got, w, R, c, r0, r1, xv)
					} else {
						MatVecQ8Tiled(got, w, R, c, r0, r1, xv)
					}
					checkGuards(t, buf, func(i int) bool { return i >= r0 && i < r1 })
					for row := r0; row < r1; row++ {
						if math.Float32bits(got[row]) != math.Float32bits(want[row]) {
							t.Fatalf("bs=%d c=%d R=%d rows [%d,%d): row %d = %g, one-token GEMM %g", bs, c, R, r0, r1, row, got[row], want[row])
						}
					}
				}
			}
		}
	}
}

// BenchmarkTiled times the tiled GEMM on the shapes of BenchmarkMulRows.
func BenchmarkTiled(b *testing.B) {
	if !(simd && tiled) {
		b.Skip("no tiled loops on this CPU")
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, bs := range []int{Q4Bytes, Q8Bytes} {
		for _, sh := range [][2]int{{1024, 1024}, {4608, 1024}, {1024, 4608}} {
			R, c, n := sh[0], sh[1], 512
			name := map[int]string{Q4Bytes: "q4_0", Q8Bytes: "q8_0"}[bs]
			b.Run(fmt.Sprintf("%s/r=%d/c=%d/n=%d", name, R, c, n), func(b *testing.B) {
				p := newProblem(r, bs, c, R, n)
				w := p.tiledCopy()
				dst := make([]float32, n*R)
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					mulRowsTiled(dst, R, w, bs, R, c, 0, R, p.xp, n, true)
				}
				b.ReportMetric(2*float64(R)*float64(c)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
			})
		}
	}
}

// BenchmarkTiledMatVec is BenchmarkMatVec on tiled weights.
func BenchmarkTiledMatVec(b *testing.B) {
	if !(simd && tiled) {
		b.Skip("no tiled loops on this CPU")
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, bs := range []int{Q4Bytes, Q8Bytes} {
		for _, sh := range [][2]int{{4608, 1024}, {1024, 4608}, {65536, 1024}} {
			R, c := sh[0], sh[1]
			name := map[int]string{Q4Bytes: "q4_0", Q8Bytes: "q8_0"}[bs]
			b.Run(fmt.Sprintf("%s/r=%d/c=%d", name, R, c), func(b *testing.B) {
				p := newProblem(r, bs, c, R, 1)
				w := p.tiledCopy()
				xv := p.packVecTiled(0)
				dst := make([]float32, R)
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					matVecTiled(dst, w, bs, R, c, 0, R, xv)
				}
			})
		}
	}
}
