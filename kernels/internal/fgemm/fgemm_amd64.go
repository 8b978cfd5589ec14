//go:build amd64 && !purego

package fgemm

import (
	"golang.org/x/sys/cpu"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

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

// kern12x16 runs kernelFunc's loop for two tiles at once: the 12 rows at
// w + i·stride (i < 12, each holding c floats) into acc, the two tiles'
// accumulators back to back (AVX-512F).
//
//go:noescape
func kern12x16(w *float32, stride int, xp *float32, c int, acc *[2 * tileAcc]float32)

// kern12x32 is kern12x16 over two token groups at once: the same 12 rows
// against the packed groups at xp0 and xp1, into acc0 and acc1 (each laid
// out as kern12x16's acc), reading each weight once for 32 tokens.
//
//go:noescape
func kern12x32(w *float32, stride int, xp0, xp1 *float32, c int, acc0, acc1 *[2 * tileAcc]float32)

// has512 is whether kern12x16 and kern12x32 can run here; use512 whether
// mulRowsTiled uses them (tests switch it off to check the AVX2 kernel as well).
var (
	has512 = hasKernel && cpu.X86.HasAVX512F
	use512 = has512
)

// f16Row converts a row of f16 weights with F16C (VCVTPH2PS).
var f16Row = asm.F16ToF32RowAVX2
