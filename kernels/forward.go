package kernels

import (
	"time"

	"github.com/hilsearch/hilsearch/arch"
)

// tokOp names the per-token step tokItems runs.
type tokOp int

const (
	opEmbed tokOp = iota
	opNorm
	opConvGate
	opConvOut
	opAttnPrep
	opGLAOut
	opSSMCopy
	opSSMSiLU
	opSSMOut
	opSwiGLU
	opAddB
	opAddC
)

// fwdState holds the operands of the per-token and per-channel steps.
type fwdState struct {
	tokens          []int32
	normW           []float32
	convC           int
	convIn, convOut []float32
	gla             []float32
}

// forward runs one batch of tokens through the network at position m.pos;
// with last set it also computes the logits of the batch's final token.
func (m *Model) forward(tokens []int32, last bool) error {
	n, d := len(tokens), m.spec.Hidden
	m.n = n
	m.fs.tokens = tokens
	if m.prof {
		m.profTime = time.Now()
	}
	m.runTok(opEmbed)
	m.mark("embed")
	for _, l := range m.layers {
		m.cur = l
		m.fs.normW = l.opNorm
		m.runTok(opNorm)
		var err error
		switch l.kind {
		case arch.MixerConv:
			err = m.convMixer(l)
		case arch.MixerGQA, arch.MixerSWA:
			err = m.attnMixer(l)
		case arch.MixerLinearAttn:
			err = m.glaMixer(l)
		case arch.MixerSSM:
			err = m.ssmMixer(l)
		}
		if err != nil {
			return err
		}
		m.mark(string(l.kind))
		if l.F > 0 {
			m.fs.normW = l.ffnNorm
			m.runTok(opNorm)
			F := l.F
			if err := m.e.MatMuls(m.h, n, []MatProduct{{m.a[:n*F], l.gate}, {m.a[n*F : 2*n*F], l.up}}); err != nil {
				return err
			}
			m.runTok(opSwiGLU)
			if err := m.e.MatMul(m.b[:n*d], l.down, m.a[:n*F], n); err != nil {
				return err
			}
			m.runTok(opAddB)
			m.mark("ffn")
		}
	}
	m.pos += n
	if !last {
		return nil
	}
	// Only the last position reaches the LM head.
	RMSNorm(m.h[:d], m.x[(n-1)*d:n*d], m.finalNorm, float32(m.spec.NormEps))
	if err := m.e.MatMul(m.logits, m.head, m.h[:d], 1); err != nil {
		return err
	}
	m.mark("head")
	return nil
}

func (m *Model) runTok(op tokOp) {
	m.op = op
	m.e.Run(m.n, 1, m.tokFn)
}

func (m *Model) convMixer(l *layer) error {
	n, d := m.n, m.spec.Hidden
	if err := m.e.MatMul(m.a[:n*3*d], l.inProj, m.h, n); err != nil {
		return err
	}
	m.runTok(opConvGate)
	m.fs.convC = d
	m.fs.convIn, m.fs.convOut = m.b, m.c
	m.e.RunWork(d, 64, n*d*l.k, m.chFn)
	m.runTok(opConvOut)
	if err := m.e.MatMul(m.b[:n*d], l.outProj, m.c, n); err != nil {
		return err
	}
	m.runTok(opAddB)
	return nil
}

func (m *Model) attnMixer(l *layer) error {
	n, d := m.n, m.spec.Hidden
	qw, kw := l.H*l.hd, l.G*l.hd
	q := m.a[:n*qw]
	k := m.a[n*qw : n*(qw+kw)]
	v := m.a[n*(qw+kw) : n*(qw+2*kw)]
	if err := m.e.MatMuls(m.h, n, []MatProduct{{q, l.wq}, {k, l.wk}, {v, l.wv}}); err != nil {
		return err
	}
	m.rope.Fill(m.pos, n, l.hd, l.theta)
	m.runTok(opAttnPrep)
	if err := m.e.Attention(m.b[:n*qw], q, k, v, l.cache, m.pos, n, l.H, l.window); err != nil {
		return err
	}
	if err := m.e.MatMul(m.c[:n*d], l.outProj, m.b, n); err != nil {
		return err
	}
	m.runTok(opAddC)
	return nil
}

func (m *Model) glaMixer(l *layer) error {
	n, d := m.n, m.spec.Hidden
	w := l.H * l.hd
	bufs := [5][]float32{}
	var ps [5]MatProduct
	for i, mat := range []*Matrix{l.wq, l.wk, l.wv, l.wa, l.wg} {
		bufs[i] = m.a[i*n*w : (i+1)*n*w]
		ps[i] = MatProduct{bufs[i], mat}
	}
	if err := m.e.MatMuls(m.h, n, ps[:]); err != nil {
		return err
	}
	if err := m.e.GatedLinearAttention(m.b[:n*w], bufs[0], bufs[1], bufs[2], bufs[3], l.state, n, l.H, l.hd); err != nil {
		return err
	}
	m.fs.gla = bufs[4]
	m.runTok(opGLAOut)
	if err := m.e.MatMul(m.c[:n*d], l.outProj, m.b, n); err != nil {
		return err
	}
	m.runTok(opAddC)
	return nil
}

