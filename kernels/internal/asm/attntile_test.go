package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Head widths for the tile loops: every width up to 70 (all unroll and
// chunk tails), and the common large ones.
var attnHeadDims = append(sizes(70)[1:], 80, 96, 112, 127, 128, 192, 256)

// sentinel fills the padding between rows so that writes there show.
const sentinel = 0x7fc0beef

func sentinelF32(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(sentinel)
	}
	return v
}

// checkPadding reports the first index outside the rows [r·ld, r·ld+w)
// whose sentinel changed.
func checkPadding(v []float32, rows, ld, w int) error {
	for i, x := range v {
		if r, c := i/ld, i%ld; r < rows && c < w {
			continue
		}
		if math.Float32bits(x) != sentinel {
			return fmt.Errorf("wrote outside the rows at index %d", i)
		}
	}
	return nil
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

type scoresCase struct {
	R, hd, nb, blk, ldS int
	q                   []float32
	k16                 []uint16
	k32                 []float32
}

func scoresCases(r *rand.Rand) []scoresCase {
	var cs []scoresCase
	for _, hd := range attnHeadDims {
		for rep := 0; rep < 4; rep++ {
			R := 1 + r.IntN(13)
			if rep < 2 {
				R = 1 + rep // decode: one or two query heads per KV head
			}
			nb := 1 + r.IntN(9)
			c := scoresCase{R: R, hd: hd, nb: nb, blk: 16*hd + r.IntN(3)*8, ldS: 16*nb + r.IntN(5)}
			c.q = randF32(r, R*hd)
			n := (nb-1)*c.blk + 16*hd
			c.k16 = randF16(r, n)
			c.k32 = randF32(r, n)
			cs = append(cs, c)
		}
	}
	return cs
}

// TestAttnScoresImpls: every AttnScores loop equals the reference bit for
// bit over head widths 1..70 and large ones, 1, 2 and 1..13 rows (full
// groups of six or four and every tail), 1..9 key blocks (groups of four
// or two and tails), padded strides; nothing is written outside the score rows, inputs are left
// unchanged, and the reference is within float rounding of a float64 dot.
func TestAttnScoresImpls(t *testing.T) {
	type run struct {
		kind, name string
		ii         int
	}
	var runs []run
	for ii, im := range attnScoresF16Impls {
		runs = append(runs, run{"f16", im.name, ii})
	}
	for ii, im := range attnScoresF32Impls {
		runs = append(runs, run{"f32", im.name, ii})
	}
	for _, rn := range runs {
		kind, ii := rn.kind, rn.ii
		{
			t.Run(kind+"/impl="+rn.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(61, 62))
				for _, c := range scoresCases(r) {
					n := (c.R-1)*c.ldS + 16*c.nb
					want := sentinelF32(n)
					got, ok := guardF32(sentinelF32(n))
					q0, k16, k32 := slices.Clone(c.q), slices.Clone(c.k16), slices.Clone(c.k32)
					keyAt := func(j, d int) float64 {
						o := (j/16)*c.blk + d*16 + j%16
						if kind == "f16" {
							return float64(F16ToF32(c.k16[o]))
						}
						return float64(c.k32[o])
					}
					if kind == "f16" {
						AttnScoresF16(want, c.ldS, c.q, c.R, c.hd, c.k16, c.nb, c.blk)
						attnScoresF16Impls[ii].f(got, c.ldS, c.q, c.R, c.hd, c.k16, c.nb, c.blk)
					} else {
						AttnScoresF32(want, c.ldS, c.q, c.R, c.hd, c.k32, c.nb, c.blk)
						attnScoresF32Impls[ii].f(got, c.ldS, c.q, c.R, c.hd, c.k32, c.nb, c.blk)
					}
					tag := fmt.Sprintf("R=%d hd=%d nb=%d blk=%d ldS=%d", c.R, c.hd, c.nb, c.blk, c.ldS)
					if !ok() {
						t.Fatalf("%s: wrote outside s", tag)
					}
					if err := checkPadding(got, c.R, c.ldS, 16*c.nb); err != nil {
						t.Fatalf("%s: %v", tag, err)
					}
					if !slices.Equal(c.q, q0) || !slices.Equal(c.k16, k16) || !slices.Equal(c.k32, k32) {
						t.Fatalf("%s: inputs modified", tag)
					}
					if i := sameBits(got, want); i >= 0 {
						t.Fatalf("%s: s[%d] = %v, reference %v", tag, i, got[i], want[i])
					}
					for row := 0; row < c.R; row++ {
						for j := 0; j < 16*c.nb; j++ {
							var dot, abs float64
							for d := 0; d < c.hd; d++ {
								x := float64(c.q[row*c.hd+d]) * keyAt(j, d)
								dot += x
								abs += math.Abs(x)
							}
							if !close32(want[row*c.ldS+j], float32(dot), abs, floatDotTol) {
								t.Fatalf("%s: reference score [%d,%d] = %v, float64 dot %v", tag, row, j, want[row*c.ldS+j], dot)
							}
						}
					}
				}
			})
		}
	}
}

