package coordinator_test

import (
	"net/http"
	"strings"
	"testing"

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
