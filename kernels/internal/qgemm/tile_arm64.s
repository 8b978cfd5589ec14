//go:build arm64 && !purego

#include "textflag.h"

// Prefill tiles for arm64 (Go declarations in tile_arm64.go; the reference
// is tileGo in ref.go). One call computes 4 weight rows × 2 token groups
// of 8; each group is one pass over the blocks (the second pass is skipped
// when both groups are the same). Per element the float step is the
// reference's: t = float32(isum)·xs (SCVTF, FMUL), acc = fma(t, d, acc)
// (FMLA), over the blocks in order.
//
// tileArgs: rows[0..3] at 0, 8, 16, 24; xa at 32; xb at 40; nb at 48.
// out: [row][group][lane] float32, row r of group h at byte 64r + 32h.
//
// The Go assembler lacks these instructions; they are WORD-encoded with
// register numbers:
//   SDOT  Vd.4S, Vn.16B, Vm.4B[i]  (FEAT_DotProd)
//   SMMLA Vd.4S, Vn.16B, Vm.16B    (FEAT_I8MM)
//   SCVTF Vd.4S, Vn.4S; FMUL Vd.4S, Vn.4S, Vm.4S
//   FMLA  Vd.4S, Vn.4S, Vm.S[i];  FCVTL Vd.4S, Vn.4H
#define SDOTE(d, n, m, i) WORD $(0x4f80e000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))
#define SMMLA(d, n, m) WORD $(0x4e80a400 | ((m)<<16) | ((n)<<5) | (d))
#define SCVTF4(d, n) WORD $(0x4e21d800 | ((n)<<5) | (d))
#define FMUL4(d, n, m) WORD $(0x6e20dc00 | ((m)<<16) | ((n)<<5) | (d))
#define FMLAE(d, n, m, i) WORD $(0x4f801000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))
#define FCVTL4(d, n) WORD $(0x0e217800 | ((n)<<5) | (d))

// ---- SDOT tiles ----
//
// Registers of a pass: V0-V15 the block's packed activations (chunk k,
// tokens 4q..4q+3 in V(2k+q)), V16/V17 one row's 32 weights (words 0-3 /
// 4-7), V18/V19 its int32 block sums for tokens 0-3 / 4-7, V20/V21 the
// tokens' scales xs, V22 the four rows' scales d, V23 the nibble mask,
// V24-V31 the float accumulators (row r: V(24+2r), V(25+2r)). R6 walks the
// packed activations, R2-R5 the rows, R7 counts blocks.
//
// Per block and pass: 64 SDOT, 24 float ops (SCVTF, FMUL, FMLA), one
// FCVTL, 17 loads (q4_0: 8 more ops to split nibbles) for 4 × 8 × 32
// multiply-adds.

// SDOTROW: V18/V19 += Σ over the 8 chunks of activation · weight word.
#define SDOTROW \
	SDOTE(18, 0, 16, 0); SDOTE(19, 1, 16, 0); \
	SDOTE(18, 2, 16, 1); SDOTE(19, 3, 16, 1); \
	SDOTE(18, 4, 16, 2); SDOTE(19, 5, 16, 2); \
	SDOTE(18, 6, 16, 3); SDOTE(19, 7, 16, 3); \
	SDOTE(18, 8, 17, 0); SDOTE(19, 9, 17, 0); \
	SDOTE(18, 10, 17, 1); SDOTE(19, 11, 17, 1); \
	SDOTE(18, 12, 17, 2); SDOTE(19, 13, 17, 2); \
	SDOTE(18, 14, 17, 3); SDOTE(19, 15, 17, 3)

// ROWEND(F, I): the float step of row I into V(F), V(F+1).
#define ROWEND(F, I) \
	SCVTF4(18, 18); SCVTF4(19, 19); \
	FMUL4(18, 18, 20); FMUL4(19, 19, 21); \
	FMLAE(F, 18, 22, I); FMLAE(F+1, 19, 22, I)

// ROWQ8(R, F, I): one q8_0 row (R at its weights) of the block; the int32
// sums start at the packed corrections (at R6).
#define ROWQ8(R, F, I) \
	VLD1.P 32(R), [V16.B16, V17.B16]; \
	VLD1   (R6), [V18.S4, V19.S4]; \
	SDOTROW; \
	ROWEND(F, I)

// ROWQ4(R, F, I): one q4_0 row: low nibbles are weights 0-15 (words 0-3),
// high nibbles weights 16-31 (words 4-7).
#define ROWQ4(R, F, I) \
	VLD1.P 16(R), [V17.B16]; \
	VAND   V23.B16, V17.B16, V16.B16; \
	VUSHR  $4, V17.B16, V17.B16; \
	VLD1   (R6), [V18.S4, V19.S4]; \
	SDOTROW; \
	ROWEND(F, I)