// TestAttnAccumImpls: every AttnAccum loop equals the reference bit for
// bit over the same head widths and rows, 0..70 and 200 value rows,
// padded strides and corrections of 1, below 1 and near the float32
// minimum; only the R·hd sums change. The reference is checked against a
// float64 sum.
func TestAttnAccumImpls(t *testing.T) {
	type run struct {
		kind, name string
		ii         int
	}
	var runs []run
	for ii, im := range attnAccumF16Impls {
		runs = append(runs, run{"f16", im.name, ii})
	}
	for ii, im := range attnAccumF32Impls {
		runs = append(runs, run{"f32", im.name, ii})
	}
	for _, rn := range runs {
		kind, ii := rn.kind, rn.ii
		{
			t.Run(kind+"/impl="+rn.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(63, 64))
				for _, hd := range attnHeadDims {
					for ti, T := range []int{0, 1 + r.IntN(16), 16 + r.IntN(55), 200} {
						R := 1 + r.IntN(13)
						if ti == 1 || ti == 2 {
							R = ti // decode: one or two query heads per KV head
						}
						ldP, ldV := T+r.IntN(4), hd+r.IntN(3)*8
						p := randF32(r, max(0, (R-1)*ldP+T))
						for i := range p {
							p[i] = float32(math.Abs(float64(p[i])))
						}
						nv := 0
						if T > 0 {
							nv = (T-1)*ldV + hd
						}
						v16, v32 := randF16(r, nv), randF32(r, nv)
						c := make([]float32, R)
						for i := range c {
							c[i] = []float32{1, float32(r.Float64()), 1.2e-38}[r.IntN(3)]
						}
						acc0 := randF32(r, R*hd)
						want := slices.Clone(acc0)
						got, ok := guardF32(slices.Clone(acc0))
						p0, v16c, v32c, c0 := slices.Clone(p), slices.Clone(v16), slices.Clone(v32), slices.Clone(c)
						valAt := func(j, i int) float64 {
							if kind == "f16" {
								return float64(F16ToF32(v16[j*ldV+i]))
							}
							return float64(v32[j*ldV+i])
						}
						if kind == "f16" {
							AttnAccumF16(want, R, hd, c, p, ldP, v16, T, ldV)
							attnAccumF16Impls[ii].f(got, R, hd, c, p, ldP, v16, T, ldV)
						} else {
							AttnAccumF32(want, R, hd, c, p, ldP, v32, T, ldV)
							attnAccumF32Impls[ii].f(got, R, hd, c, p, ldP, v32, T, ldV)
						}
						tag := fmt.Sprintf("R=%d hd=%d T=%d ldP=%d ldV=%d", R, hd, T, ldP, ldV)
						if !ok() {
							t.Fatalf("%s: wrote outside acc", tag)
						}
						if !slices.Equal(p, p0) || !slices.Equal(v16, v16c) || !slices.Equal(v32, v32c) || !slices.Equal(c, c0) {
							t.Fatalf("%s: inputs modified", tag)
						}
						if i := sameBits(got, want); i >= 0 {
							t.Fatalf("%s: acc[%d] = %v, reference %v", tag, i, got[i], want[i])
						}
						for row := 0; row < R; row++ {
							for i := 0; i < hd; i++ {
								s := float64(acc0[row*hd+i]) * float64(c[row])
								abs := math.Abs(s)
								for j := 0; j < T; j++ {
									x := float64(p[row*ldP+j]) * valAt(j, i)
									s += x
									abs += math.Abs(x)
								}
								if !close32(want[row*hd+i], float32(s), abs, floatDotTol) {
									t.Fatalf("%s: reference [%d,%d] = %v, float64 %v", tag, row, i, want[row*hd+i], s)
								}
							}
						}
					}
				}
			})
		}
	}
}

