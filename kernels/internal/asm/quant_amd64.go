//go:build amd64 && !purego

package asm

// The assembly loops take raw pointers and a block count; the exported
// wrappers below check the slice lengths first (the same checks the
// reference loops make by slicing), so an assembly loop never reads or
// writes outside its arguments.

// dotQ8AVX2 is DotQ8 over nb blocks:
//
//	for b := 0; b < nb; b++ {
//		acc := Σ_{i<32} int32(int8(w[b·34+2+i])) · int32(xq[b·32+i])
//		s += f16(w[b·34:]) · xs[b] · float32(acc)
//	}
//
// xq must lie in [-127, 127] (QuantizeQ8Act's range).
//
//go:noescape
func dotQ8AVX2(w *byte, xq *int8, xs *float32, nb int) float32

// dotQ4AVX2 is DotQ4 over nb blocks:
//
//	for b := 0; b < nb; b++ {
//		q := w[b·18+2 : b·18+18]
//		acc := Σ_{j<16} (int32(q[j]&15)-8)·int32(xq[b·32+j]) + (int32(q[j]>>4)-8)·int32(xq[b·32+j+16])
//		s += f16(w[b·18:]) · xs[b] · float32(acc)
//	}
//
//go:noescape
func dotQ4AVX2(w *byte, xq *int8, xs *float32, nb int) float32

// dotQ8x4AVX2 is DotQ8x4: r[k] = DotQ8 of the weight row with activation
// row k (xq + k·32·nb, scales xs + k·nb), each bit-identical to dotQ8AVX2.
//
//go:noescape
func dotQ8x4AVX2(w *byte, xq *int8, xs *float32, nb int, r *[4]float32)

// dotQ4x4AVX2 is DotQ4x4, laid out as dotQ8x4AVX2.
//
//go:noescape
func dotQ4x4AVX2(w *byte, xq *int8, xs *float32, nb int, r *[4]float32)

// DotQ8AVX2 is DotQ8 (same result, bit for bit, as the reference compiled
// without FMA contraction) with AVX2; needs AVX2 and F16C. Activations must
// lie in [-127, 127], as QuantizeQ8Act produces.
func DotQ8AVX2(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q8Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ8AVX2(&w[0], &xq[0], &xs[0], nb)
}

// DotQ4AVX2 is DotQ4 with AVX2 and F16C; results as for DotQ8AVX2.
func DotQ4AVX2(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q4Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ4AVX2(&w[0], &xq[0], &xs[0], nb)
}

// DotQ8x4AVX2 is DotQ8x4 with AVX2 and F16C.
func DotQ8x4AVX2(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
	nb := rowBlocks(w, Q8Bytes, xq, xs, 4)
	if nb == 0 {
		return
	}
	var r [4]float32
	dotQ8x4AVX2(&w[0], &xq[0], &xs[0], nb, &r)
	return r[0], r[1], r[2], r[3]
}

// DotQ4x4AVX2 is DotQ4x4 with AVX2 and F16C.
func DotQ4x4AVX2(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
	nb := rowBlocks(w, Q4Bytes, xq, xs, 4)
	if nb == 0 {
		return
	}
	var r [4]float32
	dotQ4x4AVX2(&w[0], &xq[0], &xs[0], nb, &r)
	return r[0], r[1], r[2], r[3]
}

// dotQ8VNNI, dotQ4VNNI, dotQ8x4VNNI and dotQ4x4VNNI are the AVX2 loops
// above with VPDPBUSD (AVX512_VNNI on 256-bit registers, AVX512VL) in place
// of VPMADDUBSW+VPMADDWD; same results.
//
//go:noescape
func dotQ8VNNI(w *byte, xq *int8, xs *float32, nb int) float32

//go:noescape
func dotQ4VNNI(w *byte, xq *int8, xs *float32, nb int) float32

//go:noescape
func dotQ8x4VNNI(w *byte, xq *int8, xs *float32, nb int, r *[4]float32)

//go:noescape
func dotQ4x4VNNI(w *byte, xq *int8, xs *float32, nb int, r *[4]float32)

// DotQ8VNNI is DotQ8AVX2 with VPDPBUSD; needs AVX512_VNNI, AVX512VL, AVX2
// and F16C. Activations must
// lie in [-127, 127], as QuantizeQ8Act produces.
func DotQ8VNNI(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q8Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ8VNNI(&w[0], &xq[0], &xs[0], nb)
}

// DotQ4VNNI is DotQ4 with AVX512_VNNI, AVX512VL, AVX2 and F16C; results as for DotQ8AVX2.
func DotQ4VNNI(w []byte, xq []int8, xs []float32) float32 {
	nb := rowBlocks(w, Q4Bytes, xq, xs, 1)
	if nb == 0 {
		return 0
	}
	return dotQ4VNNI(&w[0], &xq[0], &xs[0], nb)
}

