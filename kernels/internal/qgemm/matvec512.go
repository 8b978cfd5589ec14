package qgemm

import (
	"encoding/binary"
	"math"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// The AVX-512 VNNI matrix × vector layouts (see matvec.go) and the
// reference of their loops.

func packVecQ4x512(dst []byte, xq []int8, xs []float32, c int) {
	nb := c / QK
	dst = dst[:VecBytesQ4(c)]
	xq = xq[:nb*QK]
	xs = xs[:nb]
	clear(dst)
	for b := 0; b < nb; b++ {
		o := dst[b/4*256 : b/4*256+256 : b/4*256+256]
		i := b % 4
		blk := xq[b*QK : b*QK+QK : b*QK+QK]
		var sum int32
		for j := 0; j < 16; j++ {
			o[16*i+j] = byte(blk[j])
			o[64+16*i+j] = byte(blk[16+j])
			sum += int32(blk[j]) + int32(blk[16+j])
		}
		for l := 0; l < 4; l++ {
			binary.LittleEndian.PutUint32(o[128+16*i+4*l:], uint32(-2*sum))
			binary.LittleEndian.PutUint32(o[192+16*i+4*l:], math.Float32bits(xs[b]))
		}
	}
}

func packVecQ8x512(dst []byte, xq []int8, xs []float32, c int) {
	nb := c / QK
	dst = dst[:VecBytesQ8(c)]
	xq = xq[:nb*QK]
	xs = xs[:nb]
	clear(dst)
	for b := 0; b < nb; b++ {
		o := dst[b/2*192 : b/2*192+192 : b/2*192+192]
		i := b % 2
		var sum int32
		for j, v := range xq[b*QK : b*QK+QK] {
			o[32*i+j] = byte(v)
			sum += int32(v)
		}
		for l := 0; l < 8; l++ {
			binary.LittleEndian.PutUint32(o[64+32*i+4*l:], uint32(-16*sum))
			binary.LittleEndian.PutUint32(o[128+32*i+4*l:], math.Float32bits(xs[b]))
		}
	}
}

// matVecRow512Go is the reference of one row of the VNNI loops: 16 lanes,
// two accumulators taking alternate full steps (q4_0: block quads; q8_0:
// block pairs), a trailing full step to the first and a partial step (the
// last nb mod 4 or nb mod 2 blocks, missing lanes with zero scales) to the
// second; then the lanes are added as the assembly does.
func matVecRow512Go(row []byte, bs, nb int, xv []byte) float32 {
	var acc [2][16]float32
	t := asm.F16Table
	per, stepBytes := 4, 256 // blocks and packed bytes per step
	if bs == Q8Bytes {
		per, stepBytes = 2, 192
	}
	lanes := 16 / per
	step := func(k, s int) {
		o := xv[s*stepBytes : (s+1)*stepBytes]
		for l := 0; l < 16; l++ {
			i := l / lanes // block within the step
			b := s*per + i
			if b >= nb {
				acc[k][l] = asm.FMA32(0, 0*0, acc[k][l])
				continue
			}
			blk := row[b*bs : (b+1)*bs]
			var isum int32
			var xs float32
			if bs == Q4Bytes {
				isum = int32(binary.LittleEndian.Uint32(o[128+4*l:]))
				for m := 0; m < 4; m++ {
					j := 4*(l%4) + m
					isum += int32(blk[2+j]&15)*int32(int8(o[16*i+j])) + int32(blk[2+j]>>4)*int32(int8(o[64+16*i+j]))
				}
				xs = math.Float32frombits(binary.LittleEndian.Uint32(o[192+4*l:]))
			} else {
				isum = int32(binary.LittleEndian.Uint32(o[64+4*l:]))
				for m := 0; m < 4; m++ {
					j := 4*(l%8) + m
					isum += int32(blk[2+j]^0x80) * int32(int8(o[32*i+j]))
				}
				xs = math.Float32frombits(binary.LittleEndian.Uint32(o[128+4*l:]))
			}
			d := t[uint16(blk[0])|uint16(blk[1])<<8]
			acc[k][l] = asm.FMA32(float32(isum), d*xs, acc[k][l])
		}
	}
	full := nb / per
	s := 0
	for ; s+2 <= full; s += 2 {
		step(0, s)
		step(1, s+1)
	}
	if s < full {
		step(0, s)
		s++
	}
	if nb%per != 0 {
		step(1, s)
	}
	var v [16]float32
	for l := range v {
		v[l] = acc[0][l] + acc[1][l]
	}
	// VEXTRACTF64X4+VADDPS, then the 8-lane sum of the AVX2 loops.
	var h [8]float32
	for l := range h {
		h[l] = v[l] + v[l+8]
	}
	return sum8(h)
}
