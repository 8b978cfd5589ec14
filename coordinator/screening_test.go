package coordinator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	// The device time saved: the screened count times the mean device
	// time (the measuring child's started_at..finished_at) of the trials.
	mean := testenv.Query[float64](t, c.DSN, `SELECT avg(extract(epoch FROM (m.metrics->>'finished_at')::timestamptz - (m.metrics->>'started_at')::timestamptz))
		FROM trial_targets tt JOIN measurements m ON m.job_id = tt.job_id OR m.id = tt.measurement_id WHERE tt.search_id = $1`, id)
	if v := se.Savings; v == nil || v.Screened != se.Progress.Screened || v.MeasuredTrials != trials || !(mean > 0) ||
		math.Abs(v.MeanTrialSeconds-mean) > 1e-9*mean || math.Abs(v.SavedSeconds-float64(v.Screened)*mean) > 1e-9*v.SavedSeconds {
		t.Fatalf("savings %+v; want %d screened × the mean %gs of %d trials", v, se.Progress.Screened, mean, trials)
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

// TestScreenedSearchWithRealAgent: a real device-agent process measures a
// screened NSGA-II search over the lfm2-like space with the runtime's
// kernels (tiny workload), and the space's block probes: the search
// measures its budget, fewer than it proposed, and serves the screened-out
// candidates. It logs the device time the screened candidates would have
// taken at the median measurement time of its trials (an estimate: a
// screened candidate's own time is unknown).
func TestScreenedSearchWithRealAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real agent measures lfm2-sized models and probes for minutes")
	}
	bin := buildAgent(t)
	c := testenv.Start(t, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.json")
	tok := enrollmentToken(t, c)
	if out, err := exec.Command(bin, "enroll", "--coordinator", c.URL, "--token", tok, "--config", cfg, "--name", "e2e", "--tags", "local").CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v: %s", err, out)
	}
	var ac struct {
		DeviceID string `json:"device_id"`
	}
	data, _ := os.ReadFile(cfg)
	if err := json.Unmarshal(data, &ac); err != nil || ac.DeviceID == "" {
		t.Fatalf("agent config: %v %s", err, data)
	}
	run := exec.Command(bin, "run", "--config", cfg, "--state-dir", filepath.Join(dir, "state"))
	var logs bytes.Buffer
	run.Stdout, run.Stderr = &logs, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = run.Process.Signal(syscall.SIGTERM)
		_ = run.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	const trials, warmup, batch = 7, 4, 6
	spec := screenedSpec(strings.NewReplacer(
		`"prompt_lengths":[512],"decode_depths":[0],"decode_length":16`,
		`"prompt_lengths":[8],"decode_depths":[0],"decode_length":2,"repetitions":2,"max_repetitions":3`,
		`"max_in_flight_per_device":2`, `"max_in_flight_per_device":1`,
		`"population":6`, `"population":4`,
	).Replace(testenv.SearchSpec(ac.DeviceID, "nsga2", trials)), warmup, batch)
	id := createSearch(t, c, spec)
	se := waitSearch(t, c, id, 12*time.Minute, func(s searchState) bool { return s.State == "finished" || s.State == "failed" })
	if se.State != "finished" {
		t.Fatalf("search ended %s: %+v", se.State, se)
	}
	n := checkScreened(t, c, id, ac.DeviceID, trials, warmup, batch)
	// Every trial and probe was measured by the real agent.
	if m := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM measurements m JOIN jobs j ON j.id = m.job_id
		WHERE j.device_id = $1 AND m.kernel_variant <> 'stand-in' AND (m.metrics->>'peak_rss_bytes')::bigint > 0`, ac.DeviceID); m < trials {
		t.Fatalf("%d real measurements, want at least %d", m, trials)
	}
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id, nil, c.Token)
	var got api.Search
	if err := json.Unmarshal(body, &got); code != 200 || err != nil || got.Savings == nil || got.Savings.Screened != n || !(got.Savings.SavedSeconds > 0) {
		t.Fatalf("search savings: %d %v %+v", code, err, got.Savings)
	}
	t.Logf("proposed %d, measured %d, screened out %d; at the mean measured trial's %.1fs of device time that saved about %.0fs (GET /searches/{id} savings)",
		trials+n, trials, n, got.Savings.MeanTrialSeconds, got.Savings.SavedSeconds)
}
