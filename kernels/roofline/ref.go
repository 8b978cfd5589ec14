package roofline

// sumGo is the reference read loop:
//
//	for _, v := range p { s += v } // uint64, wrapping
//
// with eight independent accumulators so that the pure-Go variant is not
// limited by one add chain.
func sumGo(p []uint64) uint64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	i := 0
	for ; i+8 <= len(p); i += 8 {
		q := p[i : i+8 : i+8]
		s0 += q[0]
		s1 += q[1]
		s2 += q[2]
		s3 += q[3]
		s4 += q[4]
		s5 += q[5]
		s6 += q[6]
		s7 += q[7]
	}
	for ; i < len(p); i++ {
		s0 += p[i]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}

// fmaRef is the reference of every FMA loop: iters times, every
// accumulator lane k gains a[k%L]·b[k%L], L = len(a):
//
//	for it := 0; it < iters; it++ {
//		for k := range acc { acc[k] += a[k%L] * b[k%L] }
//	}
//
// The SIMD loops fuse the multiply and the add (one rounding); with inputs
// whose products and sums are exact (small integers) both give the same
// bits.
func fmaRef(acc, a, b []float32, iters int) {
	L := len(a)
	for it := 0; it < iters; it++ {
		for k := range acc {
			acc[k] += a[k%L] * b[k%L]
		}
	}
}

// fmaGo is the pure-Go throughput loop: eight scalar accumulators, each
// updated by one multiply-add per iteration in a form whose product
// depends on the accumulator, so the compiler can neither merge nor hoist
// the multiplications (c += x·y with constant x, y would compile to one
// product and eight adds):
//
//	for it := 0; it < iters; it++ {
//		for k := range acc[:8] { acc[k] = acc[k]*a[0] + b[0] }
//	}
//
// It counts as 2 FLOPs per accumulator per iteration, like the SIMD loops.
func fmaGo(acc, a, b []float32, iters int) {
	x, y := a[0], b[0]
	acc = acc[:8:8]
	c0, c1, c2, c3, c4, c5, c6, c7 := acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
	for it := 0; it < iters; it++ {
		c0 = c0*x + y
		c1 = c1*x + y
		c2 = c2*x + y
		c3 = c3*x + y
		c4 = c4*x + y
		c5 = c5*x + y
		c6 = c6*x + y
		c7 = c7*x + y
	}
	acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7] = c0, c1, c2, c3, c4, c5, c6, c7
}

// fmaGoRef is fmaGo's loop as written in its doc comment, one accumulator
// at a time.
func fmaGoRef(acc, a, b []float32, iters int) {
	for it := 0; it < iters; it++ {
		for k := range acc[:8] {
			acc[k] = acc[k]*a[0] + b[0]
		}
	}
}
