package asm

import "math"

// A float32 exponential for the element-wise ops (SwiGLU's SiLU, the
// attention softmax), written so that the SIMD loops can repeat it
// operation for operation: Cody–Waite reduction by ln 2 (split in two so
// that n·ln2hi is exact), Cephes' degree-5 polynomial for e^r − 1 − r on
// |r| ≤ ln2/2, and the power of two assembled in the exponent bits. Every
// product is rounded before the following sum (no fused multiply-add, and
// the float32 conversions stop the Go compiler from fusing on arm64), so
// the assembly's VMULPS/VADDPS sequence gives the same bits. The input is
// clamped to [expLo, expHi], where the result stays normal and finite;
// the relative error is below 2e-7 over that range. A NaN input is not
// propagated (the clamp, like VMAXPS, turns it into a bound).
const (
	expLo    = float32(-87.33654) // e^expLo is about the smallest normal float32
	expHi    = float32(88.0)      // keeps n ≤ 127
	expLog2e = float32(1.44269504088896341)
	expLn2Hi = float32(0.693359375)
	expLn2Lo = float32(-2.12194440e-4)
	expC0    = float32(1.9875691500e-4)
	expC1    = float32(1.3981999507e-3)
	expC2    = float32(8.3334519073e-3)
	expC3    = float32(4.1665795894e-2)
	expC4    = float32(1.6666665459e-1)
	expC5    = float32(5.0000001201e-1)
)

// Exp returns e^x computed as described above.
func Exp(x float32) float32 {
	if !(x > expLo) { // also NaN, as VMAXPS with the bound second
		x = expLo
	}
	x = min(x, expHi)
	n := float32(math.RoundToEven(float64(float32(x * expLog2e))))
	r := x - float32(n*expLn2Hi)
	r = r - float32(n*expLn2Lo)
	y := float32(expC0*r) + expC1
	y = float32(y*r) + expC2
	y = float32(y*r) + expC3
	y = float32(y*r) + expC4
	y = float32(y*r) + expC5
	z := float32(r * r)
	y = float32(y*z) + r
	y = y + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// SwiGLU writes gate[i] = SiLU(gate[i])·up[i] for i < len(gate), with
// SiLU(g) = g / (1 + Exp(−g)).
func SwiGLU(gate, up []float32) {
	up = up[:len(gate)]
	for i, g := range gate {
		gate[i] = g / (1 + Exp(-g)) * up[i]
	}
}

// ExpShift writes x[i] = Exp(x[i] − m) for i < len(x).
func ExpShift(x []float32, m float32) {
	for i, v := range x {
		x[i] = Exp(v - m)
	}
}
