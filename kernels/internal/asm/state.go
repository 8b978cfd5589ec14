package asm

// StateStep advances the rows of a recurrent state by one token and reads
// the new state out (the decode step of gated linear attention and of the
// Mamba2 scan): for r < len(a), with row = s[r·w : (r+1)·w],
//
//	Scale(a[r], row)      // decay
//	Axpy(b[r], x, row)    // write
//	Axpy(c[r], row, y)    // read
//
// in row order, so each element is rounded exactly as by those three
// calls (product, then sum). x and y hold at least w values.
func StateStep(s []float32, w int, a, b, c, x, y []float32) {
	x, y = x[:w], y[:w]
	for r, ar := range a {
		row := s[r*w : (r+1)*w]
		Scale(ar, row)
		Axpy(b[r], x, row)
		Axpy(c[r], row, y)
	}
}
