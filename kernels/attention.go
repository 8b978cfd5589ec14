package kernels

import (
	"fmt"
	"math"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// attnTile is the number of keys whose scores are computed before the
// running softmax is rescaled once for the whole tile.
const attnTile = 64

// KVCache stores the roped keys and the values of one attention layer for
// Cap positions; position p lives in slot p mod Cap, so a sliding-window
// layer keeps a ring of its window. Values are f16 unless F32 is set.
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
	w := c.KVHeads * c.HeadDim
	for t := max(0, n-c.Cap); t < n; t++ {
		s := (pos0 + t) % c.Cap
		if c.F32 {
			copy(c.k32[s*w:(s+1)*w], k[t*w:(t+1)*w])
			copy(c.v32[s*w:(s+1)*w], v[t*w:(t+1)*w])
			continue
		}
		for i := 0; i < w; i++ {
			c.k16[s*w+i] = asm.F32ToF16(k[t*w+i])
			c.v16[s*w+i] = asm.F32ToF16(v[t*w+i])
		}
	}
}

type attnArgs struct {
	out, q, k, v []float32
	c            *KVCache
	pos0, n, H   int
	window       int
	scale        float32
}

func attnScratchFloats(maxGroup, maxHeadDim int) int {
	return maxGroup * (attnTile + 2 + maxHeadDim)
}

// Attention computes causal grouped-query attention for n new tokens at
// positions pos0..pos0+n-1: q is [n·H·hd], k and v the new tokens' keys and
// values [n·G·hd] (already roped and rounded with c.Round), out [n·H·hd].
// Query head h uses kv head h/(H/G). Keys before pos0 come from the cache;
// window > 0 limits each query to the last window positions, its own
// included. The caller stores k, v into the cache afterwards. Each (token,
// kv head) item is computed by one worker with a tiled online softmax.
func (e *Engine) Attention(out, q, k, v []float32, c *KVCache, pos0, n, H, window int) error {
	G, hd := c.KVHeads, c.HeadDim
	if G == 0 || H%G != 0 {
		return fmt.Errorf("attention: %d heads not a multiple of %d kv heads", H, G)
	}
	if H/G*(attnTile+2+hd) > len(e.attnSc[0]) {
		return fmt.Errorf("attention: group of %d heads × head dim %d exceeds the engine's scratch", H/G, hd)
	}
	need := pos0 + n
	if window > 0 {
		need = min(need, window)
	}
	if need > c.Cap {
		return fmt.Errorf("attention: context %d exceeds the cache's %d positions", pos0+n, c.Cap)
	}
	e.attn = attnArgs{out: out, q: q, k: k, v: v, c: c, pos0: pos0, n: n, H: H, window: window,
		scale: float32(1 / math.Sqrt(float64(hd)))}
	e.pool.Run(n*G, 1, e.attnFn)
	e.attn = attnArgs{}
	return nil
}

func (e *Engine) attnItems(worker, lo, hi int) {
	a := &e.attn
	c := a.c
	G, hd := c.KVHeads, c.HeadDim
	gs := a.H / G
	sc := e.attnSc[worker]
	scores := sc[:gs*attnTile]
	ml := sc[gs*attnTile : gs*attnTile+2*gs]
	acc := sc[gs*attnTile+2*gs : gs*attnTile+2*gs+gs*hd]
	kvw := G * hd
	for it := lo; it < hi; it++ {
		i, g := it/G, it%G
		p := a.pos0 + i
		first := 0
		if a.window > 0 {
			first = max(0, p-a.window+1)
		}
		for h := 0; h < gs; h++ {
			ml[2*h] = float32(math.Inf(-1))
			ml[2*h+1] = 0
		}
		clear(acc)
		qb := a.q[(i*a.H+g*gs)*hd:]
		for j0 := first; j0 <= p; j0 += attnTile {
			j1 := min(p+1, j0+attnTile)
			// scores: a tile of this batch's own keys in one call per head,
			// otherwise (keys from the cache) one dot per key and head
			batch := j0 >= a.pos0
			if batch {
				kt := a.k[(j0-a.pos0)*kvw+g*hd:]
				for h := 0; h < gs; h++ {
					scoreRows(scores[h*attnTile:h*attnTile+j1-j0], qb[h*hd:(h+1)*hd], kt, kvw, a.scale)
				}
			} else {
				for j := j0; j < j1; j++ {
					for h := 0; h < gs; h++ {
						qh := qb[h*hd : (h+1)*hd]
						var s float32
						if j >= a.pos0 {
							s = dotF32(qh, a.k[(j-a.pos0)*kvw+g*hd:(j-a.pos0)*kvw+(g+1)*hd])
						} else {
							o := (j%c.Cap)*kvw + g*hd
							if c.F32 {
								s = dotF32(qh, c.k32[o:o+hd])
							} else {
								s = dotF16(c.k16[o:o+hd], qh)
							}
						}
						scores[h*attnTile+j-j0] = s * a.scale
					}
				}
			}
			// online softmax update, one rescale per tile
			for h := 0; h < gs; h++ {
				st := scores[h*attnTile : h*attnTile+j1-j0]
				m := ml[2*h]
				mt := m
				for _, s := range st {
					mt = max(mt, s)
				}
				ah := acc[h*hd : (h+1)*hd]
				if mt > m {
					corr := asm.Exp(m - mt)
					ml[2*h+1] *= corr
					scaleVec(corr, ah)
					ml[2*h] = mt
				}
				expShift(st, mt)
				for _, pw := range st {
					ml[2*h+1] += pw
				}
			}
			// the value sum, likewise
			if batch {
				vt := a.v[(j0-a.pos0)*kvw+g*hd:]
				for h := 0; h < gs; h++ {
					accumRows(acc[h*hd:(h+1)*hd], scores[h*attnTile:h*attnTile+j1-j0], vt, kvw)
				}
			} else {
				for j := j0; j < j1; j++ {
					var v32 []float32
					var v16 []uint16
					if j >= a.pos0 {
						v32 = a.v[(j-a.pos0)*kvw+g*hd : (j-a.pos0)*kvw+(g+1)*hd]
					} else {
						o := (j%c.Cap)*kvw + g*hd
						if c.F32 {
							v32 = c.v32[o : o+hd]
						} else {
							v16 = c.v16[o : o+hd]
						}
					}
					for h := 0; h < gs; h++ {
						pw := scores[h*attnTile+j-j0]
						if v16 != nil {
							axpyF16(pw, v16, acc[h*hd:(h+1)*hd])
						} else {
							axpy(pw, v32, acc[h*hd:(h+1)*hd])
						}
					}
				}
			}
		}
		for h := 0; h < gs; h++ {
			inv := 1 / ml[2*h+1]
			o := a.out[(i*a.H+g*gs+h)*hd : (i*a.H+g*gs+h+1)*hd]
			ah := acc[h*hd : (h+1)*hd]
			for x := range o {
				o[x] = ah[x] * inv
			}
		}
	}
}