// PASSINIT: row pointers, block count, zero accumulators.
#define PASSINIT \
	MOVD 0(R0), R2; \
	MOVD 8(R0), R3; \
	MOVD 16(R0), R4; \
	MOVD 24(R0), R5; \
	MOVD R11, R7; \
	VEOR V24.B16, V24.B16, V24.B16; \
	VEOR V25.B16, V25.B16, V25.B16; \
	VEOR V26.B16, V26.B16, V26.B16; \
	VEOR V27.B16, V27.B16, V27.B16; \
	VEOR V28.B16, V28.B16, V28.B16; \
	VEOR V29.B16, V29.B16, V29.B16; \
	VEOR V30.B16, V30.B16, V30.B16; \
	VEOR V31.B16, V31.B16, V31.B16

// BLOCKHEAD: the block's activations and scales (R6 ends at the
// corrections), and the four rows' f16 scales as floats in V22 (the row
// pointers step over them to the weights).
#define BLOCKHEAD \
	VLD1.P 64(R6), [V0.B16, V1.B16, V2.B16, V3.B16]; \
	VLD1.P 64(R6), [V4.B16, V5.B16, V6.B16, V7.B16]; \
	VLD1.P 64(R6), [V8.B16, V9.B16, V10.B16, V11.B16]; \
	VLD1.P 64(R6), [V12.B16, V13.B16, V14.B16, V15.B16]; \
	VLD1.P 32(R6), [V20.S4, V21.S4]; \
	VLD1.P 2(R2), V22.H[0]; \
	VLD1.P 2(R3), V22.H[1]; \
	VLD1.P 2(R4), V22.H[2]; \
	VLD1.P 2(R5), V22.H[3]; \
	FCVTL4(22, 22)

// STORE8(A, B, C, D, E, F, G, H): rows 0-3 (two registers each) to out at R1.
#define STORE8(A, B, C, D, E, F, G, H) \
	VST1 [A.S4, B.S4], (R1); \
	ADD  $64, R1, R8; \
	VST1 [C.S4, D.S4], (R8); \
	ADD  $128, R1, R8; \
	VST1 [E.S4, F.S4], (R8); \
	ADD  $192, R1, R8; \
	VST1 [G.S4, H.S4], (R8)

// func tileQ8SDOT(a *tileArgs, out *[64]float32)
TEXT ·tileQ8SDOT(SB), NOSPLIT, $0-16
	MOVD a+0(FP), R0
	MOVD out+8(FP), R1
	MOVD 32(R0), R6
	MOVD 48(R0), R11
	MOVD $0, R12

s8pass:
	PASSINIT
	CBZ R7, s8store

s8block:
	BLOCKHEAD
	ROWQ8(R2, 24, 0)
	ROWQ8(R3, 26, 1)
	ROWQ8(R4, 28, 2)
	ROWQ8(R5, 30, 3)
	ADD  $32, R6
	SUBS $1, R7
	BNE  s8block

s8store:
	STORE8(V24, V25, V26, V27, V28, V29, V30, V31)
	CBNZ R12, s8done
	MOVD $1, R12
	ADD  $32, R1
	MOVD 40(R0), R6
	MOVD 32(R0), R8
	CMP  R6, R8
	BNE  s8pass
	STORE8(V24, V25, V26, V27, V28, V29, V30, V31)

s8done:
	RET

// func tileQ4SDOT(a *tileArgs, out *[64]float32)
TEXT ·tileQ4SDOT(SB), NOSPLIT, $0-16
	MOVD  a+0(FP), R0
	MOVD  out+8(FP), R1
	MOVD  32(R0), R6
	MOVD  48(R0), R11
	MOVD  $0, R12
	VMOVI $15, V23.B16

s4pass:
	PASSINIT
	CBZ R7, s4store

s4block:
	BLOCKHEAD
	ROWQ4(R2, 24, 0)
	ROWQ4(R3, 26, 1)
	ROWQ4(R4, 28, 2)
	ROWQ4(R5, 30, 3)
	ADD  $32, R6
	SUBS $1, R7
	BNE  s4block

s4store:
	STORE8(V24, V25, V26, V27, V28, V29, V30, V31)
	CBNZ R12, s4done
	MOVD $1, R12
	ADD  $32, R1
	MOVD 40(R0), R6
	MOVD 32(R0), R8
	CMP  R6, R8
	BNE  s4pass
	STORE8(V24, V25, V26, V27, V28, V29, V30, V31)

