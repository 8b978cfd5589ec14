//go:build amd64 && !purego

package fgemm

import "golang.org/x/sys/cpu"

// hasKernel is whether the AVX2/FMA/F16C kernels can run here.
var hasKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// Available reports whether MulRows and MulRowsF16 run the SIMD kernel on
// this CPU (amd64 with AVX2, FMA and F16C, not built with -tags purego).
// When it is false they fall back to the slow pure-Go reference.
func Available() bool { return hasKernel }

// kern6x16 is the AVX2/FMA kernelFunc (see kernelFunc for the loop): every
// rows[i] must hold c floats and xp 16·c floats.
//
//go:noescape
func kern6x16(rows *[tileRows]*float32, xp *float32, c int, acc *[tileAcc]float32)

// cvtF16 writes dst[i] = asm.F16ToF32(src[i]), i < n (F16C VCVTPH2PS).
//
//go:noescape
func cvtF16(dst *float32, src *uint16, n int)

// f16Row is f16RowGo with F16C.
func f16Row(dst []float32, src []uint16) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[n-1]
	cvtF16(&dst[0], &src[0], n)
}
