package kernels

import (
	"fmt"
	"math"
	"syscall"

	"github.com/hilsearch/hilsearch/arch"
	"testing"
)

// cpuTime returns the process's user + system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

type attnCase struct {
	H, G, hd, pos0, n, window, capacity int
	f32                                 bool
}

func (c attnCase) String() string {
	return fmt.Sprintf("H=%d G=%d hd=%d pos0=%d n=%d window=%d cap=%d f32=%v", c.H, c.G, c.hd, c.pos0, c.n, c.window, c.capacity, c.f32)
}

// attnCases covers the tile loops' shapes: head widths that are and are
// not multiples of the vector width; groups of 1..30 query heads (more
// than one item's 24 rows); depths inside the first key block, across
// blocks and tiles and past the key-chunk split (decode and short prompts
// with few KV heads); capacities that are not a multiple of 16 (a narrow
// last key block); sliding windows whose ring a prompt wraps (two passes
// per sub-batch, prompts longer than the window).
func attnCases() []attnCase {
	cs := []attnCase{
		{H: 4, G: 1, hd: 64, pos0: 1100, n: 1},           // decode, 5 key chunks
		{H: 16, G: 8, hd: 64, pos0: 700, n: 1},           // lfm2-350m-like decode, 2 chunks
		{H: 32, G: 8, hd: 64, pos0: 520, n: 3},           // lfm2-1.2b-like short prompt
		{H: 16, G: 8, hd: 64, pos0: 300, n: 100},         // prompt after a cached prefix
		{H: 6, G: 2, hd: 8, pos0: 5, n: 70},              // head width 8
		{H: 6, G: 3, hd: 18, pos0: 0, n: 9, f32: true},   // odd head width, f32
		{H: 30, G: 1, hd: 16, pos0: 40, n: 5},            // 30 rows per token
		{H: 2, G: 2, hd: 128, pos0: 17, n: 31},           // one head per group
		{H: 4, G: 2, hd: 64, pos0: 290, n: 1, f32: true}, // f32 decode at depth
		{H: 6, G: 2, hd: 8, pos0: 30, n: 20, window: 9},  // ring wrapped by a prompt
		{H: 2, G: 1, hd: 16, pos0: 3, n: 70, window: 9, f32: true},
		{H: 4, G: 2, hd: 8, pos0: 100, n: 1, window: 9},
		{H: 8, G: 2, hd: 64, pos0: 200, n: 150, window: 100},             // two sub-batches
		{H: 8, G: 4, hd: 64, pos0: 700, n: 1, window: 300},               // windowed decode, split
		{H: 8, G: 4, hd: 32, pos0: 0, n: 40, window: 64},                 // window not reached
		{H: 8, G: 4, hd: 64, pos0: 60, n: 33, window: 64, capacity: 100}, // ring larger than the window
	}
	for i := range cs {
		c := &cs[i]
		if c.capacity == 0 {
			c.capacity = c.pos0 + c.n
			if c.window > 0 {
				c.capacity = c.window
			}
		}
	}
	return cs
}

// TestAttentionTiles checks Attention against a float64 reference over
// attnCases, the cache contents it stores, and that 1, 2 and 3 threads
// give the same bits.
func TestAttentionTiles(t *testing.T) {
	for _, c := range attnCases() {
		t.Run(c.String(), func(t *testing.T) {
			g := rng(uint64(c.H*1000 + c.pos0*7 + c.n))
			total := c.pos0 + c.n
			kw := c.G * c.hd
			K := randVec(&g, total*kw, 1)
			V := randVec(&g, total*kw, 1)
			Q := randVec(&g, c.n*c.H*c.hd, 2)
			probe := NewKVCache(c.G, c.hd, c.capacity, c.f32)
			probe.Round(K)
			probe.Round(V)
			var ref []float32
			for _, th := range []int{1, 2, 3} {
				cache := NewKVCache(c.G, c.hd, c.capacity, c.f32)
				for p := 0; p < c.pos0; {
					step := min(c.pos0-p, 1+p%37)
					cache.Store(K[p*kw:(p+step)*kw], V[p*kw:(p+step)*kw], p, step)
					p += step
				}
				e := NewEngine(EngineConfig{Threads: th, MaxTokens: c.n, MaxCols: 32, MaxGroup: c.H / c.G, MaxHeads: c.H, MaxHeadDim: c.hd})
				out := make([]float32, c.n*c.H*c.hd)
				err := e.Attention(out, Q, K[c.pos0*kw:], V[c.pos0*kw:], cache, c.pos0, c.n, c.H, c.window)
				e.Close()
				if err != nil {
					t.Fatal(err)
				}
				checkCache(t, cache, K, V, total)
				if ref == nil {
					ref = out
					checkAttention(t, c, out, Q, K, V)
					continue
				}
				for i := range ref {
					if math.Float32bits(ref[i]) != math.Float32bits(out[i]) {
						t.Fatalf("threads=%d: out[%d] = %v, one thread gives %v", th, i, out[i], ref[i])
					}
				}
			}
		})
	}
}

