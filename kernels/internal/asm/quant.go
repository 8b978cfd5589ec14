package asm

// Block sizes of the llama.cpp formats used here.
const (
	// QK is the number of weights per quantisation block.
	QK = 32
	// Q8Bytes is the size of a q8_0 block: f16 scale + 32 int8.
	Q8Bytes = 34
	// Q4Bytes is the size of a q4_0 block: f16 scale + 16 bytes of nibbles.
	Q4Bytes = 18
)

// QuantizeQ8Act quantises activations x (len a multiple of 32) to int8 per
// 32-block: scale s = max|x|/127 (xs[b] = s), xq = round(x/s). This is the
// activation side of the integer dot products; the scale is kept in f32.
func QuantizeQ8Act(x []float32, xq []int8, xs []float32) {
	nb := len(x) / QK
	xq = xq[:nb*QK]
	xs = xs[:nb]
	for b := 0; b < nb; b++ {
		blk := x[b*QK : b*QK+QK : b*QK+QK]
		q := xq[b*QK : b*QK+QK : b*QK+QK]
		var amax float32
		for _, v := range blk {
			if v < 0 {
				v = -v
			}
			if v > amax {
				amax = v
			}
		}
		d := amax / 127
		xs[b] = d
		if d == 0 {
			for i := range q {
				q[i] = 0
			}
			continue
		}
		id := 1 / d
		for i, v := range blk {
			v *= id
			if v >= 0 {
				q[i] = int8(int32(v + 0.5))
			} else {
				q[i] = int8(int32(v - 0.5))
			}
		}
	}
}

// DotQ8 returns the dot product of one q8_0 weight row w (nb blocks of 34
// bytes) with activations quantised by QuantizeQ8Act. Each block's integer
// products are summed exactly in int32, then scaled; blocks are accumulated
// in order in float32.
func DotQ8(w []byte, xq []int8, xs []float32) float32 {
	nb := len(w) / Q8Bytes
	xs = xs[:nb]
	t := F16Table
	var s float32
	for b := 0; b < nb; b++ {
		blk := w[b*Q8Bytes : b*Q8Bytes+Q8Bytes : b*Q8Bytes+Q8Bytes]
		x := xq[b*QK : b*QK+QK : b*QK+QK]
		q := blk[2:34]
		var acc int32
		for i := 0; i < QK; i += 4 {
			acc += int32(int8(q[i]))*int32(x[i]) + int32(int8(q[i+1]))*int32(x[i+1]) +
				int32(int8(q[i+2]))*int32(x[i+2]) + int32(int8(q[i+3]))*int32(x[i+3])
		}
		s += t[uint16(blk[0])|uint16(blk[1])<<8] * xs[b] * float32(acc)
	}
	return s
}

// DotQ8x4 is DotQ8 of one weight row against four activation rows stored
// back to back: xq[k·n:(k+1)·n], xs[k·nb:(k+1)·nb] with n = nb·32. The
// result for each row is bit-identical to DotQ8.
func DotQ8x4(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
	nb := len(w) / Q8Bytes
	n := nb * QK
	xs = xs[:4*nb]
	xq = xq[:4*n]
	t := F16Table
	for b := 0; b < nb; b++ {
		blk := w[b*Q8Bytes : b*Q8Bytes+Q8Bytes : b*Q8Bytes+Q8Bytes]
		q := blk[2:34]
		o := b * QK
		x0 := xq[o : o+QK : o+QK]
		x1 := xq[n+o : n+o+QK : n+o+QK]
		x2 := xq[2*n+o : 2*n+o+QK : 2*n+o+QK]
		x3 := xq[3*n+o : 3*n+o+QK : 3*n+o+QK]
		var a0, a1, a2, a3 int32
		for i := 0; i < QK; i++ {
			v := int32(int8(q[i]))
			a0 += v * int32(x0[i])
			a1 += v * int32(x1[i])
			a2 += v * int32(x2[i])
			a3 += v * int32(x3[i])
		}
		d := t[uint16(blk[0])|uint16(blk[1])<<8]
		r0 += d * xs[b] * float32(a0)
		r1 += d * xs[nb+b] * float32(a1)
		r2 += d * xs[2*nb+b] * float32(a2)
		r3 += d * xs[3*nb+b] * float32(a3)
	}
	return
}

// DotQ4 returns the dot product of one q4_0 weight row w (nb blocks of 18
// bytes; byte j holds weight j in its low nibble and weight j+16 in its high
// nibble; value = (nibble-8)·scale) with q8 activations. Integer block sums
// are exact; blocks are accumulated in order in float32.
func DotQ4(w []byte, xq []int8, xs []float32) float32 {
	nb := len(w) / Q4Bytes
	xs = xs[:nb]
	t := F16Table
	var s float32
	for b := 0; b < nb; b++ {
		blk := w[b*Q4Bytes : b*Q4Bytes+Q4Bytes : b*Q4Bytes+Q4Bytes]
		x := xq[b*QK : b*QK+QK : b*QK+QK]
		q := blk[2:18]
		var acc int32
		for j := 0; j < 16; j++ {
			v := q[j]
			acc += (int32(v&15)-8)*int32(x[j]) + (int32(v>>4)-8)*int32(x[j+16])
		}
		s += t[uint16(blk[0])|uint16(blk[1])<<8] * xs[b] * float32(acc)
	}
	return s
}

// DotQ4x4 is DotQ4 of one weight row against four activation rows laid out
// as in DotQ8x4; each result is bit-identical to DotQ4.
func DotQ4x4(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32) {
	nb := len(w) / Q4Bytes
	n := nb * QK
	xs = xs[:4*nb]
	xq = xq[:4*n]
	t := F16Table
	for b := 0; b < nb; b++ {
		blk := w[b*Q4Bytes : b*Q4Bytes+Q4Bytes : b*Q4Bytes+Q4Bytes]
		q := blk[2:18]
		o := b * QK
		x0 := xq[o : o+QK : o+QK]
		x1 := xq[n+o : n+o+QK : n+o+QK]
		x2 := xq[2*n+o : 2*n+o+QK : 2*n+o+QK]
		x3 := xq[3*n+o : 3*n+o+QK : 3*n+o+QK]
		var a0, a1, a2, a3 int32
		for j := 0; j < 16; j++ {
			lo := int32(q[j]&15) - 8
			hi := int32(q[j]>>4) - 8
			a0 += lo*int32(x0[j]) + hi*int32(x0[j+16])
			a1 += lo*int32(x1[j]) + hi*int32(x1[j+16])
			a2 += lo*int32(x2[j]) + hi*int32(x2[j+16])
			a3 += lo*int32(x3[j]) + hi*int32(x3[j+16])
		}
		d := t[uint16(blk[0])|uint16(blk[1])<<8]
		r0 += d * xs[b] * float32(a0)
		r1 += d * xs[nb+b] * float32(a1)
		r2 += d * xs[2*nb+b] * float32(a2)
		r3 += d * xs[3*nb+b] * float32(a3)
	}
	return
}
