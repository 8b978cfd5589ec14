// Exp (exp.go) for the arm64 loops that include this file after
// neon_arm64.h: its constants and EXP4, the reference's operations on
// four lanes (every product rounded before the following sum: FMUL then
// FADD, never FMLA). The clamp is FMAXNM (a NaN input becomes expLo, as
// in the reference) then FMIN; n is rounded to even by FRINTN; 2^n is
// built from FCVTZS, +127 and a shift into the exponent.
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

// EXPCONSTS loads V16 expLo, V17 expHi, V18 log2e, V19 ln2hi, V20 ln2lo,
// V21-V26 c0-c5, V27 1.0, V28 int32 127, V29 the sign bit (clobbers R9).
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

// EXP4(x, n, t, y): V(y) = Exp(V(x)) per lane with the EXPCONSTS
// registers; clobbers V(x), V(n), V(t).
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
