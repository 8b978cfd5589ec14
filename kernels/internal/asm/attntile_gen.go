//go:build ignore

// attntile_gen writes attntile_amd64.s, the AVX-512 and AVX2 loops of the
// attention tile routines (attntile.go). Every loop is unrolled for each
// number of query rows (1..6) it handles at once, which is tedious to keep
// consistent by hand. Run with `go generate` in this directory.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

// isa describes one instruction set: vector register prefix, floats per
// vector, number of accumulator registers available.
type isa struct {
	name   string // suffix of the routine names
	reg    string // "Z" or "Y"
	lanes  int    // floats per vector
	avx512 bool
}

var (
	avx512 = isa{"AVX512", "Z", 16, true}
	avx2   = isa{"AVX2", "Y", 8, false}
)

// elem is the storage type of keys and values.
type elem struct {
	name  string // "F16" or "F32"
	shift int    // log2 of the element size
}

var (
	f16 = elem{"F16", 1}
	f32 = elem{"F32", 2}
)

func (e elem) size() int { return 1 << e.shift }

// load writes the instruction loading lanes keys or values at addr as
// float32 into register r.
func (e elem) load(x isa, addr string, r string) {
	if e.shift == 1 {
		p("\tVCVTPH2PS %s, %s", addr, r)
	} else {
		p("\tVMOVUPS %s, %s", addr, r)
	}
}

// rowAddr is the address of row i (i < 6) of a matrix based at base with
// the row stride in s1 (and 3·stride in s3, 5·stride in s5).
func rowAddr(i int, base, s1, s3, s5 string) string {
	switch i {
	case 0:
		return "(" + base + ")"
	case 1:
		return fmt.Sprintf("(%s)(%s*1)", base, s1)
	case 2:
		return fmt.Sprintf("(%s)(%s*2)", base, s1)
	case 3:
		return fmt.Sprintf("(%s)(%s*1)", base, s3)
	case 4:
		return fmt.Sprintf("(%s)(%s*4)", base, s1)
	case 5:
		return fmt.Sprintf("(%s)(%s*1)", base, s5)
	}
	panic("row")
}

func reg(x isa, i int) string { return fmt.Sprintf("%s%d", x.reg, i) }

