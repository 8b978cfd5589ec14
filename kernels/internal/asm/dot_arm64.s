//go:build arm64 && !purego

#include "textflag.h"

// NEON loops (Go declarations and reference loops in dot_arm64.go). The Go
// assembler lacks vector FADD and SDOT, so they are WORD-encoded:
//   FADD Vd.4S, Vn.4S, Vm.4S = 0x4e20d400 | m<<16 | n<<5 | d
//   SDOT Vd.4S, Vn.16B, Vm.16B = 0x4e809400 | m<<16 | n<<5 | d (FEAT_DotProd)

// func dotF32NEON(a, b *float32, n int) float32
TEXT ·dotF32NEON(SB), NOSPLIT, $0-28
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16

f32loop16:
	CMP    $16, R2
	BLT    f32loop4
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	VFMLA  V4.S4, V8.S4, V0.S4
	VFMLA  V5.S4, V9.S4, V1.S4
	VFMLA  V6.S4, V10.S4, V2.S4
	VFMLA  V7.S4, V11.S4, V3.S4
	SUB    $16, R2
	B      f32loop16

f32loop4:
	CMP    $4, R2
	BLT    f32reduce
	VLD1.P 16(R0), [V4.S4]
	VLD1.P 16(R1), [V8.S4]
	VFMLA  V4.S4, V8.S4, V0.S4
	SUB    $4, R2
	B      f32loop4

f32reduce:
	WORD  $0x4e21d400 // FADD V0.4S, V0.4S, V1.4S
	WORD  $0x4e23d442 // FADD V2.4S, V2.4S, V3.4S
	WORD  $0x4e22d400 // FADD V0.4S, V0.4S, V2.4S
	VMOV  V0.S[0], R4
	VMOV  V0.S[1], R5
	VMOV  V0.S[2], R6
	VMOV  V0.S[3], R7
	FMOVS R4, F12
	FMOVS R5, F13
	FMOVS R6, F14
	FMOVS R7, F15
	FADDS F13, F12, F12
	FADDS F15, F14, F14
	FADDS F14, F12, F12

f32tail:
	CBZ    R2, f32done
	FMOVS.P 4(R0), F4
	FMOVS.P 4(R1), F5
	FMADDS  F5, F12, F4, F12
	SUB     $1, R2
	B       f32tail

f32done:
	FMOVS F12, ret+24(FP)
	RET

// func axpyNEON(a float32, x, y *float32, n int)
TEXT ·axpyNEON(SB), NOSPLIT, $0-32
	FMOVS a+0(FP), F0
	MOVD  x+8(FP), R0
	MOVD  y+16(FP), R1
	MOVD  n+24(FP), R2
	VDUP  V0.S[0], V1.S4

axloop8:
	CMP    $8, R2
	BLT    axtail
	VLD1.P 32(R0), [V2.S4, V3.S4]
	VLD1   (R1), [V4.S4, V5.S4]
	VFMLA  V1.S4, V2.S4, V4.S4
	VFMLA  V1.S4, V3.S4, V5.S4
	VST1.P [V4.S4, V5.S4], 32(R1)
	SUB    $8, R2
	B      axloop8

axtail:
	CBZ     R2, axdone
	FMOVS.P 4(R0), F2
	FMOVS   (R1), F3
	FMADDS  F0, F3, F2, F3
	FMOVS.P F3, 4(R1)
	SUB     $1, R2
	B       axtail

axdone:
	RET

// QSCALE computes F9 = f16(*R0)·*R2 (R2 advances by 4); clobbers R7, F7, F8.
#define QSCALE \
	MOVHU   (R0), R7; \
	FMOVS   R7, F7; \
	FCVTHS  F7, F7; \
	FMOVS.P 4(R2), F8; \
	FMULS   F8, F7, F9

// QACC adds F9·float32(Σ lanes of V4) to F20 (the sum; F0-F3 alias the vector
// registers the loads use) (fused, as the Go compiler
// fuses the reference on arm64); clobbers R8, F10.
#define QACC \
	VADDV   V4.S4, V4; \
	VMOV    V4.S[0], R8; \
	SCVTFWS R8, F10; \
	FMADDS  F10, F20, F9, F20

// DOT2SDOT: V4 += V0·V2 + V1·V3 per int32 lane (two SDOTs).
#define DOT2SDOT \
	WORD $0x4e829404 \
	WORD $0x4e839424

