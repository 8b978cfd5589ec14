package coordinator_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/search"
)

func createSearch(t *testing.T, c *testenv.Coordinator, body string) string {
	t.Helper()
	code, resp := c.Do(t, "POST", "/api/v1/searches", body, c.Token)
	if code != http.StatusCreated {
		t.Fatalf("create search: %d %s", code, resp)
	}
	var se struct{ ID string }
	_ = json.Unmarshal(resp, &se)
	return se.ID
}

type searchState struct {
	State    string
	Error    *string
	Progress struct{ MaxTrials, Running, Complete, Failed, Rejected int }
}

func waitSearch(t *testing.T, c *testenv.Coordinator, id string, timeout time.Duration, ok func(searchState) bool) searchState {
	t.Helper()
	var se searchState
	testenv.Eventually(t, timeout, func() error {
		_, body := c.Do(t, "GET", "/api/v1/searches/"+id, nil, c.Token)
		se = searchState{}
		_ = json.Unmarshal(body, &se)
		if !ok(se) {
			return fmt.Errorf("search %s", body)
		}
		return nil
	})
	return se
}

func TestSearchRunsToBudgetAndServesResults(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sa := a.Agent
	sa.RunStandIn(ctx, c.App.Bus.ClientURLs)
	id := createSearch(t, c, testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 14))
	se := waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete+se.Progress.Failed != 14 || se.Progress.Complete < 12 {
		t.Fatalf("finished with %+v, want 14 trials", se.Progress)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(DISTINCT number) FROM trials WHERE search_id = $1`, id); n != 14 {
		t.Fatalf("%d trials stored", n)
	}

	code, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/pareto", nil, c.Token)
	var pv struct {
		Points []struct{ Front bool }
		Front  []int
	}
	if err := json.Unmarshal(body, &pv); code != 200 || err != nil || len(pv.Front) == 0 || len(pv.Points) != se.Progress.Complete {
		t.Fatalf("pareto: %d %s", code, body)
	}
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/hypervolume", nil, c.Token)
	var hv struct {
		Reference []float64
		History   []struct{ Hypervolume float64 }
	}
	if err := json.Unmarshal(body, &hv); code != 200 || err != nil || len(hv.History) != se.Progress.Complete || hv.History[len(hv.History)-1].Hypervolume <= 0 {
		t.Fatalf("hypervolume: %d %s", code, body)
	}
	for i := 1; i < len(hv.History); i++ {
		if hv.History[i].Hypervolume < hv.History[i-1].Hypervolume {
			t.Fatalf("hypervolume decreased at %d: %v", i, hv.History)
		}
	}
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/export?format=csv", nil, c.Token)
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if code != 200 || err != nil || len(rows) != 15 || rows[0][0] != "trial" {
		t.Fatalf("csv: %d %v %d rows", code, err, len(rows))
	}
	front := pv.Front[0]
	code, body = c.Do(t, "GET", fmt.Sprintf("/api/v1/searches/%s/export?format=hf&trial=%d", id, front), nil, c.Token)
	var hf map[string]any
	if err := json.Unmarshal(body, &hf); code != 200 || err != nil || hf["model_type"] != "lfm2" {
		t.Fatalf("hf export: %d %s", code, body)
	}
	code, body = c.Do(t, "GET", fmt.Sprintf("/api/v1/searches/%s/export?format=json&trial=%d", id, front), nil, c.Token)
	if _, err := arch.ParseValid(body); code != 200 || err != nil {
		t.Fatalf("json export: %d %v", code, err)
	}
	code, body = c.Do(t, "GET", fmt.Sprintf("/api/v1/searches/%s/trials?sort=-objective:2&limit=5&offset=2&state=complete", id), nil, c.Token)
	var page struct {
		Trials []struct{ Objectives []float64 }
		Total  int
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Trials) != 5 || page.Total != se.Progress.Complete {
		t.Fatalf("trials page: %d %s", code, body)
	}
	for i := 1; i < len(page.Trials); i++ {
		if page.Trials[i].Objectives[2] > page.Trials[i-1].Objectives[2] {
			t.Fatalf("trials not sorted by objective 2 descending: %s", body)
		}
	}
	// A second search over the same space reuses cached measurements.
	id2 := createSearch(t, c, testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 14))
	waitSearch(t, c, id2, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	cached := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trial_targets WHERE search_id = $1 AND job_id IS NULL AND measurement_id IS NOT NULL`, id2)
	if cached == 0 {
		t.Fatalf("the same seed and space measured everything again; the measurement cache was not used")
	}
}

