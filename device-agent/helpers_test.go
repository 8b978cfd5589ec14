package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/kernels"
	"github.com/hilsearch/hilsearch/workload"
)

// envTestMain makes the test binary behave as the device-agent command, so
// the end-to-end tests run real agent processes (and their real measuring
// children, which re-execute the same binary) without a separate build.
const envTestMain = "DEVICE_AGENT_TEST_MAIN"

// tinySpecJSON is a three-layer conv/GQA network small enough that a whole
// measurement takes milliseconds.
const tinySpecJSON = `{"name":"tiny","vocab":256,"hidden":64,"tied_embeddings":true,"norm_eps":1e-5,"max_context":128,
 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":128},
           {"mixer":"gqa","gqa":{"heads":4,"kv_heads":2,"head_dim":16,"qk_norm":true,"rope_theta":10000},"ffn":128},
           {"mixer":"conv","conv":{"kernel":3},"ffn":128}]}`

func tinyWorkload() workload.Workload {
	return workload.Workload{Precision: "q8_0", Threads: 1, PromptLengths: []int{16}, DecodeDepths: []int{0, 8}, DecodeTokens: 8, Seed: 1}
}

// slowSpecJSON and slowWorkload make a measurement last a few seconds on
// this class of machine, so a test can interfere while it runs (the tests
// check what happens, never how long it takes).
const slowSpecJSON = `{"name":"slow","vocab":2048,"hidden":256,"tied_embeddings":true,"norm_eps":1e-5,"max_context":256,
 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":768},
           {"mixer":"gqa","gqa":{"heads":8,"kv_heads":2,"head_dim":32,"qk_norm":true,"rope_theta":10000},"ffn":768},
           {"mixer":"conv","conv":{"kernel":3},"ffn":768},
           {"mixer":"gqa","gqa":{"heads":8,"kv_heads":2,"head_dim":32,"qk_norm":true,"rope_theta":10000},"ffn":768}]}`

func slowWorkload() workload.Workload {
	return workload.Workload{Precision: "f32", Threads: 1, PromptLengths: []int{128}, DecodeDepths: []int{64}, DecodeTokens: 32,
		Repetitions: 10, MaxRepetitions: 10, Seed: 2}
}

// checkStat checks a summary of n positive samples.
func checkStat(t *testing.T, name string, s wire.Stat, n int) {
	t.Helper()
	if len(s.Samples) != n {
		t.Errorf("%s: %d samples, want %d", name, len(s.Samples), n)
	}
	if !(s.Min > 0 && s.Min <= s.Median && s.Median <= s.Max && s.P50 == s.Median && s.P95 >= s.P50 && s.Mean > 0) {
		t.Errorf("%s: inconsistent summary %+v", name, s)
	}
	if s.RelSpread < 0 || math.IsNaN(s.RelSpread) {
		t.Errorf("%s: rel_spread %v", name, s.RelSpread)
	}
}

