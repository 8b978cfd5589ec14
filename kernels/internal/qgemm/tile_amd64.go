//go:build amd64 && !purego

package qgemm

import "golang.org/x/sys/cpu"

// Available reports whether the SIMD micro-kernels (AVX2, FMA, F16C) run
// on this CPU. Without them the runtime keeps its dot-product loops.
func Available() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
}

// tileQ8AVX2 is tileQ8Go with AVX2.
//
//go:noescape
func tileQ8AVX2(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ4AVX2 is tileQ4Go with AVX2.
//
//go:noescape
func tileQ4AVX2(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ8VNNI is tileQ8AVX2 with 512-bit VPDPBUSD (x packed with
// OffsetQ8 = 128).
//
//go:noescape
func tileQ8VNNI(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ4VNNI is tileQ4AVX2 with 512-bit VPDPBUSD.
//
//go:noescape
func tileQ4VNNI(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// simd is whether MulRows runs the SIMD tiles (else the reference).
var simd = Available()

// hasVNNI512 is whether the CPU runs the AVX-512 VNNI loops.
var hasVNNI512 = simd && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI

// tile512 is whether MulRows runs the AVX-512 VNNI tiles; set together
// with OffsetQ8 by setTile512.
var tile512 bool

func init() { setTile512(hasVNNI512) }

// setTile512 selects the VNNI tiles (on) or the AVX2 ones, and the q8_0
// packing offset they read.
func setTile512(on bool) {
	tile512 = on
	OffsetQ8 = 0
	if on {
		OffsetQ8 = 128
	}
}

func tileQ8SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) {
	if tile512 {
		tileQ8VNNI(a, out)
		return
	}
	tileQ8AVX2(a, out)
}

func tileQ4SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) {
	if tile512 {
		tileQ4VNNI(a, out)
		return
	}
	tileQ4AVX2(a, out)
}

// matVecQ4AVX2 computes dst[i] for rows consecutive q4_0 rows of rowBytes
// bytes at w (nb blocks each) against xv packed by PackVecQ4; the
// reference is matVecRowGo.
//
//go:noescape
func matVecQ4AVX2(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

// matVecQ8AVX2 is matVecQ4AVX2 for q8_0 rows and PackVecQ8.
//
//go:noescape
func matVecQ8AVX2(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

// mv512 is whether the matrix × vector loops use AVX-512 VNNI (and the
// packed layouts of matvec512.go). Tests switch it off to check the AVX2
// loops too.
var mv512 = hasVNNI512

// matVecQ4VNNI is matVecQ4AVX2 with 512-bit VPDPBUSD over block quads; the
// reference is matVecRow512Go.
//
//go:noescape
func matVecQ4VNNI(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

// matVecQ8VNNI is matVecQ4VNNI for q8_0 rows over block pairs.
//
//go:noescape
func matVecQ8VNNI(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

func matVecSIMD(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb, bs int) {
	if mv512 {
		if bs == Q4Bytes {
			matVecQ4VNNI(dst, w, rowBytes, rows, xv, nb)
		} else {
			matVecQ8VNNI(dst, w, rowBytes, rows, xv, nb)
		}
		return
	}
	if bs == Q4Bytes {
		matVecQ4AVX2(dst, w, rowBytes, rows, xv, nb)
		return
	}
	matVecQ8AVX2(dst, w, rowBytes, rows, xv, nb)
}

// tile16Q4VNNI is tile16Q4Go with AVX-512 VNNI (tiled_amd64.s).
//
//go:noescape
func tile16Q4VNNI(w, x *byte, nb int, dst *float32, ldd int)

// tile16Q8VNNI is tile16Q8Go with AVX-512 VNNI (tiled_amd64.s).
//
//go:noescape
func tile16Q8VNNI(w, x *byte, nb int, dst *float32, ldd int)

// matVec16Q4VNNI is matVec16Q4Go with AVX-512 VNNI (tiled_amd64.s).
//
//go:noescape
func matVec16Q4VNNI(dst *float32, w *byte, groups int, xv *byte, nb int)

// matVec16Q8VNNI is matVec16Q8Go with AVX-512 VNNI (tiled_amd64.s).
//
//go:noescape
func matVec16Q8VNNI(dst *float32, w *byte, groups int, xv *byte, nb int)

// tiled is whether q4_0 and q8_0 matrices are stored tiled and run the
// tiled loops: where the AVX-512 VNNI tiles run (which also set OffsetQ8
// to 128, as the tiled q8_0 loops need). Tests switch it off to run the
// references.
var tiled = hasVNNI512

func tile16Q4SIMD(w, x *byte, nb int, dst *float32, ldd int) { tile16Q4VNNI(w, x, nb, dst, ldd) }
func tile16Q8SIMD(w, x *byte, nb int, dst *float32, ldd int) { tile16Q8VNNI(w, x, nb, dst, ldd) }

func matVec16Q4SIMD(dst *float32, w *byte, groups int, xv *byte, nb int) {
	matVec16Q4VNNI(dst, w, groups, xv, nb)
}

func matVec16Q8SIMD(dst *float32, w *byte, groups int, xv *byte, nb int) {
	matVec16Q8VNNI(dst, w, groups, xv, nb)
}
