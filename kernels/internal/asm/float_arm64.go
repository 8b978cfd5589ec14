//go:build arm64 && !purego

package asm

// f16RowNEON writes dst[i] = f16(src[i]), i < n, with FCVTL/FCVTL2 (exact;
// a signalling NaN comes back quiet, as F16ToF32 returns it).
//
//go:noescape
func f16RowNEON(dst *float32, src *uint16, n int)

// F16ToF32RowNEON is F16ToF32Row with NEON.
func F16ToF32RowNEON(dst []float32, src []uint16) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[n-1]
	f16RowNEON(&dst[0], &src[0], n)
}
