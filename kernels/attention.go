package kernels

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// Attention runs over the KV cache in tiles of keys (docs/kernels.md,
// "Attention over the cache"). An item is a block of query tokens (all
// query heads of one KV head: R rows that share every key and value load)
// against a range of key positions; per tile of keys the scores, the
// online softmax step and the value sums are one call each
// (asm.AttnScores*, AttnSoftmax, AttnAccum*).
const (
	// attnRows is the number of query rows a prompt item aims for: tokens
	// per block = attnRows / group size (at least one token).
	attnRows = 24
	// attnMinItems: when a pass has fewer (token block, KV head) items than
	// this (decode, short prompts), each item's keys are split into chunks
	// of at least attnChunkMin positions whose partial results are combined
	// in chunk order. Both depend only on the shapes, never on the thread
	// count, so the results do not either.
	attnMinItems = 16
	attnChunkMin = 256
	// attnMaxParts bounds the chunk items of one split pass: with fewer
	// than attnMinItems items and at most ceil(attnMinItems/items) chunks
	// each, a pass has fewer than 2·attnMinItems.
	attnMaxParts = 2 * attnMinItems
)

// attnTileKeys is the key tile for R rows: wider tiles for few rows (decode)
// so that the per-tile calls are amortised, 64 keys for prompt blocks.
func attnTileKeys(R int) int {
	switch {
	case R <= 6:
		return 256
	case R <= 12:
		return 128
	}
	return 64
}

// KVCache stores the roped keys and the values of one attention layer for
// Cap positions; position p lives in slot p mod Cap, so a sliding-window
// layer keeps a ring of its window. Values are f16 unless F32 is set.
//
// Layout, per KV head g (head stride Cap·HeadDim): values are rows, slot s
// at s·HeadDim; keys are transposed in blocks of 16 slots (asm.KeyBlock),
// block b at 16·b·HeadDim holding element d of slot 16·b+l at d·w+l, where
// w = min(16, Cap−16·b) (only a last block of a capacity that is not a
// multiple of 16 is narrower). The storage is exactly Cap·KVHeads·HeadDim
// keys and as many values.
type KVCache struct {
	KVHeads, HeadDim, Cap int
	F32                   bool
	k16, v16              []uint16
	k32, v32              []float32
}

// NewKVCache allocates a cache of capacity positions of kvHeads·headDim keys
// and values each, in f16 or (if f32) f32.
func NewKVCache(kvHeads, headDim, capacity int, f32 bool) *KVCache {
	c := &KVCache{KVHeads: kvHeads, HeadDim: headDim, Cap: capacity, F32: f32}
	n := kvHeads * headDim * capacity
	if f32 {
		c.k32, c.v32 = make([]float32, n), make([]float32, n)
	} else {
		c.k16, c.v16 = make([]uint16, n), make([]uint16, n)
	}
	return c
}

// Bytes returns the cache's storage size.
func (c *KVCache) Bytes() int64 {
	return 4*int64(len(c.k32)+len(c.v32)) + 2*int64(len(c.k16)+len(c.v16))
}

// Round rounds new keys/values to the cache's storage precision in place, so
// that attention over fresh tokens sees exactly what later reads of the
// cache will see.
func (c *KVCache) Round(x []float32) {
	if c.F32 {
		return
	}
	for i, v := range x {
		x[i] = asm.RoundF16(v)
	}
}

// Store writes n tokens of keys and values (each [n·KVHeads·HeadDim]) for
// positions pos0.. into their slots; with n > Cap only the last Cap are kept.
func (c *KVCache) Store(k, v []float32, pos0, n int) {
	c.storeTokens(k, v, pos0, max(0, n-c.Cap), n)
}

// storeTokens stores tokens [t0, t1) of k and v (positions pos0+t).
func (c *KVCache) storeTokens(k, v []float32, pos0, t0, t1 int) {
	G, hd := c.KVHeads, c.HeadDim
	w := G * hd
	for t := t0; t < t1; t++ {
		s := (pos0 + t) % c.Cap
		b := s / asm.KeyBlock
		lw := min(asm.KeyBlock, c.Cap-asm.KeyBlock*b)
		for g := 0; g < G; g++ {
			kb := g*c.Cap*hd + asm.KeyBlock*b*hd + s%asm.KeyBlock
			vb := g*c.Cap*hd + s*hd
			kt := k[t*w+g*hd : t*w+(g+1)*hd]
			vt := v[t*w+g*hd : t*w+(g+1)*hd]
			if c.F32 {
				for d, x := range kt {
					c.k32[kb+d*lw] = x
				}
				copy(c.v32[vb:vb+hd], vt)
				continue
			}
			for d, x := range kt {
				c.k16[kb+d*lw] = asm.F32ToF16(x)
			}
			vd := c.v16[vb : vb+hd]
			for d, x := range vt {
				vd[d] = asm.F32ToF16(x)
			}
		}
	}
}

