//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 VNNI micro-kernels of the prefill GEMM, same call and result as
// the AVX2 ones (tile_amd64.s): 4 weight rows (R8..R11) × 2 groups of 8
// tokens (DI, SI). Here both groups share one zmm: lanes 0-7 are group a,
// 8-15 group b, so the 4 float accumulators Z0..Z3 are rows and each
// stores as out[row][group][lane]. Per block: the 8 activation chunks
// (Z16..Z23), the corrections (Z24) and the scales xs (Z25) of both
// groups are joined once; the 4 rows' weight bytes are prepared together
// in one zmm (q4_0: split into low and high nibbles; q8_0: sign bits
// flipped, w XOR 0x80 = w + 128 unsigned, the packed correction being
// −128·Σx) and stored to the frame, from where each 4-byte weight word is
// broadcast to VPDPBUSD (unsigned weights × signed activations). Each row
// sums its chunks in two int32 chains (the first starting at the
// correction), then acc = fma(float(isum)·xs, d, acc). Integer sums are
// exact, so the result is tileGo's bit for bit.

// ROW: one row's block. Its chunks 0-3 (weight words of columns 0..15)
// are broadcast from LO+0..12(SP) and chunks 4-7 from HI+0..12(SP): for
// q4_0 the low and high nibbles (HI = 64+LO), for q8_0 the row's 32
// flipped bytes (HI = LO+16). R is the row's weight pointer (for d), ACC
// its accumulator.
#define ROW(R, LO, HI, ACC) \
	VMOVDQA32 Z24, Z6 \
	VPXORD Z13, Z13, Z13 \
	VPBROADCASTD LO+0(SP), Z7 \
	VPDPBUSD Z16, Z7, Z6 \
	VPBROADCASTD LO+4(SP), Z8 \
	VPDPBUSD Z17, Z8, Z13 \
	VPBROADCASTD LO+8(SP), Z9 \
	VPDPBUSD Z18, Z9, Z6 \
	VPBROADCASTD LO+12(SP), Z10 \
	VPDPBUSD Z19, Z10, Z13 \
	VPBROADCASTD HI+0(SP), Z7 \
	VPDPBUSD Z20, Z7, Z6 \
	VPBROADCASTD HI+4(SP), Z8 \
	VPDPBUSD Z21, Z8, Z13 \
	VPBROADCASTD HI+8(SP), Z9 \
	VPDPBUSD Z22, Z9, Z6 \
	VPBROADCASTD HI+12(SP), Z10 \
	VPDPBUSD Z23, Z10, Z13 \
	VPADDD Z13, Z6, Z6 \
	VPBROADCASTW (R), Y12 \
	VCVTPH2PS Y12, Z12 \
	VCVTDQ2PS Z6, Z6 \
	VMULPS Z25, Z6, Z6 \
	VFMADD231PS Z12, Z6, ACC

// JOINX: the activation chunks, corrections and scales of both groups.
#define JOINX \
	VMOVDQU32 0(DI), Y16 \
	VINSERTI64X4 $1, 0(SI), Z16, Z16 \
	VMOVDQU32 32(DI), Y17 \
	VINSERTI64X4 $1, 32(SI), Z17, Z17 \
	VMOVDQU32 64(DI), Y18 \
	VINSERTI64X4 $1, 64(SI), Z18, Z18 \
	VMOVDQU32 96(DI), Y19 \
	VINSERTI64X4 $1, 96(SI), Z19, Z19 \
	VMOVDQU32 128(DI), Y20 \
	VINSERTI64X4 $1, 128(SI), Z20, Z20 \
	VMOVDQU32 160(DI), Y21 \
	VINSERTI64X4 $1, 160(SI), Z21, Z21 \
	VMOVDQU32 192(DI), Y22 \
	VINSERTI64X4 $1, 192(SI), Z22, Z22 \
	VMOVDQU32 224(DI), Y23 \
	VINSERTI64X4 $1, 224(SI), Z23, Z23 \
	VMOVDQU32 288(DI), Y24 \
	VINSERTI64X4 $1, 288(SI), Z24, Z24 \
	VMOVDQU32 256(DI), Y25 \
	VINSERTI64X4 $1, 256(SI), Z25, Z25

#define LOADARGS \
	MOVQ a+0(FP), AX \
	MOVQ 0(AX), R8 \
	MOVQ 8(AX), R9 \
	MOVQ 16(AX), R10 \
	MOVQ 24(AX), R11 \
	MOVQ 32(AX), DI \
	MOVQ 40(AX), SI \
	MOVQ 48(AX), CX \
	MOVQ out+8(FP), DX \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3

#define STOREOUT \
	VMOVUPS Z0, 0(DX) \
	VMOVUPS Z1, 64(DX) \
	VMOVUPS Z2, 128(DX) \
	VMOVUPS Z3, 192(DX) \
	VZEROUPPER

// func tileQ4VNNI(a *tileArgs, out *[64]float32)
// The reference is tileGo (ref.go) with bs = Q4Bytes.
TEXT ·tileQ4VNNI(SB), NOSPLIT, $128-16
	LOADARGS
	MOVL $0x0f0f0f0f, BX
	VPBROADCASTD BX, Z31
	TESTQ CX, CX
	JZ q4done
q4loop:
	VMOVDQU 2(R8), X4
	VINSERTI32X4 $1, 2(R9), Z4, Z4
	VINSERTI32X4 $2, 2(R10), Z4, Z4
	VINSERTI32X4 $3, 2(R11), Z4, Z4
	VPSRLW $4, Z4, Z5
	VPANDD Z31, Z4, Z4
	VPANDD Z31, Z5, Z5
	VMOVDQU64 Z4, 0(SP)
	VMOVDQU64 Z5, 64(SP)
	JOINX
	ROW(R8, 0, 64, Z0)
	ROW(R9, 16, 80, Z1)
	ROW(R10, 32, 96, Z2)
	ROW(R11, 48, 112, Z3)
	ADDQ $18, R8
	ADDQ $18, R9
	ADDQ $18, R10
	ADDQ $18, R11
	ADDQ $320, DI
	ADDQ $320, SI
	DECQ CX
	JNZ q4loop
q4done:
	STOREOUT
	RET

// func tileQ8VNNI(a *tileArgs, out *[64]float32)
// The reference is tileGo (ref.go) with bs = Q8Bytes and OffsetQ8 = 128.
TEXT ·tileQ8VNNI(SB), NOSPLIT, $128-16
	LOADARGS
	MOVL $0x80808080, BX
	VPBROADCASTD BX, Z31
	TESTQ CX, CX
	JZ q8done
q8loop:
	VMOVDQU 2(R8), Y4
	VINSERTI64X4 $1, 2(R9), Z4, Z4
	VMOVDQU 2(R10), Y5
	VINSERTI64X4 $1, 2(R11), Z5, Z5
	VPXORD Z31, Z4, Z4
	VPXORD Z31, Z5, Z5
	VMOVDQU64 Z4, 0(SP)
	VMOVDQU64 Z5, 64(SP)
	JOINX
	ROW(R8, 0, 16, Z0)
	ROW(R9, 32, 48, Z1)
	ROW(R10, 64, 80, Z2)
	ROW(R11, 96, 112, Z3)
	ADDQ $34, R8
	ADDQ $34, R9
	ADDQ $34, R10
	ADDQ $34, R11
	ADDQ $320, DI
	ADDQ $320, SI
	DECQ CX
	JNZ q8loop
q8done:
	STOREOUT
	RET