// Q8BLOCK / Q4BLOCK: one block's dot into F20 and the step to the next
// block (R0 weights, R1 activations, R2 scales), with DOT the 2-register
// integer dot step (DOT2SDOT or DOT2NEON). Q4BLOCK expects V14 = 15 and
// V13 = 8 in every byte.
#define Q8BLOCK(DOT) \
	ADD    $2, R0, R6 \
	VLD1   (R6), [V0.B16, V1.B16] \
	VLD1.P 32(R1), [V2.B16, V3.B16] \
	VEOR   V4.B16, V4.B16, V4.B16 \
	DOT \
	QSCALE \
	QACC \
	ADD    $34, R0

#define Q4BLOCK(DOT) \
	ADD    $2, R0, R6 \
	VLD1   (R6), [V5.B16] \
	VAND   V14.B16, V5.B16, V0.B16 \
	VUSHR  $4, V5.B16, V1.B16 \
	VSUB   V13.B16, V0.B16, V0.B16 \
	VSUB   V13.B16, V1.B16, V1.B16 \
	VLD1.P 32(R1), [V2.B16, V3.B16] \
	VEOR   V4.B16, V4.B16, V4.B16 \
	DOT \
	QSCALE \
	QACC \
	ADD    $18, R0

// func dotQ8SDOT(w *byte, xq *int8, xs *float32, nb int) float32
TEXT ·dotQ8SDOT(SB), NOSPLIT, $0-36
	MOVD w+0(FP), R0
	MOVD xq+8(FP), R1
	MOVD xs+16(FP), R2
	MOVD nb+24(FP), R3
	FMOVS ZR, F20

q8loop:
	CBZ    R3, q8done
	Q8BLOCK(DOT2SDOT)
	SUB    $1, R3
	B      q8loop

q8done:
	FMOVS F20, ret+32(FP)
	RET

// func dotQ4SDOT(w *byte, xq *int8, xs *float32, nb int) float32
TEXT ·dotQ4SDOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  xq+8(FP), R1
	MOVD  xs+16(FP), R2
	MOVD  nb+24(FP), R3
	FMOVS ZR, F20
	VMOVI $15, V14.B16
	VMOVI $8, V13.B16

q4loop:
	CBZ    R3, q4done
	Q4BLOCK(DOT2SDOT)
	SUB    $1, R3
	B      q4loop

q4done:
	FMOVS F20, ret+32(FP)
	RET

// Without FEAT_DotProd each SDOT above becomes a widening multiply of the
// low and high 8 bytes into int16 pairs and a pairwise add into int32:
//   SMULL  Vd.8H, Vn.8B, Vm.8B    = 0x0e20c000 | m<<16 | n<<5 | d
//   SMLAL2 Vd.8H, Vn.16B, Vm.16B  = 0x4e208000 | m<<16 | n<<5 | d
//   SADALP Vd.4S, Vn.8H           = 0x4e606800 | n<<5 | d
// An int16 lane holds two products, each at most 128·127 in magnitude
// (activations are in [-127, 127]), so 2·16256 < 2^15: no overflow, and the
// int32 block sums equal the SDOT ones.
// DOT2NEON: V6 = V0·V2 and V7 = V1·V3 as int16 pairs (SMULL, SMLAL2), both
// added pairwise into V4's int32 lanes (SADALP).
#define DOT2NEON \
	WORD $0x0e22c006 \
	WORD $0x4e228006 \
	WORD $0x4e6068c4 \
	WORD $0x0e23c027 \
	WORD $0x4e238027 \
	WORD $0x4e6068e4

// func dotQ8NEON(w *byte, xq *int8, xs *float32, nb int) float32
TEXT ·dotQ8NEON(SB), NOSPLIT, $0-36
	MOVD w+0(FP), R0
	MOVD xq+8(FP), R1
	MOVD xs+16(FP), R2
	MOVD nb+24(FP), R3
	FMOVS ZR, F20

n8loop:
	CBZ    R3, n8done
	Q8BLOCK(DOT2NEON)
	SUB    $1, R3
	B      n8loop

n8done:
	FMOVS F20, ret+32(FP)
	RET

// func dotQ4NEON(w *byte, xq *int8, xs *float32, nb int) float32
TEXT ·dotQ4NEON(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  xq+8(FP), R1
	MOVD  xs+16(FP), R2
	MOVD  nb+24(FP), R3
	FMOVS ZR, F20
	VMOVI $15, V14.B16
	VMOVI $8, V13.B16

n4loop:
	CBZ    R3, n4done
	Q4BLOCK(DOT2NEON)
	SUB    $1, R3
	B      n4loop

n4done:
	FMOVS F20, ret+32(FP)
	RET
