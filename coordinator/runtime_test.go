package coordinator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestRuntimeOfTargetsChecked: a search or job whose runtime no device of
// the target offers is refused at creation (400 naming the target), and
// accepted once a device's profile lists the runtime.
func TestRuntimeOfTargetsChecked(t *testing.T) {
	c := testenv.Start(t, nil)
	plain := newAgent(t)
	plain.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	llama := newAgent(t)
	body := enrollBody(llama, enrollmentToken(t, c), "x86-test-8g")
	body["profile"] = map[string]any{"cpu_model": "Test CPU", "runtimes": []map[string]any{
		{"name": "llama.cpp", "path": "/opt/llama-bench", "build_commit": "d775b89", "backends": "CPU"}}}
	code, resp := c.Do(t, "POST", "/api/v1/agents/enroll", body, "")
	if code != http.StatusCreated {
		t.Fatalf("enroll: %d %s", code, resp)
	}
	llamaID := strings.Split(strings.Split(string(resp), `"device_id":"`)[1], `"`)[0]

	spec := func(dev string) string {
		return strings.Replace(testenv.SearchSpec(dev, "random", 2), `"threads":2`, `"threads":2,"runtime":"llama.cpp"`, 1)
	}
	code, resp = c.Do(t, "POST", "/api/v1/searches", spec(plain.Resp.DeviceID), c.Token)
	if code != http.StatusBadRequest || !strings.Contains(string(resp), `"targets[0]"`) || !strings.Contains(string(resp), `target \"phone\": no matching device offers runtime llama.cpp`) {
		t.Fatalf("search on a device without llama.cpp: %d %s", code, resp)
	}
	p95 := strings.Replace(spec(llamaID), "decode_ms_p50@phone", "decode_ms_p95@phone", 1)
	code, resp = c.Do(t, "POST", "/api/v1/searches", p95, c.Token)
	if code != http.StatusBadRequest || !strings.Contains(string(resp), "gives no decode_ms_p95") {
		t.Fatalf("decode_ms_p95 on llama.cpp: %d %s", code, resp)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM searches`); n != 0 {
		t.Fatalf("refused searches created %d rows", n)
	}
	job := map[string]any{"preset": "lfm2-350m", "workload": map[string]any{"precision": "q4_0", "threads": 1, "prompt_lengths": []int{8},
		"runtime": "llama.cpp"}}
	code, resp = c.Do(t, "POST", "/api/v1/devices/"+plain.Resp.DeviceID+"/jobs", job, c.Token)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(resp), "workload.runtime") {
		t.Fatalf("job on a device without llama.cpp: %d %s", code, resp)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM jobs`); n != 0 {
		t.Fatalf("refused job created %d rows", n)
	}
	createSearch(t, c, spec(llamaID))
}

