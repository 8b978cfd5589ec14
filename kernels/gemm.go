package kernels

import (
	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/kernels/internal/fgemm"
	"github.com/hilsearch/hilsearch/kernels/internal/qgemm"
)

// Prefill matrix products. When the CPU has a register-blocked GEMM
// micro-kernel (see kernels/internal/qgemm and fgemm) and an op receives at
// least one full token group, MatMul packs the activations once and runs
// the GEMM over row chunks instead of the per-row dot products. Each output
// element is then one fixed sequence of operations over the columns, so the
// result does not depend on the thread count or on how rows are split.
// Smaller quantised batches (decode) use the matrix × vector loops at the
// end of this file; smaller float batches keep the dot products.

// gemmQ and gemmF are chosen once at start-up (false with -tags purego).
var (
	gemmQ = qgemm.Available()
	gemmF = fgemm.Available()
)

// gemmMinTokens: below one 8-token (quantised) or 16-token (float) group
// the packed lanes would be mostly empty; the dot products do better.
const (
	gemmMinTokensQ = qgemm.GroupTokens
	gemmMinTokensF = 16
	// gemmGrain rows per work item: a multiple of both micro-kernels'
	// tile heights (4 and 6), large enough to amortise a tile's setup.
	gemmGrain = 48
)

// gemmScratch allocates the packed-activation buffers for up to maxTokens
// tokens of maxCols columns at weight precision p (and the f16 row scratch
// of each worker). They are allocated whether or not this CPU has the
// micro-kernels, so that memory use matches arch's estimate
// (PrefillPackBytes) on every machine.
func (e *Engine) gemmScratch(p arch.Precision, maxTokens, maxCols int) {
	switch p {
	case arch.Q8_0, arch.Q4_0:
		if maxTokens >= gemmMinTokensQ {
			e.qp = make([]byte, qgemm.PackedBytes(maxTokens, maxCols))
		}
		vb := qgemm.VecBytesQ8(maxCols)
		if p == arch.Q4_0 {
			vb = qgemm.VecBytesQ4(maxCols)
		}
		e.xvBytes = vb
		e.xv = make([]byte, min(maxTokens, gemmMinTokensQ-1)*vb)
	case arch.F32, arch.F16:
		if maxTokens >= gemmMinTokensF {
			e.fp = make([]float32, fgemm.PackedLen(maxTokens, maxCols))
			if p == arch.F16 {
				e.f16sc = make([][]float32, e.pool.Threads())
				for i := range e.f16sc {
					e.f16sc[i] = make([]float32, fgemm.F16Scratch(maxCols))
				}
			}
		}
	}
	e.gemmFn = e.gemmRows
	e.mvFn = e.matVecRows
	e.gemmMultiFn = func(worker, lo, hi int) { e.multiRows(worker, lo, hi, true) }
	e.mvMultiFn = func(worker, lo, hi int) { e.multiRows(worker, lo, hi, false) }
	e.qpackFn = e.qpackGroups
	e.fpackFn = e.fpackGroups
}

func (e *Engine) gemmScratchBytes() int64 {
	b := int64(len(e.qp)) + int64(len(e.xv)) + 4*int64(len(e.fp))
	for _, s := range e.f16sc {
		b += 4 * int64(len(s))
	}
	return b
}

// useGemm reports whether MatMul of n tokens by w takes the GEMM path.
func (e *Engine) useGemm(w *Matrix, n int) bool {
	if w.quantised() {
		return gemmQ && e.qp != nil && n >= gemmMinTokensQ
	}
	if w.Prec == arch.F16 && e.f16sc == nil {
		return false
	}
	return gemmF && e.fp != nil && n >= gemmMinTokensF
}

// gemm runs the packed path of MatMul (arguments in e.mm).
func (e *Engine) gemm() {
	e.pack()
	e.pool.Run(e.mm.w.Rows, gemmGrain, e.gemmFn)
}

// pack quantises (quantised weights) and packs the activations e.mm.x for
// the GEMM of e.mm.w's width and precision.
func (e *Engine) pack() {
	n, w := e.mm.n, e.mm.w
	if w.quantised() {
		e.pool.Run(qgemm.Groups(n), 1, e.qpackFn)
	} else {
		e.pool.Run((n+15)/16, 1, e.fpackFn)
	}
}

// qpackGroups quantises the tokens of 8-token groups [lo, hi) and packs
// them for the quantised GEMM.
func (e *Engine) qpackGroups(_, lo, hi int) {
	a := &e.mm
	c, n := a.w.Cols, a.n
	nb := c / QK
	off := int32(qgemm.OffsetQ8)
	if a.w.Prec == arch.Q4_0 {
		off = qgemm.OffsetQ4
	}
	for g := lo; g < hi; g++ {
		for t := g * qgemm.GroupTokens; t < min(n, (g+1)*qgemm.GroupTokens); t++ {
			quantizeQ8Act(a.x[t*c:(t+1)*c], e.xq[t*c:(t+1)*c], e.xs[t*nb:(t+1)*nb])
		}
		qgemm.PackGroup(e.qp, e.xq[:n*c], e.xs[:n*nb], n, c, g, off)
	}
}