// attnPass is one tiled pass of Attention over the tokens [i0, i0+m) of
// the call: every query sees the stored key positions in [lo, end) that
// its causal window allows. keep leaves each row's running state (value
// sum in out, maximum and sum in attnML) instead of normalising; carry
// starts from that state.
type attnPass struct {
	out, q      []float32
	c           *KVCache
	pos0, H     int // position of the call's token 0; query heads
	i0, m       int
	window      int
	lo, end     int
	keep, carry bool
	qb, nq, nc  int // tokens per query block, blocks, key chunks per item
	scale       float32
}

// attnWorker is one worker's scratch for the tile loops.
type attnWorker struct {
	q, s, acc, m, l, c []float32
	pad16              []uint16
	pad32              []float32
	lo, hi             []int // per token of the block: visible positions
}

// attnScratch is the engine's attention scratch.
type attnScratch struct {
	w     []attnWorker
	ml    []float32      // per token and query head: running max and sum between passes
	parts []float32      // key-chunk partial results [attnMaxParts][rows·(hd+2)]
	done  []atomic.Int32 // chunks finished per (token block, KV head) of a split pass
	rows  int            // most rows per item
	hd    int            // widest head
}

func newAttnScratch(threads, maxTokens, maxHeads, maxGroup, maxHeadDim int) attnScratch {
	rows := max(attnRows, maxGroup)
	a := attnScratch{rows: rows, hd: maxHeadDim,
		ml:    make([]float32, 2*maxTokens*max(maxHeads, maxGroup)),
		parts: make([]float32, attnMaxParts*rows*(maxHeadDim+2)),
		done:  make([]atomic.Int32, attnMinItems),
		w:     make([]attnWorker, threads)}
	tok := rows // tokens per block ≤ rows
	for i := range a.w {
		a.w[i] = attnWorker{
			q:     make([]float32, rows*maxHeadDim),
			s:     make([]float32, max(6*256, 12*128, rows*64)),
			acc:   make([]float32, rows*maxHeadDim),
			m:     make([]float32, rows),
			l:     make([]float32, rows),
			c:     make([]float32, rows),
			pad16: make([]uint16, asm.KeyBlock*maxHeadDim),
			pad32: make([]float32, asm.KeyBlock*maxHeadDim),
			lo:    make([]int, tok),
			hi:    make([]int, tok),
		}
	}
	return a
}

func (a *attnScratch) bytes() int64 {
	b := 4*int64(len(a.ml)+len(a.parts)) + 4*int64(len(a.done))
	for _, w := range a.w {
		b += 4*int64(len(w.q)+len(w.s)+len(w.acc)+len(w.m)+len(w.l)+len(w.c)+len(w.pad32)) + 2*int64(len(w.pad16)) + 16*int64(len(w.lo))
	}
	return b
}

