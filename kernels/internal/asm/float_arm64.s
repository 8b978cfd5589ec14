//go:build arm64 && !purego

#include "textflag.h"

#include "neon_arm64.h"

// Float loops for arm64 (Go declarations in float_arm64.go).

// func f16RowNEON(dst *float32, src *uint16, n int)
TEXT ·f16RowNEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2

f16loop16:
	CMP    $16, R2
	BLT    f16loop4
	VLD1.P 32(R1), [V0.H8, V1.H8]
	FCVTL4(2, 0)
	FCVTL8(3, 0)
	FCVTL4(4, 1)
	FCVTL8(5, 1)
	VST1.P [V2.S4, V3.S4, V4.S4, V5.S4], 64(R0)
	SUB    $16, R2
	B      f16loop16

f16loop4:
	CMP    $4, R2
	BLT    f16tail
	VLD1.P 8(R1), [V0.H4]
	FCVTL4(2, 0)
	VST1.P [V2.S4], 16(R0)
	SUB    $4, R2
	B      f16loop4

f16tail:
	CBZ     R2, f16done
	MOVHU.P 2(R1), R3
	FMOVS   R3, F0
	FCVTHS  F0, F0
	FMOVS.P F0, 4(R0)
	SUB     $1, R2
	B       f16tail

f16done:
	RET
