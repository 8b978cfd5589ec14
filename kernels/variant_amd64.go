//go:build amd64 && !purego

package kernels

import (
	"github.com/hilsearch/hilsearch/kernels/internal/asm"
	"golang.org/x/sys/cpu"
)

// init replaces the pure-Go inner loops with the SIMD ones the CPU
// supports: "avx512vnni" (integer dots with VPDPBUSD, and the AVX-512 f32
// matrix × vector loop) or "avx2" (integer dots with VPMADDUBSW); both use
// the AVX2/FMA/F16C float loops otherwise. (The GEMMs and the quantised
// matrix × vector loops in qgemm and fgemm pick their AVX-512 forms from
// the same CPU flags; fgemm's give the same bits either way. The AVX-512
// f16 matrix × vector loop is chosen with AVX-512F/BW/VL.) Packing
// functions and the dots that read their buffers are always replaced
// together (the SIMD ones store plain int8 rows). Build with -tags purego
// to keep the reference loops.
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C) {
		return
	}
	q, name := asm.AVX2Quant(), "avx2"
	if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL {
		q, name = asm.VNNIQuant(), "avx512vnni"
		matVecF32 = asm.MatVecF32AVX512
	}
	dotQ8 = q.DotQ8
	packQ4Pairs, dotQ4Pairs = q.PackQ4Pairs, q.DotQ4Pairs
	packQ4x4, dotQ4x4p, dotQ4x8p = q.PackQ4x4, q.DotQ4x4Packed, q.DotQ4x8Packed
	packQ8x4, dotQ8x4p, dotQ8x8p = q.PackQ8x4, q.DotQ8x4Packed, q.DotQ8x8Packed
	quantizeQ8Act = asm.QuantizeQ8ActAVX2
	dotF32 = asm.DotF32FMA
	dotF32x4 = asm.DotF32x4FMA
	dotF16 = asm.DotF16FMA
	f16Row = asm.F16ToF32RowAVX2
	axpy = asm.AxpyAVX2
	scaleVec = asm.ScaleAVX2
	swiGLU = asm.SwiGLUAVX2
	attnScoresF16, attnScoresF32 = asm.AttnScoresF16AVX2, asm.AttnScoresF32AVX2
	attnSoftmax = asm.AttnSoftmaxAVX2
	attnAccumF16, attnAccumF32 = asm.AttnAccumF16AVX2, asm.AttnAccumF32AVX2
	stateStep = asm.StateStepAVX2
	if cpu.X86.HasAVX512F {
		stateStep = asm.StateStepAVX512
		// bit-identical to the AVX2 loops, so independent of the variant
		attnScoresF16, attnScoresF32 = asm.AttnScoresF16AVX512, asm.AttnScoresF32AVX512
		attnSoftmax = asm.AttnSoftmaxAVX512
		attnAccumF16, attnAccumF32 = asm.AttnAccumF16AVX512, asm.AttnAccumF32AVX512
		if cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL {
			matVecF16 = asm.MatVecF16AVX512
		}
	}
	variant = name
}
