//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 VNNI loops over tiled q4_0 and q8_0 matrices (tiled.go): lanes
// are the 16 rows of a tiled group. A q4_0 block's 64-byte segments are
// split into low nibbles (columns 4s..4s+3) and high nibbles
// (16+4s..16+4s+3) by one shift and two masks; q8_0 segments (w + 128) are
// used as loaded. Each 4-byte chunk of a token's activations is broadcast
// from memory into VPDPBUSD (unsigned weights × signed activations).
// Integer sums are exact and the float step per block is
// acc = fma(float32(isum)·xs, d, acc), so the results are the references'
// (tile16Q4Go, tile16Q8Go, matVec16Q4Go, matVec16Q8Go) bit for bit.
// Registers: Z16..Z23 the block's weight chunks 0..7, Z24 the 16 rows'
// scales, Z31 the 0x0f mask (q4_0).

// UNPACK4: q4_0 block at R8 into the chunks Z16..Z23.
#define UNPACK4 \
	VMOVDQU64 0(R8), Z16 \
	VPSRLW $4, Z16, Z20 \
	VPANDD Z31, Z16, Z16 \
	VPANDD Z31, Z20, Z20 \
	VMOVDQU64 64(R8), Z17 \
	VPSRLW $4, Z17, Z21 \
	VPANDD Z31, Z17, Z17 \
	VPANDD Z31, Z21, Z21 \
	VMOVDQU64 128(R8), Z18 \
	VPSRLW $4, Z18, Z22 \
	VPANDD Z31, Z18, Z18 \
	VPANDD Z31, Z22, Z22 \
	VMOVDQU64 192(R8), Z19 \
	VPSRLW $4, Z19, Z23 \
	VPANDD Z31, Z19, Z19 \
	VPANDD Z31, Z23, Z23

// LOAD8: q8_0 block at R8 into the chunks Z16..Z23.
#define LOAD8 \
	VMOVDQU64 0(R8), Z16 \
	VMOVDQU64 64(R8), Z17 \
	VMOVDQU64 128(R8), Z18 \
	VMOVDQU64 192(R8), Z19 \
	VMOVDQU64 256(R8), Z20 \
	VMOVDQU64 320(R8), Z21 \
	VMOVDQU64 384(R8), Z22 \
	VMOVDQU64 448(R8), Z23

