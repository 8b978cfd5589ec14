package agent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

func tinyJob(id string) *wire.Job {
	return &wire.Job{ID: id, Kind: wire.JobKindMeasure, Spec: json.RawMessage(tinySpecJSON), Workload: tinyWorkload()}
}

func TestMeasureJobFillsEveryField(t *testing.T) {
	job := tinyJob("j1")
	res := measureJob(context.Background(), job, liveEnv())
	if res.Status != wire.ResultOK || res.JobID != "j1" {
		t.Fatalf("result %s %s %s", res.Status, res.FailKind, res.Error)
	}
	checkMeasurement(t, res.Measurement, tinySpecJSON, job.Workload)
}

func TestMeasureJobIsDeterministicInItsInputs(t *testing.T) {
	// Same seed ⇒ same prompt tokens; different seed ⇒ different ones.
	a, b, c := promptTokens(256, 64, 1), promptTokens(256, 64, 1), promptTokens(256, 64, 2)
	same, diff := true, false
	for i := range a {
		same = same && a[i] == b[i]
		diff = diff || a[i] != c[i]
		if a[i] < 0 || a[i] >= 256 {
			t.Fatalf("token %d out of range", a[i])
		}
	}
	if !same || !diff {
		t.Fatalf("tokens: same seed equal=%v, other seed differs=%v", same, diff)
	}
}

func TestCheckJobNamesTheField(t *testing.T) {
	cases := map[string]struct {
		mut  func(j *wire.Job)
		want string
	}{
		"no id":    {func(j *wire.Job) { j.ID = "" }, "id"},
		"kind":     {func(j *wire.Job) { j.Kind = "train" }, "kind"},
		"no spec":  {func(j *wire.Job) { j.Spec = nil }, "spec"},
		"bad json": {func(j *wire.Job) { j.Spec = json.RawMessage(`{"vocab":`) }, "spec"},
		"invalid spec": {func(j *wire.Job) {
			j.Spec = json.RawMessage(strings.Replace(tinySpecJSON, `"kv_heads":2`, `"kv_heads":3`, 1))
		}, "kv_heads"},
		"precision": {func(j *wire.Job) { j.Workload.Precision = "int3" }, "workload.precision"},
		"kv type":   {func(j *wire.Job) { j.Workload.KVType = "q4" }, "workload.kv_type"},
		"threads":   {func(j *wire.Job) { j.Workload.Threads = -1 }, "workload.threads"},
		"nothing":   {func(j *wire.Job) { j.Workload.PromptLengths, j.Workload.DecodeDepths = nil, nil }, "workload.prompt_lengths"},
		"tokens":    {func(j *wire.Job) { j.Workload.DecodeTokens = 0 }, "workload.decode_tokens"},
		"length":    {func(j *wire.Job) { j.Workload.PromptLengths = []int{0} }, "workload.prompt_lengths[0]"},
		"depth":     {func(j *wire.Job) { j.Workload.DecodeDepths = []int{-1} }, "workload.decode_depths[0]"},
		"context":   {func(j *wire.Job) { j.Workload.PromptLengths = []int{500} }, "max_context"},
		"reps":      {func(j *wire.Job) { j.Workload.Repetitions = -1 }, "workload.repetitions"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			j := tinyJob("j")
			tc.mut(j)
			_, _, err := checkJob(j)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
			if name == "no id" {
				return
			}
			res := measureJob(context.Background(), j, liveEnv())
			if res.Status != wire.ResultFailed || res.FailKind != wire.FailInvalidSpec || res.Error != err.Error() {
				t.Fatalf("result %+v", res)
			}
		})
	}
	if _, _, err := checkJob(tinyJob("j")); err != nil {
		t.Fatal(err)
	}
	probe := tinyJob("p")
	probe.Kind = wire.JobKindProbe // a block probe is timed like any spec
	if _, _, err := checkJob(probe); err != nil {
		t.Fatal(err)
	}
}

func TestRunMeasureCommand(t *testing.T) {
	in, _ := json.Marshal(tinyJob("jcmd"))
	var out, errb strings.Builder
	if err := runMeasure(context.Background(), nil, IO{Stdin: strings.NewReader(string(in)), Stdout: &out, Stderr: &errb}); err != nil {
		t.Fatal(err)
	}
	var res wire.Result
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil || res.Status != wire.ResultOK || res.Measurement == nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Fatal("more than one JSON document on stdout")
	}
	// Garbage in: a failed result, still one JSON object.
	out.Reset()
	if err := runMeasure(context.Background(), nil, IO{Stdin: strings.NewReader("{not json"), Stdout: &out, Stderr: &errb}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil || res.Status != wire.ResultFailed || res.FailKind != wire.FailInvalidSpec {
		t.Fatalf("garbage: %q %v", out.String(), err)
	}
}

func TestStatusKB(t *testing.T) {
	status := "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t  1000 kB\n"
	if v, ok := statusKB(status, "VmHWM:"); !ok || v != 1234*1024 {
		t.Fatalf("VmHWM %d %v", v, ok)
	}
	if v, ok := statusKB(status, "VmRSS:"); !ok || v != 1000*1024 {
		t.Fatalf("VmRSS %d %v", v, ok)
	}
	if _, ok := statusKB(status, "VmSwap:"); ok {
		t.Fatal("missing key found")
	}
	if selfPeakRSS() <= 0 {
		t.Fatal("no peak RSS for this process")
	}
}
