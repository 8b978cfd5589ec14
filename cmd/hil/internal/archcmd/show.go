package archcmd

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/hilsearch/hilsearch/arch"
)

// Report is the JSON object "hil arch show --json" prints.
type Report struct {
	Name               string                         `json:"name"`
	Hash               string                         `json:"hash"`
	Params             int64                          `json:"params"`
	NonEmbeddingParams int64                          `json:"non_embedding_params"`
	ParamsByComponent  map[arch.Component]int64       `json:"params_by_component"`
	WeightBytes        map[arch.Precision]int64       `json:"weight_bytes"`
	KVBytesPerToken    int64                          `json:"kv_bytes_per_token"`
	KVBytesPerTokenF32 int64                          `json:"kv_bytes_per_token_f32"`
	StateBytes         int64                          `json:"state_bytes"`
	Context            int                            `json:"context"`
	Prompt             int                            `json:"prompt"`
	KVBytes            int64                          `json:"kv_bytes"`
	FLOPsPrefill       int64                          `json:"flops_prefill"`
	FLOPsDecode        int64                          `json:"flops_decode"`
	Memory             map[arch.Precision]arch.Memory `json:"memory"`
	Layers             []LayerReport                  `json:"layers"`
	Spec               *arch.Spec                     `json:"spec"`
}

// LayerReport is one layer's row of a Report.
type LayerReport struct {
	Index           int        `json:"index"`
	Mixer           arch.Mixer `json:"mixer"`
	Detail          string     `json:"detail"`
	FFN             int        `json:"ffn"`
	Params          int64      `json:"params"`
	FLOPsPrefill    int64      `json:"flops_prefill"`
	FLOPsDecode     int64      `json:"flops_decode"`
	KVBytesPerToken int64      `json:"kv_bytes_per_token"`
	StateBytes      int64      `json:"state_bytes"`
}

// NewReport computes the accounting of s for a decode step at context T and
// a prefill of L tokens (memory with an f16 KV cache of T tokens).
func NewReport(s *arch.Spec, T, L int) Report {
	pc := s.Params()
	r := Report{
		Name: s.Name, Hash: s.Hash(),
		Params: pc.Total, NonEmbeddingParams: pc.NonEmbedding, ParamsByComponent: pc.ByComponent,
		WeightBytes:        map[arch.Precision]int64{},
		KVBytesPerToken:    s.KVBytesPerToken(false),
		KVBytesPerTokenF32: s.KVBytesPerToken(true),
		StateBytes:         s.StateBytes(),
		Context:            T, Prompt: L,
		KVBytes:      s.KVBytes(T, false),
		FLOPsPrefill: s.FLOPsPrefill(L),
		FLOPsDecode:  s.FLOPsDecode(T),
		Memory:       map[arch.Precision]arch.Memory{},
		Spec:         s,
	}
	for _, p := range arch.Precisions {
		r.WeightBytes[p] = s.WeightBytes(p)
		r.Memory[p] = s.MemoryEstimate(p, T, false, L)
	}
	for i, l := range s.Layers {
		r.Layers = append(r.Layers, LayerReport{
			Index: i, Mixer: l.Mixer, Detail: detail(&l), FFN: l.FFN,
			Params:          s.LayerParams(i),
			FLOPsPrefill:    s.LayerFLOPsPrefill(i, L),
			FLOPsDecode:     s.LayerFLOPsDecode(i, T),
			KVBytesPerToken: s.LayerKVBytesPerToken(i, false),
			StateBytes:      s.LayerStateBytes(i),
		})
	}
	return r
}

// detail is a short description of a layer's mixer parameters.
func detail(l *arch.Layer) string {
	att := func(a *arch.Attention) string {
		s := fmt.Sprintf("H%d/G%d/hd%d", a.Heads, a.KVHeads, a.HeadDim)
		if a.QKNorm {
			s += " qk"
		}
		return s
	}
	switch l.Mixer {
	case arch.MixerConv:
		return fmt.Sprintf("k=%d", l.Conv.Kernel)
	case arch.MixerGQA:
		return att(l.GQA)
	case arch.MixerSWA:
		return fmt.Sprintf("%s w=%d", att(&l.SWA.Attention), l.SWA.Window)
	case arch.MixerLinearAttn:
		return fmt.Sprintf("H%d/hd%d", l.LinearAttn.Heads, l.LinearAttn.HeadDim)
	case arch.MixerSSM:
		m := l.SSM
		return fmt.Sprintf("H%d/P%d/N%d e%d kc%d", m.Heads, m.HeadDim, m.State, m.Expand, m.ConvKernel)
	}
	return ""
}

func show(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hil arch show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	T := fs.Int("context", -1, "context length T for decode FLOPs, KV bytes and memory (default min(4096, max_context))")
	L := fs.Int("prompt", -1, "prompt length L for prefill FLOPs and scratch (default min(512, max_context))")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: show takes one preset or spec file", errUsage)
	}
	if *T < -1 || *L < -1 {
		return fmt.Errorf("%w: --context and --prompt must be non-negative", errUsage)
	}
	s, err := load(pos[0])
	if err != nil {
		return err
	}
	if *T == -1 {
		*T = min(4096, s.MaxContext)
	}
	if *L == -1 {
		*L = min(512, s.MaxContext)
	}
	if *T > s.MaxContext || *L > s.MaxContext {
		return fmt.Errorf("%w: --context %d / --prompt %d exceed max_context %d", errUsage, *T, *L, s.MaxContext)
	}
	r := NewReport(s, *T, *L)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printTable(stdout, r)
}

func printTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "%s  hash %s\n\n", r.Name, r.Hash[:16])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "layer\tmixer\tdetail\tffn\tparams\tprefill GFLOP (L=%d)\tdecode MFLOP (T=%d)\tKV B/token\tstate B\t\n", r.Prompt, r.Context)
	for _, l := range r.Layers {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%.3f\t%.3f\t%d\t%d\t\n", l.Index, l.Mixer, l.Detail, l.FFN, l.Params,
			float64(l.FLOPsPrefill)/1e9, float64(l.FLOPsDecode)/1e6, l.KVBytesPerToken, l.StateBytes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nparams            %d (non-embedding %d)\n", r.Params, r.NonEmbeddingParams)
	for _, p := range arch.Precisions {
		fmt.Fprintf(w, "weights %-5s     %d B (%.1f MiB)\n", p, r.WeightBytes[p], float64(r.WeightBytes[p])/(1<<20))
	}
	fmt.Fprintf(w, "KV cache          %d B/token f16, %d B at T=%d\n", r.KVBytesPerToken, r.KVBytes, r.Context)
	fmt.Fprintf(w, "recurrent state   %d B\n", r.StateBytes)
	fmt.Fprintf(w, "prefill L=%-6d  %d FLOP (%.2f GFLOP)\n", r.Prompt, r.FLOPsPrefill, float64(r.FLOPsPrefill)/1e9)
	fmt.Fprintf(w, "decode  T=%-6d  %d FLOP (%.3f GFLOP)\n", r.Context, r.FLOPsDecode, float64(r.FLOPsDecode)/1e9)
	for _, p := range arch.Precisions {
		m := r.Memory[p]
		fmt.Fprintf(w, "memory  %-5s     %.1f MiB (weights %.1f, KV %.1f, state %.2f, scratch %.1f)\n", p,
			mib(m.Total), mib(m.Weights), mib(m.KV), mib(m.State), mib(m.Scratch))
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
