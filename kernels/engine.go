package kernels

import (
	"fmt"

	"github.com/hilsearch/hilsearch/arch"
)

// Engine runs the parallel ops of one model on one worker pool. It owns the
// scratch the ops need (quantised activations, per-worker rows) sized once
// by NewEngine for a maximum batch of tokens and maximum matrix width, so
// the ops never allocate. An Engine is used by one goroutine at a time.
type Engine struct {
	pool      *Pool
	maxTokens int
	maxCols   int

	xq  []int8    // quantised activations [maxTokens·maxCols]
	xs  []float32 // their per-block scales [maxTokens·maxCols/32]
	xp  []uint64  // activations of 4-token groups packed for the integer dots
	x1  []uint64  // q4_0: tokens outside full groups packed in pairs
	x1s []int32   // their per-block sums
	row [][]float32
	// acc8 is each worker's result array for the 8-token dots
	acc8 [][8]float32

	// parameters of the op in flight, read by the bound loop bodies below
	mm      mmArgs
	mmFn    func(worker, lo, hi int)
	quantFn func(worker, lo, hi int)

	attn      attnScratch
	attnP     attnPass
	attnFn    func(worker, lo, hi int)
	kvStore   kvStoreArgs
	kvStoreFn func(worker, lo, hi int)

	gla   glaArgs
	glaFn func(worker, lo, hi int)

	ssm   ssmArgs
	ssmFn func(worker, lo, hi int)

	// prefill GEMM (gemm.go): packed activations and f16 row scratch
	qp      []byte
	xv      []byte // decode: each token packed for qgemm.MatVecQ4/Q8
	xvBytes int
	mvFn    func(worker, lo, hi int)
	fp      []float32
	f16sc   [][]float32
	gemmFn  func(worker, lo, hi int)
	// MatMuls: the GEMM and matrix × vector passes over several products
	gemmMultiFn, mvMultiFn func(worker, lo, hi int)
	qpackFn, fpackFn       func(worker, lo, hi int)
}

type mmArgs struct {
	dst []float32
	w   *Matrix
	x   []float32
	n   int
	// MatMuls: the products sharing x, and each one's end in the
	// concatenation of their rows
	np    int
	prods [maxProducts]MatProduct
	ends  [maxProducts]int
}

// maxProducts bounds the products of one MatMuls call (the gated linear
// attention's five projections).
const maxProducts = 5

// MatProduct is one product of a MatMuls call: Dst = W·x.
type MatProduct struct {
	Dst []float32
	W   *Matrix
}

// EngineConfig sizes an Engine's scratch.
type EngineConfig struct {
	// Threads is the number of workers (≥ 1).
	Threads int
	// MaxTokens is the largest batch of token rows an op receives.
	MaxTokens int
	// MaxCols is the widest matrix input (columns).
	MaxCols int
	// MaxGroup and MaxHeadDim bound attention: query heads per kv head and
	// head width.
	MaxGroup, MaxHeadDim int
	// MaxHeads bounds attention's query heads (a sliding-window prompt that
	// wraps its ring keeps a running maximum and sum per token and head
	// between two passes); 0 means MaxGroup.
	MaxHeads int
	// WorkerFloats is the per-worker scratch the recurrent ops need
	// (see GLAScratchFloats and SSMScratchFloats).
	WorkerFloats int
	// Prec is the weight precision of the matrices; it decides which
	// prefill GEMM buffers are allocated (none when empty).
	Prec arch.Precision
	// WorkerStart is the pool's start hook (NewPoolWith); nil for none.
	WorkerStart func(worker int)
}

