package qgemm

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// Matrix × vector (decode). One activation row is repacked once per
// product so that a weight row streams through the SIMD loop with no
// per-block horizontal reduction: every block's partial sums stay in their
// lanes, are scaled there (lane-wise d·xs) and accumulate in float32
// lanes; the lanes are reduced once per row. Each row's result is one
// fixed sequence of operations, so it does not depend on the row split.
//
// q4_0 processes two blocks per step: the 16 nibble bytes of block b fill
// the low 128-bit lane and those of block b+1 the high lane, so the
// activations are packed per block pair as 128 bytes:
//
//	[  0, 32)  x_b[0..15]  | x_b+1[0..15]   (low nibbles' columns)
//	[ 32, 64)  x_b[16..31] | x_b+1[16..31]  (high nibbles' columns)
//	[ 64, 96)  int32 −2·Σx_b ×4 | −2·Σx_b+1 ×4  (the −8·Σx of w = n − 8, spread over 4 lanes)
//	[ 96,128)  float32 xs_b ×4 | xs_b+1 ×4
//
// with a zero upper half for the last block of an odd count. q8_0 packs
// each block as 64 bytes: its 32 int8 activations and xs ×8.

//
// The AVX-512 VNNI loops (mv512) take four q4_0 blocks or two q8_0 blocks
// per 512-bit step and pack accordingly. q4_0, 256 bytes per block quad:
//
//	[  0, 64)  x_b[0..15] for the quad's blocks b in order (low nibbles)
//	[ 64,128)  x_b[16..31]                                 (high nibbles)
//	[128,192)  int32 −2·Σx_b ×4 per block
//	[192,256)  float32 xs_b ×4 per block
//
// q8_0, 192 bytes per block pair: the two blocks' 32 int8 activations,
// then int32 −16·Σx_b ×8 per block, then xs_b ×8 per block. The q8_0 loop
// flips the weights' sign bits (w XOR 0x80 = w + 128 as an unsigned byte)
// so that VPDPBUSD multiplies unsigned weights by signed activations; the
// packed corrections (8 × −16·Σx_b) remove the offset exactly. Blocks past the end of a row
// are packed as zeros and their scales load as zero.

// VecBytesQ4 and VecBytesQ8 are the packed sizes of one activation row of
// c values (c a multiple of 32): the larger of the two layouts, so that
// buffers do not depend on the CPU.
func VecBytesQ4(c int) int { return (c/QK + 3) / 4 * 256 }

// VecBytesQ8 is VecBytesQ4 for q8_0.
func VecBytesQ8(c int) int { return (c/QK + 1) / 2 * 192 }

// PackVecQ4 packs one activation row (xq: c int8 in [-127, 127], xs: c/32
// scales) for MatVecQ4 into dst (VecBytesQ4(c) bytes).
func PackVecQ4(dst []byte, xq []int8, xs []float32, c int) {
	if mv512 {
		packVecQ4x512(dst, xq, xs, c)
		return
	}
	if mvNEON {
		packVecQ4NEON(dst, xq, xs, c)
		return
	}
	nb := c / QK
	dst = dst[:VecBytesQ4(c)]
	xq = xq[:nb*QK]
	xs = xs[:nb]
	for b := 0; b < nb; b++ {
		o := dst[b/2*128 : b/2*128+128 : b/2*128+128]
		h := 16 * (b % 2)
		blk := xq[b*QK : b*QK+QK : b*QK+QK]
		var sum int32
		for i := 0; i < 16; i++ {
			o[h+i] = byte(blk[i])
			o[32+h+i] = byte(blk[16+i])
			sum += int32(blk[i]) + int32(blk[16+i])
		}
		for l := 0; l < 4; l++ {
			binary.LittleEndian.PutUint32(o[64+h+4*l:], uint32(-2*sum))
			binary.LittleEndian.PutUint32(o[96+h+4*l:], math.Float32bits(xs[b]))
		}
	}
	if nb%2 == 1 {
		o := dst[nb/2*128 : nb/2*128+128]
		for _, off := range []int{16, 48, 80, 112} {
			clear(o[off : off+16])
		}
	}
}

// PackVecQ8 packs one activation row for MatVecQ8 into dst (VecBytesQ8(c)
// bytes).
func PackVecQ8(dst []byte, xq []int8, xs []float32, c int) {
	if mv512 {
		packVecQ8x512(dst, xq, xs, c)
		return
	}
	if mvNEON {
		packVecQ8NEON(dst, xq, xs, c)
		return
	}
	nb := c / QK
	dst = dst[:VecBytesQ8(c)]
	xq = xq[:nb*QK]
	xs = xs[:nb]
	for b := 0; b < nb; b++ {
		o := dst[b*64 : b*64+64 : b*64+64]
		for i, v := range xq[b*QK : b*QK+QK] {
			o[i] = byte(v)
		}
		for l := 0; l < 8; l++ {
			binary.LittleEndian.PutUint32(o[32+4*l:], math.Float32bits(xs[b]))
		}
	}
}

