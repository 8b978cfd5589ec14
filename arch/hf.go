package arch

import (
	"encoding/json"
	"fmt"
	"math"
)

// HFConfig is the Hugging Face transformers config.json of s in the
// model_type HFFamily chooses (see there for what cannot be exported), as
// indented JSON. Every value that the model type's config class reads and
// that shapes the network is written explicitly, defaults included, so the
// file does not depend on a transformers version's defaults; docs/arch.md
// §8 names the class that reads each key. The lfm2 FFN is written as
// intermediate_size = F with block_auto_adjust_ff_dim = false, so HF's
// width rule yields exactly F. The spec must be valid.
func (s *Spec) HFConfig() ([]byte, error) {
	fam, err := s.HFFamily()
	if err != nil {
		return nil, err
	}
	F := s.Layers[0].FFN
	c := map[string]any{
		"model_type":              string(fam),
		"vocab_size":              s.Vocab,
		"hidden_size":             s.Hidden,
		"num_hidden_layers":       len(s.Layers),
		"max_position_embeddings": s.MaxContext,
		"tie_word_embeddings":     s.TiedEmbeddings,
		"torch_dtype":             "bfloat16",
		"use_cache":               true,
		"bos_token_id":            1,
		"eos_token_id":            2,
		"initializer_range":       0.02,
	}
	att := s.firstAttention()
	heads, kv, theta := 0, 0, 1e6
	if att != nil {
		heads, kv, theta = att.Heads, att.KVHeads, att.RopeTheta
	}
	switch fam {
	case FamilyLFM2:
		c["architectures"] = []string{"Lfm2ForCausalLM"}
		c["intermediate_size"] = F
		c["norm_eps"] = s.NormEps
		c["pad_token_id"] = 0
		c["conv_bias"] = false
		c["conv_L_cache"] = s.firstConvKernel()
		c["block_auto_adjust_ff_dim"] = false
		c["block_ffn_dim_multiplier"] = 1.0
		c["block_multiple_of"] = 256
		types := make([]string, len(s.Layers))
		for i, l := range s.Layers {
			if l.Mixer == MixerConv {
				types[i] = "conv"
			} else {
				types[i] = "full_attention"
			}
		}
		c["layer_types"] = types
		c["num_attention_heads"] = heads
		c["num_key_value_heads"] = kv
		c["rope_theta"] = theta
	case FamilyLlama, FamilyQwen3, FamilyMinistral:
		switch fam {
		case FamilyLlama:
			c["architectures"] = []string{"LlamaForCausalLM"}
			c["mlp_bias"] = false
			c["pretraining_tp"] = 1
		case FamilyQwen3:
			c["architectures"] = []string{"Qwen3ForCausalLM"}
			c["max_window_layers"] = len(s.Layers)
			if w := s.firstWindow(); w > 0 {
				// Qwen3Config keeps sliding_window only with
				// use_sliding_window; layer_types says which layers slide.
				c["use_sliding_window"] = true
				c["sliding_window"] = w
				c["layer_types"] = attentionTypes(s)
			} else {
				c["use_sliding_window"] = false
			}
		case FamilyMinistral:
			c["architectures"] = []string{"MinistralForCausalLM"}
			c["sliding_window"] = s.firstWindow()
			c["layer_types"] = attentionTypes(s)
		}
		c["intermediate_size"] = F
		c["rms_norm_eps"] = s.NormEps
		c["hidden_act"] = "silu"
		c["attention_bias"] = false
		c["attention_dropout"] = 0.0
		c["num_attention_heads"] = heads
		c["num_key_value_heads"] = kv
		c["head_dim"] = att.HeadDim
		c["rope_theta"] = theta
	case FamilyMamba2:
		m := s.firstSSM()
		c["architectures"] = []string{"Mamba2ForCausalLM"}
		c["pad_token_id"] = 0
		c["num_heads"] = m.Heads
		c["head_dim"] = m.HeadDim
		c["state_size"] = m.State
		c["expand"] = m.Expand
		c["conv_kernel"] = m.ConvKernel
		c["n_groups"] = 1
		c["use_bias"] = false
		c["use_conv_bias"] = true
		c["rms_norm"] = true
		c["layer_norm_epsilon"] = s.NormEps
		c["hidden_act"] = "silu"
		c["residual_in_fp32"] = true
	case FamilyGraniteMoeHybrid:
		m := s.firstSSM()
		c["architectures"] = []string{"GraniteMoeHybridForCausalLM"}
		types := make([]string, len(s.Layers))
		for i, l := range s.Layers {
			if l.Mixer == MixerSSM {
				types[i] = "mamba"
			} else {
				types[i] = "attention"
			}
		}
		c["layer_types"] = types
		c["num_attention_heads"] = heads
		c["num_key_value_heads"] = kv
		c["rope_theta"] = theta
		c["position_embedding_type"] = "rope"
		// Granite's multipliers, set to our math: no embedding, residual or
		// logit scaling; attention_multiplier is the score scale itself.
		c["attention_multiplier"] = 1 / math.Sqrt(float64(att.HeadDim))
		c["embedding_multiplier"] = 1.0
		c["residual_multiplier"] = 1.0
		c["logits_scaling"] = 1.0
		c["attention_bias"] = false
		c["attention_dropout"] = 0.0
		// The dense SwiGLU is shared_mlp (width shared_intermediate_size);
		// with no local experts there is no MoE block.
		c["intermediate_size"] = F
		c["shared_intermediate_size"] = F
		c["num_local_experts"] = 0
		c["num_experts_per_tok"] = 0
		c["rms_norm_eps"] = s.NormEps
		c["hidden_act"] = "silu"
		c["mamba_n_heads"] = m.Heads
		c["mamba_d_head"] = m.HeadDim
		c["mamba_n_groups"] = 1
		c["mamba_d_state"] = m.State
		c["mamba_d_conv"] = m.ConvKernel
		c["mamba_expand"] = m.Expand
		c["mamba_conv_bias"] = true
		c["mamba_proj_bias"] = false
	default:
		return nil, fmt.Errorf("hf config: family %s has no writer", fam)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("hf config: %w", err)
	}
	return append(b, '\n'), nil
}

// attentionTypes is layer_types for an attention-only spec:
// "sliding_attention" for swa layers, "full_attention" for gqa layers.
func attentionTypes(s *Spec) []string {
	types := make([]string, len(s.Layers))
	for i, l := range s.Layers {
		if l.Mixer == MixerSWA {
			types[i] = "sliding_attention"
		} else {
			types[i] = "full_attention"
		}
	}
	return types
}
