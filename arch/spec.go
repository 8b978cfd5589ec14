package arch

// Mixer names the token-mixing block of a layer.
type Mixer string

// The mixer kinds a layer may use. Their exact weights are listed in doc.go;
// accounting, the runtime and the exports all follow that list.
const (
	MixerConv       Mixer = "conv"        // LFM2 double-gated short convolution
	MixerGQA        Mixer = "gqa"         // grouped-query attention, global causal
	MixerSWA        Mixer = "swa"         // grouped-query attention over a sliding window
	MixerLinearAttn Mixer = "linear_attn" // gated linear attention (GLA-style)
	MixerSSM        Mixer = "ssm"         // Mamba2-style selective state space block
)

// Mixers lists every mixer kind in a fixed order (used for tables and colours).
var Mixers = []Mixer{MixerConv, MixerGQA, MixerSWA, MixerLinearAttn, MixerSSM}

// Spec is one candidate network. It is serialised as JSON; unknown fields are
// an error when parsing (see Parse).
type Spec struct {
	// Name is a label only; it is not part of the network and not hashed.
	Name string `json:"name,omitempty"`
	// Vocab is the number of embedding rows (LFM2: 65536).
	Vocab int `json:"vocab"`
	// Hidden is the residual width d.
	Hidden int `json:"hidden"`
	// TiedEmbeddings reuses the embedding matrix as the LM head.
	TiedEmbeddings bool `json:"tied_embeddings"`
	// NormEps is the RMSNorm epsilon (LFM2: 1e-5).
	NormEps float64 `json:"norm_eps"`
	// MaxContext is the longest context the network is built for.
	MaxContext int `json:"max_context"`
	// Layers are applied in order; each is pre-norm mixer + pre-norm FFN.
	Layers []Layer `json:"layers"`
}

// Layer is one decoder layer: a mixer and a SwiGLU FFN. Exactly the
// parameter block named by Mixer must be set.
type Layer struct {
	Mixer      Mixer       `json:"mixer"`
	Conv       *Conv       `json:"conv,omitempty"`
	GQA        *Attention  `json:"gqa,omitempty"`
	SWA        *SWA        `json:"swa,omitempty"`
	LinearAttn *LinearAttn `json:"linear_attn,omitempty"`
	SSM        *SSM        `json:"ssm,omitempty"`
	// FFN is the SwiGLU width F (the effective width, after any HF
	// auto-adjust rule). 0 means the layer has no FFN and no FFN norm.
	FFN int `json:"ffn"`
}

// Conv is the LFM2 gated short convolution.
type Conv struct {
	// Kernel is the number of causal taps k (LFM2: 3).
	Kernel int `json:"kernel"`
}

// Attention parameterises a GQA block.
type Attention struct {
	Heads     int     `json:"heads"`
	KVHeads   int     `json:"kv_heads"`
	HeadDim   int     `json:"head_dim"`
	QKNorm    bool    `json:"qk_norm"`
	RopeTheta float64 `json:"rope_theta"`
}

// SWA is GQA restricted to the last Window positions (the query's own
// position included).
type SWA struct {
	Attention
	Window int `json:"window"`
}

// LinearAttn parameterises a gated linear attention block.
type LinearAttn struct {
	Heads   int `json:"heads"`
	HeadDim int `json:"head_dim"`
}

// SSM parameterises a Mamba2-style block. Inner width d_in = Expand*Hidden
// must equal Heads*HeadDim.
type SSM struct {
	Heads      int `json:"heads"`
	HeadDim    int `json:"head_dim"`
	State      int `json:"state"`
	Expand     int `json:"expand"`
	ConvKernel int `json:"conv_kernel"`
}