// NewEngine creates an engine and starts its workers.
func NewEngine(cfg EngineConfig) *Engine {
	maxTokens, maxCols, maxGroup, maxHeadDim := cfg.MaxTokens, cfg.MaxCols, cfg.MaxGroup, cfg.MaxHeadDim
	recurrentScratch := cfg.WorkerFloats
	e := &Engine{pool: NewPoolWith(cfg.Threads, cfg.WorkerStart), maxTokens: maxTokens, maxCols: maxCols}
	nb := (maxCols + QK - 1) / QK
	e.xq = make([]int8, maxTokens*nb*QK)
	e.xs = make([]float32, maxTokens*nb)
	e.x1 = make([]uint64, 3*nb*16)
	e.x1s = make([]int32, 3*nb)
	if maxTokens >= 4 {
		e.xp = make([]uint64, maxTokens/4*2*nb*QK)
	}
	n := e.pool.Threads()
	e.row = make([][]float32, n)
	e.acc8 = make([][8]float32, n)
	for i := range e.row {
		e.row[i] = make([]float32, max(maxCols, recurrentScratch))
	}
	e.attn = newAttnScratch(n, maxTokens, cfg.MaxHeads, maxGroup, maxHeadDim)
	e.mmFn = e.mmRows
	e.quantFn = e.quantRows
	e.attnFn = e.attnItems
	e.kvStoreFn = e.kvStoreItems
	e.glaFn = e.glaHeads
	e.ssmFn = e.ssmHeads
	e.gemmScratch(cfg.Prec, maxTokens, maxCols)
	return e
}

// ScratchBytes returns the bytes of scratch the engine allocated.
func (e *Engine) ScratchBytes() int64 {
	b := int64(len(e.xq)) + 4*int64(len(e.xs)) + 8*int64(len(e.xp)+len(e.x1)) + 4*int64(len(e.x1s))
	for i := range e.row {
		b += 4 * int64(len(e.row[i]))
	}
	return b + e.attn.bytes() + e.gemmScratchBytes()
}

// Threads returns the number of workers.
func (e *Engine) Threads() int { return e.pool.Threads() }

// Close stops the engine's workers.
func (e *Engine) Close() { e.pool.Close() }

// MatMul computes dst[t·Rows+r] = Σ_c w[r,c]·x[t·Cols+c] for the n token
// rows of x. Quantised weights use q8 activations quantised per 32-block.
// n = 1 is the matrix × vector case.
func (e *Engine) MatMul(dst []float32, w *Matrix, x []float32, n int) error {
	if n < 1 || n > e.maxTokens || w.Cols > e.maxCols {
		return fmt.Errorf("matmul: %d tokens × %d cols exceeds the engine's %d × %d", n, w.Cols, e.maxTokens, e.maxCols)
	}
	if len(x) < n*w.Cols || len(dst) < n*w.Rows {
		return fmt.Errorf("matmul: buffers too short for %d×[%d,%d]", n, w.Rows, w.Cols)
	}
	e.mm = mmArgs{dst: dst, w: w, x: x, n: n}
	if e.useGemm(w, n) {
		e.gemm()
		e.mm = mmArgs{}
		return nil
	}
	if e.useMatVec(w, n) {
		e.matVec(e.decodeGrain(w))
		e.mm = mmArgs{}
		return nil
	}
	if w.quantised() {
		e.pool.Run((n+3)/4, 1, e.quantFn)
	}
	grain := 16
	if n == 1 {
		grain = e.decodeGrain(w)
	}
	e.pool.Run(w.Rows, grain, e.mmFn)
	e.mm = mmArgs{}
	return nil
}

