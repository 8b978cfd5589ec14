package arch

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotExportable is matched (errors.Is) by the error of an export to a
// format that cannot express the spec (e.g. a swa layer in an HF config).
var ErrNotExportable = errors.New("not exportable")

// Family is a model family that HF config.json and GGUF can name.
type Family string

// The families the exports can write.
const (
	// FamilyLFM2: conv and GQA layers, QK-norm on every attention layer,
	// heads·head_dim = hidden, one conv kernel, one FFN width.
	FamilyLFM2 Family = "lfm2"
	// FamilyLlama: GQA only, no QK-norm, one head configuration.
	FamilyLlama Family = "llama"
	// FamilyQwen3: GQA only with QK-norm, one head configuration;
	// heads·head_dim may differ from hidden (Qwen3 uses 16·128 at 1024).
	FamilyQwen3 Family = "qwen3"
)

// JSON is the spec as indented JSON with a trailing newline; Parse reads it
// back to an equal spec.
func (s *Spec) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	return append(b, '\n'), nil
}

func notExportable(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrNotExportable, field, fmt.Sprintf(format, args...))
}

// Family decides which HF/llama.cpp model family can express s exactly: a
// spec with any conv layer is lfm2; an all-GQA spec is llama without QK-norm
// and qwen3 with it (an all-attention lfm2 would be the same network, but
// llama.cpp's hybrid memory cannot run one). The error
// (matching ErrNotExportable) names the first field no family can express:
// swa, linear_attn and ssm mixers, layers without an FFN, per-layer FFN
// widths or head configurations that differ, or different conv kernels.
// The spec must be valid.
func (s *Spec) Family() (Family, error) {
	var att *Attention
	attIdx, convK, convIdx := -1, 0, -1
	for i := range s.Layers {
		l := &s.Layers[i]
		p := fmt.Sprintf("layers[%d]", i)
		switch l.Mixer {
		case MixerConv:
			if convIdx >= 0 && l.Conv.Kernel != convK {
				return "", notExportable(p+".conv.kernel", "%d differs from layers[%d].conv.kernel %d; the formats have one conv_L_cache", l.Conv.Kernel, convIdx, convK)
			}
			if convIdx < 0 {
				convIdx, convK = i, l.Conv.Kernel
			}
		case MixerGQA:
			if att != nil && *l.GQA != *att {
				return "", notExportable(p+".gqa", "head configuration differs from layers[%d].gqa; the formats have one per model", attIdx)
			}
			if att == nil {
				att, attIdx = l.GQA, i
			}
		default:
			return "", notExportable(p+".mixer", "%q has no Hugging Face or llama.cpp equivalent (only conv and gqa)", l.Mixer)
		}
		if l.FFN == 0 {
			return "", notExportable(p+".ffn", "0 (no FFN) cannot be expressed; every layer needs a SwiGLU")
		}
		if l.FFN != s.Layers[0].FFN {
			return "", notExportable(p+".ffn", "%d differs from layers[0].ffn %d; the formats have one intermediate_size", l.FFN, s.Layers[0].FFN)
		}
	}
	if convIdx >= 0 {
		if att != nil {
			p := fmt.Sprintf("layers[%d].gqa", attIdx)
			if !att.QKNorm {
				return "", notExportable(p+".qk_norm", "false; lfm2 attention always has QK-norm")
			}
			if att.Heads*att.HeadDim != s.Hidden {
				return "", notExportable(p+".head_dim", "heads·head_dim = %d must equal hidden %d for lfm2", att.Heads*att.HeadDim, s.Hidden)
			}
		}
		return FamilyLFM2, nil
	}
	if !att.QKNorm {
		return FamilyLlama, nil
	}
	return FamilyQwen3, nil
}

// firstAttention returns the first GQA layer's parameters, or nil.
func (s *Spec) firstAttention() *Attention {
	for i := range s.Layers {
		if s.Layers[i].Mixer == MixerGQA {
			return s.Layers[i].GQA
		}
	}
	return nil
}

// firstConvKernel returns the first conv layer's kernel, or 0.
func (s *Spec) firstConvKernel() int {
	for _, l := range s.Layers {
		if l.Mixer == MixerConv {
			return l.Conv.Kernel
		}
	}
	return 0
}
