package kernels

import (
	"math"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// tinySpec returns a small network whose layers use the given mixers, with
// an FFN width that is not a multiple of 32 on odd layers (so the f16
// fallback of quantised precisions is exercised).
func tinySpec(mixers ...arch.Mixer) *arch.Spec {
	s := &arch.Spec{Name: "tiny", Vocab: 97, Hidden: 64, TiedEmbeddings: true, NormEps: 1e-5, MaxContext: 128}
	for i, mx := range mixers {
		l := arch.Layer{Mixer: mx, FFN: 96}
		if i%2 == 1 {
			l.FFN = 80
		}
		switch mx {
		case arch.MixerConv:
			l.Conv = &arch.Conv{Kernel: 3}
		case arch.MixerGQA:
			l.GQA = &arch.Attention{Heads: 4, KVHeads: 2, HeadDim: 16, QKNorm: true, RopeTheta: 10000}
		case arch.MixerSWA:
			l.SWA = &arch.SWA{Attention: arch.Attention{Heads: 4, KVHeads: 1, HeadDim: 16, RopeTheta: 10000}, Window: 7}
		case arch.MixerLinearAttn:
			l.LinearAttn = &arch.LinearAttn{Heads: 2, HeadDim: 32}
		case arch.MixerSSM:
			l.SSM = &arch.SSM{Heads: 4, HeadDim: 32, State: 16, Expand: 2, ConvKernel: 4}
		}
		s.Layers = append(s.Layers, l)
	}
	return s
}

func tokens(n int, seed uint64) []int32 {
	g := rng(seed)
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(g.next() % 97)
	}
	return out
}

// maxRelDiff returns max|a-b| / max|b|.
func maxRelDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / m
}

var consistencyTol = map[arch.Precision]float64{arch.F32: 1e-4, arch.F16: 1e-4, arch.Q8_0: 2e-2, arch.Q4_0: 2e-2}

func TestDecodeMatchesLongerPrefill(t *testing.T) {
	cases := map[string][]arch.Mixer{
		"conv":        {arch.MixerConv, arch.MixerConv},
		"gqa":         {arch.MixerGQA, arch.MixerGQA},
		"swa":         {arch.MixerSWA, arch.MixerSWA},
		"linear_attn": {arch.MixerLinearAttn, arch.MixerLinearAttn},
		"ssm":         {arch.MixerSSM, arch.MixerSSM},
		"mixed":       {arch.MixerConv, arch.MixerGQA, arch.MixerSWA, arch.MixerLinearAttn, arch.MixerSSM, arch.MixerConv},
	}
	for name, mixers := range cases {
		for _, p := range arch.Precisions {
			if name != "mixed" && (p == arch.F16 || p == arch.Q8_0) {
				continue // the mixed spec covers every precision; keep the test fast
			}
			t.Run(name+"/"+string(p), func(t *testing.T) {
				spec := tinySpec(mixers...)
				m, err := Build(spec, p, 96, 2, 7)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				all := tokens(75, 3) // > one 64-token GLA chunk
				const k = 4
				a, bs := all[:len(all)-k], all[len(all)-k:]
				if _, err := m.Prefill(a); err != nil {
					t.Fatal(err)
				}
				var got []float32
				for _, b := range bs {
					lg, err := m.Decode(b)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got[:0], lg...)
				}
				if m.Pos() != len(all) {
					t.Fatalf("pos = %d, want %d", m.Pos(), len(all))
				}
				m.Reset()
				want, err := m.Prefill(all)
				if err != nil {
					t.Fatal(err)
				}
				d := maxRelDiff(got, want)
				t.Logf("relative difference %.3g", d)
				if d > consistencyTol[p] || math.IsNaN(d) {
					t.Fatalf("decode vs prefill logits differ by %.3g (relative), tolerance %g", d, consistencyTol[p])
				}
				var rms float64
				for _, v := range want {
					rms += float64(v) * float64(v)
				}
				if rms == 0 {
					t.Fatal("logits are all zero")
				}
			})
		}
	}
}

func TestDeterministicAcrossThreads(t *testing.T) {
	spec := tinySpec(arch.MixerConv, arch.MixerGQA, arch.MixerSWA, arch.MixerLinearAttn, arch.MixerSSM)
	toks := tokens(40, 11)
	for _, p := range []arch.Precision{arch.F32, arch.Q4_0} {
		var ref []float32
		for _, th := range []int{1, 2, 3, 2} {
			m, err := Build(spec, p, 64, th, 42)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Prefill(toks[:33]); err != nil {
				t.Fatal(err)
			}
			var lg []float32
			for _, tok := range toks[33:] {
				if lg, err = m.Decode(tok); err != nil {
					t.Fatal(err)
				}
			}
			m.Close()
			if ref == nil {
				ref = append([]float32(nil), lg...)
				continue
			}
			for i := range ref {
				if math.Float32bits(ref[i]) != math.Float32bits(lg[i]) {
					t.Fatalf("%s threads=%d: logit %d = %v, want %v (bit-identical)", p, th, i, lg[i], ref[i])
				}
			}
		}
	}
}

