package arch

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestExportableFamilies checks the family of every spec in
// testdata/export per format, and that Exportable agrees.
func TestExportableFamilies(t *testing.T) {
	specs := exportSpecs(t)
	if len(specs) != len(wantFamilies) {
		t.Errorf("%d export specs, %d entries in wantFamilies", len(specs), len(wantFamilies))
	}
	for name, s := range specs {
		w := wantFamilies[name]
		g, gerr := s.GGUFFamily()
		h, herr := s.HFFamily()
		if string(g) != w.gguf || (gerr == nil) != (w.gguf != "") {
			t.Errorf("%s: GGUFFamily = %q, %v; want %q", name, g, gerr, w.gguf)
		}
		if string(h) != w.hf || (herr == nil) != (w.hf != "") {
			t.Errorf("%s: HFFamily = %q, %v; want %q", name, h, herr, w.hf)
		}
		if err := Exportable(s, FormatGGUF); (err == nil) != (w.gguf != "") {
			t.Errorf("%s: Exportable(gguf) = %v", name, err)
		}
		if err := Exportable(s, FormatHF); (err == nil) != (w.hf != "") {
			t.Errorf("%s: Exportable(hf) = %v", name, err)
		}
	}
	for _, n := range PresetNames() {
		s, _ := Preset(n)
		for _, f := range Formats {
			if err := Exportable(s, f); err != nil {
				t.Errorf("preset %s, %s: %v", n, f, err)
			}
		}
	}
}

// refusal is one spec no family of a format expresses, and the words the
// error must contain: the field and the reason.
type refusal struct {
	name   string
	base   string // export spec name, or "tiny" for tinyLFM2
	mod    func(s *Spec)
	format Format
	want   []string
}

var (
	gqaNoQK = func() *Attention { return &Attention{Heads: 8, KVHeads: 2, HeadDim: 32, RopeTheta: 5e5} }
)

