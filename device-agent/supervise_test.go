package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// realChild is the measuring child this test binary provides (see
// TestMain): the same code path as `device-agent measure`.
func realChild(t *testing.T, args ...string) childCommand {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		args = []string{"measure"}
	}
	return childCommand{Path: exe, Args: args, Env: []string{envTestMain + "=1"}}
}

func jobBytes(t *testing.T, j *wire.Job) []byte {
	data, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSuperviseRealChildOK(t *testing.T) {
	j := tinyJob("jok")
	res, err := superviseChild(context.Background(), realChild(t), jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute, MemoryCap: 4 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != wire.ResultOK {
		t.Fatalf("result %s %s: %s", res.Status, res.FailKind, res.Error)
	}
	checkMeasurement(t, res.Measurement, tinySpecJSON, j.Workload)
}

func TestSuperviseRealChildOOM(t *testing.T) {
	// Any Go process needs more than 1 MiB resident, so the cap is hit
	// either by the RSS poll or, at the latest, by the peak after exit.
	j := tinyJob("joom")
	res, err := superviseChild(context.Background(), realChild(t), jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute, MemoryCap: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != wire.ResultFailed || res.FailKind != wire.FailOOM || !strings.Contains(res.Error, "cap of 1.0 MiB") {
		t.Fatalf("result %+v", res)
	}
}

func TestSuperviseRealChildTimeout(t *testing.T) {
	j := &wire.Job{ID: "jslow", Kind: wire.JobKindMeasure, Spec: json.RawMessage(slowSpecJSON), Workload: slowWorkload()}
	res, err := superviseChild(context.Background(), realChild(t), jobBytes(t, j), j.ID, childLimits{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != wire.ResultFailed || res.FailKind != wire.FailTimeout || !strings.Contains(res.Error, "200ms") {
		t.Fatalf("result %+v", res)
	}
}

func TestSuperviseRealChildCrashAndGarbage(t *testing.T) {
	j := tinyJob("jcrash")
	// The child refuses its arguments and exits 2 without a result.
	res, err := superviseChild(context.Background(), realChild(t, "measure", "--no-such-flag"), jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.FailKind != wire.FailCrash || !strings.Contains(res.Error, "exit status 2") || !strings.Contains(res.Error, "no-such-flag") {
		t.Fatalf("crash result %+v", res)
	}
	// The child succeeds but prints something that is not a result.
	res, _ = superviseChild(context.Background(), realChild(t, "profile", "--json"), jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute})
	if res.FailKind != wire.FailCrash || !strings.Contains(res.Error, "no result") {
		t.Fatalf("garbage result %+v", res)
	}
	// A missing executable.
	res, _ = superviseChild(context.Background(), childCommand{Path: "/nonexistent/device-agent"}, nil, j.ID, childLimits{})
	if res.FailKind != wire.FailCrash || !strings.Contains(res.Error, "start") {
		t.Fatalf("missing binary %+v", res)
	}
}

func TestSuperviseInterrupted(t *testing.T) {
	j := &wire.Job{ID: "jint", Kind: wire.JobKindMeasure, Spec: json.RawMessage(slowSpecJSON), Workload: slowWorkload()}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := superviseChild(ctx, realChild(t), jobBytes(t, j), j.ID, childLimits{Timeout: time.Minute})
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err %v, want errInterrupted", err)
	}
}
