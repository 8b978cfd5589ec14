package agent_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// TestRuntimesRefreshedWithoutReEnrolling: a device enrolled without
// llama-bench gains the llama.cpp runtime when its agent starts with one
// (the heartbeats carry what the agent probed; the coordinator rewrites the
// profile's "runtimes"), so a llama.cpp search on it validates, and loses
// it again when the agent restarts without one. The llama-bench here is the
// stand-in (LLAMA_STANDIN_MODE=ok): only its probe runs, no job.
func TestRuntimesRefreshedWithoutReEnrolling(t *testing.T) {
	t.Setenv("HIL_LLAMA_BENCH", "")
	if p, err := exec.LookPath("llama-bench"); err == nil {
		t.Skipf("llama-bench on PATH (%s): the device would enroll with it", p)
	}
	standin := filepath.Join(t.TempDir(), "llama-bench-standin")
	if out, err := exec.Command("go", "build", "-o", standin, "./internal/llamastandin").CombinedOutput(); err != nil {
		t.Fatalf("build the llama-bench stand-in: %v\n%s", err, out)
	}
	t.Setenv("LLAMA_STANDIN_MODE", "ok")
	c := testenv.Start(t, nil)
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "refresh")
	runtimes := func() (names []string, profile []wire.RuntimeInfo) {
		code, body := c.Do(t, "GET", "/api/v1/devices/"+cfg.DeviceID, nil, c.Token)
		var d struct {
			Profile json.RawMessage `json:"profile"`
		}
		if code != 200 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("get device: %d %s", code, body)
		}
		var p struct {
			Runtimes []wire.RuntimeInfo `json:"runtimes"`
		}
		_ = json.Unmarshal(d.Profile, &p)
		return wire.ProfileRuntimes(d.Profile), p.Runtimes
	}
	spec := strings.Replace(testenv.SearchSpec(cfg.DeviceID, "random", 2), `"threads":2`, `"threads":2,"runtime":"llama.cpp"`, 1)
	validates := func() (bool, string) {
		code, body := c.Do(t, "POST", "/api/v1/searches/validate", spec, c.Token)
		var p struct {
			Valid bool `json:"valid"`
		}
		if code != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("validate: %d %s", code, body)
		}
		return p.Valid, string(body)
	}
	if names, _ := runtimes(); !slices.Equal(names, []string{"native"}) {
		t.Fatalf("enrolled without llama-bench, the profile offers %v", names)
	}
	if ok, body := validates(); ok || !strings.Contains(body, "no matching device offers runtime llama.cpp") {
		t.Fatalf("a llama.cpp search validated on a device without llama.cpp: %s", body)
	}

	// Started with a llama-bench: the profile follows, no re-enrollment.
	state := filepath.Join(dir, "state")
	ap := startAgent(t, append(runArgs(cfgPath, state), "--llama-bench", standin)...)
	testenv.Eventually(t, time.Minute, func() error {
		names, rts := runtimes()
		if !slices.Equal(names, []string{"native", "llama.cpp"}) || len(rts) != 1 || rts[0].Path != standin || rts[0].BuildCommit != "stand-in" {
			return fmt.Errorf("profile runtimes %v %+v", names, rts)
		}
		return nil
	})
	if ok, body := validates(); !ok {
		t.Fatalf("after the refresh a llama.cpp search does not validate: %s", body)
	}
	if err := ap.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	ap.wait(t, 30*time.Second)

	// Restarted without one: llama.cpp is gone from the profile.
	startAgent(t, runArgs(cfgPath, state)...)
	testenv.Eventually(t, time.Minute, func() error {
		if names, rts := runtimes(); !slices.Equal(names, []string{"native"}) || len(rts) != 0 {
			return fmt.Errorf("profile runtimes %v %+v", names, rts)
		}
		return nil
	})
	if ok, _ := validates(); ok {
		t.Fatal("a llama.cpp search validates on a device whose agent has no llama-bench any more")
	}
}
