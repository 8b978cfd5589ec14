package kernels

import (
	"math"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// depthSpecs are small networks per mixer for tests at depth: the cached
// prefix spans many key tiles, the sliding windows (7 and 100 positions)
// wrap their rings many times, and the recurrent states run through many
// chunks.
func depthSpecs() map[string]*arch.Spec {
	wide := tinySpec(arch.MixerSWA, arch.MixerConv)
	wide.Layers[0].SWA.Window = 100
	wide.Layers[0].SWA.Heads, wide.Layers[0].SWA.KVHeads = 8, 2
	return map[string]*arch.Spec{
		"conv":        tinySpec(arch.MixerConv, arch.MixerConv),
		"gqa":         tinySpec(arch.MixerGQA, arch.MixerGQA),
		"swa7":        tinySpec(arch.MixerSWA, arch.MixerSWA),
		"swa100":      wide,
		"linear_attn": tinySpec(arch.MixerLinearAttn, arch.MixerLinearAttn),
		"ssm":         tinySpec(arch.MixerSSM, arch.MixerSSM),
		"mixed":       tinySpec(arch.MixerConv, arch.MixerGQA, arch.MixerSWA, arch.MixerLinearAttn, arch.MixerSSM, arch.MixerConv),
	}
}

const depthPrefix = 600 // cached positions before the checked tokens

func logitsAfter(t *testing.T, m *Model, parts ...[]int32) []float32 {
	t.Helper()
	m.Reset()
	var lg []float32
	for _, p := range parts {
		var err error
		if len(p) == 1 {
			lg, err = m.Decode(p[0])
		} else {
			lg, err = m.Prefill(p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return append([]float32(nil), lg...)
}

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	d := maxRelDiff(got, want)
	t.Logf("%s: relative difference %.3g", what, d)
	if d > tol || math.IsNaN(d) {
		t.Fatalf("%s: logits differ by %.3g (relative), tolerance %g", what, d, tol)
	}
}

// TestDepthConsistency: for every mixer, after a cached prefix of 600
// tokens (prefilled in batches of 512 and 88), decoding three tokens gives
// the logits of one longer prefill, and a prompt continued after the
// prefix (Prefill a, Prefill b) gives those of Prefill(a‖b), within the
// decode-vs-prefill tolerance. With batches of 64 tokens (Options.Batch)
// the same holds, so batch boundaries inside the cache do not matter.
// -short (the qemu and race runs, where the references are slow) keeps
// q4_0 with batches of 512.
func TestDepthConsistency(t *testing.T) {
	all := tokens(depthPrefix+40, 5)
	a, b := all[:depthPrefix], all[depthPrefix:]
	precs, batches := []arch.Precision{arch.F32, arch.Q4_0}, []int{0, 64}
	if testing.Short() {
		precs, batches = precs[1:], batches[:1]
	}
	for name, spec := range depthSpecs() {
		for _, p := range precs {
			for _, batch := range batches {
				t.Run(name+"/"+string(p)+"/batch="+map[int]string{0: "512", 64: "64"}[batch], func(t *testing.T) {
					m, err := BuildWith(spec, p, 700, 2, 9, Options{Batch: batch})
					if err != nil {
						t.Fatal(err)
					}
					defer m.Close()
					tol := consistencyTol[p]
					want := logitsAfter(t, m, all[:depthPrefix+3])
					got := logitsAfter(t, m, a, b[:1], b[1:2], b[2:3])
					checkClose(t, "prefill+decode", got, want, tol)
					want = logitsAfter(t, m, all)
					got = logitsAfter(t, m, a, b)
					checkClose(t, "prefill+prefill", got, want, tol)
					got = logitsAfter(t, m, all[:100], all[100:450], all[450:])
					checkClose(t, "three prefills", got, want, tol)
				})
			}
		}
	}
}

// TestDepthDeterministicAcrossThreads: at depth, prefill, continued
// prefill and decode give bit-identical logits with 1, 2 and 3 threads
// for every mixer (the attention key split and every other reduction
// depend on shapes only). -short keeps q4_0.
func TestDepthDeterministicAcrossThreads(t *testing.T) {
	all := tokens(depthPrefix+30, 6)
	precs := []arch.Precision{arch.F32, arch.Q4_0}
	if testing.Short() {
		precs = precs[1:]
	}
	for name, spec := range depthSpecs() {
		for _, p := range precs {
			t.Run(name+"/"+string(p), func(t *testing.T) {
				var ref [][]float32
				for _, th := range []int{1, 2, 3} {
					m, err := Build(spec, p, 700, th, 13)
					if err != nil {
						t.Fatal(err)
					}
					var got [][]float32
					got = append(got, logitsAfter(t, m, all[:depthPrefix]))
					got = append(got, logitsAfter(t, m, all[:depthPrefix], all[depthPrefix:depthPrefix+25]))
					got = append(got, logitsAfter(t, m, all[:depthPrefix], all[depthPrefix:depthPrefix+1], all[depthPrefix+1:depthPrefix+2]))
					m.Close()
					if ref == nil {
						ref = got
						continue
					}
					for k := range ref {
						for i := range ref[k] {
							if math.Float32bits(ref[k][i]) != math.Float32bits(got[k][i]) {
								t.Fatalf("threads=%d, run %d: logit %d = %v, one thread gives %v", th, k, i, got[k][i], ref[k][i])
							}
						}
					}
				}
			})
		}
	}
}
