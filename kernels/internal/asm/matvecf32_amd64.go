//go:build amd64 && !purego

package asm

// matVecF32AVX512 computes dst[r] for rows r < rows of c floats at w
// against x (see MatVecF32AVX512).
//
//go:noescape
func matVecF32AVX512(dst, w *float32, c, rows int, x *float32)

// MatVecF32AVX512 is MatVecF32 with AVX-512F: per row four 16-lane FMA
// partial sums over 64-float steps, then 16-float steps, then a masked
// tail, reduced in a fixed order (so each row's result does not depend on
// which rows share a call), with the weights prefetched 4 KiB ahead so
// that one core keeps enough reads in flight to stream from DRAM.
func MatVecF32AVX512(dst, w []float32, c int, x []float32) {
	if len(dst) == 0 {
		return
	}
	if c == 0 {
		clear(dst)
		return
	}
	_ = x[c-1]
	_ = w[len(dst)*c-1]
	matVecF32AVX512(&dst[0], &w[0], c, len(dst), &x[0])
}

// matVecF16AVX512 computes dst[r] for rows r < rows of c halves at w
// against x (see MatVecF16AVX512).
//
//go:noescape
func matVecF16AVX512(dst *float32, w *uint16, c, rows int, x *float32)

// MatVecF16AVX512 is MatVecF16 with AVX-512F/BW/VL: MatVecF32AVX512's loop
// (four 16-lane FMA partial sums over 64-element steps, then 16-element
// steps, then a masked tail, reduced in a fixed order, weights prefetched
// 4 KiB ahead) on weights widened with VCVTPH2PS, so that decode reads
// half the bytes of f32 at the same instruction count per element.
func MatVecF16AVX512(dst []float32, w []uint16, c int, x []float32) {
	if len(dst) == 0 {
		return
	}
	if c == 0 {
		clear(dst)
		return
	}
	_ = x[c-1]
	_ = w[len(dst)*c-1]
	matVecF16AVX512(&dst[0], &w[0], c, len(dst), &x[0])
}
