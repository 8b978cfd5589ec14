package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
)

// kvHeavySpec has little weight and a large KV cache per token (4 GQA
// layers × 8 KV heads × 64 × 2 (K, V) × 2 bytes = 8 KiB per position), so
// a few thousand positions make a peak RSS difference far above the noise.
func kvHeavySpec() arch.Spec {
	a := &arch.Attention{Heads: 8, KVHeads: 8, HeadDim: 64, RopeTheta: 1e6}
	s := arch.Spec{Name: "kv-heavy", Vocab: 256, Hidden: 64, TiedEmbeddings: true, NormEps: 1e-5, MaxContext: 8192}
	for range 4 {
		s.Layers = append(s.Layers, arch.Layer{Mixer: arch.MixerGQA, GQA: a, FFN: 64})
	}
	return s
}

// TestBenchPeakPerTest: with -d 6144,0 the depth-0 tests report their own,
// smaller peak RSS (the caches are sized per test and VmHWM reset), and the
// difference follows the KV cache bytes the estimate gives. Every row names
// its pinned cores.
func TestBenchPeakPerTest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates RSS; .ci/run runs this test without -race")
	}
	if runtime.GOOS != "linux" {
		t.Skip("per-test peaks need /proc/self/clear_refs")
	}
	spec := kvHeavySpec()
	path := writeSpec(t, spec)
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"bench", "--arch", path, "--precision", "q8_0", "-p", "0", "-n", "4", "-d", "6144,0",
		"-t", "auto", "-r", "1", "--json"}, IO{Stdout: &out, Stderr: &errb}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []benchResult
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("%v: %s", err, out.String())
	}
	deep, flat := rows[0], rows[1]
	if deep.NDepth != 6144 || flat.NDepth != 0 {
		t.Fatalf("rows in order %d, %d", deep.NDepth, flat.NDepth)
	}
	for _, r := range rows {
		if !r.PeakRSSPerTest || !r.Pinned || len(r.CPUs) == 0 || r.CPUMask == "" || r.NThreads != len(r.CPUs) || !strings.HasPrefix(r.Placement, "auto") {
			t.Fatalf("row d%d: per test %v, pinned %v, cpus %v mask %q threads %d placement %q", r.NDepth, r.PeakRSSPerTest, r.Pinned, r.CPUs, r.CPUMask, r.NThreads, r.Placement)
		}
	}
	kv := float64(spec.KVBytes(6144+4, false) - spec.KVBytes(4, false))
	got := float64(deep.PeakRSSBytes - flat.PeakRSSBytes)
	est := float64(deep.AnalyticBytes - flat.AnalyticBytes)
	t.Logf("peak d6144 %.1f MiB, d0 %.1f MiB: difference %.2f MiB; KV estimate %.2f MiB, analytic totals differ by %.2f MiB",
		float64(deep.PeakRSSBytes)/(1<<20), float64(flat.PeakRSSBytes)/(1<<20), got/(1<<20), kv/(1<<20), est/(1<<20))
	if got < 0.9*kv || got > 1.1*kv {
		t.Fatalf("peak difference %.2f MiB, the KV cache estimate is %.2f MiB", got/(1<<20), kv/(1<<20))
	}
	if deep.DepthMethod != "snapshot" || flat.DepthMethod != "" {
		t.Fatalf("depth methods %q %q", deep.DepthMethod, flat.DepthMethod)
	}
}
