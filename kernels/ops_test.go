package kernels

import (
	"math"
	"sync/atomic"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// The references in this file are written independently of the kernels,
// in float64, straight from the formulas in package arch's documentation.

func randVec(g *rng, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * g.uniform()
	}
	return v
}

func TestF16Conversion(t *testing.T) {
	for _, c := range []struct {
		f float32
		h uint16
	}{{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {float32(math.Ldexp(1, -24)), 1}, {0.1, 0x2e66}, {1e6, 0x7c00}} {
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%v) = %#x, want %#x", c.f, got, c.h)
		}
	}
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f { // NaN
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("round trip of %#x gave %#x", h, back)
		}
	}
	// round to nearest even between 1 and the next half (1 + 2^-10)
	if got := F32ToF16(1 + float32(math.Ldexp(1, -11))); got != 0x3c00 {
		t.Errorf("tie did not round to even: %#x", got)
	}
}

func f16Scale(b []byte) float64 { return float64(F16ToF32(uint16(b[0]) | uint16(b[1])<<8)) }

// TestQuantErrorBound checks every block against the format's bound: with
// d the exact scale and ds its f16 encoding, q8_0 errs by at most
// |d|/2 + 127·|d−ds| and q4_0 by at most |d| (one step where +8·|d| is
// clamped to +7·|d|) + 8·|d−ds|.
func TestQuantErrorBound(t *testing.T) {
	g := rng(5)
	blocks := [][]float32{make([]float32, 32), randVec(&g, 32, 1), randVec(&g, 32, 1e-3), randVec(&g, 32, 300)}
	spike := make([]float32, 32)
	spike[7] = -5
	spike[8] = 5
	blocks = append(blocks, spike)
	for i := 0; i < 200; i++ {
		blocks = append(blocks, randVec(&g, 32, float32(i+1)/10))
	}
	q8 := make([]byte, Q8Bytes)
	q4 := make([]byte, Q4Bytes)
	out := make([]float32, 32)
	for bi, x := range blocks {
		var amax, m float64
		for _, v := range x {
			if math.Abs(float64(v)) > amax {
				amax, m = math.Abs(float64(v)), float64(v)
			}
		}
		QuantizeQ8_0(q8, x)
		mat := &Matrix{Rows: 1, Cols: 32, Prec: arch.Q8_0, Q: q8, rowBytes: Q8Bytes}
		mat.DequantizeRow(out, 0)
		d := amax / 127
		b8 := d/2 + 127*math.Abs(d-f16Scale(q8)) + 1e-12
		QuantizeQ4_0(q4, x)
		mat4 := &Matrix{Rows: 1, Cols: 32, Prec: arch.Q4_0, Q: q4, rowBytes: Q4Bytes}
		out4 := make([]float32, 32)
		mat4.DequantizeRow(out4, 0)
		d4 := m / -8
		b4 := math.Abs(d4) + 8*math.Abs(d4-f16Scale(q4)) + 1e-12
		for i, v := range x {
			if e := math.Abs(float64(v) - float64(out[i])); e > b8 {
				t.Fatalf("block %d: q8_0 error %g at %d exceeds %g", bi, e, i, b8)
			}
			if e := math.Abs(float64(v) - float64(out4[i])); e > b4 {
				t.Fatalf("block %d: q4_0 error %g at %d exceeds %g", bi, e, i, b4)
			}
		}
	}
}

// TestMatMul covers every path of MatMul: with the engine sized for the
// weights' precision, decode-sized batches take the matrix × vector loops
// and batches of full token groups the GEMM (on CPUs that have them).
func TestMatMul(t *testing.T) {
	g := rng(9)
	for _, p := range arch.Precisions {
		e := NewEngine(EngineConfig{Threads: 3, MaxTokens: 70, MaxCols: 200, MaxGroup: 1, MaxHeadDim: 2, Prec: p})
		defer e.Close()
		colsList := []int{1, 3, 67, 100}
		if p == arch.Q8_0 || p == arch.Q4_0 {
			colsList = []int{32, 96, 160}
		}
		for _, rows := range []int{1, 7, 37} {
			for _, cols := range colsList {
				for _, n := range []int{1, 3, 4, 5, 7, 8, 9, 16, 17, 70} {
					src := randVec(&g, rows*cols, 1)
					w, err := NewMatrix(rows, cols, p, src)
					if err != nil {
						t.Fatal(err)
					}
					x := randVec(&g, n*cols, 2)
					dst := make([]float32, n*rows)
					if err := e.MatMul(dst, w, x, n); err != nil {
						t.Fatal(err)
					}
					deq := make([]float32, cols)
					for r := 0; r < rows; r++ {
						w.DequantizeRow(deq, r)
						for tk := 0; tk < n; tk++ {
							var ref, mag, bound float64
							for b := 0; b < cols; b += 32 {
								var amax, wsum float64
								for i := b; i < min(cols, b+32); i++ {
									xv, wv := float64(x[tk*cols+i]), float64(deq[i])
									ref += wv * xv
									mag += math.Abs(wv * xv)
									amax = max(amax, math.Abs(xv))
									wsum += math.Abs(wv)
								}
								if w.quantised() {
									bound += amax / 127 / 2 * wsum * 1.001
								}
							}
							bound += 1e-5 * mag
							if got := float64(dst[tk*rows+r]); math.Abs(got-ref) > bound {
								t.Fatalf("%s %dx%d n=%d: out[%d,%d] = %g, want %g ± %g", p, rows, cols, n, tk, r, got, ref, bound)
							}
						}
					}
				}
			}
		}
	}
}

