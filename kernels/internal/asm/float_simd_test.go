package asm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var lengths = sizes(300, 1000, 4096, 10007)

// guardNaN is the bit pattern of the NaN that fills guard regions.
const guardNaN = 0x7fc0dead

// guardF32 returns a copy of v inside NaN guard regions and a check that
// the guards are intact.
func guardF32(v []float32) ([]float32, func() bool) {
	const g = 16
	buf := make([]float32, len(v)+2*g)
	for i := range buf {
		buf[i] = math.Float32frombits(guardNaN)
	}
	copy(buf[g:], v)
	return buf[g : g+len(v) : g+len(v)], func() bool {
		for i := 0; i < g; i++ {
			if math.Float32bits(buf[i]) != guardNaN || math.Float32bits(buf[len(buf)-1-i]) != guardNaN {
				return false
			}
		}
		return true
	}
}

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func randF16(r *rand.Rand, n int) []uint16 {
	v := make([]uint16, n)
	for i := range v {
		v[i] = F32ToF16(float32(r.NormFloat64()))
	}
	return v
}

func absDot(a []float32, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) * float64(b[i]))
	}
	return s
}

func f16s(w []uint16) []float32 {
	v := make([]float32, len(w))
	for i, h := range w {
		v[i] = F16ToF32(h)
	}
	return v
}

// floatTol bounds |asm − reference| of a float dot relative to Σ|a·b|;
// both orders' rounding errors are far below it for n ≤ 10⁴.
const floatDotTol = 1e-5

func TestDotF32Impls(t *testing.T) {
	for _, im := range dotF32Impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 12))
			for _, n := range lengths {
				a, b := randF32(r, n), randF32(r, n+3) // b may be longer
				a0, b0 := slices.Clone(a), slices.Clone(b)
				got, want := im.f(a, b), DotF32(a, b)
				if !close32(got, want, absDot(a, b[:n]), floatDotTol) {
					t.Fatalf("n=%d: got %v, want %v", n, got, want)
				}
				if !slices.Equal(a, a0) || !slices.Equal(b, b0) {
					t.Fatalf("n=%d: inputs modified", n)
				}
			}
		})
	}
}

func TestDotF16Impls(t *testing.T) {
	for _, im := range dotF16Impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(13, 14))
			for _, n := range lengths {
				w, x := randF16(r, n), randF32(r, n)
				w0, x0 := slices.Clone(w), slices.Clone(x)
				got, want := im.f(w, x), DotF16(w, x)
				if !close32(got, want, absDot(f16s(w), x), floatDotTol) {
					t.Fatalf("n=%d: got %v, want %v", n, got, want)
				}
				if !slices.Equal(w, w0) || !slices.Equal(x, x0) {
					t.Fatalf("n=%d: inputs modified", n)
				}
			}
		})
	}
}

func TestDotF32x4Impls(t *testing.T) {
	for _, im := range dotF32x4Impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(15, 16))
			for _, n := range lengths {
				w, x := randF32(r, n), randF32(r, 4*n)
				w0, x0 := slices.Clone(w), slices.Clone(x)
				var got [4]float32
				got[0], got[1], got[2], got[3] = im.f(w, x)
				for k := 0; k < 4; k++ {
					xk := x[k*n : (k+1)*n]
					if want := DotF32(w, xk); !close32(got[k], want, absDot(w, xk), floatDotTol) {
						t.Fatalf("n=%d row %d: got %v, want %v", n, k, got[k], want)
					}
				}
				if !slices.Equal(w, w0) || !slices.Equal(x, x0) {
					t.Fatalf("n=%d: inputs modified", n)
				}
			}
		})
	}
}

// elemClose allows one rounding of difference (FMA contraction of the
// reference on some targets) relative to |y|+|p|.
func elemClose(got, want, y, p float32) bool {
	if math.Float32bits(got) == math.Float32bits(want) {
		return true
	}
	return math.Abs(float64(got)-float64(want)) <= 2.5e-7*(math.Abs(float64(y))+math.Abs(float64(p)))
}

func TestAxpyImpls(t *testing.T) {
	for _, im := range axpyImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(17, 18))
			for _, n := range lengths {
				a := float32(r.NormFloat64())
				x, y0 := randF32(r, n), randF32(r, n)
				x0 := slices.Clone(x)
				want := slices.Clone(y0)
				Axpy(a, x, want)
				y, ok := guardF32(y0)
				im.f(a, x, y)
				if !ok() {
					t.Fatalf("n=%d: wrote outside y", n)
				}
				for i := range y {
					if !elemClose(y[i], want[i], y0[i], a*x[i]) {
						t.Fatalf("n=%d i=%d: got %v, want %v", n, i, y[i], want[i])
					}
				}
				if !slices.Equal(x, x0) {
					t.Fatalf("n=%d: x modified", n)
				}
			}
		})
	}
}

