//go:build ignore

// attntile_neon_gen writes attntile_arm64.s and state_arm64.s, the NEON
// loops of the attention tile routines (attntile.go) and of StateStep
// (state.go). Every loop is unrolled for each number of query rows (1..4)
// and chunk width it handles at once, which is tedious to keep consistent
// by hand. Run with `go generate` in this directory (the directive is in
// attntile_arm64.go).
//
// Every output lane is one chain of operations in the reference's order:
// FMLA by element (Vd.4S += Vn.4S · Vm.S[i]) rounds once per step, as
// FMA32 does; FMUL then FADD where the reference rounds the product. The
// instructions the Go assembler lacks come from neon_arm64.h.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

// elem is the storage type of keys and values.
type elem struct {
	name  string // "F16" or "F32"
	goTyp string
	shift int // log2 of the element size
}

var (
	f16 = elem{"F16", "uint16", 1}
	f32 = elem{"F32", "float32", 2}
)

// vlist is the register list [Va.T, ..., Vb.T] of n registers from a.
func vlist(a, n int, t string) string {
	var s []string
	for i := 0; i < n; i++ {
		s = append(s, fmt.Sprintf("V%d.%s", a+i, t))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// loadLanes loads 4·nv consecutive elements at ptr (post-incremented by
// inc: "$bytes" or a register) as float32 into V(dst)..V(dst+nv−1), nv in
// {1, 2, 4, 8} (8: f32 by two loads through tmp; f16 by one load of four
// registers converted in place).
func loadLanes(e elem, ptr, inc string, dst, nv int, tmp string) {
	post := func(list string) {
		if strings.HasPrefix(inc, "$") {
			p("\tVLD1.P %s(%s), %s", inc[1:], ptr, list)
		} else {
			p("\tVLD1.P (%s)(%s), %s", ptr, inc, list)
		}
	}
	if e.shift == 2 {
		if nv <= 4 {
			post(vlist(dst, nv, "S4"))
			return
		}
		p("\tMOVD %s, %s", ptr, tmp)
		p("\tVLD1.P 64(%s), %s", tmp, vlist(dst, 4, "S4"))
		p("\tVLD1 (%s), %s", tmp, vlist(dst+4, nv-4, "S4"))
		p("\tADD %s, %s", inc, ptr)
		return
	}
	if nv == 1 {
		post(vlist(dst, 1, "H4"))
		p("\tFCVTL4(%d, %d)", dst, dst)
		return
	}
	// nv/2 registers of eight halves, widened from the top down so that
	// no register is overwritten before it is read.
	post(vlist(dst, nv/2, "H8"))
	for k := nv/2 - 1; k >= 0; k-- {
		p("\tFCVTL8(%d, %d)", dst+2*k+1, dst+k)
		p("\tFCVTL4(%d, %d)", dst+2*k, dst+k)
	}
}

func zero(a, n int) {
	for i := a; i < a+n; i++ {
		p("\tVEOR V%d.B16, V%d.B16, V%d.B16", i, i, i)
	}
}

// scores writes attnScores<E>NEON(s *float32, ldS int, q *float32, R, hd
// int, kt *E, nb, blk int).
//
// Registers: R0 s at the current key block, R1 ldS in bytes, R2 q, R3 R,
// R4 hd, R5 kt at the current block, R6 blocks left, R7 blk in bytes, R8
// hd in bytes; per pass R10 q and R11 s of the row group, R12-R15 the
// rows of q, R19/R20 the key blocks, R9 dimensions left. V0-V15 the
// accumulators (row r, block b, keys 4k..4k+3 in V(4(r·nbk+b)+k)),
// V16-V23 one dimension of the keys (block b in V16+4b..), V24-V27 four
// dimensions of q per row (row r in V24+r, multiplied by element).
//
// Outer loop over key blocks: with at most two rows two blocks per pass
// (8 or 16 accumulators), else one block per pass and groups of four rows
// then the remaining 1..3.
func scores(e elem) {
	name := "attnScores" + e.name + "NEON"
	p("// func %s(s *float32, ldS int, q *float32, R int, hd int, kt *%s, nb int, blk int)", name, e.goTyp)
	p("TEXT ·%s(SB), NOSPLIT, $0-64", name)
	p("\tMOVD s+0(FP), R0")
	p("\tMOVD ldS+8(FP), R1")
	p("\tMOVD q+16(FP), R2")
	p("\tMOVD R+24(FP), R3")
	p("\tMOVD hd+32(FP), R4")
	p("\tMOVD kt+40(FP), R5")
	p("\tMOVD nb+48(FP), R6")
	p("\tMOVD blk+56(FP), R7")
	p("\tLSL $2, R1, R1")
	p("\tLSL $%d, R7, R7", e.shift)
	p("\tLSL $2, R4, R8")
	p("")
	p("blocks:")
	p("\tCBZ R6, done")
	p("\tCMP $2, R3")
	p("\tBGT single")
	p("\tCMP $2, R6")
	p("\tBLT single")
	p("\tMOVD R2, R10")
	p("\tMOVD R0, R11")
	p("\tCMP $1, R3")
	p("\tBEQ pair1")
	scoreBody(e, "p2", 2, 2)
	p("\tB pairnext")
	p("pair1:")
	scoreBody(e, "p1", 1, 2)
	p("pairnext:")
	p("\tADD $128, R0")
	p("\tADD R7<<1, R5")
	p("\tSUB $2, R6")
	p("\tB blocks")
	p("")
	p("single:")
	p("\tMOVD R2, R10")
	p("\tMOVD R0, R11")
	p("\tMOVD R3, R22")
	p("g4:")
	p("\tCMP $4, R22")
	p("\tBLT g3")
	scoreBody(e, "g4", 4, 1)
	p("\tADD R8<<2, R10")
	p("\tADD R1<<2, R11")
	p("\tSUB $4, R22")
	p("\tB g4")
	p("g3:")
	p("\tCMP $3, R22")
	p("\tBNE g2")
	scoreBody(e, "g3", 3, 1)
	p("\tB gdone")
	p("g2:")
	p("\tCMP $2, R22")
	p("\tBNE g1")
	scoreBody(e, "g2", 2, 1)
	p("\tB gdone")
	p("g1:")
	p("\tCBZ R22, gdone")
	scoreBody(e, "g1", 1, 1)
	p("gdone:")
	p("\tADD $64, R0")
	p("\tADD R7, R5")
	p("\tSUB $1, R6")
	p("\tB blocks")
	p("")
	p("done:")
	p("\tRET")
	p("")
}

// scoreBody computes n rows × nbk key blocks of scores: q rows from R10
// (stride R8), scores to R11 (row stride R1), keys from R5 (block stride
// R7).
func scoreBody(e elem, pre string, n, nbk int) {
	qr := []string{"R12", "R13", "R14", "R15"}
	kr := []string{"R19", "R20"}
	p("\tMOVD R10, R12")
	for r := 1; r < n; r++ {
		p("\tADD R8, %s, %s", qr[r-1], qr[r])
	}
	p("\tMOVD R5, R19")
	if nbk == 2 {
		p("\tADD R7, R5, R20")
	}
	zero(0, 4*n*nbk)
	p("\tMOVD R4, R9")
	step := func(i int) {
		for b := 0; b < nbk; b++ {
			loadLanes(e, kr[b], fmt.Sprintf("$%d", 16<<e.shift), 16+4*b, 4, "")
		}
		for r := 0; r < n; r++ {
			for b := 0; b < nbk; b++ {
				for k := 0; k < 4; k++ {
					p("\tFMLAE(%d, %d, %d, %d)", 4*(r*nbk+b)+k, 16+4*b+k, 24+r, i)
				}
			}
		}
	}
	p("%sd4:", pre)
	p("\tCMP $4, R9")
	p("\tBLT %sd1", pre)
	for r := 0; r < n; r++ {
		p("\tVLD1.P 16(%s), [V%d.S4]", qr[r], 24+r)
	}
	for i := 0; i < 4; i++ {
		step(i)
	}
	p("\tSUB $4, R9")
	p("\tB %sd4", pre)
	p("%sd1:", pre)
	p("\tCBZ R9, %sst", pre)
	for r := 0; r < n; r++ {
		p("\tFMOVS.P 4(%s), F%d", qr[r], 24+r)
	}
	step(0)
	p("\tSUB $1, R9")
	p("\tB %sd1", pre)
	p("%sst:", pre)
	storeRows(n, nbk)
}

// storeRows stores the n × nbk accumulator blocks: row r at R11 + r·R1.
func storeRows(n, nbk int) {
	p("\tMOVD R11, R21")
	for r := 0; r < n; r++ {
		if r > 0 {
			p("\tADD R1, R21, R21")
		}
		p("\tMOVD R21, R23")
		for b := 0; b < nbk; b++ {
			p("\tVST1.P %s, 64(R23)", vlist(4*(r*nbk+b), 4, "S4"))
		}
	}
}

// accum writes attnAccum<E>NEON(acc *float32, R, hd int, c, p *float32,
// ldP int, v *E, T, ldV int) for hd a multiple of 4 and T ≥ 1.
//
// Registers: R0 acc, R3 c and R4 p at the current row group, R1 rows
// left, R2 hd, R5 ldP and R8 ldV in bytes, R6 v, R7 T, R9 hd in bytes;
// per group R14 (acc) and R15 (v) walk the chunks of the head, R16 floats
// left; per chunk R17, R19, R20, R23 the rows of p, R24 the value row, R13
// keys left. V0-V15 the running sums (row r, floats 4k..4k+3 of the chunk
// in V(r·nv+k)), V16-V23 one value row's chunk, V24-V27 four weights per
// row (row r in V24+r, multiplied by element), V28 the row's c.
//
// Groups of four rows then the remaining 1..3; per group, chunks of 32
// floats (one or two rows) or 16 (three or four rows), then of 4.
func accum(e elem) {
	name := "attnAccum" + e.name + "NEON"
	p("// func %s(acc *float32, R int, hd int, c *float32, p *float32, ldP int, v *%s, T int, ldV int)", name, e.goTyp)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVD acc+0(FP), R0")
	p("\tMOVD R+8(FP), R1")
	p("\tMOVD hd+16(FP), R2")
	p("\tMOVD c+24(FP), R3")
	p("\tMOVD p+32(FP), R4")
	p("\tMOVD ldP+40(FP), R5")
	p("\tMOVD v+48(FP), R6")
	p("\tMOVD T+56(FP), R7")
	p("\tMOVD ldV+64(FP), R8")
	p("\tLSL $2, R5, R5")
	p("\tLSL $%d, R8, R8", e.shift)
	p("\tLSL $2, R2, R9")
	p("g4:")
	p("\tCMP $4, R1")
	p("\tBLT g3")
	accGroup(e, "g4", 4)
	p("\tADD R9<<2, R0")
	p("\tADD $16, R3")
	p("\tADD R5<<2, R4")
	p("\tSUB $4, R1")
	p("\tB g4")
	p("g3:")
	p("\tCMP $3, R1")
	p("\tBNE g2")
	accGroup(e, "g3", 3)
	p("\tB done")
	p("g2:")
	p("\tCMP $2, R1")
	p("\tBNE g1")
	accGroup(e, "g2", 2)
	p("\tB done")
	p("g1:")
	p("\tCBZ R1, done")
	accGroup(e, "g1", 1)
	p("done:")
	p("\tRET")
	p("")
}

// accGroup runs the chunks of the head for the n rows at R0 (acc), R3 (c)
// and R4 (p).
func accGroup(e elem, pre string, n int) {
	widths := []int{4, 1}
	if n <= 2 {
		widths = []int{8, 4, 1}
	}
	p("\tMOVD R0, R14")
	p("\tMOVD R6, R15")
	p("\tMOVD R2, R16")
	for wi, nv := range widths {
		lbl := fmt.Sprintf("%sw%d", pre, nv)
		next := pre + "end"
		if wi+1 < len(widths) {
			next = fmt.Sprintf("%sw%d", pre, widths[wi+1])
		}
		p("%s:", lbl)
		p("\tCMP $%d, R16", 4*nv)
		p("\tBLT %s", next)
		accChunk(e, lbl, n, nv)
		p("\tADD $%d, R14", 16*nv)
		p("\tADD $%d, R15", (4*nv)<<e.shift)
		p("\tSUB $%d, R16", 4*nv)
		p("\tB %s", lbl)
	}
	p("%send:", pre)
}

// accRows loads (or stores) nv registers of each of the n running sums
// of the chunk at R14 (row stride R9).
func accRows(n, nv int, store bool) {
	p("\tMOVD R14, R21")
	for r := 0; r < n; r++ {
		if r > 0 {
			p("\tADD R9, R21, R21")
		}
		op := "VLD1"
		if store {
			op = "VST1"
		}
		arg := func(addr, list string) string {
			if store {
				return list + ", " + addr
			}
			return addr + ", " + list
		}
		if nv <= 4 {
			p("\t%s %s", op, arg("(R21)", vlist(r*nv, nv, "S4")))
		} else {
			p("\tMOVD R21, R22")
			p("\t%s.P %s", op, arg("64(R22)", vlist(r*nv, 4, "S4")))
			p("\t%s %s", op, arg("(R22)", vlist(r*nv+4, nv-4, "S4")))
		}
		if !store {
			p("\tFMOVS %d(R3), F28", 4*r)
			for k := 0; k < nv; k++ {
				p("\tFMULE(%d, %d, 28, 0)", r*nv+k, r*nv+k)
			}
		}
	}
}

func accChunk(e elem, pre string, n, nv int) {
	pr := []string{"R17", "R19", "R20", "R23"}
	accRows(n, nv, false)
	p("\tMOVD R4, R17")
	for r := 1; r < n; r++ {
		p("\tADD R5, %s, %s", pr[r-1], pr[r])
	}
	p("\tMOVD R15, R24")
	p("\tMOVD R7, R13")
	step := func(i int) {
		loadLanes(e, "R24", "R8", 16, nv, "R22")
		for r := 0; r < n; r++ {
			for k := 0; k < nv; k++ {
				p("\tFMLAE(%d, %d, %d, %d)", r*nv+k, 16+k, 24+r, i)
			}
		}
	}
	p("%sj4:", pre)
	p("\tCMP $4, R13")
	p("\tBLT %sj1", pre)
	for r := 0; r < n; r++ {
		p("\tVLD1.P 16(%s), [V%d.S4]", pr[r], 24+r)
	}
	for i := 0; i < 4; i++ {
		step(i)
	}
	p("\tSUB $4, R13")
	p("\tB %sj4", pre)
	p("%sj1:", pre)
	p("\tCBZ R13, %sst", pre)
	for r := 0; r < n; r++ {
		p("\tFMOVS.P 4(%s), F%d", pr[r], 24+r)
	}
	step(0)
	p("\tSUB $1, R13")
	p("\tB %sj1", pre)
	p("%sst:", pre)
	accRows(n, nv, true)
}

// softmax writes attnSoftmaxNEON(s *float32, ldS, R, T int, m, l, c
// *float32) for T a positive multiple of 16.
//
// Registers: R0 the row, R1 ldS in bytes, R2 rows left, R3 T, R4 m, R5 l,
// R6 c (advanced per row), R10/R11 pointer and count within the row.
// V16-V29 Exp's constants (EXPCONSTS), V31 −Inf in every lane, V30 the
// row's maximum mt in every lane, V12 c; V8-V11 the 16 lane sums (lanes
// 4k..4k+3 in V8+k); V0-V7 and V13/V14 Exp's inputs and temporaries, V2/V3
// the masks of −Inf entries.
//
// Per row: the maximum over m[r] and the row in four registers, reduced by
// FMAX (order does not matter for a maximum; FMAX is what Go's max
// compiles to on arm64); then per 8 entries Exp(s − mt) (EXP4), cleared
// where s = −Inf (FCMEQ, BIC), added into the lane sums and stored. The
// lane sums are folded as in the reference: V8 += V10, V9 += V11, V8 += V9,
// then lanes 0,1 += lanes 2,3 (EXT by 8 bytes) and lane 0 + lane 1 (FADDP).
func softmax() {
	p("// func attnSoftmaxNEON(s *float32, ldS int, R int, T int, m *float32, l *float32, c *float32)")
	p("TEXT ·attnSoftmaxNEON(SB), NOSPLIT, $0-56")
	p("\tMOVD s+0(FP), R0")
	p("\tMOVD ldS+8(FP), R1")
	p("\tMOVD R+16(FP), R2")
	p("\tMOVD T+24(FP), R3")
	p("\tMOVD m+32(FP), R4")
	p("\tMOVD l+40(FP), R5")
	p("\tMOVD c+48(FP), R6")
	p("\tLSL $2, R1, R1")
	p("\tEXPCONSTS")
	p("\tMOVW $0xff800000, R7")
	p("\tVDUP R7, V31.S4")
	p("")
	p("row:")
	p("\tCBZ R2, done")
	p("\tFMOVS (R4), F0")
	p("\tVDUP V0.S[0], V0.S4")
	p("\tVDUP V0.S[0], V1.S4")
	p("\tVDUP V0.S[0], V2.S4")
	p("\tVDUP V0.S[0], V3.S4")
	p("\tMOVD R0, R10")
	p("\tMOVD R3, R11")
	p("max:")
	p("\tVLD1.P 64(R10), %s", vlist(4, 4, "S4"))
	for k := 0; k < 4; k++ {
		p("\tFMAX4(%d, %d, %d)", k, k, 4+k)
	}
	p("\tSUBS $16, R11")
	p("\tBNE max")
	p("\tFMAX4(0, 0, 1)")
	p("\tFMAX4(2, 2, 3)")
	p("\tFMAX4(0, 0, 2)")
	p("\tFMAXV4(0, 0)")
	p("\tFCMPS F31, F0")
	p("\tBNE live")
	p("")
	p("\t// every entry masked and nothing seen: zeros, c = 1")
	zero(0, 4)
	p("\tMOVD R0, R10")
	p("\tMOVD R3, R11")
	p("clear:")
	p("\tVST1.P %s, 64(R10)", vlist(0, 4, "S4"))
	p("\tSUBS $16, R11")
	p("\tBNE clear")
	p("\tFMOVS F27, (R6)")
	p("\tB next")
	p("")
	p("live:")
	p("\tVDUP V0.S[0], V30.S4")
	p("\tFMOVS (R4), F1")
	p("\tFSUBS F0, F1, F1")
	p("\tEXP4(1, 2, 3, 12)")
	p("\tFMOVS F12, (R6)")
	zero(8, 4)
	p("\tMOVD R0, R10")
	p("\tMOVD R3, R11")
	p("exp:")
	for h := 0; h < 2; h++ {
		p("\tVLD1 (R10), %s", vlist(0, 2, "S4"))
		p("\tFCMEQ4(2, 0, 31)")
		p("\tFCMEQ4(3, 1, 31)")
		p("\tFSUB4(0, 0, 30)")
		p("\tFSUB4(1, 1, 30)")
		p("\tEXP4(0, 4, 5, 6)")
		p("\tEXP4(1, 7, 13, 14)")
		p("\tBIC16(6, 6, 2)")
		p("\tBIC16(14, 14, 3)")
		p("\tFADD4(%d, %d, 6)", 8+2*h, 8+2*h)
		p("\tFADD4(%d, %d, 14)", 9+2*h, 9+2*h)
		p("\tVST1.P [V6.S4], 16(R10)")
		p("\tVST1.P [V14.S4], 16(R10)")
	}
	p("\tSUBS $16, R11")
	p("\tBNE exp")
	p("\tFADD4(8, 8, 10)")
	p("\tFADD4(9, 9, 11)")
	p("\tFADD4(8, 8, 9)")
	p("\tEXT8(9, 8)")
	p("\tFADD4(8, 8, 9)")
	p("\tFADDP2(8, 8)")
	p("\tFMOVS (R5), F0")
	p("\tFMULS F12, F0, F0")
	p("\tFADDS F8, F0, F0")
	p("\tFMOVS F0, (R5)")
	p("\tFMOVS F30, (R4)")
	p("")
	p("next:")
	p("\tADD R1, R0")
	p("\tADD $4, R4")
	p("\tADD $4, R5")
	p("\tADD $4, R6")
	p("\tSUB $1, R2")
	p("\tB row")
	p("")
	p("done:")
	p("\tRET")
	p("")
}

// stateStep writes stateStepNEON(s *float32, w, R int, a, b, c, x, y
// *float32) for w a multiple of 4 and R ≥ 1.
//
// Registers: R0 s, R1 w in bytes (the row stride), R2 R, R3-R5 a, b, c,
// R6 x and R7 y at the current chunk, R8 floats left, R10 the chunk's
// column in s; per chunk R12 the row, R13-R15 a, b, c, R16 rows left.
// V0-V7 the chunk of y, V8-V15 the chunk of x (both stay while the rows
// pass), V16-V23 the row's chunk, V24-V26 four values of a, b, c
// (multiplied by element). Chunks of 32 floats, then 4; rows four at a
// time, then one at a time. Per row and lane: FMUL by a (Scale), FMLA
// with x·b (Axpy, which the Go compiler fuses into FMADD on arm64), store,
// FMLA of y with the new row·c.
func stateStep() {
	p("// func stateStepNEON(s *float32, w int, R int, a *float32, b *float32, c *float32, x *float32, y *float32)")
	p("TEXT ·stateStepNEON(SB), NOSPLIT, $0-64")
	p("\tMOVD s+0(FP), R0")
	p("\tMOVD w+8(FP), R8")
	p("\tMOVD R+16(FP), R2")
	p("\tMOVD a+24(FP), R3")
	p("\tMOVD b+32(FP), R4")
	p("\tMOVD c+40(FP), R5")
	p("\tMOVD x+48(FP), R6")
	p("\tMOVD y+56(FP), R7")
	p("\tLSL $2, R8, R1")
	p("\tMOVD R0, R10")
	widths := []int{8, 1}
	for wi, nv := range widths {
		lbl := fmt.Sprintf("w%d", nv)
		next := "done"
		if wi+1 < len(widths) {
			next = fmt.Sprintf("w%d", widths[wi+1])
		}
		p("%s:", lbl)
		p("\tCMP $%d, R8", 4*nv)
		p("\tBLT %s", next)
		load := func(ptr string, dst int) {
			if nv <= 4 {
				p("\tVLD1 (%s), %s", ptr, vlist(dst, nv, "S4"))
				return
			}
			p("\tMOVD %s, R17", ptr)
			p("\tVLD1.P 64(R17), %s", vlist(dst, 4, "S4"))
			p("\tVLD1 (R17), %s", vlist(dst+4, nv-4, "S4"))
		}
		store := func(ptr string, src int) {
			if nv <= 4 {
				p("\tVST1 %s, (%s)", vlist(src, nv, "S4"), ptr)
				return
			}
			p("\tMOVD %s, R17", ptr)
			p("\tVST1.P %s, 64(R17)", vlist(src, 4, "S4"))
			p("\tVST1 %s, (R17)", vlist(src+4, nv-4, "S4"))
		}
		load("R7", 0)
		load("R6", 8)
		p("\tMOVD R10, R12")
		p("\tMOVD R3, R13")
		p("\tMOVD R4, R14")
		p("\tMOVD R5, R15")
		p("\tMOVD R2, R16")
		row := func(i int) {
			load("R12", 16)
			for k := 0; k < nv; k++ {
				p("\tFMULE(%d, %d, 24, %d)", 16+k, 16+k, i)
			}
			for k := 0; k < nv; k++ {
				p("\tFMLAE(%d, %d, 25, %d)", 16+k, 8+k, i)
			}
			store("R12", 16)
			for k := 0; k < nv; k++ {
				p("\tFMLAE(%d, %d, 26, %d)", k, 16+k, i)
			}
			p("\tADD R1, R12")
		}
		p("%sr4:", lbl)
		p("\tCMP $4, R16")
		p("\tBLT %sr1", lbl)
		p("\tVLD1.P 16(R13), [V24.S4]")
		p("\tVLD1.P 16(R14), [V25.S4]")
		p("\tVLD1.P 16(R15), [V26.S4]")
		for i := 0; i < 4; i++ {
			row(i)
		}
		p("\tSUB $4, R16")
		p("\tB %sr4", lbl)
		p("%sr1:", lbl)
		p("\tCBZ R16, %sst", lbl)
		p("\tFMOVS.P 4(R13), F24")
		p("\tFMOVS.P 4(R14), F25")
		p("\tFMOVS.P 4(R15), F26")
		row(0)
		p("\tSUB $1, R16")
		p("\tB %sr1", lbl)
		p("%sst:", lbl)
		store("R7", 0)
		p("\tADD $%d, R6", 16*nv)
		p("\tADD $%d, R7", 16*nv)
		p("\tADD $%d, R10", 16*nv)
		p("\tSUB $%d, R8", 4*nv)
		p("\tB %s", lbl)
	}
	p("done:")
	p("\tRET")
}

func main() {
	p("// Code generated by attntile_neon_gen.go; DO NOT EDIT.")
	p("")
	p("//go:build arm64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	p("#include \"neon_arm64.h\"")
	p("#include \"exp_arm64.h\"")
	p("")
	p("// Attention tile loops (attntile.go) with NEON: AttnScores, AttnAccum and")
	p("// AttnSoftmax, each chain of operations in one lane as in the reference.")
	p("")
	for _, e := range []elem{f16, f32} {
		scores(e)
		accum(e)
	}
	softmax()
	write("attntile_arm64.s")

	p("// Code generated by attntile_neon_gen.go; DO NOT EDIT.")
	p("")
	p("//go:build arm64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	p("#include \"neon_arm64.h\"")
	p("")
	p("// StateStep (state.go) with NEON.")
	p("")
	stateStep()
	write("state_arm64.s")
}

func write(name string) {
	if err := os.WriteFile(name, out.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out.Reset()
}
