package asm

// Candidate implementations checked against the pure-Go reference loops.
// The reference itself is always the first entry, so with -tags purego (or
// on an architecture without assembly) the tests compare the reference
// with itself and still exercise every length and guard check.
// impls_<arch>_test.go appends the SIMD versions the CPU supports.

type impl[F any] struct {
	name string
	f    F
}

type (
	dotQFn   = func(w []byte, xq []int8, xs []float32) float32
	dotQx4Fn = func(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32)
	// A decode pipeline: pack one activation row, then dot a weight row.
	q4PairsImpl struct {
		pack func(dst []uint64, sums []int32, xq []int8)
		dot  func(w []byte, xp []uint64, sums []int32, xs []float32) float32
	}
	// A prefill pipeline: pack four rows, then dot four or eight rows.
	x4Impl struct {
		pack  func(dst []uint64, xq []int8, n int)
		dot4  func(w []byte, xp []uint64, xs []float32) (r0, r1, r2, r3 float32)
		dot8  func(w []byte, xa, xb []uint64, xs []float32, r *[8]float32)
		q4    bool
		words func(n int) int // uint64 words per packed group of four rows
	}
	dotF32Fn    = func(a, b []float32) float32
	dotF32x4Fn  = func(w, x []float32) (r0, r1, r2, r3 float32)
	dotF16Fn    = func(w []uint16, x []float32) float32
	axpyFn      = func(a float32, x, y []float32)
	axpyF16Fn   = func(a float32, x []uint16, y []float32)
	f16RowFn    = func(dst []float32, src []uint16)
	scaleFn     = func(a float32, y []float32)
	quantFn     = func(x []float32, xq []int8, xs []float32)
	swiGLUFn    = func(gate, up []float32)
	expShiftFn  = func(x []float32, m float32)
	matVecF32Fn = func(dst, w []float32, c int, x []float32)
	matVecF16Fn = func(dst []float32, w []uint16, c int, x []float32)
	// attention tile loops (attntile.go)
	attnScoresF16Fn = func(s []float32, ldS int, q []float32, R, hd int, kt []uint16, nb, blk int)
	attnScoresF32Fn = func(s []float32, ldS int, q []float32, R, hd int, kt []float32, nb, blk int)
	attnAccumF16Fn  = func(acc []float32, R, hd int, c, p []float32, ldP int, v []uint16, T, ldV int)
	attnAccumF32Fn  = func(acc []float32, R, hd int, c, p []float32, ldP int, v []float32, T, ldV int)
	attnSoftmaxFn   = func(s []float32, ldS, R, T int, m, l, c []float32)
)

var (
	dotQ8Impls   = []impl[dotQFn]{{"go", DotQ8}}
	dotQ4Impls   = []impl[dotQFn]{{"go", DotQ4}}
	dotQ8x4Impls = []impl[dotQx4Fn]{{"go", DotQ8x4}}
	dotQ4x4Impls = []impl[dotQx4Fn]{{"go", DotQ4x4}}
	q4PairImpls  = []impl[q4PairsImpl]{{"go", q4PairsImpl{PackQ4Pairs, DotQ4Pairs}}}
	x4Impls      = []impl[x4Impl]{
		{"go-q4", x4Impl{PackQ4x4, DotQ4x4Packed, DotQ4x8Packed, true, func(n int) int { return n }}},
		{"go-q8", x4Impl{PackQ8x4, DotQ8x4Packed, DotQ8x8Packed, false, func(n int) int { return 2 * n }}},
	}
	dotF32Impls    = []impl[dotF32Fn]{{"go", DotF32}}
	dotF32x4Impls  = []impl[dotF32x4Fn]{{"go", DotF32x4}}
	dotF16Impls    = []impl[dotF16Fn]{{"go", DotF16}}
	axpyImpls      = []impl[axpyFn]{{"go", Axpy}}
	axpyF16Impls   = []impl[axpyF16Fn]{{"go", AxpyF16}}
	f16RowImpls    = []impl[f16RowFn]{{"go", F16ToF32Row}}
	scaleImpls     = []impl[scaleFn]{{"go", Scale}}
	quantImpls     = []impl[quantFn]{{"go", QuantizeQ8Act}}
	swiGLUImpls    = []impl[swiGLUFn]{{"go", SwiGLU}}
	expShiftImpls  = []impl[expShiftFn]{{"go", ExpShift}}
	matVecF32Impls = []impl[matVecF32Fn]{{"go", MatVecF32}}
	matVecF16Impls = []impl[matVecF16Fn]{{"go", MatVecF16}}

	attnScoresF16Impls = []impl[attnScoresF16Fn]{{"go", AttnScoresF16}}
	attnScoresF32Impls = []impl[attnScoresF32Fn]{{"go", AttnScoresF32}}
	attnAccumF16Impls  = []impl[attnAccumF16Fn]{{"go", AttnAccumF16}}
	attnAccumF32Impls  = []impl[attnAccumF32Fn]{{"go", AttnAccumF32}}
	attnSoftmaxImpls   = []impl[attnSoftmaxFn]{{"go", AttnSoftmax}}
)

type stateStepFn = func(s []float32, w int, a, b, c, x, y []float32)

var stateStepImpls = []impl[stateStepFn]{{"go", StateStep}}
