//go:build (amd64 || arm64) && !purego

package asm

// addQuantSet registers every loop of a SIMD integer set as a candidate.
func addQuantSet(name string, s QuantSet) {
	dotQ8Impls = append(dotQ8Impls, impl[dotQFn]{name, s.DotQ8})
	dotQ4Impls = append(dotQ4Impls, impl[dotQFn]{name, s.DotQ4})
	dotQ8x4Impls = append(dotQ8x4Impls, impl[dotQx4Fn]{name, s.DotQ8x4})
	dotQ4x4Impls = append(dotQ4x4Impls, impl[dotQx4Fn]{name, s.DotQ4x4})
	q4PairImpls = append(q4PairImpls, impl[q4PairsImpl]{name, q4PairsImpl{s.PackQ4Pairs, s.DotQ4Pairs}})
	x4Impls = append(x4Impls,
		impl[x4Impl]{name + "-q4", x4Impl{s.PackQ4x4, s.DotQ4x4Packed, s.DotQ4x8Packed, true, func(n int) int { return n }}},
		impl[x4Impl]{name + "-q8", x4Impl{s.PackQ8x4, s.DotQ8x4Packed, s.DotQ8x8Packed, false, func(n int) int { return 2 * n }}})
}
