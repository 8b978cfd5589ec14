package qgemm

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

type problem struct {
	bs, c, R, n int
	w           []byte
	xq          []int8
	xs          []float32
	xp          []byte
}

func newProblem(r *rand.Rand, bs, c, R, n int) *problem {
	nb := c / QK
	p := &problem{bs: bs, c: c, R: R, n: n, w: make([]byte, R*nb*bs), xq: make([]int8, n*c), xs: make([]float32, n*nb)}
	for i := range p.w {
		p.w[i] = byte(r.IntN(256)) // q8_0 weights cover -128 too
	}
	for b := 0; b < R*nb; b++ { // finite f16 scales of either sign
		h := asm.F32ToF16(float32(r.NormFloat64() * 0.02))
		p.w[b*bs], p.w[b*bs+1] = byte(h), byte(h>>8)
	}
	for i := range p.xq {
		p.xq[i] = int8(r.IntN(255) - 127)
	}
	for i := range p.xs {
		p.xs[i] = float32(r.ExpFloat64() * 0.01)
	}
	p.xp = make([]byte, PackedBytes(n, c))
	Pack(p.xp, p.xq, p.xs, n, c, p.off())
	return p
}

func (p *problem) off() int32 {
	if p.bs == Q4Bytes {
		return OffsetQ4
	}
	return OffsetQ8
}

func (p *problem) mul(dst []float32, ldd, r0, r1 int, useSIMD bool) {
	mulRows(dst, ldd, p.w, p.bs, p.c, r0, r1, p.xp, p.n, simd && useSIMD)
}

// exact returns Σ_b d·xs·Σ w·x in float64 and the sum of the terms'
// magnitudes (the scale of float32 rounding).
func (p *problem) exact(t, r int) (v, mag float64) {
	nb := p.c / QK
	for b := 0; b < nb; b++ {
		blk := p.w[(r*nb+b)*p.bs : (r*nb+b+1)*p.bs]
		var isum int64
		for i := 0; i < QK; i++ {
			var wv int64
			if p.bs == Q8Bytes {
				wv = int64(int8(blk[2+i]))
			} else if i < 16 {
				wv = int64(blk[2+i]&15) - 8
			} else {
				wv = int64(blk[2+i-16]>>4) - 8
			}
			isum += wv * int64(p.xq[t*p.c+b*QK+i])
		}
		d := float64(asm.F16Table[uint16(blk[0])|uint16(blk[1])<<8])
		term := d * float64(p.xs[t*nb+b]) * float64(isum)
		v += term
		mag += math.Abs(term)
	}
	return v, mag
}

const sentinel = float32(-12345.5)

func guarded(n int) ([]float32, []float32) {
	buf := make([]float32, n+64)
	for i := range buf {
		buf[i] = sentinel
	}
	return buf, buf[32 : 32+n]
}

func checkGuards(t *testing.T, buf []float32, touched func(i int) bool) {
	t.Helper()
	for i, v := range buf {
		if (i < 32 || i >= len(buf)-32 || !touched(i-32)) && v != sentinel {
			t.Fatalf("wrote outside its outputs at buffer index %d (%g)", i, v)
		}
	}
}

// tileVariants runs f once per micro-kernel this CPU has: the AVX-512
// VNNI tiles (with their q8_0 packing offset) when present, and the AVX2
// (or reference) tiles.
func tileVariants(t *testing.T, f func(t *testing.T)) {
	saved := tile512
	defer setTile512(saved)
	for _, on := range []bool{true, false} {
		if on && !hasVNNI512 {
			continue
		}
		setTile512(on)
		t.Run(fmt.Sprintf("avx512=%v", on), f)
	}
}

func TestMulRowsMatchesExactSums(t *testing.T) { tileVariants(t, testMulRowsMatchesExactSums) }

func testMulRowsMatchesExactSums(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ns := []int{1, 2, 3, 15, 16, 17, 31, 32, 33, 40, 47, 64, 100}
	cs := []int{32, 64, 96, 320, 1024}
	if !testing.Short() {
		cs = append(cs, 4608)
	}
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for _, c := range cs {
			for _, n := range ns {
				R := 1 + r.IntN(11)
				p := newProblem(r, bs, c, R, n)
				ldd := R + r.IntN(3)
				r0 := r.IntN(R)
				r1 := r0 + 1 + r.IntN(R-r0)
				buf, dst := guarded((n-1)*ldd + R)
				p.mul(dst, ldd, r0, r1, true)
				checkGuards(t, buf, func(i int) bool { c := i % ldd; return c >= r0 && c < r1 })
				for tk := 0; tk < n; tk++ {
					for row := r0; row < r1; row++ {
						want, mag := p.exact(tk, row)
						got := float64(dst[tk*ldd+row])
						if math.Abs(got-want) > 1e-5*mag+1e-30 {
							t.Fatalf("bs=%d c=%d n=%d rows [%d,%d): C[%d][%d] = %g, want %g (±%g)", bs, c, n, r0, r1, tk, row, got, want, 1e-5*mag)
						}
					}
				}
			}
		}
	}
}