func TestMatMulRejectsOversize(t *testing.T) {
	e := NewEngine(EngineConfig{Threads: 1, MaxTokens: 2, MaxCols: 32, MaxGroup: 1, MaxHeadDim: 2})
	defer e.Close()
	w, _ := NewMatrix(2, 64, arch.F32, make([]float32, 128))
	if err := e.MatMul(make([]float32, 2), w, make([]float32, 64), 1); err == nil {
		t.Fatal("matrix wider than the engine accepted")
	}
	if _, err := NewMatrix(2, 33, arch.Q8_0, make([]float32, 66)); err == nil {
		t.Fatal("q8_0 matrix with 33 columns accepted")
	}
}

func TestRMSNormRoPESwiGLU(t *testing.T) {
	g := rng(3)
	for _, n := range []int{1, 5, 64, 67} {
		x := randVec(&g, n, 3)
		w := randVec(&g, n, 1)
		dst := make([]float32, n)
		RMSNorm(dst, x, w, 1e-5)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		r := 1 / math.Sqrt(ss/float64(n)+1e-5)
		for i := range x {
			if want := float64(w[i]) * float64(x[i]) * r; math.Abs(float64(dst[i])-want) > 1e-5*math.Abs(want)+1e-7 {
				t.Fatalf("rmsnorm n=%d [%d] = %g, want %g", n, i, dst[i], want)
			}
		}
		gate, up := randVec(&g, n, 4), randVec(&g, n, 4)
		want := make([]float64, n)
		for i := range gate {
			gv := float64(gate[i])
			want[i] = gv / (1 + math.Exp(-gv)) * float64(up[i])
		}
		SwiGLU(gate, up)
		for i := range gate {
			if math.Abs(float64(gate[i])-want[i]) > 1e-5*math.Abs(want[i])+1e-6 {
				t.Fatalf("swiglu [%d] = %g, want %g", i, gate[i], want[i])
			}
		}
	}
	for _, v := range []float32{-30, -1, 0, 0.5, 25} {
		if got, want := float64(Softplus(v)), math.Log(1+math.Exp(float64(v))); math.Abs(got-want) > 1e-6*max(1, want) {
			t.Errorf("softplus(%g) = %g, want %g", v, got, want)
		}
		if got, want := float64(LogSigmoid(v)), -math.Log(1+math.Exp(-float64(v))); math.Abs(got-want) > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("logsigmoid(%g) = %g, want %g", v, got, want)
		}
	}
	// RoPE, rotate-half over whole heads
	const hd, nh, n, pos0 = 18, 3, 5, 11
	theta := 10000.0
	rt := NewRopeTable(n, hd)
	rt.Fill(pos0, n, hd, theta)
	for tk := 0; tk < n; tk++ {
		x := randVec(&g, nh*hd, 1)
		orig := append([]float32(nil), x...)
		rt.Apply(x, tk, nh)
		for h := 0; h < nh; h++ {
			for i := 0; i < hd/2; i++ {
				ang := float64(pos0+tk) * math.Pow(theta, -float64(2*i)/hd)
				a, b := float64(orig[h*hd+i]), float64(orig[h*hd+i+hd/2])
				w1 := a*math.Cos(ang) - b*math.Sin(ang)
				w2 := b*math.Cos(ang) + a*math.Sin(ang)
				if math.Abs(float64(x[h*hd+i])-w1) > 1e-5 || math.Abs(float64(x[h*hd+i+hd/2])-w2) > 1e-5 {
					t.Fatalf("rope token %d head %d pair %d: got (%g, %g), want (%g, %g)", tk, h, i, x[h*hd+i], x[h*hd+i+hd/2], w1, w2)
				}
			}
		}
	}
}

