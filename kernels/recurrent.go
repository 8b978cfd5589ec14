package kernels

import (
	"fmt"
	"math"
)

// glaChunk is the chunk length of the chunked gated-linear-attention
// prefill.
const glaChunk = 64

// glaMinLogDecay bounds the cumulative log decay inside a chunk for the
// factorised form (whose factors exp(-b) must stay finite in float32);
// chunks that decay faster are computed with the recurrence.
const glaMinLogDecay = -60

// GLAScratchFloats returns the per-worker scratch (floats) GatedLinearAttention
// needs for heads of width hd.
func GLAScratchFloats(hd int) int { return 3 * glaChunk * hd }

type glaArgs struct {
	out, q, k, v, a []float32
	state           []float32
	n, H, hd        int
}

// GatedLinearAttention runs the gated linear attention recurrence of arch's
// linear_attn block for n tokens: per head, α = exp(logsigmoid(a)/16) per key
// channel, S_t = diag(α_t)·S_{t-1} + k_tᵀ·v_t, o_t = (q_t/sqrt(hd))·S_t.
// q, k, v, a and out are [n·H·hd]; state is [H·hd·hd] (key channel major)
// and is advanced by n tokens. Prefill is chunked (64 tokens): within a chunk
// the decays factor as exp(b_t − b_s) with b the cumulative log decay, which
// turns the chunk into small matrix products. Heads run in parallel.
func (e *Engine) GatedLinearAttention(out, q, k, v, a, state []float32, n, H, hd int) error {
	if len(state) != H*hd*hd {
		return fmt.Errorf("linear attention: state has %d values, want %d", len(state), H*hd*hd)
	}
	if GLAScratchFloats(hd) > len(e.row[0]) {
		return fmt.Errorf("linear attention: head dim %d exceeds the engine's scratch", hd)
	}
	e.gla = glaArgs{out: out, q: q, k: k, v: v, a: a, state: state, n: n, H: H, hd: hd}
	e.pool.Run(H, 1, e.glaFn)
	e.gla = glaArgs{}
	return nil
}

func (e *Engine) glaHeads(worker, lo, hi int) {
	g := &e.gla
	hd, W := g.hd, g.H*g.hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	sc := e.row[worker]
	b := sc[:glaChunk*hd]
	qe := sc[glaChunk*hd : 2*glaChunk*hd]
	ke := sc[2*glaChunk*hd : 3*glaChunk*hd]
	for h := lo; h < hi; h++ {
		S := g.state[h*hd*hd : (h+1)*hd*hd]
		for t0 := 0; t0 < g.n; t0 += glaChunk {
			L := min(glaChunk, g.n-t0)
			if L == 1 { // decode: the recurrence is one call per head
				g.recurrent(S, t0, 1, h, scale, qe)
				continue
			}
			for t := 0; t < L; t++ {
				a := g.a[(t0+t)*W+h*hd : (t0+t)*W+(h+1)*hd]
				bt := b[t*hd : (t+1)*hd]
				for c := range bt {
					la := LogSigmoid(a[c]) / 16
					if t > 0 {
						la += b[(t-1)*hd+c]
					}
					bt[c] = la
				}
			}
			bL := b[(L-1)*hd : L*hd]
			minb := float32(0)
			for _, x := range bL {
				minb = min(minb, x)
			}
			if minb < glaMinLogDecay {
				g.recurrent(S, t0, L, h, scale, qe)
				continue
			}
			for t := 0; t < L; t++ {
				q := g.q[(t0+t)*W+h*hd : (t0+t)*W+(h+1)*hd]
				k := g.k[(t0+t)*W+h*hd : (t0+t)*W+(h+1)*hd]
				bt := b[t*hd : (t+1)*hd]
				qt := qe[t*hd : (t+1)*hd]
				kt := ke[t*hd : (t+1)*hd]
				for c := range bt {
					eb := math.Exp(float64(bt[c]))
					qt[c] = q[c] * scale * float32(eb)
					kt[c] = k[c] * float32(1/eb)
				}
			}
			for t := 0; t < L; t++ {
				o := g.out[(t0+t)*W+h*hd : (t0+t)*W+(h+1)*hd]
				clear(o)
				qt := qe[t*hd : (t+1)*hd]
				for c, x := range qt {
					axpy(x, S[c*hd:(c+1)*hd], o)
				}
				for s := 0; s <= t; s++ {
					w := dotF32(qt, ke[s*hd:(s+1)*hd])
					axpy(w, g.v[(t0+s)*W+h*hd:(t0+s)*W+(h+1)*hd], o)
				}
			}
			for c := 0; c < hd; c++ {
				Sc := S[c*hd : (c+1)*hd]
				for s := 0; s < L; s++ {
					axpy(ke[s*hd+c], g.v[(t0+s)*W+h*hd:(t0+s)*W+(h+1)*hd], Sc)
				}
				scaleVec(float32(math.Exp(float64(bL[c]))), Sc)
			}
		}
	}
}

