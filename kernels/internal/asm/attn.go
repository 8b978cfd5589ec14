package asm

// Attention inner loops over a tile of keys stored as rows of a larger
// matrix (row j of the tile at offset j·stride).

// AccumRows computes, for j < len(p) in order, y[i] += p[j]·x[j·stride+i]
// for i < len(y): one Axpy per row, so each element's sequence of
// roundings is that of len(p) Axpy calls (the softmax-weighted sum of
// values, one head).
func AccumRows(y, p, x []float32, stride int) {
	n := len(y)
	for j, a := range p {
		Axpy(a, x[j*stride:j*stride+n], y)
	}
}

// ScoreRows writes dst[j] = DotF32(q, x[j·stride : j·stride+len(q)])·scale
// for j < len(dst) (one head's attention scores against a tile of keys).
func ScoreRows(dst, q, x []float32, stride int, scale float32) {
	n := len(q)
	for j := range dst {
		dst[j] = DotF32(q, x[j*stride:j*stride+n]) * scale
	}
}