// checkCache reads every retained position back through the documented
// layout.
func checkCache(t *testing.T, c *KVCache, K, V []float32, total int) {
	t.Helper()
	hd, kw := c.HeadDim, c.KVHeads*c.HeadDim
	for p := max(0, total-c.Cap); p < total; p++ {
		s := p % c.Cap
		b := s / 16
		lw := min(16, c.Cap-16*b)
		for g := 0; g < c.KVHeads; g++ {
			for d := 0; d < hd; d++ {
				ko := g*c.Cap*hd + 16*b*hd + d*lw + s%16
				vo := g*c.Cap*hd + s*hd + d
				var k, v float32
				if c.F32 {
					k, v = c.k32[ko], c.v32[vo]
				} else {
					k, v = F16ToF32(c.k16[ko]), F16ToF32(c.v16[vo])
				}
				if k != K[p*kw+g*hd+d] || v != V[p*kw+g*hd+d] {
					t.Fatalf("cache position %d head %d dim %d: key %v value %v, stored %v %v", p, g, d, k, v, K[p*kw+g*hd+d], V[p*kw+g*hd+d])
				}
			}
		}
	}
}

func checkAttention(t *testing.T, c attnCase, out, Q, K, V []float32) {
	t.Helper()
	kw := c.G * c.hd
	for i := 0; i < c.n; i++ {
		p := c.pos0 + i
		first := 0
		if c.window > 0 {
			first = max(0, p-c.window+1)
		}
		for h := 0; h < c.H; h++ {
			kv := h / (c.H / c.G)
			q := Q[(i*c.H+h)*c.hd : (i*c.H+h+1)*c.hd]
			sc := make([]float64, p+1)
			mx := math.Inf(-1)
			for j := first; j <= p; j++ {
				var s float64
				for x := 0; x < c.hd; x++ {
					s += float64(q[x]) * float64(K[j*kw+kv*c.hd+x])
				}
				sc[j] = s / math.Sqrt(float64(c.hd))
				mx = max(mx, sc[j])
			}
			var z float64
			for j := first; j <= p; j++ {
				sc[j] = math.Exp(sc[j] - mx)
				z += sc[j]
			}
			for x := 0; x < c.hd; x++ {
				var o float64
				for j := first; j <= p; j++ {
					o += sc[j] * float64(V[j*kw+kv*c.hd+x])
				}
				o /= z
				if got := float64(out[(i*c.H+h)*c.hd+x]); math.Abs(got-o) > 2e-5 {
					t.Fatalf("out[%d,%d,%d] = %g, want %g", i, h, x, got, o)
				}
			}
		}
	}
}

// BenchmarkAttention times Attention alone for lfm2-350m's and
// lfm2-1.2b's attention shapes (16 or 32 query heads, 8 KV heads, head
// width 64, f16 cache): decode at several depths and a 512-token prompt
// after 2,048 cached tokens. MB/s counts the cache bytes read.
//
//	go test -run ^$ -bench Attention -benchtime 200x ./kernels
func BenchmarkAttention(b *testing.B) {
	for _, H := range []int{16, 32} {
		for _, sh := range [][2]int{{2048, 1}, {4096, 1}, {32768, 1}, {2048, 512}, {4096, 512}} {
			depth, n := sh[0], sh[1]
			b.Run(fmt.Sprintf("H=%d/depth=%d/n=%d", H, depth, n), func(b *testing.B) {
				const G, hd = 8, 64
				g := rng(3)
				kw := G * hd
				c := NewKVCache(G, hd, depth+n, false)
				K := randVec(&g, (depth+n)*kw, 1)
				V := randVec(&g, (depth+n)*kw, 1)
				c.Round(K)
				c.Round(V)
				c.Store(K, V, 0, depth)
				q := randVec(&g, n*H*hd, 1)
				out := make([]float32, n*H*hd)
				e := NewEngine(EngineConfig{Threads: 2, MaxTokens: n, MaxCols: 32, MaxGroup: H / G, MaxHeads: H, MaxHeadDim: hd})
				defer e.Close()
				b.SetBytes(int64(2 * 2 * (depth + n) * kw))
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					if err := e.Attention(out, q, K[depth*kw:], V[depth*kw:], c, depth, n, H, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkDepth times lfm2-350m q4_0 after a cached prefix of 2,048
// tokens: decode steps and 512-token prompts (the prefix is prefilled
// again, untimed, when the context fills).
//
//	go test -run ^$ -bench Depth -benchtime 64x -cpuprofile cpu.out ./kernels
func BenchmarkDepth(b *testing.B) {
	spec, err := arch.Preset("lfm2-350m")
	if err != nil {
		b.Fatal(err)
	}
	const depth = 2048
	m, err := Build(spec, arch.Q4_0, depth+1024, 2, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	toks := make([]int32, depth+1024)
	for i := range toks {
		toks[i] = int32(i * 7919 % spec.Vocab)
	}
	fill := func(b *testing.B) {
		b.StopTimer()
		m.Reset()
		if _, err := m.Prefill(toks[:depth]); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.Run("op=tg", func(b *testing.B) {
		fill(b)
		cpu0 := cpuTime()
		for b.Loop() {
			if m.Pos() == m.MaxContext() {
				fill(b)
			}
			if _, err := m.Decode(toks[m.Pos()]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("op=pp512", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			fill(b)
			if _, err := m.Prefill(toks[depth : depth+512]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}
