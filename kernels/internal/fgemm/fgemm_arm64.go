//go:build arm64 && !purego

package fgemm

import (
	"golang.org/x/sys/cpu"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// hasKernel is whether the NEON kernel can run here (ASIMD, part of
// ARMv8-A).
var hasKernel = cpu.ARM64.HasASIMD

// Available reports whether MulRows and MulRowsF16 run the SIMD kernel on
// this CPU (arm64 with ASIMD, not built with -tags purego). When it is
// false they fall back to the slow pure-Go reference.
func Available() bool { return hasKernel }

// kern6x16 is the NEON kernelFunc (see kernelFunc for the loop): the 6×16
// tile's accumulators stay in 24 registers; per 4 columns k each row's 4
// weights are loaded once and FMLA (by element) multiplies them into the
// 16 tokens' packed values, read 8 at a time. Every rows[i] must hold c
// floats and xp 16·c floats.
//
//go:noescape
func kern6x16(rows *[tileRows]*float32, xp *float32, c int, acc *[tileAcc]float32)

// f16Row converts a row of f16 weights with FCVTL.
var f16Row = asm.F16ToF32RowNEON