func TestAttention(t *testing.T) {
	g := rng(21)
	for _, c := range []struct {
		H, G, hd, pos0, n, window int
		f32                       bool
	}{
		{6, 2, 8, 5, 70, 0, false}, {6, 3, 18, 0, 9, 0, true}, {4, 4, 8, 80, 1, 0, false},
		{6, 2, 8, 30, 20, 9, false}, {2, 1, 16, 3, 70, 9, true}, {4, 2, 8, 100, 1, 9, false},
	} {
		total := c.pos0 + c.n
		capacity := total
		if c.window > 0 {
			capacity = c.window
		}
		cache := NewKVCache(c.G, c.hd, capacity, c.f32)
		kw := c.G * c.hd
		K := randVec(&g, total*kw, 1)
		V := randVec(&g, total*kw, 1)
		Q := randVec(&g, c.n*c.H*c.hd, 2)
		cache.Round(K)
		cache.Round(V)
		// fill the cache in uneven chunks, as prefill and decode would
		for p := 0; p < c.pos0; {
			step := min(c.pos0-p, 1+p%7)
			cache.Store(K[p*kw:(p+step)*kw], V[p*kw:(p+step)*kw], p, step)
			p += step
		}
		e := NewEngine(EngineConfig{Threads: 2, MaxTokens: c.n, MaxCols: 32, MaxGroup: c.H / c.G, MaxHeads: c.H, MaxHeadDim: c.hd})
		out := make([]float32, c.n*c.H*c.hd)
		if err := e.Attention(out, Q, K[c.pos0*kw:], V[c.pos0*kw:], cache, c.pos0, c.n, c.H, c.window); err != nil {
			t.Fatal(err)
		}
		e.Close()
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
						t.Fatalf("%+v: out[%d,%d,%d] = %g, want %g", c, i, h, x, got, o)
					}
				}
			}
		}
	}
}

func TestCausalConv(t *testing.T) {
	g := rng(4)
	const C, n = 13, 23
	for _, k := range []int{1, 3, 4} {
		in := randVec(&g, n*C, 1)
		w := randVec(&g, C*k, 1)
		bias := randVec(&g, C, 1)
		state := make([]float32, (k-1)*C)
		out := make([]float32, n*C)
		for t0, step := 0, 1; t0 < n; t0, step = t0+step, step+2 {
			s := min(step, n-t0)
			CausalConv(out[t0*C:(t0+s)*C], in[t0*C:(t0+s)*C], state, w, bias, s, C, k, 0, C)
		}
		for tk := 0; tk < n; tk++ {
			for c := 0; c < C; c++ {
				want := float64(bias[c])
				for j := 0; j < k; j++ {
					if p := tk - (k - 1) + j; p >= 0 {
						want += float64(w[c*k+j]) * float64(in[p*C+c])
					}
				}
				if got := float64(out[tk*C+c]); math.Abs(got-want) > 1e-5 {
					t.Fatalf("k=%d out[%d,%d] = %g, want %g", k, tk, c, got, want)
				}
			}
		}
		for j := 0; j < k-1; j++ {
			for c := 0; c < C; c++ {
				if state[j*C+c] != in[(n-(k-1)+j)*C+c] {
					t.Fatalf("k=%d state[%d,%d] is not the input of position %d", k, j, c, n-(k-1)+j)
				}
			}
		}
	}
}

