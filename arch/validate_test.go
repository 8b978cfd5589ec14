package arch

import (
	"errors"
	"strings"
	"testing"
)

const tinyJSON = `{
  "name": "tiny",
  "vocab": 300, "hidden": 64, "tied_embeddings": true, "norm_eps": 1e-5, "max_context": 256,
  "layers": [
    {"mixer": "conv", "conv": {"kernel": 3}, "ffn": 96},
    {"mixer": "gqa", "gqa": {"heads": 4, "kv_heads": 2, "head_dim": 16, "qk_norm": true, "rope_theta": 1e6}, "ffn": 96},
    {"mixer": "conv", "conv": {"kernel": 3}, "ffn": 96}
  ]
}`

func TestParse(t *testing.T) {
	s, err := ParseValid([]byte(tinyJSON))
	if err != nil {
		t.Fatal(err)
	}
	if s.Hash() != tinyLFM2().Hash() {
		t.Error("parsed tiny spec differs from tinyLFM2")
	}
	bad := map[string]string{
		"unknown field":       `{"vocab": 1, "hiden": 2}`,
		"unknown layer field": `{"layers": [{"mixer": "conv", "conv": {"kernel": 3, "taps": 2}}]}`,
		"trailing object":     tinyJSON + `{}`,
		"trailing garbage":    tinyJSON + `x`,
		"wrong type":          `{"vocab": "many"}`,
		"float int":           `{"vocab": 1.5}`,
		"overflow":            `{"vocab": 1e30}`,
		"not an object":       `[1, 2]`,
		"empty":               ``,
		"truncated":           tinyJSON[:40],
	}
	for name, in := range bad {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: Parse accepted %q", name, in)
		}
	}
	if _, err := Parse([]byte(tinyJSON + "\n  \n")); err != nil {
		t.Errorf("trailing whitespace rejected: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, n := range PresetNames() {
		s, _ := Preset(n)
		b, err := s.JSON()
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseValid(b)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if r.Hash() != s.Hash() || r.Name != s.Name {
			t.Errorf("%s: JSON round trip changed the spec", n)
		}
	}
}

// TestValidateTable checks that each broken spec gives an error naming the
// field, with the message we document.
func TestValidateTable(t *testing.T) {
	cases := []struct {
		name string
		mod  func(s *Spec)
		want string
	}{
		{"vocab zero", func(s *Spec) { s.Vocab = 0 }, "vocab: 0 must be positive"},
		{"vocab huge", func(s *Spec) { s.Vocab = MaxVocab + 1 }, "vocab: 2097153 is out of range [1, 2097152]"},
		{"hidden negative", func(s *Spec) { s.Hidden = -4 }, "hidden: -4 must be positive"},
		{"eps zero", func(s *Spec) { s.NormEps = 0 }, "norm_eps: 0 is out of range"},
		{"eps big", func(s *Spec) { s.NormEps = 1 }, "norm_eps: 1 is out of range"},
		{"context", func(s *Spec) { s.MaxContext = 0 }, "max_context: 0 must be positive"},
		{"no layers", func(s *Spec) { s.Layers = nil }, "layers: must have at least one layer"},
		{"too many layers", func(s *Spec) {
			for len(s.Layers) <= MaxLayers {
				s.Layers = append(s.Layers, s.Layers[0])
			}
		}, "layers: 513 layers exceed the maximum 512"},
		{"ffn negative", func(s *Spec) { s.Layers[2].FFN = -1 }, "layers[2].ffn: -1 is out of range [0, 262144]"},
		{"unknown mixer", func(s *Spec) { s.Layers[0].Mixer = "mamba" }, `layers[0].mixer: "mamba" is not one of conv, gqa, swa, linear_attn, ssm`},
		{"missing block", func(s *Spec) { s.Layers[0].Conv = nil }, `layers[0].conv: is required for mixer "conv"`},
		{"extra block", func(s *Spec) { s.Layers[0].SSM = &SSM{} }, `layers[0].ssm: is set but mixer is "conv"`},
		{"kernel", func(s *Spec) { s.Layers[0].Conv.Kernel = 0 }, "layers[0].conv.kernel: 0 must be positive"},
		{"kv heads divide", func(s *Spec) { s.Layers[1].GQA.Heads, s.Layers[1].GQA.KVHeads = 16, 6 }, "layers[1].gqa.kv_heads: 6 does not divide heads 16"},
		{"odd head dim", func(s *Spec) { s.Layers[1].GQA.HeadDim = 15 }, "layers[1].gqa.head_dim: 15 must be even"},
		{"attn width", func(s *Spec) { s.Layers[1].GQA.Heads, s.Layers[1].GQA.HeadDim = 1024, 128 }, "layers[1].gqa.heads: heads·head_dim = 131072 exceeds 65536"},
		{"rope", func(s *Spec) { s.Layers[1].GQA.RopeTheta = 0 }, "layers[1].gqa.rope_theta: 0 is out of range"},
		{"swa window", func(s *Spec) {
			s.Layers[1] = Layer{Mixer: MixerSWA, SWA: &SWA{Attention: *s.Layers[1].GQA, Window: 257}, FFN: 96}
		}, "layers[1].swa.window: 257 is out of range [1, 256]"},
		{"swa kv", func(s *Spec) {
			a := *s.Layers[1].GQA
			a.KVHeads = 3
			s.Layers[1] = Layer{Mixer: MixerSWA, SWA: &SWA{Attention: a, Window: 8}, FFN: 96}
		}, "layers[1].swa.kv_heads: 3 does not divide heads 4"},
		{"linear heads", func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerLinearAttn, LinearAttn: &LinearAttn{Heads: 0, HeadDim: 32}}
		}, "layers[0].linear_attn.heads: 0 must be positive"},
		{"ssm width", func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 3, HeadDim: 32, State: 16, Expand: 2, ConvKernel: 4}}
		}, "layers[0].ssm.heads: heads·head_dim = 3·32 = 96 must equal expand·hidden = 2·64 = 128"},
		{"ssm expand", func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 4, HeadDim: 32, State: 16, Expand: 9, ConvKernel: 4}}
		}, "layers[0].ssm.expand: 9 is out of range [1, 8]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := tinyLFM2()
			c.mod(s)
			err := s.Validate()
			if err == nil {
				t.Fatalf("Validate accepted the spec, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Error("error does not match ErrInvalidSpec")
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Error("error is not a *FieldError")
			}
		})
	}
	// Several problems are all reported.
	s := tinyLFM2()
	s.Vocab, s.Hidden = 0, 0
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "vocab") || !strings.Contains(err.Error(), "hidden") {
		t.Errorf("joined error = %v", err)
	}
	var nilSpec *Spec
	if nilSpec.Validate() == nil {
		t.Error("nil spec validated")
	}
}

