package search

import (
	"math"
	"math/rand/v2"
	"testing"
)

func mustPreset(t testing.TB, name string) Space {
	t.Helper()
	sp, err := SpacePreset(name)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// genomeFor builds a genome by gene name; unnamed genes take choice 0.
func genomeFor(t *testing.T, sp *Space, choose map[string]string) Genome {
	t.Helper()
	genes := sp.Genes()
	g := make(Genome, len(genes))
	for i, gene := range genes {
		want, ok := choose[gene.Name]
		if !ok {
			continue
		}
		found := false
		for j, c := range gene.Choices {
			if c == want {
				g[i], found = j, true
			}
		}
		if !found {
			t.Fatalf("gene %s has no choice %q (choices %v)", gene.Name, want, gene.Choices)
		}
	}
	return g
}

func TestDecodeLFM2_350M(t *testing.T) {
	sp := mustPreset(t, PresetLFM2Like)
	choose := map[string]string{"hidden": "1024", "ffn": "x4.5", "conv.kernel": "3", "gqa.shape": "16/8/64"}
	for i := 0; i < 16; i++ {
		choose[geneName(i)] = "conv"
	}
	for _, i := range []int{2, 5, 8, 10, 12, 14} {
		choose[geneName(i)] = "gqa"
	}
	s, err := sp.Decode(genomeFor(t, &sp, choose))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Layers[0].FFN != 4608 || AttentionLayers(&s) != 6 || s.Layers[2].GQA.KVHeads != 8 {
		t.Fatalf("decoded %+v", s)
	}
	// The published LFM2-350M parameter count.
	if got := paramCount(&s); got != 354_483_968 {
		t.Errorf("params = %d, want 354483968", got)
	}
	if p, reason := sp.Admit(&s); reason != "" {
		t.Errorf("LFM2-350M rejected from lfm2-like: %s (%d params)", reason, p)
	}
}

func geneName(i int) string {
	return "layer." + string(rune('0'+i/10)) + string(rune('0'+i%10)) + ".mixer"
}

func randomGenome(sp *Space, r *rand.Rand) Genome {
	genes := sp.Genes()
	g := make(Genome, len(genes))
	for i, gene := range genes {
		g[i] = r.IntN(len(gene.Choices))
	}
	return g
}

func TestDecodeRandomGenomesValid(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range PresetNames() {
		sp := mustPreset(t, name)
		lo, hi, err := sp.ParamRange()
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 300; n++ {
			g := randomGenome(&sp, r)
			s, err := sp.Decode(g)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("%s: decoded spec invalid: %v", name, err)
			}
			p, reason := sp.Admit(&s)
			if reason == RejectAttentionLayers {
				continue
			}
			if p < lo || p > hi {
				t.Fatalf("%s: %d params outside ParamRange [%d, %d]", name, p, lo, hi)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	sp := mustPreset(t, PresetLFM2Like)
	if _, err := sp.Decode(Genome{0}); err == nil {
		t.Error("short genome accepted")
	}
	g := make(Genome, len(sp.Genes()))
	g[1] = 99
	if _, err := sp.Decode(g); err == nil {
		t.Error("out-of-range choice accepted")
	}
}

// TestParamRangeBruteForce enumerates every genome of small spaces and
// compares the extremes with ParamRange.
func TestParamRangeBruteForce(t *testing.T) {
	spaces := []Space{
		{
			Vocab: 1000, NormEps: 1e-5, MaxContext: 4096, Layers: IntRange{2, 3}, Hidden: []int{64, 128},
			Mixers: MixerSpace{
				Conv: &ConvSpace{Kernels: []int{2, 4}},
				GQA:  &AttentionSpace{Heads: []int{8}, KVHeads: []int{2, 4}, HeadDims: []int{16}, RopeTheta: 1e4},
				SSM:  &SSMSpace{HeadDims: []int{32}, States: []int{8, 16}, Expands: []int{1, 2}, ConvKernels: []int{4}},
			},
			FFN:             FFNSpace{Widths: []int{0, 256}, PerLayer: true},
			Params:          Int64Range{Max: 1 << 40},
			AttentionLayers: &IntRange{Min: 1, Max: 2},
		},
		{
			Vocab: 500, TiedEmbeddings: true, NormEps: 1e-5, MaxContext: 4096, Layers: IntRange{1, 3}, Hidden: []int{64},
			Mixers: MixerSpace{
				SWA:        &SWASpace{AttentionSpace: AttentionSpace{Heads: []int{4}, KVHeads: []int{1, 2}, HeadDims: []int{16, 32}, QKNorm: true, RopeTheta: 1e4}, Windows: []int{64}},
				LinearAttn: &LinearAttnSpace{Heads: []int{2, 4}, HeadDims: []int{16}},
			},
			FFN:    FFNSpace{Ratios: []float64{1, 2.5}, MultipleOf: 32},
			Params: Int64Range{Max: 1 << 40},
		},
	}
	for si, sp := range spaces {
		genes := sp.Genes()
		bLo, bHi := int64(math.MaxInt64), int64(math.MinInt64)
		g := make(Genome, len(genes))
		count := 0
		for {
			s, err := sp.Decode(g)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if p, reason := sp.Admit(&s); reason == "" {
				bLo, bHi = min(bLo, p), max(bHi, p)
			}
			count++
			// next genome (odometer)
			i := 0
			for ; i < len(g); i++ {
				g[i]++
				if g[i] < len(genes[i].Choices) {
					break
				}
				g[i] = 0
			}
			if i == len(g) {
				break
			}
		}
		lo, hi, err := sp.ParamRange()
		if err != nil {
			t.Fatal(err)
		}
		if lo != bLo || hi != bHi {
			t.Errorf("space %d (%d genomes): ParamRange = [%d, %d], brute force [%d, %d]", si, count, lo, hi, bLo, bHi)
		}
	}
}

func TestGenesFixedLength(t *testing.T) {
	sp := mustPreset(t, PresetHybridZoo)
	genes := sp.Genes()
	// 2 globals + ffn absent (per layer) + conv 1 + gqa 1 + swa 2 + linear 1 + ssm 4 + 20 slots × 2.
	if want := 2 + 1 + 1 + 2 + 1 + 4 + 20*2; len(genes) != want {
		t.Errorf("%d genes, want %d", len(genes), want)
	}
	if ss := sp.SearchSpace(); len(ss) != len(genes) {
		t.Errorf("search space has %d entries", len(ss))
	}
}
