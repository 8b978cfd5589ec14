package search

import (
	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/workload"
)

// Spec is a whole search: what to search, how to measure, where, what to
// optimise under which constraints, with which budget and algorithm. It is
// serialised as JSON; Parse reads it strictly and validates it.
type Spec struct {
	// Name is a label for people.
	Name string `json:"name,omitempty"`
	// Space is the set of candidate architectures.
	Space Space `json:"space"`
	// Workload is what each candidate is measured on: the one workload
	// type, shared with measurement jobs and the device agent.
	Workload workload.Workload `json:"workload"`
	// Targets name the devices (or device classes) that measure.
	Targets []Target `json:"targets"`
	// Objectives are optimised jointly (Pareto), between one and five.
	Objectives []Objective `json:"objectives"`
	// Constraints bound metrics; violators are kept, marked infeasible and
	// dominated by every feasible candidate.
	Constraints []Constraint `json:"constraints,omitempty"`
	// Evaluators configures the evaluators whose scores objectives and
	// constraints name ("<score>@<evaluator>"; scores.go).
	Evaluators map[string]EvaluatorUse `json:"evaluators,omitempty"`
	// Budget limits the search.
	Budget Budget `json:"budget"`
	// Algorithm is one of "random", "sobol", "nsga2", "tpe-parego".
	Algorithm Algorithm `json:"algorithm"`
	// NSGA2 tunes the nsga2 algorithm; only allowed with it.
	NSGA2 *NSGA2Options `json:"nsga2,omitempty"`
	// TPE tunes the tpe-parego algorithm; only allowed with it.
	TPE *TPEOptions `json:"tpe,omitempty"`
	// Screening tunes predictor screening (on by default; see
	// ScreeningOptions).
	Screening *ScreeningOptions `json:"screening,omitempty"`
	// Remeasure bounds noise-aware re-measurement (on by default; see
	// RemeasureOptions).
	Remeasure *RemeasureOptions `json:"remeasure,omitempty"`
	// Seed makes sampling reproducible (for tpe-parego with its default
	// single EI candidate; see AlgoTPEParEGO).
	Seed int64 `json:"seed"`
	// Export, when set ("hf" or "gguf"), requires every candidate to be
	// exportable in that format: the others are rejected before any
	// device time, like parameter-budget violators (RejectNotExportable).
	Export arch.Format `json:"export,omitempty"`
	// Guard, when set, cross-checks the native runtime against llama.cpp
	// before the search spends device time (see Guard).
	Guard *Guard `json:"guard,omitempty"`
}

// DefaultMinSpearman is a guard's default threshold.
const DefaultMinSpearman = 0.8

// Guard is a search's fidelity guard: before its first trial the
// coordinator times the released LFM2 presets that fit the workload on
// both runtimes (native and llama.cpp) of one target device, and the
// search warns when a metric's Spearman rank correlation over them is
// below MinSpearman (the native runtime would rank candidates differently
// from the release runtime on that device). The search waits for the
// cross-check, then runs whatever it found.
type Guard struct {
	// MinSpearman is the threshold (-1..1; default DefaultMinSpearman).
	MinSpearman float64 `json:"min_spearman,omitempty"`
	// Device is the device to cross-check on; by default the first online
	// device of the targets whose agent offers llama.cpp.
	Device string `json:"device,omitempty"`
	// CheckID is the cross-check the coordinator queued for the guard; set
	// by the coordinator, not by the user.
	CheckID string `json:"check_id,omitempty"`
}

