//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA micro-kernel (Go declaration in
// fgemm_amd64.go, reference loop at kernelFunc in fgemm.go).
//
// Register use in kern6x16:
//	R8..R13    pointers to the 6 weight rows
//	AX         k·4, the byte offset into every row
//	DI         &xp[k·16]
//	CX         k steps left
//	Y0..Y11    accumulators: Y(2i) tokens 0-7 and Y(2i+1) tokens 8-15 of row i
//	Y12, Y13   xp[k·16 : k·16+16]; Y14, Y15 broadcast weights
//
// Each accumulator lane is one FMA chain over ascending k, continued from
// the float32 value in acc (a k-block of a longer chain resumes exactly
// where the previous block stored it); nothing is ever added across lanes
// or registers, so each output's rounding sequence is the reference one.

// ROW does the two FMAs of row i (accumulators a0, a1) for one k, with
// the weight at wo(row)(AX*1) broadcast into b.
#define ROW(row, wo, b, a0, a1) \
	VBROADCASTSS wo(row)(AX*1), b; \
	VFMADD231PS  Y12, b, a0; \
	VFMADD231PS  Y13, b, a1

// STEP does one k for all 6 rows: xo is the byte offset of xp[k·16] from
// DI, wo that of w[k] from each row pointer plus AX.
#define STEP(wo, xo) \
	VMOVUPS xo(DI), Y12; \
	VMOVUPS xo+32(DI), Y13; \
	ROW(R8, wo, Y14, Y0, Y1); \
	ROW(R9, wo, Y15, Y2, Y3); \
	ROW(R10, wo, Y14, Y4, Y5); \
	ROW(R11, wo, Y15, Y6, Y7); \
	ROW(R12, wo, Y14, Y8, Y9); \
	ROW(R13, wo, Y15, Y10, Y11)

// func kern6x16(rows *[6]*float32, xp *float32, c int, acc *[96]float32)
TEXT ·kern6x16(SB), NOSPLIT, $0-32
	MOVQ   rows+0(FP), SI
	MOVQ   0(SI), R8
	MOVQ   8(SI), R9
	MOVQ   16(SI), R10
	MOVQ   24(SI), R11
	MOVQ   32(SI), R12
	MOVQ   40(SI), R13
	MOVQ   xp+8(FP), DI
	MOVQ   c+16(FP), CX
	MOVQ   acc+24(FP), SI
	XORQ   AX, AX
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS 128(SI), Y4
	VMOVUPS 160(SI), Y5
	VMOVUPS 192(SI), Y6
	VMOVUPS 224(SI), Y7
	VMOVUPS 256(SI), Y8
	VMOVUPS 288(SI), Y9
	VMOVUPS 320(SI), Y10
	VMOVUPS 352(SI), Y11

k6loop4:
	CMPQ CX, $4
	JLT  k6loop1
	STEP(0, 0)
	STEP(4, 64)
	STEP(8, 128)
	STEP(12, 192)
	ADDQ $16, AX
	ADDQ $256, DI
	SUBQ $4, CX
	JMP  k6loop4

k6loop1:
	TESTQ CX, CX
	JZ    k6store
	STEP(0, 0)
	ADDQ  $4, AX
	ADDQ  $64, DI
	DECQ  CX
	JMP   k6loop1

k6store:
	// acc[i*16 + j] = lane j of the tokens of row i
	VMOVUPS Y0, 0(SI)
	VMOVUPS Y1, 32(SI)
	VMOVUPS Y2, 64(SI)
	VMOVUPS Y3, 96(SI)
	VMOVUPS Y4, 128(SI)
	VMOVUPS Y5, 160(SI)
	VMOVUPS Y6, 192(SI)
	VMOVUPS Y7, 224(SI)
	VMOVUPS Y8, 256(SI)
	VMOVUPS Y9, 288(SI)
	VMOVUPS Y10, 320(SI)
	VMOVUPS Y11, 352(SI)
	VZEROUPPER
	RET
