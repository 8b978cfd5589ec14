package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

func writeSpec(t *testing.T, s arch.Spec) string {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), s.Name+".json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tinyConvSpec is a second small spec (conv only, untied head).
func tinyConvSpec() arch.Spec {
	return arch.Spec{Name: "tiny-conv", Vocab: 200, Hidden: 32, TiedEmbeddings: false, NormEps: 1e-5, MaxContext: 128,
		Layers: []arch.Layer{{Mixer: arch.MixerConv, Conv: &arch.Conv{Kernel: 3}, FFN: 64}}}
}

func TestParseBenchLists(t *testing.T) {
	c, err := parseBenchArgs([]string{"--arch", "a, b", "--arch", "c", "--precision", "q4_0,f32", "--precision", "q8_0", "--rounds", "3", "--roofline"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Archs, []string{"a", "b", "c"}) || !slices.Equal(c.Precisions, []arch.Precision{arch.Q4_0, arch.F32, arch.Q8_0}) ||
		c.Rounds != 3 || !c.Roofline {
		t.Fatalf("parsed %+v", c)
	}
	c, err = parseBenchArgs([]string{"--arch", "x"}, io.Discard)
	if err != nil || !slices.Equal(c.Precisions, []arch.Precision{arch.Q4_0}) || c.Rounds != 1 || c.Roofline {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, args := range [][]string{
		{"--arch", "a,,b"},
		{"--arch", "x", "--precision", "q4_0,q5_k"},
		{"--arch", "x", "--precision", ""},
		{"--arch", "x", "--rounds", "0"},
		{"--arch", "x", "--roofline-buffer", "-1"},
	} {
		if _, err := parseBenchArgs(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestMedianMinMax(t *testing.T) {
	for _, c := range []struct {
		x           []float64
		med, lo, hi float64
	}{
		{[]float64{7}, 7, 7, 7},
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 10, 2}, 3, 1, 10},
	} {
		if med, lo, hi := medianMinMax(c.x); med != c.med || lo != c.lo || hi != c.hi {
			t.Errorf("medianMinMax(%v) = %v, %v, %v; want %v, %v, %v", c.x, med, lo, hi, c.med, c.lo, c.hi)
		}
	}
}

type roundJSON struct {
	Round     int       `json:"round"`
	Seq       int       `json:"seq"`
	AvgTs     float64   `json:"avg_ts"`
	SamplesTs []float64 `json:"samples_ts"`
}

type resultJSON struct {
	ModelType            string      `json:"model_type"`
	NPrompt              int         `json:"n_prompt"`
	NGen                 int         `json:"n_gen"`
	NDepth               int         `json:"n_depth"`
	AvgTs                float64     `json:"avg_ts"`
	SamplesTs            []float64   `json:"samples_ts"`
	MedianTs             float64     `json:"median_ts"`
	MinTs                float64     `json:"min_ts"`
	MaxTs                float64     `json:"max_ts"`
	Rounds               []roundJSON `json:"rounds"`
	KernelVariant        string      `json:"kernel_variant"`
	DecodeBytesPerToken  float64     `json:"decode_bytes_per_token"`
	DecodeBytesPerSec    float64     `json:"decode_bytes_per_s"`
	DecodeBWFraction     float64     `json:"decode_bw_fraction"`
	PrefillFLOPsPerToken float64     `json:"prefill_flops_per_token"`
	PrefillFLOPsPerSec   float64     `json:"prefill_flops_per_s"`
	PrefillFMAFraction   float64     `json:"prefill_fma_fraction"`
	Machine              *struct {
		BandwidthBytesPerSec float64   `json:"bandwidth_bytes_per_s"`
		BandwidthRounds      []float64 `json:"bandwidth_rounds"`
		BandwidthBufferBytes int64     `json:"bandwidth_buffer_bytes"`
		FMAFLOPsPerSec       float64   `json:"fma_flops_per_s"`
		FMARounds            []float64 `json:"fma_rounds"`
		Variant              string    `json:"variant"`
	} `json:"machine"`
}

func runBenchJSON(t *testing.T, args ...string) []resultJSON {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(context.Background(), append([]string{"bench"}, args...), IO{Stdout: &out, Stderr: &errb}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []resultJSON
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out.String())
	}
	return rows
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

func TestBenchRoundsInterleave(t *testing.T) {
	hybrid, conv := writeTinySpec(t), writeSpec(t, tinyConvSpec())
	const rounds, reps = 3, 2
	rows := runBenchJSON(t, "--arch", hybrid+","+conv, "--precision", "q8_0,f32", "-p", "8", "-n", "3", "-t", "1",
		"-r", strconv.Itoa(reps), "--rounds", strconv.Itoa(rounds), "--json")
	wantTypes := []string{"tiny-hybrid q8_0", "tiny-hybrid f32", "tiny-conv q8_0", "tiny-conv f32"}
	const tests = 2 // pp8, tg3
	if len(rows) != len(wantTypes)*tests {
		t.Fatalf("got %d results, want %d", len(rows), len(wantTypes)*tests)
	}
	perRound := len(rows)
	for i, r := range rows {
		row, test := i/tests, i%tests
		if r.ModelType != wantTypes[row] || (test == 0) != (r.NPrompt == 8) || (test == 1) != (r.NGen == 3) {
			t.Fatalf("result %d is %s p%d n%d, want %s test %d", i, r.ModelType, r.NPrompt, r.NGen, wantTypes[row], test)
		}
		if len(r.Rounds) != rounds {
			t.Fatalf("result %d has %d rounds, want %d", i, len(r.Rounds), rounds)
		}
		means := make([]float64, rounds)
		var pooled []float64
		for k, rr := range r.Rounds {
			// round-major order: every row's tests of round k run before round k+1
			if rr.Round != k+1 || rr.Seq != k*perRound+i {
				t.Errorf("result %d round %d: round %d seq %d, want seq %d", i, k+1, rr.Round, rr.Seq, k*perRound+i)
			}
			if len(rr.SamplesTs) != reps {
				t.Errorf("result %d round %d: %d samples, want %d", i, k+1, len(rr.SamplesTs), reps)
			}
			means[k] = rr.AvgTs
			pooled = append(pooled, rr.SamplesTs...)
		}
		slices.Sort(means)
		if r.MedianTs != means[1] || r.MinTs != means[0] || r.MaxTs != means[2] {
			t.Errorf("result %d: median/min/max %v %v %v, round means %v", i, r.MedianTs, r.MinTs, r.MaxTs, means)
		}
		if !slices.Equal(r.SamplesTs, pooled) {
			t.Errorf("result %d: samples_ts %v are not the rounds' samples %v", i, r.SamplesTs, pooled)
		}
		var sum float64
		for _, v := range pooled {
			sum += v
		}
		if math.Abs(sum/float64(len(pooled))-r.AvgTs) > 1e-9*sum {
			t.Errorf("result %d: avg_ts %v is not the mean of the pooled samples", i, r.AvgTs)
		}
		if r.Machine != nil || r.DecodeBytesPerToken != 0 || r.PrefillFLOPsPerToken != 0 {
			t.Errorf("result %d has roofline fields without --roofline", i)
		}
	}
}

func TestBenchRoofline(t *testing.T) {
	spec := writeTinySpec(t)
	rows := runBenchJSON(t, "--arch", spec, "--precision", "q4_0", "-p", "8", "-n", "4", "-d", "0,5", "-t", "2", "-r", "1",
		"--rounds", "2", "--roofline", "--roofline-buffer", "8", "--json")
	s, err := loadSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("got %d results, want 4", len(rows))
	}
	m := rows[0].Machine
	if m == nil || len(m.BandwidthRounds) != 2 || len(m.FMARounds) != 2 || m.BandwidthBufferBytes != 8<<20 || m.Variant == "" {
		t.Fatalf("machine: %+v", m)
	}
	if !near(m.BandwidthBytesPerSec, (m.BandwidthRounds[0]+m.BandwidthRounds[1])/2) || !near(m.FMAFLOPsPerSec, (m.FMARounds[0]+m.FMARounds[1])/2) ||
		!(m.BandwidthBytesPerSec > 0) || !(m.FMAFLOPsPerSec > 0) {
		t.Fatalf("machine medians: %+v", m)
	}
	// the tiny spec is tied (Hidden 64, q4_0 rows): WeightBytes counts the
	// table once, which is the LM head's read; the lookup adds one row,
	// and the step at context T reads the KV of T+1 positions.
	row := arch.Q4_0.RowBytes(s.Hidden)
	for _, r := range rows {
		if r.Machine == nil {
			t.Fatalf("%+v lacks machine", r)
		}
		if r.NGen > 0 {
			var want float64
			for i := range r.NGen {
				want += float64(s.WeightBytes(arch.Q4_0) + row + s.KVBytes(r.NDepth+i+1, false))
			}
			want /= float64(r.NGen)
			if !near(r.DecodeBytesPerToken, want) || !near(r.DecodeBytesPerSec, r.MedianTs*want) ||
				!near(r.DecodeBWFraction, r.DecodeBytesPerSec/m.BandwidthBytesPerSec) || r.PrefillFLOPsPerToken != 0 {
				t.Errorf("tg d%d: bytes/token %v (want %v), %v B/s, fraction %v", r.NDepth, r.DecodeBytesPerToken, want, r.DecodeBytesPerSec, r.DecodeBWFraction)
			}
		} else {
			want := float64(s.FLOPsPrefill(r.NDepth+r.NPrompt)) / float64(r.NPrompt)
			if r.NDepth > 0 {
				want = float64(s.FLOPsPrefill(r.NDepth+r.NPrompt)-s.FLOPsPrefill(r.NDepth)+2*int64(s.Hidden)*int64(s.Vocab)) / float64(r.NPrompt)
			}
			if !near(r.PrefillFLOPsPerToken, want) || !near(r.PrefillFLOPsPerSec, r.MedianTs*want) ||
				!near(r.PrefillFMAFraction, r.PrefillFLOPsPerSec/m.FMAFLOPsPerSec) || r.DecodeBytesPerToken != 0 {
				t.Errorf("pp d%d: FLOPs/token %v (want %v), %v FLOP/s, fraction %v", r.NDepth, r.PrefillFLOPsPerToken, want, r.PrefillFLOPsPerSec, r.PrefillFMAFraction)
			}
		}
	}
}

func TestDecodeBytesPerTokenUntied(t *testing.T) {
	s := tinyConvSpec()
	for _, p := range []arch.Precision{arch.F32, arch.Q8_0, arch.Q4_0} {
		var embed int64
		for _, tn := range s.Tensors() {
			if tn.Name == "token_embd.weight" {
				embed = tn.Bytes(p)
			}
		}
		// untied: output.weight is in WeightBytes; the table is read for
		// one row only; conv has no KV cache
		want := s.WeightBytes(p) - embed + embed/int64(s.Vocab)
		if got := decodeBytesPerToken(&s, p, false, 10); got != want {
			t.Errorf("%s: %d bytes, want %d", p, got, want)
		}
	}
}

func TestBenchRooflineTable(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"bench", "--arch", writeTinySpec(t), "--precision", "f32,q8_0", "-p", "8", "-n", "2", "-t", "1", "-r", "1",
		"--rounds", "2", "--roofline", "--roofline-buffer", "4"}, IO{Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"median [min-max] of 2 rounds", "roofline", "GFLOP/s = ", "GB/s = ", "of BW", "of FMA",
		"tiny-hybrid f32", "tiny-hybrid q8_0", "read bandwidth", "FMA peak", "CPU (" + kernels.Variant() + ")"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