func TestBadSearchSpecsCreateNothing(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	good := testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 10)
	cases := map[string]struct{ body, field string }{
		"unknown metric":        {strings.Replace(good, "decode_ms_p50@phone", "joules@phone", 1), "objectives[0].metric"},
		"objective off targets": {strings.Replace(good, "peak_rss_mb@phone", "peak_rss_mb@laptop", 1), "objectives[1].metric"},
		"empty space":           {strings.Replace(good, `"space":{"preset":"lfm2-like"}`, `"space":{}`, 1), "space"},
		"impossible budget":     {strings.Replace(good, `"space":{"preset":"lfm2-like"}`, `"space":{"preset":"lfm2-like","params":{"min":1,"max":1000}}`, 1), "space.params"},
		"unknown device":        {strings.Replace(good, a.Resp.DeviceID, "dnope", 1), "targets[0]"},
		"unknown algorithm":     {strings.Replace(good, `"algorithm":"nsga2","nsga2":{"population":6},`, `"algorithm":"grid",`, 1), "algorithm"},
		"unknown field":         {strings.Replace(good, `"seed":7`, `"seed":7,"turbo":true`, 1), "turbo"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, body := c.Do(t, "POST", "/api/v1/searches", tc.body, c.Token)
			if code != 400 || !strings.Contains(string(body), `"search_invalid"`) || !strings.Contains(string(body), tc.field) {
				t.Fatalf("got %d %s; want 400 naming %s", code, body, tc.field)
			}
		})
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM searches`); n != 0 {
		t.Fatalf("bad specs created %d searches", n)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM studies`); n != 0 {
		t.Fatalf("bad specs created %d studies", n)
	}
}

