package qgemm

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// The arm64 layouts and their references are plain Go: these tests run on
// every machine.

// TestX8LayoutGivesTheSameTiles: the SMMLA tiles' packed layout (packX8)
// places every activation byte where xWordOff says, and the reference tile
// gives the same bits from it as from the 4-byte interleave.
func TestX8LayoutGivesTheSameTiles(t *testing.T) {
	saved := packX8
	defer func() { packX8 = saved }()
	r := rand.New(rand.NewPCG(21, 22))
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for _, c := range []int{32, 96, 1024} {
			for _, n := range []int{1, 8, 13, 16, 40} {
				R := 1 + r.IntN(9)
				packX8 = false
				p := newProblem(r, bs, c, R, n) // packed with the 4-byte interleave
				want := make([]float32, n*R)
				p.mul(want, R, 0, R, false)

				packX8 = true
				Pack(p.xp, p.xq, p.xs, n, c, p.off())
				nb := c / QK
				for tk := 0; tk < Groups(n)*GroupTokens; tk++ {
					g, j := tk/GroupTokens, tk%GroupTokens
					for b := 0; b < nb; b++ {
						o := p.xp[(g*nb+b)*blockBytes:]
						for i := 0; i < QK; i++ {
							var x int8
							if tk < n {
								x = p.xq[tk*c+b*QK+i]
							}
							if got := int8(o[64*(i/8)+8*j+i%8]); got != x {
								t.Fatalf("bs=%d c=%d n=%d: token %d block %d byte %d packed as %d, want %d", bs, c, n, tk, b, i, got, x)
							}
						}
					}
				}
				got := make([]float32, n*R)
				p.mul(got, R, 0, R, false)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("bs=%d c=%d n=%d: element %d: %g from the x8 layout, %g from the x4 layout", bs, c, n, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestMatVecNEONReference checks the arm64 matrix × vector layouts and
// their reference against exact sums, and the layout's bytes.
func TestMatVecNEONReference(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for nb := 1; nb <= 40; nb++ {
			c := nb * QK
			R := 1 + r.IntN(6)
			p := newProblem(r, bs, c, R, 1)
			var xv []byte
			per := vecNEONQ8
			if bs == Q4Bytes {
				xv = make([]byte, VecBytesQ4(c))
				packVecQ4NEON(xv, p.xq, p.xs, c)
				per = vecNEONQ4
			} else {
				xv = make([]byte, VecBytesQ8(c))
				packVecQ8NEON(xv, p.xq, p.xs, c)
			}
			for b := 0; b < nb; b++ {
				o := xv[b*per:]
				var sum int32
				for i := 0; i < QK; i++ {
					if int8(o[i]) != p.xq[b*QK+i] {
						t.Fatalf("bs=%d nb=%d: block %d byte %d packed wrong", bs, nb, b, i)
					}
					sum += int32(p.xq[b*QK+i])
				}
				xsOff := 32
				if bs == Q4Bytes {
					if got := int32(binary.LittleEndian.Uint32(o[32:])); got != -8*sum {
						t.Fatalf("bs=%d nb=%d: block %d correction %d, want %d", bs, nb, b, got, -8*sum)
					}
					xsOff = 36
				}
				if got := math.Float32frombits(binary.LittleEndian.Uint32(o[xsOff:])); got != p.xs[b] {
					t.Fatalf("bs=%d nb=%d: block %d scale %g, want %g", bs, nb, b, got, p.xs[b])
				}
			}
			rb := nb * bs
			for row := 0; row < R; row++ {
				got := float64(matVecRowNEONGo(p.w[row*rb:(row+1)*rb], bs, nb, xv))
				want, mag := p.exact(0, row)
				if math.Abs(got-want) > 1e-5*mag+1e-30 {
					t.Fatalf("bs=%d nb=%d row %d: %g, want %g (±%g)", bs, nb, row, got, want, 1e-5*mag)
				}
			}
		}
	}
}
