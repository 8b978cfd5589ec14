package asm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAccumRowsImpls: every AccumRows loop equals the reference bit for
// bit (which is len(p) Axpy calls) over row lengths 0..300 and large ones,
// 1..9 rows at a stride of at least the row length, with nothing written
// outside y and the inputs untouched.
func TestAccumRowsImpls(t *testing.T) {
	for _, im := range accumRowsImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(51, 52))
			for _, n := range lengths {
				m := 1 + r.IntN(9)
				stride := n + r.IntN(5)
				p, x, y0 := randF32(r, m), randF32(r, (m-1)*stride+n), randF32(r, n)
				p0, x0 := slices.Clone(p), slices.Clone(x)
				want := slices.Clone(y0)
				for j, a := range p {
					Axpy(a, x[j*stride:j*stride+n], want)
				}
				y, ok := guardF32(slices.Clone(y0))
				im.f(y, p, x, stride)
				if !ok() {
					t.Fatalf("n=%d m=%d: wrote outside y", n, m)
				}
				if !slices.Equal(p, p0) || !slices.Equal(x, x0) {
					t.Fatalf("n=%d: inputs modified", n)
				}
				for i := range y {
					if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d m=%d i=%d: %v, %d Axpy calls give %v", n, m, i, y[i], m, want[i])
					}
				}
			}
		})
	}
}

// TestScoreRowsImpls: every ScoreRows loop is within float rounding of
// DotF32·scale per row, over the same shapes, with guards.
func TestScoreRowsImpls(t *testing.T) {
	for _, im := range scoreRowsImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(53, 54))
			for _, n := range lengths {
				m := 1 + r.IntN(9)
				stride := n + r.IntN(5)
				q, x := randF32(r, n), randF32(r, (m-1)*stride+n)
				q0, x0 := slices.Clone(q), slices.Clone(x)
				scale := float32(r.Float64() + 0.1)
				dst, ok := guardF32(make([]float32, m))
				im.f(dst, q, x, stride, scale)
				if !ok() {
					t.Fatalf("n=%d m=%d: wrote outside dst", n, m)
				}
				if !slices.Equal(q, q0) || !slices.Equal(x, x0) {
					t.Fatalf("n=%d: inputs modified", n)
				}
				for j := range dst {
					row := x[j*stride : j*stride+n]
					want := DotF32(q, row) * scale
					if !close32(dst[j], want, absDot(q, row)*float64(scale), floatDotTol) {
						t.Fatalf("n=%d row %d: got %v, want %v", n, j, dst[j], want)
					}
				}
			}
		})
	}
}
