//go:build arm64 && !purego

#include "textflag.h"

// NEON loops of Exp (exp.go), four lanes per chain and two chains per
// step, the same operations in the same order as the reference (every
// product rounded before the following sum: FMUL then FADD, never FMLA).
// The clamp is FMAXNM (a NaN input becomes expLo, as in the reference)
// then FMIN; n is rounded to even by FRINTN; 2^n is built from FCVTZS,
// +127 and a shift into the exponent.
//
// Registers: V16 expLo, V17 expHi, V18 log2e, V19 ln2hi, V20 ln2lo,
// V21-V26 c0-c5, V27 1.0, V28 int32 127, V29 the sign bit, V30 the shift m.
// The vector instructions are WORD-encoded with register numbers (the Go
// assembler lacks them).
#define FADD4(d, n, m) WORD $(0x4e20d400 | ((m)<<16) | ((n)<<5) | (d))
#define FSUB4(d, n, m) WORD $(0x4ea0d400 | ((m)<<16) | ((n)<<5) | (d))
#define FMUL4(d, n, m) WORD $(0x6e20dc00 | ((m)<<16) | ((n)<<5) | (d))
#define FDIV4(d, n, m) WORD $(0x6e20fc00 | ((m)<<16) | ((n)<<5) | (d))
#define FMAXNM4(d, n, m) WORD $(0x4e20c400 | ((m)<<16) | ((n)<<5) | (d))
#define FMIN4(d, n, m) WORD $(0x4ea0f400 | ((m)<<16) | ((n)<<5) | (d))
#define FRINTN4(d, n) WORD $(0x4e218800 | ((n)<<5) | (d))
#define FCVTZS4(d, n) WORD $(0x4ea1b800 | ((n)<<5) | (d))
#define ADD4(d, n, m) WORD $(0x4ea08400 | ((m)<<16) | ((n)<<5) | (d))
#define SHL23(d, n) WORD $(0x4f375400 | ((n)<<5) | (d))

DATA expk<>+0(SB)/4, $-87.33654
DATA expk<>+4(SB)/4, $88.0
DATA expk<>+8(SB)/4, $1.44269504088896341
DATA expk<>+12(SB)/4, $0.693359375
DATA expk<>+16(SB)/4, $-2.12194440e-4
DATA expk<>+20(SB)/4, $1.9875691500e-4
DATA expk<>+24(SB)/4, $1.3981999507e-3
DATA expk<>+28(SB)/4, $8.3334519073e-3
DATA expk<>+32(SB)/4, $4.1665795894e-2
DATA expk<>+36(SB)/4, $1.6666665459e-1
DATA expk<>+40(SB)/4, $5.0000001201e-1
DATA expk<>+44(SB)/4, $1.0
DATA expk<>+48(SB)/4, $127
DATA expk<>+52(SB)/4, $0x80000000
GLOBL expk<>(SB), RODATA|NOPTR, $56

// EXPCONSTS: V16-V29 as above (clobbers R9).
#define EXPCONSTS \
	MOVD    $expk<>(SB), R9; \
	VLD1R.P 4(R9), [V16.S4]; \
	VLD1R.P 4(R9), [V17.S4]; \
	VLD1R.P 4(R9), [V18.S4]; \
	VLD1R.P 4(R9), [V19.S4]; \
	VLD1R.P 4(R9), [V20.S4]; \
	VLD1R.P 4(R9), [V21.S4]; \
	VLD1R.P 4(R9), [V22.S4]; \
	VLD1R.P 4(R9), [V23.S4]; \
	VLD1R.P 4(R9), [V24.S4]; \
	VLD1R.P 4(R9), [V25.S4]; \
	VLD1R.P 4(R9), [V26.S4]; \
	VLD1R.P 4(R9), [V27.S4]; \
	VLD1R.P 4(R9), [V28.S4]; \
	VLD1R.P 4(R9), [V29.S4]

// EXP4(x, n, t, y): V(y) = Exp(V(x)) per lane; clobbers V(x), V(n), V(t).
#define EXP4(x, n, t, y) \
	FMAXNM4(x, x, 16); FMIN4(x, x, 17); \
	FMUL4(n, x, 18); FRINTN4(n, n); \
	FMUL4(t, n, 19); FSUB4(x, x, t); \
	FMUL4(t, n, 20); FSUB4(x, x, t); \
	FCVTZS4(n, n); ADD4(n, n, 28); SHL23(n, n); \
	FMUL4(y, x, 21); FADD4(y, y, 22); \
	FMUL4(y, y, x); FADD4(y, y, 23); \
	FMUL4(y, y, x); FADD4(y, y, 24); \
	FMUL4(y, y, x); FADD4(y, y, 25); \
	FMUL4(y, y, x); FADD4(y, y, 26); \
	FMUL4(t, x, x); FMUL4(y, y, t); FADD4(y, y, x); \
	FADD4(y, y, 27); FMUL4(y, y, n)

// SWIGLU4(g, u, x, n, t, y): V(g) = V(g) / (1 + Exp(−V(g))) · V(u).
#define SWIGLU4(g, u, x, n, t, y) \
	WORD $(0x6e201c00 | (29<<16) | ((g)<<5) | (x)); \
	EXP4(x, n, t, y); \
	FADD4(y, y, 27); \
	FDIV4(g, g, y); \
	FMUL4(g, g, u)

// func swiGLUNEON(gate, up *float32, n int)
TEXT ·swiGLUNEON(SB), NOSPLIT, $0-24
	MOVD gate+0(FP), R0
	MOVD up+8(FP), R1
	MOVD n+16(FP), R2
	EXPCONSTS

sw8:
	CMP    $8, R2
	BLT    sw4
	VLD1   (R0), [V0.S4, V1.S4]
	VLD1.P 32(R1), [V2.S4, V3.S4]
	SWIGLU4(0, 2, 4, 5, 6, 7)
	SWIGLU4(1, 3, 8, 9, 10, 11)
	VST1.P [V0.S4, V1.S4], 32(R0)
	SUB    $8, R2
	B      sw8

sw4:
	CBZ    R2, swdone
	VLD1   (R0), [V0.S4]
	VLD1.P 16(R1), [V2.S4]
	SWIGLU4(0, 2, 4, 5, 6, 7)
	VST1.P [V0.S4], 16(R0)
	SUB    $4, R2
	B      sw4

swdone:
	RET

// func expShiftNEON(x *float32, m float32, n int)
TEXT ·expShiftNEON(SB), NOSPLIT, $0-24
	MOVD  x+0(FP), R0
	FMOVS m+8(FP), F30
	MOVD  n+16(FP), R2
	VDUP  V30.S[0], V30.S4
	EXPCONSTS

es8:
	CMP    $8, R2
	BLT    es4
	VLD1   (R0), [V0.S4, V1.S4]
	FSUB4(0, 0, 30)
	FSUB4(1, 1, 30)
	EXP4(0, 4, 5, 6)
	EXP4(1, 8, 9, 7)
	VST1.P [V6.S4, V7.S4], 32(R0)
	SUB    $8, R2
	B      es8

es4:
	CBZ    R2, esdone
	VLD1   (R0), [V0.S4]
	FSUB4(0, 0, 30)
	EXP4(0, 4, 5, 6)
	VST1.P [V6.S4], 16(R0)
	SUB    $4, R2
	B      es4

esdone:
	RET
