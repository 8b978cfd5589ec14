//go:build arm64 && !purego

package asm

import (
	"math"
	"testing"
)

// TestExpShiftNEONAllExponents: the NEON exponential equals Exp bit for
// bit on every 2053rd float32 bit pattern (every exponent and sign, NaNs
// and infinities included) and on the clamp bounds and their neighbours.
func TestExpShiftNEONAllExponents(t *testing.T) {
	var xs []float32
	for b := uint64(0); b < 1<<32; b += 2053 {
		xs = append(xs, math.Float32frombits(uint32(b)))
	}
	for _, v := range []float32{expLo, expHi, 0, float32(math.Inf(1)), float32(math.Inf(-1))} {
		xs = append(xs, v, math.Nextafter32(v, -1e9), math.Nextafter32(v, 1e9))
	}
	for len(xs)%4 != 0 {
		xs = append(xs, 1)
	}
	got := append([]float32(nil), xs...)
	ExpShiftNEON(got, 0)
	for i, x := range xs {
		if want := Exp(x); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("Exp(%v) (bits %#08x): NEON %v, reference %v", x, math.Float32bits(x), got[i], want)
		}
	}
}