func TestGatedLinearAttention(t *testing.T) {
	g := rng(8)
	const H, hd = 3, 8
	for _, steep := range []bool{false, true} {
		n := 150
		W := H * hd
		q, k, v := randVec(&g, n*W, 1), randVec(&g, n*W, 1), randVec(&g, n*W, 1)
		a := randVec(&g, n*W, 3)
		if steep {
			for i := range a {
				a[i] -= 600 // logsigmoid/16 ≈ -37 per step: the recurrent fallback
			}
		}
		e := NewEngine(EngineConfig{Threads: 2, MaxTokens: n, MaxCols: 32, MaxGroup: 1, MaxHeadDim: 2, WorkerFloats: GLAScratchFloats(hd)})
		state := make([]float32, H*hd*hd)
		out := make([]float32, n*W)
		// 140 tokens chunked, then 10 one by one
		if err := e.GatedLinearAttention(out, q, k, v, a, state, 140, H, hd); err != nil {
			t.Fatal(err)
		}
		for tk := 140; tk < n; tk++ {
			s := tk * W
			if err := e.GatedLinearAttention(out[s:s+W], q[s:s+W], k[s:s+W], v[s:s+W], a[s:s+W], state, 1, H, hd); err != nil {
				t.Fatal(err)
			}
		}
		e.Close()
		S := make([]float64, H*hd*hd)
		for tk := 0; tk < n; tk++ {
			for h := 0; h < H; h++ {
				o := make([]float64, hd)
				for c := 0; c < hd; c++ {
					av := float64(a[tk*W+h*hd+c])
					alpha := math.Exp(-math.Log1p(math.Exp(-av)) / 16)
					for x := 0; x < hd; x++ {
						i := h*hd*hd + c*hd + x
						S[i] = alpha*S[i] + float64(k[tk*W+h*hd+c])*float64(v[tk*W+h*hd+x])
					}
				}
				for x := 0; x < hd; x++ {
					for c := 0; c < hd; c++ {
						o[x] += float64(q[tk*W+h*hd+c]) / math.Sqrt(hd) * S[h*hd*hd+c*hd+x]
					}
					if got := float64(out[tk*W+h*hd+x]); math.Abs(got-o[x]) > 1e-4*max(1, math.Abs(o[x])) {
						t.Fatalf("steep=%v token %d head %d [%d] = %g, want %g", steep, tk, h, x, got, o[x])
					}
				}
			}
		}
		for i, s := range S {
			if math.Abs(float64(state[i])-s) > 1e-4*max(1, math.Abs(s)) {
				t.Fatalf("steep=%v state[%d] = %g, want %g", steep, i, state[i], s)
			}
		}
	}
}

func TestSelectiveScan(t *testing.T) {
	g := rng(12)
	const H, P, N, n = 3, 5, 7, 20
	din := H * P
	stride := din + 2*N
	xbc := randVec(&g, n*stride, 1)
	dt := randVec(&g, n*H, 2)
	aLog, d, dtBias := randVec(&g, H, 1), randVec(&g, H, 1), randVec(&g, H, 1)
	e := NewEngine(EngineConfig{Threads: 2, MaxTokens: n, MaxCols: 32, MaxGroup: 1, MaxHeadDim: 2})
	defer e.Close()
	state := make([]float32, H*N*P)
	y := make([]float32, n*din)
	if err := e.SelectiveScan(y[:13*din], xbc[:13*stride], dt, H, aLog, d, dtBias, state, 13, H, P, N); err != nil {
		t.Fatal(err)
	}
	for tk := 13; tk < n; tk++ {
		if err := e.SelectiveScan(y[tk*din:], xbc[tk*stride:], dt[tk*H:], H, aLog, d, dtBias, state, 1, H, P, N); err != nil {
			t.Fatal(err)
		}
	}
	hs := make([]float64, H*N*P)
	for tk := 0; tk < n; tk++ {
		row := xbc[tk*stride:]
		for h := 0; h < H; h++ {
			dtv := math.Log1p(math.Exp(float64(dt[tk*H+h]) + float64(dtBias[h])))
			A := -math.Exp(float64(aLog[h]))
			for p := 0; p < P; p++ {
				x := float64(row[h*P+p])
				want := float64(d[h]) * x
				for j := 0; j < N; j++ {
					i := h*N*P + j*P + p
					hs[i] = math.Exp(dtv*A)*hs[i] + dtv*float64(row[din+j])*x
					want += float64(row[din+N+j]) * hs[i]
				}
				if got := float64(y[tk*din+h*P+p]); math.Abs(got-want) > 1e-4*max(1, math.Abs(want)) {
					t.Fatalf("token %d head %d [%d] = %g, want %g", tk, h, p, got, want)
				}
			}
		}
	}
}

func TestPoolCoversEveryItemOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 4} {
		p := NewPool(threads)
		for _, total := range []int{1, 7, 100, 1001} {
			for _, grain := range []int{1, 3, 64} {
				hits := make([]atomic.Int32, total)
				for rep := 0; rep < 3; rep++ {
					p.Run(total, grain, func(w, lo, hi int) {
						if w < 0 || w >= threads {
							t.Errorf("worker id %d out of range", w)
						}
						for i := lo; i < hi; i++ {
							hits[i].Add(1)
						}
					})
				}
				for i := range hits {
					if hits[i].Load() != 3 {
						t.Fatalf("threads=%d total=%d grain=%d: item %d ran %d times, want 3", threads, total, grain, i, hits[i].Load())
					}
				}
			}
		}
		p.Close()
	}
}

