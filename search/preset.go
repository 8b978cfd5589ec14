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
)

// PresetNames lists the space presets.
func PresetNames() []string { return []string{PresetLFM2Like, PresetHybridZoo} }

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
	}
	return Space{}, fmt.Errorf("space preset %q: %w", name, ErrUnknownPreset)
}
