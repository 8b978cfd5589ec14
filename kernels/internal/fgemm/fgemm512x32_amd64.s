//go:build amd64 && !purego

#include "textflag.h"
#include "fgemm512_amd64.h"

// AVX-512 kernel over two token groups: kern12x16's 12 equally spaced
// weight rows against two groups of 16 packed tokens (xp0, xp1), one zmm
// accumulator per row and group (Z0..Z11 for xp0, Z12..Z23 for xp1). Per k:
// the two groups' 16 activations in Z24 and Z25 and, per row, one
// broadcast weight (Z26..Z28 in turn) used by two FMAs, so each weight
// read from the cache feeds 32 tokens instead of 16 (14 loads per 24 FMAs
// instead of 13 per 12). Every lane is the same FMA chain over ascending k
// as kernelGo, continued from acc0 and acc1.

#define ROW(wa, b, a0, a1) \
	VBROADCASTSS wa, b; \
	VFMADD231PS b, Z24, a0; \
	VFMADD231PS b, Z25, a1

#define ROWS3(base, wo, a0, a1, a2, c0, c1, c2) \
	ROW(wo(base), Z26, a0, c0); \
	ROW(wo(base)(DX*1), Z27, a1, c1); \
	ROW(wo(base)(DX*2), Z28, a2, c2)

#define STEP(wo, xo) \
	VMOVUPS xo(DI), Z24; \
	VMOVUPS xo(BX), Z25; \
	ROWS3(R8, wo, Z0, Z1, Z2, Z12, Z13, Z14); \
	ROWS3(R9, wo, Z3, Z4, Z5, Z15, Z16, Z17); \
	ROWS3(R10, wo, Z6, Z7, Z8, Z18, Z19, Z20); \
	ROWS3(R11, wo, Z9, Z10, Z11, Z21, Z22, Z23)

// func kern12x32(w *float32, stride int, xp0, xp1 *float32, c int, acc0, acc1 *[192]float32)
TEXT ·kern12x32(SB), NOSPLIT, $0-56
	ROWBASES
	MOVQ xp0+16(FP), DI
	MOVQ xp1+24(FP), BX
	MOVQ c+32(FP), CX
	MOVQ acc0+40(FP), SI
	MOVQ acc1+48(FP), AX
	LOAD12(SI, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11)
	LOAD12(AX, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)

k32loop4:
	CMPQ CX, $4
	JLT k32loop1
	STEP(0, 0)
	STEP(4, 64)
	STEP(8, 128)
	STEP(12, 192)
	ADVANCE4($16)
	ADDQ $256, DI
	ADDQ $256, BX
	SUBQ $4, CX
	JMP k32loop4

k32loop1:
	TESTQ CX, CX
	JZ k32store
	STEP(0, 0)
	ADVANCE4($4)
	ADDQ $64, DI
	ADDQ $64, BX
	DECQ CX
	JMP k32loop1

k32store:
	STORE12(SI, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11)
	STORE12(AX, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	VZEROUPPER
	RET
