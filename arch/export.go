package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrNotExportable is matched (errors.Is) by the error of an export to a
// format that cannot express the spec (e.g. a linear_attn layer in a GGUF
// file). The message names the first layer field each candidate family
// cannot express and why.
var ErrNotExportable = errors.New("not exportable")

// Format is an export format that a release runtime reads.
type Format string

// The formats Exportable judges.
const (
	// FormatHF is a Hugging Face transformers config.json (Spec.HFConfig).
	FormatHF Format = "hf"
	// FormatGGUF is a llama.cpp GGUF file (Spec.WriteGGUF).
	FormatGGUF Format = "gguf"
)

// Formats lists the formats Exportable accepts.
var Formats = []Format{FormatHF, FormatGGUF}

// Family names a model family of one format: a llama.cpp architecture
// (general.architecture of a GGUF file) or a transformers model_type. The
// block-by-block mapping and why each family computes our math is in
// docs/arch.md §8.
type Family string

// llama.cpp architectures (GGUF) and transformers model types (HF) that the
// exports write. Where the names are equal the family exists in both.
const (
	FamilyLFM2             Family = "lfm2"             // GGUF and HF: conv + gqa, or (GGUF only) conv + swa
	FamilyLlama            Family = "llama"            // GGUF and HF: uniform gqa without QK-norm
	FamilyQwen3            Family = "qwen3"            // GGUF: uniform gqa with QK-norm; HF: also gqa/swa mixes (layer_types)
	FamilyDeci             Family = "deci"             // GGUF: gqa without QK-norm, per-layer widths and heads
	FamilyOpenELM          Family = "openelm"          // GGUF: gqa with QK-norm, per-layer widths and heads, tied
	FamilyStep35           Family = "step35"           // GGUF: gqa/swa mixes, untied
	FamilyMamba2           Family = "mamba2"           // GGUF and HF: ssm only, no FFN
	FamilyGraniteHybrid    Family = "granitehybrid"    // GGUF: ssm + gqa without QK-norm + one SwiGLU width
	FamilyGraniteMoeHybrid Family = "granitemoehybrid" // HF: the same block as granitehybrid
	FamilyMinistral        Family = "ministral"        // HF: gqa/swa mixes without QK-norm
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

// Exportable reports whether s can be exported to f with the same math:
// nil, or an error matching ErrNotExportable that names, for each family
// that could take a spec of this layer mix, the first layer field it
// cannot express and why. An invalid spec returns its Validate error
// (matching ErrInvalidSpec). It is pure and cheap (no weights are made), so
// a search can call it on every candidate before spending device time.
func Exportable(s *Spec, f Format) error {
	if err := s.Validate(); err != nil {
		return err
	}
	var err error
	switch f {
	case FormatHF:
		_, err = s.HFFamily()
	case FormatGGUF:
		_, err = s.GGUFFamily()
	default:
		return fmt.Errorf("unknown export format %q (want hf or gguf)", f)
	}
	return err
}

func notExportable(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrNotExportable, field, fmt.Sprintf(format, args...))
}

// reason is one family's objection to a spec: the field and why.
type reason struct{ field, msg string }

func (r *reason) String() string { return r.field + ": " + r.msg }

func because(field, format string, args ...any) *reason {
	return &reason{field, fmt.Sprintf(format, args...)}
}

// candidate is a family with its check; check returns nil when the family
// expresses the spec exactly.
type candidate struct {
	fam   Family
	check func(s *Spec, m *mix) *reason
}

// choose returns the first candidate whose check passes, or an error
// listing every candidate's objection (or the one reason when there is no
// candidate for this layer mix).
func choose(s *Spec, m *mix, cands []candidate, none *reason) (Family, error) {
	if len(cands) == 0 {
		return "", notExportable(none.field, "%s", none.msg)
	}
	var why []string
	for _, c := range cands {
		r := c.check(s, m)
		if r == nil {
			return c.fam, nil
		}
		if len(cands) == 1 {
			return "", notExportable(r.field, "%s", r.msg)
		}
		why = append(why, string(c.fam)+": "+r.String())
	}
	return "", fmt.Errorf("%w: no family fits: %s", ErrNotExportable, strings.Join(why, "; "))
}

