package asm

// Packed integer dot products for batches of four tokens. Four int8
// activations of one column are packed into 16-bit lanes of a uint64 (q4_0)
// or two into 32-bit lanes (q8_0); one 64-bit multiply by a weight then
// yields the four (two) products at once, and lane sums stay exact because
// a 32-weight block cannot overflow a lane: |Σ (n-8)·x| ≤ 32·8·127 < 2^15
// and |Σ q·x| ≤ 32·127·127 < 2^31. Results are bit-identical to DotQ4 and
// DotQ8 per token.

// PackQ4x4 packs four activation rows (xq[k·n:(k+1)·n]) into dst[i] =
// x0[i] + x1[i]·2^16 + x2[i]·2^32 + x3[i]·2^48 (mod 2^64).
func PackQ4x4(dst []uint64, xq []int8, n int) {
	dst = dst[:n]
	x0, x1, x2, x3 := xq[:n:n], xq[n:2*n:2*n], xq[2*n:3*n:3*n], xq[3*n:4*n:4*n]
	for i := range dst {
		dst[i] = uint64(int64(x0[i]) + int64(x1[i])<<16 + int64(x2[i])<<32 + int64(x3[i])<<48)
	}
}

// PackQ8x4 packs four activation rows into dst[2i] = x0[i] + x1[i]·2^32 and
// dst[2i+1] = x2[i] + x3[i]·2^32 (mod 2^64).
func PackQ8x4(dst []uint64, xq []int8, n int) {
	dst = dst[:2*n]
	x0, x1, x2, x3 := xq[:n:n], xq[n:2*n:2*n], xq[2*n:3*n:3*n], xq[3*n:4*n:4*n]
	for i := 0; i < n; i++ {
		dst[2*i] = uint64(int64(x0[i]) + int64(x1[i])<<32)
		dst[2*i+1] = uint64(int64(x2[i]) + int64(x3[i])<<32)
	}
}

// lane16 splits a sum of four signed 16-bit lanes.
func lane16(acc uint64) (a, b, c, d int32) {
	a = int32(int16(acc))
	acc = (acc - uint64(int64(a))) >> 16
	b = int32(int16(acc))
	acc = (acc - uint64(int64(b))) >> 16
	c = int32(int16(acc))
	acc = (acc - uint64(int64(c))) >> 16
	d = int32(int16(acc))
	return
}

// lane32 splits a sum of two signed 32-bit lanes.
func lane32(acc uint64) (a, b int32) {
	a = int32(acc)
	b = int32((acc - uint64(int64(a))) >> 32)
	return
}

// DotQ4x4Packed is DotQ4x4 with activations packed by PackQ4x4 (xp has
// nb·32 entries); xs holds the four rows' block scales back to back.
func DotQ4x4Packed(w []byte, xp []uint64, xs []float32) (r0, r1, r2, r3 float32) {
	nb := len(w) / Q4Bytes
	xs = xs[:4*nb]
	xp = xp[:nb*QK]
	t := F16Table
	for b := 0; b < nb; b++ {
		blk := w[b*Q4Bytes : b*Q4Bytes+Q4Bytes : b*Q4Bytes+Q4Bytes]
		q := blk[2:18]
		x := xp[b*QK : b*QK+QK : b*QK+QK]
		var acc uint64
		for j := 0; j < 16; j++ {
			v := q[j]
			acc += x[j]*uint64(int64(v&15)-8) + x[j+16]*uint64(int64(v>>4)-8)
		}
		a0, a1, a2, a3 := lane16(acc)
		d := t[uint16(blk[0])|uint16(blk[1])<<8]
		r0 += d * xs[b] * float32(a0)
		r1 += d * xs[nb+b] * float32(a1)
		r2 += d * xs[2*nb+b] * float32(a2)
		r3 += d * xs[3*nb+b] * float32(a3)
	}
	return
}

