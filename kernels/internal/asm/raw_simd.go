//go:build (amd64 || arm64) && !purego

package asm

import "unsafe"

// The packed-activation entry points of the runtime (PackQ4Pairs with
// DotQ4Pairs for decode, PackQ8x4/PackQ4x4 with the x4/x8 packed dots for
// prefill) exist for the 64-bit-multiply tricks of the pure-Go loops. The
// SIMD variant keeps their signatures but stores plain int8 rows in the
// uint64 buffers instead, so the functions below must only be used as
// matched pairs: a buffer packed by RawPack… is read only by the …Raw dots.

// int8s views the first n bytes of a uint64 buffer as int8 (n ≤ 8·len(p)).
func int8s(p []uint64, n int) []int8 {
	if n == 0 {
		return nil
	}
	_ = p[(n-1)/8]
	return unsafe.Slice((*int8)(unsafe.Pointer(&p[0])), n)
}

// RawPackQ4Pairs stores the activation row xq as plain bytes in dst (which
// must hold len(xq)/8 entries); sums is not used by DotQ4PairsRaw and is
// left untouched. It replaces PackQ4Pairs.
func RawPackQ4Pairs(dst []uint64, _ []int32, xq []int8) {
	copy(int8s(dst, len(xq)), xq)
}

// DotQ4PairsRaw is dot (DotQ4AVX2 or DotQ4VNNI) of w with a row packed by
// RawPackQ4Pairs; it replaces DotQ4Pairs.
func DotQ4PairsRaw(dot func(w []byte, xq []int8, xs []float32) float32, w []byte, xp []uint64, xs []float32) float32 {
	nb := len(w) / Q4Bytes
	return dot(w, int8s(xp, nb*QK), xs)
}

// RawPackX4 stores four activation rows of n values (xq[:4n]) as plain
// bytes in dst. It replaces both PackQ4x4 and PackQ8x4 (whose buffers are
// larger than 4n bytes).
func RawPackX4(dst []uint64, xq []int8, n int) {
	copy(int8s(dst, 4*n), xq[:4*n])
}

// DotX4Raw is dot4 (DotQ4x4AVX2, DotQ8x4VNNI, …) of w with four rows
// packed by RawPackX4; bs is the weight block size (Q4Bytes or Q8Bytes).
// It replaces DotQ4x4Packed and DotQ8x4Packed.
func DotX4Raw(dot4 func(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32), bs int, w []byte, xp []uint64, xs []float32) (r0, r1, r2, r3 float32) {
	nb := len(w) / bs
	return dot4(w, int8s(xp, 4*nb*QK), xs)
}

// DotX8Raw is DotX4Raw for two groups of four rows (xa, xb; xs holds the
// eight rows' scales back to back). It replaces DotQ4x8Packed and
// DotQ8x8Packed.
func DotX8Raw(dot4 func(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32), bs int, w []byte, xa, xb []uint64, xs []float32, r *[8]float32) {
	nb := len(w) / bs
	_ = xs[:8*nb]
	r[0], r[1], r[2], r[3] = DotX4Raw(dot4, bs, w, xa, xs[:4*nb])
	r[4], r[5], r[6], r[7] = DotX4Raw(dot4, bs, w, xb, xs[4*nb:8*nb])
}

// QuantSet is one SIMD implementation of every integer loop the runtime
// calls, with the packing functions matched to the dots that read their
// buffers. Fields are named after the reference functions they replace.
type QuantSet struct {
	DotQ8, DotQ4                 func(w []byte, xq []int8, xs []float32) float32
	DotQ8x4, DotQ4x4             func(w []byte, xq []int8, xs []float32) (r0, r1, r2, r3 float32)
	PackQ4Pairs                  func(dst []uint64, sums []int32, xq []int8)
	DotQ4Pairs                   func(w []byte, xp []uint64, sums []int32, xs []float32) float32
	PackQ4x4, PackQ8x4           func(dst []uint64, xq []int8, n int)
	DotQ4x4Packed, DotQ8x4Packed func(w []byte, xp []uint64, xs []float32) (r0, r1, r2, r3 float32)
	DotQ4x8Packed, DotQ8x8Packed func(w []byte, xa, xb []uint64, xs []float32, r *[8]float32)
}

func quantSet(q8, q4 func([]byte, []int8, []float32) float32, q8x4, q4x4 func([]byte, []int8, []float32) (r0, r1, r2, r3 float32)) QuantSet {
	return QuantSet{
		DotQ8: q8, DotQ4: q4, DotQ8x4: q8x4, DotQ4x4: q4x4,
		PackQ4Pairs: RawPackQ4Pairs,
		DotQ4Pairs: func(w []byte, xp []uint64, _ []int32, xs []float32) float32 {
			return DotQ4PairsRaw(q4, w, xp, xs)
		},
		PackQ4x4: RawPackX4, PackQ8x4: RawPackX4,
		DotQ4x4Packed: func(w []byte, xp []uint64, xs []float32) (r0, r1, r2, r3 float32) {
			return DotX4Raw(q4x4, Q4Bytes, w, xp, xs)
		},
		DotQ8x4Packed: func(w []byte, xp []uint64, xs []float32) (r0, r1, r2, r3 float32) {
			return DotX4Raw(q8x4, Q8Bytes, w, xp, xs)
		},
		DotQ4x8Packed: func(w []byte, xa, xb []uint64, xs []float32, r *[8]float32) {
			DotX8Raw(q4x4, Q4Bytes, w, xa, xb, xs, r)
		},
		DotQ8x8Packed: func(w []byte, xa, xb []uint64, xs []float32, r *[8]float32) {
			DotX8Raw(q8x4, Q8Bytes, w, xa, xb, xs, r)
		},
	}
}

// rowBlocks returns the number of bs-byte blocks of the weight row w after
// checking that xq and xs hold rows activation rows of that many blocks
// (the reads the reference makes by slicing), so that the assembly behind
// a Dot… wrapper never reads past them.
func rowBlocks(w []byte, bs int, xq []int8, xs []float32, rows int) int {
	nb := len(w) / bs
	if nb > 0 {
		_ = xs[rows*nb-1]
		_ = xq[rows*nb*QK-1]
	}
	return nb
}
