package qgemm

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// Tiled q4_0 and q8_0 ("lanes are rows"). Where the AVX-512 VNNI loops
// run (Tiled), the runtime stores q4_0 and q8_0 matrices repacked once
// when the model is built (Repack), in place and with the same size: rows
// come in groups of 16, and per group and block 16·bs bytes hold, for q4_0
// (288 bytes)
//
//	[  0,256)  4 segments of 64 bytes: segment s has, for each row l of the
//	           group, the row's nibble bytes 4s..4s+3 at 64s+4l
//	[256,288)  the 16 rows' f16 scales, row l at 256+2l
//
// and for q8_0 (544 bytes)
//
//	[  0,512)  8 segments of 64 bytes: segment s has, for each row l, the
//	           row's weights 4s..4s+3 at 64s+4l, stored as w XOR 0x80
//	           (w + 128 as an unsigned byte)
//	[512,544)  the 16 rows' f16 scales, row l at 512+2l
//
// so one 512-bit load gives 16 rows × 4 columns, each lane a row, ready to
// be the unsigned operand of VPDPBUSD: q8_0 as it is, q4_0 masked for the
// low nibbles (columns 4s..4s+3) and shifted and masked for the high ones
// (columns 16+4s..16+4s+3). The activations are the signed operand, 4
// bytes of one token broadcast from memory into the instruction; the
// token's block sum starts at the packed correction (q4_0: −8·Σx; q8_0:
// −128·Σx, OffsetQ8 being 128 where these loops run). A tile is 16 rows ×
// one 8-token group (8 int32 and 8 float32 accumulators, one zmm each: a
// token's 16 rows land in one register and are stored as they are); the
// weights are loaded (and unpacked) once per block for 8 tokens, the f16
// scales converted by one VCVTPH2PS. The float step per block is
// acc = fma(float32(isum)·xs, d, acc), as in tileGo, so a tiled product
// gives the same bits as the row-major tiles. Rows past the last full
// group of 16 stay row-major at their usual offsets (r·rowBytes) and run
// the row-major loops.
//
// Decode (matrix × vector) reads the same layout one token at a time:
// the activation row is packed as 40 bytes per block (32 int8, the int32
// correction, the float32 xs), within VecBytesQ4 and VecBytesQ8.

// TileRows is the number of rows in a tiled group.
const TileRows = 16

// tiledVecBlock is the size of one block of a tiled activation vector.
const tiledVecBlock = 40

// Tiled reports whether q4_0 and q8_0 matrices are to be stored tiled
// (Repack) on this CPU: true where the AVX-512 VNNI tiles run.
func Tiled() bool { return tiled }

// tiledRows returns how many of R rows are stored tiled.
func tiledRows(R int) int { return R &^ (TileRows - 1) }

// Repack rewrites the q4_0 (bs = Q4Bytes) or q8_0 (bs = Q8Bytes) matrix w
// (R rows of c columns, llama.cpp blocks, row-major) in place to the tiled
// layout.
func Repack(w []byte, bs, R, c int) {
	nb := c / QK
	rb := nb * bs
	tb := TileRows * bs
	tmp := make([]byte, TileRows*rb)
	for g0 := 0; g0 < tiledRows(R); g0 += TileRows {
		grp := w[g0*rb : (g0+TileRows)*rb]
		copy(tmp, grp)
		for l := 0; l < TileRows; l++ {
			for b := 0; b < nb; b++ {
				blk := tmp[l*rb+b*bs : l*rb+(b+1)*bs]
				o := grp[b*tb : (b+1)*tb]
				o[tb-32+2*l], o[tb-31+2*l] = blk[0], blk[1]
				for s := 0; s < (bs-2)/4; s++ {
					for m := 0; m < 4; m++ {
						v := blk[2+4*s+m]
						if bs == Q8Bytes {
							v ^= 0x80
						}
						o[64*s+4*l+m] = v
					}
				}
			}
		}
	}
}

