//go:build arm64 && !purego

package kernels

import "golang.org/x/sys/cpu"

func expectedVariant() string {
	switch {
	case cpu.ARM64.HasASIMD && cpu.ARM64.HasASIMDDP:
		return "neon-dotprod"
	case cpu.ARM64.HasASIMD:
		return "neon"
	}
	return "go"
}
