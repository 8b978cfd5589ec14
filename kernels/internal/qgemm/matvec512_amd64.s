//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 VNNI matrix × vector loops (layouts in matvec.go, reference
// matVecRow512Go). Per row: two 16-lane float accumulators (Z0, Z1) take
// alternate full steps; a trailing full step goes to Z0 and the partial
// step (blocks left over) to Z1; the lanes are added once at the end.
// Each step: the weight bytes of the step's blocks in one register
// (VINSERTI32X4/64X4 from the strided blocks), the integer block sums with
// VPDPBUSD on top of the packed corrections, the f16 scales gathered by
// one VPERMW (index Z14) into a ymm of words and widened by VCVTPH2PS. The
// partial step loads its scales with a zero-masked load (K1) so that no
// byte past the row is read. R8 = rows left, R9 = double steps left,
// SI = weights, DI = packed activations, DX = dst. Weights are prefetched
// 4 KiB ahead as in the AVX2 loops.

// q4_0 scales: words 0, 9, 18, 27 (blocks at 18-byte stride), 4 lanes each.
DATA q4sidx<>+0(SB)/8, $0x0000000000000000
DATA q4sidx<>+8(SB)/8, $0x0009000900090009
DATA q4sidx<>+16(SB)/8, $0x0012001200120012
DATA q4sidx<>+24(SB)/8, $0x001b001b001b001b
DATA q4sidx<>+32(SB)/8, $0
DATA q4sidx<>+40(SB)/8, $0
DATA q4sidx<>+48(SB)/8, $0
DATA q4sidx<>+56(SB)/8, $0
GLOBL q4sidx<>(SB), RODATA|NOPTR, $64

// q8_0 scales: words 0 and 17 (34-byte stride), 8 lanes each.
DATA q8sidx<>+0(SB)/8, $0x0000000000000000
DATA q8sidx<>+8(SB)/8, $0x0000000000000000
DATA q8sidx<>+16(SB)/8, $0x0011001100110011
DATA q8sidx<>+24(SB)/8, $0x0011001100110011
DATA q8sidx<>+32(SB)/8, $0
DATA q8sidx<>+40(SB)/8, $0
DATA q8sidx<>+48(SB)/8, $0
DATA q8sidx<>+56(SB)/8, $0
GLOBL q8sidx<>(SB), RODATA|NOPTR, $64

// SUMSTORE adds the two accumulators and their 16 lanes (as sum8 of
// matVecRow512Go) and stores the row's result at DX.
#define SUMSTORE \
	VADDPS Z1, Z0, Z0 \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VADDPS Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VMOVHLPS X0, X0, X1 \
	VADDPS X1, X0, X0 \
	VMOVSHDUP X0, X1 \
	VADDSS X1, X0, X0 \
	VMOVSS X0, (DX)

// Q4SUMS: Z6 = float(the int32 block sums) of the quad's nibble bytes in
// Z4 against DI's activations (Z5 scratch).
#define Q4SUMS \
	VPSRLW $4, Z4, Z5 \
	VPANDD Z15, Z4, Z4 \
	VPANDD Z15, Z5, Z5 \
	VMOVDQU32 128(DI), Z6 \
	VPDPBUSD 0(DI), Z4, Z6 \
	VPDPBUSD 64(DI), Z5, Z6 \
	VCVTDQ2PS Z6, Z6

// SCALEACC: ACC += Z6·(f16 scale words in Y7 · the packed xs at XS(DI)).
#define SCALEACC(XS, ACC) \
	VCVTPH2PS Y7, Z7 \
	VMULPS XS(DI), Z7, Z7 \
	VFMADD231PS Z7, Z6, ACC

// One q4_0 quad at SI/DI into accumulator ACC (Z4-Z7 scratch).
#define Q4QUAD(ACC) \
	PREFETCHT0 4096(SI) \
	PREFETCHT0 4160(SI) \
	VMOVDQU 2(SI), X4 \
	VINSERTI32X4 $1, 20(SI), Z4, Z4 \
	VINSERTI32X4 $2, 38(SI), Z4, Z4 \
	VINSERTI32X4 $3, 56(SI), Z4, Z4 \
	Q4SUMS \
	VPERMW (SI), Z14, Z7 \
	SCALEACC(192, ACC) \
	ADDQ $72, SI \
	ADDQ $256, DI