// recurrent advances one head token by token (decode, and chunks whose
// decay is too steep for the factorised form): per key channel c, S_c =
// α_c·S_c + k_c·v, o += (q_c·scale)·S_c, one stateStep call per token.
// sc holds at least 2·hd floats of scratch.
func (g *glaArgs) recurrent(S []float32, t0, L, h int, scale float32, sc []float32) {
	hd, W := g.hd, g.H*g.hd
	alpha, qs := sc[:hd], sc[hd:2*hd]
	for t := t0; t < t0+L; t++ {
		q := g.q[t*W+h*hd : t*W+(h+1)*hd]
		k := g.k[t*W+h*hd : t*W+(h+1)*hd]
		v := g.v[t*W+h*hd : t*W+(h+1)*hd]
		a := g.a[t*W+h*hd : t*W+(h+1)*hd]
		o := g.out[t*W+h*hd : t*W+(h+1)*hd]
		clear(o)
		for c := 0; c < hd; c++ {
			alpha[c] = float32(math.Exp(float64(LogSigmoid(a[c]) / 16)))
			qs[c] = q[c] * scale
		}
		stateStep(S, hd, alpha, k, qs, v, o)
	}
}

type ssmArgs struct {
	y, xbc, dt         []float32
	dtStride           int
	aLog, d, dtBias    []float32
	state              []float32
	n, H, P, N, stride int
}

// SelectiveScan runs the Mamba2 scan of arch's ssm block for n tokens. xbc
// holds per token [x (H·P) | B (N) | C (N)] (after the conv and SiLU) with
// row stride H·P+2N; dt holds the raw per-head step inputs at row stride
// dtStride; per head: dt = softplus(dt + dtBias), A = −exp(aLog),
// h_t = exp(dt·A)·h_{t-1} + dt·B_t·x_tᵀ (state N×P), y_t = C_tᵀ·h_t + D·x_t.
// y is [n·H·P]; state [H·N·P] is advanced. Heads run in parallel.
func (e *Engine) SelectiveScan(y, xbc, dt []float32, dtStride int, aLog, d, dtBias, state []float32, n, H, P, N int) error {
	if len(state) != H*N*P {
		return fmt.Errorf("ssm: state has %d values, want %d", len(state), H*N*P)
	}
	if 2*N > len(e.row[0]) {
		return fmt.Errorf("ssm: state size %d exceeds the engine's scratch", N)
	}
	e.ssm = ssmArgs{y: y, xbc: xbc, dt: dt, dtStride: dtStride, aLog: aLog, d: d, dtBias: dtBias,
		state: state, n: n, H: H, P: P, N: N, stride: H*P + 2*N}
	e.pool.Run(H, 1, e.ssmFn)
	e.ssm = ssmArgs{}
	return nil
}

func (e *Engine) ssmHeads(worker, lo, hi int) {
	s := &e.ssm
	P, N, din := s.P, s.N, s.H*s.P
	decay, write := e.row[worker][:N], e.row[worker][N:2*N]
	for h := lo; h < hi; h++ {
		hs := s.state[h*N*P : (h+1)*N*P]
		A := -math.Exp(float64(s.aLog[h]))
		for t := 0; t < s.n; t++ {
			row := s.xbc[t*s.stride : (t+1)*s.stride]
			x := row[h*P : (h+1)*P]
			B := row[din : din+N]
			C := row[din+N : din+2*N]
			dtv := Softplus(s.dt[t*s.dtStride+h] + s.dtBias[h])
			dA := float32(math.Exp(float64(dtv) * A))
			y := s.y[t*din+h*P : t*din+(h+1)*P]
			dh := s.d[h]
			for p, xv := range x {
				y[p] = dh * xv
			}
			// per state row j: h_j = dA·h_j + (dt·B_j)·x, y += C_j·h_j
			for j := range decay {
				decay[j], write[j] = dA, dtv*B[j]
			}
			stateStep(hs, P, decay, write, C, x, y)
		}
	}
}
