//go:build amd64 && !purego

package fgemm

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkKernelL1 times the micro-kernel alone on one 6-row × 16-token
// tile with c = 256, all operands in L1: the compute ceiling of the tile.
func BenchmarkKernelL1(b *testing.B) {
	if !Available() {
		b.Skip("no AVX2/FMA/F16C")
	}
	const c = 256
	rng := rand.New(rand.NewPCG(1, 2))
	w, xp := randF32(rng, tileRows*c), randF32(rng, lanes*c)
	var rows [tileRows]*float32
	for i := range rows {
		rows[i] = &w[i*c]
	}
	var acc [tileAcc]float32
	for b.Loop() {
		kern6x16(&rows, &xp[0], c, &acc)
	}
	b.ReportMetric(2*tileRows*lanes*c*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkKernel12L1 is BenchmarkKernelL1 for the AVX-512 two-tile kernel.
func BenchmarkKernel12L1(b *testing.B) {
	if !has512 {
		b.Skip("no AVX-512F")
	}
	const c = 256
	rng := rand.New(rand.NewPCG(1, 2))
	w, xp := randF32(rng, 2*tileRows*c), randF32(rng, lanes*c)
	var acc [2 * tileAcc]float32
	for b.Loop() {
		kern12x16(&w[0], c, &xp[0], c, &acc)
	}
	b.ReportMetric(2*2*tileRows*lanes*c*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