s4done:
	RET

// ---- SMMLA tiles (packX8 layout) ----
//
// SMMLA Vd, Vn, Vm adds the 2×2 int32 products of Vn's two 8-byte rows and
// Vm's: with Vn = rows (2p, 2p+1) and Vm = tokens (2q, 2q+1), Vd holds
// [r2p·t2q, r2p·t2q+1, r2p+1·t2q, r2p+1·t2q+1].
//
// Registers of a pass: V0-V3 the activations of one 8-byte slice m
// (token pairs q = 0..3), V4/V5 scratch (corrections, scales), V6 the
// rows' scales d, V7 the nibble mask, V8-V15 the weights (row pair p,
// slice m in V(8+4p+m), built by ZIP1/ZIP2 of two rows' 64-bit halves;
// the raw rows are loaded into V16-V23 first), V16-V23 the int32 block
// sums (V(16+4p+q)), V24-V31 the float accumulators, same order. The
// sums start at the corrections [c2q, c2q+1, c2q, c2q+1] (DUP of a 64-bit
// lane), are scaled by [xs2q, xs2q+1, xs2q, xs2q+1] and added with
// [d2p, d2p, d2p+1, d2p+1] (ZIP1/ZIP2 of d with itself).
//
// Per block and pass: 32 SMMLA, 24 float ops, 8 ZIP for the weights, 12
// DUP, 2 ZIP and one FCVTL for the scales, 14 loads (q4_0: 8 more ops to
// split nibbles) for 4 × 8 × 32 multiply-adds.

// MMHEAD: the rows' scales into V6 (as f16), the row pointers to the
// weights.
#define MMHEAD \
	VLD1.P 2(R2), V6.H[0]; \
	VLD1.P 2(R3), V6.H[1]; \
	VLD1.P 2(R4), V6.H[2]; \
	VLD1.P 2(R5), V6.H[3]

// MMZIP: the weight operands from raw rows r in V(16+2r) (bytes 0-15) and
// V(17+2r) (bytes 16-31).
#define MMZIP \
	VZIP1 V18.D2, V16.D2, V8.D2; \
	VZIP2 V18.D2, V16.D2, V9.D2; \
	VZIP1 V19.D2, V17.D2, V10.D2; \
	VZIP2 V19.D2, V17.D2, V11.D2; \
	VZIP1 V22.D2, V20.D2, V12.D2; \
	VZIP2 V22.D2, V20.D2, V13.D2; \
	VZIP1 V23.D2, V21.D2, V14.D2; \
	VZIP2 V23.D2, V21.D2, V15.D2

// MMQ8W / MMQ4W: the four rows' raw weights into V16-V23.
#define MMQ8W \
	VLD1.P 32(R2), [V16.B16, V17.B16]; \
	VLD1.P 32(R3), [V18.B16, V19.B16]; \
	VLD1.P 32(R4), [V20.B16, V21.B16]; \
	VLD1.P 32(R5), [V22.B16, V23.B16]

#define MMQ4ROW(R, LO, HI) \
	VLD1.P 16(R), [HI.B16]; \
	VAND   V7.B16, HI.B16, LO.B16; \
	VUSHR  $4, HI.B16, HI.B16

#define MMQ4W \
	MMQ4ROW(R2, V16, V17); \
	MMQ4ROW(R3, V18, V19); \
	MMQ4ROW(R4, V20, V21); \
	MMQ4ROW(R5, V22, V23)

// MMSUMS: corrections into the int32 sums, then the 32 SMMLA over the
// block's four slices (R6 ends at the scales).
#define MMSLICE(WA, WB) \
	VLD1.P 64(R6), [V0.B16, V1.B16, V2.B16, V3.B16]; \
	SMMLA(16, WA, 0); SMMLA(17, WA, 1); SMMLA(18, WA, 2); SMMLA(19, WA, 3); \
	SMMLA(20, WB, 0); SMMLA(21, WB, 1); SMMLA(22, WB, 2); SMMLA(23, WB, 3)

#define MMSUMS \
	ADD    $288, R6, R8; \
	VLD1   (R8), [V4.S4, V5.S4]; \
	VDUP   V4.D[0], V16.D2; \
	VDUP   V4.D[1], V17.D2; \
	VDUP   V5.D[0], V18.D2; \
	VDUP   V5.D[1], V19.D2; \
	VDUP   V4.D[0], V20.D2; \
	VDUP   V4.D[1], V21.D2; \
	VDUP   V5.D[0], V22.D2; \
	VDUP   V5.D[1], V23.D2; \
	MMSLICE(8, 12); \
	MMSLICE(9, 13); \
	MMSLICE(10, 14); \
	MMSLICE(11, 15)

