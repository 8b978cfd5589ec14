//go:build amd64 && !purego

#include "textflag.h"

// Dword order that undoes the lane interleaving of VPACKSSDW+VPACKSSWB.
DATA qperm<>+0(SB)/4, $0
DATA qperm<>+4(SB)/4, $4
DATA qperm<>+8(SB)/4, $1
DATA qperm<>+12(SB)/4, $5
DATA qperm<>+16(SB)/4, $2
DATA qperm<>+20(SB)/4, $6
DATA qperm<>+24(SB)/4, $3
DATA qperm<>+28(SB)/4, $7
GLOBL qperm<>(SB), RODATA|NOPTR, $32

// func quantizeQ8ActAVX2(x *float32, xq *int8, xs *float32, nb int)
TEXT ·quantizeQ8ActAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ xq+8(FP), DI
	MOVQ xs+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15 // abs mask
	MOVL $0x80000000, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14 // sign mask
	MOVL $0x3f000000, AX  // 0.5
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x42fe0000, AX  // 127
	VMOVD AX, X12
	MOVL $0x3f800000, AX  // 1
	VMOVD AX, X11
	VMOVDQU qperm<>(SB), Y10

qloop:
	TESTQ CX, CX
	JZ    qdone
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	// amax: NaN lanes are skipped (MAXPS returns its second source then).
	VANDPS  Y15, Y0, Y4
	VANDPS  Y15, Y1, Y5
	VANDPS  Y15, Y2, Y6
	VANDPS  Y15, Y3, Y7
	VXORPS  Y8, Y8, Y8
	VMAXPS  Y8, Y4, Y8
	VMAXPS  Y8, Y5, Y8
	VMAXPS  Y8, Y6, Y8
	VMAXPS  Y8, Y7, Y8
	VEXTRACTF128 $1, Y8, X9
	VMAXPS  X8, X9, X8
	VPSHUFD $0x4e, X8, X9
	VMAXPS  X8, X9, X8
	VPSHUFD $0xb1, X8, X9
	VMAXPS  X8, X9, X8
	VDIVSS  X12, X8, X8 // d = amax/127
	VMOVSS  X8, (DX)
	VXORPS  X9, X9, X9
	VUCOMISS X9, X8
	JNE     qnonzero
	JP      qnonzero
	VXORPS  Y0, Y0, Y0
	VMOVDQU Y0, (DI)
	JMP     qnext

qnonzero:
	VDIVSS       X8, X11, X9 // id = 1/d
	VBROADCASTSS X9, Y9
	VMULPS       Y9, Y0, Y0
	VMULPS       Y9, Y1, Y1
	VMULPS       Y9, Y2, Y2
	VMULPS       Y9, Y3, Y3
	// ±0.5 with the sign of the scaled value, then truncate.
	VANDPS       Y14, Y0, Y4
	VANDPS       Y14, Y1, Y5
	VANDPS       Y14, Y2, Y6
	VANDPS       Y14, Y3, Y7
	VORPS        Y13, Y4, Y4
	VORPS        Y13, Y5, Y5
	VORPS        Y13, Y6, Y6
	VORPS        Y13, Y7, Y7
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VCVTTPS2DQ   Y0, Y0
	VCVTTPS2DQ   Y1, Y1
	VCVTTPS2DQ   Y2, Y2
	VCVTTPS2DQ   Y3, Y3
	VPACKSSDW    Y1, Y0, Y0
	VPACKSSDW    Y3, Y2, Y2
	VPACKSSWB    Y2, Y0, Y0
	VPERMD       Y0, Y10, Y0
	VMOVDQU      Y0, (DI)

qnext:
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JMP  qloop

qdone:
	VZEROUPPER
	RET