// Attention computes causal grouped-query attention for n new tokens at
// positions pos0..pos0+n-1: q is [n·H·hd], k and v the new tokens' keys and
// values [n·G·hd] (already roped and rounded with c.Round), out [n·H·hd].
// Query head h uses kv head h/(H/G). Keys before pos0 come from the cache;
// window > 0 limits each query to the last window positions, its own
// included. Attention also stores k and v into the cache: first, when the
// new tokens do not overwrite a slot any query still needs (a full cache,
// or decode), so that every key is read from the cache; otherwise (a
// sliding-window ring that a prompt wraps) in sub-batches of at most Cap
// tokens, each attending to the ring before and after its store.
func (e *Engine) Attention(out, q, k, v []float32, c *KVCache, pos0, n, H, window int) error {
	G, hd := c.KVHeads, c.HeadDim
	if G == 0 || H%G != 0 {
		return fmt.Errorf("attention: %d heads not a multiple of %d kv heads", H, G)
	}
	if H/G > e.attn.rows || hd > e.attn.hd {
		return fmt.Errorf("attention: group of %d heads × head dim %d exceeds the engine's scratch", H/G, hd)
	}
	if n > e.maxTokens || 2*n*H > len(e.attn.ml) {
		return fmt.Errorf("attention: %d tokens × %d heads exceed the engine's scratch", n, H)
	}
	need := pos0 + n
	if window > 0 {
		need = min(need, window)
	}
	if need > c.Cap {
		return fmt.Errorf("attention: context %d exceeds the cache's %d positions", pos0+n, c.Cap)
	}
	kw := G * hd
	if len(q) < n*H*hd || len(out) < n*H*hd || len(k) < n*kw || len(v) < n*kw {
		return fmt.Errorf("attention: buffers too short for %d tokens", n)
	}
	p := attnPass{out: out, q: q, c: c, pos0: pos0, H: H, window: window,
		scale: float32(1 / math.Sqrt(float64(hd)))}
	if pos0+n <= c.Cap || n == 1 {
		e.storeKV(k, v, c, pos0, 0, n)
		p.i0, p.m, p.lo, p.end = 0, n, 0, pos0+n
		e.runAttn(p)
		return nil
	}
	// Sub-batches start at positions that are multiples of Cap (the
	// first may be shorter), where the ring wraps: a query's keys then
	// split between the two passes exactly where a single pass over the
	// ring splits them (its slot runs), so the result does not depend on
	// how a prompt was cut into calls.
	for i0 := 0; i0 < n; {
		p0 := pos0 + i0
		m := min(c.Cap-p0%c.Cap, n-i0)
		p.i0, p.m = i0, m
		if p0 > 0 {
			p.lo, p.end, p.keep, p.carry = 0, p0, true, false
			e.runAttn(p)
		}
		e.storeKV(k, v, c, pos0, i0, i0+m)
		p.lo, p.end, p.keep, p.carry = p0, p0+m, false, p0 > 0
		e.runAttn(p)
		i0 += m
	}
	return nil
}

// storeKV stores tokens [t0, t1) of the call into the cache, in parallel
// over tokens.
func (e *Engine) storeKV(k, v []float32, c *KVCache, pos0, t0, t1 int) {
	e.kvStore = kvStoreArgs{k: k, v: v, c: c, pos0: pos0, t0: t0}
	e.pool.Run(t1-t0, 16, e.kvStoreFn)
	e.kvStore = kvStoreArgs{}
}

type kvStoreArgs struct {
	k, v     []float32
	c        *KVCache
	pos0, t0 int
}

func (e *Engine) kvStoreItems(_, lo, hi int) {
	a := &e.kvStore
	a.c.storeTokens(a.k, a.v, a.pos0, a.t0+lo, a.t0+hi)
}

// runAttn runs one pass: items (token block, KV head, key chunk), blocks in
// reverse so that the longest causal blocks start first.
func (e *Engine) runAttn(p attnPass) {
	c := p.c
	G := c.KVHeads
	gs := p.H / G
	p.qb = max(1, attnRows/gs)
	p.nq = (p.m + p.qb - 1) / p.qb
	p.nc = 1
	if items := p.nq * G; items < attnMinItems {
		lo, hi := p.visible(p.i0)
		_, hi2 := p.visible(p.i0 + p.m - 1)
		keys := max(hi, hi2) - lo + 1
		p.nc = max(1, min((attnMinItems+items-1)/items, keys/attnChunkMin))
		if p.nc > 1 {
			for i := range e.attn.done[:items] {
				e.attn.done[i].Store(0)
			}
		}
	}
	e.attnP = p
	e.pool.Run(p.nq*G*p.nc, 1, e.attnFn)
	e.attnP = attnPass{}
}

// visible returns the key positions [lo, hi] query token i may see in this
// pass (hi < lo if none).
func (p *attnPass) visible(i int) (lo, hi int) {
	pos := p.pos0 + i
	lo = p.lo
	if p.window > 0 {
		lo = max(lo, pos-p.window+1)
	}
	return lo, min(pos, p.end-1)
}

func (e *Engine) attnItems(worker, lo, hi int) {
	p := &e.attnP
	G := p.c.KVHeads
	for it := lo; it < hi; it++ {
		chunk := it % p.nc
		bg := it / p.nc
		g := bg % G
		b := p.nq - 1 - bg/G
		e.attnItem(worker, p, b, g, chunk, bg)
	}
}

