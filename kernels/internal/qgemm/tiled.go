package qgemm

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// Tiled q4_0 ("lanes are rows"). Where the AVX-512 VNNI loops run
// (TiledQ4), the runtime stores q4_0 matrices repacked once when the model
// is built (RepackQ4), in place and with the same size: rows come in
// groups of 16, and per group and block 288 bytes hold
//
//	[  0,256)  4 segments of 64 bytes: segment s has, for each row l of the
//	           group, the row's nibble bytes 4s..4s+3 at 64s+4l
//	[256,288)  the 16 rows' f16 scales, row l at 256+2l
//
// so one 512-bit load gives 16 rows × 4 bytes; masking it gives the
// weights of columns 4s..4s+3 (low nibbles) and a shift and mask those of
// columns 16+4s..16+4s+3 (high nibbles), each lane a row, ready to be the
// unsigned operand of VPDPBUSD. The activations are the signed operand,
// 4 bytes of one token broadcast from memory into the instruction; the
// token's block sum starts at the packed −8·Σx. A tile is 16 rows × one
// 8-token group (8 int32 and 8 float32 accumulators, one zmm each: a
// token's 16 rows land in one register and are stored as they are); the
// weights are unpacked once per block for 8 tokens, the f16 scales
// converted by one VCVTPH2PS. The float step per block is
// acc = fma(float32(isum)·xs, d, acc), as in tileGo, so a tiled product
// gives the same bits as the row-major tiles. Rows past the last full
// group of 16 stay row-major at their usual offsets (r·rowBytes) and run
// the row-major loops.
//
// Decode (matrix × vector) reads the same layout one token at a time:
// the activation row is packed as 40 bytes per block (32 int8, the int32
// −8·Σx, the float32 xs), within VecBytesQ4.

// TileRows is the number of rows in a tiled group.
const TileRows = 16

// tiledBlockBytes is the size of one block of a tiled group.
const tiledBlockBytes = TileRows * Q4Bytes

// tiledVecBlock is the size of one block of a tiled activation vector.
const tiledVecBlock = 40

// TiledQ4 reports whether q4_0 matrices are to be stored tiled (RepackQ4)
// on this CPU: true where the AVX-512 VNNI tiles run.
func TiledQ4() bool { return tiledQ4 }

// tiledRows returns how many of R rows are stored tiled.
func tiledRows(R int) int { return R &^ (TileRows - 1) }

// RepackQ4 rewrites the q4_0 matrix w (R rows of c columns, llama.cpp
// blocks, row-major) in place to the tiled layout.
func RepackQ4(w []byte, R, c int) {
	nb := c / QK
	rb := nb * Q4Bytes
	tmp := make([]byte, TileRows*rb)
	for g0 := 0; g0 < tiledRows(R); g0 += TileRows {
		grp := w[g0*rb : (g0+TileRows)*rb]
		copy(tmp, grp)
		for l := 0; l < TileRows; l++ {
			for b := 0; b < nb; b++ {
				blk := tmp[l*rb+b*Q4Bytes : l*rb+(b+1)*Q4Bytes]
				o := grp[b*tiledBlockBytes : (b+1)*tiledBlockBytes]
				o[256+2*l], o[257+2*l] = blk[0], blk[1]
				for s := 0; s < 4; s++ {
					copy(o[64*s+4*l:64*s+4*l+4], blk[2+4*s:6+4*s])
				}
			}
		}
	}
}

// BlockQ4 returns the f16 scale and the 16 nibble bytes of block b of row
// r of the q4_0 matrix w (R rows of c columns), stored tiled (RepackQ4) or
// row-major.
func BlockQ4(w []byte, R, c, r, b int, tiled bool) (d uint16, q [16]byte) {
	rb := c / QK * Q4Bytes
	if !tiled || r >= tiledRows(R) {
		blk := w[r*rb+b*Q4Bytes : r*rb+(b+1)*Q4Bytes]
		copy(q[:], blk[2:])
		return binary.LittleEndian.Uint16(blk), q
	}
	l := r % TileRows
	o := w[(r-l)*rb+b*tiledBlockBytes : (r-l)*rb+(b+1)*tiledBlockBytes]
	for s := 0; s < 4; s++ {
		copy(q[4*s:4*s+4], o[64*s+4*l:64*s+4*l+4])
	}
	return binary.LittleEndian.Uint16(o[256+2*l:]), q
}

// MulRowsQ4Tiled is MulRowsQ4 for a matrix of R rows stored by RepackQ4.
func MulRowsQ4Tiled(dst []float32, ldd int, w []byte, R, c, r0, r1 int, xp []byte, n int) {
	mulRowsTiled(dst, ldd, w, R, c, r0, r1, xp, n, simd && tiledQ4)
}

