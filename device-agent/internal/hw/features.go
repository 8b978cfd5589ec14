package hw

import (
	"runtime"
	"slices"

	"golang.org/x/sys/cpu"
)

// Feature names used in CPU.Features.
const (
	FeatAVX        = "avx"
	FeatAVX2       = "avx2"
	FeatFMA        = "fma"
	FeatF16C       = "f16c"
	FeatAVX512F    = "avx512f"
	FeatAVX512DQ   = "avx512dq"
	FeatAVX512BW   = "avx512bw"
	FeatAVX512VL   = "avx512vl"
	FeatAVX512VNNI = "avx512vnni"
	FeatAVX512BF16 = "avx512bf16"
	FeatAVXVNNI    = "avxvnni"
	FeatNEON       = "neon"
	FeatDotProd    = "dotprod"
	FeatI8MM       = "i8mm"
	FeatFP16       = "fp16"
	FeatBF16       = "bf16"
	FeatSVE        = "sve"
	FeatSVE2       = "sve2"
)

// cpuinfoFeature maps /proc/cpuinfo words (x86 "flags", arm64 "Features",
// as the kernel spells them) to feature names.
var cpuinfoFeature = map[string]string{
	"avx": FeatAVX, "avx2": FeatAVX2, "fma": FeatFMA, "f16c": FeatF16C,
	"avx512f": FeatAVX512F, "avx512dq": FeatAVX512DQ, "avx512bw": FeatAVX512BW,
	"avx512vl": FeatAVX512VL, "avx512_vnni": FeatAVX512VNNI, "avx512_bf16": FeatAVX512BF16,
	"avx_vnni": FeatAVXVNNI,
	"asimd":    FeatNEON, "asimddp": FeatDotProd, "i8mm": FeatI8MM, "asimdhp": FeatFP16,
	"bf16": FeatBF16, "sve": FeatSVE, "sve2": FeatSVE2,
}

// featuresFromWords maps /proc/cpuinfo feature words to sorted feature names.
func featuresFromWords(words []string) []string {
	var out []string
	for _, w := range words {
		if f, ok := cpuinfoFeature[w]; ok {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// processFeatures returns the features golang.org/x/sys/cpu detected for the
// running process. On amd64 these include the OS check (XSAVE state enabled),
// so AVX-512 is absent when the kernel does not save its registers.
func processFeatures() []string {
	var out []string
	add := func(has bool, name string) {
		if has {
			out = append(out, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		x := cpu.X86
		add(x.HasAVX, FeatAVX)
		add(x.HasAVX2, FeatAVX2)
		add(x.HasFMA, FeatFMA)
		add(x.HasF16C, FeatF16C)
		add(x.HasAVX512F, FeatAVX512F)
		add(x.HasAVX512DQ, FeatAVX512DQ)
		add(x.HasAVX512BW, FeatAVX512BW)
		add(x.HasAVX512VL, FeatAVX512VL)
		add(x.HasAVX512VNNI, FeatAVX512VNNI)
		add(x.HasAVX512BF16, FeatAVX512BF16)
		add(x.HasAVXVNNI, FeatAVXVNNI)
	case "arm64":
		a := cpu.ARM64
		add(a.HasASIMD, FeatNEON)
		add(a.HasASIMDDP, FeatDotProd)
		add(a.HasI8MM, FeatI8MM)
		add(a.HasASIMDHP, FeatFP16)
		add(a.HasSVE, FeatSVE)
		add(a.HasSVE2, FeatSVE2)
	}
	slices.Sort(out)
	return out
}

// Kernel variant names, as package kernels reports them (kernels.Variant).
const (
	VariantGo          = "go"
	VariantAVX2        = "avx2"
	VariantAVX512      = "avx512"
	VariantAVX512VNNI  = "avx512vnni"
	VariantNEON        = "neon"
	VariantNEONDotProd = "neon-dotprod"
	VariantNEONI8MM    = "neon-i8mm"
)

// VariantFor returns the best kernel tier the features allow:
// "avx512vnni" (AVX-512 F+BW+VL with VNNI), "avx512" (F+BW+VL), "avx2"
// (AVX2 with FMA), "neon-i8mm" (NEON with SDOT and SMMLA), "neon-dotprod"
// (NEON with SDOT), "neon", or "go" (the portable loops).
func VariantFor(features []string) string {
	has := func(names ...string) bool {
		for _, n := range names {
			if !slices.Contains(features, n) {
				return false
			}
		}
		return true
	}
	switch {
	case has(FeatAVX512F, FeatAVX512BW, FeatAVX512VL, FeatAVX512VNNI):
		return VariantAVX512VNNI
	case has(FeatAVX512F, FeatAVX512BW, FeatAVX512VL):
		return VariantAVX512
	case has(FeatAVX2, FeatFMA):
		return VariantAVX2
	case has(FeatNEON, FeatDotProd, FeatI8MM):
		return VariantNEONI8MM
	case has(FeatNEON, FeatDotProd):
		return VariantNEONDotProd
	case has(FeatNEON):
		return VariantNEON
	}
	return VariantGo
}
