//go:build arm64 && !purego

package asm

import "golang.org/x/sys/cpu"

func init() {
	dotF32Impls = append(dotF32Impls, impl[dotF32Fn]{"neon", DotF32NEON})
	axpyImpls = append(axpyImpls, impl[axpyFn]{"neon", AxpyNEON})
	f16RowImpls = append(f16RowImpls, impl[f16RowFn]{"neon", F16ToF32RowNEON})
	swiGLUImpls = append(swiGLUImpls, impl[swiGLUFn]{"neon", SwiGLUNEON})
	expShiftImpls = append(expShiftImpls, impl[expShiftFn]{"neon", ExpShiftNEON})
	addQuantSet("neon", NEONQuant())
	if cpu.ARM64.HasASIMDDP {
		addQuantSet("neon-dotprod", SDOTQuant())
	}
}
