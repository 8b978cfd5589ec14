//go:build amd64 && !purego

#include "textflag.h"

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
	MOVQ w+0(FP), R8
	MOVQ stride+8(FP), DX
	SHLQ $2, DX
	LEAQ (DX)(DX*2), AX
	LEAQ (R8)(AX*1), R9
	LEAQ (R9)(AX*1), R10
	LEAQ (R10)(AX*1), R11
	MOVQ xp+16(FP), DI
	MOVQ c+24(FP), CX
	MOVQ acc+32(FP), SI
	VMOVUPS 0(SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VMOVUPS 256(SI), Z4
	VMOVUPS 320(SI), Z5
	VMOVUPS 384(SI), Z6
	VMOVUPS 448(SI), Z7
	VMOVUPS 512(SI), Z8
	VMOVUPS 576(SI), Z9
	VMOVUPS 640(SI), Z10
	VMOVUPS 704(SI), Z11

k12loop4:
	CMPQ CX, $4
	JLT k12loop1
	STEP12(0, 0)
	STEP12(4, 64)
	STEP12(8, 128)
	STEP12(12, 192)
	ADDQ $16, R8
	ADDQ $16, R9
	ADDQ $16, R10
	ADDQ $16, R11
	ADDQ $256, DI
	SUBQ $4, CX
	JMP k12loop4

k12loop1:
	TESTQ CX, CX
	JZ k12store
	STEP12(0, 0)
	ADDQ $4, R8
	ADDQ $4, R9
	ADDQ $4, R10
	ADDQ $4, R11
	ADDQ $64, DI
	DECQ CX
	JMP k12loop1

k12store:
	VMOVUPS Z0, 0(SI)
	VMOVUPS Z1, 64(SI)
	VMOVUPS Z2, 128(SI)
	VMOVUPS Z3, 192(SI)
	VMOVUPS Z4, 256(SI)
	VMOVUPS Z5, 320(SI)
	VMOVUPS Z6, 384(SI)
	VMOVUPS Z7, 448(SI)
	VMOVUPS Z8, 512(SI)
	VMOVUPS Z9, 576(SI)
	VMOVUPS Z10, 640(SI)
	VMOVUPS Z11, 704(SI)
	VZEROUPPER
	RET
