package fgemm

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// sentinel is the bit pattern (a NaN) that fills dst where MulRows must
// not write.
const sentinel = 0x7fc0dead

// guard is the number of sentinel floats before and after dst.
const guard = 37

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// f32ToF16 encodes f as half precision, rounding to nearest even (test
// helper: produces random f16 weights).
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	man := b & 0x7fffff
	switch {
	case b&0x7fffffff > 0x7f800000:
		return sign | 0x7e00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint(14 - exp)
		h := man >> shift
		rem := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// newDst returns a sentinel-filled buffer with guard regions and the dst
// slice for n tokens at stride ldd inside it.
func newDst(n, ldd, r1 int) (buf, dst []float32) {
	size := (n-1)*ldd + r1
	buf = make([]float32, size+2*guard)
	for i := range buf {
		buf[i] = math.Float32frombits(sentinel)
	}
	return buf, buf[guard : guard+size : guard+size]
}

// checkDst reports the first problem in buf: a written sentinel position
// outside rows [r0, r1) of the n tokens, or an output too far from the
// float64 reference (relative to Σ|w·x|, bounded by c·2⁻²⁴·1.01, the
// worst case of a length-c sequential sum).
func checkDst(buf []float32, ldd int, w, x []float32, c, r0, r1, n int) error {
	for i, v := range buf {
		p := i - guard
		t, r := -1, -1
		if p >= 0 && ldd > 0 {
			t, r = p/ldd, p%ldd
		}
		inside := t >= 0 && t < n && r >= r0 && r < r1
		if !inside {
			if math.Float32bits(v) != sentinel {
				return fmt.Errorf("wrote buf[%d] (dst[%d]) outside the output", i, p)
			}
			continue
		}
		var want, mag float64
		for k := 0; k < c; k++ {
			pr := float64(w[r*c+k]) * float64(x[t*c+k])
			want += pr
			mag += math.Abs(pr)
		}
		tol := 1.01*float64(c)*0x1p-24*mag + 1e-30
		if d := math.Abs(float64(v) - want); !(d <= tol) {
			return fmt.Errorf("t=%d r=%d: got %v, want %v (tol %g)", t, r, v, want, tol)
		}
	}
	return nil
}

var (
	testCs = append(seq(1, 40), 63, 64, 65, 255, 256, 1024, 1025)
	testNs = append(seq(1, 40), 47, 64, 100)
)

func seq(a, b int) []int {
	var s []int
	for i := a; i <= b; i++ {
		s = append(s, i)
	}
	return s
}

// TestMulRowsShapes compares MulRows with the float64 sum over all test
// shapes, checks the guards and the ldd gap, and checks that it is bit
// identical to the pure-Go reference.
func TestMulRowsShapes(t *testing.T) { kernelVariants(t, testMulRowsShapes) }

// kernelVariants runs f with the AVX-512 kernel in use (where the CPU has
// it) and without it.
func kernelVariants(t *testing.T, f func(t *testing.T)) {
	saved := use512
	defer func() { use512 = saved }()
	for _, on := range []bool{true, false} {
		if on && !has512 {
			continue
		}
		use512 = on
		t.Run(fmt.Sprintf("avx512=%v", on), f)
	}
}

func testMulRowsShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range testCs {
		for _, n := range testNs {
			if c > 256 && n%3 != 1 && n < 47 {
				continue // keep the large-c part affordable: n = 1, 4, …, 40, 47, 64, 100
			}
			rows := 1 + rng.IntN(21)
			r0 := rng.IntN(rows)
			r1 := r0 + 1 + rng.IntN(rows-r0)
			ldd := rows + rng.IntN(4) // the gap rows..ldd must stay untouched
			w, x := randF32(rng, rows*c), randF32(rng, n*c)
			w0, x0 := slices.Clone(w), slices.Clone(x)
			xp := make([]float32, PackedLen(n, c))
			Pack(xp, x, n, c)
			xp0 := slices.Clone(xp)

			buf, dst := newDst(n, ldd, rows)
			MulRows(dst, ldd, w, c, r0, r1, xp, n)
			if err := checkDst(buf, ldd, w, x, c, r0, r1, n); err != nil {
				t.Fatalf("c=%d n=%d rows=[%d,%d) ldd=%d: %v", c, n, r0, r1, ldd, err)
			}
			refBuf, ref := newDst(n, ldd, rows)
			mulRowsGo(ref, ldd, w, c, r0, r1, xp, n)
			if i := firstDiff(buf, refBuf); i >= 0 {
				t.Fatalf("c=%d n=%d rows=[%d,%d): buf[%d] = %#x, reference %#x", c, n, r0, r1, i,
					math.Float32bits(buf[i]), math.Float32bits(refBuf[i]))
			}
			if !slices.Equal(w, w0) || !slices.Equal(x, x0) || !slices.Equal(xp, xp0) {
				t.Fatalf("c=%d n=%d: inputs modified", c, n)
			}
		}
	}
}

