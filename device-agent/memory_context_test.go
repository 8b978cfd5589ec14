package agent

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

// TestPeakRSSPerContextLFM2 measures lfm2-350m q4_0 at contexts 512 and
// 8192 in one job (decode rows at depths 511 and 8191, one token each) and
// checks that the rows' own peak RSS differ by what arch's analytic
// KV/state estimate says. About a minute here (the 8191-token fill);
// skipped with -short.
//
// The tolerance is the 5 %. Earlier runs in a fresh process
// measured +6.85 % to +9.1 %: the deeper row also touched 8 MiB of a
// 32 MiB anonymous mapping outside the Go heap as four 2 MiB transparent
// huge pages (smaps AnonHugePages 8192 kB). The measuring child now turns
// THP off (disableTHP, PR_SET_THP_DISABLE); with it one run measured
// +0.32 %. One run without it measured +2.41 %, so the extra varies from
// run to run and THP is the likely, not the proven, cause.
func TestPeakRSSPerContextLFM2(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates RSS; .ci/run runs this test without -race")
	}
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("a minute of prefill; per-context peaks need Linux")
	}
	spec, err := arch.Preset("lfm2-350m")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(spec)
	job := &wire.Job{ID: "ctx", Kind: wire.JobKindMeasure, Spec: data, Workload: workload.Workload{
		Precision: arch.Q4_0, Threads: workload.ThreadsAuto, DecodeDepths: []int{511, 8191}, DecodeTokens: 1,
		Repetitions: 1, MaxRepetitions: 1, Seed: 1}}
	res := measureJob(context.Background(), job, liveEnv())
	if res.Status != wire.ResultOK {
		t.Fatalf("%s: %s", res.FailKind, res.Error)
	}
	m := res.Measurement
	if !m.PeakRSSPerContext {
		t.Fatal("peaks are not per context")
	}
	small, big := m.Decode[0], m.Decode[1]
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	got := small.PeakRSSBytes - big.PeakRSSBytes
	got = -got
	est := (spec.KVBytes(8192, false) + spec.StateBytes()) - (spec.KVBytes(512, false) + spec.StateBytes())
	t.Logf("peak RSS at 512: %.2f MiB (analytic %.2f MiB); at 8192: %.2f MiB (analytic %.2f MiB); difference %.2f MiB, analytic KV/state difference %.2f MiB (%.2f%%)",
		mib(small.PeakRSSBytes), mib(small.Memory.Total), mib(big.PeakRSSBytes), mib(big.Memory.Total), mib(got), mib(est),
		100*(float64(got)/float64(est)-1))
	if big.Memory.KV-small.Memory.KV != est {
		t.Errorf("the runtime's KV difference %d differs from arch's %d", big.Memory.KV-small.Memory.KV, est)
	}
	if math.Abs(float64(got)/float64(est)-1) > 0.05 {
		t.Fatalf("peak difference %.2f MiB, analytic %.2f MiB: more than 5%% apart", mib(got), mib(est))
	}
}
