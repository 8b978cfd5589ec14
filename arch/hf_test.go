package arch

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// hfEffectiveFFN is transformers' LFM2 FFN-width rule (Lfm2MLP, lfm2.md
// §1.4): with block_auto_adjust_ff_dim, F = int(2·ff/3), then with a
// multiplier F = int(mult·F) rounded up to a multiple of multiple_of.
func hfEffectiveFFN(t *testing.T, c map[string]any) int {
	ff := int(c["intermediate_size"].(float64))
	if auto, _ := c["block_auto_adjust_ff_dim"].(bool); !auto {
		return ff
	}
	F := int(2 * float64(ff) / 3)
	if m, ok := c["block_ffn_dim_multiplier"].(float64); ok {
		mult := int(c["block_multiple_of"].(float64))
		F = int(m * float64(F))
		F = mult * int(math.Ceil(float64(F)/float64(mult)))
	}
	return F
}

// TestHFRuleOnReleasedConfigs checks hfEffectiveFFN itself on the released
// (intermediate_size, auto-adjust) pairs of lfm2.md §2.
func TestHFRuleOnReleasedConfigs(t *testing.T) {
	for _, c := range []struct {
		ff   float64
		auto bool
		want int
	}{{6656, true, 4608}, {10240, true, 6912}, {12288, true, 8192}, {10752, false, 10752}} {
		cfg := map[string]any{"intermediate_size": c.ff, "block_auto_adjust_ff_dim": c.auto,
			"block_ffn_dim_multiplier": 1.0, "block_multiple_of": 256.0}
		if got := hfEffectiveFFN(t, cfg); got != c.want {
			t.Errorf("rule(%v, %v) = %d, want %d", c.ff, c.auto, got, c.want)
		}
	}
}

// TestHFConfigLFM2Released compares our HF export of each LFM2 preset with
// the released config.json values (lfm2.md §2, LiquidAI/LFM2-* configs).
func TestHFConfigLFM2Released(t *testing.T) {
	released := []struct {
		preset                string
		hidden, layers, heads int
		attn                  []int
		ffn                   int
	}{
		{"lfm2-350m", 1024, 16, 16, []int{2, 5, 8, 10, 12, 14}, 4608},
		{"lfm2-700m", 1536, 16, 24, []int{2, 5, 8, 10, 12, 14}, 6912},
		{"lfm2-1.2b", 2048, 16, 32, []int{2, 5, 8, 10, 12, 14}, 8192},
		{"lfm2-2.6b", 2048, 30, 32, []int{2, 5, 9, 13, 17, 21, 24, 27}, 10752},
	}
	for _, r := range released {
		t.Run(r.preset, func(t *testing.T) {
			s, _ := Preset(r.preset)
			b, err := s.HFConfig()
			if err != nil {
				t.Fatal(err)
			}
			var c map[string]any
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			num := func(k string, want int) {
				t.Helper()
				if got, ok := c[k].(float64); !ok || int(got) != want {
					t.Errorf("%s = %v, want %d", k, c[k], want)
				}
			}
			if c["model_type"] != "lfm2" {
				t.Errorf("model_type = %v", c["model_type"])
			}
			num("hidden_size", r.hidden)
			num("num_hidden_layers", r.layers)
			num("num_attention_heads", r.heads)
			num("num_key_value_heads", 8)
			num("conv_L_cache", 3)
			num("vocab_size", 65536)
			num("max_position_embeddings", 128000)
			if c["tie_word_embeddings"] != true {
				t.Errorf("tie_word_embeddings = %v", c["tie_word_embeddings"])
			}
			if got := c["rope_theta"]; got != 1e6 {
				t.Errorf("rope_theta = %v", got)
			}
			if got := c["norm_eps"]; got != 1e-5 {
				t.Errorf("norm_eps = %v", got)
			}
			types, _ := c["layer_types"].([]any)
			if len(types) != r.layers {
				t.Fatalf("layer_types has %d entries", len(types))
			}
			attn := map[int]bool{}
			for _, i := range r.attn {
				attn[i] = true
			}
			for i, ty := range types {
				want := "conv"
				if attn[i] {
					want = "full_attention"
				}
				if ty != want {
					t.Errorf("layer_types[%d] = %v, want %s", i, ty, want)
				}
			}
			if got := hfEffectiveFFN(t, c); got != r.ffn {
				t.Errorf("HF rule gives FFN %d, want %d", got, r.ffn)
			}
		})
	}
}

// TestHFConfigGolden compares the export of every preset and of every
// HF-exportable spec in testdata/export with testdata/hf/<name>.json
// (go test ./arch -run HFConfigGolden -update rewrites them).
func TestHFConfigGolden(t *testing.T) {
	specs := map[string]*Spec{}
	for _, n := range PresetNames() {
		specs[n], _ = Preset(n)
	}
	for n, s := range exportSpecs(t) {
		if wantFamilies[n].hf != "" {
			specs[n] = s
		}
	}
	for n, s := range specs {
		got, err := s.HFConfig()
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		path := filepath.Join("testdata", "hf", n+".json")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./arch -run HFConfigGolden -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: HF config differs from %s (rerun with -update if intended):\n%s", n, path, got)
		}
	}
}

func TestHFConfigBaselines(t *testing.T) {
	for _, c := range []struct {
		preset, typ string
		want        map[string]float64
	}{
		{"llama-3.2-1b", "llama", map[string]float64{"vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
			"num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "rope_theta": 500000, "rms_norm_eps": 1e-5}},
		{"qwen3-0.6b", "qwen3", map[string]float64{"vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
			"num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rope_theta": 1e6, "rms_norm_eps": 1e-6}},
	} {
		s, _ := Preset(c.preset)
		b, err := s.HFConfig()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if m["model_type"] != c.typ || m["tie_word_embeddings"] != true {
			t.Errorf("%s: model_type %v tie %v", c.preset, m["model_type"], m["tie_word_embeddings"])
		}
		for k, v := range c.want {
			if m[k] != v {
				t.Errorf("%s: %s = %v, want %v", c.preset, k, m[k], v)
			}
		}
	}
}