// DotQ8x4Packed is DotQ8x4 with activations packed by PackQ8x4 (xp has
// 2·nb·32 entries).
func DotQ8x4Packed(w []byte, xp []uint64, xs []float32) (r0, r1, r2, r3 float32) {
	nb := len(w) / Q8Bytes
	xs = xs[:4*nb]
	xp = xp[:2*nb*QK]
	t := F16Table
	for b := 0; b < nb; b++ {
		blk := w[b*Q8Bytes : b*Q8Bytes+Q8Bytes : b*Q8Bytes+Q8Bytes]
		q := blk[2:34]
		x := xp[2*b*QK : 2*b*QK+2*QK : 2*b*QK+2*QK]
		var acc0, acc1 uint64
		for i := 0; i < QK; i++ {
			v := uint64(int64(int8(q[i])))
			acc0 += x[2*i] * v
			acc1 += x[2*i+1] * v
		}
		a0, a1 := lane32(acc0)
		a2, a3 := lane32(acc1)
		d := t[uint16(blk[0])|uint16(blk[1])<<8]
		r0 += d * xs[b] * float32(a0)
		r1 += d * xs[nb+b] * float32(a1)
		r2 += d * xs[2*nb+b] * float32(a2)
		r3 += d * xs[3*nb+b] * float32(a3)
	}
	return
}

// q4Spread maps a q4_0 byte (weight j in the low nibble, weight j+16 in the
// high nibble) to low + high·2^32, the packed operand of DotQ4Pairs.
var q4Spread = func() *[256]uint64 {
	var t [256]uint64
	for v := range t {
		t[v] = uint64(v&15) | uint64(v>>4)<<32
	}
	return &t
}()

// PackQ4Pairs prepares one quantised activation row (n values, a multiple
// of 32) for DotQ4Pairs: dst[b·16+j] = x[b·32+j+16] + x[b·32+j]·2^32 and
// sums[b] = Σ of block b's values.
func PackQ4Pairs(dst []uint64, sums []int32, xq []int8) {
	nb := len(xq) / QK
	dst = dst[:nb*16]
	sums = sums[:nb]
	for b := 0; b < nb; b++ {
		x := xq[b*QK : b*QK+QK : b*QK+QK]
		d := dst[b*16 : b*16+16 : b*16+16]
		var s int32
		for j := 0; j < 16; j++ {
			d[j] = uint64(int64(x[j+16]) + int64(x[j])<<32)
			s += int32(x[j]) + int32(x[j+16])
		}
		sums[b] = s
	}
}

// DotQ4Pairs is DotQ4 (bit-identical) for one activation row packed by
// PackQ4Pairs. One 64-bit multiply of the spread weight byte (lo + hi·2^32)
// by the packed pair (x[j+16] + x[j]·2^32) leaves lo·x[j] + hi·x[j+16] in
// the upper half; the lower half, Σ lo·x[j+16], stays below 2^31 over a
// block and is peeled off exactly. Nibbles are unsigned here, so the block
// sum is corrected by −8·Σx.
func DotQ4Pairs(w []byte, xp []uint64, sums []int32, xs []float32) float32 {
	nb := len(w) / Q4Bytes
	xs = xs[:nb]
	sums = sums[:nb]
	xp = xp[:nb*16]
	t := F16Table
	sp := q4Spread
	var s float32
	for b := 0; b < nb; b++ {
		blk := w[b*Q4Bytes : b*Q4Bytes+Q4Bytes : b*Q4Bytes+Q4Bytes]
		q := blk[2:18]
		x := xp[b*16 : b*16+16 : b*16+16]
		var acc uint64
		for j := 0; j < 16; j++ {
			acc += sp[q[j]] * x[j]
		}
		lo := int32(acc)
		hi := int32((acc - uint64(int64(lo))) >> 32)
		s += t[uint16(blk[0])|uint16(blk[1])<<8] * xs[b] * float32(hi-8*sums[b])
	}
	return s
}

