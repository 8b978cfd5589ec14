//go:build arm64 && !purego

#include "textflag.h"

// Decode matrix × vector loops for arm64 with SDOT (Go declarations in
// tile_arm64.go; layouts and the reference, matVecRowNEONGo, in neon.go).
// Four weight rows share each load of the activation block: per row two
// SDOTs (16 bytes each) leave four int32 partial sums; three ADDPs fold the
// four rows into one register of exact block sums [r0, r1, r2, r3], which
// is converted once (SCVTF), multiplied by d·xs (the rows' f16 scales
// converted together by FCVTL, times the broadcast xs) and added in the
// rows' float lanes (FMLA): per block 8 SDOT, 3 ADDP and 4 float ops for
// 4 × 32 multiply-adds, plus the loads (q4_0: 8 ops to split nibbles and
// one ADD of the packed −8·Σx). A last group of fewer than four rows
// repeats its last row and stores only its own lanes.
//
// Registers: V0/V1 the block's activations, V2 the q4_0 correction, V3 xs
// (both broadcast), V4 d, V5 d·xs, V6 the nibble mask, V16-V19 the rows'
// int32 sums, V20-V27 the rows' weights (row r: V(20+2r), V(21+2r)), V28
// the float sums. R1 is the group's first row, R6-R9 its rows (the
// clamped copies for a partial group), R10 the activations, R11 counts
// blocks, R3 the rows left.

// WORD encodings (the Go assembler lacks them):
//   SDOT Vd.4S, Vn.16B, Vm.16B (FEAT_DotProd); SCVTF Vd.4S, Vn.4S
//   FMUL Vd.4S, Vn.4S, Vm.4S; FCVTL Vd.4S, Vn.4H
#define SDOT4(d, n, m) WORD $(0x4e809400 | ((m)<<16) | ((n)<<5) | (d))
#define SCVTF4(d, n) WORD $(0x4e21d800 | ((n)<<5) | (d))
#define FMUL4(d, n, m) WORD $(0x6e20dc00 | ((m)<<16) | ((n)<<5) | (d))
#define FCVTL4(d, n) WORD $(0x0e217800 | ((n)<<5) | (d))

// MVROWS: R6-R9 = the group's rows, rows past the last repeated.
#define MVROWS \
	ADD  R2, R1, R12; \
	ADD  R2, R12, R13; \
	ADD  R2, R13, R14; \
	MOVD R1, R6; \
	CMP  $1, R3; \
	CSEL GT, R12, R6, R7; \
	CMP  $2, R3; \
	CSEL GT, R13, R7, R8; \
	CMP  $3, R3; \
	CSEL GT, R14, R8, R9; \
	MOVD R4, R10; \
	MOVD R5, R11; \
	VEOR V28.B16, V28.B16, V28.B16

// MVSCALES: the rows' f16 scales into V4 (row pointers step to the
// weights).
#define MVSCALES \
	VLD1.P 2(R6), V4.H[0]; \
	VLD1.P 2(R7), V4.H[1]; \
	VLD1.P 2(R8), V4.H[2]; \
	VLD1.P 2(R9), V4.H[3]

// MVSUMS: the four rows' block sums (V20-V27 against V0/V1) folded into V16.
#define MVSUMS \
	VEOR V16.B16, V16.B16, V16.B16; \
	VEOR V17.B16, V17.B16, V17.B16; \
	VEOR V18.B16, V18.B16, V18.B16; \
	VEOR V19.B16, V19.B16, V19.B16; \
	SDOT4(16, 20, 0); SDOT4(16, 21, 1); \
	SDOT4(17, 22, 0); SDOT4(17, 23, 1); \
	SDOT4(18, 24, 0); SDOT4(18, 25, 1); \
	SDOT4(19, 26, 0); SDOT4(19, 27, 1); \
	VADDP V17.S4, V16.S4, V16.S4; \
	VADDP V19.S4, V18.S4, V18.S4; \
	VADDP V18.S4, V16.S4, V16.S4