func TestSeedChangesWeights(t *testing.T) {
	spec := tinySpec(arch.MixerConv)
	run := func(seed uint64) []float32 {
		m, err := Build(spec, arch.F32, 16, 1, seed)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		lg, err := m.Prefill(tokens(5, 1))
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), lg...)
	}
	a, b := run(1), run(2)
	if maxRelDiff(a, b) < 1e-3 {
		t.Fatal("different seeds gave the same logits")
	}
}

func TestModelErrors(t *testing.T) {
	spec := tinySpec(arch.MixerGQA)
	m, err := Build(spec, arch.F32, 8, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Prefill(tokens(9, 1)); err == nil {
		t.Fatal("prefill beyond max context succeeded")
	}
	if _, err := m.Prefill([]int32{97}); err == nil {
		t.Fatal("token outside the vocabulary accepted")
	}
	if _, err := m.Prefill(nil); err == nil {
		t.Fatal("empty prefill accepted")
	}
	if _, err := Build(spec, "q5_k", 8, 1, 1); err == nil {
		t.Fatal("unknown precision accepted")
	}
	bad := *spec
	bad.Hidden = 0
	if _, err := Build(&bad, arch.F32, 8, 1, 1); err == nil {
		t.Fatal("invalid spec accepted")
	}
}

// TestMemoryMatchesEstimate checks the runtime's own breakdown against
// arch's analytic estimate for every preset, at q4_0 and a small context.
func TestMemoryMatchesEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every preset")
	}
	const ctx = 256
	for _, name := range arch.PresetNames() {
		if raceEnabled && name != "lfm2-350m" {
			continue // instrumented builds of the big presets take minutes
		}
		t.Run(name, func(t *testing.T) {
			spec, err := arch.Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []arch.Precision{arch.Q4_0, arch.F32} {
				if p == arch.F32 && spec.Params().Total > 800_000_000 {
					continue // weights are checked at q4_0; f32 would need many GB
				}
				m, err := Build(spec, p, ctx, 2, 1)
				if err != nil {
					t.Fatal(err)
				}
				got := m.Memory()
				m.Close()
				want := spec.MemoryEstimate(p, ctx, false, m.Batch())
				check := func(what string, g, w int64) {
					if w == 0 && g == 0 {
						return
					}
					if r := math.Abs(float64(g-w)) / float64(w); r > 0.05 {
						t.Errorf("%s %s: runtime %d bytes, estimate %d (%.1f%% off)", p, what, g, w, 100*r)
					}
				}
				check("weights", got.Weights, want.Weights)
				check("kv", got.KV, want.KV)
				check("state", got.State, want.State)
				check("scratch", got.Scratch, want.Scratch)
			}
		})
	}
}