func TestHashIndependentOfFormatting(t *testing.T) {
	a, err := Parse([]byte(tinyJSON))
	if err != nil {
		t.Fatal(err)
	}
	// Same network: other field order, no whitespace, other name, a float
	// written differently.
	reordered := `{"layers":[{"ffn":96,"conv":{"kernel":3},"mixer":"conv"},{"gqa":{"rope_theta":1000000,"qk_norm":true,"head_dim":16,"kv_heads":2,"heads":4},"ffn":96,"mixer":"gqa"},{"mixer":"conv","ffn":96,"conv":{"kernel":3}}],"max_context":256,"norm_eps":0.00001,"tied_embeddings":true,"hidden":64,"vocab":300,"name":"other"}`
	b, err := Parse([]byte(reordered))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Errorf("hash depends on formatting:\n%s\n%s", a.CanonicalString(), b.CanonicalString())
	}
	if len(a.Hash()) != 64 {
		t.Errorf("hash %q is not 64 hex digits", a.Hash())
	}
}

// TestHashChangesWithNetwork mutates every network-defining field once and
// expects a new hash each time (and all hashes distinct).
func TestHashChangesWithNetwork(t *testing.T) {
	swa := func(s *Spec) *SWA {
		s.Layers[1] = Layer{Mixer: MixerSWA, SWA: &SWA{Attention: *s.Layers[1].GQA, Window: 64}, FFN: 96}
		return s.Layers[1].SWA
	}
	muts := map[string]func(s *Spec){
		"vocab":       func(s *Spec) { s.Vocab++ },
		"hidden":      func(s *Spec) { s.Hidden = 128 },
		"tied":        func(s *Spec) { s.TiedEmbeddings = false },
		"eps":         func(s *Spec) { s.NormEps = 1e-6 },
		"context":     func(s *Spec) { s.MaxContext = 512 },
		"drop layer":  func(s *Spec) { s.Layers = s.Layers[:2] },
		"swap layers": func(s *Spec) { s.Layers[0], s.Layers[1] = s.Layers[1], s.Layers[0] },
		"ffn":         func(s *Spec) { s.Layers[0].FFN = 128 },
		"no ffn":      func(s *Spec) { s.Layers[0].FFN = 0 },
		"kernel":      func(s *Spec) { s.Layers[0].Conv.Kernel = 4 },
		"heads":       func(s *Spec) { s.Layers[1].GQA.Heads = 8 },
		"kv_heads":    func(s *Spec) { s.Layers[1].GQA.KVHeads = 4 },
		"head_dim":    func(s *Spec) { s.Layers[1].GQA.HeadDim = 32 },
		"qk_norm":     func(s *Spec) { s.Layers[1].GQA.QKNorm = false },
		"rope":        func(s *Spec) { s.Layers[1].GQA.RopeTheta = 1e4 },
		"gqa to swa":  func(s *Spec) { swa(s) },
		"window":      func(s *Spec) { swa(s).Window = 32 },
		"swa heads":   func(s *Spec) { swa(s).Heads = 8 },
		"linear_attn": func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerLinearAttn, LinearAttn: &LinearAttn{Heads: 2, HeadDim: 32}, FFN: 96}
		},
		"linear_attn hd": func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerLinearAttn, LinearAttn: &LinearAttn{Heads: 4, HeadDim: 16}, FFN: 96}
		},
		"ssm": func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 4, HeadDim: 32, State: 16, Expand: 2, ConvKernel: 4}, FFN: 96}
		},
		"ssm state": func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 4, HeadDim: 32, State: 32, Expand: 2, ConvKernel: 4}, FFN: 96}
		},
		"ssm kc": func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 4, HeadDim: 32, State: 16, Expand: 2, ConvKernel: 3}, FFN: 96}
		},
		"ssm heads": func(s *Spec) {
			s.Layers[0] = Layer{Mixer: MixerSSM, SSM: &SSM{Heads: 2, HeadDim: 64, State: 16, Expand: 2, ConvKernel: 4}, FFN: 96}
		},
	}
	base := tinyLFM2().Hash()
	seen := map[string]string{base: "base"}
	for name, m := range muts {
		s := tinyLFM2()
		m(s)
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: mutation made an invalid spec: %v", name, err)
		}
		h := s.Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("%s: hash equals that of %s", name, prev)
		}
		seen[h] = name
	}
	s := tinyLFM2()
	s.Name = "renamed"
	if s.Hash() != base {
		t.Error("Name changed the hash")
	}
}