var refusals = []refusal{
	{"linear_attn gguf", "tiny", func(s *Spec) {
		s.Layers[2] = Layer{Mixer: MixerLinearAttn, LinearAttn: &LinearAttn{Heads: 2, HeadDim: 32}, FFN: 96}
	}, FormatGGUF, []string{"layers[2].mixer: linear_attn: no llama.cpp family"}},
	{"linear_attn hf", "tiny", func(s *Spec) {
		s.Layers[2] = Layer{Mixer: MixerLinearAttn, LinearAttn: &LinearAttn{Heads: 2, HeadDim: 32}, FFN: 96}
	}, FormatHF, []string{"layers[2].mixer: linear_attn: no transformers family"}},
	{"conv next to ssm", "tiny", func(s *Spec) {
		s.Layers[1] = Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 4, HeadDim: 32, State: 16, Expand: 2, ConvKernel: 4}, FFN: 96}
	}, FormatGGUF, []string{"layers[1].mixer: ssm next to conv (layers[0])"}},
	{"all-conv gguf", "tiny", func(s *Spec) { s.Layers[1] = s.Layers[0] }, FormatGGUF,
		[]string{"layers: no gqa or swa layer", "aborts"}},
	{"all-conv hf", "tiny", func(s *Spec) { s.Layers[1] = s.Layers[0] }, FormatHF,
		[]string{"layers: no gqa layer", "Lfm2HybridConvCache"}},
	{"lfm2 gqa next to swa", "lfm2-swa", func(s *Spec) {
		a := s.Layers[1].SWA.Attention
		s.Layers[1] = Layer{Mixer: MixerGQA, GQA: &a, FFN: 768}
	}, FormatGGUF, []string{"layers[3].mixer: swa next to gqa (layers[1])", "every attention layer sliding"}},
	{"lfm2 windows differ", "lfm2-swa", func(s *Spec) { s.Layers[3].SWA.Window = 16 }, FormatGGUF,
		[]string{"layers[3].swa.window: 16 differs from layers[1].swa.window 8"}},
	{"lfm2 swa hf", "lfm2-swa", nil, FormatHF, []string{"layers[1].mixer: swa: Lfm2Config has no sliding window"}},
	{"lfm2 kernel 1", "tiny", func(s *Spec) { s.Layers[0].Conv.Kernel, s.Layers[2].Conv.Kernel = 1, 1 }, FormatGGUF,
		[]string{"layers[0].conv.kernel: 1", "l_cache > 1"}},
	{"lfm2 kernels differ", "tiny", func(s *Spec) { s.Layers[2].Conv.Kernel = 4 }, FormatHF,
		[]string{"layers[2].conv.kernel: 4 differs from layers[0].conv.kernel 3"}},
	{"lfm2 no qk-norm", "tiny", func(s *Spec) { s.Layers[1].GQA.QKNorm = false }, FormatGGUF,
		[]string{"layers[1].gqa.qk_norm: false", "always has QK-norm"}},
	{"lfm2 head width", "tiny", func(s *Spec) { s.Layers[1].GQA.HeadDim = 32 }, FormatGGUF,
		[]string{"layers[1].gqa.head_dim: heads·head_dim = 128 must equal hidden 64"}},
	{"lfm2 ffn differs", "tiny", func(s *Spec) { s.Layers[2].FFN = 128 }, FormatGGUF,
		[]string{"layers[2].ffn: 128 differs from layers[0].ffn 96", "one FFN width"}},
	{"lfm2 no ffn", "tiny", func(s *Spec) { s.Layers[1].FFN = 0 }, FormatHF,
		[]string{"layers[1].ffn: 0 (no FFN)"}},
	{"lfm2 kv heads hf", "lfm2-kv-heads", nil, FormatHF,
		[]string{"layers[3].gqa.kv_heads: 4 differs from layers[1].gqa.kv_heads 2", "transformers lfm2"}},
	{"gqa no ffn", "gqa-widths", func(s *Spec) { s.Layers[1].FFN = 0 }, FormatGGUF,
		[]string{"deci: layers[1].ffn: 0 (no FFN)", "continue before inpL = cur", "openelm: layers[0].gqa.qk_norm: false"}},
	{"gqa widths untied qk-norm", "gqa-widths-qknorm", func(s *Spec) { s.TiedEmbeddings = false }, FormatGGUF,
		[]string{"qwen3: layers[1].gqa.heads: 4 differs", "deci: layers[0].gqa.qk_norm: true", "openelm: tied_embeddings: false"}},
	{"gqa widths hf", "gqa-widths", nil, FormatHF, []string{"layers[1].gqa.heads: 4 differs from layers[0].gqa.heads 8", "transformers llama"}},
	{"gqa head dims differ", "gqa-widths", func(s *Spec) { s.Layers[1].GQA.HeadDim = 64 }, FormatGGUF,
		[]string{"deci: layers[1].gqa.head_dim: 64 differs from layers[0].gqa.head_dim 32"}},
	{"swa tied", "gqa-swa", func(s *Spec) { s.TiedEmbeddings = true }, FormatGGUF,
		[]string{"tied_embeddings: true", "step35 requires its own output tensor"}},
	{"swa widths differ", "gqa-swa", func(s *Spec) { s.Layers[2].FFN = 512 }, FormatGGUF,
		[]string{"layers[2].ffn: 512 differs from layers[0].ffn 768", "step35"}},
	{"swa mixed qk-norm hf", "gqa-swa-mixed", nil, FormatHF,
		[]string{"layers[2].swa.qk_norm: false differs from layers[0].swa.qk_norm true", "transformers qwen3"}},
	{"swa windows differ hf", "gqa-swa", func(s *Spec) { s.Layers[3].SWA.Window = 32 }, FormatHF,
		[]string{"layers[3].swa.window: 32 differs from layers[0].swa.window 8", "one sliding window"}},
	{"mixed qk-norm without swa", "gqa-swa-mixed", func(s *Spec) {
		for i := range s.Layers {
			if a := s.Layers[i].attention(); s.Layers[i].Mixer == MixerSWA {
				g := *a
				s.Layers[i] = Layer{Mixer: MixerGQA, GQA: &g, FFN: s.Layers[i].FFN}
			}
		}
	}, FormatGGUF, []string{"qwen3: layers[2].gqa.qk_norm: false differs", "deci: layers[0].gqa.qk_norm: true", "openelm: tied_embeddings: false"}},
	{"ssm with ffn and no attention gguf", "ssm", func(s *Spec) {
		for i := range s.Layers {
			s.Layers[i].FFN = 256
		}
	}, FormatGGUF, []string{"mamba2: layers[0].ffn: 256: llama.cpp mamba2 layers have no FFN", "granitehybrid: layers: no gqa layer", "GGML_ASSERT(buffer)"}},
	{"ssm with ffn and no attention hf", "ssm", func(s *Spec) {
		for i := range s.Layers {
			s.Layers[i].FFN = 256
		}
	}, FormatHF, []string{"granitemoehybrid: layers: no gqa layer"}},
	{"ssm configs differ", "ssm", func(s *Spec) { s.Layers[2].SSM = &SSM{Heads: 4, HeadDim: 128, State: 16, Expand: 2, ConvKernel: 4} }, FormatHF,
		[]string{"layers[2].ssm: differs from layers[0].ssm", "transformers mamba2"}},
	{"ssm expand 3 gguf", "ssm-gqa", func(s *Spec) {
		for _, i := range []int{0, 2, 3} {
			s.Layers[i].SSM = &SSM{Heads: 12, HeadDim: 64, State: 16, Expand: 3, ConvKernel: 4}
		}
	}, FormatGGUF, []string{"granitehybrid: layers[0].ssm.expand: 3", "d_inner = 2·hidden"}},
	{"ssm gqa qk-norm", "ssm-gqa", func(s *Spec) { s.Layers[1].GQA.QKNorm = true }, FormatHF,
		[]string{"layers[1].gqa.qk_norm: true", "granitemoehybrid attention has no QK-norm"}},
	{"ssm swa", "ssm-gqa", func(s *Spec) {
		s.Layers[1] = Layer{Mixer: MixerSWA, SWA: &SWA{Attention: *gqaNoQK(), Window: 8}, FFN: 768}
	}, FormatGGUF, []string{"layers[1].mixer: swa: llama.cpp granitehybrid has no sliding window"}},
	{"ssm gqa narrow heads hf", "ssm-gqa", func(s *Spec) { s.Layers[1].GQA = &Attention{Heads: 4, KVHeads: 2, HeadDim: 32, RopeTheta: 5e5} }, FormatHF,
		[]string{"layers[1].gqa.head_dim: heads·head_dim = 128 must equal hidden 256", "hidden_size / num_attention_heads"}},
	{"ssm gqa no ffn", "ssm-gqa", func(s *Spec) { s.Layers[2].FFN = 0 }, FormatGGUF,
		[]string{"granitehybrid: layers[2].ffn: 0 (no FFN)"}},
	{"small vocab", "tiny", func(s *Spec) { s.Vocab = 100 }, FormatGGUF, []string{"vocab: 100 is below 259"}},
}

