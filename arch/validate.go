package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Limits keep every spec buildable and every accounting value far from
// int64 overflow (see docs/arch.md, "Limits"). All are inclusive.
const (
	MaxVocab       = 1 << 21 // embedding rows
	MaxHidden      = 1 << 15 // residual width d
	MaxLayers      = 512
	MaxFFN         = 1 << 18 // SwiGLU width F
	MaxContextLen  = 1 << 20 // Spec.MaxContext
	MaxHeads       = 1024
	MaxHeadDim     = 1024
	MaxAttnWidth   = 1 << 16 // heads·head_dim of one mixer
	MaxConvKernel  = 64
	MaxSSMState    = 1024
	MaxSSMExpand   = 8
	MaxRopeTheta   = 1e12
	MaxNormEps     = 0.1
	maxErrorsShown = 20
)

// ErrInvalidSpec is matched (errors.Is) by every error Validate returns.
var ErrInvalidSpec = errors.New("invalid spec")

// FieldError is one validation failure: the JSON path of the field and what
// is wrong with it, e.g. "layers[7].gqa.kv_heads: 6 does not divide heads 16".
type FieldError struct {
	Field string // JSON path, e.g. "layers[7].gqa.kv_heads"
	Msg   string // what is wrong
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Is makes errors.Is(err, ErrInvalidSpec) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidSpec }

// Parse decodes one JSON spec strictly: unknown fields, trailing data and
// values of the wrong type are errors. It does not validate; call Validate.
func Parse(data []byte) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return nil, errors.New("parse spec: trailing data after the spec object")
		}
		return nil, fmt.Errorf("parse spec: trailing data: %w", err)
	}
	return &s, nil
}

// ParseValid is Parse followed by Validate.
func ParseValid(data []byte) (*Spec, error) {
	s, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

type validator struct {
	errs []error
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) intRange(field string, x, lo, hi int) bool {
	if x < lo || x > hi {
		if lo == 1 && x <= 0 {
			v.add(field, "%d must be positive (at most %d)", x, hi)
		} else {
			v.add(field, "%d is out of range [%d, %d]", x, lo, hi)
		}
		return false
	}
	return true
}

func (v *validator) floatRange(field string, x, lo, hi float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) || x <= lo || x > hi {
		v.add(field, "%v is out of range (%v, %v]", x, lo, hi)
	}
}

// Validate checks that s describes a buildable network. Every message names
// the field by its JSON path. All problems are reported (joined), up to 20;
// each matches errors.Is(err, ErrInvalidSpec) and errors.As(err, **FieldError).
func (s *Spec) Validate() error {
	if s == nil {
		return &FieldError{Field: "spec", Msg: "is nil"}
	}
	v := &validator{}
	v.intRange("vocab", s.Vocab, 1, MaxVocab)
	hiddenOK := v.intRange("hidden", s.Hidden, 1, MaxHidden)
	v.floatRange("norm_eps", s.NormEps, 0, MaxNormEps)
	ctxOK := v.intRange("max_context", s.MaxContext, 1, MaxContextLen)
	if len(s.Layers) == 0 {
		v.add("layers", "must have at least one layer")
	} else if len(s.Layers) > MaxLayers {
		v.add("layers", "%d layers exceed the maximum %d", len(s.Layers), MaxLayers)
	} else {
		for i := range s.Layers {
			s.Layers[i].validate(v, fmt.Sprintf("layers[%d]", i), s.Hidden, hiddenOK, s.MaxContext, ctxOK)
		}
	}
	if len(v.errs) == 0 {
		return nil
	}
	if len(v.errs) > maxErrorsShown {
		n := len(v.errs) - maxErrorsShown
		v.errs = append(v.errs[:maxErrorsShown], &FieldError{Field: "spec", Msg: fmt.Sprintf("%d more problems not shown", n)})
	}
	return errors.Join(v.errs...)
}