// TestPoolRunsDoNotOverlap runs many short loops back to back, the pattern
// of a decode step, and checks that no chunk of one Run executes after that
// Run returned. It caught a stale completion signal that let Run return
// before a stalled worker had finished (visible under -race as a race on the
// pool's loop fields, and here as a chunk from a finished run).
func TestPoolRunsDoNotOverlap(t *testing.T) {
	reps := 100000
	if testing.Short() {
		reps = 10000
	}
	for _, threads := range []int{2, 3} {
		p := NewPool(threads)
		var current atomic.Int64
		var stale atomic.Int64
		for r := 0; r < reps; r++ {
			run := int64(r)
			current.Store(run)
			total := 2 + r%29
			p.Run(total, 1, func(_, lo, hi int) {
				if current.Load() != run {
					stale.Add(1)
				}
			})
		}
		p.Close()
		if n := stale.Load(); n != 0 {
			t.Fatalf("threads=%d: %d chunks ran after their Run returned", threads, n)
		}
	}
}

// TestMatMulsEqualsMatMul: products sharing an input give MatMul's results
// bit for bit, whatever the thread count, on every path (GEMM, matrix ×
// vector, dot products), also when the widths differ (one by one).
func TestMatMulsEqualsMatMul(t *testing.T) {
	g := rng(11)
	for _, p := range arch.Precisions {
		for _, threads := range []int{1, 2, 3} {
			e := NewEngine(EngineConfig{Threads: threads, MaxTokens: 70, MaxCols: 320, MaxGroup: 1, MaxHeadDim: 2, Prec: p})
			for _, cols := range []int{64, 320} {
				for _, n := range []int{1, 3, 7, 8, 9, 16, 17, 70} {
					var ps []MatProduct
					var want [][]float32
					for i, rows := range []int{37, 7, 100, 48, 1} {
						c := cols
						if i == 3 && n == 9 {
							c = 32 // a different width: the products run one by one
						}
						w, err := NewMatrix(rows, c, p, randVec(&g, rows*c, 1))
						if err != nil {
							t.Fatal(err)
						}
						ps = append(ps, MatProduct{Dst: make([]float32, n*rows+3), W: w})
						want = append(want, make([]float32, n*rows+3))
					}
					x := randVec(&g, n*cols, 2)
					for i, q := range ps {
						if err := e.MatMul(want[i], q.W, x[:n*q.W.Cols], n); err != nil {
							t.Fatal(err)
						}
					}
					if err := e.MatMuls(x, n, ps); err != nil {
						t.Fatal(err)
					}
					for i, q := range ps {
						for j, v := range q.Dst {
							if math.Float32bits(v) != math.Float32bits(want[i][j]) {
								t.Fatalf("%s threads=%d cols=%d n=%d product %d: out[%d] = %g, MatMul %g", p, threads, cols, n, i, j, v, want[i][j])
							}
						}
					}
				}
			}
			e.Close()
		}
	}
	e := NewEngine(EngineConfig{Threads: 1, MaxTokens: 2, MaxCols: 32, MaxGroup: 1, MaxHeadDim: 2})
	defer e.Close()
	w, _ := NewMatrix(1, 32, arch.F32, make([]float32, 32))
	if err := e.MatMuls(make([]float32, 32), 1, make([]MatProduct, maxProducts+1)); err == nil {
		t.Fatal("too many products accepted")
	}
	if err := e.MatMuls(make([]float32, 32), 3, []MatProduct{{make([]float32, 3), w}}); err == nil {
		t.Fatal("more tokens than the engine accepted")
	}
}

// TestDequantizeRowReadsEitherLayout: a q8_0/q4_0 matrix built by
// NewMatrix (tiled where the CPU's loops read that layout, with rows past
// the last group of 16) decodes every row as the same row stored alone.
func TestDequantizeRowReadsEitherLayout(t *testing.T) {
	g := rng(7)
	for _, p := range []arch.Precision{arch.Q8_0, arch.Q4_0} {
		rows, cols := 37, 96
		src := randVec(&g, rows*cols, 1)
		m, err := NewMatrix(rows, cols, p, src)
		if err != nil {
			t.Fatal(err)
		}
		got, want := make([]float32, cols), make([]float32, cols)
		for r := 0; r < rows; r++ {
			one, err := NewMatrix(1, cols, p, src[r*cols:(r+1)*cols])
			if err != nil {
				t.Fatal(err)
			}
			m.DequantizeRow(got, r)
			one.DequantizeRow(want, 0)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s (tiled %v) row %d col %d: %g, alone %g", p, m.tiled, r, i, got[i], want[i])
				}
			}
			if q := m.qRow(r, make([]byte, m.rowBytes)); string(q) != string(one.Q) {
				t.Fatalf("%s (tiled %v) row %d: qRow differs from the row stored alone", p, m.tiled, r)
			}
		}
	}
}