// Space is the search space. A candidate has a layer count n in Layers, a
// hidden size, one choice per mixer-global parameter (for example one GQA
// shape shared by all GQA layers, as in LFM2), and per layer a mixer and,
// with FFN.PerLayer, an FFN width.
type Space struct {
	// Preset names a built-in space to start from; fields given next to it
	// override the preset's. It is cleared once applied.
	Preset string `json:"preset,omitempty"`
	// Vocab is the embedding rows (fixed, not searched; LFM2: 65536).
	Vocab int `json:"vocab"`
	// TiedEmbeddings ties the LM head to the embedding.
	TiedEmbeddings bool `json:"tied_embeddings"`
	// NormEps is the RMSNorm epsilon. Defaults to 1e-5.
	NormEps float64 `json:"norm_eps,omitempty"`
	// MaxContext is the longest context candidates are built for, written
	// as max_position_embeddings (HF) and context_length (GGUF) by the
	// exports. Defaults to DefaultMaxContext (LFM2's 128,000), or to the
	// workload's largest context plus its decode tokens when that is more.
	MaxContext int `json:"max_context,omitempty"`
	// Layers is the range of the layer count.
	Layers IntRange `json:"layers"`
	// Hidden lists the residual widths to choose from.
	Hidden []int `json:"hidden"`
	// Mixers lists the allowed mixers with their parameter choices; a nil
	// entry means the mixer is not allowed.
	Mixers MixerSpace `json:"mixers"`
	// FFN gives the SwiGLU widths.
	FFN FFNSpace `json:"ffn"`
	// Params is the parameter budget; candidates outside it are rejected
	// before any device time is spent.
	Params Int64Range `json:"params"`
	// AttentionLayers optionally bounds the number of gqa+swa layers;
	// violators are rejected like budget violators.
	AttentionLayers *IntRange `json:"attention_layers,omitempty"`
}

// IntRange is an inclusive integer range.
type IntRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Int64Range is an inclusive integer range for large counts.
type Int64Range struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// MixerSpace lists the allowed mixers; nil means not allowed.
type MixerSpace struct {
	// Conv allows LFM2's gated short convolution.
	Conv *ConvSpace `json:"conv,omitempty"`
	// GQA allows global grouped-query attention.
	GQA *AttentionSpace `json:"gqa,omitempty"`
	// SWA allows sliding-window attention.
	SWA *SWASpace `json:"swa,omitempty"`
	// LinearAttn allows gated linear attention.
	LinearAttn *LinearAttnSpace `json:"linear_attn,omitempty"`
	// SSM allows Mamba2-style blocks.
	SSM *SSMSpace `json:"ssm,omitempty"`
}

// ConvSpace gives the gated short convolution's choices.
type ConvSpace struct {
	// Kernels lists kernel sizes k (LFM2 chose 3).
	Kernels []int `json:"kernels"`
}

// AttentionSpace gives a GQA block's choices. Every (heads, kv_heads)
// pair in which kv_heads divides heads is a choice.
type AttentionSpace struct {
	// Heads lists query head counts.
	Heads []int `json:"heads"`
	// KVHeads lists key/value head counts.
	KVHeads []int `json:"kv_heads"`
	// HeadDims lists head dimensions (even, for RoPE).
	HeadDims []int `json:"head_dims"`
	// QKNorm turns on per-head RMSNorm of q and k (LFM2: true).
	QKNorm bool `json:"qk_norm"`
	// RopeTheta is the RoPE base. Defaults to 1e6.
	RopeTheta float64 `json:"rope_theta,omitempty"`
}

// SWASpace gives a sliding-window attention block's choices.
type SWASpace struct {
	AttentionSpace
	// Windows lists the window sizes.
	Windows []int `json:"windows"`
}

// LinearAttnSpace gives a gated linear attention block's choices.
type LinearAttnSpace struct {
	// Heads lists head counts.
	Heads []int `json:"heads"`
	// HeadDims lists head dimensions (the state is head_dim² per head).
	HeadDims []int `json:"head_dims"`
}

// SSMSpace gives a Mamba2 block's choices; heads = expand·hidden/head_dim.
type SSMSpace struct {
	// HeadDims lists head dimensions P; each must divide expand·hidden.
	HeadDims []int `json:"head_dims"`
	// States lists state sizes N.
	States []int `json:"states"`
	// Expands lists inner-width factors e (d_in = e·hidden).
	Expands []int `json:"expands"`
	// ConvKernels lists the block's own short-conv kernel sizes.
	ConvKernels []int `json:"conv_kernels"`
}

// FFNSpace gives SwiGLU widths: either Widths, or Ratios of the hidden size
// rounded up to MultipleOf.
type FFNSpace struct {
	// Widths lists absolute widths; 0 means "no FFN".
	Widths []int `json:"widths,omitempty"`
	// Ratios lists width/hidden ratios; 0 means "no FFN".
	Ratios []float64 `json:"ratios,omitempty"`
	// MultipleOf rounds ratio widths up. Defaults to 256.
	MultipleOf int `json:"multiple_of,omitempty"`
	// PerLayer chooses a width for every layer instead of one for all.
	PerLayer bool `json:"per_layer,omitempty"`
}

