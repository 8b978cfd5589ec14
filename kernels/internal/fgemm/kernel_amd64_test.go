//go:build amd64 && !purego

package fgemm

import (
	"math"
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

// BenchmarkKernel12x32L1 is BenchmarkKernelL1 for the AVX-512 kernel over
// two token groups.
func BenchmarkKernel12x32L1(b *testing.B) {
	if !has512 {
		b.Skip("no AVX-512F")
	}
	const c = 256
	rng := rand.New(rand.NewPCG(1, 2))
	w, xp := randF32(rng, 2*tileRows*c), randF32(rng, 2*lanes*c)
	var acc0, acc1 [2 * tileAcc]float32
	for b.Loop() {
		kern12x32(&w[0], c, &xp[0], &xp[lanes*c], c, &acc0, &acc1)
	}
	b.ReportMetric(4*2*tileRows*lanes*c*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestKernel12x32ContinuesChains calls kern12x32 directly, from non-zero
// accumulators and with a row stride wider than c, and checks every lane
// bit for bit against kernelGo continued from the same accumulators.
func TestKernel12x32ContinuesChains(t *testing.T) {
	if !has512 {
		t.Skip("no AVX-512F")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range append(seq(0, 17), 63, 64, 65, 255, 256, 257) {
		stride := c + 3
		w := randF32(rng, 2*tileRows*stride)
		xp := randF32(rng, 2*lanes*c+1)
		var acc [2][2 * tileAcc]float32
		for h := range acc {
			copy(acc[h][:], randF32(rng, 2*tileAcc))
		}
		want := acc
		for h := range want {
			for half := 0; half < 2; half++ {
				var rows [tileRows]*float32
				for i := range rows {
					rows[i] = &w[(half*tileRows+i)*stride]
				}
				kernelGo(&rows, &xp[h*lanes*c], c, (*[tileAcc]float32)(want[h][half*tileAcc:]))
			}
		}
		kern12x32(&w[0], stride, &xp[0], &xp[lanes*c], c, &acc[0], &acc[1])
		for h := range acc {
			for i := range acc[h] {
				if math.Float32bits(acc[h][i]) != math.Float32bits(want[h][i]) {
					t.Fatalf("c=%d group %d acc[%d]: got %v, want %v", c, h, i, acc[h][i], want[h][i])
				}
			}
		}
	}
}
