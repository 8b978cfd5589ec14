//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA/F16C float loops (Go declarations and reference loops in
// float_amd64.go). Dots keep 8-lane partial sums, so their summation order
// differs from the reference's; axpy, scale and the f16 row conversion are
// element-wise and round exactly as the reference does without FMA fusion.

// func dotF32FMA(a, b *float32, n int) float32
TEXT ·dotF32FMA(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

df32loop32:
	CMPQ        CX, $32
	JLT         df32loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         df32loop32

df32loop8:
	CMPQ        CX, $8
	JLT         df32reduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         df32loop8

df32reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

df32tail:
	TESTQ       CX, CX
	JZ          df32done
	VMOVSS      (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         df32tail

df32done:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotF16FMA(w *uint16, x *float32, n int) float32
TEXT ·dotF16FMA(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

df16loop32:
	CMPQ        CX, $32
	JLT         df16loop8
	VCVTPH2PS   (SI), Y4
	VCVTPH2PS   16(SI), Y5
	VCVTPH2PS   32(SI), Y6
	VCVTPH2PS   48(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         df16loop32

df16loop8:
	CMPQ        CX, $8
	JLT         df16reduce
	VCVTPH2PS   (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         df16loop8

df16reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

df16tail:
	TESTQ       CX, CX
	JZ          df16done
	MOVWLZX     (SI), AX
	VMOVD       AX, X1
	VCVTPH2PS   X1, X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $2, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         df16tail

df16done:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotF32x4FMA(w, x *float32, n int, r *[4]float32)
TEXT ·dotF32x4FMA(SB), NOSPLIT, $0-32
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	MOVQ   CX, R10
	SHLQ   $2, R10             // row stride in bytes
	LEAQ   (R10)(R10*2), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

d4loop16:
	CMPQ        CX, $16
	JLT         d4loop8
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS (DI)(R10*1), Y8, Y1
	VFMADD231PS (DI)(R10*2), Y8, Y2
	VFMADD231PS (DI)(R11*1), Y8, Y3
	VFMADD231PS 32(DI), Y9, Y4
	VFMADD231PS 32(DI)(R10*1), Y9, Y5
	VFMADD231PS 32(DI)(R10*2), Y9, Y6
	VFMADD231PS 32(DI)(R11*1), Y9, Y7
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         d4loop16

d4loop8:
	CMPQ        CX, $8
	JLT         d4reduce
	VMOVUPS     (SI), Y8
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS (DI)(R10*1), Y8, Y1
	VFMADD231PS (DI)(R10*2), Y8, Y2
	VFMADD231PS (DI)(R11*1), Y8, Y3
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX

d4reduce:
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0

d4tail:
	TESTQ        CX, CX
	JZ           d4done
	VBROADCASTSS (SI), X5
	VMOVSS       (DI), X6
	VINSERTPS    $0x10, (DI)(R10*1), X6, X6
	VINSERTPS    $0x20, (DI)(R10*2), X6, X6
	VINSERTPS    $0x30, (DI)(R11*1), X6, X6
	VFMADD231PS  X6, X5, X0
	ADDQ         $4, SI
	ADDQ         $4, DI
	DECQ         CX
	JMP          d4tail

d4done:
	MOVQ    r+24(FP), AX
	VMOVUPS X0, (AX)
	VZEROUPPER
	RET

// func axpyAVX2(a float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX

axloop16:
	CMPQ    CX, $16
	JLT     axloop8
	VMULPS  (SI), Y0, Y1
	VMULPS  32(SI), Y0, Y2
	VADDPS  (DI), Y1, Y1
	VADDPS  32(DI), Y2, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     axloop16

axloop8:
	CMPQ    CX, $8
	JLT     axtail
	VMULPS  (SI), Y0, Y1
	VADDPS  (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX

axtail:
	TESTQ  CX, CX
	JZ     axdone
	VMULSS (SI), X0, X1
	VADDSS (DI), X1, X1
	VMOVSS X1, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    axtail

axdone:
	VZEROUPPER
	RET

// func axpyF16AVX2(a float32, x *uint16, y *float32, n int)
TEXT ·axpyF16AVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX

ahloop8:
	CMPQ      CX, $8
	JLT       ahtail
	VCVTPH2PS (SI), Y1
	VMULPS    Y1, Y0, Y1
	VADDPS    (DI), Y1, Y1
	VMOVUPS   Y1, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       ahloop8

ahtail:
	TESTQ     CX, CX
	JZ        ahdone
	MOVWLZX   (SI), AX
	VMOVD     AX, X1
	VCVTPH2PS X1, X1
	VMULSS    X1, X0, X1
	VADDSS    (DI), X1, X1
	VMOVSS    X1, (DI)
	ADDQ      $2, SI
	ADDQ      $4, DI
	DECQ      CX
	JMP       ahtail

ahdone:
	VZEROUPPER
	RET

// func scaleAVX2(a float32, y *float32, n int)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-24
	VBROADCASTSS a+0(FP), Y0
	MOVQ         y+8(FP), DI
	MOVQ         n+16(FP), CX

scloop8:
	CMPQ    CX, $8
	JLT     sctail
	VMULPS  (DI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     scloop8

sctail:
	TESTQ  CX, CX
	JZ     scdone
	VMULSS (DI), X0, X1
	VMOVSS X1, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    sctail

scdone:
	VZEROUPPER
	RET

// func f16RowAVX2(dst *float32, src *uint16, n int)
TEXT ·f16RowAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

frloop8:
	CMPQ      CX, $8
	JLT       frtail
	VCVTPH2PS (SI), Y1
	VMOVUPS   Y1, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       frloop8

frtail:
	TESTQ     CX, CX
	JZ        frdone
	MOVWLZX   (SI), AX
	VMOVD     AX, X1
	VCVTPH2PS X1, X1
	VMOVSS    X1, (DI)
	ADDQ      $2, SI
	ADDQ      $4, DI
	DECQ      CX
	JMP       frtail

frdone:
	VZEROUPPER
	RET
