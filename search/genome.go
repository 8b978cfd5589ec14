package search

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/c-bata/goptuna"
	"github.com/hilsearch/hilsearch/arch"
)

// MaxLayers bounds Space.Layers.Max: the genome has one slot per layer.
const MaxLayers = 128

// Gene is one categorical decision of the genome. Every gene is sampled for
// every candidate, also when the candidate does not use it (a slot beyond
// its layer count, the conv kernel of a network without conv layers): the
// genome has a fixed length, which NSGA-II's crossover and goptuna's
// relative samplers need.
type Gene struct {
	// Name is the goptuna parameter name, e.g. "hidden" or "layer.03.mixer".
	Name string
	// Choices are the labels of the options; a genome holds indices.
	Choices []string
}

// Distribution returns the gene as a goptuna distribution. Every gene is
// categorical: goptuna v0.9.0's random and Sobol samplers never draw the
// upper bound of an IntUniformDistribution, but cover every categorical
// choice.
func (g Gene) Distribution() goptuna.CategoricalDistribution {
	return goptuna.CategoricalDistribution{Choices: g.Choices}
}

// Genome is one index per gene of a Space, in Space.Genes order.
type Genome []int

// Gene names of the globals.
const (
	geneLayers       = "layers"
	geneHidden       = "hidden"
	geneFFN          = "ffn"
	geneConvKernel   = "conv.kernel"
	geneGQAShape     = "gqa.shape"
	geneSWAShape     = "swa.shape"
	geneSWAWindow    = "swa.window"
	geneLinearShape  = "linear_attn.shape"
	geneSSMHeadDim   = "ssm.head_dim"
	geneSSMState     = "ssm.state"
	geneSSMExpand    = "ssm.expand"
	geneSSMConvKern  = "ssm.conv_kernel"
	geneLayerMixerFm = "layer.%02d.mixer"
	geneLayerFFNFm   = "layer.%02d.ffn"
)

func itoaAll(v []int) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = strconv.Itoa(x)
	}
	return out
}

// attnShapes lists "heads/kv_heads/head_dim" choices of an attention space.
func (a *AttentionSpace) shapes() [][3]int {
	var out [][3]int
	for _, p := range a.pairs() {
		for _, hd := range a.HeadDims {
			out = append(out, [3]int{p[0], p[1], hd})
		}
	}
	return out
}

func (l *LinearAttnSpace) shapes() [][2]int {
	var out [][2]int
	for _, h := range l.Heads {
		for _, hd := range l.HeadDims {
			out = append(out, [2]int{h, hd})
		}
	}
	return out
}

// allowedMixers lists the allowed mixers in arch.Mixers order.
func (sp *Space) allowedMixers() []arch.Mixer {
	var out []arch.Mixer
	m := sp.Mixers
	for _, k := range arch.Mixers {
		ok := map[arch.Mixer]bool{
			arch.MixerConv: m.Conv != nil, arch.MixerGQA: m.GQA != nil, arch.MixerSWA: m.SWA != nil,
			arch.MixerLinearAttn: m.LinearAttn != nil, arch.MixerSSM: m.SSM != nil,
		}[k]
		if ok {
			out = append(out, k)
		}
	}
	return out
}

// ffnLabels labels the FFN choices: widths as numbers, ratios as "x<r>".
func (sp *Space) ffnLabels() []string {
	if len(sp.FFN.Widths) > 0 {
		return itoaAll(sp.FFN.Widths)
	}
	out := make([]string, len(sp.FFN.Ratios))
	for i, r := range sp.FFN.Ratios {
		out[i] = "x" + strconv.FormatFloat(r, 'g', -1, 64)
	}
	return out
}

// ffnWidth is the width of FFN choice i at hidden size d.
func (sp *Space) ffnWidth(i, d int) int {
	if len(sp.FFN.Widths) > 0 {
		return sp.FFN.Widths[i]
	}
	r := sp.FFN.Ratios[i]
	m := sp.FFN.MultipleOf
	return int(math.Ceil(r*float64(d)/float64(m))) * m
}