// func matVecQ4VNNI(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)
TEXT ·matVecQ4VNNI(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DX
	MOVQ w+8(FP), BX
	MOVQ rowBytes+16(FP), R10
	MOVQ rows+24(FP), R8
	MOVQ xv+32(FP), R11
	MOVQ nb+40(FP), R12
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z15
	VMOVDQU64 q4sidx<>(SB), Z14
	// K1: the scale words of the partial quad's r = nb mod 4 blocks,
	// words 0 .. 9(r-1).
	MOVQ R12, CX
	ANDQ $3, CX
	JZ q4row
	DECQ CX
	IMULQ $9, CX
	INCQ CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVD AX, K1
q4row:
	TESTQ R8, R8
	JZ q4done
	MOVQ BX, SI
	MOVQ R11, DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ R12, R9
	SHRQ $3, R9
q4oct:
	TESTQ R9, R9
	JZ q4quadtail
	Q4QUAD(Z0)
	Q4QUAD(Z1)
	DECQ R9
	JMP q4oct
q4quadtail:
	TESTQ $4, R12
	JZ q4part
	Q4QUAD(Z0)
q4part:
	MOVQ R12, AX
	ANDQ $3, AX
	JZ q4sum
	VMOVDQU 2(SI), X4
	CMPQ AX, $2
	JLT q4ins
	VINSERTI32X4 $1, 20(SI), Z4, Z4
	CMPQ AX, $3
	JLT q4ins
	VINSERTI32X4 $2, 38(SI), Z4, Z4
q4ins:
	Q4SUMS
	VMOVDQU16.Z (SI), K1, Z7
	VPERMW Z7, Z14, Z7
	SCALEACC(192, Z1)
q4sum:
	SUMSTORE
	ADDQ $4, DX
	ADDQ R10, BX
	DECQ R8
	JMP q4row
q4done:
	VZEROUPPER
	RET

// Q8SUMS: Z6 = float(the int32 block sums) of the pair's weight bytes in
// Z4 (sign bits flipped here) against DI's activations.
#define Q8SUMS \
	VPXORD Z15, Z4, Z4 \
	VMOVDQU32 64(DI), Z6 \
	VPDPBUSD 0(DI), Z4, Z6 \
	VCVTDQ2PS Z6, Z6

// One q8_0 block pair at SI/DI into accumulator ACC (Z4, Z6, Z7 scratch).
#define Q8PAIR(ACC) \
	PREFETCHT0 4096(SI) \
	PREFETCHT0 4160(SI) \
	VMOVDQU 2(SI), Y4 \
	VINSERTI64X4 $1, 36(SI), Z4, Z4 \
	Q8SUMS \
	VPERMW (SI), Z14, Z7 \
	SCALEACC(128, ACC) \
	ADDQ $68, SI \
	ADDQ $192, DI

// func matVecQ8VNNI(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)
TEXT ·matVecQ8VNNI(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DX
	MOVQ w+8(FP), BX
	MOVQ rowBytes+16(FP), R10
	MOVQ rows+24(FP), R8
	MOVQ xv+32(FP), R11
	MOVQ nb+40(FP), R12
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z15
	VMOVDQU64 q8sidx<>(SB), Z14
	MOVL $1, AX
	KMOVD AX, K1
q8row:
	TESTQ R8, R8
	JZ q8done
	MOVQ BX, SI
	MOVQ R11, DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ R12, R9
	SHRQ $2, R9
q8quad:
	TESTQ R9, R9
	JZ q8pairtail
	Q8PAIR(Z0)
	Q8PAIR(Z1)
	DECQ R9
	JMP q8quad
q8pairtail:
	TESTQ $2, R12
	JZ q8part
	Q8PAIR(Z0)
q8part:
	TESTQ $1, R12
	JZ q8sum
	VMOVDQU 2(SI), Y4
	Q8SUMS
	VMOVDQU16.Z (SI), K1, Z7
	VPERMW Z7, Z14, Z7
	SCALEACC(128, Z1)
q8sum:
	SUMSTORE
	ADDQ $4, DX
	ADDQ R10, BX
	DECQ R8
	JMP q8row
q8done:
	VZEROUPPER
	RET
