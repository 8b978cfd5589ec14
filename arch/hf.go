package arch

import (
	"encoding/json"
	"fmt"
)

// HFConfig is the Hugging Face transformers config.json of s (the family
// chosen by Family; see there for what cannot be exported), as indented
// JSON. The lfm2 FFN is written as intermediate_size = F with
// block_auto_adjust_ff_dim = false, so HF's width rule yields exactly F.
// The spec must be valid.
func (s *Spec) HFConfig() ([]byte, error) {
	fam, err := s.Family()
	if err != nil {
		return nil, fmt.Errorf("hf config: %w", err)
	}
	F := s.Layers[0].FFN
	att := s.firstAttention()
	c := map[string]any{
		"model_type":              string(fam),
		"vocab_size":              s.Vocab,
		"hidden_size":             s.Hidden,
		"intermediate_size":       F,
		"num_hidden_layers":       len(s.Layers),
		"max_position_embeddings": s.MaxContext,
		"tie_word_embeddings":     s.TiedEmbeddings,
		"torch_dtype":             "bfloat16",
		"use_cache":               true,
		"bos_token_id":            1,
		"eos_token_id":            2,
		"initializer_range":       0.02,
	}
	heads, kv, theta := 0, 0, 1e6
	if att != nil {
		heads, kv, theta = att.Heads, att.KVHeads, att.RopeTheta
	}
	switch fam {
	case FamilyLFM2:
		c["architectures"] = []string{"Lfm2ForCausalLM"}
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
		if heads == 0 {
			// No attention layer: HF still needs a head count; any divisor works.
			heads, kv = 1, 1
		}
		c["num_attention_heads"] = heads
		c["num_key_value_heads"] = kv
		c["rope_theta"] = theta
	case FamilyLlama, FamilyQwen3:
		if fam == FamilyLlama {
			c["architectures"] = []string{"LlamaForCausalLM"}
			c["mlp_bias"] = false
			c["pretraining_tp"] = 1
		} else {
			c["architectures"] = []string{"Qwen3ForCausalLM"}
			c["use_sliding_window"] = false
			c["max_window_layers"] = len(s.Layers)
		}
		c["rms_norm_eps"] = s.NormEps
		c["hidden_act"] = "silu"
		c["attention_bias"] = false
		c["attention_dropout"] = 0.0
		c["num_attention_heads"] = heads
		c["num_key_value_heads"] = kv
		c["head_dim"] = att.HeadDim
		c["rope_theta"] = theta
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("hf config: %w", err)
	}
	return append(b, '\n'), nil
}
