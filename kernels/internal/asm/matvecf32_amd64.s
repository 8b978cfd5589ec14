//go:build amd64 && !purego

#include "textflag.h"

// func matVecF32AVX512(dst, w *float32, c, rows int, x *float32)
// Per row (SI = row, DI = x, CX = floats left): Z0..Z3 partial sums over
// 64-float steps, Z0 over 16-float steps, then the masked tail (K1) into
// Z1; reduced as ((Z0+Z1)+(Z2+Z3)), halves added down to one lane.
TEXT ·matVecF32AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DX
	MOVQ w+8(FP), BX
	MOVQ c+16(FP), R10
	MOVQ rows+24(FP), R8
	MOVQ x+32(FP), R11
	// K1: the last c mod 16 lanes.
	MOVQ R10, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	MOVQ R10, R12
	SHLQ $2, R12 // row bytes
mvrow:
	TESTQ R8, R8
	JZ mvdone
	MOVQ BX, SI
	MOVQ R11, DI
	MOVQ R10, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
mv64:
	CMPQ CX, $64
	JLT mv16
	PREFETCHT0 4096(SI)
	PREFETCHT0 4160(SI)
	PREFETCHT0 4224(SI)
	PREFETCHT0 4288(SI)
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP mv64
mv16:
	CMPQ CX, $16
	JLT mvtail
	VMOVUPS (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP mv16
mvtail:
	TESTQ CX, CX
	JZ mvsum
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1
mvsum:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ R12, BX
	DECQ R8
	JMP mvrow
mvdone:
	VZEROUPPER
	RET
