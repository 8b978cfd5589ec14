//go:build arm64 && !purego

package asm

// swiGLUNEON is SwiGLU over n elements, n a multiple of 4.
//
//go:noescape
func swiGLUNEON(gate, up *float32, n int)

// expShiftNEON is ExpShift over n elements, n a multiple of 4.
//
//go:noescape
func expShiftNEON(x *float32, m float32, n int)

// SwiGLUNEON is SwiGLU with NEON, bit for bit (the tail uses SwiGLU).
func SwiGLUNEON(gate, up []float32) {
	n := len(gate) &^ 3
	if n > 0 {
		_ = up[n-1]
		swiGLUNEON(&gate[0], &up[0], n)
	}
	SwiGLU(gate[n:], up[n:len(gate)])
}

// ExpShiftNEON is ExpShift with NEON, bit for bit.
func ExpShiftNEON(x []float32, m float32) {
	n := len(x) &^ 3
	if n > 0 {
		expShiftNEON(&x[0], m, n)
	}
	ExpShift(x[n:], m)
}