// TestAttnSoftmaxImpls: every AttnSoftmax loop equals the reference bit
// for bit (probabilities, m, l, c) over tiles of 0..256 scores (and
// lengths that are not a multiple of 16, which the SIMD wrappers hand to
// the reference), rows with no, some, leading, trailing and all entries
// masked, running maxima below, above and equal to the tile's and −Inf;
// nothing outside the T entries of each row changes. The reference is
// checked against float64 exponentials.
func TestAttnSoftmaxImpls(t *testing.T) {
	ninf := float32(math.Inf(-1))
	for _, im := range attnSoftmaxImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(65, 66))
			for _, T := range []int{0, 5, 16, 17, 32, 48, 64, 80, 128, 256} {
				for rep := 0; rep < 20; rep++ {
					R := 1 + r.IntN(13)
					ldS := T + r.IntN(5)
					s0 := sentinelF32((R-1)*ldS + T)
					m0, l0 := make([]float32, R), make([]float32, R)
					for row := 0; row < R; row++ {
						x := s0[row*ldS : row*ldS+T]
						for j := range x {
							x[j] = float32(r.NormFloat64() * 4)
						}
						switch r.IntN(5) { // masks
						case 1:
							for j := range x {
								if r.IntN(3) == 0 {
									x[j] = ninf
								}
							}
						case 2:
							for j := 0; j < r.IntN(T+1); j++ {
								x[j] = ninf
							}
						case 3:
							for j := T - r.IntN(T+1); j < T; j++ {
								x[j] = ninf
							}
						case 4:
							for j := range x {
								x[j] = ninf
							}
						}
						switch r.IntN(4) {
						case 0:
							m0[row], l0[row] = ninf, 0
						case 1:
							m0[row], l0[row] = -20, float32(r.Float64()*5)
						case 2:
							m0[row], l0[row] = 20, float32(r.Float64()*5)
						case 3:
							m0[row], l0[row] = 3, float32(1+r.Float64())
							if T > 0 {
								m0[row] = slices.Max(x)
							}
						}
					}
					sw, mw, lw, cw := slices.Clone(s0), slices.Clone(m0), slices.Clone(l0), make([]float32, R)
					AttnSoftmax(sw, ldS, R, T, mw, lw, cw)
					sg, ok := guardF32(slices.Clone(s0))
					mg, lg, cg := slices.Clone(m0), slices.Clone(l0), make([]float32, R)
					im.f(sg, ldS, R, T, mg, lg, cg)
					tag := fmt.Sprintf("T=%d R=%d ldS=%d", T, R, ldS)
					if !ok() {
						t.Fatalf("%s: wrote outside s", tag)
					}
					if err := checkPadding(sg, R, ldS, T); err != nil {
						t.Fatalf("%s: %v", tag, err)
					}
					for what, pair := range map[string][2][]float32{"s": {sg, sw}, "m": {mg, mw}, "l": {lg, lw}, "c": {cg, cw}} {
						if i := sameBits(pair[0], pair[1]); i >= 0 {
							t.Fatalf("%s: %s[%d] = %v, reference %v", tag, what, i, pair[0][i], pair[1][i])
						}
					}
					// the reference against float64
					for row := 0; row < R; row++ {
						x := s0[row*ldS : row*ldS+T]
						mt := float64(m0[row])
						for _, v := range x {
							mt = max(mt, float64(v))
						}
						if math.IsInf(mt, -1) {
							if cw[row] != 1 || lw[row] != l0[row] || !math.IsInf(float64(mw[row]), -1) {
								t.Fatalf("%s row %d: all masked: c=%v l=%v m=%v", tag, row, cw[row], lw[row], mw[row])
							}
							continue
						}
						c := math.Exp(float64(m0[row]) - mt)
						sum := float64(l0[row]) * c
						for j, v := range x {
							want := 0.0
							if !math.IsInf(float64(v), -1) {
								want = math.Exp(float64(v) - mt)
							}
							sum += want
							// Exp's own error plus the rounding of the float32 argument
							tol := (3e-7 + 1.2e-7*math.Abs(float64(v)-mt)) * want
							if got := float64(sw[row*ldS+j]); math.Abs(got-want) > tol || (want == 0) != (got == 0) {
								t.Fatalf("%s row %d: p[%d] = %v, want %v", tag, row, j, got, want)
							}
						}
						if math.Abs(float64(mw[row])-mt) != 0 || math.Abs(float64(cw[row])-c) > (3e-7+1.2e-7*math.Abs(float64(m0[row])-mt))*c+1e-37 || math.Abs(float64(lw[row])-sum) > 1e-6*sum {
							t.Fatalf("%s row %d: m=%v c=%v l=%v, want %v %v %v", tag, row, mw[row], cw[row], lw[row], mt, c, sum)
						}
					}
				}
			}
		})
	}
}