// attnItem runs token block b, KV head g, key chunk chunk of the pass.
func (e *Engine) attnItem(worker int, p *attnPass, b, g, chunk, bg int) {
	c := p.c
	G, hd := c.KVHeads, c.HeadDim
	gs := p.H / G
	w := &e.attn.w[worker]
	t0 := p.i0 + b*p.qb
	t1 := min(p.i0+p.m, t0+p.qb)
	nt := t1 - t0
	R := nt * gs
	// rows: query heads of g for each token, scaled
	for t := t0; t < t1; t++ {
		src := p.q[(t*p.H+g*gs)*hd : (t*p.H+(g+1)*gs)*hd]
		dst := w.q[(t-t0)*gs*hd : (t-t0+1)*gs*hd]
		for i, x := range src {
			dst[i] = x * p.scale
		}
		w.lo[t-t0], w.hi[t-t0] = p.visible(t)
	}
	// the block's key range and this chunk of it
	kLo, kHi := w.lo[0], w.hi[nt-1]
	for i := 0; i < nt; i++ {
		kLo, kHi = min(kLo, w.lo[i]), max(kHi, w.hi[i])
	}
	if p.nc > 1 && kHi >= kLo {
		L := kHi - kLo + 1
		cut := func(k int) int {
			if k == p.nc {
				return kHi + 1
			}
			return kLo + (k*L/p.nc)&^63
		}
		kLo, kHi = cut(chunk), cut(chunk+1)-1
	}
	// running state
	acc := w.acc[:R*hd]
	m, l := w.m[:R], w.l[:R]
	if p.carry && chunk == 0 {
		for t := t0; t < t1; t++ {
			r0 := (t - t0) * gs
			copy(acc[r0*hd:(r0+gs)*hd], p.out[(t*p.H+g*gs)*hd:(t*p.H+(g+1)*gs)*hd])
			for h := 0; h < gs; h++ {
				o := 2 * (t*p.H + g*gs + h)
				m[r0+h], l[r0+h] = e.attn.ml[o], e.attn.ml[o+1]
			}
		}
	} else {
		clear(acc)
		for r := range m {
			m[r], l[r] = float32(math.Inf(-1)), 0
		}
	}
	if kHi >= kLo {
		e.attnRange(w, p, g, t0, nt, R, kLo, kHi)
	}
	if p.nc == 1 {
		e.attnFinish(p, g, t0, t1, acc, m, l)
		return
	}
	// split: park this chunk's result; the last chunk to finish combines
	part := e.attn.parts[(bg*p.nc+chunk)*e.attn.rows*(hd+2):]
	copy(part[:R*hd], acc)
	copy(part[R*hd:R*hd+R], m)
	copy(part[R*hd+R:R*hd+2*R], l)
	if e.attn.done[bg].Add(1) != int32(p.nc) {
		return
	}
	ninf := float32(math.Inf(-1))
	for r := 0; r < R; r++ {
		mt := ninf
		for k := 0; k < p.nc; k++ {
			mt = max(mt, e.attn.parts[(bg*p.nc+k)*e.attn.rows*(hd+2)+R*hd+r])
		}
		ar := acc[r*hd : (r+1)*hd]
		clear(ar)
		var lt float32
		for k := 0; k < p.nc; k++ {
			pk := e.attn.parts[(bg*p.nc+k)*e.attn.rows*(hd+2):]
			mk := pk[R*hd+r]
			if mk == ninf {
				continue
			}
			f := asm.Exp(mk - mt)
			lt += pk[R*hd+R+r] * f
			for i, x := range pk[r*hd : (r+1)*hd] {
				ar[i] += x * f
			}
		}
		m[r], l[r] = mt, lt
	}
	e.attnFinish(p, g, t0, t1, acc, m, l)
}

