//go:build amd64 && !purego

package roofline

import "golang.org/x/sys/cpu"

// sumU64AVX512 returns the wrapping sum of p[:n] with eight zmm
// accumulators (512 bytes per iteration), then one, then a scalar tail:
//
//	for i := 0; i < n; i++ { s += p[i] }
//
//go:noescape
func sumU64AVX512(p *uint64, n int) uint64

// sumU64AVX2 is sumU64AVX512 with eight ymm accumulators (256 bytes per
// iteration).
//
//go:noescape
func sumU64AVX2(p *uint64, n int) uint64

// fmaAVX512 runs iters iterations of twelve VFMADD231PS on zmm registers,
// acc[k·16:k·16+16] += a·b for k < 12 (a, b: 16 lanes), loading the
// accumulators from acc first and storing them back at the end:
//
//	for it := 0; it < iters; it++ {
//		for k := 0; k < 12*16; k++ { acc[k] = fma(a[k%16], b[k%16], acc[k]) }
//	}
//
//go:noescape
func fmaAVX512(acc, a, b *float32, iters int)

// fmaAVX2 is fmaAVX512 on twelve ymm accumulators of 8 lanes
// (len(acc) == 12·8, len(a) == len(b) == 8).
//
//go:noescape
func fmaAVX2(acc, a, b *float32, iters int)

func sumAVX512(p []uint64) uint64 {
	if len(p) == 0 {
		return 0
	}
	return sumU64AVX512(&p[0], len(p))
}

func sumAVX2(p []uint64) uint64 {
	if len(p) == 0 {
		return 0
	}
	return sumU64AVX2(&p[0], len(p))
}

func fmaRunAVX512(acc, a, b []float32, iters int) {
	checkFMA(acc, a, b, 16, 12)
	fmaAVX512(&acc[0], &a[0], &b[0], iters)
}

func fmaRunAVX2(acc, a, b []float32, iters int) {
	checkFMA(acc, a, b, 8, 12)
	fmaAVX2(&acc[0], &a[0], &b[0], iters)
}

// available lists the loops this CPU runs, widest first: AVX-512F (zmm),
// AVX2 with FMA (ymm), then pure Go. x/sys/cpu reports AVX-512 only when
// the OS saves the zmm state.
func available() []kernel {
	var ks []kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernel{name: "avx512", sum: sumAVX512, fma: fmaRunAVX512, ref: fmaRef, lanes: 16, accs: 12})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernel{name: "avx2", sum: sumAVX2, fma: fmaRunAVX2, ref: fmaRef, lanes: 8, accs: 12})
	}
	return append(ks, goKernel)
}
