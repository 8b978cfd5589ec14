package asm

import "math"

// F16Table maps every IEEE 754 half-precision bit pattern to its float32
// value. Looking values up is faster in pure Go than decoding the bits.
var F16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return &t
}()

// F16ToF32 decodes one IEEE 754 half-precision value exactly; a
// signalling NaN comes back quiet, as VCVTPH2PS and FCVT return it.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && man != 0: // NaN, quieted
		return math.Float32frombits(sign | 0x7fc00000 | man<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		man &= 0x3ff
		return math.Float32frombits(sign | e<<23 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// F32ToF16 encodes f as IEEE 754 half precision, rounding to nearest even;
// values too large become ±Inf, NaN stays NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rest := man & (1<<shift - 1)
		r := man >> shift
		if rest > half || (rest == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | man>>13
	rest := man & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(r)
}

// RoundF16 returns f rounded to the nearest half-precision value.
func RoundF16(f float32) float32 { return F16Table[F32ToF16(f)] }

// FMA32 returns a·b + s rounded once to float32, as a fused multiply-add
// instruction does (the pure-Go references of the FMA kernels use it). a·b
// is exact in float64; the float64 sum is rounded to odd (its error
// recovered with TwoSum), which makes the final rounding to float32 exact.
func FMA32(a, b, s float32) float32 {
	p := float64(a) * float64(b)
	q := float64(s)
	hi := p + q
	if math.IsInf(hi, 0) || math.IsNaN(hi) {
		return float32(hi)
	}
	bb := hi - p
	lo := (p - (hi - bb)) + (q - bb)
	if lo != 0 && math.Float64bits(hi)&1 == 0 {
		// The exact sum lies strictly between hi and its neighbour on
		// lo's side; of the two, round to odd picks the odd one.
		if lo > 0 {
			hi = math.Nextafter(hi, math.Inf(1))
		} else {
			hi = math.Nextafter(hi, math.Inf(-1))
		}
	}
	return float32(hi)
}