// firstDiff returns the first index where a and b differ in bits, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestTiledGoKernel runs the tiled driver with the pure-Go kernel (so the
// tail logic is tested in every build) against the reference.
func TestTiledGoKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []int{0, 1, 2, 7, 33} {
		for _, n := range []int{1, 15, 16, 17, 33, 48, 50, 129, 150} {
			rows := 1 + rng.IntN(19)
			r0 := rng.IntN(rows)
			r1 := r0 + 1 + rng.IntN(rows-r0)
			ldd := rows + rng.IntN(3)
			w, x := randF32(rng, rows*c), randF32(rng, n*c)
			xp := make([]float32, PackedLen(n, c))
			Pack(xp, x, n, c)
			buf, dst := newDst(n, ldd, rows)
			mulRowsTiled(dst, ldd, w, c, r0, r1, xp, n, false)
			refBuf, ref := newDst(n, ldd, rows)
			if c == 0 {
				storeZero(ref, ldd, r0, r1, n)
			} else {
				mulRowsGo(ref, ldd, w, c, r0, r1, xp, n)
			}
			if i := firstDiff(buf, refBuf); i >= 0 {
				t.Fatalf("c=%d n=%d rows=[%d,%d): buf[%d] = %v, reference %v", c, n, r0, r1, i, buf[i], refBuf[i])
			}
		}
	}
}

// TestDeterminism checks that an element does not depend on the row split,
// on n, or on the token's position in its group.
func TestDeterminism(t *testing.T) { kernelVariants(t, testDeterminism) }

func testDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []int{3, 64, 257, 1025} {
		const rows, n = 45, 70
		w, x := randF32(rng, rows*c), randF32(rng, n*c)
		xp := make([]float32, PackedLen(n, c))
		Pack(xp, x, n, c)
		whole := make([]float32, n*rows)
		MulRows(whole, rows, w, c, 0, rows, xp, n)

		// Random row splits.
		for trial := 0; trial < 5; trial++ {
			split := make([]float32, n*rows)
			for r := 0; r < rows; {
				r1 := min(rows, r+1+rng.IntN(12))
				MulRows(split, rows, w, c, r, r1, xp, n)
				r = r1
			}
			if i := firstDiff(whole, split); i >= 0 {
				t.Fatalf("c=%d: split rows change t=%d r=%d: %v vs %v", c, i/rows, i%rows, split[i], whole[i])
			}
		}

		// Other n (a prefix of the same tokens) and rotated token order:
		// token t sits at position (t+s)%n2 of its new batch.
		for _, n2 := range []int{1, 5, 16, 17, 31, 33, 64} {
			s := rng.IntN(n2)
			x2 := make([]float32, n2*c)
			for tt := 0; tt < n2; tt++ {
				copy(x2[(tt+s)%n2*c:], x[tt*c:(tt+1)*c])
			}
			xp2 := make([]float32, PackedLen(n2, c))
			Pack(xp2, x2, n2, c)
			got := make([]float32, n2*rows)
			MulRows(got, rows, w, c, 0, rows, xp2, n2)
			for tt := 0; tt < n2; tt++ {
				a := got[(tt+s)%n2*rows : ((tt+s)%n2+1)*rows]
				b := whole[tt*rows : (tt+1)*rows]
				if i := firstDiff(a, b); i >= 0 {
					t.Fatalf("c=%d n=%d: token %d row %d at position %d: %v vs %v", c, n2, tt, i, (tt+s)%n2, a[i], b[i])
				}
			}
		}
	}
}