// DotQ4x8Packed is DotQ4x4Packed for two consecutive 4-token groups (xa,
// xb; xs holds the eight rows' block scales back to back): each weight is
// decoded once for eight products. Results are bit-identical to DotQ4.
func DotQ4x8Packed(w []byte, xa, xb []uint64, xs []float32, r *[8]float32) {
	nb := len(w) / Q4Bytes
	xs = xs[:8*nb]
	xa = xa[:nb*QK]
	xb = xb[:nb*QK]
	t := F16Table
	var s [8]float32
	for b := 0; b < nb; b++ {
		blk := w[b*Q4Bytes : b*Q4Bytes+Q4Bytes : b*Q4Bytes+Q4Bytes]
		q := blk[2:18]
		x := xa[b*QK : b*QK+QK : b*QK+QK]
		y := xb[b*QK : b*QK+QK : b*QK+QK]
		var acc, acd uint64
		for j := 0; j < 16; j++ {
			v := q[j]
			lo, hi := uint64(int64(v&15)-8), uint64(int64(v>>4)-8)
			acc += x[j]*lo + x[j+16]*hi
			acd += y[j]*lo + y[j+16]*hi
		}
		a0, a1, a2, a3 := lane16(acc)
		a4, a5, a6, a7 := lane16(acd)
		d := t[uint16(blk[0])|uint16(blk[1])<<8]
		s[0] += d * xs[b] * float32(a0)
		s[1] += d * xs[nb+b] * float32(a1)
		s[2] += d * xs[2*nb+b] * float32(a2)
		s[3] += d * xs[3*nb+b] * float32(a3)
		s[4] += d * xs[4*nb+b] * float32(a4)
		s[5] += d * xs[5*nb+b] * float32(a5)
		s[6] += d * xs[6*nb+b] * float32(a6)
		s[7] += d * xs[7*nb+b] * float32(a7)
	}
	*r = s
}

// DotQ8x8Packed is DotQ8x4Packed for two consecutive 4-token groups (xa,
// xb packed by PackQ8x4; xs holds the eight rows' block scales back to
// back): each weight is loaded once for eight products. Results are
// bit-identical to DotQ8.
func DotQ8x8Packed(w []byte, xa, xb []uint64, xs []float32, r *[8]float32) {
	nb := len(w) / Q8Bytes
	xs = xs[:8*nb]
	xa = xa[:2*nb*QK]
	xb = xb[:2*nb*QK]
	t := F16Table
	var s [8]float32
	for b := 0; b < nb; b++ {
		blk := w[b*Q8Bytes : b*Q8Bytes+Q8Bytes : b*Q8Bytes+Q8Bytes]
		q := blk[2:34]
		x := xa[2*b*QK : 2*b*QK+2*QK : 2*b*QK+2*QK]
		y := xb[2*b*QK : 2*b*QK+2*QK : 2*b*QK+2*QK]
		var a0, a1, a2, a3 uint64
		for i := 0; i < QK; i++ {
			v := uint64(int64(int8(q[i])))
			a0 += x[2*i] * v
			a1 += x[2*i+1] * v
			a2 += y[2*i] * v
			a3 += y[2*i+1] * v
		}
		l0, l1 := lane32(a0)
		l2, l3 := lane32(a1)
		l4, l5 := lane32(a2)
		l6, l7 := lane32(a3)
		d := t[uint16(blk[0])|uint16(blk[1])<<8]
		s[0] += d * xs[b] * float32(l0)
		s[1] += d * xs[nb+b] * float32(l1)
		s[2] += d * xs[2*nb+b] * float32(l2)
		s[3] += d * xs[3*nb+b] * float32(l3)
		s[4] += d * xs[4*nb+b] * float32(l4)
		s[5] += d * xs[5*nb+b] * float32(l5)
		s[6] += d * xs[6*nb+b] * float32(l6)
		s[7] += d * xs[7*nb+b] * float32(l7)
	}
	*r = s
}
