package asm

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDotQ times every registered integer dot on one 4096-column row
// (128 blocks, L1/L2-resident) against one (rows=1) or four (rows=4)
// activation rows; compare variants with -tags purego.
func BenchmarkDotQ(b *testing.B) {
	const nb = 128
	r := rand.New(rand.NewPCG(1, 1))
	for _, q4 := range []bool{false, true} {
		w, _ := qRow(r, nb, q4)
		xq, xs := actRows(r, 4, nb, 127)
		one, four := dotQ8Impls, dotQ8x4Impls
		prec := "q8_0"
		if q4 {
			one, four, prec = dotQ4Impls, dotQ4x4Impls, "q4_0"
		}
		for _, im := range one {
			b.Run("prec="+prec+"/rows=1/impl="+im.name, func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					im.f(w, xq, xs)
				}
			})
		}
		for _, im := range four {
			b.Run("prec="+prec+"/rows=4/impl="+im.name, func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					im.f(w, xq, xs)
				}
			})
		}
	}
}

// BenchmarkDotF32 times the registered f32 dots (n=4096, in L1/L2).
func BenchmarkDotF32(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	a, x := randF32(r, 4096), randF32(r, 4*4096)
	for _, im := range dotF32Impls {
		b.Run("rows=1/impl="+im.name, func(b *testing.B) {
			b.SetBytes(4 * 4096)
			for b.Loop() {
				im.f(a, x)
			}
		})
	}
	for _, im := range dotF32x4Impls {
		b.Run("rows=4/impl="+im.name, func(b *testing.B) {
			b.SetBytes(4 * 4096)
			for b.Loop() {
				im.f(a, x)
			}
		})
	}
}

// BenchmarkDotQ4Pairs times the decode q4_0 pipelines' dot (pack excluded)
// on one 4096-column row.
func BenchmarkDotQ4Pairs(b *testing.B) {
	const nb = 128
	r := rand.New(rand.NewPCG(3, 3))
	w, _ := qRow(r, nb, true)
	xq, xs := actRows(r, 1, nb, 127)
	for _, im := range q4PairImpls {
		xp, sums := make([]uint64, nb*16), make([]int32, nb)
		im.f.pack(xp, sums, xq)
		b.Run("impl="+im.name, func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				im.f.dot(w, xp, sums, xs)
			}
		})
	}
}
