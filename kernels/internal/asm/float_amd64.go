//go:build amd64 && !purego

package asm

// dotF32FMA returns Σ a[i]·b[i], i < n, with FMA: four 8-lane partial sums
// over 32-element steps, then one over 8-element steps, reduced as
// ((p0+p1)+(p2+p3)) lane-pairwise, then the tail in order with FMA:
//
//	for i := 0; i < n; i++ { s = fma(a[i], b[i], s) } // up to reassociation
//
//go:noescape
func dotF32FMA(a, b *float32, n int) float32

// dotF16FMA is dotF32FMA with a read as half precision (F16C):
//
//	for i := 0; i < n; i++ { s = fma(f16(w[i]), x[i], s) } // up to reassociation
//
//go:noescape
func dotF16FMA(w *uint16, x *float32, n int) float32

// dotF32x4FMA writes r[k] = Σ w[i]·x[k·n+i], i < n, k < 4, each weight
// loaded once for the four rows (8-lane FMA partial sums, two per row).
//
//go:noescape
func dotF32x4FMA(w, x *float32, n int, r *[4]float32)

// axpyAVX2 computes y[i] += a·x[i], i < n (a product then a sum, rounded
// like the reference without FMA fusion).
//
//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

// axpyF16AVX2 computes y[i] += a·f16(x[i]), i < n.
//
//go:noescape
func axpyF16AVX2(a float32, x *uint16, y *float32, n int)

// scaleAVX2 computes y[i] *= a, i < n.
//
//go:noescape
func scaleAVX2(a float32, y *float32, n int)

// f16RowAVX2 writes dst[i] = f16(src[i]), i < n (F16C; a signalling NaN
// comes back quiet).
//
//go:noescape
func f16RowAVX2(dst *float32, src *uint16, n int)

// DotF32FMA is DotF32 with AVX2 and FMA (different summation order).
func DotF32FMA(a, b []float32) float32 {
	n := len(a)
	if n == 0 {
		return 0
	}
	_ = b[n-1]
	return dotF32FMA(&a[0], &b[0], n)
}

// DotF16FMA is DotF16 with AVX2, FMA and F16C (different summation order).
func DotF16FMA(w []uint16, x []float32) float32 {
	n := len(w)
	if n == 0 {
		return 0
	}
	_ = x[n-1]
	return dotF16FMA(&w[0], &x[0], n)
}

// DotF32x4FMA is DotF32x4 with AVX2 and FMA (different summation order).
func DotF32x4FMA(w, x []float32) (r0, r1, r2, r3 float32) {
	n := len(w)
	if n == 0 {
		return
	}
	_ = x[4*n-1]
	var r [4]float32
	dotF32x4FMA(&w[0], &x[0], n, &r)
	return r[0], r[1], r[2], r[3]
}

// AxpyAVX2 is Axpy with AVX2.
func AxpyAVX2(a float32, x, y []float32) {
	n := len(x)
	if n == 0 {
		return
	}
	_ = y[n-1]
	axpyAVX2(a, &x[0], &y[0], n)
}

// AxpyF16AVX2 is AxpyF16 with AVX2 and F16C.
func AxpyF16AVX2(a float32, x []uint16, y []float32) {
	n := len(x)
	if n == 0 {
		return
	}
	_ = y[n-1]
	axpyF16AVX2(a, &x[0], &y[0], n)
}

// ScaleAVX2 is Scale with AVX2.
func ScaleAVX2(a float32, y []float32) {
	if len(y) == 0 {
		return
	}
	scaleAVX2(a, &y[0], len(y))
}

// F16ToF32RowAVX2 is F16ToF32Row with F16C.
func F16ToF32RowAVX2(dst []float32, src []uint16) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[n-1]
	f16RowAVX2(&dst[0], &src[0], n)
}
