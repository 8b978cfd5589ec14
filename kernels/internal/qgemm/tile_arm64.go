//go:build arm64 && !purego

package qgemm

import "golang.org/x/sys/cpu"

// Available reports whether the SIMD micro-kernels run on this CPU: on
// arm64 the SDOT tiles and matrix × vector loops, which need FEAT_DotProd
// (cpu.ARM64.HasASIMDDP). Without it the runtime keeps its dot-product
// loops.
func Available() bool { return cpu.ARM64.HasASIMDDP }

// simd is whether MulRows and the matrix × vector products run assembly.
var simd = Available()

// hasI8MM is whether the SMMLA tiles can run here (FEAT_I8MM as well).
var hasI8MM = simd && cpu.ARM64.HasI8MM

// tileI8MM is whether MulRows runs the SMMLA tiles (with the packX8
// activation layout); set together with packX8 by setI8MM.
var tileI8MM bool

func init() {
	setI8MM(hasI8MM)
	mvNEON = simd
}

// setI8MM selects the SMMLA tiles and their packed layout (on) or the SDOT
// tiles.
func setI8MM(on bool) { tileI8MM, packX8 = on, on }

// hasVNNI512 and tile512 are false: no AVX-512 loops on arm64.
var hasVNNI512, tile512 = false, false

func setTile512(bool) {}

// mv512 is false: there is no AVX-512 matrix × vector loop on arm64.
var mv512 = false

// tileQ8SDOT is tileGo for q8_0 with SDOT (by element): per token group
// and block the 16 activation registers (8 chunks × 2 quads of tokens)
// stay loaded while the four rows pass, each weight word selected by the
// SDOT's element index.
//
//go:noescape
func tileQ8SDOT(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ4SDOT is tileQ8SDOT for q4_0 (nibbles split with AND / USHR).
//
//go:noescape
func tileQ4SDOT(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ8I8MM is tileGo for q8_0 with SMMLA over the packX8 layout: 2 rows ×
// 2 tokens × 8 bytes per instruction.
//
//go:noescape
func tileQ8I8MM(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ4I8MM is tileQ8I8MM for q4_0.
//
//go:noescape
func tileQ4I8MM(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

func tileQ8SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) {
	if tileI8MM {
		tileQ8I8MM(a, out)
		return
	}
	tileQ8SDOT(a, out)
}

func tileQ4SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) {
	if tileI8MM {
		tileQ4I8MM(a, out)
		return
	}
	tileQ4SDOT(a, out)
}

// matVecQ4SDOT computes dst[i] for rows consecutive q4_0 rows of rowBytes
// bytes at w (nb ≥ 1 blocks each) against xv packed by packVecQ4NEON, four
// rows at a time (a last partial group repeats its last row and stores
// only its own lanes); the reference is matVecRowNEONGo.
//
//go:noescape
func matVecQ4SDOT(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

// matVecQ8SDOT is matVecQ4SDOT for q8_0 rows and packVecQ8NEON.
//
//go:noescape
func matVecQ8SDOT(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)

func matVecSIMD(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb, bs int) {
	if bs == Q4Bytes {
		matVecQ4SDOT(dst, w, rowBytes, rows, xv, nb)
		return
	}
	matVecQ8SDOT(dst, w, rowBytes, rows, xv, nb)
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
