//go:build amd64 && !purego

package asm

// swiGLUAVX2 is SwiGLU over n elements, n a multiple of 8.
//
//go:noescape
func swiGLUAVX2(gate, up *float32, n int)

// expShiftAVX2 is ExpShift over n elements, n a multiple of 8.
//
//go:noescape
func expShiftAVX2(x *float32, m float32, n int)

// SwiGLUAVX2 is SwiGLU with AVX2, bit for bit (the tail uses SwiGLU).
func SwiGLUAVX2(gate, up []float32) {
	n := len(gate) &^ 7
	if n > 0 {
		_ = up[n-1]
		swiGLUAVX2(&gate[0], &up[0], n)
	}
	SwiGLU(gate[n:], up[n:len(gate)])
}

// ExpShiftAVX2 is ExpShift with AVX2, bit for bit.
func ExpShiftAVX2(x []float32, m float32) {
	n := len(x) &^ 7
	if n > 0 {
		expShiftAVX2(&x[0], m, n)
	}
	ExpShift(x[n:], m)
}
