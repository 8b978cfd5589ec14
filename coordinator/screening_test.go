package coordinator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// screenedSpec turns testenv.SearchSpec into a screened search: screening
// from the warmup-th measured trial, batch candidates per trial.
func screenedSpec(spec string, warmup, batch int) string {
	return strings.Replace(spec, `"seed":7}`, fmt.Sprintf(`"seed":7,"screening":{"warmup_trials":%d,"batch":%d}}`, warmup, batch), 1)
}

// checkScreened checks a finished screened search through the API: it
// measured exactly its budget, screened candidates out (each with its
// prediction and reason, none of them measured, none proposed twice),
// trials chosen by screening carry their prediction, and the device got
// its block probes. It returns the screened count.
func checkScreened(t *testing.T, c *testenv.Coordinator, id, dev string, trials, warmup, batch int) int {
	t.Helper()
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id, nil, c.Token)
	var se api.Search
	if err := json.Unmarshal(body, &se); code != 200 || err != nil {
		t.Fatalf("get search: %d %s", code, body)
	}
	if se.State != api.SearchFinished || se.Progress.Complete != trials {
		t.Fatalf("search %s with %+v", se.State, se.Progress)
	}
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/screened", nil, c.Token)
	var sl api.ScreenedList
	if err := json.Unmarshal(body, &sl); code != 200 || err != nil {
		t.Fatalf("screened: %d %s", code, body)
	}
	if len(sl.Screened) == 0 || len(sl.Screened) != se.Progress.Screened {
		t.Fatalf("%d screened listed, progress says %d", len(sl.Screened), se.Progress.Screened)
	}
	// At most batch-1 per screened round, one round per trial after the warmup.
	if max := (trials - warmup) * (batch - 1); len(sl.Screened) > max {
		t.Fatalf("%d screened, at most %d possible", len(sl.Screened), max)
	}
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/trials?limit=1000", nil, c.Token)
	var page api.TrialPage
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Trials) != trials {
		t.Fatalf("trials: %d %v %d", code, err, len(page.Trials))
	}
	seen := map[string]string{}
	predicted := 0
	for _, tr := range page.Trials {
		if prev, ok := seen[tr.ArchHash]; ok {
			t.Fatalf("trial %d measures %s again (%s)", tr.Number, tr.ArchHash, prev)
		}
		seen[tr.ArchHash] = fmt.Sprintf("trial %d", tr.Number)
		if tr.Predicted != nil {
			predicted++
			if tr.Number < warmup || len(tr.Predicted) != 3 || len(tr.PredictedStd) != 3 {
				t.Fatalf("trial %d: predicted %v ± %v", tr.Number, tr.Predicted, tr.PredictedStd)
			}
		}
	}
	if predicted == 0 {
		t.Fatal("no trial was chosen by screening")
	}
	for _, s := range sl.Screened {
		if prev, ok := seen[s.ArchHash]; ok {
			t.Fatalf("screened candidate %s was also %s", s.ArchHash, prev)
		}
		seen[s.ArchHash] = fmt.Sprintf("screened in round %d", s.Round)
		if s.Round < warmup || s.Round >= trials || len(s.Predicted) != 3 || len(s.PredictedStd) != 3 || s.Reason == "" || s.Params <= 0 || len(s.Arch) == 0 {
			t.Fatalf("screened candidate: %+v", s)
		}
		for i, sd := range s.PredictedStd {
			// Objectives 0 and 1 are predicted; 2 (params) is exact.
			if !(sd > 0) && i < 2 || sd != 0 && i == 2 || !(s.Predicted[i] > 0) {
				t.Fatalf("screened candidate: objective %d predicted %g ± %g", i, s.Predicted[i], sd)
			}
		}
	}
	// The device got the space's block probes once, as jobs of their own kind.
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM jobs WHERE device_id = $1 AND kind = 'probe'`, dev); n != 11 {
		t.Fatalf("%d probe jobs, want the lfm2-like space's 11", n)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trial_targets tt JOIN jobs j ON j.id = tt.job_id WHERE tt.search_id = $1 AND j.kind <> 'measure'`, id); n != 0 {
		t.Fatalf("%d probe jobs count as trials", n)
	}
	return len(sl.Screened)
}

// waitProbesFitted waits until the device's predictor was fitted with all
// 11 block probes.
func waitProbesFitted(t *testing.T, c *testenv.Coordinator, dev string, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		code, body := c.Do(t, "GET", "/api/v1/devices/"+dev+"/predictor", nil, c.Token)
		var dp api.DevicePredictors
		if err := json.Unmarshal(body, &dp); code != 200 || err != nil || len(dp.Predictors) != 1 {
			return fmt.Errorf("predictor: %d %.200s", code, body)
		}
		for k, m := range dp.Predictors[0].Predictor.Models {
			if m.Probes != 11 {
				return fmt.Errorf("%s fitted with %d probes", k, m.Probes)
			}
		}
		return nil
	})
}

// TestScreenedSearch: a screened search (analytic stand-in agent) measures
// its budget, screens candidates out after its warmup, and serves them.
func TestScreenedSearch(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Agent.RunStandIn(ctx, c.App.Bus.ClientURLs)
	dev := a.Resp.DeviceID
	const trials, warmup, batch = 14, 6, 8
	spec := screenedSpec(strings.Replace(testenv.SearchSpec(dev, "random", trials), `"max_in_flight_per_device":2`, `"max_in_flight_per_device":1`, 1), warmup, batch)
	id := createSearch(t, c, spec)
	waitSearch(t, c, id, 2*time.Minute, func(s searchState) bool { return s.State == "finished" || s.State == "failed" })
	n := checkScreened(t, c, id, dev, trials, warmup, batch)
	waitProbesFitted(t, c, dev, 30*time.Second)
	t.Logf("%d trials measured, %d candidates screened out", trials, n)

	// Screening off: every proposed candidate is measured.
	off := strings.Replace(spec, `"screening":{`, `"screening":{"off":true,`, 1)
	id = createSearch(t, c, off)
	waitSearch(t, c, id, 2*time.Minute, func(s searchState) bool { return s.State == "finished" || s.State == "failed" })
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/screened", nil, c.Token)
	if code != 200 || strings.TrimSpace(string(body)) != `{"screened":[]}` {
		t.Fatalf("screening off: %d %s", code, body)
	}
	if code, _ := c.Do(t, "GET", "/api/v1/searches/nope/screened", nil, c.Token); code != 404 {
		t.Fatalf("screened of an unknown search: %d", code)
	}
}