// mix is the layer composition of a spec: the indices of its layers by
// mixer kind.
type mix struct {
	conv, gqa, swa, lin, ssm []int
	attn                     []int // gqa and swa layers, in order
}

func mixOf(s *Spec) *mix {
	m := &mix{}
	for i, l := range s.Layers {
		switch l.Mixer {
		case MixerConv:
			m.conv = append(m.conv, i)
		case MixerGQA:
			m.gqa = append(m.gqa, i)
			m.attn = append(m.attn, i)
		case MixerSWA:
			m.swa = append(m.swa, i)
			m.attn = append(m.attn, i)
		case MixerLinearAttn:
			m.lin = append(m.lin, i)
		case MixerSSM:
			m.ssm = append(m.ssm, i)
		}
	}
	return m
}

// attnField is the JSON path of layer i's attention block.
func attnField(s *Spec, i int) string {
	return fmt.Sprintf("layers[%d].%s", i, s.Layers[i].Mixer)
}

// firstAttention returns the first gqa or swa layer's attention
// parameters, or nil.
func (s *Spec) firstAttention() *Attention {
	for i := range s.Layers {
		if a := s.Layers[i].attention(); a != nil {
			return a
		}
	}
	return nil
}

// firstLayer returns the index of the first layer with mixer k, or -1.
func (s *Spec) firstLayer(k Mixer) int {
	for i, l := range s.Layers {
		if l.Mixer == k {
			return i
		}
	}
	return -1
}

// firstConvKernel returns the first conv layer's kernel, or 0.
func (s *Spec) firstConvKernel() int {
	if i := s.firstLayer(MixerConv); i >= 0 {
		return s.Layers[i].Conv.Kernel
	}
	return 0
}

// firstWindow returns the first swa layer's window, or 0.
func (s *Spec) firstWindow() int {
	if i := s.firstLayer(MixerSWA); i >= 0 {
		return s.Layers[i].SWA.Window
	}
	return 0
}

// firstSSM returns the first ssm layer's parameters, or nil.
func (s *Spec) firstSSM() *SSM {
	if i := s.firstLayer(MixerSSM); i >= 0 {
		return s.Layers[i].SSM
	}
	return nil
}

// oneFFN objects unless every layer has the same FFN width F > 0; fam is
// named in the message (who builds an FFN of layer 0's width everywhere).
func oneFFN(s *Spec, fam string) *reason {
	for i, l := range s.Layers {
		if l.FFN == 0 {
			return because(fmt.Sprintf("layers[%d].ffn", i), "0 (no FFN): %s builds a SwiGLU FFN in every layer", fam)
		}
		if l.FFN != s.Layers[0].FFN {
			return because(fmt.Sprintf("layers[%d].ffn", i), "%d differs from layers[0].ffn %d: %s has one FFN width", l.FFN, s.Layers[0].FFN, fam)
		}
	}
	return nil
}

// everyFFN objects unless every layer has an FFN (widths may differ).
func everyFFN(s *Spec, why string) *reason {
	for i, l := range s.Layers {
		if l.FFN == 0 {
			return because(fmt.Sprintf("layers[%d].ffn", i), "0 (no FFN): %s", why)
		}
	}
	return nil
}

// attnFields selects the attention fields a family keeps once per model.
type attnFields struct {
	heads, kvHeads, headDim, qkNorm, theta bool
}