// TestMulRowsF16 checks MulRowsF16 against MulRows on the converted weights
// (bit-identical) and its guards, with and without the AVX-512 kernel, over
// row ranges of one and of several panels.
func TestMulRowsF16(t *testing.T) { kernelVariants(t, testMulRowsF16) }

func testMulRowsF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []int{1, 5, 16, 17, 64, 100, 1025, 4608} {
		for _, n := range []int{1, 16, 17, 40, 100} {
			rows := 1 + rng.IntN(20)
			if n == 17 || n == 40 {
				rows = 2*panelRows(c, use512) + 1 + rng.IntN(30) // several panels
			}
			r0 := rng.IntN(rows)
			r1 := r0 + 1 + rng.IntN(rows-r0)
			ldd := rows + rng.IntN(3)
			wh := make([]uint16, rows*c)
			wf := make([]float32, rows*c)
			for i := range wh {
				wh[i] = f32ToF16(float32(rng.NormFloat64()))
				wf[i] = asm.F16ToF32(wh[i])
			}
			x := randF32(rng, n*c)
			xp := make([]float32, PackedLen(n, c))
			Pack(xp, x, n, c)
			scratch := make([]float32, F16Scratch(c))
			buf, dst := newDst(n, ldd, rows)
			MulRowsF16(dst, ldd, wh, c, r0, r1, xp, n, scratch)
			refBuf, ref := newDst(n, ldd, rows)
			MulRows(ref, ldd, wf, c, r0, r1, xp, n)
			if err := checkDst(refBuf, ldd, wf, x, c, r0, r1, n); err != nil {
				t.Fatalf("c=%d n=%d: MulRows: %v", c, n, err)
			}
			if i := firstDiff(buf, refBuf); i >= 0 {
				t.Fatalf("c=%d n=%d rows=[%d,%d): buf[%d] = %v, want %v", c, n, r0, r1, i, buf[i], refBuf[i])
			}
			goBuf, goDst := newDst(n, ldd, rows)
			mulRowsF16Go(goDst, ldd, wh, c, r0, r1, xp, n, scratch)
			if i := firstDiff(goBuf, refBuf); i >= 0 {
				t.Fatalf("c=%d n=%d: Go f16 path buf[%d] = %v, want %v", c, n, i, goBuf[i], refBuf[i])
			}
		}
	}
}

// TestF16Row checks the row conversion against asm.F16ToF32 for all 65536
// values (and, for non-NaN inputs, asm.F16ToF32 against math/big).
func TestF16Row(t *testing.T) {
	src := make([]uint16, 1<<16+5) // +5: exercise the scalar tail
	for i := range src {
		src[i] = uint16(i)
	}
	got := make([]float32, len(src))
	f16Row(got, src)
	for i, h := range src {
		want := asm.F16ToF32(h)
		if math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("h=%#04x: got %#08x, want %#08x", h, math.Float32bits(got[i]), math.Float32bits(want))
		}
		exp, man := int(h>>10&0x1f), int(h&0x3ff)
		if exp == 0x1f {
			continue
		}
		v := float64(man) * 0x1p-24 // subnormal
		if exp > 0 {
			v = float64(man|0x400) * math.Ldexp(1, exp-25)
		}
		if h&0x8000 != 0 {
			v = -v
		}
		if float64(want) != v {
			t.Fatalf("h=%#04x: F16ToF32 = %v, want %v", h, want, v)
		}
	}
}

