//go:build arm64 && !purego

package asm

import "golang.org/x/sys/cpu"

func init() {
	dotF32Impls = append(dotF32Impls, impl[dotF32Fn]{"neon", DotF32NEON})
	axpyImpls = append(axpyImpls, impl[axpyFn]{"neon", AxpyNEON})
	f16RowImpls = append(f16RowImpls, impl[f16RowFn]{"neon", F16ToF32RowNEON})
	swiGLUImpls = append(swiGLUImpls, impl[swiGLUFn]{"neon", SwiGLUNEON})
	expShiftImpls = append(expShiftImpls, impl[expShiftFn]{"neon", ExpShiftNEON})
	attnScoresF16Impls = append(attnScoresF16Impls, impl[attnScoresF16Fn]{"neon", AttnScoresF16NEON})
	attnScoresF32Impls = append(attnScoresF32Impls, impl[attnScoresF32Fn]{"neon", AttnScoresF32NEON})
	attnAccumF16Impls = append(attnAccumF16Impls, impl[attnAccumF16Fn]{"neon", AttnAccumF16NEON})
	attnAccumF32Impls = append(attnAccumF32Impls, impl[attnAccumF32Fn]{"neon", AttnAccumF32NEON})
	attnSoftmaxImpls = append(attnSoftmaxImpls, impl[attnSoftmaxFn]{"neon", AttnSoftmaxNEON})
	stateStepImpls = append(stateStepImpls, impl[stateStepFn]{"neon", StateStepNEON})
	addQuantSet("neon", NEONQuant())
	if cpu.ARM64.HasASIMDDP {
		addQuantSet("neon-dotprod", SDOTQuant())
	}
}