// TestFidelityCheck: a cross-check queues each spec on both runtimes of a
// device, and its report pairs the figures once the (stand-in) agent
// answered them all.
func TestFidelityCheck(t *testing.T) {
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	body := map[string]any{"token": c.EnrollmentToken(t), "nkey": a.Pub, "class": "x86-test-8g", "name": "stand-in",
		"profile": map[string]any{"runtimes": []map[string]any{{"name": "llama.cpp", "path": "/opt/llama-bench"}}}}
	code, resp := c.Do(t, "POST", "/api/v1/agents/enroll", body, "")
	if code != http.StatusCreated {
		t.Fatalf("enroll: %d %s", code, resp)
	}
	if err := json.Unmarshal(resp, &a.Resp); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.RunStandIn(ctx, func() []string { return a.Resp.NATS.URLs })

	w := map[string]any{"precision": "q4_0", "threads": 2, "prompt_lengths": []int{64}, "decode_depths": []int{0, 256}, "decode_tokens": 8}
	req := map[string]any{"workload": w, "specs": []map[string]any{{"preset": "lfm2-350m"}, {"preset": "lfm2-700m"}, {"preset": "lfm2-1.2b"}, {"preset": "lfm2-350m", "name": "again"}}}
	code, resp = c.Do(t, "POST", "/api/v1/devices/"+a.Resp.DeviceID+"/fidelity", req, c.Token)
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, resp)
	}
	var check api.FidelityCheck
	_ = json.Unmarshal(resp, &check)
	if len(check.Entries) != 4 || len(check.Entries[0].Jobs) != 2 || check.Entries[3].Name != "again" {
		t.Fatalf("check %s", resp)
	}
	var rep api.FidelityReport
	testenv.Eventually(t, time.Minute, func() error {
		_, body := c.Do(t, "GET", "/api/v1/fidelity/"+check.ID, nil, c.Token)
		rep = api.FidelityReport{}
		_ = json.Unmarshal(body, &rep)
		if !rep.Done {
			return fmt.Errorf("not done: %s", body)
		}
		return nil
	})
	if len(rep.Metrics) != 3 || rep.Metrics[0].Metric != "pp64" || rep.Metrics[2].Metric != "tg8@d256" {
		t.Fatalf("metrics %+v", rep.Metrics)
	}
	for _, m := range rep.Metrics {
		// The stand-in answers both runtimes with the same analytic numbers.
		if m.N != 4 || m.Spearman == nil || *m.Spearman < 0.99 || *m.RatioMedian != 1 {
			t.Errorf("%s: n %d, spearman %v, ratio %v", m.Metric, m.N, m.Spearman, m.RatioMedian)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM measurements WHERE runtime = 'llama.cpp'`); n != 4 {
		t.Errorf("%d llama.cpp measurements stored, want 4", n)
	}
	// A second check of the same device and workload reports together with
	// the first (?with=); one of another workload does not.
	req2 := map[string]any{"workload": w, "specs": []map[string]any{{"preset": "qwen3-0.6b"}}}
	code, resp = c.Do(t, "POST", "/api/v1/devices/"+a.Resp.DeviceID+"/fidelity", req2, c.Token)
	var check2 api.FidelityCheck
	if code != http.StatusAccepted || json.Unmarshal(resp, &check2) != nil {
		t.Fatalf("second check: %d %s", code, resp)
	}
	testenv.Eventually(t, time.Minute, func() error {
		_, body := c.Do(t, "GET", "/api/v1/fidelity/"+check.ID+"?with="+check2.ID, nil, c.Token)
		rep = api.FidelityReport{}
		_ = json.Unmarshal(body, &rep)
		if !rep.Done || len(rep.Rows) != 5 || rep.Metrics[0].N != 5 {
			return fmt.Errorf("joined report: %s", body)
		}
		return nil
	})
	other := map[string]any{"workload": map[string]any{"precision": "q8_0", "threads": 2, "prompt_lengths": []int{64}}, "specs": []map[string]any{{"preset": "lfm2-350m"}}}
	code, resp = c.Do(t, "POST", "/api/v1/devices/"+a.Resp.DeviceID+"/fidelity", other, c.Token)
	var check3 api.FidelityCheck
	if code != http.StatusAccepted || json.Unmarshal(resp, &check3) != nil {
		t.Fatalf("third check: %d %s", code, resp)
	}
	for _, with := range []string{check3.ID, "fnope"} {
		if code, body := c.Do(t, "GET", "/api/v1/fidelity/"+check.ID+"?with="+with, nil, c.Token); code != http.StatusBadRequest {
			t.Errorf("with=%s: %d %s", with, code, body)
		}
	}
	// Bad requests change nothing.
	for name, bad := range map[string]map[string]any{
		"no specs":      {"workload": w, "specs": []map[string]any{}},
		"runtime given": {"workload": map[string]any{"precision": "q4_0", "threads": 2, "prompt_lengths": []int{64}, "runtime": "native"}, "specs": []map[string]any{{"preset": "lfm2-350m"}}},
		"bad preset":    {"workload": w, "specs": []map[string]any{{"preset": "nope"}}},
	} {
		code, resp := c.Do(t, "POST", "/api/v1/devices/"+a.Resp.DeviceID+"/fidelity", bad, c.Token)
		if code != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", name, code, resp)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM fidelity_checks`); n != 3 {
		t.Errorf("%d cross-checks stored, want 3", n)
	}
	if code, _ := c.Do(t, "GET", "/api/v1/fidelity/fnope", nil, c.Token); code != http.StatusNotFound {
		t.Errorf("unknown check: %d", code)
	}
}