// TestFMA32 checks asm.FMA32 against exact math/big arithmetic, including
// inputs built to expose double rounding (a·b+s on a float32 tie with a
// tiny remainder).
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	exact := func(a, b, s float32) float32 {
		z := new(big.Float).SetPrec(400).SetFloat64(float64(a))
		z.Mul(z, new(big.Float).SetPrec(400).SetFloat64(float64(b)))
		z.Add(z, new(big.Float).SetPrec(400).SetFloat64(float64(s)))
		f, _ := z.Float32()
		return f
	}
	check := func(a, b, s float32) {
		if got, want := asm.FMA32(a, b, s), exact(a, b, s); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("asm.FMA32(%v, %v, %v) = %v, want %v", a, b, s, got, want)
		}
	}
	for i := 0; i < 200000; i++ {
		a, b, s := float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
		check(a, b, s)
		// Near cancellation and wide exponent gaps.
		check(a, b, -a*b)
		check(a, b, s*0x1p-30)
		check(a*0x1p-60, b*0x1p-70, s*0x1p-140)
		// (1+i·2⁻¹²)(1+j·2⁻¹²) with i·j odd is a float32 tie; a remainder
		// far below float64 precision decides the rounding, which
		// float32(float64 sum) would get wrong half of the time.
		i, j := float32(1+rng.IntN(1<<11)), float32(1+rng.IntN(1<<11))
		check(1+i*0x1p-12, 1+j*0x1p-12, float32(rng.NormFloat64())*0x1p-60)
	}
	check(1+0x1p-12, 1+0x1p-12, 0x1p-70)  // 1+2⁻¹¹+2⁻²⁴+2⁻⁷⁰ rounds up
	check(1+0x1p-12, 1+0x1p-12, -0x1p-70) // 1+2⁻¹¹+2⁻²⁴−2⁻⁷⁰ rounds down
	check(0x1p-12+0x1p-35, 0x1p-12, 1)
	check(math.MaxFloat32, 2, -math.MaxFloat32)
}

// TestPack checks the packed layout and the zero padding.
func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []int{1, 3, 16} {
		for _, n := range []int{1, 15, 16, 17, 40} {
			x := randF32(rng, n*c)
			xp := make([]float32, PackedLen(n, c)+3)
			for i := range xp {
				xp[i] = 99
			}
			Pack(xp, x, n, c)
			for g := 0; g < (n+15)/16; g++ {
				for k := 0; k < c; k++ {
					for j := 0; j < 16; j++ {
						want := float32(0)
						if tt := g*16 + j; tt < n {
							want = x[tt*c+k]
						}
						if got := xp[g*16*c+k*16+j]; got != want {
							t.Fatalf("c=%d n=%d: xp[g=%d k=%d j=%d] = %v, want %v", c, n, g, k, j, got, want)
						}
					}
				}
			}
			if !slices.Equal(xp[PackedLen(n, c):], []float32{99, 99, 99}) {
				t.Fatalf("c=%d n=%d: Pack wrote past PackedLen", c, n)
			}
		}
	}
}

// TestShortSlices checks that MulRows and MulRowsF16 panic, without
// writing, when a slice is one element too short.
func TestShortSlices(t *testing.T) {
	const c, n, rows, ldd = 20, 19, 13, 15
	rng := rand.New(rand.NewPCG(13, 14))
	w, x := randF32(rng, rows*c), randF32(rng, n*c)
	wh := make([]uint16, rows*c)
	xp := make([]float32, PackedLen(n, c))
	Pack(xp, x, n, c)
	dstLen := (n-1)*ldd + rows
	cases := []struct {
		name        string
		dst, w, xp  int
		scratch     int
		r0, r1, ldd int
	}{
		{"dst", dstLen - 1, rows * c, len(xp), F16Scratch(c), 2, rows, ldd},
		{"w", dstLen, rows*c - 1, len(xp), F16Scratch(c), 2, rows, ldd},
		{"xp", dstLen, rows * c, len(xp) - 1, F16Scratch(c), 2, rows, ldd},
		{"scratch", dstLen, rows * c, len(xp), F16Scratch(c) - 1, 2, rows, ldd},
		{"r1>r0", dstLen, rows * c, len(xp), F16Scratch(c), 5, 4, ldd},
	}
	for _, tc := range cases {
		for _, f16 := range []bool{false, true} {
			if tc.name == "scratch" && !f16 {
				continue
			}
			dst := make([]float32, tc.dst)
			for i := range dst {
				dst[i] = math.Float32frombits(sentinel)
			}
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s f16=%v: no panic", tc.name, f16)
					}
				}()
				if f16 {
					MulRowsF16(dst, tc.ldd, wh[:tc.w], c, tc.r0, tc.r1, xp[:tc.xp], n, make([]float32, tc.scratch))
				} else {
					MulRows(dst, tc.ldd, w[:tc.w], c, tc.r0, tc.r1, xp[:tc.xp], n)
				}
			}()
			for i, v := range dst {
				if math.Float32bits(v) != sentinel {
					t.Fatalf("%s f16=%v: dst[%d] written before the panic", tc.name, f16, i)
				}
			}
		}
	}
}

