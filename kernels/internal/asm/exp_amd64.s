//go:build amd64 && !purego

#include "textflag.h"

// AVX2 loops of Exp (exp.go), eight lanes at a time, the same operations
// in the same order as the reference. Registers: Y15 expLo, Y14 expHi,
// Y13 log2e, Y12 ln2hi, Y11 ln2lo, Y10 c0, Y4..Y8 c1..c5, Y9 1.0.

DATA expk<>+0(SB)/4, $-87.33654
DATA expk<>+4(SB)/4, $88.0
DATA expk<>+8(SB)/4, $1.44269504088896341
DATA expk<>+12(SB)/4, $0.693359375
DATA expk<>+16(SB)/4, $-2.12194440e-4
DATA expk<>+20(SB)/4, $1.9875691500e-4
DATA expk<>+24(SB)/4, $1.3981999507e-3
DATA expk<>+28(SB)/4, $8.3334519073e-3
DATA expk<>+32(SB)/4, $4.1665795894e-2
DATA expk<>+36(SB)/4, $1.6666665459e-1
DATA expk<>+40(SB)/4, $5.0000001201e-1
DATA expk<>+44(SB)/4, $1.0
DATA expk<>+48(SB)/4, $0x80000000
DATA expk<>+52(SB)/4, $127
GLOBL expk<>(SB), RODATA|NOPTR, $56

#define EXPCONSTS \
	VBROADCASTSS expk<>+0(SB), Y15 \
	VBROADCASTSS expk<>+4(SB), Y14 \
	VBROADCASTSS expk<>+8(SB), Y13 \
	VBROADCASTSS expk<>+12(SB), Y12 \
	VBROADCASTSS expk<>+16(SB), Y11 \
	VBROADCASTSS expk<>+20(SB), Y10 \
	VBROADCASTSS expk<>+24(SB), Y4 \
	VBROADCASTSS expk<>+28(SB), Y5 \
	VBROADCASTSS expk<>+32(SB), Y6 \
	VBROADCASTSS expk<>+36(SB), Y7 \
	VBROADCASTSS expk<>+40(SB), Y8 \
	VBROADCASTSS expk<>+44(SB), Y9

// EXP8: Y3 = Exp(Y1); clobbers Y0, Y1, Y2.
#define EXP8 \
	VMAXPS Y15, Y1, Y1 \
	VMINPS Y14, Y1, Y1 \
	VMULPS Y13, Y1, Y2 \
	VROUNDPS $0, Y2, Y2 \
	VMULPS Y12, Y2, Y3 \
	VSUBPS Y3, Y1, Y1 \
	VMULPS Y11, Y2, Y3 \
	VSUBPS Y3, Y1, Y1 \
	VCVTPS2DQ Y2, Y2 \
	VPBROADCASTD expk<>+52(SB), Y0 \
	VPADDD Y0, Y2, Y2 \
	VPSLLD $23, Y2, Y2 \
	VMULPS Y10, Y1, Y3 \
	VADDPS Y4, Y3, Y3 \
	VMULPS Y1, Y3, Y3 \
	VADDPS Y5, Y3, Y3 \
	VMULPS Y1, Y3, Y3 \
	VADDPS Y6, Y3, Y3 \
	VMULPS Y1, Y3, Y3 \
	VADDPS Y7, Y3, Y3 \
	VMULPS Y1, Y3, Y3 \
	VADDPS Y8, Y3, Y3 \
	VMULPS Y1, Y1, Y0 \
	VMULPS Y0, Y3, Y3 \
	VADDPS Y1, Y3, Y3 \
	VADDPS Y9, Y3, Y3 \
	VMULPS Y2, Y3, Y3

// func swiGLUAVX2(gate, up *float32, n int)
TEXT ·swiGLUAVX2(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), SI
	MOVQ n+16(FP), CX
	EXPCONSTS
swloop:
	CMPQ CX, $8
	JLT swdone
	VBROADCASTSS expk<>+48(SB), Y1
	VXORPS (DI), Y1, Y1
	EXP8
	VADDPS Y9, Y3, Y3
	VMOVUPS (DI), Y0
	VDIVPS Y3, Y0, Y0
	VMULPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP swloop
swdone:
	VZEROUPPER
	RET

// func expShiftAVX2(x *float32, m float32, n int)
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+16(FP), CX
	EXPCONSTS
esloop:
	CMPQ CX, $8
	JLT esdone
	VMOVUPS (DI), Y1
	VBROADCASTSS m+8(FP), Y0
	VSUBPS Y0, Y1, Y1
	EXP8
	VMOVUPS Y3, (DI)
	ADDQ $32, DI
	SUBQ $8, CX
	JMP esloop
esdone:
	VZEROUPPER
	RET
