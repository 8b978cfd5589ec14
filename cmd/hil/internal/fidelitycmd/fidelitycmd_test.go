package fidelitycmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

func TestLoadSpecs(t *testing.T) {
	dir := t.TempDir()
	spec := `{"name":"x","vocab":512,"hidden":64,"tied_embeddings":true,"norm_eps":1e-5,"max_context":64,
	 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":128}]}`
	for _, n := range []string{"b.json", "a.json"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := loadSpecs("lfm2-350m, " + dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Preset != "lfm2-350m" || got[1].Name != "a" || got[2].Name != "b" || len(got[2].Spec) == 0 {
		t.Fatalf("%+v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "c.json"), []byte(`{"vocab":0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "nope", dir} {
		if _, err := loadSpecs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestPrint(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	rep := api.FidelityReport{Done: true,
		Rows: []api.FidelityRow{{Name: "a", Params: 354483968, Errors: map[string]string{"llama.cpp": "boom"},
			Figures: []api.FidelityFigure{{Metric: "pp512", Native: f(300), LlamaCpp: f(200), Ratio: f(1.5)}}}},
		Metrics: []api.FidelityMetric{{Metric: "pp512", N: 1, RatioMedian: f(1.5), RatioMin: f(1.5), RatioMax: f(1.5)}}}
	var b bytes.Buffer
	if err := Print(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pp512 native", "354.5", "300.00", "200.00", "1.500", "failed: a on llama.cpp: boom"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
