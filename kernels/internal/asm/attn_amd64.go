//go:build amd64 && !purego

package asm

// accumRowsAVX2 is AccumRows for n a multiple of 32 (stride in bytes):
// the y chunk of 32 floats stays in four ymm accumulators while the m rows
// pass, each row a product then a sum as in axpyAVX2.
//
//go:noescape
func accumRowsAVX2(y *float32, n int, p *float32, m int, x *float32, strideBytes int)

// scoreRowsAVX2 is ScoreRows for n = len(q) a multiple of 32 with FMA:
// per row four 8-lane partial sums over 32-float steps, reduced as
// ((s0+s1)+(s2+s3)) and then across lanes, times scale.
//
//go:noescape
func scoreRowsAVX2(dst *float32, m int, q *float32, n int, x *float32, strideBytes int, scale float32)

// AccumRowsAVX2 is AccumRows with AVX2, bit for bit (a row length that is
// not a multiple of 32 goes through AxpyAVX2 row by row).
func AccumRowsAVX2(y, p, x []float32, stride int) {
	n, m := len(y), len(p)
	if n == 0 || m == 0 {
		return
	}
	_ = x[(m-1)*stride+n-1]
	if n%32 != 0 || stride < 0 {
		for j, a := range p {
			AxpyAVX2(a, x[j*stride:j*stride+n], y)
		}
		return
	}
	accumRowsAVX2(&y[0], n, &p[0], m, &x[0], 4*stride)
}

// ScoreRowsAVX2 is ScoreRows with AVX2 and FMA (a different summation
// order from DotF32; rows of a length that is not a multiple of 32 use
// DotF32FMA).
func ScoreRowsAVX2(dst, q, x []float32, stride int, scale float32) {
	n, m := len(q), len(dst)
	if m == 0 {
		return
	}
	if n == 0 {
		clear(dst)
		return
	}
	_ = x[(m-1)*stride+n-1]
	if n%32 != 0 || stride < 0 {
		for j := range dst {
			dst[j] = DotF32FMA(q, x[j*stride:j*stride+n]) * scale
		}
		return
	}
	scoreRowsAVX2(&dst[0], m, &q[0], n, &x[0], 4*stride, scale)
}