// checkMeasurement checks that every field of a measurement is filled and
// consistent with the job.
func checkMeasurement(t *testing.T, m *wire.Measurement, spec string, w workload.Workload) {
	t.Helper()
	if m == nil {
		t.Fatal("no measurement")
	}
	wn := w.Normalize()
	s, _, err := checkJob(&wire.Job{ID: "x", Spec: json.RawMessage(spec), Workload: w})
	if err != nil {
		t.Fatal(err)
	}
	if m.SpecHash != s.Hash() || m.WorkloadHash != wn.Hash() {
		t.Errorf("key: spec %s workload %s, want %s %s", m.SpecHash, m.WorkloadHash, s.Hash(), wn.Hash())
	}
	if m.AgentVersion != Version || m.KernelVariant != kernels.Variant() || m.Precision != w.Precision ||
		m.Threads < 1 || (w.Threads != workload.ThreadsAuto && m.Threads != int(w.Threads)) {
		t.Errorf("environment: version %q variant %q threads %d precision %q", m.AgentVersion, m.KernelVariant, m.Threads, m.Precision)
	}
	if runtime.GOOS == "linux" && (!m.Pinned || len(m.CPUs) == 0 || m.Placement == "" || !m.PeakRSSPerContext) {
		t.Errorf("placement: pinned %v cpus %v %q; peak per context %v", m.Pinned, m.CPUs, m.Placement, m.PeakRSSPerContext)
	}
	rows := func(what string, r wire.Row, ctx int) {
		if r.PeakRSSBytes <= 0 || r.PeakRSSBytes > m.PeakRSSBytes || r.Memory == nil || r.Memory.Context != ctx || r.Memory.Total <= 0 {
			t.Errorf("%s: peak %d (job %d), memory %+v, want context %d", what, r.PeakRSSBytes, m.PeakRSSBytes, r.Memory, ctx)
		}
	}
	for _, p := range m.Prefill {
		rows(fmt.Sprintf("pp%d", p.PromptLength), p.Row, p.PromptLength+1)
	}
	for _, d := range m.Decode {
		rows(fmt.Sprintf("tg@d%d", d.Depth), d.Row, d.Depth+d.Tokens)
		if d.Method != "snapshot" {
			t.Errorf("decode method %q", d.Method)
		}
	}
	if m.Params != s.Params().Total {
		t.Errorf("params %d, want %d", m.Params, s.Params().Total)
	}
	if len(m.Prefill) != len(wn.PromptLengths) {
		t.Fatalf("%d prefill results, want %d", len(m.Prefill), len(wn.PromptLengths))
	}
	for i, p := range m.Prefill {
		if p.PromptLength != wn.PromptLengths[i] || p.Repetitions < wn.Repetitions || p.Repetitions > wn.MaxRepetitions {
			t.Errorf("prefill %d: length %d, %d repetitions", i, p.PromptLength, p.Repetitions)
		}
		checkStat(t, fmt.Sprintf("pp%d tokens/s", p.PromptLength), p.TokensPerSec, p.Repetitions)
		checkStat(t, fmt.Sprintf("pp%d ttft", p.PromptLength), p.TTFTms, p.Repetitions)
	}
	if len(m.Decode) != len(wn.DecodeDepths) {
		t.Fatalf("%d decode results, want %d", len(m.Decode), len(wn.DecodeDepths))
	}
	for i, d := range m.Decode {
		if d.Depth != wn.DecodeDepths[i] || d.Tokens != w.DecodeTokens || d.Repetitions < wn.Repetitions {
			t.Errorf("decode %d: depth %d tokens %d reps %d", i, d.Depth, d.Tokens, d.Repetitions)
		}
		checkStat(t, fmt.Sprintf("tg%d@d%d tokens/s", d.Tokens, d.Depth), d.TokensPerSec, d.Repetitions)
		checkStat(t, fmt.Sprintf("tg%d@d%d ms/token", d.Tokens, d.Depth), d.MsPerToken, d.Repetitions*d.Tokens)
	}
	var sum float64
	kinds := map[string]bool{}
	for k, v := range m.BlockTimeShare {
		if v < 0 || v > 1 {
			t.Errorf("block share %s = %v", k, v)
		}
		sum += v
		kinds[k] = true
	}
	for _, l := range s.Layers {
		if !kinds[string(l.Mixer)] {
			t.Errorf("block share has no %q: %v", l.Mixer, m.BlockTimeShare)
		}
	}
	if !kinds["ffn"] || !kinds["head"] || math.Abs(sum-1) > 1e-9 {
		t.Errorf("block shares %v sum to %v", m.BlockTimeShare, sum)
	}
	if m.PeakRSSBytes < m.Memory.Total || m.PeakRSSBytes < 1<<20 {
		t.Errorf("peak RSS %d below the model's %d bytes", m.PeakRSSBytes, m.Memory.Total)
	}
	mem := m.Memory
	if mem.Weights <= 0 || mem.KV <= 0 || mem.State <= 0 || mem.Scratch <= 0 || mem.Total != mem.Weights+mem.KV+mem.State+mem.Scratch || mem.Context != wn.MaxContext() {
		t.Errorf("memory breakdown %+v (context want %d)", mem, wn.MaxContext())
	}
	if m.ThermalBefore.At.IsZero() || m.ThermalAfter.At.Before(m.ThermalBefore.At) {
		t.Errorf("thermal snapshots at %v and %v", m.ThermalBefore.At, m.ThermalAfter.At)
	}
	prof, err := localProfile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(prof.Thermal) > 0 && (len(m.ThermalBefore.TempsC) == 0 || len(m.ThermalAfter.TempsC) == 0) {
		t.Errorf("this machine has %d sensors but the thermal snapshots have none", len(prof.Thermal))
	}
	hasFreq := false
	for _, c := range prof.CPU.Clusters {
		hasFreq = hasFreq || c.MaxFreqKHz > 0
	}
	if _, err := os.Stat("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"); err == nil && len(m.ThermalBefore.FreqMHz) == 0 {
		t.Error("scaling_cur_freq is readable but the snapshot has no frequencies")
	}
	if m.CPUModel == "" || m.CPUModel != prof.CPU.Model || m.Power == "" {
		t.Errorf("cpu model %q (want %q), power %q", m.CPUModel, prof.CPU.Model, m.Power)
	}
	if hasFreq && m.Governor == "" {
		t.Logf("no governor recorded although clusters report frequencies")
	}
	if m.StartedAt.IsZero() || m.FinishedAt.Before(m.StartedAt) {
		t.Errorf("started %v finished %v", m.StartedAt, m.FinishedAt)
	}
}