// TestSpecialValues checks Inf/NaN/subnormal propagation against the
// reference bit for bit.
func TestSpecialValues(t *testing.T) {
	const c, n, rows = 9, 21, 9
	rng := rand.New(rand.NewPCG(15, 16))
	specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 0x1p-140, -0x1p-149, 3e38, 0}
	w, x := randF32(rng, rows*c), randF32(rng, n*c)
	for i := range w {
		if rng.IntN(5) == 0 {
			w[i] = specials[rng.IntN(len(specials))]
		}
	}
	for i := range x {
		if rng.IntN(5) == 0 {
			x[i] = specials[rng.IntN(len(specials))]
		}
	}
	xp := make([]float32, PackedLen(n, c))
	Pack(xp, x, n, c)
	got, want := make([]float32, n*rows), make([]float32, n*rows)
	MulRows(got, rows, w, c, 0, rows, xp, n)
	mulRowsGo(want, rows, w, c, 0, rows, xp, n)
	for i := range got {
		g, h := got[i], want[i]
		if math.Float32bits(g) != math.Float32bits(h) && !(g != g && h != h) {
			t.Fatalf("element %d: %v, reference %v", i, g, h)
		}
	}
}

// TestTies feeds the kernel FMA steps whose exact result lies just off a
// float32 tie, so that only a single-rounding FMA (and asm.FMA32) gets them
// right, and checks MulRows against the reference bit for bit.
func TestTies(t *testing.T) {
	const c, n, rows = 2, 37, 13
	rng := rand.New(rand.NewPCG(17, 18))
	w, x := make([]float32, rows*c), make([]float32, n*c)
	for r := 0; r < rows; r++ {
		w[r*c] = float32(rng.NormFloat64()) * 0x1p-30
		w[r*c+1] = 1 + float32(2*rng.IntN(1<<10)+1)*0x1p-12
	}
	for tt := 0; tt < n; tt++ {
		x[tt*c] = float32(rng.NormFloat64()) * 0x1p-30
		x[tt*c+1] = 1 + float32(2*rng.IntN(1<<10)+1)*0x1p-12
	}
	xp := make([]float32, PackedLen(n, c))
	Pack(xp, x, n, c)
	got, want := make([]float32, n*rows), make([]float32, n*rows)
	MulRows(got, rows, w, c, 0, rows, xp, n)
	for tt := 0; tt < n; tt++ {
		for r := 0; r < rows; r++ {
			z := new(big.Float).SetPrec(400).SetFloat64(float64(w[r*c]) * float64(x[tt*c]))
			s, _ := z.Float32() // the first FMA step, rounded once
			z.SetFloat64(float64(w[r*c+1]))
			z.Mul(z, new(big.Float).SetPrec(400).SetFloat64(float64(x[tt*c+1])))
			z.Add(z, new(big.Float).SetPrec(400).SetFloat64(float64(s)))
			want[tt*rows+r], _ = z.Float32()
		}
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("t=%d r=%d: got %v, want %v", i/rows, i%rows, got[i], want[i])
	}
}
