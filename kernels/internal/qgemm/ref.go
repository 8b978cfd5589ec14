package qgemm

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// tileGo is the reference micro-kernel: the arithmetic the assembly does,
// lane by lane (q8_0: Σ w·x with signed weights, correction 0; q4_0: Σ n·x
// over nibbles plus the packed −8·Σx). fma32 rounds once (see its
// comment), like VFMADD231PS.
func tileGo(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32, bs int) {
	for i, rp := range a.rows {
		row := unsafe.Slice(rp, a.nb*bs)
		for h, xp := range [2]*byte{a.xa, a.xb} {
			x := unsafe.Slice(xp, a.nb*blockBytes)
			for j := 0; j < GroupTokens; j++ {
				var acc float32
				for b := 0; b < a.nb; b++ {
					blk := row[b*bs : (b+1)*bs]
					xb := x[b*blockBytes : (b+1)*blockBytes]
					isum := int32(binary.LittleEndian.Uint32(xb[288+4*j:]))
					for k := 0; k < 8; k++ {
						for m := 0; m < 4; m++ {
							xv := int32(int8(xb[32*k+4*j+m]))
							var wv int32
							if bs == Q8Bytes {
								wv = int32(int8(blk[2+4*k+m]))
							} else if k < 4 {
								wv = int32(blk[2+4*k+m] & 15)
							} else {
								wv = int32(blk[2+4*(k-4)+m] >> 4)
							}
							isum += wv * xv
						}
					}
					d := asm.F16Table[uint16(blk[0])|uint16(blk[1])<<8]
					xs := math.Float32frombits(binary.LittleEndian.Uint32(xb[256+4*j:]))
					acc = fma32(float32(isum)*xs, d, acc)
				}
				out[(i*tileGroups+h)*GroupTokens+j] = acc
			}
		}
	}
}

// fma32 returns the float32 rounding of a·b + c. a·b is exact in float64;
// the sum's float64 rounding error is recovered (TwoSum) and used to
// break the ties that a second rounding to float32 would otherwise get
// wrong, so the result is rounded once, as a float32 FMA instruction does.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	// TwoSum: s + e == p + c exactly.
	bv := s - p
	e := (p - (s - bv)) + (float64(c) - bv)
	r := float32(s)
	if e == 0 || float64(r) == s {
		return r
	}
	// s is not a float32; r may be a wrong tie-break only if s lies exactly
	// halfway between two float32 neighbours.
	lo, hi := r, r
	if float64(r) < s {
		hi = math.Nextafter32(r, float32(math.Inf(1)))
	} else {
		lo = math.Nextafter32(r, float32(math.Inf(-1)))
	}
	mid := (float64(lo) + float64(hi)) / 2
	if s != mid {
		return r
	}
	if e > 0 {
		return hi
	}
	return lo
}
