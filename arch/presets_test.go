package arch

import "testing"

// TestPresetParams checks the published parameter counts (lfm2.md §2.2 for
// LFM2; the Llama and Qwen3 totals are the HF checkpoints' tied counts).
func TestPresetParams(t *testing.T) {
	want := map[string]int64{
		"lfm2-350m":    354_483_968,
		"lfm2-700m":    742_489_344,
		"lfm2-1.2b":    1_170_340_608,
		"lfm2-2.6b":    2_569_272_320,
		"llama-3.2-1b": 1_235_814_400,
		"qwen3-0.6b":   596_049_920,
	}
	if len(PresetNames()) != len(want) {
		t.Fatalf("PresetNames() = %v, want the %d checked presets", PresetNames(), len(want))
	}
	for _, name := range PresetNames() {
		s, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", name, err)
			continue
		}
		if got := s.Params().Total; got != want[name] {
			t.Errorf("%s: Params().Total = %d, want %d", name, got, want[name])
		}
	}
	if _, err := Preset("nope"); err == nil {
		t.Error("Preset(nope) succeeded")
	}
}

func TestMixerCounts(t *testing.T) {
	s, _ := Preset("lfm2-2.6b")
	c := s.MixerCounts()
	if c[MixerConv] != 22 || c[MixerGQA] != 8 || len(c) != 2 || s.AttentionLayers() != 8 {
		t.Errorf("lfm2-2.6b counts %v, attention %d; want 22 conv / 8 gqa", c, s.AttentionLayers())
	}
}