// scores writes attnScores<E><ISA>(s *float32, ldS int, q *float32, R, hd
// int, kt *E, nb, blk int). Outer loop over groups of key blocks (AVX-512:
// 4 blocks, one zmm each, then single blocks; AVX2: single blocks, two ymm
// each), inner loop over row groups of up to 6 rows; per row group the
// accumulators stay in registers for the hd steps.
func scores(x isa, e elem) {
	name := "attnScores" + e.name + x.name
	p("// func %s(s *float32, ldS int, q *float32, R int, hd int, kt *%s, nb int, blk int)", name, map[int]string{1: "uint16", 2: "float32"}[e.shift])
	p("TEXT ·%s(SB), NOSPLIT, $0-64", name)
	p("\tMOVQ ldS+8(FP), R13")
	p("\tSHLQ $2, R13")
	p("\tMOVQ hd+32(FP), R10")
	p("\tSHLQ $2, R10")
	p("\tLEAQ (R10)(R10*2), R11")
	p("\tLEAQ (R10)(R10*4), R12")
	p("\tMOVQ blk+56(FP), R8")
	p("\tSHLQ $%d, R8", e.shift)
	p("\tLEAQ (R8)(R8*2), R9")
	type group struct{ blocks, vecs int }
	groups := []group{{1, 2}}
	if x.avx512 {
		groups = []group{{4, 4}, {1, 1}}
	}
	for gi, g := range groups {
		pre := fmt.Sprintf("g%d", g.blocks)
		next := "done"
		if gi+1 < len(groups) {
			next = fmt.Sprintf("g%d", groups[gi+1].blocks)
		}
		p("%s:", pre)
		p("\tMOVQ nb+48(FP), AX")
		p("\tCMPQ AX, $%d", g.blocks)
		p("\tJLT %s", next)
		p("\tMOVQ s+0(FP), DI")
		p("\tMOVQ q+16(FP), DX")
		p("\tMOVQ R+24(FP), AX")
		p("%srows:", pre)
		p("\tCMPQ AX, $6")
		p("\tJLT %stail", pre)
		scoreBody(x, e, pre+"n6", 6, g.vecs)
		p("\tLEAQ (R13)(R13*2), SI")
		p("\tADDQ SI, DI")
		p("\tADDQ SI, DI")
		p("\tADDQ R12, DX")
		p("\tADDQ R10, DX")
		p("\tSUBQ $6, AX")
		p("\tJMP %srows", pre)
		p("%stail:", pre)
		for n := 1; n <= 5; n++ {
			p("\tCMPQ AX, $%d", n)
			p("\tJEQ %sn%d", pre, n)
		}
		p("\tJMP %snext", pre)
		for n := 1; n <= 5; n++ {
			p("%sn%d:", pre, n)
			scoreBody(x, e, fmt.Sprintf("%sn%d", pre, n), n, g.vecs)
			p("\tJMP %snext", pre)
		}
		p("%snext:", pre)
		p("\tADDQ $%d, s+0(FP)", 4*16*g.blocks)
		p("\tMOVQ kt+40(FP), SI")
		if g.blocks == 4 {
			p("\tLEAQ (SI)(R8*4), SI")
		} else {
			p("\tADDQ R8, SI")
		}
		p("\tMOVQ SI, kt+40(FP)")
		p("\tSUBQ $%d, nb+48(FP)", g.blocks)
		p("\tJMP %s", pre)
	}
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// scoreBody computes n rows × vecs vectors of scores: DX = first q row,
// DI = first output row, kt+40(FP) = first key block.
func scoreBody(x isa, e elem, label string, n, vecs int) {
	kreg := 28 // first key register
	breg := 27 // broadcast register
	if !x.avx512 {
		kreg, breg = 12, 14
	}
	for a := 0; a < n*vecs; a++ {
		p("\tVXORPS %s, %s, %s", reg(x, a), reg(x, a), reg(x, a))
	}
	p("\tMOVQ DX, BX")
	p("\tMOVQ kt+40(FP), SI")
	p("\tMOVQ hd+32(FP), CX")
	p("%sloop:", label)
	for k := 0; k < vecs; k++ {
		var addr string
		if x.avx512 {
			addr = rowAddr([]int{0, 1, 2, 3}[k], "SI", "R8", "R9", "")
		} else {
			addr = fmt.Sprintf("%d(SI)", k*8*e.size())
		}
		e.load(x, addr, reg(x, kreg+k))
	}
	for i := 0; i < n; i++ {
		qa := rowAddr(i, "BX", "R10", "R11", "R12")
		if vecs == 1 && x.avx512 {
			p("\tVFMADD231PS.BCST %s, %s, %s", qa, reg(x, kreg), reg(x, i))
			continue
		}
		p("\tVBROADCASTSS %s, %s", qa, reg(x, breg))
		for k := 0; k < vecs; k++ {
			p("\tVFMADD231PS %s, %s, %s", reg(x, breg), reg(x, kreg+k), reg(x, i*vecs+k))
		}
	}
	p("\tADDQ $%d, SI", 16*e.size())
	p("\tADDQ $4, BX")
	p("\tDECQ CX")
	p("\tJNZ %sloop", label)
	p("\tMOVQ DI, SI")
	for i := 0; i < n; i++ {
		for k := 0; k < vecs; k++ {
			p("\tVMOVUPS %s, %d(SI)", reg(x, i*vecs+k), 4*x.lanes*k)
		}
		if i < n-1 {
			p("\tADDQ R13, SI")
		}
	}
}

// accum writes attnAccum<E><ISA>(acc *float32, R, hd int, c, p *float32,
// ldP int, v *E, T, ldV int): outer loop over chunks of the head dimension
// (AVX-512: 64 floats, then 16; AVX2: 16, then 8), inner loop over row
// groups of up to 6 rows whose chunk of acc stays in registers while the T
// value rows pass.
func accum(x isa, e elem) {
	name := "attnAccum" + e.name + x.name
	p("// func %s(acc *float32, R int, hd int, c *float32, p *float32, ldP int, v *%s, T int, ldV int)", name, map[int]string{1: "uint16", 2: "float32"}[e.shift])
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ ldP+40(FP), R10")
	p("\tSHLQ $2, R10")
	p("\tLEAQ (R10)(R10*2), R11")
	p("\tLEAQ (R10)(R10*4), R12")
	p("\tMOVQ ldV+64(FP), R8")
	p("\tSHLQ $%d, R8", e.shift)
	p("\tMOVQ hd+16(FP), R9")
	p("\tSHLQ $2, R9")
	type chunk struct{ floats, vecs int }
	chunks := []chunk{{16, 2}, {8, 1}}
	if x.avx512 {
		chunks = []chunk{{64, 4}, {16, 1}}
	}
	for ci, ch := range chunks {
		pre := fmt.Sprintf("c%d", ch.floats)
		next := "done"
		if ci+1 < len(chunks) {
			next = fmt.Sprintf("c%d", chunks[ci+1].floats)
		}
		p("%s:", pre)
		p("\tMOVQ hd+16(FP), AX")
		p("\tCMPQ AX, $%d", ch.floats)
		p("\tJLT %s", next)
		p("\tMOVQ acc+0(FP), DI")
		p("\tMOVQ p+32(FP), DX")
		p("\tMOVQ c+24(FP), R13")
		p("\tMOVQ R+8(FP), AX")
		p("%srows:", pre)
		p("\tCMPQ AX, $6")
		p("\tJLT %stail", pre)
		accumBody(x, e, pre+"n6", 6, ch.vecs)
		p("\tLEAQ (R9)(R9*2), SI")
		p("\tADDQ SI, DI")
		p("\tADDQ SI, DI")
		p("\tADDQ R12, DX")
		p("\tADDQ R10, DX")
		p("\tADDQ $24, R13")
		p("\tSUBQ $6, AX")
		p("\tJMP %srows", pre)
		p("%stail:", pre)
		for n := 1; n <= 5; n++ {
			p("\tCMPQ AX, $%d", n)
			p("\tJEQ %sn%d", pre, n)
		}
		p("\tJMP %snext", pre)
		for n := 1; n <= 5; n++ {
			p("%sn%d:", pre, n)
			accumBody(x, e, fmt.Sprintf("%sn%d", pre, n), n, ch.vecs)
			p("\tJMP %snext", pre)
		}
		p("%snext:", pre)
		p("\tADDQ $%d, acc+0(FP)", 4*ch.floats)
		p("\tADDQ $%d, v+48(FP)", e.size()*ch.floats)
		p("\tSUBQ $%d, hd+16(FP)", ch.floats)
		p("\tJMP %s", pre)
	}
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// accumBody updates n rows × vecs vectors of acc: DI = first acc row
// (chunk offset applied), DX = first p row, R13 = first c entry.
func accumBody(x isa, e elem, label string, n, vecs int) {
	vreg, breg := 28, 27
	if !x.avx512 {
		vreg, breg = 12, 14
	}
	p("\tMOVQ DI, SI")
	for i := 0; i < n; i++ {
		p("\tVBROADCASTSS %d(R13), %s", 4*i, reg(x, breg))
		for k := 0; k < vecs; k++ {
			p("\tVMULPS %d(SI), %s, %s", 4*x.lanes*k, reg(x, breg), reg(x, i*vecs+k))
		}
		if i < n-1 {
			p("\tADDQ R9, SI")
		}
	}
	p("\tMOVQ v+48(FP), SI")
	p("\tMOVQ DX, BX")
	p("\tMOVQ T+56(FP), CX")
	p("\tTESTQ CX, CX")
	p("\tJZ %sstore", label)
	p("%sloop:", label)
	for k := 0; k < vecs; k++ {
		e.load(x, fmt.Sprintf("%d(SI)", k*x.lanes*e.size()), reg(x, vreg+k))
	}
	for i := 0; i < n; i++ {
		pa := rowAddr(i, "BX", "R10", "R11", "R12")
		if vecs == 1 && x.avx512 {
			p("\tVFMADD231PS.BCST %s, %s, %s", pa, reg(x, vreg), reg(x, i))
			continue
		}
		p("\tVBROADCASTSS %s, %s", pa, reg(x, breg))
		for k := 0; k < vecs; k++ {
			p("\tVFMADD231PS %s, %s, %s", reg(x, breg), reg(x, vreg+k), reg(x, i*vecs+k))
		}
	}
	p("\tADDQ R8, SI")
	p("\tADDQ $4, BX")
	p("\tDECQ CX")
	p("\tJNZ %sloop", label)
	p("%sstore:", label)
	p("\tMOVQ DI, SI")
	for i := 0; i < n; i++ {
		for k := 0; k < vecs; k++ {
			p("\tVMOVUPS %s, %d(SI)", reg(x, i*vecs+k), 4*x.lanes*k)
		}
		if i < n-1 {
			p("\tADDQ R9, SI")
		}
	}
}

// The constants of Exp (exp.go), each repeated over 8 lanes so that the
// AVX2 loop can use them as memory operands; the AVX-512 loop broadcasts
// the first lane into registers.
var expConsts = []struct {
	name, val string
}{
	{"lo", "$-87.33654"},
	{"hi", "$88.0"},
	{"log2e", "$1.44269504088896341"},
	{"ln2hi", "$0.693359375"},
	{"ln2lo", "$-2.12194440e-4"},
	{"c0", "$1.9875691500e-4"},
	{"c1", "$1.3981999507e-3"},
	{"c2", "$8.3334519073e-3"},
	{"c3", "$4.1665795894e-2"},
	{"c4", "$1.6666665459e-1"},
	{"c5", "$5.0000001201e-1"},
	{"one", "$1.0"},
	{"bias", "$127"},
	{"ninf", "$0xff800000"},
}

func constOff(name string) int {
	for i, c := range expConsts {
		if c.name == name {
			return 32 * i
		}
	}
	panic(name)
}

func constAddr(name string) string { return fmt.Sprintf("attnk<>+%d(SB)", constOff(name)) }

func constants() {
	for i, c := range expConsts {
		for l := 0; l < 8; l++ {
			p("DATA attnk<>+%d(SB)/4, %s", 32*i+4*l, c.val)
		}
	}
	p("GLOBL attnk<>(SB), RODATA|NOPTR, $%d", 32*len(expConsts))
	p("")
}

// exp emits Exp of register in (clobbered) into dst, clobbering t0 and t1.
// k(name) gives the operand of constant name.
func exp(in, dst, t0, t1 string, k func(string) string) {
	p("\tVMAXPS %s, %s, %s", k("lo"), in, in)
	p("\tVMINPS %s, %s, %s", k("hi"), in, in)
	p("\tVMULPS %s, %s, %s", k("log2e"), in, t1)
	if strings.HasPrefix(in, "Z") {
		p("\tVRNDSCALEPS $0, %s, %s", t1, t1)
	} else {
		p("\tVROUNDPS $0, %s, %s", t1, t1)
	}
	p("\tVMULPS %s, %s, %s", k("ln2hi"), t1, dst)
	p("\tVSUBPS %s, %s, %s", dst, in, in)
	p("\tVMULPS %s, %s, %s", k("ln2lo"), t1, dst)
	p("\tVSUBPS %s, %s, %s", dst, in, in)
	p("\tVCVTPS2DQ %s, %s", t1, t1)
	p("\tVPADDD %s, %s, %s", k("bias"), t1, t1)
	p("\tVPSLLD $23, %s, %s", t1, t1)
	p("\tVMULPS %s, %s, %s", k("c0"), in, dst)
	p("\tVADDPS %s, %s, %s", k("c1"), dst, dst)
	for _, c := range []string{"c2", "c3", "c4", "c5"} {
		p("\tVMULPS %s, %s, %s", in, dst, dst)
		p("\tVADDPS %s, %s, %s", k(c), dst, dst)
	}
	p("\tVMULPS %s, %s, %s", in, in, t0)
	p("\tVMULPS %s, %s, %s", t0, dst, dst)
	p("\tVADDPS %s, %s, %s", in, dst, dst)
	p("\tVADDPS %s, %s, %s", k("one"), dst, dst)
	p("\tVMULPS %s, %s, %s", t1, dst, dst)
}

// softmax writes attnSoftmax<ISA>(s *float32, ldS, R, T int, m, l, c
// *float32) for T a multiple of 16: per row the maximum, then Exp of the
// shifted scores 16 at a time into 16 lane sums (AVX2: two ymm), masked
// entries (−Inf) zeroed, then the lane tree of AttnSoftmax.
func softmax(x isa) {
	name := "attnSoftmax" + x.name
	p("// func %s(s *float32, ldS int, R int, T int, m *float32, l *float32, c *float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-56", name)
	// Registers. AVX-512: constants in Z16..Z29; AVX2: constants from memory.
	var k func(string) string
	if x.avx512 {
		regs := map[string]string{}
		for i, c := range expConsts {
			r := fmt.Sprintf("Z%d", 16+i)
			regs[c.name] = r
			if c.name == "bias" {
				p("\tVPBROADCASTD %s, %s", constAddr(c.name), r)
			} else {
				p("\tVBROADCASTSS %s, %s", constAddr(c.name), r)
			}
		}
		k = func(n string) string { return regs[n] }
	} else {
		k = constAddr
	}
	R := func(i int) string { return reg(x, i) }
	X := func(i int) string { return fmt.Sprintf("X%d", i) }
	Y := func(i int) string { return fmt.Sprintf("Y%d", i) }
	p("\tMOVQ ldS+8(FP), R13")
	p("\tSHLQ $2, R13")
	p("\tMOVQ s+0(FP), DI")
	p("\tMOVQ m+32(FP), R8")
	p("\tMOVQ l+40(FP), R9")
	p("\tMOVQ c+48(FP), R10")
	p("\tMOVQ R+16(FP), AX")
	p("row:")
	p("\tTESTQ AX, AX")
	p("\tJZ done")
	// running maximum in reg 5 (broadcast m[r] to start)
	p("\tVBROADCASTSS (R8), %s", R(5))
	p("\tMOVQ DI, SI")
	p("\tMOVQ T+24(FP), CX")
	p("maxloop:")
	p("\tTESTQ CX, CX")
	p("\tJZ maxdone")
	p("\tVMAXPS (SI), %s, %s", R(5), R(5))
	if !x.avx512 {
		p("\tVMAXPS 32(SI), %s, %s", R(5), R(5))
	}
	p("\tADDQ $64, SI")
	p("\tSUBQ $16, CX")
	p("\tJMP maxloop")
	p("maxdone:")
	if x.avx512 {
		p("\tVEXTRACTF64X4 $1, Z5, Y6")
		p("\tVMAXPS Y6, Y5, Y5")
	}
	p("\tVEXTRACTF128 $1, Y5, X6")
	p("\tVMAXPS X6, X5, X5")
	p("\tVPERMILPS $0x4e, X5, X6")
	p("\tVMAXPS X6, X5, X5")
	p("\tVPERMILPS $0xb1, X5, X6")
	p("\tVMAXPS X6, X5, X5")
	p("\tVBROADCASTSS X5, %s", R(5))
	// all masked?
	p("\tVMOVSS %s, X6", constAddr("ninf"))
	p("\tVUCOMISS X6, X5")
	p("\tJNE live")
	p("\tJPS live")
	p("\tVXORPS %s, %s, %s", R(0), R(0), R(0))
	p("\tMOVQ DI, SI")
	p("\tMOVQ T+24(FP), CX")
	p("zeroloop:")
	p("\tTESTQ CX, CX")
	p("\tJZ zerodone")
	p("\tVMOVUPS %s, (SI)", R(0))
	if !x.avx512 {
		p("\tVMOVUPS %s, 32(SI)", R(0))
	}
	p("\tADDQ $64, SI")
	p("\tSUBQ $16, CX")
	p("\tJMP zeroloop")
	p("zerodone:")
	p("\tMOVL $0x3f800000, (R10)")
	p("\tJMP next")
	p("live:")
	// c = Exp(m - mt), kept in X9 (lane 0)
	p("\tVBROADCASTSS (R8), %s", R(1))
	p("\tVSUBPS %s, %s, %s", R(5), R(1), R(1))
	exp(R(1), R(3), R(0), R(2), k)
	p("\tVMOVAPS %s, X9", X(3))
	p("\tVMOVSS X9, (R10)")
	// lane sums: reg 10 (AVX2: 10 and 11)
	p("\tVXORPS %s, %s, %s", R(10), R(10), R(10))
	if !x.avx512 {
		p("\tVXORPS Y11, Y11, Y11")
	}
	p("\tMOVQ DI, SI")
	p("\tMOVQ T+24(FP), CX")
	p("exploop:")
	p("\tTESTQ CX, CX")
	p("\tJZ expdone")
	halves := 1
	if !x.avx512 {
		halves = 2
	}
	for h := 0; h < halves; h++ {
		off := 32 * h
		p("\tVMOVUPS %d(SI), %s", off, R(4))
		if x.avx512 {
			p("\tVCMPPS $4, %s, %s, K1", k("ninf"), R(4))
		} else {
			p("\tVCMPPS $4, %s, %s, Y7", constAddr("ninf"), R(4))
		}
		p("\tVSUBPS %s, %s, %s", R(5), R(4), R(1))
		exp(R(1), R(3), R(0), R(2), k)
		if x.avx512 {
			p("\tVMOVAPS.Z Z3, K1, Z3")
		} else {
			p("\tVANDPS Y7, Y3, Y3")
		}
		p("\tVMOVUPS %s, %d(SI)", R(3), off)
		p("\tVADDPS %s, %s, %s", R(3), R(10+h), R(10+h))
	}
	p("\tADDQ $64, SI")
	p("\tSUBQ $16, CX")
	p("\tJMP exploop")
	p("expdone:")
	if x.avx512 {
		p("\tVEXTRACTF64X4 $1, Z10, Y11")
		p("\tVADDPS Y11, Y10, Y10")
	} else {
		p("\tVADDPS Y11, Y10, Y10")
	}
	p("\tVEXTRACTF128 $1, %s, %s", Y(10), X(11))
	p("\tVADDPS X11, X10, X10")
	p("\tVMOVHLPS X10, X10, X11")
	p("\tVADDPS X11, X10, X10")
	p("\tVMOVSHDUP X10, X11")
	p("\tVADDSS X11, X10, X10")
	p("\tVMOVSS (R9), X11")
	p("\tVMULSS X9, X11, X11")
	p("\tVADDSS X10, X11, X11")
	p("\tVMOVSS X11, (R9)")
	p("\tVMOVSS X5, (R8)")
	p("next:")
	p("\tADDQ R13, DI")
	p("\tADDQ $4, R8")
	p("\tADDQ $4, R9")
	p("\tADDQ $4, R10")
	p("\tDECQ AX")
	p("\tJMP row")
	p("done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func main() {
	p("// Code generated by attntile_gen.go; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	p("// Attention tile loops (attntile.go): AVX-512 and AVX2 forms of")
	p("// AttnScores, AttnAccum and AttnSoftmax, each chain of operations in one")
	p("// lane as in the reference. Registers: R10-R12 hold 1, 3 and 5 row strides")
	p("// of q (scores) or p (accum), so six rows are addressed without updates.")
	p("")
	constants()
	for _, x := range []isa{avx512, avx2} {
		for _, e := range []elem{f16, f32} {
			scores(x, e)
			accum(x, e)
		}
		softmax(x)
	}
	if err := os.WriteFile("attntile_amd64.s", out.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
