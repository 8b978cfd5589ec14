//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

func expectedVariant() string {
	x := cpu.X86
	switch {
	case x.HasAVX2 && x.HasFMA && x.HasF16C && x.HasAVX512VNNI && x.HasAVX512VL:
		return "avx512vnni"
	case x.HasAVX2 && x.HasFMA && x.HasF16C:
		return "avx2"
	}
	return "go"
}
