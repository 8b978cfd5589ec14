package arch

import "fmt"

// Component groups tensors for Params().ByComponent.
type Component string

// Tensor components. Mixer tensors use their mixer's name (conv, gqa, swa,
// linear_attn, ssm); the per-layer and final RMSNorm weights are "norm"
// (norms inside a mixer, such as QK-norm, belong to the mixer).
const (
	CompEmbedding Component = "embedding" // token_embd (also the LM head when tied)
	CompHead      Component = "head"      // output, only when embeddings are untied
	CompNorm      Component = "norm"      // attn_norm, ffn_norm, output_norm
	CompFFN       Component = "ffn"       // SwiGLU matrices
)

// Tensor is one weight tensor of a network. Spec.Tensors lists them all; the
// parameter and byte accounting, the runtime's weight allocation and the
// GGUF export all iterate that one list.
type Tensor struct {
	// Name is GGUF-style, e.g. "token_embd.weight", "blk.3.attn_q.weight".
	// The LFM2 GGUF export renames "output_norm.weight" to
	// "token_embd_norm.weight" as llama.cpp's lfm2 loader expects.
	Name string
	// Layer is the layer index, or -1 for tensors outside the layers.
	Layer int
	// Component is the accounting group.
	Component Component
	// Shape is [out, in] for matrices (row-major, y = W·x), [channels, taps]
	// for convolution kernels and [n] for vectors.
	Shape []int
	// Matrix marks a 2-D linear-layer or embedding weight, the only tensors
	// stored at a quantised or f16 precision (see Type).
	Matrix bool
}

// Elements is the number of weights in t.
func (t Tensor) Elements() int64 {
	n := int64(1)
	for _, s := range t.Shape {
		n *= int64(s)
	}
	return n
}

// Type is the storage format of t when the network is built at precision p:
// matrices take p (f16 instead when p is q8_0/q4_0 and the row length is not
// a multiple of QuantBlock); every other tensor (norm weights, convolution
// kernels, biases, A_log, D, dt_bias) stays f32.
func (t Tensor) Type(p Precision) Precision {
	if !t.Matrix {
		return F32
	}
	switch p {
	case Q8_0, Q4_0:
		if t.Shape[len(t.Shape)-1]%QuantBlock != 0 {
			return F16
		}
	}
	return p
}

// Bytes is the storage size of t at precision p.
func (t Tensor) Bytes(p Precision) int64 {
	q := t.Type(p)
	row := t.Shape[len(t.Shape)-1]
	return q.RowBytes(row) * (t.Elements() / int64(row))
}

// Tensors lists every weight tensor of the network in file order: the
// embedding, then per layer the mixer norm, mixer tensors, FFN norm and FFN
// matrices, then the final norm and (untied only) the output matrix. The
// spec must be valid.
func (s *Spec) Tensors() []Tensor {
	d := s.Hidden
	ts := make([]Tensor, 0, 2+len(s.Layers)*12+2)
	ts = append(ts, Tensor{Name: "token_embd.weight", Layer: -1, Component: CompEmbedding, Shape: []int{s.Vocab, d}, Matrix: true})
	for i, l := range s.Layers {
		b := func(name string, comp Component, matrix bool, shape ...int) {
			ts = append(ts, Tensor{Name: fmt.Sprintf("blk.%d.%s", i, name), Layer: i, Component: comp, Shape: shape, Matrix: matrix})
		}
		b("attn_norm.weight", CompNorm, false, d)
		mc := Component(l.Mixer)
		switch l.Mixer {
		case MixerConv:
			b("shortconv.in_proj.weight", mc, true, 3*d, d)
			b("shortconv.conv.weight", mc, false, d, l.Conv.Kernel)
			b("shortconv.out_proj.weight", mc, true, d, d)
		case MixerGQA, MixerSWA:
			a := l.attention()
			b("attn_q.weight", mc, true, a.Heads*a.HeadDim, d)
			b("attn_k.weight", mc, true, a.KVHeads*a.HeadDim, d)
			b("attn_v.weight", mc, true, a.KVHeads*a.HeadDim, d)
			if a.QKNorm {
				b("attn_q_norm.weight", mc, false, a.HeadDim)
				b("attn_k_norm.weight", mc, false, a.HeadDim)
			}
			b("attn_output.weight", mc, true, d, a.Heads*a.HeadDim)
		case MixerLinearAttn:
			w := l.LinearAttn.Heads * l.LinearAttn.HeadDim
			b("linattn.q.weight", mc, true, w, d)
			b("linattn.k.weight", mc, true, w, d)
			b("linattn.v.weight", mc, true, w, d)
			b("linattn.a.weight", mc, true, w, d)
			b("linattn.g.weight", mc, true, w, d)
			b("linattn.norm.weight", mc, false, l.LinearAttn.HeadDim)
			b("linattn.out.weight", mc, true, d, w)
		case MixerSSM:
			m := l.SSM
			din := m.Heads * m.HeadDim
			b("ssm_in.weight", mc, true, 2*din+2*m.State+m.Heads, d)
			b("ssm_conv1d.weight", mc, false, din+2*m.State, m.ConvKernel)
			b("ssm_conv1d.bias", mc, false, din+2*m.State)
			b("ssm_dt.bias", mc, false, m.Heads)
			b("ssm_a", mc, false, m.Heads)
			b("ssm_d", mc, false, m.Heads)
			b("ssm_norm.weight", mc, false, din)
			b("ssm_out.weight", mc, true, d, din)
		}
		if l.FFN > 0 {
			b("ffn_norm.weight", CompNorm, false, d)
			b("ffn_gate.weight", CompFFN, true, l.FFN, d)
			b("ffn_up.weight", CompFFN, true, l.FFN, d)
			b("ffn_down.weight", CompFFN, true, d, l.FFN)
		}
	}
	ts = append(ts, Tensor{Name: "output_norm.weight", Layer: -1, Component: CompNorm, Shape: []int{d}})
	if !s.TiedEmbeddings {
		ts = append(ts, Tensor{Name: "output.weight", Layer: -1, Component: CompHead, Shape: []int{s.Vocab, d}, Matrix: true})
	}
	return ts
}

// attention returns the GQA parameters of a gqa or swa layer, nil otherwise.
func (l *Layer) attention() *Attention {
	switch l.Mixer {
	case MixerGQA:
		return l.GQA
	case MixerSWA:
		return &l.SWA.Attention
	}
	return nil
}