// TestMemoryMixedSpec checks the decode state and weights of a spec with
// every mixer (including the f16 fallback of a quantised precision)
// against arch's accounting.
func TestMemoryMixedSpec(t *testing.T) {
	spec := tinySpec(arch.MixerConv, arch.MixerGQA, arch.MixerSWA, arch.MixerLinearAttn, arch.MixerSSM)
	for _, p := range arch.Precisions {
		m, err := Build(spec, p, 100, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Memory()
		m.Close()
		want := spec.MemoryEstimate(p, 100, false, m.Batch())
		if got.Weights != want.Weights || got.KV != want.KV || got.State != want.State {
			t.Errorf("%s: runtime %+v, estimate %+v", p, got, want)
		}
	}
}

// TestDeepNetworkStaysFinite checks that the random weights keep a deep
// hybrid's activations finite and its logits non-trivial.
func TestDeepNetworkStaysFinite(t *testing.T) {
	var mixers []arch.Mixer
	for i := 0; i < 32; i++ {
		mixers = append(mixers, arch.Mixers[i%len(arch.Mixers)])
	}
	spec := tinySpec(mixers...)
	m, err := Build(spec, arch.Q4_0, 64, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lg, err := m.Prefill(tokens(40, 2))
	if err != nil {
		t.Fatal(err)
	}
	var mean, sq float64
	for _, v := range lg {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite logit %v", v)
		}
		mean += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(lg))
	sd := math.Sqrt(sq/n - (mean/n)*(mean/n))
	t.Logf("logit std %.3g", sd)
	if sd < 0.1 || sd > 1e3 {
		t.Fatalf("logit standard deviation %g outside [0.1, 1000]", sd)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	spec := tinySpec(arch.MixerConv, arch.MixerGQA, arch.MixerSWA, arch.MixerLinearAttn, arch.MixerSSM)
	m, err := Build(spec, arch.Q4_0, 128, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Prefill(tokens(10, 1)); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := m.Decode(5); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %.1f times per call", allocs)
	}
}

// TestPrefillDoesNotAllocate covers the GEMM path (batches of full token
// groups) at every precision.
func TestPrefillDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	spec := tinySpec(arch.MixerConv, arch.MixerGQA, arch.MixerSWA, arch.MixerLinearAttn, arch.MixerSSM)
	for _, p := range arch.Precisions {
		m, err := Build(spec, p, 128, 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		toks := tokens(40, 1)
		allocs := testing.AllocsPerRun(10, func() {
			m.Reset()
			if _, err := m.Prefill(toks); err != nil {
				t.Fatal(err)
			}
		})
		m.Close()
		if allocs != 0 {
			t.Fatalf("%s: Prefill of 40 tokens allocates %.1f times per call", p, allocs)
		}
	}
}

// TestCheckpointRestore: continuing a restored prefix gives the logits of
// continuing the original bit for bit, also after the caches and states
// were overwritten by another sequence (SWA ring included); a checkpoint
// of another model is refused without changing anything.
func TestCheckpointRestore(t *testing.T) {
	spec := tinySpec(arch.MixerConv, arch.MixerGQA, arch.MixerSWA, arch.MixerLinearAttn, arch.MixerSSM)
	m, err := Build(spec, arch.Q4_0, 96, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prefix, rest := tokens(40, 5), tokens(12, 6)
	if _, err := m.Prefill(prefix); err != nil {
		t.Fatal(err)
	}
	cp := m.Save()
	if cp.Bytes() <= 0 {
		t.Fatal("empty checkpoint")
	}
	cont := func() []float32 {
		t.Helper()
		if _, err := m.Prefill(rest[:9]); err != nil {
			t.Fatal(err)
		}
		var out []float32
		for _, tk := range rest[9:] {
			l, err := m.Decode(tk)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l...)
		}
		return out
	}
	want := cont()
	// another sequence overwrites every cache slot and state
	m.Reset()
	if _, err := m.Prefill(tokens(90, 8)); err != nil {
		t.Fatal(err)
	}
	if err := m.Restore(cp); err != nil {
		t.Fatal(err)
	}
	if m.Pos() != len(prefix) {
		t.Fatalf("Pos() = %d after restore, want %d", m.Pos(), len(prefix))
	}
	got := cont()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("logit %d after restore = %v, want %v", i, got[i], want[i])
		}
	}
	other, err := Build(tinySpec(arch.MixerConv, arch.MixerGQA), arch.Q4_0, 96, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pos := m.Pos()
	if err := m.Restore(other.Save()); err == nil {
		t.Fatal("checkpoint of another model accepted")
	}
	if m.Pos() != pos {
		t.Fatal("a refused restore changed the position")
	}
	if err := m.Restore(nil); err == nil {
		t.Fatal("nil checkpoint accepted")
	}
}

// TestDecodeDispatches counts the loops a decode token hands to the
// workers: only the matrix products (a conv layer's in_proj, out_proj,
// gate/up and down, and the LM head) and the attention pass. A step as
// small as one token's convolution over the channels runs on the caller
// (RunWork), while the same convolution over a prompt's tokens is split.
func TestDecodeDispatches(t *testing.T) {
	spec := tinySpec(arch.MixerConv, arch.MixerConv, arch.MixerGQA)
	spec.Hidden = 1024 // a conv step of 3·1024 multiply-adds
	for _, p := range arch.Precisions {
		m, err := Build(spec, p, 128, 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Prefill(tokens(10, 1)); err != nil {
			t.Fatal(err)
		}
		before := m.e.pool.dispatches
		if _, err := m.Decode(5); err != nil {
			t.Fatal(err)
		}
		// 4 per conv layer, q/k/v + attention + out_proj + gate/up + down,
		// the head; 5, 8 and 1 where products sharing an input run one by
		// one (float weights, or no packed matrix × vector loops)
		want := uint64(2*4 + 5 + 1)
		if !m.e.useMatVec(m.layers[0].gate, 1) {
			want = 2*5 + 8 + 1
		}
		if got := m.e.pool.dispatches - before; got != want {
			t.Errorf("%s: a decode token made %d dispatches, want %d", p, got, want)
		}
		m.e.pool.dispatches = 0
		m.fs.convC, m.fs.convIn, m.fs.convOut, m.cur, m.n = spec.Hidden, m.b, m.c, m.layers[0], 8
		m.e.RunWork(spec.Hidden, 64, 8*spec.Hidden*3, m.chFn)
		if m.e.pool.dispatches != 1 {
			t.Errorf("%s: the convolution of 8 tokens over %d channels was not split", p, spec.Hidden)
		}
		m.Close()
	}
}
