package search

import (
	"errors"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/hilsearch/hilsearch/arch"
)

func TestExportValidated(t *testing.T) {
	s := BenchSpec(AlgoRandom, 1)
	s.Export = "onnx"
	var ve *ValidationError
	if err := s.Validate(); !errors.As(err, &ve) || !strings.Contains(err.Error(), `export: must be "hf" or "gguf"`) {
		t.Fatalf("Validate with export onnx = %v", err)
	}
	for _, f := range arch.Formats {
		s.Export = f
		if err := s.Validate(); err != nil {
			t.Fatalf("export %s: %v", f, err)
		}
	}
}

// TestExportRejectsAtProposal runs a random search over the lfm2-tiny
// space, about a third of whose candidates the exports can express (the
// others have attention heads·head_dim ≠ hidden), requiring HF and then
// GGUF: every candidate handed out exports, the others are counted as
// rejected.
func TestExportRejectsAtProposal(t *testing.T) {
	for _, f := range arch.Formats {
		t.Run(string(f), func(t *testing.T) {
			s := BenchSpec(AlgoRandom, 3)
			sp, err := SpacePreset(PresetLFM2Tiny)
			if err != nil {
				t.Fatal(err)
			}
			s.Space = sp
			s.Export = f
			s.ApplyDefaults()
			o := newOpt(t, s, goptuna.NewInMemoryStorage())
			for _, g := range run(t, o, 12, 2) {
				a, err := s.Space.Decode(g)
				if err != nil {
					t.Fatal(err)
				}
				if err := arch.Exportable(&a, f); err != nil {
					t.Fatalf("candidate handed out that %s cannot express: %v", f, err)
				}
			}
			rej, err := o.Rejections()
			if err != nil {
				t.Fatal(err)
			}
			if rej[RejectNotExportable] == 0 {
				t.Fatalf("rejections %v: none for %s, but most lfm2-tiny candidates cannot be exported", rej, f)
			}
		})
	}
}

func TestExportShares(t *testing.T) {
	sp, err := SpacePreset(PresetHybridZoo)
	if err != nil {
		t.Fatal(err)
	}
	shares := sp.ExportShares()
	if len(shares) != len(arch.Formats) {
		t.Fatalf("%d shares, want one per format", len(shares))
	}
	for _, x := range shares {
		if x.Admissible == 0 || x.Share < 0 || x.Share >= 1 || x.Reason == "" {
			t.Fatalf("hybrid-zoo %s: %+v, want a share below 1 of some admissible candidates, with a reason", x.Format, x)
		}
		if strings.Contains(x.Reason, "layers[0]") || strings.Contains(x.Reason, "layers[1]") {
			t.Fatalf("reason keeps a layer index: %q", x.Reason)
		}
	}
	// A conv-only space cannot be HF-exported at all (transformers' LFM2
	// needs an attention layer), and the estimate is repeatable.
	conv := sp
	conv.Mixers = MixerSpace{Conv: &ConvSpace{Kernels: []int{3}}}
	conv.AttentionLayers = nil
	a, b := conv.ExportShares(), conv.ExportShares()
	if a[0].Format != arch.FormatHF || a[0].Share != 0 || a[0].Admissible == 0 {
		t.Fatalf("conv-only space, hf: %+v, want share 0", a[0])
	}
	if a[1] != b[1] || a[0] != b[0] {
		t.Fatalf("two estimates differ: %+v %+v", a, b)
	}
}

// TestMaxContextDefault: a space without max_context is built for the
// family's context (what exports declare), not the workload's.
func TestMaxContextDefault(t *testing.T) {
	s := BenchSpec(AlgoRandom, 1) // the bench space preset sets max_context
	s.Space.MaxContext = 0
	s.ApplyDefaults()
	if s.Space.MaxContext != DefaultMaxContext {
		t.Fatalf("max_context = %d, want %d for a workload of %d tokens", s.Space.MaxContext, DefaultMaxContext, s.Workload.MaxContext())
	}
	s.Space.MaxContext = 0
	s.Workload.PromptLengths = []int{200000}
	s.ApplyDefaults()
	if want := 200000 + s.Workload.DecodeTokens; s.Space.MaxContext != want {
		t.Fatalf("max_context = %d, want %d for a 200,000-token prompt", s.Space.MaxContext, want)
	}
	a, err := s.Space.Decode(make(Genome, len(s.Space.Genes())))
	if err != nil {
		t.Fatal(err)
	}
	if a.MaxContext != s.Space.MaxContext {
		t.Fatalf("candidate max_context %d, space %d", a.MaxContext, s.Space.MaxContext)
	}
}

// TestExportUnreachableRefused: requiring an export no candidate of the
// space can meet is a validation error, not a search that rejects
// everything.
func TestExportUnreachableRefused(t *testing.T) {
	s := BenchSpec(AlgoRandom, 1)
	sp, err := SpacePreset(PresetHybridZoo)
	if err != nil {
		t.Fatal(err)
	}
	s.Space = sp
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatalf("hybrid-zoo without an export requirement: %v", err)
	}
	s.Export = arch.FormatGGUF
	var ve *ValidationError
	if err := s.Validate(); !errors.As(err, &ve) || !strings.Contains(err.Error(), "export: none of") || !strings.Contains(err.Error(), "linear_attn") {
		t.Fatalf("hybrid-zoo requiring GGUF: %v", err)
	}
}