func mulRowsTiled(dst []float32, ldd int, w []byte, R, c, r0, r1 int, xp []byte, n int, useSIMD bool) {
	if r0 >= r1 || n <= 0 {
		return
	}
	nb := c / QK
	rb := nb * Q4Bytes
	ng := Groups(n)
	gb := nb * blockBytes
	_ = w[R*rb-1]
	_ = xp[ng*gb-1]
	_ = dst[(n-1)*ldd+r1-1]
	r16 := tiledRows(R)
	panel := max(1, panelBytes/gb)
	var out [GroupTokens * TileRows]float32
	for p0 := 0; p0 < ng; p0 += panel {
		p1 := min(ng, p0+panel)
		for g0 := r0 &^ (TileRows - 1); g0 < min(r1, r16); g0 += TileRows {
			lo, hi := max(r0, g0), min(r1, g0+TileRows)
			wg := &w[g0*rb]
			for g := p0; g < p1; g++ {
				t0 := g * GroupTokens
				nt := min(GroupTokens, n-t0)
				if lo == g0 && hi == g0+TileRows && nt == GroupTokens {
					runTile16(useSIMD, wg, &xp[g*gb], nb, &dst[t0*ldd+g0], ldd)
					continue
				}
				runTile16(useSIMD, wg, &xp[g*gb], nb, &out[0], TileRows)
				for j := 0; j < nt; j++ {
					copy(dst[(t0+j)*ldd+lo:(t0+j)*ldd+hi], out[j*TileRows+lo-g0:j*TileRows+hi-g0])
				}
			}
		}
	}
	if r1 > r16 {
		mulRows(dst, ldd, w, Q4Bytes, c, max(r0, r16), r1, xp, n, simd)
	}
}

// runTile16 calls the SIMD tile or the reference directly.
func runTile16(useSIMD bool, w, x *byte, nb int, dst *float32, ldd int) {
	if useSIMD {
		tile16SIMD(w, x, nb, dst, ldd)
		return
	}
	tile16Go(w, x, nb, dst, ldd)
}

// tile16Go is the reference of the tiled micro-kernel: for the 16 rows of
// the tiled group at w (nb blocks) and the 8 tokens of the packed group at
// x, dst[j·ldd + l] = the chain over blocks of
// acc = fma(float32(isum)·xs, d, acc), isum = −8·Σx + Σ nibble·x.
func tile16Go(w, x *byte, nb int, dst *float32, ldd int) {
	ws := unsafe.Slice(w, nb*tiledBlockBytes)
	xs := unsafe.Slice(x, nb*blockBytes)
	d := unsafe.Slice(dst, (GroupTokens-1)*ldd+TileRows)
	for j := 0; j < GroupTokens; j++ {
		for l := 0; l < TileRows; l++ {
			var acc float32
			for b := 0; b < nb; b++ {
				wb := ws[b*tiledBlockBytes : (b+1)*tiledBlockBytes]
				xb := xs[b*blockBytes : (b+1)*blockBytes]
				isum := int32(binary.LittleEndian.Uint32(xb[288+4*j:]))
				for k := 0; k < 8; k++ {
					for m := 0; m < 4; m++ {
						q := wb[64*(k%4)+4*l+m]
						if k < 4 {
							q &= 15
						} else {
							q >>= 4
						}
						isum += int32(q) * int32(int8(xb[xWordOff(k, j)+m]))
					}
				}
				s := asm.F16Table[binary.LittleEndian.Uint16(wb[256+2*l:])]
				xsc := math.Float32frombits(binary.LittleEndian.Uint32(xb[256+4*j:]))
				acc = asm.FMA32(float32(isum)*xsc, s, acc)
			}
			d[j*ldd+l] = acc
		}
	}
}

// PackVecQ4Tiled packs one activation row (xq: c int8 in [-127, 127], xs:
// c/32 scales) for MatVecQ4Tiled into dst (VecBytesQ4(c) bytes, of which
// 40 per block are used).
func PackVecQ4Tiled(dst []byte, xq []int8, xs []float32, c int) {
	nb := c / QK
	dst = dst[:nb*tiledVecBlock]
	xq = xq[:nb*QK]
	xs = xs[:nb]
	for b := 0; b < nb; b++ {
		o := dst[b*tiledVecBlock : (b+1)*tiledVecBlock]
		var sum int32
		for i, v := range xq[b*QK : (b+1)*QK] {
			o[i] = byte(v)
			sum += int32(v)
		}
		binary.LittleEndian.PutUint32(o[32:], uint32(-OffsetQ4*sum))
		binary.LittleEndian.PutUint32(o[36:], math.Float32bits(xs[b]))
	}
}