func (l *Layer) validate(v *validator, p string, d int, dOK bool, maxCtx int, ctxOK bool) {
	v.intRange(p+".ffn", l.FFN, 0, MaxFFN)
	set := map[Mixer]bool{
		MixerConv:       l.Conv != nil,
		MixerGQA:        l.GQA != nil,
		MixerSWA:        l.SWA != nil,
		MixerLinearAttn: l.LinearAttn != nil,
		MixerSSM:        l.SSM != nil,
	}
	known := false
	for _, m := range Mixers {
		if l.Mixer == m {
			known = true
		}
	}
	if !known {
		names := make([]string, len(Mixers))
		for i, m := range Mixers {
			names[i] = string(m)
		}
		v.add(p+".mixer", "%q is not one of %s", l.Mixer, strings.Join(names, ", "))
		return
	}
	for _, m := range Mixers {
		if m != l.Mixer && set[m] {
			v.add(p+"."+string(m), "is set but mixer is %q", l.Mixer)
		}
	}
	if !set[l.Mixer] {
		v.add(p+"."+string(l.Mixer), "is required for mixer %q", l.Mixer)
		return
	}
	switch l.Mixer {
	case MixerConv:
		v.intRange(p+".conv.kernel", l.Conv.Kernel, 1, MaxConvKernel)
	case MixerGQA:
		l.GQA.validate(v, p+".gqa")
	case MixerSWA:
		q := p + ".swa"
		l.SWA.Attention.validate(v, q)
		if ctxOK {
			v.intRange(q+".window", l.SWA.Window, 1, maxCtx)
		} else {
			v.intRange(q+".window", l.SWA.Window, 1, MaxContextLen)
		}
	case MixerLinearAttn:
		q := p + ".linear_attn"
		h := v.intRange(q+".heads", l.LinearAttn.Heads, 1, MaxHeads)
		hd := v.intRange(q+".head_dim", l.LinearAttn.HeadDim, 1, MaxHeadDim)
		if h && hd && l.LinearAttn.Heads*l.LinearAttn.HeadDim > MaxAttnWidth {
			v.add(q+".heads", "heads·head_dim = %d exceeds %d", l.LinearAttn.Heads*l.LinearAttn.HeadDim, MaxAttnWidth)
		}
	case MixerSSM:
		q := p + ".ssm"
		m := l.SSM
		h := v.intRange(q+".heads", m.Heads, 1, MaxHeads)
		hd := v.intRange(q+".head_dim", m.HeadDim, 1, MaxHeadDim)
		v.intRange(q+".state", m.State, 1, MaxSSMState)
		e := v.intRange(q+".expand", m.Expand, 1, MaxSSMExpand)
		v.intRange(q+".conv_kernel", m.ConvKernel, 1, MaxConvKernel)
		if h && hd && e && dOK && m.Heads*m.HeadDim != m.Expand*d {
			v.add(q+".heads", "heads·head_dim = %d·%d = %d must equal expand·hidden = %d·%d = %d",
				m.Heads, m.HeadDim, m.Heads*m.HeadDim, m.Expand, d, m.Expand*d)
		}
	}
}

func (a *Attention) validate(v *validator, q string) {
	h := v.intRange(q+".heads", a.Heads, 1, MaxHeads)
	g := v.intRange(q+".kv_heads", a.KVHeads, 1, MaxHeads)
	if v.intRange(q+".head_dim", a.HeadDim, 2, MaxHeadDim) && a.HeadDim%2 != 0 {
		v.add(q+".head_dim", "%d must be even (RoPE rotates pairs)", a.HeadDim)
	}
	if h && g && a.Heads%a.KVHeads != 0 {
		v.add(q+".kv_heads", "%d does not divide heads %d", a.KVHeads, a.Heads)
	}
	if h && a.HeadDim > 0 && a.HeadDim <= MaxHeadDim && a.Heads*a.HeadDim > MaxAttnWidth {
		v.add(q+".heads", "heads·head_dim = %d exceeds %d", a.Heads*a.HeadDim, MaxAttnWidth)
	}
	v.floatRange(q+".rope_theta", a.RopeTheta, 0, MaxRopeTheta)
}
