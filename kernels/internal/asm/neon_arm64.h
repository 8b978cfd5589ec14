// NEON instructions the Go assembler lacks, WORD-encoded with register
// numbers (0-31), for the arm64 loops of this package that include this
// file. Vector forms are on four float32 / int32 lanes (.4S) unless named
// otherwise; encodings checked with llvm-mc and by the tests under qemu.

#define FADD4(d, n, m) WORD $(0x4e20d400 | ((m)<<16) | ((n)<<5) | (d))
#define FSUB4(d, n, m) WORD $(0x4ea0d400 | ((m)<<16) | ((n)<<5) | (d))
#define FMUL4(d, n, m) WORD $(0x6e20dc00 | ((m)<<16) | ((n)<<5) | (d))
#define FDIV4(d, n, m) WORD $(0x6e20fc00 | ((m)<<16) | ((n)<<5) | (d))
#define FADDP4(d, n, m) WORD $(0x6e20d400 | ((m)<<16) | ((n)<<5) | (d))
#define FMAX4(d, n, m) WORD $(0x4e20f400 | ((m)<<16) | ((n)<<5) | (d))
#define FMAXNM4(d, n, m) WORD $(0x4e20c400 | ((m)<<16) | ((n)<<5) | (d))
#define FMIN4(d, n, m) WORD $(0x4ea0f400 | ((m)<<16) | ((n)<<5) | (d))
#define FCMEQ4(d, n, m) WORD $(0x4e20e400 | ((m)<<16) | ((n)<<5) | (d))
#define FRINTN4(d, n) WORD $(0x4e218800 | ((n)<<5) | (d))
#define FCVTZS4(d, n) WORD $(0x4ea1b800 | ((n)<<5) | (d))
#define ADD4(d, n, m) WORD $(0x4ea08400 | ((m)<<16) | ((n)<<5) | (d))
#define SHL23(d, n) WORD $(0x4f375400 | ((n)<<5) | (d))
// BIC16 Vd.16B = Vn AND NOT Vm; EOR16 Vd.16B = Vn XOR Vm.
#define BIC16(d, n, m) WORD $(0x4e601c00 | ((m)<<16) | ((n)<<5) | (d))
#define EOR16(d, n, m) WORD $(0x6e201c00 | ((m)<<16) | ((n)<<5) | (d))
// FMLA Vd.4S += Vn.4S · Vm.S[i].
#define FMLAE(d, n, m, i) WORD $(0x4f801000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))
// FCVTL Vd.4S = the low four halves of Vn; FCVTL8 the high four (FCVTL2).
#define FCVTL4(d, n) WORD $(0x0e217800 | ((n)<<5) | (d))
#define FCVTL8(d, n) WORD $(0x4e217800 | ((n)<<5) | (d))
// FMAXV Sd = max over Vn's four lanes; FADDP2 Sd = Vn.S[0] + Vn.S[1].
#define FMAXV4(d, n) WORD $(0x6e30f800 | ((n)<<5) | (d))
#define FADDP2(d, n) WORD $(0x7e30d800 | ((n)<<5) | (d))
// FMUL Vd.4S = Vn.4S · Vm.S[i].
#define FMULE(d, n, m, i) WORD $(0x4f809000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))
// EXT8 Vd.16B = EXT Vn.16B, Vn.16B, #8 (the two 64-bit halves swapped).
#define EXT8(d, n) WORD $(0x6e004000 | ((n)<<16) | ((n)<<5) | (d))
