package arch

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// hashVersion prefixes the canonical encoding; bump it only if the encoding
// of an existing field must change (that changes every hash).
const hashVersion = "hilsearch.arch.v1"

// Hash is a canonical identity of the network: the lower-case hex SHA-256
// of CanonicalString. Equal networks hash equal whatever their JSON
// formatting, field order or Name; any change to a network-defining field
// changes it. The spec should be valid (Validate) for the hash to be
// meaningful.
func (s *Spec) Hash() string {
	sum := sha256.Sum256([]byte(s.CanonicalString()))
	return hex.EncodeToString(sum[:])
}

// CanonicalString is the text Hash digests: one "key=value" line per
// network-defining field in a fixed order. Name is excluded; only the
// parameter block of each layer's own mixer is encoded; floats use the
// shortest exact decimal form with -0 written as 0.
func (s *Spec) CanonicalString() string {
	var b strings.Builder
	kv := func(k, v string) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	i := func(x int) string { return strconv.Itoa(x) }
	f := func(x float64) string {
		if x == 0 {
			x = 0 // normalises -0
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	t := strconv.FormatBool
	b.WriteString(hashVersion + "\n")
	kv("vocab", i(s.Vocab))
	kv("hidden", i(s.Hidden))
	kv("tied_embeddings", t(s.TiedEmbeddings))
	kv("norm_eps", f(s.NormEps))
	kv("max_context", i(s.MaxContext))
	kv("layers", i(len(s.Layers)))
	attn := func(p string, a *Attention) {
		kv(p+"heads", i(a.Heads))
		kv(p+"kv_heads", i(a.KVHeads))
		kv(p+"head_dim", i(a.HeadDim))
		kv(p+"qk_norm", t(a.QKNorm))
		kv(p+"rope_theta", f(a.RopeTheta))
	}
	for n, l := range s.Layers {
		p := "layers[" + i(n) + "]."
		kv(p+"mixer", strconv.Quote(string(l.Mixer)))
		switch l.Mixer {
		case MixerConv:
			if l.Conv != nil {
				kv(p+"conv.kernel", i(l.Conv.Kernel))
			}
		case MixerGQA:
			if l.GQA != nil {
				attn(p+"gqa.", l.GQA)
			}
		case MixerSWA:
			if l.SWA != nil {
				attn(p+"swa.", &l.SWA.Attention)
				kv(p+"swa.window", i(l.SWA.Window))
			}
		case MixerLinearAttn:
			if l.LinearAttn != nil {
				kv(p+"linear_attn.heads", i(l.LinearAttn.Heads))
				kv(p+"linear_attn.head_dim", i(l.LinearAttn.HeadDim))
			}
		case MixerSSM:
			if m := l.SSM; m != nil {
				kv(p+"ssm.heads", i(m.Heads))
				kv(p+"ssm.head_dim", i(m.HeadDim))
				kv(p+"ssm.state", i(m.State))
				kv(p+"ssm.expand", i(m.Expand))
				kv(p+"ssm.conv_kernel", i(m.ConvKernel))
			}
		}
		kv(p+"ffn", i(l.FFN))
	}
	return b.String()
}
