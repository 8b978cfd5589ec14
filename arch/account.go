package arch

import "math"

// ParamCount is the exact number of weights of a network.
type ParamCount struct {
	// Total counts every weight once (a tied embedding once).
	Total int64 `json:"total"`
	// NonEmbedding is Total minus token_embd and, when untied, output.
	NonEmbedding int64 `json:"non_embedding"`
	// ByComponent splits Total by Tensor.Component.
	ByComponent map[Component]int64 `json:"by_component"`
}

// Params counts the weights of s from Tensors. The spec must be valid.
func (s *Spec) Params() ParamCount {
	pc := ParamCount{ByComponent: map[Component]int64{}}
	for _, t := range s.Tensors() {
		n := t.Elements()
		pc.Total += n
		pc.ByComponent[t.Component] += n
		if t.Component != CompEmbedding && t.Component != CompHead {
			pc.NonEmbedding += n
		}
	}
	return pc
}

// WeightBytes is the storage size of all weights at precision p, summed
// from Tensors with Tensor.Bytes (a tied embedding counted once).
func (s *Spec) WeightBytes(p Precision) int64 {
	var n int64
	for _, t := range s.Tensors() {
		n += t.Bytes(p)
	}
	return n
}

// satAdd and satMul saturate at math.MaxInt64 instead of wrapping. Within
// the validation limits and with L, T <= MaxContext they never saturate for
// realistic specs; far beyond (e.g. 512 layers of 65536-wide attention at a
// million-token prefill) the result is clamped rather than wrong in sign.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// tokenFLOPs is the context-independent FLOPs of layer l for one token: the
// mixer's projections, convolution, gates and recurrent update, plus the FFN.
// Formulas in docs/arch.md.
func (s *Spec) tokenFLOPs(l *Layer) int64 {
	d := int64(s.Hidden)
	var f int64
	switch l.Mixer {
	case MixerConv:
		k := int64(l.Conv.Kernel)
		f = 8*d*d + 2*k*d + 2*d
	case MixerGQA, MixerSWA:
		a := l.attention()
		f = 4 * d * int64(a.Heads+a.KVHeads) * int64(a.HeadDim)
	case MixerLinearAttn:
		h, hd := int64(l.LinearAttn.Heads), int64(l.LinearAttn.HeadDim)
		w := h * hd
		f = 12*d*w + 5*h*hd*hd + w
	case MixerSSM:
		m := l.SSM
		din, n, h, kc := int64(m.Heads)*int64(m.HeadDim), int64(m.State), int64(m.Heads), int64(m.ConvKernel)
		f = 2*d*(3*din+2*n+h) + 2*kc*(din+2*n) + 5*din*n + 4*din
	}
	if l.FFN > 0 {
		F := int64(l.FFN)
		f += 6*d*F + F
	}
	return f
}

// keysPrefill is Σ_{t=1..L} min(t, w): the number of (query, key) pairs of
// a causal prefill of L tokens from an empty cache with window w (w = L or
// more for global attention).
func keysPrefill(L, w int64) int64 {
	if L <= w {
		return L * (L + 1) / 2
	}
	return satAdd(w*(w+1)/2, satMul(L-w, w))
}

// LayerFLOPsPrefill is the FLOPs of layer i for a prefill of L tokens from
// an empty cache: L times the per-token part plus the exact causal
// attention term 4·H·hd per (query, key) pair.
func (s *Spec) LayerFLOPsPrefill(i, L int) int64 {
	if L <= 0 {
		return 0
	}
	l := &s.Layers[i]
	f := satMul(int64(L), s.tokenFLOPs(l))
	if a := l.attention(); a != nil {
		w := int64(L)
		if l.Mixer == MixerSWA {
			w = int64(l.SWA.Window)
		}
		f = satAdd(f, satMul(4*int64(a.Heads)*int64(a.HeadDim), keysPrefill(int64(L), w)))
	}
	return f
}

// LayerFLOPsDecode is the FLOPs of layer i for one decode step with T
// tokens already in the context: the new token attends T+1 positions (its
// own included; at most Window for swa).
func (s *Spec) LayerFLOPsDecode(i, T int) int64 {
	if T < 0 {
		T = 0
	}
	l := &s.Layers[i]
	f := s.tokenFLOPs(l)
	if a := l.attention(); a != nil {
		keys := int64(T) + 1
		if l.Mixer == MixerSWA {
			keys = min(keys, int64(l.SWA.Window))
		}
		f = satAdd(f, satMul(4*int64(a.Heads)*int64(a.HeadDim), keys))
	}
	return f
}

// headFLOPs is the tied or untied LM head for one output position.
func (s *Spec) headFLOPs() int64 { return 2 * int64(s.Hidden) * int64(s.Vocab) }

// FLOPsPrefill is the FLOPs of a prefill of L tokens from an empty cache,
// counting 2 per multiply-accumulate: every layer (LayerFLOPsPrefill) plus
// the LM head for the last position only (as llama.cpp computes it).
// Norms, RoPE, softmax, activations and residual adds are not counted; see
// docs/arch.md. L <= 0 gives 0.
func (s *Spec) FLOPsPrefill(L int) int64 {
	if L <= 0 {
		return 0
	}
	f := s.headFLOPs()
	for i := range s.Layers {
		f = satAdd(f, s.LayerFLOPsPrefill(i, L))
	}
	return f
}

