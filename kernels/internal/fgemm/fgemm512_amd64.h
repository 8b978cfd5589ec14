// Macros shared by the AVX-512 kernels kern12x16 (fgemm512_amd64.s) and
// kern12x32 (fgemm512x32_amd64.s), whose first two arguments are w and
// stride.

// ROWBASES loads the weight rows' addresses: row i of the 12 is at
// R8 + i·stride bytes, addressed as one of the four bases R8, R9, R10, R11
// (rows 0, 3, 6, 9) plus 0, stride (DX) or 2·stride (DX*2). Uses AX.
#define ROWBASES \
	MOVQ w+0(FP), R8; \
	MOVQ stride+8(FP), DX; \
	SHLQ $2, DX; \
	LEAQ (DX)(DX*2), AX; \
	LEAQ (R8)(AX*1), R9; \
	LEAQ (R9)(AX*1), R10; \
	LEAQ (R10)(AX*1), R11

// ADVANCE4 moves the four row bases on by n bytes.
#define ADVANCE4(n) \
	ADDQ n, R8; \
	ADDQ n, R9; \
	ADDQ n, R10; \
	ADDQ n, R11

// LOAD12 and STORE12 move a two-tile accumulator block (12 rows × 16
// lanes) between p and twelve zmm registers.
#define LOAD12(p, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
	VMOVUPS 0(p), a0; \
	VMOVUPS 64(p), a1; \
	VMOVUPS 128(p), a2; \
	VMOVUPS 192(p), a3; \
	VMOVUPS 256(p), a4; \
	VMOVUPS 320(p), a5; \
	VMOVUPS 384(p), a6; \
	VMOVUPS 448(p), a7; \
	VMOVUPS 512(p), a8; \
	VMOVUPS 576(p), a9; \
	VMOVUPS 640(p), a10; \
	VMOVUPS 704(p), a11

#define STORE12(p, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
	VMOVUPS a0, 0(p); \
	VMOVUPS a1, 64(p); \
	VMOVUPS a2, 128(p); \
	VMOVUPS a3, 192(p); \
	VMOVUPS a4, 256(p); \
	VMOVUPS a5, 320(p); \
	VMOVUPS a6, 384(p); \
	VMOVUPS a7, 448(p); \
	VMOVUPS a8, 512(p); \
	VMOVUPS a9, 576(p); \
	VMOVUPS a10, 640(p); \
	VMOVUPS a11, 704(p)
