//go:build arm64 && !purego

package asm

// accumRowsNEON is AccumRows for n a multiple of 4 (stride in bytes): a
// chunk of 16 (then 4) floats of y stays in registers while the m rows
// pass, each row one FMLA per element (fused, as the Go compiler makes
// Axpy on arm64), rows in order.
//
//go:noescape
func accumRowsNEON(y *float32, n int, p *float32, m int, x *float32, strideBytes int)

// scoreRowsNEON is ScoreRows for n = len(q) a multiple of 4 with FMLA:
// four rows at a time share each load of q; per row two 4-lane partial
// sums over 8-float steps (a last 4-float step into the first), added,
// then the lanes as (l0+l1)+(l2+l3), times scale. A row gets the same
// operations whether it runs in a group of four or alone.
//
//go:noescape
func scoreRowsNEON(dst *float32, m int, q *float32, n int, x *float32, strideBytes int, scale float32)

// AccumRowsNEON is AccumRows with NEON, bit for bit (a row length that is
// not a multiple of 4 goes through AxpyNEON row by row).
func AccumRowsNEON(y, p, x []float32, stride int) {
	n, m := len(y), len(p)
	if n == 0 || m == 0 {
		return
	}
	_ = x[(m-1)*stride+n-1]
	if n%4 != 0 || stride < 0 {
		for j, a := range p {
			AxpyNEON(a, x[j*stride:j*stride+n], y)
		}
		return
	}
	accumRowsNEON(&y[0], n, &p[0], m, &x[0], 4*stride)
}

// ScoreRowsNEON is ScoreRows with NEON (a different summation order from
// DotF32; rows of a length that is not a multiple of 4 use DotF32NEON).
func ScoreRowsNEON(dst, q, x []float32, stride int, scale float32) {
	n, m := len(q), len(dst)
	if m == 0 {
		return
	}
	if n == 0 {
		clear(dst)
		return
	}
	_ = x[(m-1)*stride+n-1]
	if n%4 != 0 || stride < 0 {
		for j := range dst {
			dst[j] = DotF32NEON(q, x[j*stride:j*stride+n]) * scale
		}
		return
	}
	scoreRowsNEON(&dst[0], m, &q[0], n, &x[0], 4*stride, scale)
}
