package search

import (
	"github.com/hilsearch/hilsearch/arch"
)

// The predictor's features: arch's exact per-layer accounting, summed over
// layers, for one phase of the workload. Each is a cost driver whose
// coefficient (time per unit) the fit finds per device; see docs/search.md.
// Units are arbitrary (the fit standardises columns).

// prefillFeatureNames are the features of a prefill of L tokens.
var prefillFeatureNames = []string{
	"const",        // fixed cost of a forward pass
	"mm_macs",      // Σ over layer matrices of L·in·out
	"mm_io",        // Σ over layer matrices of L·(in+out): quantising inputs, writing outputs
	"mm_ops",       // number of layer matrices: dispatch and synchronisation
	"layer_tokens", // Σ over layers of L·d: norms, residuals, activations
	"attn_macs",    // Σ over gqa/swa layers of H·hd·(causal key pairs)
	"conv_taps",    // Σ over conv layers of L·k·d
	"linear_state", // Σ over linear_attn layers of L·H·hd²
	"ssm_state",    // Σ over ssm layers of L·d_in·N
	"head",         // d·V: the LM head for the last position
}

// decodeFeatureNames are the features of one decode step at depth D.
var decodeFeatureNames = []string{
	"const",        // fixed cost of a step
	"weight_bytes", // Σ layer matrix bytes read
	"head_bytes",   // the LM head's bytes
	"mm_ops",       // matrices (head included)
	"mm_io",        // Σ over matrices of in+out
	"kv_bytes",     // KV cache read (f16) at depth D
	"attn_macs",    // Σ over gqa/swa layers of H·hd·keys
	"conv_state",   // Σ over conv layers of k·d
	"linear_state", // Σ over linear_attn layers of H·hd²
	"ssm_state",    // Σ over ssm layers of d_in·N
	"layers",       // per-layer fixed cost (norms, residuals)
}

// ttftFeatureNames are the features of TTFT at L: the prefill's, plus
// the parts of one decode step at depth L that the prefill features do
// not already span (its weights are the prefill's matrices again).
var ttftFeatureNames = append(prefixed("prefill.", prefillFeatureNames), "decode.kv_bytes", "decode.layers")

// ttftFeatures returns the TTFT features of s at L.
func ttftFeatures(s *arch.Spec, ts []arch.Tensor, p arch.Precision, L int) []float64 {
	d := decodeFeatures(s, ts, p, L)
	return append(prefillFeatures(s, ts, p, L), d[5], d[10])
}

func prefixed(pre string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pre + n
	}
	return out
}

// rssFeatureNames are the features of the peak resident set.
var rssFeatureNames = []string{
	"const",        // the runtime and the process
	"weight_bytes", // all weights at the precision
	"kv_bytes",     // the KV cache at the context (f16)
	"state_bytes",  // recurrent state
	"scratch",      // arch's scratch and prefill packing estimate
	"embed_f32",    // the embedding as f32 (one row set in flight at build)
}

// keyPairs is Σ_{t=1..L} min(t, w): the (query, key) pairs of a causal
// prefill of L tokens with window w.
func keyPairs(L, w int64) int64 {
	if L <= w {
		return L * (L + 1) / 2
	}
	return w*(w+1)/2 + (L-w)*w
}

// layerMatrices calls f with (in, out, bytes) of every matrix of layer i.
func layerMatrices(ts []arch.Tensor, p arch.Precision, i int, f func(in, out, bytes float64)) {
	for _, t := range ts {
		if t.Layer == i && t.Matrix {
			f(float64(t.Shape[1]), float64(t.Shape[0]), float64(t.Bytes(p)))
		}
	}
}

// headTensor is the matrix used as the LM head.
func headTensor(ts []arch.Tensor, tied bool) arch.Tensor {
	name := "output.weight"
	if tied {
		name = "token_embd.weight"
	}
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return ts[0]
}

// prefillFeatures returns the prefill features of s at L tokens.
func prefillFeatures(s *arch.Spec, ts []arch.Tensor, p arch.Precision, L int) []float64 {
	x := make([]float64, len(prefillFeatureNames))
	l := float64(L)
	d := float64(s.Hidden)
	x[0] = 1
	for i, ly := range s.Layers {
		layerMatrices(ts, p, i, func(in, out, _ float64) {
			x[1] += l * in * out
			x[2] += l * (in + out)
			x[3]++
		})
		x[4] += l * d
		switch ly.Mixer {
		case arch.MixerGQA, arch.MixerSWA:
			a := ly.GQA
			w := int64(L)
			if ly.Mixer == arch.MixerSWA {
				a = &ly.SWA.Attention
				w = int64(ly.SWA.Window)
			}
			x[5] += float64(a.Heads*a.HeadDim) * float64(keyPairs(int64(L), w))
		case arch.MixerConv:
			x[6] += l * float64(ly.Conv.Kernel) * d
		case arch.MixerLinearAttn:
			x[7] += l * float64(ly.LinearAttn.Heads*ly.LinearAttn.HeadDim*ly.LinearAttn.HeadDim)
		case arch.MixerSSM:
			x[8] += l * float64(ly.SSM.Heads*ly.SSM.HeadDim*ly.SSM.State)
		}
	}
	x[9] = d * float64(s.Vocab)
	return x
}

// decodeFeatures returns the features of one decode step at depth D.
func decodeFeatures(s *arch.Spec, ts []arch.Tensor, p arch.Precision, D int) []float64 {
	x := make([]float64, len(decodeFeatureNames))
	d := float64(s.Hidden)
	x[0] = 1
	for i, ly := range s.Layers {
		layerMatrices(ts, p, i, func(in, out, bytes float64) {
			x[1] += bytes
			x[3]++
			x[4] += in + out
		})
		switch ly.Mixer {
		case arch.MixerGQA, arch.MixerSWA:
			a := ly.GQA
			keys := int64(D) + 1
			if ly.Mixer == arch.MixerSWA {
				a = &ly.SWA.Attention
				keys = min(keys, int64(ly.SWA.Window))
			}
			x[5] += float64(s.LayerKVBytesPerToken(i, false)) * float64(keys)
			x[6] += float64(a.Heads*a.HeadDim) * float64(keys)
		case arch.MixerConv:
			x[7] += float64(ly.Conv.Kernel) * d
		case arch.MixerLinearAttn:
			x[8] += float64(ly.LinearAttn.Heads * ly.LinearAttn.HeadDim * ly.LinearAttn.HeadDim)
		case arch.MixerSSM:
			x[9] += float64(ly.SSM.Heads * ly.SSM.HeadDim * ly.SSM.State)
		}
		x[10]++
	}
	h := headTensor(ts, s.TiedEmbeddings)
	x[2] = float64(h.Bytes(p))
	x[3]++
	x[4] += d + float64(s.Vocab)
	return x
}

// rssFeatures returns the peak-RSS features at context C for a workload
// whose largest context is maxCtx and longest prompt maxPrompt.
func rssFeatures(s *arch.Spec, ts []arch.Tensor, p arch.Precision, C, maxCtx, maxPrompt int) []float64 {
	// The runtime allocates every buffer for the workload's largest
	// context; pages of the KV cache are resident once written, up to C.
	var wb int64
	for _, t := range ts {
		wb += t.Bytes(p)
	}
	return []float64{
		1,
		float64(wb),
		float64(s.KVBytes(C, false)),
		float64(s.StateBytes()),
		float64(s.ScratchBytes(maxCtx, maxPrompt) + s.PrefillPackBytes(p, maxCtx, maxPrompt)),
		4 * float64(s.Vocab) * float64(s.Hidden),
	}
}
