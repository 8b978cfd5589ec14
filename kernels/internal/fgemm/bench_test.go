package fgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the LFM2 weight shapes (rows × cols) of prefill.
var benchShapes = []struct{ r, c int }{
	{1024, 1024}, {4608, 1024}, {1024, 4608}, {2048, 2048}, {8192, 2048},
}

// BenchmarkMulRows times one full MulRows call (all rows, n tokens) on one
// goroutine and reports GFLOP/s (2·R·C·n flops per op).
func BenchmarkMulRows(b *testing.B) {
	for _, s := range benchShapes {
		for _, n := range []int{64, 512} {
			b.Run(fmt.Sprintf("r=%d/c=%d/n=%d", s.r, s.c, n), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				w, x := randF32(rng, s.r*s.c), randF32(rng, n*s.c)
				xp := make([]float32, PackedLen(n, s.c))
				Pack(xp, x, n, s.c)
				dst := make([]float32, n*s.r)
				b.ReportAllocs()
				for b.Loop() {
					MulRows(dst, s.r, w, s.c, 0, s.r, xp, n)
				}
				b.ReportMetric(2*float64(s.r)*float64(s.c)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkMulRowsF16 is BenchmarkMulRows with f16 weights.
func BenchmarkMulRowsF16(b *testing.B) {
	for _, s := range benchShapes[:2] {
		const n = 512
		b.Run(fmt.Sprintf("r=%d/c=%d/n=%d", s.r, s.c, n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			w := make([]uint16, s.r*s.c)
			for i := range w {
				w[i] = f32ToF16(float32(rng.NormFloat64()))
			}
			x := randF32(rng, n*s.c)
			xp := make([]float32, PackedLen(n, s.c))
			Pack(xp, x, n, s.c)
			dst := make([]float32, n*s.r)
			scratch := make([]float32, F16Scratch(s.c))
			for b.Loop() {
				MulRowsF16(dst, s.r, w, s.c, 0, s.r, xp, n, scratch)
			}
			b.ReportMetric(2*float64(s.r)*float64(s.c)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPack times packing 512 tokens of 2048 floats.
func BenchmarkPack(b *testing.B) {
	const n, c = 512, 2048
	x := randF32(rand.New(rand.NewPCG(1, 2)), n*c)
	xp := make([]float32, PackedLen(n, c))
	b.SetBytes(4 * n * c)
	for b.Loop() {
		Pack(xp, x, n, c)
	}
}
