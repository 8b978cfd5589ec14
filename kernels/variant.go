package kernels

import "github.com/hilsearch/hilsearch/kernels/internal/asm"

// The inner loops the kernels call. They are chosen once, at package
// initialisation, and never change afterwards; a SIMD implementation
// replaces an entry here without touching any caller (see docs/kernels.md).
var (
	dotF32        = asm.DotF32
	dotF32x4      = asm.DotF32x4
	dotF16        = asm.DotF16
	f16Row        = asm.F16ToF32Row
	dotQ8         = asm.DotQ8
	dotQ8x4p      = asm.DotQ8x4Packed
	dotQ4x4p      = asm.DotQ4x4Packed
	dotQ4x8p      = asm.DotQ4x8Packed
	dotQ8x8p      = asm.DotQ8x8Packed
	packQ8x4      = asm.PackQ8x4
	packQ4x4      = asm.PackQ4x4
	packQ4Pairs   = asm.PackQ4Pairs
	dotQ4Pairs    = asm.DotQ4Pairs
	quantizeQ8Act = asm.QuantizeQ8Act
	axpy          = asm.Axpy
	scaleVec      = asm.Scale
	swiGLU        = asm.SwiGLU
	// the attention tile loops (attention.go); every implementation gives
	// the reference's bits
	attnScoresF16 = asm.AttnScoresF16
	attnScoresF32 = asm.AttnScoresF32
	attnSoftmax   = asm.AttnSoftmax
	attnAccumF16  = asm.AttnAccumF16
	attnAccumF32  = asm.AttnAccumF32
	// stateStep is the decode step of the linear-attention and SSM states
	stateStep = asm.StateStep
	// matVecF32, when set, computes a whole row range of an f32 matrix ×
	// vector product (decode); otherwise each row is one dotF32.
	matVecF32 func(dst, w []float32, c int, x []float32)
	// matVecF16 is the same for f16 weights (otherwise one dotF16 per row).
	matVecF16 func(dst []float32, w []uint16, c int, x []float32)
	variant   = "go"
)

// Variant names the inner-loop implementation selected at start-up: "go"
// for the portable pure-Go loops (the only one so far), later e.g. "avx2"
// or "avx512vnni". Measurements record it.
func Variant() string { return variant }
