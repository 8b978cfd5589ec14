//go:build arm64 && !purego

package kernels

import (
	"github.com/hilsearch/hilsearch/kernels/internal/asm"
	"golang.org/x/sys/cpu"
)

// init replaces pure-Go inner loops with NEON ones: "neon" (ASIMD is part
// of ARMv8-A: FMLA f32 dot and axpy, FCVTL f16 rows; SwiGLU, the attention
// tile loops over the KV cache (scores, online softmax, value sums) and the
// recurrent state step, bit-identical to their pure-Go references; q8_0/q4_0
// dots with SMULL/SMLAL2/SADALP),
// "neon-dotprod" (the integer dots with SDOT instead) or "neon-i8mm" (as
// neon-dotprod; the q8_0/q4_0 prefill tiles in qgemm use SMMLA). Each
// integer set comes with its matched packing functions. (qgemm and fgemm
// pick their SDOT, SMMLA and FMLA kernels from the same CPU flags; the
// SMMLA and SDOT tiles give the same bits.) Build with -tags purego to keep
// the reference loops.
func init() {
	if !cpu.ARM64.HasASIMD {
		return
	}
	dotF32 = asm.DotF32NEON
	axpy = asm.AxpyNEON
	f16Row = asm.F16ToF32RowNEON
	swiGLU = asm.SwiGLUNEON
	attnScoresF16, attnScoresF32 = asm.AttnScoresF16NEON, asm.AttnScoresF32NEON
	attnSoftmax = asm.AttnSoftmaxNEON
	attnAccumF16, attnAccumF32 = asm.AttnAccumF16NEON, asm.AttnAccumF32NEON
	stateStep = asm.StateStepNEON
	q, name := asm.NEONQuant(), "neon"
	if cpu.ARM64.HasASIMDDP {
		q, name = asm.SDOTQuant(), "neon-dotprod"
		if cpu.ARM64.HasI8MM {
			name = "neon-i8mm"
		}
	}
	dotQ8 = q.DotQ8
	packQ4Pairs, dotQ4Pairs = q.PackQ4Pairs, q.DotQ4Pairs
	packQ4x4, dotQ4x4p, dotQ4x8p = q.PackQ4x4, q.DotQ4x4Packed, q.DotQ4x8Packed
	packQ8x4, dotQ8x4p, dotQ8x8p = q.PackQ8x4, q.DotQ8x4Packed, q.DotQ8x8Packed
	variant = name
}
