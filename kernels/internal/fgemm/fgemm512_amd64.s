//go:build amd64 && !purego

#include "textflag.h"
#include "fgemm512_amd64.h"

// AVX-512 kernel: two 6-row tiles at once, 12 equally spaced weight rows ×
// 16 tokens, one zmm accumulator per row (Z0..Z11, all 16 tokens), so 12
// independent FMA chains hide the FMA latency. Per k: the 16 packed
// activations in Z12 and, per row, one FMA with the weight broadcast from
// memory. Row i is at R8 + i·stride, addressed from four bases (R8, R9,
// R10, R11 = rows 0, 3, 6, 9) plus 0, stride (DX) or 2·stride. Each lane
// is the same FMA chain over ascending k as kernelGo, continued from acc.

#define ROWS3(base, wo, a0, a1, a2) \
	VFMADD231PS.BCST wo(base), Z12, a0; \
	VFMADD231PS.BCST wo(base)(DX*1), Z12, a1; \
	VFMADD231PS.BCST wo(base)(DX*2), Z12, a2

#define STEP12(wo, xo) \
	VMOVUPS xo(DI), Z12; \
	ROWS3(R8, wo, Z0, Z1, Z2); \
	ROWS3(R9, wo, Z3, Z4, Z5); \
	ROWS3(R10, wo, Z6, Z7, Z8); \
	ROWS3(R11, wo, Z9, Z10, Z11)

// func kern12x16(w *float32, stride int, xp *float32, c int, acc *[192]float32)
TEXT ·kern12x16(SB), NOSPLIT, $0-40
	ROWBASES
	MOVQ xp+16(FP), DI
	MOVQ c+24(FP), CX
	MOVQ acc+32(FP), SI
	LOAD12(SI, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11)

k12loop4:
	CMPQ CX, $4
	JLT k12loop1
	STEP12(0, 0)
	STEP12(4, 64)
	STEP12(8, 128)
	STEP12(12, 192)
	ADVANCE4($16)
	ADDQ $256, DI
	SUBQ $4, CX
	JMP k12loop4

k12loop1:
	TESTQ CX, CX
	JZ k12store
	STEP12(0, 0)
	ADVANCE4($4)
	ADDQ $64, DI
	DECQ CX
	JMP k12loop1

k12store:
	STORE12(SI, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11)
	VZEROUPPER
	RET
