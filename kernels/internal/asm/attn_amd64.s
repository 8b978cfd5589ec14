//go:build amd64 && !purego

#include "textflag.h"

// func accumRowsAVX2(y *float32, n int, p *float32, m int, x *float32, strideBytes int)
// Outer loop over 32-float chunks of y (DI, R8 floats left); inner loop
// over the m rows (AX = &p[j], SI = row j's chunk, CX rows left).
TEXT ·accumRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ n+8(FP), R8
	MOVQ p+16(FP), R9
	MOVQ m+24(FP), R10
	MOVQ x+32(FP), R11
	MOVQ strideBytes+40(FP), R12
archunk:
	TESTQ R8, R8
	JZ ardone
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ R9, AX
	MOVQ R11, SI
	MOVQ R10, CX
arrow:
	VBROADCASTSS (AX), Y4
	VMULPS 0(SI), Y4, Y5
	VADDPS Y5, Y0, Y0
	VMULPS 32(SI), Y4, Y6
	VADDPS Y6, Y1, Y1
	VMULPS 64(SI), Y4, Y7
	VADDPS Y7, Y2, Y2
	VMULPS 96(SI), Y4, Y8
	VADDPS Y8, Y3, Y3
	ADDQ $4, AX
	ADDQ R12, SI
	DECQ CX
	JNZ arrow
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, R11
	SUBQ $32, R8
	JMP archunk
ardone:
	VZEROUPPER
	RET

// func scoreRowsAVX2(dst *float32, m int, q *float32, n int, x *float32, strideBytes int, scale float32)
// Per row (SI = row, CX = floats left, BX = q): Y0..Y3 partial sums.
TEXT ·scoreRowsAVX2(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DX
	MOVQ m+8(FP), R8
	MOVQ q+16(FP), R9
	MOVQ n+24(FP), R10
	MOVQ x+32(FP), R11
	MOVQ strideBytes+40(FP), R12
	VMOVSS scale+48(FP), X15
srrow:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ R11, SI
	MOVQ R9, BX
	MOVQ R10, CX
srstep:
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS 0(BX), Y4, Y0
	VFMADD231PS 32(BX), Y5, Y1
	VFMADD231PS 64(BX), Y6, Y2
	VFMADD231PS 96(BX), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, BX
	SUBQ $32, CX
	JNZ srstep
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMULSS X15, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ R12, R11
	DECQ R8
	JNZ srrow
	VZEROUPPER
	RET