// Block returns the f16 scale and the bs−2 weight bytes (q4_0: 16 bytes of
// nibbles; q8_0: 32 int8) of block b of row r of the matrix w (R rows of c
// columns), stored tiled (Repack) or row-major, in llama.cpp's block form.
func Block(w []byte, bs, R, c, r, b int, tiled bool) (d uint16, q [32]byte) {
	rb := c / QK * bs
	if !tiled || r >= tiledRows(R) {
		blk := w[r*rb+b*bs : r*rb+(b+1)*bs]
		copy(q[:], blk[2:])
		return binary.LittleEndian.Uint16(blk), q
	}
	tb := TileRows * bs
	l := r % TileRows
	o := w[(r-l)*rb+b*tb : (r-l)*rb+(b+1)*tb]
	for s := 0; s < (bs-2)/4; s++ {
		for m := 0; m < 4; m++ {
			v := o[64*s+4*l+m]
			if bs == Q8Bytes {
				v ^= 0x80
			}
			q[4*s+m] = v
		}
	}
	return binary.LittleEndian.Uint16(o[tb-32+2*l:]), q
}

// MulRowsQ4Tiled is MulRowsQ4 for a matrix of R rows stored by Repack.
func MulRowsQ4Tiled(dst []float32, ldd int, w []byte, R, c, r0, r1 int, xp []byte, n int) {
	mulRowsTiled(dst, ldd, w, Q4Bytes, R, c, r0, r1, xp, n, simd && tiled)
}

// MulRowsQ8Tiled is MulRowsQ8 for a matrix of R rows stored by Repack (x
// packed with OffsetQ8 = 128, as where the tiled loops run).
func MulRowsQ8Tiled(dst []float32, ldd int, w []byte, R, c, r0, r1 int, xp []byte, n int) {
	mulRowsTiled(dst, ldd, w, Q8Bytes, R, c, r0, r1, xp, n, simd && tiled)
}

func mulRowsTiled(dst []float32, ldd int, w []byte, bs, R, c, r0, r1 int, xp []byte, n int, useSIMD bool) {
	if r0 >= r1 || n <= 0 {
		return
	}
	nb := c / QK
	rb := nb * bs
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
					runTile16(useSIMD, bs, wg, &xp[g*gb], nb, &dst[t0*ldd+g0], ldd)
					continue
				}
				runTile16(useSIMD, bs, wg, &xp[g*gb], nb, &out[0], TileRows)
				for j := 0; j < nt; j++ {
					copy(dst[(t0+j)*ldd+lo:(t0+j)*ldd+hi], out[j*TileRows+lo-g0:j*TileRows+hi-g0])
				}
			}
		}
	}
	if r1 > r16 {
		mulRows(dst, ldd, w, bs, c, max(r0, r16), r1, xp, n, useSIMD)
	}
}

// runTile16 calls the SIMD tile or the reference directly.
func runTile16(useSIMD bool, bs int, w, x *byte, nb int, dst *float32, ldd int) {
	switch {
	case useSIMD && bs == Q8Bytes:
		tile16Q8SIMD(w, x, nb, dst, ldd)
	case useSIMD:
		tile16Q4SIMD(w, x, nb, dst, ldd)
	case bs == Q8Bytes:
		tile16Q8Go(w, x, nb, dst, ldd)
	default:
		tile16Q4Go(w, x, nb, dst, ldd)
	}
}

// tiledWeight returns the unsigned weight of row l, column 4k+m (k < 8,
// m < 4) of a tiled block wb: a q4_0 nibble n (w = n − 8) or a q8_0
// w + 128.
func tiledWeight(wb []byte, bs, l, k, m int) int32 {
	if bs == Q8Bytes {
		return int32(wb[64*k+4*l+m])
	}
	q := wb[64*(k%4)+4*l+m]
	if k < 4 {
		return int32(q & 15)
	}
	return int32(q >> 4)
}

// tile16Q4Go is the reference of the tiled q4_0 micro-kernel: for the 16
// rows of the tiled group at w (nb blocks) and the 8 tokens of the packed
// group at x, dst[j·ldd + l] = the chain over blocks of
// acc = fma(float32(isum)·xs, d, acc), isum = −8·Σx + Σ nibble·x.
func tile16Q4Go(w, x *byte, nb int, dst *float32, ldd int) { tile16Go(w, x, nb, dst, ldd, Q4Bytes) }