func refusalSpec(t *testing.T, specs map[string]*Spec, r refusal) *Spec {
	t.Helper()
	var s *Spec
	if r.base == "tiny" {
		s = tinyLFM2()
	} else {
		b, err := specs[r.base].JSON()
		if err != nil {
			t.Fatal(err)
		}
		if s, err = ParseValid(b); err != nil { // a deep copy
			t.Fatal(err)
		}
	}
	if r.mod != nil {
		r.mod(s)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("%s: invalid test spec: %v", r.name, err)
	}
	return s
}

// TestExportRefusals checks that each refused spec names the layer field
// and the family's reason, matches ErrNotExportable, and that the writers
// refuse it with the same error.
func TestExportRefusals(t *testing.T) {
	specs := exportSpecs(t)
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			s := refusalSpec(t, specs, r)
			err := Exportable(s, r.format)
			if !errors.Is(err, ErrNotExportable) {
				t.Fatalf("Exportable(%s) = %v, want ErrNotExportable", r.format, err)
			}
			for _, w := range r.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var werr error
			if r.format == FormatGGUF {
				werr = s.WriteGGUF(io.Discard, Q8_0, 1)
			} else {
				_, werr = s.HFConfig()
			}
			if werr == nil || werr.Error() != err.Error() {
				t.Errorf("writer error %v, Exportable %v", werr, err)
			}
		})
	}
}

