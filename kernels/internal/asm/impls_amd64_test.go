//go:build amd64 && !purego

package asm

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		addQuantSet("avx2", AVX2Quant())
		dotF32Impls = append(dotF32Impls, impl[dotF32Fn]{"avx2", DotF32FMA})
		dotF32x4Impls = append(dotF32x4Impls, impl[dotF32x4Fn]{"avx2", DotF32x4FMA})
		dotF16Impls = append(dotF16Impls, impl[dotF16Fn]{"avx2", DotF16FMA})
		axpyImpls = append(axpyImpls, impl[axpyFn]{"avx2", AxpyAVX2})
		axpyF16Impls = append(axpyF16Impls, impl[axpyF16Fn]{"avx2", AxpyF16AVX2})
		scaleImpls = append(scaleImpls, impl[scaleFn]{"avx2", ScaleAVX2})
		quantImpls = append(quantImpls, impl[quantFn]{"avx2", QuantizeQ8ActAVX2})
		f16RowImpls = append(f16RowImpls, impl[f16RowFn]{"avx2", F16ToF32RowAVX2})
		swiGLUImpls = append(swiGLUImpls, impl[swiGLUFn]{"avx2", SwiGLUAVX2})
		expShiftImpls = append(expShiftImpls, impl[expShiftFn]{"avx2", ExpShiftAVX2})
		attnScoresF16Impls = append(attnScoresF16Impls, impl[attnScoresF16Fn]{"avx2", AttnScoresF16AVX2})
		attnScoresF32Impls = append(attnScoresF32Impls, impl[attnScoresF32Fn]{"avx2", AttnScoresF32AVX2})
		attnAccumF16Impls = append(attnAccumF16Impls, impl[attnAccumF16Fn]{"avx2", AttnAccumF16AVX2})
		attnAccumF32Impls = append(attnAccumF32Impls, impl[attnAccumF32Fn]{"avx2", AttnAccumF32AVX2})
		attnSoftmaxImpls = append(attnSoftmaxImpls, impl[attnSoftmaxFn]{"avx2", AttnSoftmaxAVX2})
		stateStepImpls = append(stateStepImpls, impl[stateStepFn]{"avx2", StateStepAVX2})
		if cpu.X86.HasAVX512F {
			stateStepImpls = append(stateStepImpls, impl[stateStepFn]{"avx512", StateStepAVX512})
			attnScoresF16Impls = append(attnScoresF16Impls, impl[attnScoresF16Fn]{"avx512", AttnScoresF16AVX512})
			attnScoresF32Impls = append(attnScoresF32Impls, impl[attnScoresF32Fn]{"avx512", AttnScoresF32AVX512})
			attnAccumF16Impls = append(attnAccumF16Impls, impl[attnAccumF16Fn]{"avx512", AttnAccumF16AVX512})
			attnAccumF32Impls = append(attnAccumF32Impls, impl[attnAccumF32Fn]{"avx512", AttnAccumF32AVX512})
			attnSoftmaxImpls = append(attnSoftmaxImpls, impl[attnSoftmaxFn]{"avx512", AttnSoftmaxAVX512})
			matVecF32Impls = append(matVecF32Impls, impl[matVecF32Fn]{"avx512", MatVecF32AVX512})
		}
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL {
			matVecF16Impls = append(matVecF16Impls, impl[matVecF16Fn]{"avx512", MatVecF16AVX512})
		}
		if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL {
			addQuantSet("avx512vnni", VNNIQuant())
		}
	}
}
