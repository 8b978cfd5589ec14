package asm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStateStepImpls: every StateStep loop equals the reference bit for
// bit (which is Scale and two Axpy calls per row) over row widths 1..300
// and large ones, 0..70 rows; only s and y change, and nothing outside
// them.
func TestStateStepImpls(t *testing.T) {
	for _, im := range stateStepImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(71, 72))
			for _, w := range lengths[1:] {
				R := r.IntN(71)
				if w > 300 {
					R = r.IntN(5)
				}
				s0, a, b, c := randF32(r, R*w), randF32(r, R), randF32(r, R), randF32(r, R)
				x, y0 := randF32(r, w), randF32(r, w)
				sw, yw := slices.Clone(s0), slices.Clone(y0)
				for i := 0; i < R; i++ {
					row := sw[i*w : (i+1)*w]
					Scale(a[i], row)
					Axpy(b[i], x, row)
					Axpy(c[i], row, yw)
				}
				sg, okS := guardF32(slices.Clone(s0))
				yg, okY := guardF32(slices.Clone(y0))
				a0, b0, c0, x0 := slices.Clone(a), slices.Clone(b), slices.Clone(c), slices.Clone(x)
				im.f(sg, w, a, b, c, x, yg)
				tag := fmt.Sprintf("w=%d R=%d", w, R)
				if !okS() || !okY() {
					t.Fatalf("%s: wrote outside s or y", tag)
				}
				if !slices.Equal(a, a0) || !slices.Equal(b, b0) || !slices.Equal(c, c0) || !slices.Equal(x, x0) {
					t.Fatalf("%s: inputs modified", tag)
				}
				if i := sameBits(sg, sw); i >= 0 {
					t.Fatalf("%s: s[%d] = %v, want %v", tag, i, sg[i], sw[i])
				}
				if i := sameBits(yg, yw); i >= 0 {
					t.Fatalf("%s: y[%d] = %v, want %v", tag, i, yg[i], yw[i])
				}
			}
		})
	}
}
