package arch

import "fmt"

// This file decides which family of each format computes a spec's math
// exactly. The rules restate, per family, what the family's code builds
// (llama.cpp d775b8967a46d8beb110d444aa3b8938179e0dd8 src/models/<arch>.cpp;
// transformers models/<type>/modeling_<type>.py); docs/arch.md §8 has the
// table with the file references and the math each block maps to.

// GGUFFamily is the llama.cpp architecture WriteGGUF uses for s, or an
// error matching ErrNotExportable naming what no architecture can express:
//
//   - conv (+ gqa or swa): lfm2
//   - gqa only, one configuration and FFN width: llama (no QK-norm) or qwen3
//   - gqa only with per-layer FFN widths or heads: deci (no QK-norm) or
//     openelm (QK-norm, tied embeddings)
//   - gqa/swa with at least one swa layer, untied embeddings: step35
//   - ssm only without FFN: mamba2
//   - ssm + gqa without QK-norm and one FFN width: granitehybrid
//
// linear_attn layers, conv next to ssm, and a vocab below GGUFMinVocab are
// refused. The spec must be valid.
func (s *Spec) GGUFFamily() (Family, error) {
	if s.Vocab < GGUFMinVocab {
		return "", fmt.Errorf("gguf: %w", notExportable("vocab", "%d is below %d, the size of the GGUF export's minimal tokenizer", s.Vocab, GGUFMinVocab))
	}
	m := mixOf(s)
	none := noMixer(s, m, "llama.cpp")
	var cands []candidate
	if none == nil {
		switch {
		case len(m.conv) > 0:
			cands = []candidate{{FamilyLFM2, lfm2GGUF}}
		case len(m.ssm) > 0:
			cands = []candidate{{FamilyMamba2, mamba2Check("llama.cpp mamba2")}, {FamilyGraniteHybrid, graniteHybridGGUF}}
		case len(m.swa) > 0:
			cands = []candidate{{FamilyStep35, step35GGUF}}
		default:
			uniform := FamilyLlama
			if s.firstAttention().QKNorm {
				uniform = FamilyQwen3
			}
			cands = []candidate{{uniform, uniformAttention("llama.cpp " + string(uniform))}, {FamilyDeci, deciGGUF}, {FamilyOpenELM, openELMGGUF}}
		}
	}
	fam, err := choose(s, m, cands, none)
	if err != nil {
		return "", fmt.Errorf("gguf: %w", err)
	}
	return fam, nil
}

// HFFamily is the transformers model_type HFConfig writes for s, or an
// error matching ErrNotExportable naming what no model type can express:
//
//   - conv + gqa: lfm2
//   - gqa/swa only, one configuration and FFN width: qwen3 (QK-norm; swa
//     layers through layer_types), llama (no QK-norm, no swa) or ministral
//     (no QK-norm, swa through layer_types)
//   - ssm only without FFN: mamba2
//   - ssm + gqa without QK-norm and one FFN width: granitemoehybrid
//
// The spec must be valid.
func (s *Spec) HFFamily() (Family, error) {
	m := mixOf(s)
	none := noMixer(s, m, "transformers")
	var cands []candidate
	if none == nil {
		switch {
		case len(m.conv) > 0:
			cands = []candidate{{FamilyLFM2, lfm2HF}}
		case len(m.ssm) > 0:
			cands = []candidate{{FamilyMamba2, mamba2Check("transformers mamba2")}, {FamilyGraniteMoeHybrid, graniteMoeHybridHF}}
		default:
			fam := FamilyLlama
			switch {
			case s.firstAttention().QKNorm:
				fam = FamilyQwen3
			case len(m.swa) > 0:
				fam = FamilyMinistral
			}
			cands = []candidate{{fam, uniformAttention("transformers " + string(fam))}}
		}
	}
	fam, err := choose(s, m, cands, none)
	if err != nil {
		return "", fmt.Errorf("hf config: %w", err)
	}
	return fam, nil
}