func (m *Model) ssmMixer(l *layer) error {
	n, d := m.n, m.spec.Hidden
	cw := l.din + 2*l.N
	wt := 2*l.din + 2*l.N + l.H
	if err := m.e.MatMul(m.a[:n*wt], l.inProj, m.h, n); err != nil {
		return err
	}
	m.runTok(opSSMCopy)
	m.fs.convC = cw
	m.fs.convIn, m.fs.convOut = m.b, m.c
	m.e.RunWork(cw, 64, n*cw*l.k, m.chFn)
	m.runTok(opSSMSiLU)
	if err := m.e.SelectiveScan(m.b[:n*l.din], m.c[:n*cw], m.a[l.din+cw:], wt, l.aLog, l.dd, l.dtBias, l.state, n, l.H, l.P, l.N); err != nil {
		return err
	}
	m.runTok(opSSMOut)
	if err := m.e.MatMul(m.c[:n*d], l.outProj, m.b, n); err != nil {
		return err
	}
	m.runTok(opAddC)
	return nil
}

// chanItems runs the causal convolution of the current layer over channels.
func (m *Model) chanItems(_, lo, hi int) {
	l := m.cur
	CausalConv(m.fs.convOut, m.fs.convIn, l.convState, l.convW, l.convB, m.n, m.fs.convC, l.k, lo, hi)
}

// tokItems runs the per-token step m.op for tokens [lo, hi).
func (m *Model) tokItems(_, lo, hi int) {
	d := m.spec.Hidden
	eps := float32(m.spec.NormEps)
	l := m.cur
	n := m.n
	for t := lo; t < hi; t++ {
		x := m.x[t*d : (t+1)*d]
		switch m.op {
		case opEmbed:
			m.embed.DequantizeRow(x, int(m.fs.tokens[t]))
		case opNorm:
			RMSNorm(m.h[t*d:(t+1)*d], x, m.fs.normW, eps)
		case opConvGate:
			a := m.a[t*3*d : (t+1)*3*d]
			y := m.b[t*d : (t+1)*d]
			bg, xt := a[:d], a[2*d:]
			for i := range y {
				y[i] = bg[i] * xt[i]
			}
		case opConvOut:
			cg := m.a[t*3*d+d : t*3*d+2*d]
			z := m.c[t*d : (t+1)*d]
			for i := range z {
				z[i] *= cg[i]
			}
		case opAttnPrep:
			qw, kw := l.H*l.hd, l.G*l.hd
			q := m.a[t*qw : (t+1)*qw]
			k := m.a[n*qw+t*kw : n*qw+(t+1)*kw]
			v := m.a[n*(qw+kw)+t*kw : n*(qw+kw)+(t+1)*kw]
			if l.qNorm != nil {
				for h := 0; h < l.H; h++ {
					RMSNorm(q[h*l.hd:(h+1)*l.hd], q[h*l.hd:(h+1)*l.hd], l.qNorm, eps)
				}
				for h := 0; h < l.G; h++ {
					RMSNorm(k[h*l.hd:(h+1)*l.hd], k[h*l.hd:(h+1)*l.hd], l.kNorm, eps)
				}
			}
			m.rope.Apply(q, t, l.H)
			m.rope.Apply(k, t, l.G)
			l.cache.Round(k)
			l.cache.Round(v)
		case opGLAOut:
			w := l.H * l.hd
			o := m.b[t*w : (t+1)*w]
			g := m.fs.gla[t*w : (t+1)*w]
			for h := 0; h < l.H; h++ {
				RMSNorm(o[h*l.hd:(h+1)*l.hd], o[h*l.hd:(h+1)*l.hd], l.headNorm, eps)
			}
			for i := range o {
				o[i] *= SiLU(g[i])
			}
		case opSSMCopy:
			cw := l.din + 2*l.N
			wt := 2*l.din + 2*l.N + l.H
			copy(m.b[t*cw:(t+1)*cw], m.a[t*wt+l.din:t*wt+l.din+cw])
		case opSSMSiLU:
			cw := l.din + 2*l.N
			r := m.c[t*cw : (t+1)*cw]
			for i, v := range r {
				r[i] = SiLU(v)
			}
		case opSSMOut:
			wt := 2*l.din + 2*l.N + l.H
			y := m.b[t*l.din : (t+1)*l.din]
			z := m.a[t*wt : t*wt+l.din]
			for i := range y {
				y[i] *= SiLU(z[i])
			}
			RMSNorm(y, y, l.headNorm, eps)
		case opSwiGLU:
			F := l.F
			SwiGLU(m.a[t*F:(t+1)*F], m.a[n*F+t*F:n*F+(t+1)*F])
		case opAddB:
			Add(x, m.b[t*d:(t+1)*d])
		case opAddC:
			Add(x, m.c[t*d:(t+1)*d])
		}
	}
}

// SetProfiler turns per-block-type timing on or off. When on, every forward
// pass adds the wall time of its embedding, each mixer kind, the FFNs and
// the LM head to the profile (see Profile). Off costs one branch per block.
func (m *Model) SetProfiler(on bool) { m.prof = on }

// Profile returns the accumulated time per block type: "embed", a mixer
// kind ("conv", "gqa", "swa", "linear_attn", "ssm"), "ffn" and "head". The
// time of a block's pre-norm counts towards the block.
func (m *Model) Profile() map[string]time.Duration {
	out := make(map[string]time.Duration, len(m.profNS))
	for k, v := range m.profNS {
		out[k] = time.Duration(v)
	}
	return out
}

// ResetProfile clears the accumulated profile.
func (m *Model) ResetProfile() { clear(m.profNS) }

func (m *Model) mark(kind string) {
	if !m.prof {
		return
	}
	now := time.Now()
	m.profNS[kind] += int64(now.Sub(m.profTime))
	m.profTime = now
}
