//go:build arm64 && !purego

#include "textflag.h"

#include "neon_arm64.h"
#include "exp_arm64.h"

// NEON loops of Exp (exp.go): EXP4 of exp_arm64.h, four lanes per chain
// and two chains per step. V30 holds the shift m.

// SWIGLU4(g, u, x, n, t, y): V(g) = V(g) / (1 + Exp(−V(g))) · V(u).
#define SWIGLU4(g, u, x, n, t, y) \
	EOR16(x, g, 29); \
	EXP4(x, n, t, y); \
	FADD4(y, y, 27); \
	FDIV4(g, g, y); \
	FMUL4(g, g, u)

// func swiGLUNEON(gate, up *float32, n int)
TEXT ·swiGLUNEON(SB), NOSPLIT, $0-24
	MOVD gate+0(FP), R0
	MOVD up+8(FP), R1
	MOVD n+16(FP), R2
	EXPCONSTS

sw8:
	CMP    $8, R2
	BLT    sw4
	VLD1   (R0), [V0.S4, V1.S4]
	VLD1.P 32(R1), [V2.S4, V3.S4]
	SWIGLU4(0, 2, 4, 5, 6, 7)
	SWIGLU4(1, 3, 8, 9, 10, 11)
	VST1.P [V0.S4, V1.S4], 32(R0)
	SUB    $8, R2
	B      sw8

sw4:
	CBZ    R2, swdone
	VLD1   (R0), [V0.S4]
	VLD1.P 16(R1), [V2.S4]
	SWIGLU4(0, 2, 4, 5, 6, 7)
	VST1.P [V0.S4], 16(R0)
	SUB    $4, R2
	B      sw4

swdone:
	RET

// func expShiftNEON(x *float32, m float32, n int)
TEXT ·expShiftNEON(SB), NOSPLIT, $0-24
	MOVD  x+0(FP), R0
	FMOVS m+8(FP), F30
	MOVD  n+16(FP), R2
	VDUP  V30.S[0], V30.S4
	EXPCONSTS

es8:
	CMP    $8, R2
	BLT    es4
	VLD1   (R0), [V0.S4, V1.S4]
	FSUB4(0, 0, 30)
	FSUB4(1, 1, 30)
	EXP4(0, 4, 5, 6)
	EXP4(1, 8, 9, 7)
	VST1.P [V6.S4, V7.S4], 32(R0)
	SUB    $8, R2
	B      es8

es4:
	CBZ    R2, esdone
	VLD1   (R0), [V0.S4]
	FSUB4(0, 0, 30)
	EXP4(0, 4, 5, 6)
	VST1.P [V6.S4], 16(R0)
	SUB    $4, R2
	B      es4

esdone:
	RET
