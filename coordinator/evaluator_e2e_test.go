package coordinator_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestReferenceEvaluatorEndToEnd runs a small search whose objectives are
// a device metric and the reference MQAR evaluator's recall, with the
// real evaluator (python3 evaluators/mqar, started as `serve --dev
// --with-evaluator` does) in a tiny training configuration, and checks
// the scores are stored and reach the optimizer. The device is the
// analytic stand-in agent of the other search tests.
func TestReferenceEvaluatorEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := coordinator.TorchAvailable(ctx); err != nil {
		if errors.Is(err, coordinator.ErrNoTorch) && os.Getenv("CI") == "" {
			t.Skipf("skipped: %v", err)
		}
		t.Fatal(err)
	}
	c := testenv.Start(t, nil)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := coordinator.StartReferenceEvaluator(ctx, c.App, root, t.TempDir(), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Stop()
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	a.Agent.RunStandIn(ctx, c.App.Bus.ClientURLs)

	spec := `{"name":"quality e2e","space":{"preset":"lfm2-tiny"},
	 "workload":{"precision":"f32","threads":1,"prompt_lengths":[64],"decode_depths":[0],"decode_length":8},
	 "targets":[{"name":"local","devices":["` + a.Resp.DeviceID + `"]}],
	 "objectives":[{"metric":"decode_ms_p50@local"},{"metric":"prefill_tps@local"},{"metric":"mqar_accuracy@` + ev.Name + `"}],
	 "evaluators":{"` + ev.Name + `":{"settings":{"steps":20,"batch_size":8,"eval_examples":32,"seq_len":16,"kv_pairs":2,"vocab":32,"warmup_steps":2,"curve_points":4,"threads":1},"timeout":"5m"}},
	 "budget":{"max_trials":2},"algorithm":"random","seed":3}`
	id := createSearch(t, c, spec)
	se := waitSearch(t, c, id, 8*time.Minute, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete != 2 {
		msg := testenv.QueryString(t, c.DSN, `SELECT coalesce(string_agg(error, '; '), '') FROM trials WHERE search_id = $1`, id)
		t.Fatalf("progress %+v, want 2 complete trials (errors: %s)", se.Progress, msg)
	}
	type evaluation struct {
		State   string
		Scores  map[string]float64
		Version string
	}
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/trials?limit=10", nil, c.Token)
	var page struct {
		Trials []struct {
			Objectives  []float64
			Evaluations []evaluation
		}
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Trials) != 2 {
		t.Fatalf("trials: %d %s", code, body)
	}
	for i, tr := range page.Trials {
		if len(tr.Evaluations) != 1 {
			t.Fatalf("trial %d: evaluations %+v", i, tr.Evaluations)
		}
		e := tr.Evaluations[0]
		acc, ok := e.Scores["mqar_accuracy"]
		if e.State != "answered" || !ok || acc < 0 || acc > 1 || e.Version == "" || tr.Objectives[2] != acc {
			t.Fatalf("trial %d: evaluation %+v, objectives %v", i, e, tr.Objectives)
		}
		if _, ok := e.Scores["mqar_loss"]; !ok {
			t.Fatalf("trial %d: no mqar_loss: %+v", i, e)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM evaluations WHERE evaluator = $1`, ev.Name); n == 0 {
		t.Fatalf("no evaluation cached")
	}
}