// TestExportableAgreesWithWriters checks, over presets, export specs and
// refusals, that Exportable says nil exactly when the writer succeeds.
func TestExportableAgreesWithWriters(t *testing.T) {
	specs := exportSpecs(t)
	var all []*Spec
	for _, n := range []string{"lfm2-350m", "llama-3.2-1b", "qwen3-0.6b"} {
		s, _ := Preset(n)
		s.Layers, s.Vocab = s.Layers[:3], 512 // the same mix, small enough to write
		all = append(all, s)
	}
	for _, s := range specs {
		all = append(all, s)
	}
	for _, r := range refusals {
		all = append(all, refusalSpec(t, specs, r))
	}
	for _, s := range all {
		gerr := s.WriteGGUF(io.Discard, Q4_0, 1)
		_, herr := s.HFConfig()
		if e := Exportable(s, FormatGGUF); (e == nil) != (gerr == nil) {
			t.Errorf("%s: Exportable(gguf) %v, WriteGGUF %v", s.Name, e, gerr)
		}
		if e := Exportable(s, FormatHF); (e == nil) != (herr == nil) {
			t.Errorf("%s: Exportable(hf) %v, HFConfig %v", s.Name, e, herr)
		}
	}
}

func TestExportableInvalidInput(t *testing.T) {
	s := tinyLFM2()
	s.Layers[1].GQA.KVHeads = 3
	if err := Exportable(s, FormatGGUF); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("invalid spec: %v", err)
	}
	err := Exportable(tinyLFM2(), "onnx")
	if err == nil || errors.Is(err, ErrNotExportable) || !strings.Contains(err.Error(), `"onnx"`) {
		t.Errorf("unknown format: %v", err)
	}
}

// hfReads lists, per model_type, the config keys our export writes, the
// transformers class that reads each (src/transformers/models/<type>/), and
// the value our spec implies. The config classes were read at the
// transformers commits named in docs/arch.md §8. Values are checked on
// every golden spec of that type; the golden files pin the rest.
type hfKey struct {
	key, reader string
	value       func(s *Spec) any // nil: presence only
}

func attnOf(s *Spec) *Attention { return s.firstAttention() }

var commonHF = []hfKey{
	{"vocab_size", "PretrainedConfig subclass → embed_tokens/lm_head rows", func(s *Spec) any { return s.Vocab }},
	{"hidden_size", "config class → every Linear/RMSNorm width", func(s *Spec) any { return s.Hidden }},
	{"num_hidden_layers", "config class → layers ModuleList", func(s *Spec) any { return len(s.Layers) }},
	{"tie_word_embeddings", "PretrainedConfig → lm_head tied to embed_tokens", func(s *Spec) any { return s.TiedEmbeddings }},
	{"max_position_embeddings", "config class (rotary embedding length where the type has RoPE)", func(s *Spec) any { return s.MaxContext }},
}

