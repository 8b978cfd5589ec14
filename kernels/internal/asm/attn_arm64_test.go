//go:build arm64 && !purego

package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestScoreRowsNEONRowAlone: a row's score is the same bits whether it is
// computed in a group of four rows or alone, over whole 64-key tiles and
// short ones.
func TestScoreRowsNEONRowAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, n := range []int{4, 8, 12, 60, 64, 128, 256} {
		for _, m := range []int{1, 3, 4, 5, 63, 64} {
			stride := n + 4*r.IntN(3)
			q, x := randF32(r, n), randF32(r, (m-1)*stride+n)
			scale := float32(r.Float64() + 0.1)
			all := make([]float32, m)
			ScoreRowsNEON(all, q, x, stride, scale)
			for j := range all {
				var one [1]float32
				ScoreRowsNEON(one[:], q, x[j*stride:j*stride+n], stride, scale)
				if math.Float32bits(one[0]) != math.Float32bits(all[j]) {
					t.Fatalf("n=%d m=%d row %d: %v alone, %v among %d rows", n, m, j, one[0], all[j], m)
				}
			}
		}
	}
}
