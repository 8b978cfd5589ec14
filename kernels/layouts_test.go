package kernels

import (
	"embed"
	"math"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// layoutFS holds the benchmark layouts (embedded, so the test binary runs
// anywhere, e.g. under qemu from another directory).
//
//go:embed testdata/layouts/*.json
var layoutFS embed.FS

// TestBenchmarkLayouts checks the layouts of the depth benchmarks
// (testdata/layouts, docs/benchmarks.md): each is a valid spec within 2%
// of lfm2-350m's parameter count, with conv and GQA layers only, and
// exports to a llama.cpp family (lfm2, or qwen3 when every layer is
// attention); together they run from 2 attention layers to all.
func TestBenchmarkLayouts(t *testing.T) {
	files, err := layoutFS.ReadDir("testdata/layouts")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("%d layouts, want at least 6", len(files))
	}
	base, err := arch.Preset("lfm2-350m")
	if err != nil {
		t.Fatal(err)
	}
	minAttn, allAttn := math.MaxInt, false
	for _, de := range files {
		f := de.Name()
		data, err := layoutFS.ReadFile("testdata/layouts/" + f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := arch.ParseValid(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if r := float64(s.Params().Total)/float64(base.Params().Total) - 1; math.Abs(r) > 0.02 {
			t.Errorf("%s: %d parameters, %.1f%% from lfm2-350m", f, s.Params().Total, 100*r)
		}
		if len(s.Layers) < 12 || len(s.Layers) > 24 {
			t.Errorf("%s: %d layers, want 12..24", f, len(s.Layers))
		}
		attn := 0
		for _, l := range s.Layers {
			switch l.Mixer {
			case arch.MixerGQA:
				attn++
			case arch.MixerConv:
			default:
				t.Errorf("%s: mixer %s does not export to llama.cpp", f, l.Mixer)
			}
		}
		minAttn = min(minAttn, attn)
		allAttn = allAttn || attn == len(s.Layers)
		if _, err := s.GGUFFamily(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if minAttn > 2 || !allAttn {
		t.Errorf("layouts span %d.. attention layers, want 2 to all", minAttn)
	}
}
