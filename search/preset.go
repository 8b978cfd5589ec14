package search

import "fmt"

// Space presets, by name.
const (
	// PresetLFM2Like is LFM2-350M's neighbourhood: 16 layers of gated short
	// conv and GQA at hidden 1024 (heads·head_dim = hidden, so every
	// candidate has a Hugging Face LFM2 config.json), one FFN width for all layers, a
	// 300–400M parameter budget. LFM2-350M itself is a point of the space.
	PresetLFM2Like = "lfm2-like"
	// PresetHybridZoo allows every mixer kind, 12–20 layers and a per-layer
	// FFN width (including no FFN), under a 200–500M budget.
	PresetHybridZoo = "hybrid-zoo"
	// PresetLFM2Tiny is a small LFM2-shaped space for measuring on a laptop
	// in minutes: 4–6 layers of gated short conv and GQA (one shape, 8
	// heads, 2 KV heads, head_dim 64) at hidden 256, 384 or 512, one FFN
	// width of 2, 3 or 4 times the hidden size, an 8192-row vocabulary and
	// no budget. Its 162 layer-order classes are small enough to measure
	// whole (see ReplayStandIn and docs/search.md).
	PresetLFM2Tiny = "lfm2-tiny"
	// PresetHybridTiny is lfm2-tiny's widths at 4–8 layers with every mixer
	// kind and a per-layer FFN width (including none): the held-out
	// layouts of the predictor's accuracy check.
	PresetHybridTiny = "hybrid-tiny"
)

// PresetNames lists the space presets.
func PresetNames() []string {
	return []string{PresetLFM2Like, PresetHybridZoo, PresetLFM2Tiny, PresetHybridTiny}
}

// SpacePreset returns a fresh copy of the named space preset.
func SpacePreset(name string) (Space, error) {
	switch name {
	case PresetLFM2Like:
		return Space{
			Vocab:          65536,
			TiedEmbeddings: true,
			NormEps:        1e-5,
			MaxContext:     32768,
			Layers:         IntRange{Min: 16, Max: 16},
			Hidden:         []int{1024},
			Mixers: MixerSpace{
				Conv: &ConvSpace{Kernels: []int{2, 3, 4, 5}},
				GQA:  &AttentionSpace{Heads: []int{16}, KVHeads: []int{4, 8}, HeadDims: []int{64}, QKNorm: true, RopeTheta: 1e6},
			},
			FFN:             FFNSpace{Ratios: []float64{3, 3.5, 4, 4.5, 5}, MultipleOf: 256},
			Params:          Int64Range{Min: 300_000_000, Max: 400_000_000},
			AttentionLayers: &IntRange{Min: 1, Max: 8},
		}, nil
	case PresetHybridZoo:
		return Space{
			Vocab:          65536,
			TiedEmbeddings: true,
			NormEps:        1e-5,
			MaxContext:     32768,
			Layers:         IntRange{Min: 12, Max: 20},
			Hidden:         []int{768, 1024},
			Mixers: MixerSpace{
				Conv:       &ConvSpace{Kernels: []int{3, 4}},
				GQA:        &AttentionSpace{Heads: []int{8, 16}, KVHeads: []int{4, 8}, HeadDims: []int{64}, QKNorm: true, RopeTheta: 1e6},
				SWA:        &SWASpace{AttentionSpace: AttentionSpace{Heads: []int{8, 16}, KVHeads: []int{4, 8}, HeadDims: []int{64}, QKNorm: true, RopeTheta: 1e6}, Windows: []int{512, 2048}},
				LinearAttn: &LinearAttnSpace{Heads: []int{8, 16}, HeadDims: []int{64}},
				SSM:        &SSMSpace{HeadDims: []int{64}, States: []int{64, 128}, Expands: []int{2}, ConvKernels: []int{4}},
			},
			FFN:    FFNSpace{Ratios: []float64{0, 2, 3, 4}, MultipleOf: 256, PerLayer: true},
			Params: Int64Range{Min: 200_000_000, Max: 500_000_000},
		}, nil
	case PresetLFM2Tiny:
		return Space{
			Vocab:          8192,
			TiedEmbeddings: true,
			NormEps:        1e-5,
			MaxContext:     2048,
			Layers:         IntRange{Min: 4, Max: 6},
			Hidden:         []int{256, 384, 512},
			Mixers: MixerSpace{
				Conv: &ConvSpace{Kernels: []int{3}},
				GQA:  &AttentionSpace{Heads: []int{8}, KVHeads: []int{2}, HeadDims: []int{64}, QKNorm: true, RopeTheta: 1e6},
			},
			FFN:    FFNSpace{Ratios: []float64{2, 3, 4}, MultipleOf: 128},
			Params: Int64Range{Min: 1, Max: 1_000_000_000},
		}, nil
	case PresetHybridTiny:
		att := AttentionSpace{Heads: []int{8}, KVHeads: []int{2, 4}, HeadDims: []int{64}, QKNorm: true, RopeTheta: 1e6}
		return Space{
			Vocab:          8192,
			TiedEmbeddings: true,
			NormEps:        1e-5,
			MaxContext:     2048,
			Layers:         IntRange{Min: 4, Max: 8},
			Hidden:         []int{256, 384, 512},
			Mixers: MixerSpace{
				Conv:       &ConvSpace{Kernels: []int{3, 4}},
				GQA:        &att,
				SWA:        &SWASpace{AttentionSpace: att, Windows: []int{128, 256}},
				LinearAttn: &LinearAttnSpace{Heads: []int{4, 8}, HeadDims: []int{64}},
				SSM:        &SSMSpace{HeadDims: []int{64}, States: []int{32, 64}, Expands: []int{2}, ConvKernels: []int{4}},
			},
			FFN:    FFNSpace{Ratios: []float64{0, 2, 3, 4}, MultipleOf: 128, PerLayer: true},
			Params: Int64Range{Min: 1, Max: 1_000_000_000},
		}, nil
	}
	return Space{}, fmt.Errorf("space preset %q: %w", name, ErrUnknownPreset)
}
