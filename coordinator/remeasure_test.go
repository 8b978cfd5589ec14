package coordinator_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// remeasureSpec is testenv.SearchSpec (random, one job per device at a
// time) with the given remeasure option, trading decode latency (noisy)
// against params (exact): with peak RSS as a third objective every trial
// is on the front whatever the noise (RSS grows with params).
func remeasureSpec(dev string, trials int, remeasure string) string {
	return strings.NewReplacer(
		`{"metric":"peak_rss_mb@phone"},`, ``,
		`"max_in_flight_per_device":2`, `"max_in_flight_per_device":1`,
		`"seed":7}`, `"seed":7,"remeasure":`+remeasure+`}`,
	).Replace(testenv.SearchSpec(dev, "random", trials))
}

// TestNoisyFrontRemeasured: with a noisy stand-in (timings scaled by up to
// ±40%, spread reported), the driver re-measures trials whose front
// membership depends on noise, never more than remeasure.max in all nor
// max_per_trial per trial, pools each round into its trial (checked here
// against the stored measurements folded with search.PoolRepeats), and a
// coordinator restart keeps the counts. With remeasure off nothing is
// re-measured; bad remeasure values are refused with 400.
func TestNoisyFrontRemeasured(t *testing.T) {
	dataDir := t.TempDir()
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DataDir = dataDir })
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	a.StandInNoise = 0.4   // runs scatter by ±40% (σ 23%)
	a.StandInSpread = 0.03 // and report a 3% spread: their σ is far too narrow
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var urls atomic.Value // []string: the stand-in reconnects to the restarted coordinator
	urls.Store(c.App.Bus.ClientURLs())
	a.Agent.RunStandIn(ctx, func() []string { return urls.Load().([]string) })
	dev := a.Resp.DeviceID

	for _, bad := range []struct{ opt, field string }{
		{`{"max":-1}`, "remeasure.max"},
		{`{"max_per_trial":11}`, "remeasure.max_per_trial"},
		{`{"z":-2}`, "remeasure.z"},
		{`{"maximum":3}`, "remeasure"},
	} {
		code, body := c.Do(t, "POST", "/api/v1/searches", remeasureSpec(dev, 4, bad.opt), c.Token)
		if code != 400 || !strings.Contains(string(body), bad.field) {
			t.Fatalf("remeasure %s: %d %s", bad.opt, code, body)
		}
	}

	const trials, maxAll, perTrial = 16, 4, 2
	id := createSearch(t, c, remeasureSpec(dev, trials, `{"max":4,"max_per_trial":2}`))
	// Stop the coordinator once a round was pooled.
	testenv.Eventually(t, 90*time.Second, func() error {
		if qint(t, c.DSN, `SELECT coalesce(sum(remeasured), 0) FROM trials WHERE search_id = $1`, id) == 0 {
			return errors.New("no re-measurement pooled yet")
		}
		return nil
	})
	before := testenv.QueryString(t, c.DSN, `SELECT string_agg(number || ':' || remeasured, ',' ORDER BY number) FROM trials WHERE search_id = $1 AND remeasured > 0`, id)
	c.App.Close()

	// One pooled trial as a coordinator from before the optimizer's
	// revision left it: pooled in its row, its goptuna trial back at the
	// outcome Tell recorded. The restarted driver revises it
	// (reviseRemeasured).
	legacy := qint(t, c.DSN, `SELECT min(number) FROM trials WHERE search_id = $1 AND remeasured > 0`, id)
	legacyRounds := qint(t, c.DSN, `SELECT remeasured FROM trials WHERE search_id = $1 AND number = $2`, id, legacy)
	if n := testenv.Exec(t, c.DSN, `UPDATE study_trial_attrs a SET value = f.value::jsonb->>'values'
		FROM trials t, study_trial_attrs f
		WHERE t.search_id = $1 AND t.number = $2 AND a.trial_id = t.study_trial AND a.kind = 'system' AND a.key = 'hil:values'
		  AND f.trial_id = t.study_trial AND f.kind = 'system' AND f.key = 'hil:first_outcome'`, id, legacy).RowsAffected(); n != 1 {
		t.Fatalf("pooled trial %d: %d optimizer outcomes put back, want 1 (no hil:first_outcome: the pooling did not revise it)", legacy, n)
	}
	testenv.Exec(t, c.DSN, `UPDATE study_trials s SET value = (a.value::jsonb->>0)::float8 FROM trials t, study_trial_attrs a
		WHERE t.search_id = $1 AND t.number = $2 AND s.id = t.study_trial AND a.trial_id = s.id AND a.kind = 'system' AND a.key = 'hil:values'`, id, legacy)
	testenv.Exec(t, c.DSN, `DELETE FROM study_trial_attrs a USING trials t WHERE t.search_id = $1 AND t.number = $2
		AND a.trial_id = t.study_trial AND a.key = 'hil:first_outcome'`, id, legacy)

	c2 := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DatabaseURL = c.DSN; cfg.DataDir = dataDir })
	urls.Store(c2.App.Bus.ClientURLs())
	waitSearch(t, c2, id, 2*time.Minute, func(s searchState) bool { return s.State == "finished" || s.State == "failed" })

	// Bounded: at most max rounds, at most max_per_trial per trial, one
	// job per round (one target), every round ended.
	rounds := qint(t, c.DSN, `SELECT count(DISTINCT (number, round)) FROM remeasures WHERE search_id = $1`, id)
	if rounds < 1 || rounds > maxAll {
		t.Fatalf("%d re-measurement rounds, want 1..%d", rounds, maxAll)
	}
	if n := qint(t, c.DSN, `SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM remeasures WHERE search_id = $1 GROUP BY number) x`, id); n > perTrial {
		t.Fatalf("a trial was re-measured %d times, bound %d", n, perTrial)
	}
	if n := qint(t, c.DSN, `SELECT count(*) FROM remeasures r JOIN jobs j ON j.id = r.job_id WHERE r.search_id = $1`, id); n != rounds {
		t.Fatalf("%d re-measurement jobs for %d rounds", n, rounds)
	}
	if n := qint(t, c.DSN, `SELECT count(*) FROM remeasures WHERE search_id = $1 AND state = 'running'`, id); n != 0 {
		t.Fatalf("%d rounds still running after the search finished", n)
	}
	pooled := qint(t, c.DSN, `SELECT count(*) FROM remeasures WHERE search_id = $1 AND state = 'pooled'`, id)
	if n := qint(t, c.DSN, `SELECT coalesce(sum(remeasured), 0) FROM trials WHERE search_id = $1`, id); n != pooled {
		t.Fatalf("trials count %d pooled re-measurements, remeasures %d", n, pooled)
	}
	// The restart kept the counts: every trial re-measured before the
	// stop still counts at least as many.
	for _, kv := range strings.Split(before, ",") {
		num, cnt, _ := strings.Cut(kv, ":")
		if n := qint(t, c.DSN, `SELECT remeasured FROM trials WHERE search_id = $1 AND number = `+num, id); n < mustAtoi(t, cnt) {
			t.Fatalf("trial %s: %d re-measurements after the restart, %s before", num, n, cnt)
		}
	}

	// The API reports them, and a re-measured trial's values are its
	// measurements pooled.
	code, body := c2.Do(t, "GET", "/api/v1/searches/"+id, nil, c2.Token)
	var se api.Search
	if err := json.Unmarshal(body, &se); code != 200 || err != nil || se.Progress.Remeasured != rounds {
		t.Fatalf("search: %d %v, remeasured %d want %d", code, err, se.Progress.Remeasured, rounds)
	}
	code, body = c2.Do(t, "GET", "/api/v1/searches/"+id+"/pareto", nil, c2.Token)
	var pv api.ParetoView
	if err := json.Unmarshal(body, &pv); code != 200 || err != nil {
		t.Fatalf("pareto: %d %s", code, body)
	}
	checked, inflated := 0, 0
	var onceR []float64
	for _, p := range pv.Points {
		if len(p.Std) != 2 || !(p.Std[0] > 0) || p.Std[1] != 0 {
			t.Fatalf("trial %d: std %v, want decode > 0, params exact", p.Trial, p.Std)
		}
		if p.Remeasured == 0 {
			// Measured once: its within-run spread widened by the noise
			// as last estimated, the same r for every such trial.
			code, body := c2.Do(t, "GET", "/api/v1/searches/"+id+"/trials/"+strconv.Itoa(p.Trial), nil, c2.Token)
			var tr api.Trial
			if err := json.Unmarshal(body, &tr); code != 200 || err != nil {
				t.Fatalf("trial %d: %d %v", p.Trial, code, err)
			}
			x := tr.Targets[0].Measurement.Decode[0].MsPerToken
			if sd := x.P50 * x.RelSpread; p.Std[0] < sd*(1-1e-9) {
				t.Fatalf("trial %d: decode spread %g below its measurement's %g", p.Trial, p.Std[0], sd)
			} else {
				onceR = append(onceR, math.Sqrt(max(0, p.Std[0]*p.Std[0]-sd*sd))/x.P50)
			}
			continue
		}
		checked++
		code, body := c2.Do(t, "GET", "/api/v1/searches/"+id+"/trials/"+strconv.Itoa(p.Trial), nil, c2.Token)
		var tr api.Trial
		if err := json.Unmarshal(body, &tr); code != 200 || err != nil || tr.Remeasured != p.Remeasured {
			t.Fatalf("trial %d: %d %v remeasured %d", p.Trial, code, err, tr.Remeasured)
		}
		ms := []*wire.Measurement{tr.Targets[0].Measurement}
		for _, raw := range testenv.Query[[]string](t, c.DSN, `SELECT array_agg(m.metrics::text ORDER BY r.round) FROM remeasures r JOIN measurements m ON m.job_id = r.job_id
			WHERE r.search_id = $1 AND r.number = $2 AND r.state = 'pooled'`, id, p.Trial) {
			m := new(wire.Measurement)
			if err := json.Unmarshal([]byte(raw), m); err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		if len(ms) != p.Remeasured+1 {
			t.Fatalf("trial %d: %d measurements for %d re-measurements", p.Trial, len(ms), p.Remeasured)
		}
		// The pooled value and spread: each repeat's spread widened by the
		// between-run noise r the search had estimated when the round was
		// pooled (0 before enough repeats), then inverse-variance pooled.
		// r is not stored: find the r ≥ 0 that gives the stored spread
		// (the pooled spread grows with r), then the value must be the
		// pooling with that r.
		pool := func(r float64) (float64, float64) {
			x := ms[0].Decode[0].MsPerToken
			v, sd := x.P50, search.WithExcessNoise(x.P50, x.P50*x.RelSpread, r)
			for _, m := range ms[1:] {
				x := m.Decode[0].MsPerToken
				v, sd = search.PoolRepeats(v, sd, x.P50, search.WithExcessNoise(x.P50, x.P50*x.RelSpread, r))
			}
			return v, sd
		}
		r := 0.0
		if _, sd0 := pool(0); p.Std[0] > sd0*(1+1e-9) {
			lo, hi := 0.0, 10.0
			for range 200 {
				if _, sd := pool((lo + hi) / 2); sd < p.Std[0] {
					lo = (lo + hi) / 2
				} else {
					hi = (lo + hi) / 2
				}
			}
			r = hi
			inflated++
		}
		v, sd := pool(r)
		if math.Abs(p.Values[0]-v) > 1e-6*v || math.Abs(p.Std[0]-sd) > 1e-6*sd || math.Abs(tr.ObjectivesStd[0]-sd) > 1e-6*sd {
			t.Fatalf("trial %d: decode %g ± %g, pooled measurements give %g ± %g (between-run noise %g)", p.Trial, p.Values[0], p.Std[0], v, sd, r)
		}
		if r == 0 && sd >= ms[0].Decode[0].MsPerToken.P50*ms[0].Decode[0].MsPerToken.RelSpread {
			t.Fatalf("trial %d: pooling did not narrow the spread (%g)", p.Trial, sd)
		}
		t.Logf("trial %d: %d measurements pooled, between-run noise %.3g", p.Trial, len(ms), r)
	}
	if checked == 0 {
		t.Fatal("no complete trial shows a pooled re-measurement")
	}
	// The stand-in's runs scatter far beyond their repetitions' spread, so
	// once search.MinExcessNoiseDOF differences are pooled (the third
	// pooled round on), a pooling uses a positive between-run noise.
	if pooled >= search.MinExcessNoiseDOF && inflated == 0 {
		t.Fatalf("%d rounds pooled, none with the between-run noise", pooled)
	}
	for _, r := range onceR {
		if pooled >= search.MinExcessNoiseDOF && !(r > 0.01) || math.Abs(r-onceR[0]) > 1e-6*max(onceR[0], 1e-3) {
			t.Fatalf("trials measured once carry between-run noise %v (%d rounds pooled): want one positive r", onceR, pooled)
		}
	}
	t.Logf("%d trials measured once, between-run noise %v", len(onceR), onceR)

	// The optimizer learns from the pooled values: every complete trial's
	// goptuna trial holds its row's outcome (a re-measured one its pooled
	// outcome, the first one kept beside it).
	type optRow struct {
		Number, Remeasured int
		Objectives         []float64
		Violation          float64
		Value              float64
		Values, First      *string
	}
	rows := testenv.Query[[]string](t, c.DSN, `SELECT coalesce(array_agg(json_build_object('Number', t.number, 'Remeasured', t.remeasured,
		'Objectives', t.objectives, 'Violation', coalesce(t.violation, 0), 'Value', s.value,
		'Values', (SELECT value FROM study_trial_attrs WHERE trial_id = s.id AND kind = 'system' AND key = 'hil:values'),
		'First', (SELECT value FROM study_trial_attrs WHERE trial_id = s.id AND kind = 'system' AND key = 'hil:first_outcome'))::text ORDER BY t.number), '{}')
		FROM trials t JOIN study_trials s ON s.id = t.study_trial WHERE t.search_id = $1 AND t.state = 'complete'`, id)
	revised := 0
	for _, raw := range rows {
		var r optRow
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatal(err)
		}
		var vals []float64
		if r.Values == nil || json.Unmarshal([]byte(*r.Values), &vals) != nil || !slices.Equal(vals, r.Objectives) || r.Value != r.Objectives[0] {
			t.Fatalf("trial %d (re-measured %d): optimizer holds %v (value %g), trial row %v", r.Number, r.Remeasured, vals, r.Value, r.Objectives)
		}
		if (r.First != nil) != (r.Remeasured > 0) {
			t.Fatalf("trial %d re-measured %d times, first outcome kept: %v", r.Number, r.Remeasured, r.First)
		}
		if r.First != nil {
			var first search.Outcome
			if err := json.Unmarshal([]byte(*r.First), &first); err != nil {
				t.Fatal(err)
			}
			if first.Values[0] == r.Objectives[0] {
				t.Fatalf("trial %d: pooled decode latency %g equals the first measurement's", r.Number, first.Values[0])
			}
			revised++
		}
	}
	if revised == 0 {
		t.Fatal("no re-measured trial revised in the optimizer")
	}
	legacyNow := qint(t, c.DSN, `SELECT remeasured FROM trials WHERE search_id = $1 AND number = $2`, id, legacy)
	t.Logf("%d trials revised in the optimizer; trial %d, put back before the restart, pooled %d rounds before it and %d after (0: revised by the restart alone)",
		revised, legacy, legacyRounds, legacyNow-legacyRounds)
	t.Logf("%d rounds (%d pooled) over %d trials; re-measured before the restart: %s", rounds, pooled, trials, before)

	// Off: nothing is re-measured.
	id = createSearch(t, c2, remeasureSpec(dev, 6, `{"off":true}`))
	waitSearch(t, c2, id, time.Minute, func(s searchState) bool { return s.State == "finished" || s.State == "failed" })
	if n := qint(t, c.DSN, `SELECT count(*) FROM remeasures WHERE search_id = $1`, id); n != 0 {
		t.Fatalf("remeasure off: %d rounds", n)
	}
}

// qint is testenv.QueryInt as an int.
func qint(t *testing.T, dsn, sql string, args ...any) int {
	t.Helper()
	return int(testenv.QueryInt(t, dsn, sql, args...))
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