// TestSIMDTileIsBitIdenticalToReference: the assembly does the reference
// tile's operations in the same order, so the results are equal bit for bit.
func TestSIMDTileIsBitIdenticalToReference(t *testing.T) {
	if !Available() {
		t.Skip("no SIMD micro-kernel on this CPU or build")
	}
	tileVariants(t, testSIMDTileIsBitIdenticalToReference)
}

func testSIMDTileIsBitIdenticalToReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		for _, c := range []int{32, 64, 96, 160, 1024, 2048} {
			for _, n := range []int{1, 7, 8, 9, 16, 29, 32, 48, 70} {
				R := 1 + r.IntN(9)
				p := newProblem(r, bs, c, R, n)
				want := make([]float32, n*R)
				got := make([]float32, n*R)
				p.mul(want, R, 0, R, false)
				p.mul(got, R, 0, R, true)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("bs=%d c=%d n=%d R=%d: element %d: simd %g, reference %g", bs, c, n, R, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestResultsDoNotDependOnTheSplit: computing the rows in one call or in
// arbitrary pieces, or with more tokens, gives the same bits per element.
func TestResultsDoNotDependOnTheSplit(t *testing.T) {
	tileVariants(t, testResultsDoNotDependOnTheSplit)
}

func testResultsDoNotDependOnTheSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, bs := range []int{Q8Bytes, Q4Bytes} {
		c, R, n := 256, 23, 53
		p := newProblem(r, bs, c, R, n)
		whole := make([]float32, n*R)
		p.mul(whole, R, 0, R, true)
		for rep := 0; rep < 20; rep++ {
			parts := make([]float32, n*R)
			for r0 := 0; r0 < R; {
				r1 := min(R, r0+1+r.IntN(6))
				p.mul(parts, R, r0, r1, true)
				r0 = r1
			}
			for i := range whole {
				if math.Float32bits(parts[i]) != math.Float32bits(whole[i]) {
					t.Fatalf("bs=%d: element %d differs when the rows are split: %g vs %g", bs, i, parts[i], whole[i])
				}
			}
		}
		// The first m tokens alone give the same results as within n.
		for _, m := range []int{1, 5, 16, 17, 40} {
			q := &problem{bs: bs, c: c, R: R, n: m, w: p.w, xq: p.xq[:m*c], xs: p.xs[:m*c/QK]}
			q.xp = make([]byte, PackedBytes(m, c))
			Pack(q.xp, q.xq, q.xs, m, c, q.off())
			few := make([]float32, m*R)
			q.mul(few, R, 0, R, true)
			for i := range few {
				if math.Float32bits(few[i]) != math.Float32bits(whole[i]) {
					t.Fatalf("bs=%d: token %d row %d differs with %d tokens instead of %d", bs, i/R, i%R, m, n)
				}
			}
		}
	}
}

func TestFMA32RoundsOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 200000; i++ {
		a := float32(r.NormFloat64())
		b := float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
		c := float32(r.NormFloat64() * math.Ldexp(1, r.IntN(60)-30))
		got := asm.FMA32(a, b, c)
		// Exact reference: a·b + c as a big float rounded once.
		want := exactFMA32(a, b, c)
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("FMA32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
	// Cases built to sit on a float32 midpoint after float64 rounding:
	// c = 1, a·b = 2^-24 + tiny (just above the midpoint of 1 and 1+2^-23).
	for _, tc := range [][3]float32{
		{float32(math.Ldexp(1, -12)), float32(math.Ldexp(1, -12) * (1 + math.Ldexp(1, -23))), 1},
		{float32(math.Ldexp(1, -12)), float32(-math.Ldexp(1, -12) * (1 + math.Ldexp(1, -23))), 1},
		{float32(1 + math.Ldexp(1, -23)), float32(math.Ldexp(1, -24)), float32(math.Ldexp(1, 30))},
	} {
		if got, want := asm.FMA32(tc[0], tc[1], tc[2]), exactFMA32(tc[0], tc[1], tc[2]); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("FMA32(%g, %g, %g) = %g, want %g", tc[0], tc[1], tc[2], got, want)
		}
	}
}

// exactFMA32 rounds a·b + c to float32 once, using math/big.
func exactFMA32(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(200).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(200).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}
