package asm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAttnTile times the three tile routines of the selected loops
// for one prompt tile (24 rows × 64 keys, head width 64, data in L1) and
// one decode tile (2 rows × 256 keys); GFLOP/s counts a multiply-add as
// two. Compare with -tags purego for the references.
func BenchmarkAttnTile(b *testing.B) {
	for _, sh := range [][2]int{{24, 64}, {2, 256}} {
		R, T := sh[0], sh[1]
		const hd = 64
		r := rand.New(rand.NewPCG(1, 2))
		q, k, v := randF32(r, R*hd), randF16(r, T*hd), randF16(r, T*hd)
		s, acc := make([]float32, R*T), make([]float32, R*hd)
		m, l, c := make([]float32, R), make([]float32, R), make([]float32, R)
		scores, softmax, accum := attnScoresF16Impls[len(attnScoresF16Impls)-1], attnSoftmaxImpls[len(attnSoftmaxImpls)-1], attnAccumF16Impls[len(attnAccumF16Impls)-1]
		flops := float64(2 * R * T * hd)
		b.Run(fmt.Sprintf("scores/%s/R=%d/T=%d", scores.name, R, T), func(b *testing.B) {
			for b.Loop() {
				scores.f(s, T, q, R, hd, k, T/16, 16*hd)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("softmax/%s/R=%d/T=%d", softmax.name, R, T), func(b *testing.B) {
			for b.Loop() {
				for i := range m {
					m[i], l[i] = 0, 0
				}
				softmax.f(s, T, R, T, m, l, c)
			}
			b.ReportMetric(float64(R*T)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gexp/s")
		})
		b.Run(fmt.Sprintf("accum/%s/R=%d/T=%d", accum.name, R, T), func(b *testing.B) {
			for b.Loop() {
				accum.f(acc, R, hd, c, s, T, v, T, hd)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
