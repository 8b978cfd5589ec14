package asm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestExpAccuracy checks Exp against float64 exp over the clamped range,
// at the ends of it and outside it.
func TestExpAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	check := func(x float32) {
		want := math.Exp(float64(min(max(x, expLo), expHi)))
		got := float64(Exp(x))
		if math.Abs(got-want) > 2e-7*want || math.IsInf(got, 0) || got <= 0 {
			t.Fatalf("Exp(%v) = %v, want %v (rel %.3g)", x, got, want, math.Abs(got-want)/want)
		}
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.34657359, 0.34657359, expLo, expHi, -87, 87.9, -200, 200, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-30} {
		check(x)
	}
	for i := 0; i < 1_000_000; i++ {
		check(float32(r.Float64()*(float64(expHi)-float64(expLo)) + float64(expLo)))
	}
	for i := 0; i < 100_000; i++ {
		check(float32(r.NormFloat64() * 4))
	}
}

// TestSwiGLUImpls: every SwiGLU loop equals the reference bit for bit over
// lengths 0..300 and large ones, writes nothing outside gate and leaves up
// alone; the reference is within float32 rounding of float64 SiLU.
func TestSwiGLUImpls(t *testing.T) {
	for _, im := range swiGLUImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(33, 34))
			for _, n := range lengths {
				g0, up := randF32(r, n), randF32(r, n)
				for i := range g0 { // also large gates, where Exp saturates
					if r.IntN(16) == 0 {
						g0[i] *= 60
					}
				}
				up0 := slices.Clone(up)
				want := slices.Clone(g0)
				SwiGLU(want, up)
				g, ok := guardF32(g0)
				im.f(g, up)
				if !ok() {
					t.Fatalf("n=%d: wrote outside gate", n)
				}
				if !slices.Equal(up, up0) {
					t.Fatalf("n=%d: up modified", n)
				}
				for i := range g {
					if math.Float32bits(g[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d i=%d: %v, reference %v", n, i, g[i], want[i])
					}
					gv := float64(g0[i])
					exact := gv / (1 + math.Exp(-gv)) * float64(up[i])
					if math.Abs(float64(want[i])-exact) > 1e-6*math.Abs(exact)+1e-30 {
						t.Fatalf("n=%d i=%d: reference %v, float64 %v", n, i, want[i], exact)
					}
				}
			}
		})
	}
}

// TestExpShiftImpls: as TestSwiGLUImpls for ExpShift.
func TestExpShiftImpls(t *testing.T) {
	for _, im := range expShiftImpls {
		t.Run("impl="+im.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(35, 36))
			for _, n := range lengths {
				x0 := randF32(r, n)
				for i := range x0 {
					x0[i] *= 30
				}
				m := float32(r.NormFloat64() * 10)
				want := slices.Clone(x0)
				ExpShift(want, m)
				x, ok := guardF32(slices.Clone(x0))
				im.f(x, m)
				if !ok() {
					t.Fatalf("n=%d: wrote outside x", n)
				}
				for i := range x {
					if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d i=%d: %v, reference %v", n, i, x[i], want[i])
					}
				}
			}
		})
	}
}
