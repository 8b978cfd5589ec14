//go:build !(amd64 || arm64) || purego

package qgemm

// Available reports whether a SIMD micro-kernel runs on this CPU: none
// outside amd64 and arm64 (or with -tags purego).
func Available() bool { return false }

// simd is false: there is no SIMD tile in this build.
var simd = false

// hasVNNI512 and tile512 are false: no AVX-512 loops in this build.
var hasVNNI512, tile512 = false, false

func setTile512(bool) {}

// mv512 is false: there is no AVX-512 matrix × vector loop in this build.
var mv512 = false

func tileQ8SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) {
	tileGo(a, out, Q8Bytes)
}
func tileQ4SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) {
	tileGo(a, out, Q4Bytes)
}

func matVecSIMD(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb, bs int) {
	matVecGoRows(dst, w, rowBytes, rows, xv, nb, bs)
}

// tiled is false: q4_0 and q8_0 matrices stay row-major in this build.
var tiled = false

func tile16Q4SIMD(w, x *byte, nb int, dst *float32, ldd int) { tile16Q4Go(w, x, nb, dst, ldd) }
func tile16Q8SIMD(w, x *byte, nb int, dst *float32, ldd int) { tile16Q8Go(w, x, nb, dst, ldd) }

func matVec16Q4SIMD(dst *float32, w *byte, groups int, xv *byte, nb int) {
	matVec16Q4Go(dst, w, groups, xv, nb)
}

func matVec16Q8SIMD(dst *float32, w *byte, groups int, xv *byte, nb int) {
	matVec16Q8Go(dst, w, groups, xv, nb)
}
