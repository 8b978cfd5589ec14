package search

import (
	"fmt"

	"github.com/hilsearch/hilsearch/arch"
)

// DefaultProbeRepeat is the number of identical layers in a block probe.
const DefaultProbeRepeat = 4

// ProbeNamePrefix starts the name of a probe's network (Probe.Spec).
const ProbeNamePrefix = "probe "

// Probe is a block probe: a small network of Repeat identical layers of
// one block (a mixer of one shape with one FFN width, possibly none) at one
// hidden size, with the space's vocabulary. A device times it like any
// candidate, under the workload of the predictor it feeds (so "at one
// context" means at the workload's prompt lengths and depths), and its
// measurement enters the predictor's fit as one more row: the predictor's
// features are sums over layers, so a probe is a row in which only one
// block's features (and the embedding and head's) are non-zero. That
// pins each block's cost where the search's own candidates, whose blocks
// always come mixed, cannot separate them.
type Probe struct {
	// Name identifies the probe, e.g. "conv-k3/d512/ffn0".
	Name string `json:"name"`
	// Hidden is the residual width.
	Hidden int `json:"hidden"`
	// Vocab is the embedding rows (the space's).
	Vocab int `json:"vocab"`
	// Tied says whether the LM head is the embedding.
	Tied bool `json:"tied_embeddings"`
	// Block is the layer repeated.
	Block arch.Layer `json:"block"`
	// Repeat is the number of layers. Defaults to DefaultProbeRepeat.
	Repeat int `json:"repeat,omitempty"`
}

// Spec returns the probe's network, built for contexts up to maxContext.
func (p Probe) Spec(maxContext int) arch.Spec {
	n := p.Repeat
	if n == 0 {
		n = DefaultProbeRepeat
	}
	s := arch.Spec{
		Name: ProbeNamePrefix + p.Name, Vocab: p.Vocab, Hidden: p.Hidden, TiedEmbeddings: p.Tied,
		NormEps: DefaultNormEps, MaxContext: maxContext, Layers: make([]arch.Layer, n),
	}
	for i := range s.Layers {
		s.Layers[i] = cloneLayer(p.Block)
	}
	return s
}

// cloneLayer copies l with its own parameter block.
func cloneLayer(l arch.Layer) arch.Layer {
	switch {
	case l.Conv != nil:
		c := *l.Conv
		l.Conv = &c
	case l.GQA != nil:
		a := *l.GQA
		l.GQA = &a
	case l.SWA != nil:
		a := *l.SWA
		l.SWA = &a
	case l.LinearAttn != nil:
		a := *l.LinearAttn
		l.LinearAttn = &a
	case l.SSM != nil:
		a := *l.SSM
		l.SSM = &a
	}
	return l
}

// blockName names a layer's block for probe names.
func blockName(l arch.Layer) string {
	var m string
	switch l.Mixer {
	case arch.MixerConv:
		m = fmt.Sprintf("conv-k%d", l.Conv.Kernel)
	case arch.MixerGQA:
		m = fmt.Sprintf("gqa-%d/%d/%d", l.GQA.Heads, l.GQA.KVHeads, l.GQA.HeadDim)
	case arch.MixerSWA:
		m = fmt.Sprintf("swa-%d/%d/%d-w%d", l.SWA.Heads, l.SWA.KVHeads, l.SWA.HeadDim, l.SWA.Window)
	case arch.MixerLinearAttn:
		m = fmt.Sprintf("linear_attn-%d/%d", l.LinearAttn.Heads, l.LinearAttn.HeadDim)
	case arch.MixerSSM:
		m = fmt.Sprintf("ssm-%d/%d/%d/k%d", l.SSM.Heads, l.SSM.HeadDim, l.SSM.State, l.SSM.ConvKernel)
	}
	return m
}

// Probes returns the block probes of a valid space: for every hidden size,
// one probe per mixer shape without FFN, and one per FFN width on the
// first mixer shape (its cost is known from the first group, so the pair
// isolates the FFN). Mixer shapes are the space's global choices; SWA
// probes take every window. Widths of 0 ("no FFN") need no probe.
func (sp *Space) Probes() []Probe {
	var out []Probe
	for _, d := range sp.Hidden {
		var first *arch.Layer
		for _, k := range sp.allowedMixers() {
			for _, l := range sp.mixerVariants(k, d) {
				l := l
				if first == nil {
					first = &l
				}
				out = append(out, Probe{
					Name: fmt.Sprintf("%s/d%d/ffn0", blockName(l), d), Hidden: d, Vocab: sp.Vocab,
					Tied: sp.TiedEmbeddings, Block: l,
				})
			}
		}
		seen := map[int]bool{0: true}
		for i := range sp.ffnLabels() {
			f := sp.ffnWidth(i, d)
			if seen[f] || first == nil {
				continue
			}
			seen[f] = true
			l := cloneLayer(*first)
			l.FFN = f
			out = append(out, Probe{
				Name: fmt.Sprintf("%s/d%d/ffn%d", blockName(l), d, f), Hidden: d, Vocab: sp.Vocab,
				Tied: sp.TiedEmbeddings, Block: l,
			})
		}
	}
	return out
}