// TILEDOTS: the 8 tokens' int32 block sums Z8..Z15 of the packed group
// at DI (chunk k of token j at 32k+4j, corrections at 288+4j).
#define TILEDOTS \
	VPBROADCASTD 288(DI), Z8 \
	VPBROADCASTD 292(DI), Z9 \
	VPBROADCASTD 296(DI), Z10 \
	VPBROADCASTD 300(DI), Z11 \
	VPBROADCASTD 304(DI), Z12 \
	VPBROADCASTD 308(DI), Z13 \
	VPBROADCASTD 312(DI), Z14 \
	VPBROADCASTD 316(DI), Z15 \
	VPDPBUSD.BCST 0(DI), Z16, Z8 \
	VPDPBUSD.BCST 4(DI), Z16, Z9 \
	VPDPBUSD.BCST 8(DI), Z16, Z10 \
	VPDPBUSD.BCST 12(DI), Z16, Z11 \
	VPDPBUSD.BCST 16(DI), Z16, Z12 \
	VPDPBUSD.BCST 20(DI), Z16, Z13 \
	VPDPBUSD.BCST 24(DI), Z16, Z14 \
	VPDPBUSD.BCST 28(DI), Z16, Z15 \
	VPDPBUSD.BCST 32(DI), Z17, Z8 \
	VPDPBUSD.BCST 36(DI), Z17, Z9 \
	VPDPBUSD.BCST 40(DI), Z17, Z10 \
	VPDPBUSD.BCST 44(DI), Z17, Z11 \
	VPDPBUSD.BCST 48(DI), Z17, Z12 \
	VPDPBUSD.BCST 52(DI), Z17, Z13 \
	VPDPBUSD.BCST 56(DI), Z17, Z14 \
	VPDPBUSD.BCST 60(DI), Z17, Z15 \
	VPDPBUSD.BCST 64(DI), Z18, Z8 \
	VPDPBUSD.BCST 68(DI), Z18, Z9 \
	VPDPBUSD.BCST 72(DI), Z18, Z10 \
	VPDPBUSD.BCST 76(DI), Z18, Z11 \
	VPDPBUSD.BCST 80(DI), Z18, Z12 \
	VPDPBUSD.BCST 84(DI), Z18, Z13 \
	VPDPBUSD.BCST 88(DI), Z18, Z14 \
	VPDPBUSD.BCST 92(DI), Z18, Z15 \
	VPDPBUSD.BCST 96(DI), Z19, Z8 \
	VPDPBUSD.BCST 100(DI), Z19, Z9 \
	VPDPBUSD.BCST 104(DI), Z19, Z10 \
	VPDPBUSD.BCST 108(DI), Z19, Z11 \
	VPDPBUSD.BCST 112(DI), Z19, Z12 \
	VPDPBUSD.BCST 116(DI), Z19, Z13 \
	VPDPBUSD.BCST 120(DI), Z19, Z14 \
	VPDPBUSD.BCST 124(DI), Z19, Z15 \
	VPDPBUSD.BCST 128(DI), Z20, Z8 \
	VPDPBUSD.BCST 132(DI), Z20, Z9 \
	VPDPBUSD.BCST 136(DI), Z20, Z10 \
	VPDPBUSD.BCST 140(DI), Z20, Z11 \
	VPDPBUSD.BCST 144(DI), Z20, Z12 \
	VPDPBUSD.BCST 148(DI), Z20, Z13 \
	VPDPBUSD.BCST 152(DI), Z20, Z14 \
	VPDPBUSD.BCST 156(DI), Z20, Z15 \
	VPDPBUSD.BCST 160(DI), Z21, Z8 \
	VPDPBUSD.BCST 164(DI), Z21, Z9 \
	VPDPBUSD.BCST 168(DI), Z21, Z10 \
	VPDPBUSD.BCST 172(DI), Z21, Z11 \
	VPDPBUSD.BCST 176(DI), Z21, Z12 \
	VPDPBUSD.BCST 180(DI), Z21, Z13 \
	VPDPBUSD.BCST 184(DI), Z21, Z14 \
	VPDPBUSD.BCST 188(DI), Z21, Z15 \
	VPDPBUSD.BCST 192(DI), Z22, Z8 \
	VPDPBUSD.BCST 196(DI), Z22, Z9 \
	VPDPBUSD.BCST 200(DI), Z22, Z10 \
	VPDPBUSD.BCST 204(DI), Z22, Z11 \
	VPDPBUSD.BCST 208(DI), Z22, Z12 \
	VPDPBUSD.BCST 212(DI), Z22, Z13 \
	VPDPBUSD.BCST 216(DI), Z22, Z14 \
	VPDPBUSD.BCST 220(DI), Z22, Z15 \
	VPDPBUSD.BCST 224(DI), Z23, Z8 \
	VPDPBUSD.BCST 228(DI), Z23, Z9 \
	VPDPBUSD.BCST 232(DI), Z23, Z10 \
	VPDPBUSD.BCST 236(DI), Z23, Z11 \
	VPDPBUSD.BCST 240(DI), Z23, Z12 \
	VPDPBUSD.BCST 244(DI), Z23, Z13 \
	VPDPBUSD.BCST 248(DI), Z23, Z14 \
	VPDPBUSD.BCST 252(DI), Z23, Z15

