//go:build amd64 && !purego

package asm

// stateStepAVX512 is StateStep for w a multiple of 16: per chunk of 64
// (then 16) floats, y and x stay in registers while the rows pass.
//
//go:noescape
func stateStepAVX512(s *float32, w int, R int, a, b, c, x, y *float32)

// stateStepAVX2 is StateStep for w a multiple of 8 (chunks of 32, then 8).
//
//go:noescape
func stateStepAVX2(s *float32, w int, R int, a, b, c, x, y *float32)

// StateStepAVX512 is StateStep with AVX-512, bit for bit (row widths that
// are not a multiple of 16 use the reference).
func StateStepAVX512(s []float32, w int, a, b, c, x, y []float32) {
	if !stateStepOK(len(s), w, len(a), len(b), len(c), len(x), len(y)) {
		return
	}
	if w%16 != 0 {
		StateStep(s, w, a, b, c, x, y)
		return
	}
	stateStepAVX512(&s[0], w, len(a), &a[0], &b[0], &c[0], &x[0], &y[0])
}

// StateStepAVX2 is StateStep with AVX2, bit for bit (row widths that are
// not a multiple of 8 use the reference).
func StateStepAVX2(s []float32, w int, a, b, c, x, y []float32) {
	if !stateStepOK(len(s), w, len(a), len(b), len(c), len(x), len(y)) {
		return
	}
	if w%8 != 0 {
		StateStep(s, w, a, b, c, x, y)
		return
	}
	stateStepAVX2(&s[0], w, len(a), &a[0], &b[0], &c[0], &x[0], &y[0])
}