// Genes returns the genome layout of a valid space: the globals, then per
// layer slot its mixer and (with FFN.PerLayer) its FFN width. The layout
// is a pure function of the space.
func (sp *Space) Genes() []Gene {
	var g []Gene
	lay := make([]int, 0, sp.Layers.Max-sp.Layers.Min+1)
	for n := sp.Layers.Min; n <= sp.Layers.Max; n++ {
		lay = append(lay, n)
	}
	g = append(g, Gene{geneLayers, itoaAll(lay)}, Gene{geneHidden, itoaAll(sp.Hidden)})
	if !sp.FFN.PerLayer {
		g = append(g, Gene{geneFFN, sp.ffnLabels()})
	}
	m := sp.Mixers
	if m.Conv != nil {
		g = append(g, Gene{geneConvKernel, itoaAll(m.Conv.Kernels)})
	}
	attnLabels := func(a *AttentionSpace) []string {
		var out []string
		for _, s := range a.shapes() {
			out = append(out, fmt.Sprintf("%d/%d/%d", s[0], s[1], s[2]))
		}
		return out
	}
	if m.GQA != nil {
		g = append(g, Gene{geneGQAShape, attnLabels(m.GQA)})
	}
	if m.SWA != nil {
		g = append(g, Gene{geneSWAShape, attnLabels(&m.SWA.AttentionSpace)}, Gene{geneSWAWindow, itoaAll(m.SWA.Windows)})
	}
	if m.LinearAttn != nil {
		var labels []string
		for _, s := range m.LinearAttn.shapes() {
			labels = append(labels, fmt.Sprintf("%d/%d", s[0], s[1]))
		}
		g = append(g, Gene{geneLinearShape, labels})
	}
	if m.SSM != nil {
		g = append(g,
			Gene{geneSSMHeadDim, itoaAll(m.SSM.HeadDims)},
			Gene{geneSSMState, itoaAll(m.SSM.States)},
			Gene{geneSSMExpand, itoaAll(m.SSM.Expands)},
			Gene{geneSSMConvKern, itoaAll(m.SSM.ConvKernels)})
	}
	mixers := sp.allowedMixers()
	mixLabels := make([]string, len(mixers))
	for i, k := range mixers {
		mixLabels[i] = string(k)
	}
	for i := 0; i < sp.Layers.Max; i++ {
		g = append(g, Gene{fmt.Sprintf(geneLayerMixerFm, i), mixLabels})
		if sp.FFN.PerLayer {
			g = append(g, Gene{fmt.Sprintf(geneLayerFFNFm, i), sp.ffnLabels()})
		}
	}
	return g
}

// SearchSpace returns the genes as a goptuna search space (for
// goptuna.StudyOptionDefineSearchSpace and relative samplers).
func (sp *Space) SearchSpace() map[string]interface{} {
	out := map[string]interface{}{}
	for _, g := range sp.Genes() {
		out[g.Name] = g.Distribution()
	}
	return out
}

// globals is a decoded choice of every non-layer gene.
type globals struct {
	layers, hidden, ffn int // ffn is an index into the FFN choices
	conv                int
	gqa, swa            [3]int
	window              int
	linear              [2]int
	ssmHeadDim          int
	ssmState            int
	ssmExpand           int
	ssmConvKernel       int
}

// Decode maps a genome to an architecture. The mapping is deterministic:
// the first `layers` slots are used, each with its mixer and FFN width; the
// mixers' shapes are the genome's global choices, shared by all layers of a
// kind (as in LFM2, whose GQA layers all share one shape).
func (sp *Space) Decode(g Genome) (arch.Spec, error) {
	genes := sp.Genes()
	if len(g) != len(genes) {
		return arch.Spec{}, fmt.Errorf("decode genome: %d genes, the space has %d", len(g), len(genes))
	}
	var gl globals
	var mixers []arch.Mixer
	var ffns []int
	allowed := sp.allowedMixers()
	m := sp.Mixers
	for i, gene := range genes {
		c := g[i]
		if c < 0 || c >= len(gene.Choices) {
			return arch.Spec{}, fmt.Errorf("decode genome: gene %s: choice %d out of range [0, %d)", gene.Name, c, len(gene.Choices))
		}
		switch gene.Name {
		case geneLayers:
			gl.layers = sp.Layers.Min + c
		case geneHidden:
			gl.hidden = sp.Hidden[c]
		case geneFFN:
			gl.ffn = c
		case geneConvKernel:
			gl.conv = m.Conv.Kernels[c]
		case geneGQAShape:
			gl.gqa = m.GQA.shapes()[c]
		case geneSWAShape:
			gl.swa = m.SWA.AttentionSpace.shapes()[c]
		case geneSWAWindow:
			gl.window = m.SWA.Windows[c]
		case geneLinearShape:
			gl.linear = m.LinearAttn.shapes()[c]
		case geneSSMHeadDim:
			gl.ssmHeadDim = m.SSM.HeadDims[c]
		case geneSSMState:
			gl.ssmState = m.SSM.States[c]
		case geneSSMExpand:
			gl.ssmExpand = m.SSM.Expands[c]
		case geneSSMConvKern:
			gl.ssmConvKernel = m.SSM.ConvKernels[c]
		default: // per-layer genes, in slot order: mixer then (optional) ffn
			if len(gene.Name) > 6 && gene.Name[len(gene.Name)-5:] == "mixer" {
				mixers = append(mixers, allowed[c])
			} else {
				ffns = append(ffns, c)
			}
		}
	}
	s := arch.Spec{
		Vocab:          sp.Vocab,
		Hidden:         gl.hidden,
		TiedEmbeddings: sp.TiedEmbeddings,
		NormEps:        sp.NormEps,
		MaxContext:     sp.MaxContext,
		Layers:         make([]arch.Layer, gl.layers),
	}
	for i := range s.Layers {
		fi := gl.ffn
		if sp.FFN.PerLayer {
			fi = ffns[i]
		}
		s.Layers[i] = sp.layer(mixers[i], &gl, sp.ffnWidth(fi, gl.hidden))
	}
	return s, nil
}