// MMFLOAT: the float step of the 8 sums (R6 ends at the next block).
#define MMFLOAT \
	VLD1.P 32(R6), [V4.S4, V5.S4]; \
	ADD    $32, R6; \
	VDUP   V4.D[0], V0.D2; \
	VDUP   V4.D[1], V1.D2; \
	VDUP   V5.D[0], V2.D2; \
	VDUP   V5.D[1], V3.D2; \
	FCVTL4(6, 6); \
	VZIP1  V6.S4, V6.S4, V4.S4; \
	VZIP2  V6.S4, V6.S4, V5.S4; \
	SCVTF4(16, 16); SCVTF4(17, 17); SCVTF4(18, 18); SCVTF4(19, 19); \
	SCVTF4(20, 20); SCVTF4(21, 21); SCVTF4(22, 22); SCVTF4(23, 23); \
	FMUL4(16, 16, 0); FMUL4(17, 17, 1); FMUL4(18, 18, 2); FMUL4(19, 19, 3); \
	FMUL4(20, 20, 0); FMUL4(21, 21, 1); FMUL4(22, 22, 2); FMUL4(23, 23, 3); \
	VFMLA  V4.S4, V16.S4, V24.S4; \
	VFMLA  V4.S4, V17.S4, V25.S4; \
	VFMLA  V4.S4, V18.S4, V26.S4; \
	VFMLA  V4.S4, V19.S4, V27.S4; \
	VFMLA  V5.S4, V20.S4, V28.S4; \
	VFMLA  V5.S4, V21.S4, V29.S4; \
	VFMLA  V5.S4, V22.S4, V30.S4; \
	VFMLA  V5.S4, V23.S4, V31.S4

// MMOUT: the accumulators as rows of 8 tokens in V0-V7 (row r in V(2r),
// V(2r+1)).
#define MMOUT \
	VZIP1 V25.D2, V24.D2, V0.D2; \
	VZIP1 V27.D2, V26.D2, V1.D2; \
	VZIP2 V25.D2, V24.D2, V2.D2; \
	VZIP2 V27.D2, V26.D2, V3.D2; \
	VZIP1 V29.D2, V28.D2, V4.D2; \
	VZIP1 V31.D2, V30.D2, V5.D2; \
	VZIP2 V29.D2, V28.D2, V6.D2; \
	VZIP2 V31.D2, V30.D2, V7.D2

// func tileQ8I8MM(a *tileArgs, out *[64]float32)
TEXT ·tileQ8I8MM(SB), NOSPLIT, $0-16
	MOVD a+0(FP), R0
	MOVD out+8(FP), R1
	MOVD 32(R0), R6
	MOVD 48(R0), R11
	MOVD $0, R12

m8pass:
	PASSINIT
	CBZ R7, m8store

m8block:
	MMHEAD
	MMQ8W
	MMZIP
	MMSUMS
	MMFLOAT
	SUBS $1, R7
	BNE  m8block

m8store:
	MMOUT
	STORE8(V0, V1, V2, V3, V4, V5, V6, V7)
	CBNZ R12, m8done
	MOVD $1, R12
	ADD  $32, R1
	MOVD 40(R0), R6
	MOVD 32(R0), R8
	CMP  R6, R8
	BNE  m8pass
	STORE8(V0, V1, V2, V3, V4, V5, V6, V7)

m8done:
	RET

// func tileQ4I8MM(a *tileArgs, out *[64]float32)
TEXT ·tileQ4I8MM(SB), NOSPLIT, $0-16
	MOVD  a+0(FP), R0
	MOVD  out+8(FP), R1
	MOVD  32(R0), R6
	MOVD  48(R0), R11
	MOVD  $0, R12

m4pass:
	VMOVI $15, V7.B16 // MMOUT overwrites it
	PASSINIT
	CBZ R7, m4store

m4block:
	MMHEAD
	MMQ4W
	MMZIP
	MMSUMS
	MMFLOAT
	SUBS $1, R7
	BNE  m4block

m4store:
	MMOUT
	STORE8(V0, V1, V2, V3, V4, V5, V6, V7)
	CBNZ R12, m4done
	MOVD $1, R12
	ADD  $32, R1
	MOVD 40(R0), R6
	MOVD 32(R0), R8
	CMP  R6, R8
	BNE  m4pass
	STORE8(V0, V1, V2, V3, V4, V5, V6, V7)

m4done:
	RET