// TestSearchGuard: a search with a guard first cross-checks the LFM2
// presets on both runtimes of a target device that offers llama.cpp and
// starts no trial until every job of that cross-check ended; its page
// (GET) reports the guard. A guard with no device to run on is refused
// (400) and creates nothing.
func TestSearchGuard(t *testing.T) {
	c := testenv.Start(t, nil)
	plain := newAgent(t)
	plain.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	spec := func(dev, guard string) string {
		return strings.Replace(testenv.SearchSpec(dev, "random", 3), `"algorithm"`, `"guard":`+guard+`,"algorithm"`, 1)
	}
	for name, bad := range map[string]string{
		"no llama.cpp device": spec(plain.Resp.DeviceID, `{}`),
		"named device lacks":  spec(plain.Resp.DeviceID, `{"device":"`+plain.Resp.DeviceID+`"}`),
		"check id given":      spec(plain.Resp.DeviceID, `{"check_id":"fx"}`),
		"threshold":           spec(plain.Resp.DeviceID, `{"min_spearman":2}`),
	} {
		code, resp := c.Do(t, "POST", "/api/v1/searches", bad, c.Token)
		if code != http.StatusBadRequest || !strings.Contains(string(resp), `"guard`) {
			t.Errorf("%s: %d %s", name, code, resp)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT (SELECT count(*) FROM searches) + (SELECT count(*) FROM fidelity_checks) + (SELECT count(*) FROM jobs)`); n != 0 {
		t.Fatalf("refused guards created %d rows", n)
	}

	a := testenv.NewAgent(t)
	body := map[string]any{"token": c.EnrollmentToken(t), "nkey": a.Pub, "class": "x86-test-8g", "name": "stand-in",
		"profile": map[string]any{"runtimes": []map[string]any{{"name": "llama.cpp", "path": "/opt/llama-bench"}}}}
	code, resp := c.Do(t, "POST", "/api/v1/agents/enroll", body, "")
	if code != http.StatusCreated || json.Unmarshal(resp, &a.Resp) != nil {
		t.Fatalf("enroll: %d %s", code, resp)
	}
	// The device is online (its heartbeats) but measures nothing yet, so
	// the guard's jobs stay queued: a search without a guard starts trials
	// on it, the guarded one does not.
	nc, err := a.Connect(a.Resp.NATS.URLs)
	if err != nil {
		t.Fatal(err)
	}
	beats, stopBeats := context.WithCancel(context.Background())
	go func() {
		for beats.Err() == nil {
			_ = nc.Publish(a.Resp.NATS.HeartbeatSubj, []byte(`{"status":"idle"}`))
			select {
			case <-beats.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	id := createSearch(t, c, spec(a.Resp.DeviceID, `{"min_spearman":0.9}`))
	control := createSearch(t, c, testenv.SearchSpec(a.Resp.DeviceID, "random", 1))
	testenv.Eventually(t, time.Minute, func() error {
		if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trials WHERE search_id = $1`, control); n == 0 {
			return errors.New("the search without a guard has no trial yet")
		}
		return nil
	})
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trials WHERE search_id = $1`, id); n != 0 {
		t.Fatalf("the guarded search started %d trials before its cross-check was measured", n)
	}
	stopBeats()
	nc.Close()
	get := func() api.Search {
		_, body := c.Do(t, "GET", "/api/v1/searches/"+id, nil, c.Token)
		var se api.Search
		if err := json.Unmarshal(body, &se); err != nil {
			t.Fatal(err)
		}
		return se
	}
	g := get().Guard
	if g == nil || g.CheckID == "" || g.DeviceID != a.Resp.DeviceID || g.Done || g.MinSpearman != 0.9 {
		t.Fatalf("guard before any measurement: %+v", g)
	}
	// The four LFM2 presets, each on both runtimes.
	if n := testenv.QueryInt(t, c.DSN, `SELECT jsonb_array_length(entries) FROM fidelity_checks WHERE id = $1`, g.CheckID); n != 4 {
		t.Fatalf("the guard cross-checks %d presets, want the 4 LFM2 ones", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.RunStandIn(ctx, func() []string { return a.Resp.NATS.URLs })
	testenv.Eventually(t, 2*time.Minute, func() error {
		if se := get(); se.State != "finished" {
			return fmt.Errorf("search %s, progress %+v", se.State, se.Progress)
		}
		return nil
	})
	g = get().Guard
	if !g.Done || len(g.Metrics) != 2 || g.Warning != "" {
		t.Fatalf("guard after the search: %+v (the stand-in gives both runtimes the same numbers: no warning)", g)
	}
	for _, m := range g.Metrics {
		if m.N != 4 || m.Spearman == nil || *m.Spearman < 0.99 {
			t.Errorf("guard %s: n %d, Spearman %v", m.Metric, m.N, m.Spearman)
		}
	}
	// No trial started before the guard's last job ended.
	guardJobs := `SELECT x.v FROM fidelity_checks f, jsonb_array_elements(f.entries) e, jsonb_each_text(e->'jobs') AS x(k, v) WHERE f.id = $1`
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(finished_at) FROM jobs WHERE id IN (`+guardJobs+`)`, g.CheckID); n != 8 {
		t.Fatalf("%d of the guard's 8 jobs finished", n)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trials WHERE search_id = $2 AND created_at <
		(SELECT max(finished_at) FROM jobs WHERE id IN (`+guardJobs+`))`, g.CheckID, id); n != 0 {
		t.Fatalf("%d trials started before the guard ended", n)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trials WHERE search_id = $1`, id); n == 0 {
		t.Fatal("the search ran no trial after its guard")
	}
}