// layer builds one layer of mixer k with the global shapes gl.
func (sp *Space) layer(k arch.Mixer, gl *globals, ffn int) arch.Layer {
	l := arch.Layer{Mixer: k, FFN: ffn}
	m := sp.Mixers
	switch k {
	case arch.MixerConv:
		l.Conv = &arch.Conv{Kernel: gl.conv}
	case arch.MixerGQA:
		l.GQA = &arch.Attention{Heads: gl.gqa[0], KVHeads: gl.gqa[1], HeadDim: gl.gqa[2], QKNorm: m.GQA.QKNorm, RopeTheta: m.GQA.RopeTheta}
	case arch.MixerSWA:
		l.SWA = &arch.SWA{
			Attention: arch.Attention{Heads: gl.swa[0], KVHeads: gl.swa[1], HeadDim: gl.swa[2], QKNorm: m.SWA.QKNorm, RopeTheta: m.SWA.RopeTheta},
			Window:    gl.window,
		}
	case arch.MixerLinearAttn:
		l.LinearAttn = &arch.LinearAttn{Heads: gl.linear[0], HeadDim: gl.linear[1]}
	case arch.MixerSSM:
		l.SSM = &arch.SSM{
			Heads: gl.ssmExpand * gl.hidden / gl.ssmHeadDim, HeadDim: gl.ssmHeadDim,
			State: gl.ssmState, Expand: gl.ssmExpand, ConvKernel: gl.ssmConvKernel,
		}
	}
	return l
}

// AttentionLayers counts the gqa and swa layers of s.
func AttentionLayers(s *arch.Spec) int {
	n := 0
	for _, l := range s.Layers {
		if l.Mixer == arch.MixerGQA || l.Mixer == arch.MixerSWA {
			n++
		}
	}
	return n
}

// Rejection reasons recorded for candidates refused before any device time.
const (
	RejectParamBudget     = "param_budget"
	RejectAttentionLayers = "attention_layers"
	// RejectDuplicate marks a candidate whose architecture is already
	// running or measured in the same search.
	RejectDuplicate = "duplicate"
)

// Admit checks the hard constraints that need no device: the parameter
// budget and the attention-layer bounds. It returns the parameter count and
// "" when s is admissible, or the rejection reason.
func (sp *Space) Admit(s *arch.Spec) (params int64, reason string) {
	params = paramCount(s)
	if a := sp.AttentionLayers; a != nil {
		if n := AttentionLayers(s); n < a.Min || n > a.Max {
			return params, RejectAttentionLayers
		}
	}
	if params < sp.Params.Min || params > sp.Params.Max {
		return params, RejectParamBudget
	}
	return params, ""
}

