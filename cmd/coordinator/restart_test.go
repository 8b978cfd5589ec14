package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// coordProc is the real coordinator binary (this test binary re-entering
// main) serving on fixed addresses.
type coordProc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startCoord(t *testing.T, dsn, httpAddr, natsAddr, dataDir string) *coordProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--listen", httpAddr, "--nats-listen", natsAddr, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "HIL_TEST_MAIN=1", "DATABASE_URL="+dsn, "HIL_ADMIN_TOKEN="+testenv.AdminToken, "HIL_JOB_ACK_WAIT=3s")
	p := &coordProc{cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("coordinator not ready:\n%s", p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestSearchSurvivesSIGKILL: the coordinator process is killed with
// SIGKILL mid-search and started again on the same database and data
// directory; the search continues from PostgreSQL and ends with exactly
// max_trials trials, none duplicated or lost, and NSGA-II's populations
// from before the kill are kept. The agent is testenv's analytic stand-in
// (over real NATS), so the test is about the coordinator, not the kernels.
func TestSearchSurvivesSIGKILL(t *testing.T) {
	dsn := testenv.Postgres(t)
	httpAddr, natsAddr, dataDir := freeAddr(t), freeAddr(t), t.TempDir()
	p := startCoord(t, dsn, httpAddr, natsAddr, dataDir)
	c := &testenv.Coordinator{URL: "http://" + httpAddr, DSN: dsn, Token: testenv.AdminToken}
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var up atomic.Bool
	up.Store(true)
	a.RunStandIn(ctx, func() []string {
		if !up.Load() {
			return []string{"nats://127.0.0.1:1"}
		}
		return []string{"nats://" + natsAddr}
	})
	code, body := c.Do(t, "POST", "/api/v1/searches", testenv.SearchSpec(a.Resp.DeviceID, "nsga2", 24), c.Token)
	if code != 201 {
		t.Fatalf("create search: %d %s", code, body)
	}
	var se struct {
		ID       string
		State    string
		Progress struct{ Complete, Failed, Running int }
	}
	_ = json.Unmarshal(body, &se)
	id := se.ID
	testenv.Eventually(t, 60*time.Second, func() error {
		getJSON(t, c.URL+"/api/v1/searches/"+id, &se)
		if se.Progress.Complete < 9 {
			return fmt.Errorf("progress %+v", se.Progress)
		}
		return nil
	})
	before := testenv.QueryString(t, dsn, `SELECT coalesce((SELECT value FROM study_attrs sa JOIN studies s ON s.id = sa.study_id
		WHERE s.name = 'search-' || $1 AND sa.kind = 'system' AND sa.key = 'nsga2:populations'), '')`, id)
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	up.Store(false)
	t.Logf("killed with %d trials complete", se.Progress.Complete)

	startCoord(t, dsn, httpAddr, natsAddr, dataDir)
	up.Store(true)
	testenv.Eventually(t, 120*time.Second, func() error {
		getJSON(t, c.URL+"/api/v1/searches/"+id, &se)
		if se.State != "finished" {
			return fmt.Errorf("state %s progress %+v", se.State, se.Progress)
		}
		return nil
	})
	if se.Progress.Complete+se.Progress.Failed != 24 {
		t.Fatalf("finished with %+v, want exactly 24 trials", se.Progress)
	}
	if n := testenv.QueryInt(t, dsn, `SELECT count(DISTINCT number) FROM trials WHERE search_id = $1 AND number BETWEEN 0 AND 23`, id); n != 24 {
		t.Fatalf("%d distinct trial numbers in 0..23", n)
	}
	if n := testenv.QueryInt(t, dsn, `SELECT count(*) FROM (SELECT arch_hash FROM trials WHERE search_id = $1 GROUP BY arch_hash HAVING count(*) > 1) d`, id); n != 0 {
		t.Fatalf("%d architectures measured twice in one search", n)
	}
	after := testenv.QueryString(t, dsn, `SELECT value FROM study_attrs sa JOIN studies s ON s.id = sa.study_id
		WHERE s.name = 'search-' || $1 AND sa.kind = 'system' AND sa.key = 'nsga2:populations'`, id)
	if len(before) < 10 || !strings.HasPrefix(after, before[:len(before)-1]) {
		t.Fatalf("populations across the kill:\nbefore %s\nafter  %s", before, after)
	}
}
