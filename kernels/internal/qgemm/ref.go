package qgemm

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// tileGo is the reference micro-kernel: the arithmetic the assembly does,
// lane by lane (q8_0: Σ (w+OffsetQ8)·x plus the packed −OffsetQ8·Σx; q4_0: Σ n·x
// over nibbles plus the packed −8·Σx). asm.FMA32 rounds once, like
// VFMADD231PS.
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
							xv := int32(int8(xb[xWordOff(k, j)+m]))
							var wv int32
							if bs == Q8Bytes {
								// w + OffsetQ8, as the packed correction assumes
								wv = int32(int8(blk[2+4*k+m])) + OffsetQ8
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
					acc = asm.FMA32(float32(isum)*xs, d, acc)
				}
				out[(i*tileGroups+h)*GroupTokens+j] = acc
			}
		}
	}
}