// DotQ8x4VNNI is DotQ8x4 with AVX512_VNNI, AVX512VL, AVX2 and F16C.
func DotQ8x4VNNI(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
	nb := rowBlocks(w, Q8Bytes, xq, xs, 4)
	if nb == 0 {
		return
	}
	var r [4]float32
	dotQ8x4VNNI(&w[0], &xq[0], &xs[0], nb, &r)
	return r[0], r[1], r[2], r[3]
}

// DotQ4x4VNNI is DotQ4x4 with AVX512_VNNI, AVX512VL, AVX2 and F16C.
func DotQ4x4VNNI(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
	nb := rowBlocks(w, Q4Bytes, xq, xs, 4)
	if nb == 0 {
		return
	}
	var r [4]float32
	dotQ4x4VNNI(&w[0], &xq[0], &xs[0], nb, &r)
	return r[0], r[1], r[2], r[3]
}

// AVX2Quant returns the AVX2 integer loops (needs AVX2 and F16C).
func AVX2Quant() QuantSet { return quantSet(DotQ8AVX2, DotQ4AVX2, DotQ8x4AVX2, DotQ4x4AVX2) }

// VNNIQuant returns the AVX512_VNNI integer loops (needs AVX512_VNNI,
// AVX512VL, AVX2 and F16C).
func VNNIQuant() QuantSet {
	q := quantSet(DotQ8VNNI, DotQ4VNNI, DotQ8x4VNNI, DotQ4x4VNNI)
	q.PackQ4Pairs, q.DotQ4Pairs = PackQ4PairsSums, DotQ4PairsSumsVNNI
	return q
}

// quantizeQ8ActAVX2 is QuantizeQ8Act over nb blocks, bit-identical to it:
//
//	amax := max_i |x[i]| (NaNs skipped); d := amax/127; xs[b] = d
//	if d == 0 { q = 0 } else { v := x[i]·(1/d); q[i] = int8(trunc(v ± 0.5)) } // sign of v
//
//go:noescape
func quantizeQ8ActAVX2(x *float32, xq *int8, xs *float32, nb int)

// QuantizeQ8ActAVX2 is QuantizeQ8Act with AVX2: bit-identical results
// for finite inputs (a NaN or infinite activation gives other, equally
// meaningless, codes).
func QuantizeQ8ActAVX2(x []float32, xq []int8, xs []float32) {
	nb := len(x) / QK
	if nb == 0 {
		return
	}
	_ = xq[nb*QK-1]
	_ = xs[nb-1]
	quantizeQ8ActAVX2(&x[0], &xq[0], &xs[0], nb)
}

// dotQ4SumsVNNI is DotQ4 over nb blocks given sums[b] = Σ_{i<32} xq[b·32+i]:
//
//	acc := Σ_{j<16} int32(q[j]&15)·int32(xq[b·32+j]) + int32(q[j]>>4)·int32(xq[b·32+j+16]) − 8·sums[b]
//	s += f16(w[b·18:]) · xs[b] · float32(acc)
//
// (the same acc as DotQ4, so the same result as dotQ4VNNI). Needs
// AVX512_VNNI and AVX512VL; any int8 activations.
//
//go:noescape
func dotQ4SumsVNNI(w *byte, xq *int8, xs *float32, sums *int32, nb int) float32

// PackQ4PairsSums stores xq as plain bytes in dst (len(xq)/8 entries) and
// the blocks' sums in sums, as PackQ4Pairs does; it pairs with
// DotQ4PairsSumsVNNI.
func PackQ4PairsSums(dst []uint64, sums []int32, xq []int8) {
	nb := len(xq) / QK
	sums = sums[:nb]
	copy(int8s(dst, len(xq)), xq)
	for b := range sums {
		var s int32
		for _, v := range xq[b*QK : b*QK+QK] {
			s += int32(v)
		}
		sums[b] = s
	}
}

// DotQ4PairsSumsVNNI replaces DotQ4Pairs for rows packed by
// PackQ4PairsSums (same result as DotQ4VNNI).
func DotQ4PairsSumsVNNI(w []byte, xp []uint64, sums []int32, xs []float32) float32 {
	nb := len(w) / Q4Bytes
	if nb == 0 {
		return 0
	}
	_ = xs[nb-1]
	_ = sums[nb-1]
	x := int8s(xp, nb*QK)
	return dotQ4SumsVNNI(&w[0], &x[0], &xs[0], &sums[0], nb)
}