// MatVecQ4 computes dst[r] = Σ_k w[r][k]·x[k] for rows r in [r0, r1) of
// the q4_0 matrix w (rows of c/32 blocks), x packed by PackVecQ4 in xv.
func MatVecQ4(dst []float32, w []byte, c, r0, r1 int, xv []byte) {
	matVec(dst, w, Q4Bytes, c, r0, r1, xv[:VecBytesQ4(c)])
}

// MatVecQ8 is MatVecQ4 for q8_0 (x packed by PackVecQ8).
func MatVecQ8(dst []float32, w []byte, c, r0, r1 int, xv []byte) {
	matVec(dst, w, Q8Bytes, c, r0, r1, xv[:VecBytesQ8(c)])
}

func matVec(dst []float32, w []byte, bs, c, r0, r1 int, xv []byte) {
	nb := c / QK
	if r0 >= r1 || nb == 0 {
		for r := r0; r < r1; r++ {
			dst[r] = 0
		}
		return
	}
	rb := nb * bs
	_ = w[r1*rb-1]
	_ = dst[r1-1]
	if simd {
		matVecSIMD(&dst[r0], &w[r0*rb], rb, r1-r0, &xv[0], nb, bs)
		return
	}
	for r := r0; r < r1; r++ {
		dst[r] = matVecRowGo(w[r*rb:(r+1)*rb], bs, nb, xv)
	}
}

// matVecRowGo is the reference of one row: the assembly's lane arithmetic.
// Two accumulators of 8 lanes take alternate steps (q4_0: block pairs;
// q8_0: blocks), a trailing odd step goes to the first and q4_0's odd last
// block to the second; then lanes are added as the assembly does.
func matVecRowGo(row []byte, bs, nb int, xv []byte) float32 {
	if mv512 {
		return matVecRow512Go(row, bs, nb, xv)
	}
	if mvNEON {
		return matVecRowNEONGo(row, bs, nb, xv)
	}
	var acc [2][8]float32
	t := asm.F16Table
	if bs == Q4Bytes {
		np := nb / 2
		step := func(k, p int, two bool) {
			o := xv[p*128 : p*128+128]
			for l := 0; l < 8; l++ {
				b := 2*p + l/4
				if l >= 4 && !two {
					acc[k][l] = asm.FMA32(0, 0, acc[k][l])
					continue
				}
				q := row[b*Q4Bytes+2 : b*Q4Bytes+18]
				isum := int32(binary.LittleEndian.Uint32(o[64+4*l:]))
				for m := 0; m < 4; m++ {
					j := 4*(l%4) + m
					isum += int32(q[j]&15)*int32(int8(o[16*(l/4)+j])) + int32(q[j]>>4)*int32(int8(o[32+16*(l/4)+j]))
				}
				d := t[uint16(row[b*Q4Bytes])|uint16(row[b*Q4Bytes+1])<<8]
				xs := math.Float32frombits(binary.LittleEndian.Uint32(o[96+4*l:]))
				acc[k][l] = asm.FMA32(float32(isum), d*xs, acc[k][l])
			}
		}
		p := 0
		for ; p+2 <= np; p += 2 {
			step(0, p, true)
			step(1, p+1, true)
		}
		if p < np {
			step(0, p, true)
		}
		if nb%2 == 1 {
			step(1, np, false)
		}
	} else {
		step := func(k, b int) {
			o := xv[b*64 : b*64+64]
			blk := row[b*Q8Bytes : (b+1)*Q8Bytes]
			d := t[uint16(blk[0])|uint16(blk[1])<<8]
			for l := 0; l < 8; l++ {
				var isum int32
				for m := 0; m < 4; m++ {
					isum += int32(int8(blk[2+4*l+m])) * int32(int8(o[4*l+m]))
				}
				xs := math.Float32frombits(binary.LittleEndian.Uint32(o[32+4*l:]))
				acc[k][l] = asm.FMA32(float32(isum), d*xs, acc[k][l])
			}
		}
		b := 0
		for ; b+2 <= nb; b += 2 {
			step(0, b)
			step(1, b+1)
		}
		if b < nb {
			step(0, b)
		}
	}
	var s [8]float32
	for l := range s {
		s[l] = acc[0][l] + acc[1][l]
	}
	return sum8(s)
}

// sum8 adds 8 lanes as the loops' final reduction does: VEXTRACTF128 +
// VADDPS, VMOVHLPS + VADDPS, VMOVSHDUP + VADDSS.
func sum8(s [8]float32) float32 {
	a0, a1, a2, a3 := s[0]+s[4], s[1]+s[5], s[2]+s[6], s[3]+s[7]
	b0, b1 := a0+a2, a1+a3
	return b0 + b1
}

// matVecGoRows is the reference for a run of rows at raw pointers, with the
// assembly's signature.
func matVecGoRows(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb, bs int) {
	d := unsafe.Slice(dst, rows)
	ws := unsafe.Slice(w, rows*rowBytes)
	n := VecBytesQ8(nb * QK)
	if bs == Q4Bytes {
		n = VecBytesQ4(nb * QK)
	}
	x := unsafe.Slice(xv, n)
	for r := range d {
		d[r] = matVecRowGo(ws[r*rowBytes:(r+1)*rowBytes], bs, nb, x)
	}
}