func TestAxpyF16Impls(t *testing.T) {
	for _, im := range axpyF16Impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(19, 20))
			for _, n := range lengths {
				a := float32(r.NormFloat64())
				x, y0 := randF16(r, n), randF32(r, n)
				x0 := slices.Clone(x)
				want := slices.Clone(y0)
				AxpyF16(a, x, want)
				y, ok := guardF32(y0)
				im.f(a, x, y)
				if !ok() {
					t.Fatalf("n=%d: wrote outside y", n)
				}
				for i := range y {
					if !elemClose(y[i], want[i], y0[i], a*F16ToF32(x[i])) {
						t.Fatalf("n=%d i=%d: got %v, want %v", n, i, y[i], want[i])
					}
				}
				if !slices.Equal(x, x0) {
					t.Fatalf("n=%d: x modified", n)
				}
			}
		})
	}
}

func TestScaleImpls(t *testing.T) {
	for _, im := range scaleImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 22))
			for _, n := range lengths {
				a := float32(r.NormFloat64())
				y0 := randF32(r, n)
				want := slices.Clone(y0)
				Scale(a, want)
				y, ok := guardF32(y0)
				im.f(a, y)
				if !ok() {
					t.Fatalf("n=%d: wrote outside y", n)
				}
				if !slices.Equal(y, want) { // one rounding either way: exact
					t.Fatalf("n=%d: got %v, want %v", n, y, want)
				}
			}
		})
	}
}

func TestF16RowImpls(t *testing.T) {
	for _, im := range f16RowImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			// Every half-precision bit pattern, then random rows of every length.
			all := make([]uint16, 1<<16)
			for i := range all {
				all[i] = uint16(i)
			}
			r := rand.New(rand.NewPCG(23, 24))
			srcs := [][]uint16{all}
			for _, n := range lengths {
				srcs = append(srcs, randF16(r, n))
			}
			for _, src := range srcs {
				n := len(src)
				src0 := slices.Clone(src)
				dst, ok := guardF32(make([]float32, n))
				im.f(dst, src)
				if !ok() || !slices.Equal(src, src0) {
					t.Fatalf("n=%d: wrote outside dst or changed src", n)
				}
				for i, h := range src {
					want := F16ToF32(h)
					got := dst[i]
					if math.IsNaN(float64(want)) {
						if !math.IsNaN(float64(got)) {
							t.Fatalf("n=%d: f16 %#04x: got %v, want NaN", n, h, got)
						}
						continue
					}
					if math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("n=%d: f16 %#04x: got %v, want %v", n, h, got, want)
					}
				}
			}
		})
	}
}

// TestMatVecF32Impls: each row of every matrix × vector loop is within
// float rounding of DotF32 over lengths 0..300 and large ones, for 1..5
// rows, with nothing written outside dst and the inputs untouched; a row's
// result does not depend on the rows computed with it.
func TestMatVecF32Impls(t *testing.T) {
	for _, im := range matVecF32Impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(41, 42))
			for _, c := range lengths {
				rows := 1 + r.IntN(5)
				w, x := randF32(r, rows*c), randF32(r, c)
				w0, x0 := slices.Clone(w), slices.Clone(x)
				dst, ok := guardF32(make([]float32, rows))
				im.f(dst, w, c, x)
				if !ok() {
					t.Fatalf("c=%d rows=%d: wrote outside dst", c, rows)
				}
				if !slices.Equal(w, w0) || !slices.Equal(x, x0) {
					t.Fatalf("c=%d: inputs modified", c)
				}
				for i := range dst {
					row := w[i*c : (i+1)*c]
					if want := DotF32(row, x); !close32(dst[i], want, absDot(row, x), floatDotTol) {
						t.Fatalf("c=%d row %d: got %v, want %v", c, i, dst[i], want)
					}
					one := make([]float32, 1)
					im.f(one, row, c, x)
					if math.Float32bits(one[0]) != math.Float32bits(dst[i]) {
						t.Fatalf("c=%d row %d: %v alone, %v with %d rows", c, i, one[0], dst[i], rows)
					}
				}
			}
		})
	}
}

// TestMatVecF16Impls: each row of every f16 matrix × vector loop is within
// float rounding of DotF16 over lengths 0..300 and large ones, for 1..5
// rows, with nothing written outside dst and the inputs untouched; a row's
// result does not depend on the rows computed with it.
func TestMatVecF16Impls(t *testing.T) {
	for _, im := range matVecF16Impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(43, 44))
			for _, c := range lengths {
				rows := 1 + r.IntN(5)
				w, x := randF16(r, rows*c), randF32(r, c)
				w0, x0 := slices.Clone(w), slices.Clone(x)
				dst, ok := guardF32(make([]float32, rows))
				im.f(dst, w, c, x)
				if !ok() {
					t.Fatalf("c=%d rows=%d: wrote outside dst", c, rows)
				}
				if !slices.Equal(w, w0) || !slices.Equal(x, x0) {
					t.Fatalf("c=%d: inputs modified", c)
				}
				for i := range dst {
					row := w[i*c : (i+1)*c]
					if want := DotF16(row, x); !close32(dst[i], want, absDot(f16s(row), x), floatDotTol) {
						t.Fatalf("c=%d row %d: got %v, want %v", c, i, dst[i], want)
					}
					one := make([]float32, 1)
					im.f(one, row, c, x)
					if math.Float32bits(one[0]) != math.Float32bits(dst[i]) {
						t.Fatalf("c=%d row %d: %v alone, %v with %d rows", c, i, one[0], dst[i], rows)
					}
				}
			}
		})
	}
}
