package kernels

import (
	"math"

	"github.com/hilsearch/hilsearch/kernels/internal/asm"
)

// Run calls fn(worker, lo, hi) over [0, total) on the engine's pool in
// chunks of grain items; see Pool.Run.
func (e *Engine) Run(total, grain int, fn func(worker, lo, hi int)) { e.pool.Run(total, grain, fn) }

// serialWork is the work (in multiply-adds, roughly) below which a loop
// runs on the caller alone: handing its chunks to the workers and waiting
// for them costs more than the items (a decode step's convolution over
// the channels of one token).
const serialWork = 16 << 10

// RunWork is Run for a loop whose items add up to about work
// multiply-adds: below serialWork the caller runs every item itself. An
// item's result does not depend on which worker runs it, so neither do
// the results.
func (e *Engine) RunWork(total, grain, work int, fn func(worker, lo, hi int)) {
	if work < serialWork {
		fn(0, 0, total)
		return
	}
	e.pool.Run(total, grain, fn)
}

// RMSNorm writes dst = w ⊙ x / sqrt(mean(x²)+eps) for one row; w nil means
// unit weight. dst may alias x.
func RMSNorm(dst, x, w []float32, eps float32) {
	asm.RMSNorm(dst, x, w, eps, invSqrt)
}

func invSqrt(v float64) float64 { return 1 / math.Sqrt(v) }

// SiLU returns x·sigmoid(x).
func SiLU(x float32) float32 { return x / (1 + float32(math.Exp(float64(-x)))) }

// Softplus returns log(1+exp(x)), linear above 20 as in PyTorch.
func Softplus(x float32) float32 {
	if x > 20 {
		return x
	}
	return float32(math.Log1p(math.Exp(float64(x))))
}

// LogSigmoid returns log(sigmoid(x)) computed stably.
func LogSigmoid(x float32) float32 {
	v := float64(x)
	if v >= 0 {
		return float32(-math.Log1p(math.Exp(-v)))
	}
	return float32(v - math.Log1p(math.Exp(v)))
}

// SwiGLU writes gate[i] = silu(gate[i])·up[i] (the FFN's inner activation).
func SwiGLU(gate, up []float32) { swiGLU(gate, up[:len(gate)]) }

// Add writes dst[i] += x[i].
func Add(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += x[i]
	}
}

// RopeTable holds cos and sin of pos·θ^(-2i/hd) for i < hd/2 and a run of
// positions, so that RoPE does no transcendental calls per head.
type RopeTable struct {
	half  int
	theta float64
	pos0  int
	n     int
	cs    []float32 // [n][half] cos then [n][half] sin
}

// NewRopeTable allocates a table for up to maxTokens positions of heads up
// to maxHeadDim wide.
func NewRopeTable(maxTokens, maxHeadDim int) *RopeTable {
	return &RopeTable{cs: make([]float32, 2*maxTokens*(maxHeadDim/2)), pos0: -1}
}

// Bytes returns the table's storage size.
func (r *RopeTable) Bytes() int64 { return 4 * int64(len(r.cs)) }

// Fill computes the table for positions pos0..pos0+n-1, head dim hd and
// base theta, unless it already holds exactly that.
func (r *RopeTable) Fill(pos0, n, hd int, theta float64) {
	half := hd / 2
	if r.pos0 == pos0 && r.n == n && r.half == half && r.theta == theta {
		return
	}
	r.pos0, r.n, r.half, r.theta = pos0, n, half, theta
	for t := 0; t < n; t++ {
		p := float64(pos0 + t)
		for i := 0; i < half; i++ {
			f := math.Pow(theta, -2*float64(i)/float64(hd))
			s, c := math.Sincos(p * f)
			r.cs[t*half+i] = float32(c)
			r.cs[(n+t)*half+i] = float32(s)
		}
	}
}

// Apply rotates each of the nh heads (width hd = 2·half) of token t's
// vector x in place, rotate-half style: (x1, x2) → (x1·cos − x2·sin,
// x2·cos + x1·sin) with x1 = x[:half], x2 = x[half:].
func (r *RopeTable) Apply(x []float32, t, nh int) {
	half := r.half
	c := r.cs[t*half : (t+1)*half]
	s := r.cs[(r.n+t)*half : (r.n+t+1)*half]
	for h := 0; h < nh; h++ {
		x1 := x[h*2*half : h*2*half+half]
		x2 := x[h*2*half+half : (h+1)*2*half]
		for i := range x1 {
			a, b := x1[i], x2[i]
			x1[i] = a*c[i] - b*s[i]
			x2[i] = b*c[i] + a*s[i]
		}
	}
}

// CausalConv applies a depthwise causal convolution to n tokens of C
// channels: out[t,c] = bias[c] + Σ_{j<k} w[c·k+j]·y[t-(k-1)+j, c], where
// positions before the chunk come from state ((k-1) rows of C, oldest
// first) and bias may be nil. It then shifts the chunk's last k-1 rows into
// state. Channels [lo, hi) only, so callers can split channels across
// workers. out and in are [n·C] and must not alias.
func CausalConv(out, in, state, w, bias []float32, n, C, k, lo, hi int) {
	km := k - 1
	// Token rows outer, channels inner: every row is read contiguously
	// (a channel-outer loop strides C floats per token, and at C = 1,024
	// every read of a column falls in the same L1 set). Each output still
	// adds bias then w[0]·y[t-k+1] … w[k-1]·y[t] in that order, so results
	// do not depend on the loop order or on how channels are split.
	for t := 0; t < n; t++ {
		o := out[t*C+lo : t*C+hi]
		if bias != nil {
			copy(o, bias[lo:hi])
		} else {
			clear(o)
		}
		for j := 0; j < k; j++ {
			var src []float32
			if p := t - km + j; p >= 0 {
				src = in[p*C+lo : p*C+hi]
			} else {
				src = state[(km+p)*C+lo : (km+p)*C+hi]
			}
			wj := w[lo*k+j:]
			for c, v := range src {
				o[c] += wj[c*k] * v
			}
		}
	}
	// new state: the last k-1 inputs of (state ‖ in), oldest row first; a
	// row taken from state comes from a later row, so ascending order reads
	// each before it is overwritten.
	for j := 0; j < km; j++ {
		dst := state[j*C+lo : j*C+hi]
		if p := n - km + j; p >= 0 {
			copy(dst, in[p*C+lo:p*C+hi])
		} else {
			copy(dst, state[(km+p)*C+lo:(km+p)*C+hi])
		}
	}
}
