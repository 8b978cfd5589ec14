//go:build arm64 && !purego

package roofline

import "golang.org/x/sys/cpu"

// sumU64NEON returns the wrapping sum of p[:n] with eight 2-lane
// accumulators (128 bytes per iteration), then one, then a scalar tail:
//
//	for i := 0; i < n; i++ { s += p[i] }
//
//go:noescape
func sumU64NEON(p *uint64, n int) uint64

// fmaNEON runs iters iterations of sixteen FMLA .4S,
// acc[k·4:k·4+4] += a·b for k < 16 (a, b: 4 lanes), loading the
// accumulators from acc first and storing them back at the end:
//
//	for it := 0; it < iters; it++ {
//		for k := 0; k < 16*4; k++ { acc[k] = fma(a[k%4], b[k%4], acc[k]) }
//	}
//
//go:noescape
func fmaNEON(acc, a, b *float32, iters int)

func sumNEON(p []uint64) uint64 {
	if len(p) == 0 {
		return 0
	}
	return sumU64NEON(&p[0], len(p))
}

func fmaRunNEON(acc, a, b []float32, iters int) {
	checkFMA(acc, a, b, 4, 16)
	fmaNEON(&acc[0], &a[0], &b[0], iters)
}

// available lists the NEON loops when the CPU has ASIMD (every arm64 CPU
// Go supports in practice), then pure Go. Sixteen accumulators cover four
// FMA pipes of latency 4 (Neoverse V-class, Cortex-X); smaller cores need
// fewer.
func available() []kernel {
	var ks []kernel
	if cpu.ARM64.HasASIMD {
		ks = append(ks, kernel{name: "neon", sum: sumNEON, fma: fmaRunNEON, ref: fmaRef, lanes: 4, accs: 16})
	}
	return append(ks, goKernel)
}
