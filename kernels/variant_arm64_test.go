//go:build arm64 && !purego

package kernels

import "golang.org/x/sys/cpu"

func expectedVariant() string {
	a := cpu.ARM64
	switch {
	case a.HasASIMD && a.HasASIMDDP && a.HasI8MM:
		return "neon-i8mm"
	case a.HasASIMD && a.HasASIMDDP:
		return "neon-dotprod"
	case a.HasASIMD:
		return "neon"
	}
	return "go"
}
