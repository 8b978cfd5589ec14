//go:build arm64 && !purego

#include "textflag.h"

// The NEON kernelFunc (Go declaration in fgemm_arm64.go; the reference is
// kernelGo). Registers: V0/V1 eight tokens' packed activations of one
// column, V2-V7 four columns of weights of rows 0-5 (one row each), V8-V31
// the 6×16 accumulators (row i, tokens 4q..4q+3 in V(8+4i+q)). Every
// accumulator lane is one FMLA chain over k in order, as in kernelGo.
// Per 4 columns: 6 weight loads, 8 activation loads and 96 FMLA (4 × 6
// rows × 16 tokens multiply-adds); a tail column loads each weight with
// LD1R.
//
// FMLA Vd.4S, Vn.4S, Vm.S[i] (by element) is WORD-encoded with register
// numbers (the Go assembler has only the vector form).
#define FMLAE(d, n, m, i) WORD $(0x4f801000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))

// HALF(I, H): tokens 8H..8H+7 of the next column (weights in lane I).
#define HALF(I, H) \
	VLD1.P 32(R7), [V0.S4, V1.S4]; \
	FMLAE(8+2*(H), 0, 2, I); FMLAE(9+2*(H), 1, 2, I); \
	FMLAE(12+2*(H), 0, 3, I); FMLAE(13+2*(H), 1, 3, I); \
	FMLAE(16+2*(H), 0, 4, I); FMLAE(17+2*(H), 1, 4, I); \
	FMLAE(20+2*(H), 0, 5, I); FMLAE(21+2*(H), 1, 5, I); \
	FMLAE(24+2*(H), 0, 6, I); FMLAE(25+2*(H), 1, 6, I); \
	FMLAE(28+2*(H), 0, 7, I); FMLAE(29+2*(H), 1, 7, I)

#define COLUMN(I) HALF(I, 0); HALF(I, 1)

// func kern6x16(rows *[6]*float32, xp *float32, c int, acc *[96]float32)
TEXT ·kern6x16(SB), NOSPLIT, $0-32
	MOVD   rows+0(FP), R0
	MOVD   xp+8(FP), R7
	MOVD   c+16(FP), R8
	MOVD   acc+24(FP), R9
	MOVD   0(R0), R1
	MOVD   8(R0), R2
	MOVD   16(R0), R3
	MOVD   24(R0), R4
	MOVD   32(R0), R5
	MOVD   40(R0), R6
	MOVD   R9, R10
	VLD1.P 64(R10), [V8.S4, V9.S4, V10.S4, V11.S4]
	VLD1.P 64(R10), [V12.S4, V13.S4, V14.S4, V15.S4]
	VLD1.P 64(R10), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1.P 64(R10), [V20.S4, V21.S4, V22.S4, V23.S4]
	VLD1.P 64(R10), [V24.S4, V25.S4, V26.S4, V27.S4]
	VLD1.P 64(R10), [V28.S4, V29.S4, V30.S4, V31.S4]

k4loop:
	CMP    $4, R8
	BLT    k1loop
	VLD1.P 16(R1), [V2.S4]
	VLD1.P 16(R2), [V3.S4]
	VLD1.P 16(R3), [V4.S4]
	VLD1.P 16(R4), [V5.S4]
	VLD1.P 16(R5), [V6.S4]
	VLD1.P 16(R6), [V7.S4]
	COLUMN(0)
	COLUMN(1)
	COLUMN(2)
	COLUMN(3)
	SUB    $4, R8
	B      k4loop

k1loop:
	CBZ     R8, kdone
	VLD1R.P 4(R1), [V2.S4]
	VLD1R.P 4(R2), [V3.S4]
	VLD1R.P 4(R3), [V4.S4]
	VLD1R.P 4(R4), [V5.S4]
	VLD1R.P 4(R5), [V6.S4]
	VLD1R.P 4(R6), [V7.S4]
	COLUMN(0)
	SUB     $1, R8
	B       k1loop

kdone:
	VST1.P [V8.S4, V9.S4, V10.S4, V11.S4], 64(R9)
	VST1.P [V12.S4, V13.S4, V14.S4, V15.S4], 64(R9)
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R9)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R9)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R9)
	VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R9)
	RET