// Target names one logical device: any one device matching it measures a
// candidate. Give Devices (IDs), or a Class and/or Tags.
type Target struct {
	// Name is used in "metric@name"; lower case letters, digits, '-', '_'.
	Name string `json:"name"`
	// Devices lists device IDs.
	Devices []string `json:"devices,omitempty"`
	// Class selects devices of a class.
	Class string `json:"class,omitempty"`
	// Tags selects devices carrying every tag.
	Tags []string `json:"tags,omitempty"`
}

// Objective is "metric@target" (or "params") with a direction.
type Objective struct {
	// Metric is "<metric>@<target>", or "params".
	Metric string `json:"metric"`
	// Direction defaults to the metric's natural direction.
	Direction Direction `json:"direction,omitempty"`
	// At is the prompt length (prefill_tps, ttft_ms), decode depth
	// (decode_ms_p50/p95) or context (peak_rss_mb) the value is taken at;
	// it must be one of the workload's. Defaults to the first prompt length,
	// the first depth, or the largest context.
	At int `json:"at,omitempty"`
}

// Constraint bounds "metric@target" (or "params") from below and/or above.
type Constraint struct {
	// Metric is "<metric>@<target>", or "params".
	Metric string `json:"metric"`
	// At is as for Objective.At.
	At int `json:"at,omitempty"`
	// Min is the smallest allowed value, if any.
	Min *float64 `json:"min,omitempty"`
	// Max is the largest allowed value, if any.
	Max *float64 `json:"max,omitempty"`
}

// Budget limits a search.
type Budget struct {
	// MaxTrials is the number of measured trials (rejected candidates do
	// not count).
	MaxTrials int `json:"max_trials"`
	// MaxWallTime is a Go duration ("6h", "90m"); empty means no limit.
	MaxWallTime string `json:"max_wall_time,omitempty"`
	// MaxInFlightPerDevice is the number of jobs queued or running per
	// target device. Defaults to 1.
	MaxInFlightPerDevice int `json:"max_in_flight_per_device,omitempty"`
}

// Algorithm names an optimizer.
type Algorithm string

// The optimizers.
const (
	// AlgoRandom is goptuna's random sampler.
	AlgoRandom Algorithm = "random"
	// AlgoSobol is goptuna's scrambled-free Sobol sequence sampler.
	AlgoSobol Algorithm = "sobol"
	// AlgoNSGA2 is NSGA-II, implemented here as a goptuna relative sampler.
	AlgoNSGA2 Algorithm = "nsga2"
	// AlgoTPEParEGO is TPE on a per-trial random augmented-Chebyshev
	// scalarisation: goptuna's TPE, with its categorical draws made from
	// per-trial streams of the seed (see seededTPE), so a seed reproduces
	// a search.
	AlgoTPEParEGO Algorithm = "tpe-parego"
)

// Algorithms lists every optimizer.
var Algorithms = []Algorithm{AlgoRandom, AlgoSobol, AlgoNSGA2, AlgoTPEParEGO}

// NSGA2Options tunes NSGA-II. Zero fields take their defaults.
type NSGA2Options struct {
	// Population is the parent population size. Defaults to 16 (STAR).
	Population int `json:"population,omitempty"`
	// Crossover is the probability of 2-point crossover. Defaults to 0.9.
	Crossover float64 `json:"crossover,omitempty"`
	// Mutation is the per-gene mutation probability. Defaults to 0.1 (STAR).
	Mutation float64 `json:"mutation,omitempty"`
}

// TPEOptions tunes TPE-ParEGO. Zero fields take their defaults.
type TPEOptions struct {
	// StartupTrials are sampled at random before TPE starts. Defaults to 10.
	StartupTrials int `json:"startup_trials,omitempty"`
	// EICandidates is TPE's number of candidates per parameter. Defaults
	// to 1: every gene is categorical, and goptuna v0.9.0's TPE scores all
	// choices of a categorical parameter whenever EICandidates is at least
	// their number, which makes its proposal a deterministic function of
	// the history; it then proposes the same architecture again and again
	// (duplicates are rejected, so a search stalls). With one candidate it
	// samples each gene from the density of the good trials, l(x).
	EICandidates int `json:"ei_candidates,omitempty"`
	// Rho is the augmentation weight of the Chebyshev scalarisation.
	// Defaults to 0.05.
	Rho float64 `json:"rho,omitempty"`
}
