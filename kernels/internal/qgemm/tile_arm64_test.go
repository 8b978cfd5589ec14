//go:build arm64 && !purego

package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestARM64Selection: the SDOT loops run exactly when the CPU has
// FEAT_DotProd, the SMMLA tiles (with their layout) when it also has
// FEAT_I8MM.
func TestARM64Selection(t *testing.T) {
	if Available() != cpu.ARM64.HasASIMDDP || simd != Available() || mvNEON != simd {
		t.Fatalf("Available %v, simd %v, mvNEON %v; HasASIMDDP %v", Available(), simd, mvNEON, cpu.ARM64.HasASIMDDP)
	}
	if want := cpu.ARM64.HasASIMDDP && cpu.ARM64.HasI8MM; hasI8MM != want || tileI8MM != want || packX8 != want {
		t.Fatalf("hasI8MM %v, tileI8MM %v, packX8 %v; want %v", hasI8MM, tileI8MM, packX8, want)
	}
	t.Logf("HasASIMDDP %v, HasI8MM %v", cpu.ARM64.HasASIMDDP, cpu.ARM64.HasI8MM)
}

// armTileVariants runs f once per prefill tile this CPU has: SMMLA (with
// the packX8 layout) where there is FEAT_I8MM, and SDOT.
func armTileVariants(t *testing.T, f func(t *testing.T)) {
	if !simd {
		t.Skip("no FEAT_DotProd")
	}
	saved := tileI8MM
	defer setI8MM(saved)
	for _, on := range []bool{true, false} {
		if on && !hasI8MM {
			continue
		}
		setI8MM(on)
		t.Run(fmt.Sprintf("i8mm=%v", on), f)
	}
}

// TestARM64Tiles runs the package's tile tests under every arm64 tile.
func TestARM64Tiles(t *testing.T) {
	armTileVariants(t, func(t *testing.T) {
		testSIMDTileIsBitIdenticalToReference(t)
		testMulRowsMatchesExactSums(t)
		testResultsDoNotDependOnTheSplit(t)
		testTileCallGuards(t)
	})
}

// testTileCallGuards calls the selected tile directly on 1..70 blocks
// with its output inside guard regions, the second group equal to the
// first or not and rows repeated or not, and compares all 64 outputs with
// tileGo bit for bit; the inputs must stay unchanged.
func testTileCallGuards(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const guard = 16
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for nb := 0; nb <= 70; nb++ {
			c := max(nb, 1) * QK
			p := newProblem(r, bs, c, tileRows, 2*GroupTokens)
			xp0, w0 := slices.Clone(p.xp), slices.Clone(p.w)
			var a tileArgs
			a.nb = nb
			rb := max(nb, 1) * bs
			nr := 1 + r.IntN(tileRows)
			for i := range a.rows {
				a.rows[i] = &p.w[min(i, nr-1)*rb]
			}
			a.xa = &p.xp[0]
			a.xb = a.xa
			if r.IntN(2) == 0 {
				a.xb = &p.xp[(c/QK)*blockBytes]
			}
			var want [tileRows * tileGroups * GroupTokens]float32
			tileGo(&a, &want, bs)
			buf := make([]float32, len(want)+2*guard)
			for i := range buf {
				buf[i] = sentinel
			}
			out := (*[tileRows * tileGroups * GroupTokens]float32)(buf[guard : guard+len(want)])
			if bs == Q8Bytes {
				tileQ8SIMD(&a, out)
			} else {
				tileQ4SIMD(&a, out)
			}
			for i, v := range buf {
				if (i < guard || i >= guard+len(want)) && v != sentinel {
					t.Fatalf("bs=%d nb=%d: wrote guard element %d", bs, nb, i)
				}
			}
			for i := range want {
				if math.Float32bits(out[i]) != math.Float32bits(want[i]) {
					t.Fatalf("bs=%d nb=%d rows=%d same=%v: out[%d] = %g, reference %g", bs, nb, nr, a.xa == a.xb, i, out[i], want[i])
				}
			}
			if !slices.Equal(p.xp, xp0) || !slices.Equal(p.w, w0) {
				t.Fatalf("bs=%d nb=%d: inputs modified", bs, nb)
			}
		}
	}
}

// TestARM64MatVec: the SDOT matrix × vector loops equal matVecRowNEONGo
// bit for bit over 1..13 rows (every partial last group) and 1..300 and
// larger block counts, write only their rows and leave the inputs alone.
func TestARM64MatVec(t *testing.T) {
	if !simd {
		t.Skip("no FEAT_DotProd")
	}
	r := rand.New(rand.NewPCG(33, 34))
	const guard = 8
	nbs := append(seq(1, 40), 63, 64, 65, 144, 145, 299, 300, 512)
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for _, nb := range nbs {
			c := nb * QK
			R := 1 + r.IntN(13)
			if nb <= 13 {
				R = nb
			}
			p := newProblem(r, bs, c, R, 1)
			xv := p.packVec(0)
			xv0, w0 := slices.Clone(xv), slices.Clone(p.w)
			buf := make([]float32, R+2*guard)
			for i := range buf {
				buf[i] = sentinel
			}
			dst := buf[guard : guard+R]
			p.matVec(dst, 0, R, xv)
			for i, v := range buf {
				if (i < guard || i >= guard+R) && v != sentinel {
					t.Fatalf("bs=%d nb=%d R=%d: wrote guard element %d", bs, nb, R, i)
				}
			}
			rb := nb * bs
			for row := 0; row < R; row++ {
				want := matVecRowNEONGo(p.w[row*rb:(row+1)*rb], bs, nb, xv)
				if math.Float32bits(dst[row]) != math.Float32bits(want) {
					t.Fatalf("bs=%d nb=%d R=%d row %d: simd %g, reference %g", bs, nb, R, row, dst[row], want)
				}
			}
			if !slices.Equal(xv, xv0) || !slices.Equal(p.w, w0) {
				t.Fatalf("bs=%d nb=%d: inputs modified", bs, nb)
			}
		}
	}
}

func seq(a, b int) []int {
	var s []int
	for i := a; i <= b; i++ {
		s = append(s, i)
	}
	return s
}
