//go:build arm64 && !purego

#include "textflag.h"

#include "neon_arm64.h"

// Attention loops over a tile of keys for arm64 (Go declarations and
// reference notes in attn_arm64.go).

// func accumRowsNEON(y *float32, n int, p *float32, m int, x *float32, strideBytes int)
//
// R0 y chunk, R1 floats left, R2 p, R3 m, R4 x chunk (row 0), R5 stride;
// per chunk R6 walks the rows, R7 p, R8 counts rows. V0-V3 the y chunk,
// V4 p[j] broadcast, V5-V8 row j's chunk.
TEXT ·accumRowsNEON(SB), NOSPLIT, $0-48
	MOVD y+0(FP), R0
	MOVD n+8(FP), R1
	MOVD p+16(FP), R2
	MOVD m+24(FP), R3
	MOVD x+32(FP), R4
	MOVD strideBytes+40(FP), R5

acc16:
	CMP  $16, R1
	BLT  acc4
	VLD1 (R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	MOVD R4, R6
	MOVD R2, R7
	MOVD R3, R8

acc16row:
	VLD1R.P 4(R7), [V4.S4]
	VLD1.P  (R6)(R5), [V5.S4, V6.S4, V7.S4, V8.S4]
	VFMLA   V4.S4, V5.S4, V0.S4
	VFMLA   V4.S4, V6.S4, V1.S4
	VFMLA   V4.S4, V7.S4, V2.S4
	VFMLA   V4.S4, V8.S4, V3.S4
	SUBS    $1, R8
	BNE     acc16row
	VST1.P  [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	ADD     $64, R4
	SUB     $16, R1
	B       acc16

acc4:
	CBZ  R1, accdone
	VLD1 (R0), [V0.S4]
	MOVD R4, R6
	MOVD R2, R7
	MOVD R3, R8

acc4row:
	VLD1R.P 4(R7), [V4.S4]
	VLD1.P  (R6)(R5), [V5.S4]
	VFMLA   V4.S4, V5.S4, V0.S4
	SUBS    $1, R8
	BNE     acc4row
	VST1.P  [V0.S4], 16(R0)
	ADD     $16, R4
	SUB     $4, R1
	B       acc4

accdone:
	RET

// func scoreRowsNEON(dst *float32, m int, q *float32, n int, x *float32, strideBytes int, scale float32)
//
// R0 dst, R1 rows left, R2 q, R3 n, R4 row 0 of the group, R5 stride;
// per group R6 q, R7 floats left, R10-R13 the rows. V0/V1 eight floats
// of q, V2-V9 the rows' (row r: V(2+2r), V(3+2r)), V16-V23 the partial
// sums (row r: V(16+2r), V(17+2r)), V24 the scale broadcast.
TEXT ·scoreRowsNEON(SB), NOSPLIT, $0-52
	MOVD  dst+0(FP), R0
	MOVD  m+8(FP), R1
	MOVD  q+16(FP), R2
	MOVD  n+24(FP), R3
	MOVD  x+32(FP), R4
	MOVD  strideBytes+40(FP), R5
	FMOVS scale+48(FP), F24
	VDUP  V24.S[0], V24.S4

sc4group:
	CMP  $4, R1
	BLT  sc1group
	MOVD R2, R6
	MOVD R3, R7
	MOVD R4, R10
	ADD  R5, R10, R11
	ADD  R5, R11, R12
	ADD  R5, R12, R13
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16

sc4loop8:
	CMP    $8, R7
	BLT    sc4loop4
	VLD1.P 32(R6), [V0.S4, V1.S4]
	VLD1.P 32(R10), [V2.S4, V3.S4]
	VLD1.P 32(R11), [V4.S4, V5.S4]
	VLD1.P 32(R12), [V6.S4, V7.S4]
	VLD1.P 32(R13), [V8.S4, V9.S4]
	VFMLA  V0.S4, V2.S4, V16.S4
	VFMLA  V1.S4, V3.S4, V17.S4
	VFMLA  V0.S4, V4.S4, V18.S4
	VFMLA  V1.S4, V5.S4, V19.S4
	VFMLA  V0.S4, V6.S4, V20.S4
	VFMLA  V1.S4, V7.S4, V21.S4
	VFMLA  V0.S4, V8.S4, V22.S4
	VFMLA  V1.S4, V9.S4, V23.S4
	SUB    $8, R7
	B      sc4loop8

sc4loop4:
	CBZ    R7, sc4sum
	VLD1.P 16(R6), [V0.S4]
	VLD1.P 16(R10), [V2.S4]
	VLD1.P 16(R11), [V4.S4]
	VLD1.P 16(R12), [V6.S4]
	VLD1.P 16(R13), [V8.S4]
	VFMLA  V0.S4, V2.S4, V16.S4
	VFMLA  V0.S4, V4.S4, V18.S4
	VFMLA  V0.S4, V6.S4, V20.S4
	VFMLA  V0.S4, V8.S4, V22.S4

sc4sum:
	FADD4(16, 16, 17)
	FADD4(18, 18, 19)
	FADD4(20, 20, 21)
	FADD4(22, 22, 23)
	FADDP4(16, 16, 18)
	FADDP4(20, 20, 22)
	FADDP4(16, 16, 20)
	FMUL4(16, 16, 24)
	VST1.P [V16.S4], 16(R0)
	ADD    R5<<2, R4, R4
	SUB    $4, R1
	B      sc4group

sc1group:
	CBZ  R1, scdone
	MOVD R2, R6
	MOVD R3, R7
	MOVD R4, R10
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16

sc1loop8:
	CMP    $8, R7
	BLT    sc1loop4
	VLD1.P 32(R6), [V0.S4, V1.S4]
	VLD1.P 32(R10), [V2.S4, V3.S4]
	VFMLA  V0.S4, V2.S4, V16.S4
	VFMLA  V1.S4, V3.S4, V17.S4
	SUB    $8, R7
	B      sc1loop8

sc1loop4:
	CBZ    R7, sc1sum
	VLD1.P 16(R6), [V0.S4]
	VLD1.P 16(R10), [V2.S4]
	VFMLA  V0.S4, V2.S4, V16.S4

sc1sum:
	FADD4(16, 16, 17)
	FADDP4(16, 16, 16)
	FADDP4(16, 16, 16)
	FMULS  F24, F16, F16
	FMOVS.P F16, 4(R0)
	ADD    R5, R4, R4
	SUB    $1, R1
	B      sc1group

scdone:
	RET