// lfm2GGUF: llama.cpp src/models/lfm2.cpp. A layer is recurrent (short
// conv) iff its head_count_kv is 0; attention layers have required
// attn_q_norm/attn_k_norm of [n_embd/n_head] and attn_q/attn_output of
// [n_embd, n_embd]; every layer has ffn_norm and ffn_gate/up/down of layer
// 0's width; lfm2.attention.sliding_window > 0 makes every attention layer
// sliding; GGML_ASSERT(n_shortconv_l_cache > 1).
func lfm2GGUF(s *Spec, m *mix) *reason {
	const fam = "llama.cpp lfm2"
	if len(m.attn) == 0 {
		return because("layers", "no gqa or swa layer: llama.cpp's lfm2 hybrid memory needs an attention layer (an all-conv lfm2 aborts in llama_memory_hybrid)")
	}
	if len(m.gqa) > 0 && len(m.swa) > 0 {
		return because(fmt.Sprintf("layers[%d].mixer", m.swa[0]), "swa next to gqa (layers[%d]): %s makes every attention layer sliding once lfm2.attention.sliding_window is set", m.gqa[0], fam)
	}
	if r := firstOf(oneWindow(s, m, fam),
		qkNormAll(s, m, true, fam+" attention always has QK-norm (attn_q_norm/attn_k_norm are required)"),
		sameAttention(s, m, attnFields{heads: true, theta: true}, fam),
		lfm2Width(s, m, fam),
		sameConvKernel(s, m, fam)); r != nil {
		return r
	}
	if k := s.firstConvKernel(); k < 2 {
		return because(fmt.Sprintf("layers[%d].conv.kernel", m.conv[0]), "1: %s asserts shortconv.l_cache > 1", fam)
	}
	return oneFFN(s, fam)
}

// lfm2Width objects unless every attention layer has heads·head_dim =
// hidden (lfm2's q and output projections are hidden × hidden).
func lfm2Width(s *Spec, m *mix, fam string) *reason {
	for _, i := range m.attn {
		if a := s.Layers[i].attention(); a.Heads*a.HeadDim != s.Hidden {
			return because(attnField(s, i)+".head_dim", "heads·head_dim = %d must equal hidden %d: %s's attn_q and attn_output are hidden × hidden", a.Heads*a.HeadDim, s.Hidden, fam)
		}
	}
	return nil
}

// lfm2HF: transformers models/lfm2 (Lfm2Config, Lfm2Attention,
// Lfm2HybridConvCache): one num_key_value_heads, head_dim = hidden /
// num_attention_heads, q/k layernorm always, no sliding window, one
// conv_L_cache and intermediate_size, and the cache needs a
// "full_attention" layer (layer_types.index raises ValueError otherwise).
func lfm2HF(s *Spec, m *mix) *reason {
	const fam = "transformers lfm2"
	if len(m.swa) > 0 {
		return because(fmt.Sprintf("layers[%d].mixer", m.swa[0]), "swa: Lfm2Config has no sliding window")
	}
	if len(m.gqa) == 0 {
		return because("layers", "no gqa layer: transformers' Lfm2HybridConvCache needs a full_attention layer (layer_types.index raises ValueError)")
	}
	return firstOf(qkNormAll(s, m, true, fam+" attention always has q_layernorm/k_layernorm"),
		sameAttention(s, m, attnFields{heads: true, kvHeads: true, theta: true}, fam),
		lfm2Width(s, m, fam),
		sameConvKernel(s, m, fam),
		oneFFN(s, fam))
}

// uniformAttention checks the families with one attention configuration
// and one FFN width: llama.cpp llama/qwen3 (chosen only without swa layers,
// which they ignore) and transformers llama, qwen3 and ministral (swa
// through layer_types with one sliding_window).
func uniformAttention(fam string) func(s *Spec, m *mix) *reason {
	return func(s *Spec, m *mix) *reason {
		return firstOf(sameAttention(s, m, attnFields{heads: true, kvHeads: true, headDim: true, qkNorm: true, theta: true}, fam),
			oneWindow(s, m, fam),
			oneFFN(s, fam))
	}
}

// deciGGUF: llama.cpp src/models/deci.cpp reads head_count, head_count_kv
// and feed_forward_length per layer; attention has no QK-norm and NORM
// RoPE over n_rot = key_length; a layer with feed_forward_length 0
// `continue`s before `inpL = cur`, which drops that layer's attention
// output, so every layer needs an FFN.
func deciGGUF(s *Spec, m *mix) *reason {
	const fam = "llama.cpp deci"
	return firstOf(qkNormAll(s, m, false, fam+" attention has no QK-norm"),
		sameAttention(s, m, attnFields{headDim: true, theta: true}, fam),
		everyFFN(s, fam+" drops the attention output of a layer without FFN (src/models/deci.cpp: continue before inpL = cur)"))
}

// openELMGGUF: llama.cpp src/models/openelm.cpp: per-layer heads, KV heads
// and FFN widths, fused attn_qkv, required per-head q/k norms, NEOX RoPE,
// an FFN in every layer, and the output always duplicated from token_embd
// (tied).
func openELMGGUF(s *Spec, m *mix) *reason {
	const fam = "llama.cpp openelm"
	if !s.TiedEmbeddings {
		return because("tied_embeddings", "false: %s always uses token_embd as the output head", fam)
	}
	return firstOf(qkNormAll(s, m, true, fam+" attention always has QK-norm"),
		sameAttention(s, m, attnFields{headDim: true, theta: true}, fam),
		everyFFN(s, fam+" has ffn tensors in every layer"))
}

