package coordinator_test

import (
	"context"
	"encoding/json"
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
