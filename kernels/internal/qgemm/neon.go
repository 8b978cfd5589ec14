package qgemm

import (
	"encoding/binary"
	"math"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// Layouts and reference loops of the arm64 kernels (tile_arm64.s,
// matvec_arm64.s). They are plain Go without a build tag so that the
// layouts and their references are tested on every machine; only arm64
// selects them.

// packX8 selects the packed-activation layout of the SMMLA tiles
// (FEAT_I8MM): within a group's 256 bytes of one block, token j's bytes
// 8m..8m+7 (m < 4) sit at 64m+8j, so that one 16-byte load holds the two
// 8-byte rows of an SMMLA operand (tokens 2q and 2q+1). Otherwise bytes
// 4k..4k+3 (k < 8) of token j sit at 32k+4j (the AVX2, AVX-512 and SDOT
// tiles). Scales and corrections are laid out the same either way, so
// both layouts have PackedBytes(n, c) bytes and the reference tile, which
// reads through xWordOff, computes the same integer sums and the same
// float chain from either: the results are identical bit for bit. Set once
// at start-up (tests switch it together with the tiles).
var packX8 bool

// xWordOff returns the offset, within a group's packed activations of one
// block, of bytes 4k..4k+3 (k < 8) of token j (j < 8).
func xWordOff(k, j int) int {
	if packX8 {
		return 64*(k/2) + 8*j + 4*(k%2)
	}
	return 32*k + 4*j
}

// mvNEON selects the arm64 matrix × vector layouts and loops (set at
// start-up on arm64 with FEAT_DotProd). They take four weight rows at a
// time against one activation row; per block each row's int32 sum is
// exact and is scaled and added in one float32 lane per row:
//
//	acc_r = fma(float32(isum_r,b), d_r,b·xs_b, acc_r)   for b = 0, 1, …
//
// starting from 0 — one chain per row, so the result of a row does not
// depend on which rows share its call. The packed activation row is, per
// block, 32 int8 values and then (q4_0) the int32 −8·Σx and (both) the
// float32 scale xs: 40 bytes per q4_0 block, 36 per q8_0 block, within
// VecBytesQ4 and VecBytesQ8.
var mvNEON bool

// Bytes per block of the arm64 matrix × vector layouts.
const (
	vecNEONQ4 = 40
	vecNEONQ8 = 36
)

func packVecQ4NEON(dst []byte, xq []int8, xs []float32, c int) {
	nb := c / QK
	dst = dst[:VecBytesQ4(c)]
	xq = xq[:nb*QK]
	xs = xs[:nb]
	for b := 0; b < nb; b++ {
		o := dst[b*vecNEONQ4 : (b+1)*vecNEONQ4 : (b+1)*vecNEONQ4]
		var sum int32
		for i, v := range xq[b*QK : (b+1)*QK] {
			o[i] = byte(v)
			sum += int32(v)
		}
		binary.LittleEndian.PutUint32(o[32:], uint32(-OffsetQ4*sum))
		binary.LittleEndian.PutUint32(o[36:], math.Float32bits(xs[b]))
	}
}

func packVecQ8NEON(dst []byte, xq []int8, xs []float32, c int) {
	nb := c / QK
	dst = dst[:VecBytesQ8(c)]
	xq = xq[:nb*QK]
	xs = xs[:nb]
	for b := 0; b < nb; b++ {
		o := dst[b*vecNEONQ8 : (b+1)*vecNEONQ8 : (b+1)*vecNEONQ8]
		for i, v := range xq[b*QK : (b+1)*QK] {
			o[i] = byte(v)
		}
		binary.LittleEndian.PutUint32(o[32:], math.Float32bits(xs[b]))
	}
}

// matVecRowNEONGo is the reference of one row of the arm64 loops (see
// mvNEON): q4_0 nibbles n are multiplied unsigned and the packed −8·Σx
// added, q8_0 weights signed; asm.FMA32 rounds once, like FMLA.
func matVecRowNEONGo(row []byte, bs, nb int, xv []byte) float32 {
	var acc float32
	for b := 0; b < nb; b++ {
		blk := row[b*bs : (b+1)*bs]
		var isum int32
		var xs float32
		if bs == Q4Bytes {
			o := xv[b*vecNEONQ4 : (b+1)*vecNEONQ4]
			isum = int32(binary.LittleEndian.Uint32(o[32:]))
			for j := 0; j < 16; j++ {
				isum += int32(blk[2+j]&15)*int32(int8(o[j])) + int32(blk[2+j]>>4)*int32(int8(o[16+j]))
			}
			xs = math.Float32frombits(binary.LittleEndian.Uint32(o[36:]))
		} else {
			o := xv[b*vecNEONQ8 : (b+1)*vecNEONQ8]
			for j := 0; j < QK; j++ {
				isum += int32(int8(blk[2+j])) * int32(int8(o[j]))
			}
			xs = math.Float32frombits(binary.LittleEndian.Uint32(o[32:]))
		}
		d := asm.F16Table[uint16(blk[0])|uint16(blk[1])<<8]
		acc = asm.FMA32(float32(isum), d*xs, acc)
	}
	return acc
}
