package coordinator_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

var (
	agentBinOnce sync.Once
	agentBin     string
	agentBinErr  error
)

// buildAgent builds ./cmd/device-agent once per test run.
func buildAgent(t *testing.T) string {
	agentBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hil-agent-bin")
		if err != nil {
			agentBinErr = err
			return
		}
		agentBin = filepath.Join(dir, "device-agent")
		out, err := exec.Command("go", "build", "-o", agentBin, "../cmd/device-agent").CombinedOutput()
		if err != nil {
			agentBinErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if agentBinErr != nil {
		t.Fatal(agentBinErr)
	}
	return agentBin
}

// TestSearchWithRealAgent is the end-to-end search: a real device-agent
// process (enrolled with a one-time token) measures every candidate of an
// NSGA-II search over the lfm2-like space with the runtime's kernels, with
// a tiny workload, until the budget is spent; then the Pareto front,
// hypervolume history and exports are served.
func TestSearchWithRealAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real agent measures lfm2-sized models for about a minute")
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
	spec := strings.NewReplacer(
		`"prompt_lengths":[512],"decode_depths":[0],"decode_length":16`,
		`"prompt_lengths":[8],"decode_depths":[0],"decode_length":2,"repetitions":2,"max_repetitions":3`,
		`"max_in_flight_per_device":2`, `"max_in_flight_per_device":1`,
		`"population":6`, `"population":4`,
	).Replace(testenv.SearchSpec(ac.DeviceID, "nsga2", 6))
	id := createSearch(t, c, spec)
	se := waitSearch(t, c, id, 8*time.Minute, func(s searchState) bool { return s.State == "finished" || s.State == "failed" })
	if se.State != "finished" || se.Progress.Complete != 6 {
		_, trials := c.Do(t, "GET", "/api/v1/searches/"+id+"/trials", nil, c.Token)
		t.Fatalf("search ended %s with %+v: %s", se.State, se.Progress, trials)
	}
	// Every trial was measured by the real agent with the runtime's kernels.
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trial_targets tt JOIN measurements m ON m.job_id = tt.job_id
		WHERE tt.search_id = $1 AND m.kernel_variant <> 'stand-in' AND (m.metrics->>'peak_rss_bytes')::bigint > 0`, id); n != 6 {
		t.Fatalf("%d real measurements, want 6", n)
	}
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/pareto", nil, c.Token)
	var pv struct{ Front []int }
	if err := json.Unmarshal(body, &pv); code != 200 || err != nil || len(pv.Front) == 0 {
		t.Fatalf("pareto: %d %s", code, body)
	}
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/hypervolume", nil, c.Token)
	var hv struct {
		History []struct{ Hypervolume float64 }
	}
	if err := json.Unmarshal(body, &hv); code != 200 || err != nil || len(hv.History) != 6 {
		t.Fatalf("hypervolume: %d %s", code, body)
	}
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/export?format=csv", nil, c.Token)
	if rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll(); code != 200 || err != nil || len(rows) != 7 {
		t.Fatalf("csv: %d %v", code, err)
	}
	code, body = c.Do(t, "GET", fmt.Sprintf("/api/v1/searches/%s/export?format=gguf&precision=q4_0&trial=%d", id, pv.Front[0]), nil, c.Token)
	if code != 200 || !bytes.HasPrefix(body, []byte("GGUF")) {
		t.Fatalf("gguf export: %d %.100q", code, body)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