// attnFinish writes a block's result: normalised rows, or (keep) the
// running state for the next pass.
func (e *Engine) attnFinish(p *attnPass, g, t0, t1 int, acc, m, l []float32) {
	hd := p.c.HeadDim
	gs := p.H / p.c.KVHeads
	for t := t0; t < t1; t++ {
		r0 := (t - t0) * gs
		o := p.out[(t*p.H+g*gs)*hd : (t*p.H+(g+1)*gs)*hd]
		a := acc[r0*hd : (r0+gs)*hd]
		if p.keep {
			copy(o, a)
			for h := 0; h < gs; h++ {
				x := 2 * (t*p.H + g*gs + h)
				e.attn.ml[x], e.attn.ml[x+1] = m[r0+h], l[r0+h]
			}
			continue
		}
		for h := 0; h < gs; h++ {
			inv := 1 / l[r0+h]
			oh, ah := o[h*hd:(h+1)*hd], a[h*hd:(h+1)*hd]
			for i := range oh {
				oh[i] = ah[i] * inv
			}
		}
	}
}

// attnRange runs the tiles of key positions [kLo, kHi] (stored in the
// cache) for the R rows in w.q, updating w.acc, w.m, w.l.
func (e *Engine) attnRange(w *attnWorker, p *attnPass, g, t0, nt, R, kLo, kHi int) {
	c := p.c
	C := c.Cap
	// positions → at most two runs of slots (the ring may wrap)
	sA := kLo % C
	n := kHi - kLo + 1
	if sA+n <= C {
		e.attnSlots(w, p, g, t0, nt, R, sA, sA+n, kLo)
		return
	}
	e.attnSlots(w, p, g, t0, nt, R, sA, C, kLo)
	e.attnSlots(w, p, g, t0, nt, R, 0, sA+n-C, kLo+C-sA)
}

// attnSlots runs the tiles of slots [sa, sb), whose first holds position pa.
func (e *Engine) attnSlots(w *attnWorker, p *attnPass, g, t0, nt, R, sa, sb, pa int) {
	c := p.c
	C, hd := c.Cap, c.HeadDim
	gs := R / nt
	T := attnTileKeys(R)
	const kb = asm.KeyBlock
	head := g * C * hd
	ninf := float32(math.Inf(-1))
	full := C / kb // blocks of 16 lanes
	for x := sa; x < sb; {
		y := min(sb, (x/T+1)*T)
		bx := x &^ (kb - 1)
		by := min((y+kb-1)&^(kb-1), (full+1)*kb)
		// scores over whole blocks [bx, by)
		nb := min(by, full*kb)/kb - bx/kb
		if nb > 0 {
			if c.F32 {
				attnScoresF32(w.s, T, w.q, R, hd, c.k32[head+bx*hd:], nb, kb*hd)
			} else {
				attnScoresF16(w.s, T, w.q, R, hd, c.k16[head+bx*hd:], nb, kb*hd)
			}
		}
		if by > full*kb { // the narrow last block, padded to 16 lanes
			lw := C - full*kb
			o := head + full*kb*hd
			col := (full*kb - bx)
			if c.F32 {
				clear(w.pad32[:kb*hd])
				for d := 0; d < hd; d++ {
					copy(w.pad32[d*kb:d*kb+lw], c.k32[o+d*lw:o+(d+1)*lw])
				}
				attnScoresF32(w.s[col:], T, w.q, R, hd, w.pad32, 1, kb*hd)
			} else {
				clear(w.pad16[:kb*hd])
				for d := 0; d < hd; d++ {
					copy(w.pad16[d*kb:d*kb+lw], c.k16[o+d*lw:o+(d+1)*lw])
				}
				attnScoresF16(w.s[col:], T, w.q, R, hd, w.pad16, 1, kb*hd)
			}
			by = (full + 1) * kb
		}
		// masks: per token, the visible slots of [x, y)
		for i := 0; i < nt; i++ {
			vlo := max(x, sa+w.lo[i]-pa)
			vhi := min(y-1, sa+w.hi[i]-pa)
			for h := 0; h < gs; h++ {
				row := w.s[(i*gs+h)*T : (i*gs+h)*T+by-bx]
				if vlo > vhi {
					fill(row, ninf)
					continue
				}
				fill(row[:vlo-bx], ninf)
				fill(row[vhi+1-bx:], ninf)
			}
		}
		attnSoftmax(w.s, T, R, by-bx, w.m[:R], w.l[:R], w.c[:R])
		if c.F32 {
			attnAccumF32(w.acc, R, hd, w.c, w.s[x-bx:], T, c.v32[head+x*hd:], y-x, hd)
		} else {
			attnAccumF16(w.acc, R, hd, w.c, w.s[x-bx:], T, c.v16[head+x*hd:], y-x, hd)
		}
		x = y
	}
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}