// FuzzParseValidate feeds arbitrary bytes to Parse and Validate and, for
// valid specs, runs every accounting function and the exports that do not
// write weights, checking invariants. It must never panic.
func FuzzParseValidate(f *testing.F) {
	f.Add([]byte(tinyJSON))
	for _, n := range PresetNames() {
		s, _ := Preset(n)
		b, _ := s.JSON()
		f.Add(b)
	}
	for _, c := range accCases() {
		b, _ := c.spec.JSON()
		f.Add(b)
	}
	f.Add([]byte(`{"vocab":1,"hidden":1,"norm_eps":1e-5,"max_context":1,"layers":[{"mixer":"swa","swa":{"heads":1,"kv_heads":1,"head_dim":2,"rope_theta":1,"window":1},"ffn":0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("validation error %v does not match ErrInvalidSpec", err)
			}
			return
		}
		pc := s.Params()
		if pc.Total <= 0 || pc.NonEmbedding < 0 || pc.NonEmbedding > pc.Total {
			t.Fatalf("params %+v", pc)
		}
		for _, p := range Precisions {
			if s.WeightBytes(p) <= 0 {
				t.Fatalf("WeightBytes(%s) <= 0", p)
			}
		}
		if s.WeightBytes(Q4_0) > s.WeightBytes(Q8_0) || s.WeightBytes(Q8_0) > s.WeightBytes(F32) {
			t.Fatal("weight bytes not ordered q4_0 <= q8_0 <= f32")
		}
		for _, L := range []int{0, 1, s.MaxContext} {
			if s.FLOPsPrefill(L) < 0 || s.FLOPsDecode(L) <= 0 {
				t.Fatalf("negative FLOPs at %d", L)
			}
		}
		if s.FLOPsPrefill(1) > s.FLOPsPrefill(2) {
			t.Fatal("prefill FLOPs decrease with L")
		}
		if s.KVBytes(s.MaxContext, true) < s.KVBytes(s.MaxContext, false) || s.StateBytes() < 0 {
			t.Fatal("kv/state")
		}
		m := s.MemoryEstimate(Q4_0, s.MaxContext, false, s.MaxContext)
		if m.Total < m.Weights {
			t.Fatalf("memory %+v", m)
		}
		b, err := s.JSON()
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseValid(b)
		if err != nil {
			t.Fatalf("re-parse of a valid spec: %v", err)
		}
		if r.Hash() != s.Hash() {
			t.Fatal("hash changed by a JSON round trip")
		}
		if err := Exportable(s, FormatHF); err == nil {
			if _, err := s.HFConfig(); err != nil {
				t.Fatalf("Exportable(hf) accepted but HFConfig failed: %v", err)
			}
		} else if !errors.Is(err, ErrNotExportable) {
			t.Fatalf("Exportable(hf) of a valid spec: %v", err)
		}
		if err := Exportable(s, FormatGGUF); err != nil && !errors.Is(err, ErrNotExportable) {
			t.Fatalf("Exportable(gguf) of a valid spec: %v", err)
		}
	})
}
