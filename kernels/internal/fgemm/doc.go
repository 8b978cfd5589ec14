// Package fgemm is a register-blocked f32 matrix-matrix product for prefill:
// for a row-major weight matrix W (rows of c floats) and n activation rows X
// (n×c, row-major), MulRows computes
//
//	dst[t*ldd + r] = Σ_k W[r*c+k]·X[t*c+k]
//
// for the rows r of one call and every token t < n.
//
// # Layout ("lanes are tokens")
//
// Pack transposes X in groups of 16 tokens into Xp[g][k][16], zero-padding
// the last group, so Xp[g][k] is 16 consecutive floats (two 256-bit
// registers). The AVX2/FMA micro-kernel keeps a tile of 6 weight rows × 16
// tokens in 12 ymm accumulators and, for every k, loads Xp[g][k] once,
// broadcasts W[r][k] once per row and issues two FMAs per row
// (acc[r] += W[r][k]·Xp[g][k]).
//
// # Determinism
//
// Every output element is one sequential fused-multiply-add chain over k in
// ascending order, starting from +0:
//
//	s := float32(0)
//	for k := 0; k < c; k++ { s = asm.FMA32(W[r*c+k], X[t*c+k], s) }
//	dst[t*ldd+r] = s
//
// with one rounding per step (IEEE 754 fusedMultiplyAdd in binary32, round
// to nearest even). A lane of an accumulator register never mixes with another
// lane, and tails are handled by recomputing (duplicated row pointers,
// zero-padded token lanes) rather than by a
// different summation, so the value of (t, r) depends only on W row r, X row
// t and c: not on the row range of the call, on how a caller splits rows
// between threads, on n, or on t's position in its group. The pure-Go
// fallback computes exactly the same chain (with an exact binary32 FMA built
// from float64 arithmetic), so the assembly and Go paths agree bit for bit.
// The f16 variant converts weights to f32 exactly first and then runs the
// same chain.
package fgemm
