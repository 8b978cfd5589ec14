package asm

// MatVecF32 writes dst[r] = Σ_k w[r·c+k]·x[k] for r < len(dst) (the rows
// of w, c floats each, against one vector x): DotF32 per row.
func MatVecF32(dst, w []float32, c int, x []float32) {
	x = x[:c]
	w = w[:len(dst)*c]
	for r := range dst {
		dst[r] = DotF32(w[r*c:(r+1)*c], x)
	}
}

// MatVecF16 writes dst[r] = Σ_k f16(w[r·c+k])·x[k] for r < len(dst) (the
// rows of w, c half-precision weights each, against one vector x): DotF16
// per row.
func MatVecF16(dst []float32, w []uint16, c int, x []float32) {
	x = x[:c]
	w = w[:len(dst)*c]
	for r := range dst {
		dst[r] = DotF16(w[r*c:(r+1)*c], x)
	}
}