// MatMuls computes every product ps[i].Dst = ps[i].W·x for the same n
// token rows x, with the results of MatMul bit for bit. When the matrices
// share width and precision and take the packed GEMM or matrix × vector
// path, x is quantised and packed once for all of them (a layer's q/k/v or
// gate/up projections) and their rows run in one parallel pass; otherwise
// the products run one MatMul after another.
func (e *Engine) MatMuls(x []float32, n int, ps []MatProduct) error {
	if len(ps) == 0 {
		return nil
	}
	if len(ps) > maxProducts {
		return fmt.Errorf("matmuls: %d products, at most %d", len(ps), maxProducts)
	}
	w0 := ps[0].W
	shared := n >= 1 && n <= e.maxTokens && w0.Cols <= e.maxCols && len(x) >= n*w0.Cols
	for _, p := range ps {
		shared = shared && p.W.Cols == w0.Cols && p.W.Prec == w0.Prec && len(p.Dst) >= n*p.W.Rows
	}
	gemm := shared && e.useGemm(w0, n)
	mv := shared && !gemm && e.useMatVec(w0, n)
	if !gemm && !mv {
		for _, p := range ps {
			if err := e.MatMul(p.Dst, p.W, x, n); err != nil {
				return err
			}
		}
		return nil
	}
	e.mm = mmArgs{w: w0, x: x, n: n, np: len(ps)}
	rows := 0
	for i, p := range ps {
		rows += p.W.Rows
		e.mm.prods[i], e.mm.ends[i] = p, rows
	}
	if gemm {
		e.pack()
		e.pool.Run(rows, gemmGrain, e.gemmMultiFn)
	} else {
		e.packVecs()
		e.pool.Run(rows, max(16, rows/(16*e.pool.Threads())), e.mvMultiFn)
	}
	e.mm = mmArgs{}
	return nil
}

// multiRows computes rows [lo, hi) of the concatenated products of a
// MatMuls call, each part with the GEMM (gemm) or the matrix × vector
// loops, with rows relative to its product.
func (e *Engine) multiRows(worker, lo, hi int, gemm bool) {
	a := &e.mm
	start := 0
	for i := 0; i < a.np && lo < hi; i++ {
		end := a.ends[i]
		if lo < end {
			h := min(hi, end)
			if gemm {
				e.gemmRange(worker, a.prods[i].Dst, a.prods[i].W, lo-start, h-start)
			} else {
				e.matVecRange(worker, a.prods[i].Dst, a.prods[i].W, lo-start, h-start)
			}
			lo = h
		}
		start = end
	}
}

// decodeGrain is the row chunk of a matrix × vector product: about 16
// chunks per worker, so that a busy core's share can move to another.
func (e *Engine) decodeGrain(w *Matrix) int {
	return max(16, w.Rows/(16*e.pool.Threads()))
}

// quantRows quantises the activations of token groups [lo, hi) (four
// tokens each) and packs every full group for the packed integer dots.
func (e *Engine) quantRows(_, lo, hi int) {
	c := e.mm.w.Cols
	nb := c / QK
	for g := lo; g < hi; g++ {
		t0, t1 := 4*g, min(4*g+4, e.mm.n)
		for t := t0; t < t1; t++ {
			quantizeQ8Act(e.mm.x[t*c:(t+1)*c], e.xq[t*c:(t+1)*c], e.xs[t*nb:(t+1)*nb])
		}
		if t1-t0 < 4 {
			if e.mm.w.Prec == arch.Q4_0 {
				for t := t0; t < t1; t++ {
					k := t - t0
					packQ4Pairs(e.x1[k*c/2:(k+1)*c/2], e.x1s[k*nb:(k+1)*nb], e.xq[t*c:(t+1)*c])
				}
			}
			continue
		}
		if e.mm.w.Prec == arch.Q4_0 {
			packQ4x4(e.xp[g*c:(g+1)*c], e.xq[t0*c:t1*c], c)
		} else {
			packQ8x4(e.xp[g*2*c:(g+1)*2*c], e.xq[t0*c:t1*c], c)
		}
	}
}

// tokenTile returns how many tokens (a multiple of 4) a row is applied to
// before moving to the next row, so that the activation tile stays in L2.
func tokenTile(w *Matrix) int {
	bytesPerTok := w.Cols
	if !w.quantised() {
		bytesPerTok = 4 * w.Cols
	}
	tt := (256 << 10) / bytesPerTok
	return max(4, min(64, tt&^3))
}