// ParamRange returns the smallest and largest parameter counts of any
// architecture in the space (budget ignored, attention-layer bounds
// respected), computed analytically: parameters are a sum of a per-network
// base and per-layer terms, and the mixers' shapes are global per kind, so
// the extremes are found per hidden size and layer count from the cheapest
// and dearest layer of each kind. The space must be valid apart from its
// budget.
func (sp *Space) ParamRange() (lo, hi int64, err error) {
	lo, hi = math.MaxInt64, math.MinInt64
	mixers := sp.allowedMixers()
	if len(mixers) == 0 || len(sp.Hidden) == 0 || sp.Layers.Max < sp.Layers.Min || sp.Layers.Min < 1 {
		return 0, 0, fmt.Errorf("param range: %w: empty space", ErrInvalidSpec)
	}
	for hi0, d := range sp.Hidden {
		_ = hi0
		base := sp.baseSpec(d)
		b := paramCount(&base)
		// FFN extremes per layer.
		fLo, fHi := int64(math.MaxInt64), int64(math.MinInt64)
		for i := range sp.ffnLabels() {
			c := sp.layerParams(d, arch.Layer{Mixer: arch.MixerConv, Conv: &arch.Conv{Kernel: 2}, FFN: sp.ffnWidth(i, d)}) -
				sp.layerParams(d, arch.Layer{Mixer: arch.MixerConv, Conv: &arch.Conv{Kernel: 2}})
			fLo, fHi = min(fLo, c), max(fHi, c)
		}
		// Mixer extremes per class (attention or not), FFN excluded.
		var aLo, aHi, oLo, oHi int64 = math.MaxInt64, math.MinInt64, math.MaxInt64, math.MinInt64
		for _, k := range mixers {
			for _, l := range sp.mixerVariants(k, d) {
				c := sp.layerParams(d, l)
				if k == arch.MixerGQA || k == arch.MixerSWA {
					aLo, aHi = min(aLo, c), max(aHi, c)
				} else {
					oLo, oHi = min(oLo, c), max(oHi, c)
				}
			}
		}
		hasA, hasO := aLo != math.MaxInt64, oLo != math.MaxInt64
		for n := sp.Layers.Min; n <= sp.Layers.Max; n++ {
			kMin, kMax := 0, n // attention layers
			if !hasA {
				kMax = 0
			}
			if !hasO {
				kMin = n
			}
			if a := sp.AttentionLayers; a != nil {
				kMin, kMax = max(kMin, a.Min), min(kMax, a.Max)
			}
			if kMin > kMax {
				continue
			}
			for _, k := range []int{kMin, kMax} { // the totals are linear in k
				tLo := b + int64(n)*fLo + int64(k)*pick(k > 0, aLo) + int64(n-k)*pick(n-k > 0, oLo)
				tHi := b + int64(n)*fHi + int64(k)*pick(k > 0, aHi) + int64(n-k)*pick(n-k > 0, oHi)
				lo, hi = min(lo, tLo), max(hi, tHi)
			}
		}
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("param range: %w: no layer count meets the attention-layer bounds", ErrInvalidSpec)
	}
	return lo, hi, nil
}

func pick(ok bool, v int64) int64 {
	if ok {
		return v
	}
	return 0
}

// baseSpec is the network at hidden size d with no layers.
func (sp *Space) baseSpec(d int) arch.Spec {
	return arch.Spec{Vocab: sp.Vocab, Hidden: d, TiedEmbeddings: sp.TiedEmbeddings, NormEps: sp.NormEps, MaxContext: sp.MaxContext}
}

// layerParams is the parameter count of one layer l at hidden size d.
func (sp *Space) layerParams(d int, l arch.Layer) int64 {
	s := sp.baseSpec(d)
	b := paramCount(&s)
	s.Layers = []arch.Layer{l}
	return paramCount(&s) - b
}

// mixerVariants lists one FFN-less layer per global shape of mixer k.
func (sp *Space) mixerVariants(k arch.Mixer, d int) []arch.Layer {
	var out []arch.Layer
	m := sp.Mixers
	gl := globals{hidden: d}
	switch k {
	case arch.MixerConv:
		for _, c := range m.Conv.Kernels {
			gl.conv = c
			out = append(out, sp.layer(k, &gl, 0))
		}
	case arch.MixerGQA:
		for _, s := range m.GQA.shapes() {
			gl.gqa = s
			out = append(out, sp.layer(k, &gl, 0))
		}
	case arch.MixerSWA:
		for _, s := range m.SWA.AttentionSpace.shapes() {
			for _, w := range m.SWA.Windows {
				gl.swa, gl.window = s, w
				out = append(out, sp.layer(k, &gl, 0))
			}
		}
	case arch.MixerLinearAttn:
		for _, s := range m.LinearAttn.shapes() {
			gl.linear = s
			out = append(out, sp.layer(k, &gl, 0))
		}
	case arch.MixerSSM:
		for _, p := range m.SSM.HeadDims {
			for _, n := range m.SSM.States {
				for _, e := range m.SSM.Expands {
					for _, c := range m.SSM.ConvKernels {
						gl.ssmHeadDim, gl.ssmState, gl.ssmExpand, gl.ssmConvKernel = p, n, e, c
						out = append(out, sp.layer(k, &gl, 0))
					}
				}
			}
		}
	}
	return out
}

// probeSpecs returns, for every hidden size, one single-layer network per
// mixer variant and FFN width (used to check a space against arch's limits).
func (sp *Space) probeSpecs() []arch.Spec {
	var out []arch.Spec
	for _, d := range sp.Hidden {
		for _, k := range sp.allowedMixers() {
			for _, l := range sp.mixerVariants(k, d) {
				for i := range sp.ffnLabels() {
					l.FFN = sp.ffnWidth(i, d)
					s := sp.baseSpec(d)
					s.Layers = []arch.Layer{l}
					out = append(out, s)
				}
			}
		}
	}
	return slices.Clip(out)
}