// sameAttention objects unless the attention layers agree on the fields
// selected by want.
func sameAttention(s *Spec, m *mix, want attnFields, fam string) *reason {
	if len(m.attn) == 0 {
		return nil
	}
	i0 := m.attn[0]
	a0 := s.Layers[i0].attention()
	for _, i := range m.attn[1:] {
		a := s.Layers[i].attention()
		p := attnField(s, i)
		switch {
		case want.heads && a.Heads != a0.Heads:
			return because(p+".heads", "%d differs from %s.heads %d: %s has one head count", a.Heads, attnField(s, i0), a0.Heads, fam)
		case want.kvHeads && a.KVHeads != a0.KVHeads:
			return because(p+".kv_heads", "%d differs from %s.kv_heads %d: %s has one KV head count", a.KVHeads, attnField(s, i0), a0.KVHeads, fam)
		case want.headDim && a.HeadDim != a0.HeadDim:
			return because(p+".head_dim", "%d differs from %s.head_dim %d: %s has one head dimension", a.HeadDim, attnField(s, i0), a0.HeadDim, fam)
		case want.qkNorm && a.QKNorm != a0.QKNorm:
			return because(p+".qk_norm", "%v differs from %s.qk_norm %v: %s has QK-norm on every attention layer or on none", a.QKNorm, attnField(s, i0), a0.QKNorm, fam)
		case want.theta && a.RopeTheta != a0.RopeTheta:
			return because(p+".rope_theta", "%g differs from %s.rope_theta %g: %s has one RoPE base", a.RopeTheta, attnField(s, i0), a0.RopeTheta, fam)
		}
	}
	return nil
}

// qkNormAll objects unless every attention layer has QK-norm equal to want.
func qkNormAll(s *Spec, m *mix, want bool, why string) *reason {
	for _, i := range m.attn {
		if a := s.Layers[i].attention(); a.QKNorm != want {
			return because(attnField(s, i)+".qk_norm", "%v: %s", a.QKNorm, why)
		}
	}
	return nil
}

// oneWindow objects unless every swa layer has the same window.
func oneWindow(s *Spec, m *mix, fam string) *reason {
	for _, i := range m.swa {
		if w := s.Layers[i].SWA.Window; w != s.Layers[m.swa[0]].SWA.Window {
			return because(fmt.Sprintf("layers[%d].swa.window", i), "%d differs from layers[%d].swa.window %d: %s has one sliding window", w, m.swa[0], s.Layers[m.swa[0]].SWA.Window, fam)
		}
	}
	return nil
}

// sameSSM objects unless every ssm layer has the same parameters.
func sameSSM(s *Spec, m *mix, fam string) *reason {
	for _, i := range m.ssm {
		if *s.Layers[i].SSM != *s.Layers[m.ssm[0]].SSM {
			return because(fmt.Sprintf("layers[%d].ssm", i), "differs from layers[%d].ssm: %s has one SSM configuration per model", m.ssm[0], fam)
		}
	}
	return nil
}

// sameConvKernel objects unless every conv layer has the same kernel.
func sameConvKernel(s *Spec, m *mix, fam string) *reason {
	for _, i := range m.conv {
		if k := s.Layers[i].Conv.Kernel; k != s.Layers[m.conv[0]].Conv.Kernel {
			return because(fmt.Sprintf("layers[%d].conv.kernel", i), "%d differs from layers[%d].conv.kernel %d: %s has one conv length", k, m.conv[0], s.Layers[m.conv[0]].Conv.Kernel, fam)
		}
	}
	return nil
}

// firstOf returns the first non-nil reason.
func firstOf(rs ...*reason) *reason {
	for _, r := range rs {
		if r != nil {
			return r
		}
	}
	return nil
}

// noMixer is the objection when the spec's layer mix has no family at all:
// a linear_attn layer, or conv next to ssm.
func noMixer(s *Spec, m *mix, runtime string) *reason {
	if len(m.lin) > 0 {
		return because(fmt.Sprintf("layers[%d].mixer", m.lin[0]),
			"linear_attn: no %s family computes our gated linear attention (per-channel decay exp(logsigmoid(a)/16), per-head RMSNorm, silu output gate); see docs/arch.md §8", runtime)
	}
	if len(m.conv) > 0 && len(m.ssm) > 0 {
		return because(fmt.Sprintf("layers[%d].mixer", m.ssm[0]),
			"ssm next to conv (layers[%d]): no %s family has both LFM2 short-conv and Mamba2 layers", m.conv[0], runtime)
	}
	return nil
}
