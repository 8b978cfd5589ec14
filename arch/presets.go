package arch

import (
	"fmt"
	"slices"
	"strings"
)

// preset builds a fresh copy of one named network.
type preset struct {
	name  string
	build func() *Spec
}

// presets is the registry of named networks, in display order.
var presets = []preset{
	{"lfm2-350m", func() *Spec { return lfm2("lfm2-350m", 1024, 16, 4608, []int{2, 5, 8, 10, 12, 14}, 16) }},
	{"lfm2-700m", func() *Spec { return lfm2("lfm2-700m", 1536, 16, 6912, []int{2, 5, 8, 10, 12, 14}, 24) }},
	{"lfm2-1.2b", func() *Spec { return lfm2("lfm2-1.2b", 2048, 16, 8192, []int{2, 5, 8, 10, 12, 14}, 32) }},
	{"lfm2-2.6b", func() *Spec { return lfm2("lfm2-2.6b", 2048, 30, 10752, []int{2, 5, 9, 13, 17, 21, 24, 27}, 32) }},
	{"llama-3.2-1b", func() *Spec {
		return dense("llama-3.2-1b", 128256, 2048, 16, 8192, Attention{Heads: 32, KVHeads: 8, HeadDim: 64, RopeTheta: 500000}, 131072)
	}},
	{"qwen3-0.6b", func() *Spec {
		return dense("qwen3-0.6b", 151936, 1024, 28, 3072, Attention{Heads: 16, KVHeads: 8, HeadDim: 128, QKNorm: true, RopeTheta: 1e6}, 40960)
	}},
}

// LFM2Vocab is the embedding-row count of every LFM2 release.
const LFM2Vocab = 65536

// lfm2 builds a released dense LFM2 network (lfm2.md §2): conv layers with
// k = 3 except the listed attention layers (GQA, 8 KV heads, head_dim 64,
// QK-norm, RoPE 1e6), one SwiGLU of effective width ffn per layer, tied
// embeddings, 128000 max positions.
func lfm2(name string, d, layers, ffn int, attn []int, heads int) *Spec {
	s := &Spec{Name: name, Vocab: LFM2Vocab, Hidden: d, TiedEmbeddings: true, NormEps: 1e-5, MaxContext: 128000}
	for i := range layers {
		l := Layer{FFN: ffn}
		if slices.Contains(attn, i) {
			l.Mixer = MixerGQA
			l.GQA = &Attention{Heads: heads, KVHeads: 8, HeadDim: 64, QKNorm: true, RopeTheta: 1e6}
		} else {
			l.Mixer = MixerConv
			l.Conv = &Conv{Kernel: 3}
		}
		s.Layers = append(s.Layers, l)
	}
	return s
}

// dense builds a pure-attention baseline with tied embeddings.
func dense(name string, vocab, d, layers, ffn int, a Attention, ctx int) *Spec {
	s := &Spec{Name: name, Vocab: vocab, Hidden: d, TiedEmbeddings: true, NormEps: 1e-6, MaxContext: ctx}
	if strings.HasPrefix(name, "llama") {
		s.NormEps = 1e-5
	}
	for range layers {
		g := a
		s.Layers = append(s.Layers, Layer{Mixer: MixerGQA, GQA: &g, FFN: ffn})
	}
	return s
}

// PresetNames lists the preset names in display order.
func PresetNames() []string {
	out := make([]string, len(presets))
	for i, p := range presets {
		out[i] = p.name
	}
	return out
}

// Preset returns a fresh copy of the named network (the caller may modify it).
func Preset(name string) (*Spec, error) {
	for _, p := range presets {
		if p.name == name {
			return p.build(), nil
		}
	}
	return nil, fmt.Errorf("unknown preset %q (known: %s)", name, strings.Join(PresetNames(), ", "))
}