// TILEFLOAT: Z0..Z7 += float(Z8..Z15)·xs (at 256+4j) · the scales Z24.
#define TILEFLOAT \
	VCVTDQ2PS Z8, Z8 \
	VMULPS.BCST 256(DI), Z8, Z8 \
	VFMADD231PS Z24, Z8, Z0 \
	VCVTDQ2PS Z9, Z9 \
	VMULPS.BCST 260(DI), Z9, Z9 \
	VFMADD231PS Z24, Z9, Z1 \
	VCVTDQ2PS Z10, Z10 \
	VMULPS.BCST 264(DI), Z10, Z10 \
	VFMADD231PS Z24, Z10, Z2 \
	VCVTDQ2PS Z11, Z11 \
	VMULPS.BCST 268(DI), Z11, Z11 \
	VFMADD231PS Z24, Z11, Z3 \
	VCVTDQ2PS Z12, Z12 \
	VMULPS.BCST 272(DI), Z12, Z12 \
	VFMADD231PS Z24, Z12, Z4 \
	VCVTDQ2PS Z13, Z13 \
	VMULPS.BCST 276(DI), Z13, Z13 \
	VFMADD231PS Z24, Z13, Z5 \
	VCVTDQ2PS Z14, Z14 \
	VMULPS.BCST 280(DI), Z14, Z14 \
	VFMADD231PS Z24, Z14, Z6 \
	VCVTDQ2PS Z15, Z15 \
	VMULPS.BCST 284(DI), Z15, Z15 \
	VFMADD231PS Z24, Z15, Z7

// TILEARGS: arguments and zeroed accumulators of a tile.
#define TILEARGS \
	MOVQ w+0(FP), R8 \
	MOVQ x+8(FP), DI \
	MOVQ nb+16(FP), CX \
	MOVQ dst+24(FP), DX \
	MOVQ ldd+32(FP), BX \
	SHLQ $2, BX \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7

// TILESTORE: token j's 16 rows (Zj) at DX + 4·j·ldd (BX = 4·ldd).
#define TILESTORE \
	VMOVUPS Z0, (DX) \
	ADDQ BX, DX \
	VMOVUPS Z1, (DX) \
	ADDQ BX, DX \
	VMOVUPS Z2, (DX) \
	ADDQ BX, DX \
	VMOVUPS Z3, (DX) \
	ADDQ BX, DX \
	VMOVUPS Z4, (DX) \
	ADDQ BX, DX \
	VMOVUPS Z5, (DX) \
	ADDQ BX, DX \
	VMOVUPS Z6, (DX) \
	ADDQ BX, DX \
	VMOVUPS Z7, (DX) \
	VZEROUPPER

// MVDOTS: one token's block (packed at DI: x, correction at 32, xs at 36)
// against the chunks, two int32 chains, then Z0 += float(isum)·xs·Z24.
#define MVDOTS \
	VPBROADCASTD 32(DI), Z8 \
	VPXORD Z9, Z9, Z9 \
	VPDPBUSD.BCST 0(DI), Z16, Z8 \
	VPDPBUSD.BCST 4(DI), Z17, Z9 \
	VPDPBUSD.BCST 8(DI), Z18, Z8 \
	VPDPBUSD.BCST 12(DI), Z19, Z9 \
	VPDPBUSD.BCST 16(DI), Z20, Z8 \
	VPDPBUSD.BCST 20(DI), Z21, Z9 \
	VPDPBUSD.BCST 24(DI), Z22, Z8 \
	VPDPBUSD.BCST 28(DI), Z23, Z9 \
	VPADDD Z9, Z8, Z8 \
	VCVTDQ2PS Z8, Z8 \
	VMULPS.BCST 36(DI), Z8, Z8 \
	VFMADD231PS Z24, Z8, Z0

// MVARGS: arguments of a matrix × vector call.
#define MVARGS \
	MOVQ dst+0(FP), DX \
	MOVQ w+8(FP), R8 \
	MOVQ groups+16(FP), R9 \
	MOVQ xv+24(FP), SI \
	MOVQ nb+32(FP), CX