var hfReads = map[string][]hfKey{
	"qwen3": {
		{"intermediate_size", "Qwen3Config → Qwen3MLP gate/up/down", func(s *Spec) any { return s.Layers[0].FFN }},
		{"num_attention_heads", "Qwen3Config → Qwen3Attention.q_proj", func(s *Spec) any { return attnOf(s).Heads }},
		{"num_key_value_heads", "Qwen3Config → Qwen3Attention.k_proj/v_proj", func(s *Spec) any { return attnOf(s).KVHeads }},
		{"head_dim", "Qwen3Config → Qwen3Attention.head_dim, q_norm/k_norm width", func(s *Spec) any { return attnOf(s).HeadDim }},
		{"rms_norm_eps", "Qwen3Config → Qwen3RMSNorm eps", func(s *Spec) any { return s.NormEps }},
		{"rope_theta", "PreTrainedConfig rope standardisation → rope_parameters.rope_theta", func(s *Spec) any { return attnOf(s).RopeTheta }},
		{"hidden_act", "Qwen3Config → Qwen3MLP act_fn", func(*Spec) any { return "silu" }},
		{"attention_bias", "Qwen3Config → q/k/v/o bias", func(*Spec) any { return false }},
		{"use_sliding_window", "Qwen3Config.__post_init__ keeps sliding_window only when true", func(s *Spec) any { return s.firstWindow() > 0 }},
		{"sliding_window", "Qwen3Config → Qwen3Attention.sliding_window on sliding_attention layers", func(s *Spec) any { return s.firstWindow() }},
		{"layer_types", "Qwen3Config → Qwen3DecoderLayer.attention_type, Qwen3Attention.layer_type", func(s *Spec) any { return attentionTypes(s) }},
	},
	"ministral": {
		{"intermediate_size", "MinistralConfig → MinistralMLP (Qwen2MLP)", func(s *Spec) any { return s.Layers[0].FFN }},
		{"num_attention_heads", "MinistralConfig → MinistralAttention.q_proj", func(s *Spec) any { return attnOf(s).Heads }},
		{"num_key_value_heads", "MinistralConfig → MinistralAttention.k_proj/v_proj", func(s *Spec) any { return attnOf(s).KVHeads }},
		{"head_dim", "MinistralConfig → Qwen2Attention.head_dim", func(s *Spec) any { return attnOf(s).HeadDim }},
		{"rms_norm_eps", "MinistralConfig → MinistralRMSNorm eps", func(s *Spec) any { return s.NormEps }},
		{"rope_theta", "MinistralConfig → MinistralRotaryEmbedding base", func(s *Spec) any { return attnOf(s).RopeTheta }},
		{"hidden_act", "MinistralConfig → MinistralMLP act_fn", func(*Spec) any { return "silu" }},
		{"sliding_window", "MinistralConfig → Qwen2Attention.sliding_window on sliding_attention layers", func(s *Spec) any { return s.firstWindow() }},
		{"layer_types", "MinistralConfig → decoder attention_type and mask per layer", func(s *Spec) any { return attentionTypes(s) }},
	},
	"mamba2": {
		{"num_heads", "Mamba2Config → Mamba2Mixer.num_heads (dt, A_log, D)", func(s *Spec) any { return s.firstSSM().Heads }},
		{"head_dim", "Mamba2Config → Mamba2Mixer.head_dim", func(s *Spec) any { return s.firstSSM().HeadDim }},
		{"state_size", "Mamba2Config → Mamba2Mixer.ssm_state_size", func(s *Spec) any { return s.firstSSM().State }},
		{"expand", "Mamba2Config → Mamba2Mixer.intermediate_size = expand·hidden_size", func(s *Spec) any { return s.firstSSM().Expand }},
		{"conv_kernel", "Mamba2Config → Mamba2Mixer.conv1d kernel_size", func(s *Spec) any { return s.firstSSM().ConvKernel }},
		{"n_groups", "Mamba2Config → B/C groups, gated-norm groups", func(*Spec) any { return 1 }},
		{"use_bias", "Mamba2Config → in_proj/out_proj bias", func(*Spec) any { return false }},
		{"use_conv_bias", "Mamba2Config → conv1d bias", func(*Spec) any { return true }},
		{"rms_norm", "Mamba2Config → Mamba2Mixer.rms_norm", func(*Spec) any { return true }},
		{"layer_norm_epsilon", "Mamba2Config → Mamba2RMSNorm and MambaRMSNormGated eps", func(s *Spec) any { return s.NormEps }},
		{"hidden_act", "Mamba2Config → conv activation", func(*Spec) any { return "silu" }},
	},
	"granitemoehybrid": {
		{"layer_types", "GraniteMoeHybridConfig.layers_block_type → mamba or self_attn per layer", func(s *Spec) any {
			var out []string
			for _, l := range s.Layers {
				out = append(out, map[Mixer]string{MixerSSM: "mamba", MixerGQA: "attention"}[l.Mixer])
			}
			return out
		}},
		{"num_attention_heads", "GraniteMoeHybridConfig → attention head_dim = hidden_size / heads", func(s *Spec) any { return attnOf(s).Heads }},
		{"num_key_value_heads", "GraniteMoeHybridConfig → k_proj/v_proj", func(s *Spec) any { return attnOf(s).KVHeads }},
		{"position_embedding_type", "GraniteMoeHybridModel → rotary_emb only for \"rope\"", func(*Spec) any { return "rope" }},
		{"rope_theta", "GraniteMoeHybridRotaryEmbedding base", func(s *Spec) any { return attnOf(s).RopeTheta }},
		{"attention_multiplier", "GraniteMoeHybridAttention.scaling (the score scale)", func(s *Spec) any { return 1 / math.Sqrt(float64(attnOf(s).HeadDim)) }},
		{"embedding_multiplier", "GraniteMoeHybridModel: inputs_embeds *= embedding_multiplier", func(*Spec) any { return 1.0 }},
		{"residual_multiplier", "GraniteMoeHybridDecoderLayer residual scaling", func(*Spec) any { return 1.0 }},
		{"logits_scaling", "GraniteMoeHybridForCausalLM: logits / logits_scaling", func(*Spec) any { return 1.0 }},
		{"shared_intermediate_size", "GraniteMoeHybridMLP (shared_mlp) input_linear = 2·width", func(s *Spec) any { return s.Layers[0].FFN }},
		{"num_local_experts", "GraniteMoeHybridDecoderLayer.has_experts (0: no MoE block)", func(*Spec) any { return 0 }},
		{"rms_norm_eps", "GraniteMoeHybridRMSNorm and the Mamba gated norm eps", func(s *Spec) any { return s.NormEps }},
		{"mamba_n_heads", "BambaMixer.num_heads", func(s *Spec) any { return s.firstSSM().Heads }},
		{"mamba_d_head", "BambaMixer.head_dim", func(s *Spec) any { return s.firstSSM().HeadDim }},
		{"mamba_n_groups", "BambaMixer.n_groups", func(*Spec) any { return 1 }},
		{"mamba_d_state", "BambaMixer.ssm_state_size", func(s *Spec) any { return s.firstSSM().State }},
		{"mamba_d_conv", "BambaMixer.conv_kernel_size", func(s *Spec) any { return s.firstSSM().ConvKernel }},
		{"mamba_expand", "BambaMixer.intermediate_size = mamba_expand·hidden_size", func(s *Spec) any { return s.firstSSM().Expand }},
		{"mamba_conv_bias", "BambaMixer.conv1d bias", func(*Spec) any { return true }},
		{"mamba_proj_bias", "BambaMixer in_proj/out_proj bias", func(*Spec) any { return false }},
		{"hidden_act", "MLP and conv activation", func(*Spec) any { return "silu" }},
	},
}

// TestHFConfigReads checks, on every golden spec of a new model type, that
// each key the type's classes read is written with the value our math
// needs (the JSON round trip turns ints into float64, so values are
// compared after the same round trip).
func TestHFConfigReads(t *testing.T) {
	seen := map[string]bool{}
	for name, s := range exportSpecs(t) {
		fam := wantFamilies[name].hf
		keys, ok := hfReads[fam]
		if !ok {
			continue
		}
		seen[fam] = true
		b, err := s.HFConfig()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var c map[string]any
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		if c["model_type"] != fam {
			t.Errorf("%s: model_type %v", name, c["model_type"])
		}
		for _, k := range append(append([]hfKey{}, commonHF...), keys...) {
			got, ok := c[k.key]
			if !ok {
				t.Errorf("%s: %s missing (read by %s)", name, k.key, k.reader)
				continue
			}
			if k.value == nil {
				continue
			}
			wb, _ := json.Marshal(k.value(s))
			var want any
			_ = json.Unmarshal(wb, &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %v, want %v (read by %s)", name, k.key, got, want, k.reader)
			}
		}
	}
	for fam := range hfReads {
		if !seen[fam] {
			t.Errorf("no export spec exercises model_type %s", fam)
		}
	}
}
