package roofline

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSum times the selected read loop on a buffer in L2 (256 KiB)
// and one far beyond the L3 (512 MiB, skipped with -short), one thread.
func BenchmarkSum(b *testing.B) {
	for _, words := range []int{32 << 10, 64 << 20} {
		b.Run(fmt.Sprintf("variant=%s/bytes=%d", Variant(), 8*words), func(b *testing.B) {
			if words > 1<<20 && testing.Short() {
				b.Skip("large buffer")
			}
			buf := make([]uint64, words)
			for i := range buf {
				buf[i] = uint64(i)
			}
			b.SetBytes(int64(8 * words))
			var s uint64
			for b.Loop() {
				s += Sum(buf)
			}
			sink = s
		})
	}
}

// BenchmarkFMAPeak reports the FMA throughput of one and two threads as a
// GFLOP/s metric (each iteration is one 3-pass measurement of 20 ms per
// pass).
func BenchmarkFMAPeak(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("variant=%s/threads=%d", Variant(), threads), func(b *testing.B) {
			var best float64
			for b.Loop() {
				r, err := FMAPeak(threads, 3, 20*time.Millisecond)
				if err != nil {
					b.Fatal(err)
				}
				best = max(best, r.FLOPsPerSec)
			}
			b.ReportMetric(best/1e9, "GFLOP/s")
		})
	}
}

var sink uint64
