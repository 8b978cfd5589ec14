package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/kernels"
)

func writeTinySpec(t *testing.T) string {
	t.Helper()
	s := arch.Spec{Name: "tiny-hybrid", Vocab: 300, Hidden: 64, TiedEmbeddings: true, NormEps: 1e-5, MaxContext: 256,
		Layers: []arch.Layer{
			{Mixer: arch.MixerConv, Conv: &arch.Conv{Kernel: 3}, FFN: 128},
			{Mixer: arch.MixerGQA, GQA: &arch.Attention{Heads: 4, KVHeads: 2, HeadDim: 16, QKNorm: true, RopeTheta: 1e6}, FFN: 128},
		}}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tiny.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBenchJSON(t *testing.T) {
	spec := writeTinySpec(t)
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--arch", spec, "--precision", "q8_0", "-p", "8,16", "-n", "4", "-d", "0,5", "-t", "2", "-r", "3", "--json"},
		IO{Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out.String())
	}
	if len(rows) != 6 { // (pp8, pp16, tg4) × depths 0 and 5
		t.Fatalf("got %d results, want 6", len(rows))
	}
	fields := []string{"model_type", "model_size", "model_n_params", "n_threads", "n_prompt", "n_gen", "n_depth",
		"avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts", "precision", "kernel_variant", "peak_rss_bytes"}
	for i, r := range rows {
		for _, f := range fields {
			if _, ok := r[f]; !ok {
				t.Fatalf("result %d lacks %q", i, f)
			}
		}
		if got := len(r["samples_ns"].([]any)); got != 3 {
			t.Errorf("result %d has %d samples, want 3", i, got)
		}
		if r["precision"] != "q8_0" || r["kernel_variant"] == "" || r["n_threads"].(float64) != 2 {
			t.Errorf("result %d: %v", i, r)
		}
		if r["avg_ts"].(float64) <= 0 || r["peak_rss_bytes"].(float64) <= 0 {
			t.Errorf("result %d: non-positive avg_ts or peak_rss_bytes: %v", i, r)
		}
		// avg_ts is the mean of the per-repetition throughputs
		var sum float64
		for _, v := range r["samples_ts"].([]any) {
			sum += v.(float64)
		}
		if math.Abs(sum/3-r["avg_ts"].(float64)) > 1e-6*sum {
			t.Errorf("result %d: avg_ts %v is not the mean of samples_ts", i, r["avg_ts"])
		}
	}
	if rows[0]["n_prompt"].(float64) != 8 || rows[2]["n_gen"].(float64) != 4 || rows[3]["n_depth"].(float64) != 5 {
		t.Errorf("unexpected test order: %v", rows)
	}
}

func TestBenchTable(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--arch", writeTinySpec(t), "--precision", "f32", "-p", "8", "-n", "3", "-t", "1", "-r", "1"},
		IO{Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"model", "t/s", "pp8", "tg3", "tiny-hybrid f32", "CPU (" + kernels.Variant() + ")"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(errb.String(), "conv") {
		t.Errorf("profile printed without --profile: %s", errb.String())
	}
}

func TestBenchProfile(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--arch", writeTinySpec(t), "--precision", "q4_0", "-p", "8", "-n", "2", "-t", "2", "-r", "1", "--profile", "--json"},
		IO{Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []struct {
		ProfileNs map[string]int64 `json:"profile_ns"`
	}
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		for _, k := range []string{"conv", "gqa", "ffn", "head"} {
			if r.ProfileNs[k] <= 0 {
				t.Errorf("result %d: profile %v lacks a positive %q", i, r.ProfileNs, k)
			}
		}
	}
}

func TestBenchBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--arch", "lfm2-350m", "--precision", "q5_k"},
		{"bench", "--arch", "no-such-preset-or-file"},
		{"bench", "--arch", "lfm2-350m", "-t", "0"},
		{"bench", "--arch", "lfm2-350m", "-r", "0"},
		{"bench", "--arch", "lfm2-350m", "-p", "x"},
		{"bench", "--arch", "lfm2-350m", "-p", "0", "-n", "0"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, IO{Stdout: &out, Stderr: &errb}); code == 0 {
			t.Errorf("%v: exit 0, want an error", args)
		}
	}
}

func TestMeanStddev(t *testing.T) {
	m, s := meanStddev([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if m != 5 || math.Abs(s-2.138089935) > 1e-6 {
		t.Fatalf("meanStddev = %v, %v", m, s)
	}
	if _, s := meanStddev([]float64{3}); s != 0 {
		t.Fatalf("stddev of one value = %v", s)
	}
}
