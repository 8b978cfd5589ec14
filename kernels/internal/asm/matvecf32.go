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
