package qgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMulRows times the prefill GEMM on LFM2-sized matrices for 512
// tokens on one thread and reports integer GOP/s (2 per multiply-add).
func BenchmarkMulRows(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, bs := range []int{Q4Bytes, Q8Bytes} {
		for _, sh := range [][2]int{{1024, 1024}, {4608, 1024}, {1024, 4608}} {
			R, c, n := sh[0], sh[1], 512
			name := map[int]string{Q4Bytes: "q4_0", Q8Bytes: "q8_0"}[bs]
			for _, on := range []bool{true, false} {
				if on && !hasVNNI512 {
					continue
				}
				b.Run(fmt.Sprintf("%s/avx512=%v/r=%d/c=%d/n=%d", name, on, R, c, n), func(b *testing.B) {
					saved := tile512
					defer setTile512(saved)
					setTile512(on)
					p := newProblem(r, bs, c, R, n)
					dst := make([]float32, n*R)
					b.SetBytes(int64(len(p.w)))
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						p.mul(dst, R, 0, R, true)
					}
					b.ReportMetric(2*float64(R)*float64(c)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
				})
			}
		}
	}
}