// MVFLOAT: acc += float32(isum) · (d·xs), one lane per row.
#define MVFLOAT \
	SCVTF4(16, 16); \
	FCVTL4(4, 4); \
	FMUL4(5, 4, 3); \
	VFMLA V5.S4, V16.S4, V28.S4

// func matVecQ4SDOT(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)
TEXT ·matVecQ4SDOT(SB), NOSPLIT, $0-48
	MOVD  dst+0(FP), R0
	MOVD  w+8(FP), R1
	MOVD  rowBytes+16(FP), R2
	MOVD  rows+24(FP), R3
	MOVD  xv+32(FP), R4
	MOVD  nb+40(FP), R5
	VMOVI $15, V6.B16

q4group:
	CBZ R3, q4done
	MVROWS
	CBZ R11, q4store

q4block:
	MVSCALES
	VLD1.P  16(R6), [V21.B16]
	VLD1.P  16(R7), [V23.B16]
	VLD1.P  16(R8), [V25.B16]
	VLD1.P  16(R9), [V27.B16]
	VLD1.P  32(R10), [V0.B16, V1.B16]
	VLD1R.P 4(R10), [V2.S4]
	VLD1R.P 4(R10), [V3.S4]
	VAND    V6.B16, V21.B16, V20.B16
	VUSHR   $4, V21.B16, V21.B16
	VAND    V6.B16, V23.B16, V22.B16
	VUSHR   $4, V23.B16, V23.B16
	VAND    V6.B16, V25.B16, V24.B16
	VUSHR   $4, V25.B16, V25.B16
	VAND    V6.B16, V27.B16, V26.B16
	VUSHR   $4, V27.B16, V27.B16
	MVSUMS
	VADD    V2.S4, V16.S4, V16.S4
	MVFLOAT
	SUBS    $1, R11
	BNE     q4block

q4store:
	CMP    $4, R3
	BLT    q4part
	VST1.P [V28.S4], 16(R0)
	ADD    R2, R14, R1
	SUB    $4, R3
	B      q4group

q4part:
	VST1.P V28.S[0], 4(R0)
	CMP    $2, R3
	BLT    q4done
	VST1.P V28.S[1], 4(R0)
	CMP    $3, R3
	BLT    q4done
	VST1   V28.S[2], (R0)

q4done:
	RET

// func matVecQ8SDOT(dst *float32, w *byte, rowBytes, rows int, xv *byte, nb int)
TEXT ·matVecQ8SDOT(SB), NOSPLIT, $0-48
	MOVD dst+0(FP), R0
	MOVD w+8(FP), R1
	MOVD rowBytes+16(FP), R2
	MOVD rows+24(FP), R3
	MOVD xv+32(FP), R4
	MOVD nb+40(FP), R5

q8group:
	CBZ R3, q8done
	MVROWS
	CBZ R11, q8store

q8block:
	MVSCALES
	VLD1.P  32(R6), [V20.B16, V21.B16]
	VLD1.P  32(R7), [V22.B16, V23.B16]
	VLD1.P  32(R8), [V24.B16, V25.B16]
	VLD1.P  32(R9), [V26.B16, V27.B16]
	VLD1.P  32(R10), [V0.B16, V1.B16]
	VLD1R.P 4(R10), [V3.S4]
	MVSUMS
	MVFLOAT
	SUBS    $1, R11
	BNE     q8block

q8store:
	CMP    $4, R3
	BLT    q8part
	VST1.P [V28.S4], 16(R0)
	ADD    R2, R14, R1
	SUB    $4, R3
	B      q8group

q8part:
	VST1.P V28.S[0], 4(R0)
	CMP    $2, R3
	BLT    q8done
	VST1.P V28.S[1], 4(R0)
	CMP    $3, R3
	BLT    q8done
	VST1   V28.S[2], (R0)

q8done:
	RET