// func tile16Q4VNNI(w *byte, x *byte, nb int, dst *float32, ldd int)
// 16 rows (tiled q4_0 group at w) × 8 tokens (packed group at x):
// Z8..Z15 are the tokens' int32 block sums, Z0..Z7 their float
// accumulators; token j's 16 rows are stored at dst + 4·j·ldd.
TEXT ·tile16Q4VNNI(SB), NOSPLIT, $0-40
	TILEARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	TESTQ CX, CX
	JZ t4done
t4loop:
	UNPACK4
	TILEDOTS
	VCVTPH2PS 256(R8), Z24
	TILEFLOAT
	ADDQ $288, R8
	ADDQ $320, DI
	DECQ CX
	JNZ t4loop
t4done:
	TILESTORE
	RET

// func tile16Q8VNNI(w *byte, x *byte, nb int, dst *float32, ldd int)
// tile16Q4VNNI for q8_0 (corrections −128·Σx, scales at 512, blocks of
// 544 bytes).
TEXT ·tile16Q8VNNI(SB), NOSPLIT, $0-40
	TILEARGS
	TESTQ CX, CX
	JZ t8done
t8loop:
	LOAD8
	TILEDOTS
	VCVTPH2PS 512(R8), Z24
	TILEFLOAT
	ADDQ $544, R8
	ADDQ $320, DI
	DECQ CX
	JNZ t8loop
t8done:
	TILESTORE
	RET

// func matVec16Q4VNNI(dst *float32, w *byte, groups int, xv *byte, nb int)
// groups consecutive tiled q4_0 groups at w (nb blocks each) × one token
// packed by PackVecQ4Tiled; 16 rows stored per group. The weights are
// prefetched 4 KiB ahead (every line of a block).
TEXT ·matVec16Q4VNNI(SB), NOSPLIT, $0-40
	MVARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	TESTQ R9, R9
	JZ mv4done
	TESTQ CX, CX
	JZ mv4done
mv4group:
	MOVQ SI, DI
	MOVQ CX, R10
	VPXORD Z0, Z0, Z0
mv4block:
	PREFETCHT0 4096(R8)
	PREFETCHT0 4160(R8)
	PREFETCHT0 4224(R8)
	PREFETCHT0 4288(R8)
	PREFETCHT0 4352(R8)
	UNPACK4
	VCVTPH2PS 256(R8), Z24
	MVDOTS
	ADDQ $288, R8
	ADDQ $40, DI
	DECQ R10
	JNZ mv4block
	VMOVUPS Z0, (DX)
	ADDQ $64, DX
	DECQ R9
	JNZ mv4group
mv4done:
	VZEROUPPER
	RET

// func matVec16Q8VNNI(dst *float32, w *byte, groups int, xv *byte, nb int)
// matVec16Q4VNNI for q8_0 (PackVecQ8Tiled).
TEXT ·matVec16Q8VNNI(SB), NOSPLIT, $0-40
	MVARGS
	TESTQ R9, R9
	JZ mv8done
	TESTQ CX, CX
	JZ mv8done
mv8group:
	MOVQ SI, DI
	MOVQ CX, R10
	VPXORD Z0, Z0, Z0
mv8block:
	PREFETCHT0 4096(R8)
	PREFETCHT0 4160(R8)
	PREFETCHT0 4224(R8)
	PREFETCHT0 4288(R8)
	PREFETCHT0 4352(R8)
	PREFETCHT0 4416(R8)
	PREFETCHT0 4480(R8)
	PREFETCHT0 4544(R8)
	PREFETCHT0 4608(R8)
	LOAD8
	VCVTPH2PS 512(R8), Z24
	MVDOTS
	ADDQ $544, R8
	ADDQ $40, DI
	DECQ R10
	JNZ mv8block
	VMOVUPS Z0, (DX)
	ADDQ $64, DX
	DECQ R9
	JNZ mv8group
mv8done:
	VZEROUPPER
	RET