func (e *Engine) mmRows(worker, lo, hi int) {
	a := &e.mm
	w, n, c, R := a.w, a.n, a.w.Cols, a.w.Rows
	dst := a.dst
	if w.Prec == arch.F32 && n == 1 && matVecF32 != nil {
		matVecF32(dst[lo:hi], w.F32[lo*c:hi*c], c, a.x[:c])
		return
	}
	if w.Prec == arch.F16 && n == 1 && matVecF16 != nil {
		matVecF16(dst[lo:hi], w.F16[lo*c:hi*c], c, a.x[:c])
		return
	}
	tt := tokenTile(w)
	nb := c / QK
	rb := w.rowBytes
	var qbuf []byte
	if w.tiled {
		// not reached with an engine built for the model's precision:
		// where matrices are tiled, every quantised product takes the
		// GEMM or the matrix × vector loops
		qbuf = make([]byte, rb)
	}
	for t0 := 0; t0 < n; t0 += tt {
		t1 := min(n, t0+tt)
		for r := lo; r < hi; r++ {
			switch w.Prec {
			case arch.F32, arch.F16:
				var row []float32
				if w.Prec == arch.F32 {
					row = w.F32[r*c : (r+1)*c]
				} else if t1-t0 == 1 {
					dst[t0*R+r] = dotF16(w.F16[r*c:(r+1)*c], a.x[t0*c:(t0+1)*c])
					continue
				} else {
					row = e.row[worker][:c]
					f16Row(row, w.F16[r*c:(r+1)*c])
				}
				t := t0
				for ; t+4 <= t1; t += 4 {
					s0, s1, s2, s3 := dotF32x4(row, a.x[t*c:(t+4)*c])
					dst[t*R+r], dst[(t+1)*R+r], dst[(t+2)*R+r], dst[(t+3)*R+r] = s0, s1, s2, s3
				}
				for ; t < t1; t++ {
					dst[t*R+r] = dotF32(row, a.x[t*c:(t+1)*c])
				}
			case arch.Q8_0:
				row := w.qRow(r, qbuf)
				t := t0
				s8 := &e.acc8[worker]
				for ; t+8 <= t1; t += 8 {
					g := t / 4
					dotQ8x8p(row, e.xp[g*2*c:(g+1)*2*c], e.xp[(g+1)*2*c:(g+2)*2*c], e.xs[t*nb:(t+8)*nb], s8)
					for k, v := range s8 {
						dst[(t+k)*R+r] = v
					}
				}
				for ; t+4 <= t1; t += 4 {
					g := t / 4
					s0, s1, s2, s3 := dotQ8x4p(row, e.xp[g*2*c:(g+1)*2*c], e.xs[t*nb:(t+4)*nb])
					dst[t*R+r], dst[(t+1)*R+r], dst[(t+2)*R+r], dst[(t+3)*R+r] = s0, s1, s2, s3
				}
				for ; t < t1; t++ {
					dst[t*R+r] = dotQ8(row, e.xq[t*c:(t+1)*c], e.xs[t*nb:(t+1)*nb])
				}
			case arch.Q4_0:
				row := w.qRow(r, qbuf)
				t := t0
				s8 := &e.acc8[worker]
				for ; t+8 <= t1; t += 8 {
					g := t / 4
					dotQ4x8p(row, e.xp[g*c:(g+1)*c], e.xp[(g+1)*c:(g+2)*c], e.xs[t*nb:(t+8)*nb], s8)
					for k, v := range s8 {
						dst[(t+k)*R+r] = v
					}
				}
				for ; t+4 <= t1; t += 4 {
					g := t / 4
					s0, s1, s2, s3 := dotQ4x4p(row, e.xp[g*c:(g+1)*c], e.xs[t*nb:(t+4)*nb])
					dst[t*R+r], dst[(t+1)*R+r], dst[(t+2)*R+r], dst[(t+3)*R+r] = s0, s1, s2, s3
				}
				for ; t < t1; t++ {
					k := t - n&^3 // tokens after the last full group were packed in pairs
					dst[t*R+r] = dotQ4Pairs(row, e.x1[k*c/2:(k+1)*c/2], e.x1s[k*nb:(k+1)*nb], e.xs[t*nb:(t+1)*nb])
				}
			}
		}
	}
}