// TestSearchSurvivesRestart: the coordinator stops mid-search; a new one on
// the same database continues from PostgreSQL and ends with exactly
// max_trials trials, numbered 0..n-1, and NSGA-II's populations from before
// the stop are kept.
func TestSearchSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DataDir = dataDir })
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var urls atomic.Value // []string: the stand-in reconnects to the restarted coordinator
	urls.Store(c.App.Bus.ClientURLs())
	cur := func() []string { return urls.Load().([]string) }
	sa := a.Agent
	sa.RunStandIn(ctx, cur)
	id := createSearch(t, c, testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 20))
	waitSearch(t, c, id, 60*time.Second, func(s searchState) bool { return s.Progress.Complete >= 8 })
	// The first population (6 trials) is stored when the driver asks for
	// the next trial after the 6th result, which can follow the progress
	// the test polls by a moment; wait for it rather than race it.
	var before string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if before = populations(t, c.DSN, id); len(before) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no NSGA-II population stored 30 s after 8 trials completed: %q", before)
		}
	}
	c.App.Close() // abrupt: no graceful HTTP shutdown, drivers stop mid-step

	c2 := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DatabaseURL = c.DSN; cfg.DataDir = dataDir })
	urls.Store(c2.App.Bus.ClientURLs())
	se := waitSearch(t, c2, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete+se.Progress.Failed != 20 {
		t.Fatalf("after restart: %+v, want exactly 20 trials", se.Progress)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trials WHERE search_id = $1 AND number BETWEEN 0 AND 19`, id); n != 20 {
		t.Fatalf("trial numbers: %d of 0..19", n)
	}
	after := populations(t, c.DSN, id)
	t.Logf("populations before the stop %s\nafter the search %s", before, after)
	if len(after) < len(before) || (len(before) > 0 && !strings.HasPrefix(after, before[:len(before)-1])) {
		t.Fatalf("NSGA-II populations changed across the restart:\nbefore %s\nafter  %s", before, after)
	}
}

// populations reads NSGA-II's stored populations of a search's study.
func populations(t *testing.T, dsn, searchID string) string {
	return fmt.Sprint(testenv.QueryString(t, dsn, `SELECT coalesce((SELECT value FROM study_attrs sa JOIN studies s ON s.id = sa.study_id
		WHERE s.name = 'search-' || $1 AND sa.kind = 'system' AND sa.key = $2), '')`, searchID, search.StudyAttrPopulations))
}

// TestTwoCoordinatorsNeverDriveOneSearch: of two coordinators on one
// database exactly one drives a search; when it stops, the other takes over.
func TestTwoCoordinatorsNeverDriveOneSearch(t *testing.T) {
	c1 := testenv.Start(t, nil)
	c2 := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DatabaseURL = c1.DSN })
	a := newAgent(t)
	a.enroll(t, c1, enrollmentToken(t, c1), "x86-test-8g")
	id := createSearch(t, c1, testenv.SearchSpec(a.Resp.DeviceID, "random", 5))
	c2.App.Drivers.Kick(id)
	holders := func() int {
		n := 0
		for _, c := range []*testenv.Coordinator{c1, c2} {
			for _, d := range c.App.Drivers.Driving() {
				if d == id {
					n++
				}
			}
		}
		return n
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if holders() != 1 {
			return fmt.Errorf("%d drivers", holders())
		}
		return nil
	})
	for range 20 { // both keep scanning; never two drivers
		c1.App.Drivers.Kick(id)
		c2.App.Drivers.Kick(id)
		if n := holders(); n != 1 {
			t.Fatalf("%d coordinators drive the search", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	first := c1
	if len(c1.App.Drivers.Driving()) == 0 {
		first = c2
	}
	first.App.Close()
	other := c1
	if first == c1 {
		other = c2
	}
	testenv.Eventually(t, 15*time.Second, func() error {
		if len(other.App.Drivers.Driving()) != 1 {
			return errors.New("the other coordinator did not take the search over")
		}
		return nil
	})
}

// TestLFM2References: the LFM2 presets are measured on request with the
// search's workload on its target device and come back as reference
// points with objective values.
func TestLFM2References(t *testing.T) {
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "x86-test-8g")
	id := createSearch(t, c, testenv.SearchSpec(a.Resp.DeviceID, "random", 2))
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/references", nil, c.Token)
	if code != 200 || strings.Contains(string(body), `"measured":true`) || !strings.Contains(string(body), `"lfm2-350m"`) {
		t.Fatalf("before measuring: %d %s", code, body)
	}
	code, body = c.Do(t, "POST", "/api/v1/searches/"+id+"/references", nil, c.Token)
	if code != 202 || !strings.Contains(string(body), `"queued_jobs":4`) {
		t.Fatalf("measure references: %d %s", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.RunStandIn(ctx, c.App.Bus.ClientURLs)
	var refs struct {
		References []struct {
			Preset   string
			Measured bool
			Values   []float64
		}
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/references", nil, c.Token)
		refs.References = nil
		_ = json.Unmarshal(body, &refs)
		for _, r := range refs.References {
			if !r.Measured || len(r.Values) != 3 {
				return fmt.Errorf("%s", body)
			}
		}
		return nil
	})
	if len(refs.References) != 4 || refs.References[0].Values[2] != 354483968 {
		t.Fatalf("references: %+v", refs.References)
	}
}

// TestReferencesSpreadOverDevices: the references of a target matching two
// online devices are measured on both, not queued on the first one while
// the second sits idle.
func TestReferencesSpreadOverDevices(t *testing.T) {
	c := testenv.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var agents []*testenv.Agent
	for range 2 {
		a := testenv.NewAgent(t)
		a.Enroll(t, c, "x86-spread")
		a.RunStandIn(ctx, c.App.Bus.ClientURLs)
		agents = append(agents, a)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/devices", nil, c.Token)
		if n := strings.Count(string(body), `"status":"online"`); n != 2 {
			return fmt.Errorf("%d online: %s", n, body)
		}
		return nil
	})
	spec := strings.Replace(testenv.SearchSpec(agents[0].Resp.DeviceID, "random", 2),
		`"devices":["`+agents[0].Resp.DeviceID+`"]`, `"class":"x86-spread"`, 1)
	id := createSearch(t, c, spec)
	code, body := c.Do(t, "POST", "/api/v1/searches/"+id+"/references", nil, c.Token)
	if code != 202 || !strings.Contains(string(body), `"queued_jobs":4`) {
		t.Fatalf("measure references: %d %s", code, body)
	}
	perDevice := map[string]int{}
	testenv.Eventually(t, 60*time.Second, func() error {
		clear(perDevice)
		parsed, _ := search.Parse([]byte(spec))
		wl := parsed.Workload.Normalize()
		for _, name := range []string{"lfm2-350m", "lfm2-700m", "lfm2-1.2b", "lfm2-2.6b"} {
			p, err := arch.Preset(name)
			if err != nil {
				return err
			}
			found := false
			for _, a := range agents {
				m, err := c.App.Store.LatestMeasurement(ctx, p.Hash(), a.Resp.DeviceID, wl.Hash())
				if err != nil {
					return err
				}
				if m != nil {
					perDevice[a.Resp.DeviceID]++
					found = true
				}
			}
			if !found {
				return fmt.Errorf("%s not measured yet", name)
			}
		}
		return nil
	})
	for _, a := range agents {
		if perDevice[a.Resp.DeviceID] != 2 {
			t.Fatalf("references per device: %v, want 2 on each", perDevice)
		}
	}
}

// TestTrialTargetsSpreadOverDevices: a trial whose two targets match the
// same two online devices measures on both, not twice on the first.
func TestTrialTargetsSpreadOverDevices(t *testing.T) {
	c := testenv.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		a := testenv.NewAgent(t)
		a.Enroll(t, c, "x86-pair")
		a.RunStandIn(ctx, c.App.Bus.ClientURLs)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/devices", nil, c.Token)
		if n := strings.Count(string(body), `"status":"online"`); n != 2 {
			return fmt.Errorf("%d online: %s", n, body)
		}
		return nil
	})
	id := createSearch(t, c, `{"name":"pair","space":{"preset":"lfm2-like"},
	 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[512],"decode_depths":[0],"decode_tokens":16},
	 "targets":[{"name":"a","class":"x86-pair"},{"name":"b","class":"x86-pair"}],
	 "objectives":[{"metric":"decode_ms_p50@a"},{"metric":"decode_ms_p50@b"},{"metric":"params","direction":"maximize"}],
	 "budget":{"max_trials":3,"max_in_flight_per_device":1},"algorithm":"random","seed":3}`)
	testenv.Eventually(t, 60*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/searches/"+id, nil, c.Token)
		if !strings.Contains(string(body), `"state":"finished"`) {
			return fmt.Errorf("%s", body)
		}
		return nil
	})
	for n := range 3 {
		_, body := c.Do(t, "GET", fmt.Sprintf("/api/v1/searches/%s/trials/%d", id, n), nil, c.Token)
		var tr struct {
			State   string
			Targets []struct {
				Target   string `json:"target"`
				DeviceID string `json:"device_id"`
			}
		}
		if err := json.Unmarshal(body, &tr); err != nil || len(tr.Targets) != 2 {
			t.Fatalf("trial %d: %v %s", n, err, body)
		}
		if tr.Targets[0].DeviceID == tr.Targets[1].DeviceID {
			t.Fatalf("trial %d measured both targets on %s while the other device was idle: %s", n, tr.Targets[0].DeviceID, body)
		}
	}
}