// tile16Q8Go is tile16Q4Go for q8_0: isum = −128·Σx + Σ (w+128)·x.
func tile16Q8Go(w, x *byte, nb int, dst *float32, ldd int) { tile16Go(w, x, nb, dst, ldd, Q8Bytes) }

func tile16Go(w, x *byte, nb int, dst *float32, ldd, bs int) {
	tb := TileRows * bs
	ws := unsafe.Slice(w, nb*tb)
	xs := unsafe.Slice(x, nb*blockBytes)
	d := unsafe.Slice(dst, (GroupTokens-1)*ldd+TileRows)
	for j := 0; j < GroupTokens; j++ {
		for l := 0; l < TileRows; l++ {
			var acc float32
			for b := 0; b < nb; b++ {
				wb := ws[b*tb : (b+1)*tb]
				xb := xs[b*blockBytes : (b+1)*blockBytes]
				isum := int32(binary.LittleEndian.Uint32(xb[288+4*j:]))
				for k := 0; k < 8; k++ {
					for m := 0; m < 4; m++ {
						isum += tiledWeight(wb, bs, l, k, m) * int32(int8(xb[xWordOff(k, j)+m]))
					}
				}
				s := asm.F16Table[binary.LittleEndian.Uint16(wb[tb-32+2*l:])]
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
	packVecTiled(dst[:VecBytesQ4(c)], xq, xs, c, OffsetQ4)
}

// PackVecQ8Tiled is PackVecQ4Tiled for MatVecQ8Tiled (VecBytesQ8(c)).
func PackVecQ8Tiled(dst []byte, xq []int8, xs []float32, c int) {
	packVecTiled(dst[:VecBytesQ8(c)], xq, xs, c, 128)
}

func packVecTiled(dst []byte, xq []int8, xs []float32, c int, off int32) {
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
		binary.LittleEndian.PutUint32(o[32:], uint32(-off*sum))
		binary.LittleEndian.PutUint32(o[36:], math.Float32bits(xs[b]))
	}
}

// MatVecQ4Tiled computes dst[r] = Σ_k w[r][k]·x[k] for rows r in [r0, r1)
// of the q4_0 matrix w (R rows of c columns) stored by Repack, with x
// packed by PackVecQ4Tiled in xv. Each row's result is the chain of
// tile16Go for one token, whatever the row range.
func MatVecQ4Tiled(dst []float32, w []byte, R, c, r0, r1 int, xv []byte) {
	matVecTiled(dst, w, Q4Bytes, R, c, r0, r1, xv)
}

// MatVecQ8Tiled is MatVecQ4Tiled for q8_0 (x packed by PackVecQ8Tiled).
func MatVecQ8Tiled(dst []float32, w []byte, R, c, r0, r1 int, xv []byte) {
	matVecTiled(dst, w, Q8Bytes, R, c, r0, r1, xv)
}

func matVecTiled(dst []float32, w []byte, bs, R, c, r0, r1 int, xv []byte) {
	nb := c / QK
	if r0 >= r1 {
		return
	}
	rb := nb * bs
	_ = w[R*rb-1]
	_ = dst[r1-1]
	xv = xv[:nb*tiledVecBlock]
	if nb == 0 {
		clear(dst[r0:r1])
		return
	}
	useSIMD := simd && tiled
	r16 := tiledRows(R)
	var out [TileRows]float32
	end := min(r1, r16)
	for g0 := r0 &^ (TileRows - 1); g0 < end; {
		if g0 >= r0 && g0+TileRows <= end {
			// a run of whole groups, straight into dst
			k := (end - g0) / TileRows
			runMatVec16(useSIMD, bs, &dst[g0], &w[g0*rb], k, &xv[0], nb)
			g0 += k * TileRows
			continue
		}
		lo, hi := max(r0, g0), min(r1, g0+TileRows)
		runMatVec16(useSIMD, bs, &out[0], &w[g0*rb], 1, &xv[0], nb)
		copy(dst[lo:hi], out[lo-g0:hi-g0])
		g0 += TileRows
	}
	for r := max(r0, r16); r < r1; r++ {
		dst[r] = rowVecTiledGo(w[r*rb:(r+1)*rb], bs, nb, xv)
	}
}

func runMatVec16(useSIMD bool, bs int, dst *float32, w *byte, groups int, xv *byte, nb int) {
	switch {
	case useSIMD && bs == Q8Bytes:
		matVec16Q8SIMD(dst, w, groups, xv, nb)
	case useSIMD:
		matVec16Q4SIMD(dst, w, groups, xv, nb)
	case bs == Q8Bytes:
		matVec16Q8Go(dst, w, groups, xv, nb)
	default:
		matVec16Q4Go(dst, w, groups, xv, nb)
	}
}

// matVec16Q4Go is the reference of the tiled q4_0 matrix × vector loop:
// dst[16g+l] for the groups tiled groups at w (nb blocks each) against xv
// packed by PackVecQ4Tiled; per lane the chain of tile16Go for one token.
func matVec16Q4Go(dst *float32, w *byte, groups int, xv *byte, nb int) {
	matVec16Go(dst, w, groups, xv, nb, Q4Bytes)
}

// matVec16Q8Go is matVec16Q4Go for q8_0 (PackVecQ8Tiled).
func matVec16Q8Go(dst *float32, w *byte, groups int, xv *byte, nb int) {
	matVec16Go(dst, w, groups, xv, nb, Q8Bytes)
}

func matVec16Go(dst *float32, w *byte, groups int, xv *byte, nb, bs int) {
	tb := TileRows * bs
	d := unsafe.Slice(dst, groups*TileRows)
	ws := unsafe.Slice(w, groups*nb*tb)
	x := unsafe.Slice(xv, nb*tiledVecBlock)
	for g := 0; g < groups; g++ {
		for l := 0; l < TileRows; l++ {
			var acc float32
			for b := 0; b < nb; b++ {
				wb := ws[(g*nb+b)*tb : (g*nb+b+1)*tb]
				xb := x[b*tiledVecBlock : (b+1)*tiledVecBlock]
				isum := int32(binary.LittleEndian.Uint32(xb[32:]))
				for k := 0; k < 8; k++ {
					for m := 0; m < 4; m++ {
						isum += tiledWeight(wb, bs, l, k, m) * int32(int8(xb[4*k+m]))
					}
				}
				s := asm.F16Table[binary.LittleEndian.Uint16(wb[tb-32+2*l:])]
				xsc := math.Float32frombits(binary.LittleEndian.Uint32(xb[36:]))
				acc = asm.FMA32(float32(isum)*xsc, s, acc)
			}
			d[g*TileRows+l] = acc
		}
	}
}

// rowVecTiledGo is one row-major row (past the tiled groups) against xv
// packed by PackVecQ4Tiled or PackVecQ8Tiled, with matVec16Go's chain.
func rowVecTiledGo(row []byte, bs, nb int, xv []byte) float32 {
	var acc float32
	for b := 0; b < nb; b++ {
		blk := row[b*bs : (b+1)*bs]
		xb := xv[b*tiledVecBlock : (b+1)*tiledVecBlock]
		isum := int32(binary.LittleEndian.Uint32(xb[32:]))
		for j := 0; j < 16; j++ {
			if bs == Q8Bytes {
				isum += (int32(int8(blk[2+j]))+128)*int32(int8(xb[j])) + (int32(int8(blk[18+j]))+128)*int32(int8(xb[16+j]))
				continue
			}
			isum += int32(blk[2+j]&15)*int32(int8(xb[j])) + int32(blk[2+j]>>4)*int32(int8(xb[16+j]))
		}
		s := asm.F16Table[binary.LittleEndian.Uint16(blk)]
		xsc := math.Float32frombits(binary.LittleEndian.Uint32(xb[36:]))
		acc = asm.FMA32(float32(isum)*xsc, s, acc)
	}
	return acc
}
