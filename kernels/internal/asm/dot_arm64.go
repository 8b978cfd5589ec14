//go:build arm64 && !purego

package asm

// dotF32NEON returns Σ a[i]·b[i], i < n, with NEON FMLA: four 4-lane
// partial sums over 16-element steps, one over 4-element steps, reduced
// pairwise, then the tail in order with FMADD:
//
//	for i := 0; i < n; i++ { s = fma(a[i], b[i], s) } // up to reassociation
//
//go:noescape
func dotF32NEON(a, b *float32, n int) float32

// axpyNEON computes y[i] = fma(a, x[i], y[i]), i < n, which is what the Go
// compiler makes of the reference loop on arm64.
//
//go:noescape
func axpyNEON(a float32, x, y *float32, n int)

// dotQ8SDOT is DotQ8 over nb blocks with SDOT (needs FEAT_DotProd):
//
//	for b := 0; b < nb; b++ {
//		acc := Σ_{i<32} int32(int8(w[b·34+2+i])) · int32(xq[b·32+i])
//		s = fma(f16(w[b·34:])·xs[b], float32(acc), s)
//	}
//
//go:noescape
func dotQ8SDOT(w *byte, xq *int8, xs *float32, nb int) float32

// dotQ4SDOT is DotQ4 over nb blocks with SDOT (needs FEAT_DotProd):
//
//	for b := 0; b < nb; b++ {
//		q := w[b·18+2 : b·18+18]
//		acc := Σ_{j<16} (int32(q[j]&15)-8)·int32(xq[b·32+j]) + (int32(q[j]>>4)-8)·int32(xq[b·32+j+16])
//		s = fma(f16(w[b·18:])·xs[b], float32(acc), s)
//	}
//
//go:noescape
func dotQ4SDOT(w *byte, xq *int8, xs *float32, nb int) float32

// dotQ8NEON is dotQ8SDOT without FEAT_DotProd (SMULL/SMLAL2/SADALP).
//
//go:noescape
func dotQ8NEON(w *byte, xq *int8, xs *float32, nb int) float32

// dotQ4NEON is dotQ4SDOT without FEAT_DotProd (SMULL/SMLAL2/SADALP).
//
//go:noescape
func dotQ4NEON(w *byte, xq *int8, xs *float32, nb int) float32

// DotF32NEON is DotF32 with NEON (different summation order).
func DotF32NEON(a, b []float32) float32 {
	n := len(a)
	if n == 0 {
		return 0
	}
	_ = b[n-1]
	return dotF32NEON(&a[0], &b[0], n)
}

// AxpyNEON is Axpy with NEON.
func AxpyNEON(a float32, x, y []float32) {
	n := len(x)
	if n == 0 {
		return
	}
	_ = y[n-1]
	axpyNEON(a, &x[0], &y[0], n)
}

// DotQ8SDOT is DotQ8 with NEON SDOT (needs FEAT_DotProd); integer block
// sums are exact for the whole int8 range.
func DotQ8SDOT(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q8Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ8SDOT(&w[0], &xq[0], &xs[0], nb)
}

// DotQ4SDOT is DotQ4 with NEON SDOT (needs FEAT_DotProd).
func DotQ4SDOT(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q4Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ4SDOT(&w[0], &xq[0], &xs[0], nb)
}

// x4 applies a one-row dot to four activation rows laid out as in DotQ8x4
// (rows n = 32·nb apart, scales nb apart). The weight row is re-read from
// cache for each row; a 4-row SDOT kernel is future work.
func x4(dot func([]byte, []int8, []float32) float32, bs int, w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
	nb := len(w) / bs
	n := nb * QK
	xq, xs = xq[:4*n], xs[:4*nb]
	return dot(w, xq[:n], xs[:nb]), dot(w, xq[n:2*n], xs[nb:2*nb]),
		dot(w, xq[2*n:3*n], xs[2*nb:3*nb]), dot(w, xq[3*n:], xs[3*nb:])
}

// SDOTQuant returns the NEON SDOT integer loops (needs FEAT_DotProd).
func SDOTQuant() QuantSet { return oneRowQuant(DotQ8SDOT, DotQ4SDOT) }

// oneRowQuant is the integer set of one-row dots q8 and q4, their 4-row
// forms calling them once per row (x4).
func oneRowQuant(q8, q4 func([]byte, []int8, []float32) float32) QuantSet {
	return quantSet(q8, q4,
		func(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
			return x4(q8, Q8Bytes, w, xq, xs)
		},
		func(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
			return x4(q4, Q4Bytes, w, xq, xs)
		})
}

// DotQ8NEON is DotQ8 with plain NEON (no FEAT_DotProd); activations must be
// in [-127, 127], as QuantizeQ8Act makes them.
func DotQ8NEON(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q8Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ8NEON(&w[0], &xq[0], &xs[0], nb)
}

// DotQ4NEON is DotQ4 with plain NEON (no FEAT_DotProd).
func DotQ4NEON(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q4Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ4NEON(&w[0], &xq[0], &xs[0], nb)
}

// NEONQuant returns the plain NEON integer loops (any ARMv8-A CPU).
func NEONQuant() QuantSet { return oneRowQuant(DotQ8NEON, DotQ4NEON) }
