package asm

// DotF32 returns Σ a[i]·b[i] over len(a) elements (len(b) ≥ len(a)).
// Summation order: four interleaved float32 partial sums (i mod 4), combined
// as (s0+s1)+(s2+s3), then the tail in order.
func DotF32(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		aa := a[i : i+4 : i+4]
		bb := b[i : i+4 : i+4]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	s := (s0 + s1) + (s2 + s3)
	for ; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

// DotF32x4 returns the dot products of w with four vectors stored back to
// back in x (x[k·n:(k+1)·n], n = len(w)). Each weight is loaded once for the
// four products. Summation order per product: two interleaved partial sums
// (i mod 2), added at the end, then the odd tail.
func DotF32x4(w, x []float32) (r0, r1, r2, r3 float32) {
	n := len(w)
	x0 := x[0:n:n]
	x1 := x[n : 2*n : 2*n]
	x2 := x[2*n : 3*n : 3*n]
	x3 := x[3*n : 4*n : 4*n]
	var a0, a1, b0, b1, c0, c1, d0, d1 float32
	i := 0
	for ; i+2 <= n; i += 2 {
		ww := w[i : i+2 : i+2]
		y0 := x0[i : i+2 : i+2]
		y1 := x1[i : i+2 : i+2]
		y2 := x2[i : i+2 : i+2]
		y3 := x3[i : i+2 : i+2]
		w0, w1 := ww[0], ww[1]
		a0 += w0 * y0[0]
		a1 += w1 * y0[1]
		b0 += w0 * y1[0]
		b1 += w1 * y1[1]
		c0 += w0 * y2[0]
		c1 += w1 * y2[1]
		d0 += w0 * y3[0]
		d1 += w1 * y3[1]
	}
	r0, r1, r2, r3 = a0+a1, b0+b1, c0+c1, d0+d1
	if i < n {
		w0 := w[i]
		r0 += w0 * x0[i]
		r1 += w0 * x1[i]
		r2 += w0 * x2[i]
		r3 += w0 * x3[i]
	}
	return
}

// DotF16 returns Σ f16(w[i])·x[i] over len(w) elements, with the same
// summation order as DotF32.
func DotF16(w []uint16, x []float32) float32 {
	n := len(w)
	x = x[:n]
	t := F16Table
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		ww := w[i : i+4 : i+4]
		xx := x[i : i+4 : i+4]
		s0 += t[ww[0]] * xx[0]
		s1 += t[ww[1]] * xx[1]
		s2 += t[ww[2]] * xx[2]
		s3 += t[ww[3]] * xx[3]
	}
	s := (s0 + s1) + (s2 + s3)
	for ; i < n; i++ {
		s += t[w[i]] * x[i]
	}
	return s
}

// F16ToF32Row decodes len(src) half-precision values into dst.
func F16ToF32Row(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	t := F16Table
	for i, h := range src {
		dst[i] = t[h]
	}
}

// Axpy computes y[i] += a·x[i] for i < len(x).
func Axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// AxpyF16 computes y[i] += a·f16(x[i]) for i < len(x).
func AxpyF16(a float32, x []uint16, y []float32) {
	y = y[:len(x)]
	t := F16Table
	for i, h := range x {
		y[i] += a * t[h]
	}
}

// Scale computes y[i] *= a.
func Scale(a float32, y []float32) {
	for i := range y {
		y[i] *= a
	}
}

// SumSquares returns Σ x[i]² accumulated in float64, in index order.
func SumSquares(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// RMSNorm writes dst[i] = w[i]·x[i]/sqrt(mean(x²)+eps) for i < len(x);
// w may be nil for a unit weight. dst may alias x.
func RMSNorm(dst, x, w []float32, eps float32, invSqrt func(float64) float64) {
	n := len(x)
	dst = dst[:n]
	r := float32(invSqrt(SumSquares(x)/float64(n) + float64(eps)))
	if w == nil {
		for i, v := range x {
			dst[i] = v * r
		}
		return
	}
	w = w[:n]
	for i, v := range x {
		dst[i] = w[i] * (v * r)
	}
}
