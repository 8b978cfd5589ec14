//go:build amd64 && !purego

package qgemm

import "golang.org/x/sys/cpu"

// Available reports whether the SIMD micro-kernels (AVX2, FMA, F16C) run
// on this CPU. Without them the runtime keeps its dot-product loops.
func Available() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
}

// tileQ8AVX2 is tileQ8Go with AVX2.
//
//go:noescape
func tileQ8AVX2(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// tileQ4AVX2 is tileQ4Go with AVX2.
//
//go:noescape
func tileQ4AVX2(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32)

// simd is whether MulRows runs the AVX2 tiles (else the reference).
var simd = Available()

func tileQ8SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) { tileQ8AVX2(a, out) }
func tileQ4SIMD(a *tileArgs, out *[tileRows * tileGroups * GroupTokens]float32) { tileQ4AVX2(a, out) }