// step35GGUF: llama.cpp src/models/step35.cpp: per-layer heads and KV
// heads, optional per-layer QK-norm, a per-layer sliding-window pattern with
// one window (at least one sliding layer: create_memory asserts
// is_swa_any), dense SwiGLU FFNs of layer 0's width (MoE tensors optional),
// NEOX RoPE, and a required output tensor (untied).
func step35GGUF(s *Spec, m *mix) *reason {
	const fam = "llama.cpp step35"
	if len(m.swa) == 0 {
		return because("layers", "no swa layer: %s always builds a sliding-window cache and asserts hparams.is_swa_any() (src/llama-model.cpp create_memory)", fam)
	}
	if s.TiedEmbeddings {
		return because("tied_embeddings", "true: %s requires its own output tensor", fam)
	}
	return firstOf(sameAttention(s, m, attnFields{headDim: true, theta: true}, fam),
		oneWindow(s, m, fam),
		oneFFN(s, fam))
}

// mamba2Check: llama.cpp src/models/mamba2.cpp and transformers
// models/mamba2: every layer is norm → Mamba2 mixer → residual with no FFN,
// one SSM configuration per model, one B/C group.
func mamba2Check(fam string) func(s *Spec, m *mix) *reason {
	return func(s *Spec, m *mix) *reason {
		if len(m.attn) > 0 {
			return because(fmt.Sprintf("layers[%d].mixer", m.attn[0]), "%s: %s has only Mamba2 layers", s.Layers[m.attn[0]].Mixer, fam)
		}
		for i, l := range s.Layers {
			if l.FFN != 0 {
				return because(fmt.Sprintf("layers[%d].ffn", i), "%d: %s layers have no FFN", l.FFN, fam)
			}
		}
		return sameSSM(s, m, fam)
	}
}

// graniteHybridGGUF: llama.cpp src/models/granite-hybrid.cpp: a layer is
// Mamba2 iff head_count_kv is 0, else GQA without QK-norm (NORM RoPE,
// 1/sqrt(head_dim) when attention.scale is absent); every layer has a SwiGLU
// FFN of layer 0's width; GGML_ASSERT(2 * n_embd == d_inner).
func graniteHybridGGUF(s *Spec, m *mix) *reason {
	const fam = "llama.cpp granitehybrid"
	if len(m.swa) > 0 {
		return because(fmt.Sprintf("layers[%d].mixer", m.swa[0]), "swa: %s has no sliding window", fam)
	}
	if len(m.gqa) == 0 {
		return because("layers", "no gqa layer: %s's hybrid memory needs an attention layer (without one, llm_graph_input_mem_hybrid::set_input aborts on GGML_ASSERT(buffer))", fam)
	}
	if e := s.firstSSM().Expand; e != 2 {
		return because(fmt.Sprintf("layers[%d].ssm.expand", m.ssm[0]), "%d: %s asserts d_inner = 2·hidden", e, fam)
	}
	return firstOf(sameSSM(s, m, fam),
		qkNormAll(s, m, false, fam+" attention has no QK-norm"),
		sameAttention(s, m, attnFields{heads: true, headDim: true, theta: true}, fam),
		oneFFN(s, fam))
}

// graniteMoeHybridHF: transformers models/granitemoehybrid: layer_types
// "mamba"/"attention", one mamba_* configuration (BambaMixer), attention
// without QK-norm whose head_dim is hidden / num_attention_heads, one
// num_key_value_heads, and the dense shared_mlp SwiGLU in every layer.
func graniteMoeHybridHF(s *Spec, m *mix) *reason {
	const fam = "transformers granitemoehybrid"
	if len(m.swa) > 0 {
		return because(fmt.Sprintf("layers[%d].mixer", m.swa[0]), "swa: %s has no sliding window", fam)
	}
	if len(m.gqa) == 0 {
		return because("layers", "no gqa layer: %s's HybridMambaAttentionDynamicCache.get_seq_length reads transformer_layers[0]", fam)
	}
	for _, i := range m.attn {
		if a := s.Layers[i].attention(); a.Heads*a.HeadDim != s.Hidden {
			return because(attnField(s, i)+".head_dim", "heads·head_dim = %d must equal hidden %d: %s derives head_dim = hidden_size / num_attention_heads", a.Heads*a.HeadDim, s.Hidden, fam)
		}
	}
	return firstOf(sameSSM(s, m, fam),
		qkNormAll(s, m, false, fam+" attention has no QK-norm"),
		sameAttention(s, m, attnFields{heads: true, kvHeads: true, theta: true}, fam),
		oneFFN(s, fam))
}
