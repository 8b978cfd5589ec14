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

var tileQ8, tileQ4 = tileQ8Go, tileQ4Go

func init() {
	if Available() {
		tileQ8, tileQ4 = tileQ8AVX2, tileQ4AVX2
	}
}
