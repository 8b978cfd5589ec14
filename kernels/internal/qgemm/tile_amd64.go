//go:build amd64 && !purego

package qgemm

import "golang.org/x/sys/cpu"

// Available reports whether the SIMD micro-kernels (AVX2, FMA, F16C) run
// on this CPU. Without them the runtime keeps its dot-product loops.
func Available() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
}

// tileQ8AVX2 is tileQ8Go with AVX2.
//
//go:noescape
func tileQ8AVX2(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ4AVX2 is tileQ4Go with AVX2.
//
//go:noescape
func tileQ4AVX2(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// simd is whether MulRows runs the AVX2 tiles (else the reference).
var simd = Available()

func tileQ8SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) { tileQ8AVX2(a, out) }
func tileQ4SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) { tileQ4AVX2(a, out) }

// matVecQ4AVX2 computes dst[i] for rows consecutive q4_0 rows of rowBytes
// bytes at w (nb blocks each) against xv packed by PackVecQ4; the
// reference is matVecRowGo.
//
//go:noescape
func matVecQ4AVX2(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

// matVecQ8AVX2 is matVecQ4AVX2 for q8_0 rows and PackVecQ8.
//
//go:noescape
func matVecQ8AVX2(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

func matVecSIMD(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb, bs int) {
	if bs == Q4Bytes {
		matVecQ4AVX2(dst, w, rowBytes, rows, xv, nb)
		return
	}
	matVecQ8AVX2(dst, w, rowBytes, rows, xv, nb)
}
