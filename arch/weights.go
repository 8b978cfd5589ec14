package arch

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/x448/float16"
)

// FillRow writes the seeded random values of row `row` of tensor t into dst
// (len(dst) = the row length, t.Shape[len-1]; a vector is one row). Each
// row has its own generator, so rows can be drawn in any order or in
// parallel, and a consumer derives the same weights from (seed, tensor
// name, row). WriteGGUF uses it. The kernels runtime does not (yet): it
// draws its weights with its own generator (kernels/weights.go), so a GGUF
// export and a runtime of the same seed hold different weights of the same
// distributions; WriteGGUFWeights writes any other weights. Distributions, with u uniform in
// [-1, 1) and n the row length:
//
//   - matrices and convolution kernels: √3·u/√n (standard deviation 1/√n)
//   - token_embd and output: √3·u (standard deviation 1)
//   - RMSNorm weights (names ending "norm.weight"): 1 + 0.1·u
//   - ssm_conv1d.bias: 0.1·u
//   - ssm_dt.bias: softplus⁻¹(dt) with dt = 0.01 + 0.09·(u+1)/2
//   - ssm_a (A_log): ln(1 + 15·(u+1)/2), so A = -exp(A_log) in [-16, -1)
//   - ssm_d: 1 + 0.5·u
//
// u comes from a PCG generator seeded with (seed + row·0x9E3779B97F4A7C15,
// FNV-1a-64 of the name): each Uint64 yields two values, from the top 24
// bits of its high then of its low 32-bit half, u = 2·bits/2^24 - 1.
func FillRow(t Tensor, seed uint64, row int, dst []float32) {
	h := fnv.New64a()
	h.Write([]byte(t.Name))
	g := rand.NewPCG(seed+uint64(row)*0x9E3779B97F4A7C15, h.Sum64())
	var spare uint32
	have := false
	u := func() float64 {
		if have {
			have = false
			return float64(spare>>8)*(2.0/(1<<24)) - 1
		}
		x := g.Uint64()
		spare, have = uint32(x), true
		return float64(uint32(x>>32)>>8)*(2.0/(1<<24)) - 1
	}
	n := t.Shape[len(t.Shape)-1]
	name := t.Name
	switch {
	case strings.HasSuffix(name, "norm.weight"):
		for i := range dst {
			dst[i] = float32(1 + 0.1*u())
		}
	case strings.HasSuffix(name, "ssm_conv1d.bias"):
		for i := range dst {
			dst[i] = float32(0.1 * u())
		}
	case strings.HasSuffix(name, "ssm_dt.bias"):
		for i := range dst {
			dt := 0.01 + 0.09*(u()+1)/2
			dst[i] = float32(math.Log(math.Expm1(dt)))
		}
	case strings.HasSuffix(name, "ssm_a"):
		for i := range dst {
			dst[i] = float32(math.Log(1 + 15*(u()+1)/2))
		}
	case strings.HasSuffix(name, "ssm_d"):
		for i := range dst {
			dst[i] = float32(1 + 0.5*u())
		}
	default:
		a := math.Sqrt(3 / float64(n))
		if name == "token_embd.weight" || name == "output.weight" {
			a = math.Sqrt(3)
		}
		for i := range dst {
			dst[i] = float32(a * u())
		}
	}
}

// appendF16 appends x as little-endian IEEE half floats.
func appendF16(dst []byte, x []float32) []byte {
	for _, v := range x {
		b := float16.Fromfloat32(v).Bits()
		dst = append(dst, byte(b), byte(b>>8))
	}
	return dst
}

// appendF32 appends x as little-endian float32.
func appendF32(dst []byte, x []float32) []byte {
	for _, v := range x {
		b := math.Float32bits(v)
		dst = append(dst, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
	}
	return dst
}

// appendQ8_0 appends x (len a multiple of 32) as q8_0 blocks: an f16 scale
// d = max|x|/127, then 32 int8 values round(x/d).
func appendQ8_0(dst []byte, x []float32) []byte {
	for b := 0; b < len(x); b += QuantBlock {
		blk := x[b : b+QuantBlock]
		hi, lo := blk[0], blk[0]
		for _, v := range blk[1:] {
			hi = max(hi, v)
			lo = min(lo, v)
		}
		amax := max(hi, -lo)
		d := amax / 127
		var inv float32
		if d != 0 {
			inv = 1 / d
		}
		h := float16.Fromfloat32(d).Bits()
		dst = append(dst, byte(h), byte(h>>8))
		for _, v := range blk {
			dst = append(dst, byte(int8(math.Round(float64(v*inv)))))
		}
	}
	return dst
}

// appendQ4_0 appends x (len a multiple of 32) as q4_0 blocks: an f16 scale
// d = m/-8 where m is the value of largest magnitude (the maximum when it
// ties with -minimum), then 16 bytes whose low nibbles hold elements 0..15
// and high nibbles elements 16..31, each min(15, int(x/d + 8.5)) computed in
// float32 (x/d + 8.5 lies in [0.5, 16.5], so int truncation is floor).
func appendQ4_0(dst []byte, x []float32) []byte {
	for b := 0; b < len(x); b += QuantBlock {
		blk := x[b : b+QuantBlock : b+QuantBlock]
		hi, lo := blk[0], blk[0]
		for _, v := range blk[1:] {
			hi = max(hi, v)
			lo = min(lo, v)
		}
		m := hi
		if -lo > hi {
			m = lo
		}
		d := m / -8
		var inv float32
		if d != 0 {
			inv = 1 / d
		}
		h := float16.Fromfloat32(d).Bits()
		dst = append(dst, byte(h), byte(h>>8))
		for j := range QuantBlock / 2 {
			q0 := min(15, int32(blk[j]*inv+8.5))
			q1 := min(15, int32(blk[j+QuantBlock/2]*inv+8.5))
			dst = append(dst, byte(q0)|byte(q1)<<4)
		}
	}
	return dst
}

// EncodeRow appends one row of weights at format p (f32, f16, q8_0 or q4_0;
// block formats need len(row) a multiple of QuantBlock).
func EncodeRow(dst []byte, row []float32, p Precision) []byte {
	switch p {
	case F16:
		return appendF16(dst, row)
	case Q8_0:
		return appendQ8_0(dst, row)
	case Q4_0:
		return appendQ4_0(dst, row)
	}
	return appendF32(dst, row)
}