// fpackGroups packs the tokens of 16-token groups [lo, hi) for the float
// GEMM.
func (e *Engine) fpackGroups(_, lo, hi int) {
	a := &e.mm
	c, n := a.w.Cols, a.n
	for g := lo; g < hi; g++ {
		t0 := 16 * g
		fgemm.Pack(e.fp[t0*c:], a.x[t0*c:], min(16, n-t0), c)
	}
}

// gemmRows computes output rows [lo, hi) for every token.
func (e *Engine) gemmRows(worker, lo, hi int) { e.gemmRange(worker, e.mm.dst, e.mm.w, lo, hi) }

// gemmRange computes rows [lo, hi) of dst = w·x for every token from the
// packed activations.
func (e *Engine) gemmRange(worker int, dst []float32, w *Matrix, lo, hi int) {
	n := e.mm.n
	switch w.Prec {
	case arch.Q8_0:
		if w.tiled {
			qgemm.MulRowsQ8Tiled(dst, w.Rows, w.Q, w.Rows, w.Cols, lo, hi, e.qp, n)
			return
		}
		qgemm.MulRowsQ8(dst, w.Rows, w.Q, w.Cols, lo, hi, e.qp, n)
	case arch.Q4_0:
		if w.tiled {
			qgemm.MulRowsQ4Tiled(dst, w.Rows, w.Q, w.Rows, w.Cols, lo, hi, e.qp, n)
			return
		}
		qgemm.MulRowsQ4(dst, w.Rows, w.Q, w.Cols, lo, hi, e.qp, n)
	case arch.F32:
		fgemm.MulRows(dst, w.Rows, w.F32, w.Cols, lo, hi, e.fp, n)
	case arch.F16:
		fgemm.MulRowsF16(dst, w.Rows, w.F16, w.Cols, lo, hi, e.fp, n, e.f16sc[worker])
	}
}

// useMatVec reports whether MatMul of n tokens by w runs the packed
// matrix × vector loops (quantised weights, fewer tokens than a GEMM
// group: decode).
func (e *Engine) useMatVec(w *Matrix, n int) bool {
	return gemmQ && w.quantised() && n < gemmMinTokensQ && e.xvBytes > 0 && n*e.xvBytes <= len(e.xv)
}

// matVec quantises and packs each of the n tokens (serially: n < 8) and
// runs the matrix × vector loops over row chunks.
func (e *Engine) matVec(grain int) {
	e.packVecs()
	e.pool.Run(e.mm.w.Rows, grain, e.mvFn)
}

// packVecs quantises and packs each of the n tokens of e.mm.x for the
// matrix × vector loops of e.mm.w's width and precision.
func (e *Engine) packVecs() {
	a := &e.mm
	c := a.w.Cols
	nb := c / QK
	for t := 0; t < a.n; t++ {
		xq, xs := e.xq[t*c:(t+1)*c], e.xs[t*nb:(t+1)*nb]
		quantizeQ8Act(a.x[t*c:(t+1)*c], xq, xs)
		v := e.xv[t*e.xvBytes : (t+1)*e.xvBytes]
		switch {
		case a.w.tiled && a.w.Prec == arch.Q4_0:
			qgemm.PackVecQ4Tiled(v, xq, xs, c)
		case a.w.tiled:
			qgemm.PackVecQ8Tiled(v, xq, xs, c)
		case a.w.Prec == arch.Q4_0:
			qgemm.PackVecQ4(v, xq, xs, c)
		default:
			qgemm.PackVecQ8(v, xq, xs, c)
		}
	}
}

// matVecRows computes rows [lo, hi) of every token's output.
func (e *Engine) matVecRows(worker, lo, hi int) { e.matVecRange(worker, e.mm.dst, e.mm.w, lo, hi) }

// matVecRange computes rows [lo, hi) of dst = w·x for every token from the
// packed vectors.
func (e *Engine) matVecRange(_ int, dst []float32, w *Matrix, lo, hi int) {
	for t := 0; t < e.mm.n; t++ {
		out := dst[t*w.Rows : (t+1)*w.Rows]
		v := e.xv[t*e.xvBytes : (t+1)*e.xvBytes]
		switch {
		case w.tiled && w.Prec == arch.Q4_0:
			qgemm.MatVecQ4Tiled(out, w.Q, w.Rows, w.Cols, lo, hi, v)
		case w.tiled:
			qgemm.MatVecQ8Tiled(out, w.Q, w.Rows, w.Cols, lo, hi, v)
		case w.Prec == arch.Q4_0:
			qgemm.MatVecQ4(out, w.Q, w.Cols, lo, hi, v)
		default:
			qgemm.MatVecQ8(out, w.Q, w.Cols, lo, hi, v)
		}
	}
}