// FLOPsDecode is the FLOPs of one decode step with T tokens already in the
// context (LayerFLOPsDecode for every layer plus the LM head).
func (s *Spec) FLOPsDecode(T int) int64 {
	f := s.headFLOPs()
	for i := range s.Layers {
		f = satAdd(f, s.LayerFLOPsDecode(i, T))
	}
	return f
}

// kvBytesPerElement is the KV-cache element size: f16 (2) unless f32.
func kvBytesPerElement(f32 bool) int64 {
	if f32 {
		return 4
	}
	return 2
}

// LayerKVBytesPerToken is the KV-cache bytes one more token of context adds
// to layer i (2·G·hd elements for gqa and swa, 0 otherwise) while the
// context is shorter than the layer's window.
func (s *Spec) LayerKVBytesPerToken(i int, f32 bool) int64 {
	a := s.Layers[i].attention()
	if a == nil {
		return 0
	}
	return 2 * int64(a.KVHeads) * int64(a.HeadDim) * kvBytesPerElement(f32)
}

// KVBytesPerToken is the KV-cache bytes per token of context, f16 unless
// f32: the sum of 2·G·hd·bytes over gqa and swa layers. For swa layers this
// is the growth while the context is shorter than the window; past it a swa
// layer's cache stops growing. KVBytes gives the exact size at a context.
func (s *Spec) KVBytesPerToken(f32 bool) int64 {
	var n int64
	for i := range s.Layers {
		n += s.LayerKVBytesPerToken(i, f32)
	}
	return n
}

// KVBytes is the KV cache of one sequence holding T tokens: gqa layers keep
// T positions, swa layers min(T, Window).
func (s *Spec) KVBytes(T int, f32 bool) int64 {
	if T <= 0 {
		return 0
	}
	var n int64
	for i, l := range s.Layers {
		pos := int64(T)
		if l.Mixer == MixerSWA {
			pos = min(pos, int64(l.SWA.Window))
		}
		n = satAdd(n, satMul(s.LayerKVBytesPerToken(i, f32), pos))
	}
	return n
}

// LayerStateBytes is the recurrent state of layer i per sequence, f32:
// conv (k-1)·d; linear_attn H·hd·hd; ssm H·P·N + (kc-1)·(d_in+2N); else 0.
func (s *Spec) LayerStateBytes(i int) int64 {
	l := &s.Layers[i]
	d := int64(s.Hidden)
	switch l.Mixer {
	case MixerConv:
		return 4 * int64(l.Conv.Kernel-1) * d
	case MixerLinearAttn:
		h, hd := int64(l.LinearAttn.Heads), int64(l.LinearAttn.HeadDim)
		return 4 * h * hd * hd
	case MixerSSM:
		m := l.SSM
		din, n := int64(m.Heads)*int64(m.HeadDim), int64(m.State)
		return 4 * (din*n + int64(m.ConvKernel-1)*(din+2*n))
	}
	return 0
}

// StateBytes is the recurrent state of one sequence (all layers), f32. It
// does not depend on the context length.
func (s *Spec) StateBytes() int64 {
	var n int64
	for i := range s.Layers {
		n += s.LayerStateBytes(i)
	}
	return n
}

// Memory is a peak-memory estimate in bytes.
type Memory struct {
	Weights int64 `json:"weights"`
	KV      int64 `json:"kv"`
	State   int64 `json:"state"`
	Scratch int64 `json:"scratch"`
	Total   int64 `json:"total"`
}

// MemoryEstimate is the analytic peak memory of running s at precision p
// with a KV cache for T tokens (f32 if kvF32, else f16) after a prefill of
// up to promptL tokens: weights + KVBytes(T) + StateBytes + ScratchBytes +
// PrefillPackBytes.
func (s *Spec) MemoryEstimate(p Precision, T int, kvF32 bool, promptL int) Memory {
	m := Memory{
		Weights: s.WeightBytes(p),
		KV:      s.KVBytes(T, kvF32),
		State:   s.StateBytes(),
		Scratch: satAdd(s.ScratchBytes(T, promptL), s.PrefillPackBytes(p, T, promptL)),
	}
	m.Total = satAdd(satAdd(m.Weights, m.KV), satAdd(m.State, m.Scratch))
	return m
}

// LayerParams is the number of weights of layer i (mixer, norms and FFN).
func (s *Spec) LayerParams(i int) int64 {
	var n int64
	for _, t := range s.Tensors() {
		if t.Layer == i {
			n += t.Elements()
		}
	}
	return n
}

// MixerCounts is the number of layers of each mixer kind (kinds with no
// layer are absent).
func (s *Spec) MixerCounts() map[Mixer]int {
	c := map[Mixer]int{}
	for _, l := range s.Layers {
		c[l.Mixer]++
	}
	return c
}

// AttentionLayers is the number of gqa and swa layers (the layers with a KV
// cache).
func (s *Spec) AttentionLayers() int {
	n := 0
	for _, l := range s.Layers {
		if l.Mixer == MixerGQA || l.Mixer == MixerSWA {
			n++
		}
	}
	return n
}