// MatVecQ4Tiled computes dst[r] = Σ_k w[r][k]·x[k] for rows r in [r0, r1)
// of the q4_0 matrix w (R rows of c columns) stored by RepackQ4, with x
// packed by PackVecQ4Tiled in xv. Each row's result is the chain of
// tile16Go for one token, whatever the row range.
func MatVecQ4Tiled(dst []float32, w []byte, R, c, r0, r1 int, xv []byte) {
	nb := c / QK
	if r0 >= r1 {
		return
	}
	rb := nb * Q4Bytes
	_ = w[R*rb-1]
	_ = dst[r1-1]
	xv = xv[:nb*tiledVecBlock]
	if nb == 0 {
		clear(dst[r0:r1])
		return
	}
	useSIMD := simd && tiledQ4
	r16 := tiledRows(R)
	var out [TileRows]float32
	end := min(r1, r16)
	for g0 := r0 &^ (TileRows - 1); g0 < end; {
		if g0 >= r0 && g0+TileRows <= end {
			// a run of whole groups, straight into dst
			k := (end - g0) / TileRows
			runMatVec16(useSIMD, &dst[g0], &w[g0*rb], k, &xv[0], nb)
			g0 += k * TileRows
			continue
		}
		lo, hi := max(r0, g0), min(r1, g0+TileRows)
		runMatVec16(useSIMD, &out[0], &w[g0*rb], 1, &xv[0], nb)
		copy(dst[lo:hi], out[lo-g0:hi-g0])
		g0 += TileRows
	}
	for r := max(r0, r16); r < r1; r++ {
		dst[r] = rowVecTiledGo(w[r*rb:(r+1)*rb], nb, xv)
	}
}

func runMatVec16(useSIMD bool, dst *float32, w *byte, groups int, xv *byte, nb int) {
	if useSIMD {
		matVec16SIMD(dst, w, groups, xv, nb)
		return
	}
	matVec16Go(dst, w, groups, xv, nb)
}

// matVec16Go is the reference of the tiled matrix × vector loop: dst[16g+l]
// for the groups tiled groups at w (nb blocks each) against xv packed by
// PackVecQ4Tiled; per lane the chain of tile16Go for one token.
func matVec16Go(dst *float32, w *byte, groups int, xv *byte, nb int) {
	d := unsafe.Slice(dst, groups*TileRows)
	ws := unsafe.Slice(w, groups*nb*tiledBlockBytes)
	x := unsafe.Slice(xv, nb*tiledVecBlock)
	for g := 0; g < groups; g++ {
		for l := 0; l < TileRows; l++ {
			var acc float32
			for b := 0; b < nb; b++ {
				wb := ws[(g*nb+b)*tiledBlockBytes : (g*nb+b+1)*tiledBlockBytes]
				xb := x[b*tiledVecBlock : (b+1)*tiledVecBlock]
				isum := int32(binary.LittleEndian.Uint32(xb[32:]))
				for k := 0; k < 8; k++ {
					for m := 0; m < 4; m++ {
						q := wb[64*(k%4)+4*l+m]
						if k < 4 {
							q &= 15
						} else {
							q >>= 4
						}
						isum += int32(q) * int32(int8(xb[4*k+m]))
					}
				}
				s := asm.F16Table[binary.LittleEndian.Uint16(wb[256+2*l:])]
				xsc := math.Float32frombits(binary.LittleEndian.Uint32(xb[36:]))
				acc = asm.FMA32(float32(isum)*xsc, s, acc)
			}
			d[g*TileRows+l] = acc
		}
	}
}

// rowVecTiledGo is one row-major row (past the tiled groups) against xv
// packed by PackVecQ4Tiled, with matVec16Go's chain.
func rowVecTiledGo(row []byte, nb int, xv []byte) float32 {
	var acc float32
	for b := 0; b < nb; b++ {
		blk := row[b*Q4Bytes : (b+1)*Q4Bytes]
		xb := xv[b*tiledVecBlock : (b+1)*tiledVecBlock]
		isum := int32(binary.LittleEndian.Uint32(xb[32:]))
		for j := 0; j < 16; j++ {
			isum += int32(blk[2+j]&15)*int32(int8(xb[j])) + int32(blk[2+j]>>4)*int32(int8(xb[16+j]))
		}
		s := asm.F16Table[binary.LittleEndian.Uint16(blk)]
		xsc := math.Float32frombits(binary.LittleEndian.Uint32(xb[36:]))
		acc = asm.FMA32(float32(isum)*xsc, s, acc)
	}
	return acc
}
