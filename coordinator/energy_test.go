package coordinator_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// energySpec is a random search minimising decode energy per token on
// device, with a prefill energy constraint.
func energySpec(device string) string {
	return `{"name":"energy","space":{"preset":"lfm2-like"},
	 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[512],"decode_depths":[0],"decode_tokens":16},
	 "targets":[{"name":"phone","devices":["` + device + `"]}],
	 "objectives":[{"metric":"decode_energy_mj_per_token@phone"},{"metric":"decode_ms_p50@phone"}],
	 "constraints":[{"metric":"prefill_energy_mj_per_token@phone","max":1e9}],
	 "budget":{"max_trials":3},"algorithm":"random","seed":3}`
}

type energyTrial struct {
	Number     int
	State      string
	Objectives []float64
	Error      *string
}

func trialsOf(t *testing.T, c *testenv.Coordinator, id string) []energyTrial {
	t.Helper()
	_, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/trials", nil, c.Token)
	var page struct{ Trials []energyTrial }
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("trials: %v: %s", err, body)
	}
	return page.Trials
}

// TestEnergyMetric: a search can minimise energy per token. With the
// stand-in agent's stand-in energy source (StandInWatts W) decode energy
// is W × decode ms per token, and trials complete with it as their
// objective; on a device without an energy source every trial fails
// with the agent's reason instead of a zero.
func TestEnergyMetric(t *testing.T) {
	c := testenv.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	withEnergy := newAgent(t)
	withEnergy.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	withEnergy.StandInWatts = 2.5
	withEnergy.RunStandIn(ctx, c.App.Bus.ClientURLs)
	id := createSearch(t, c, energySpec(withEnergy.Resp.DeviceID))
	se := waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete != 3 {
		t.Fatalf("with a stand-in energy source: %+v, want 3 complete trials", se.Progress)
	}
	for _, tr := range trialsOf(t, c, id) {
		if len(tr.Objectives) != 2 || tr.Objectives[0] <= 0 || math.Abs(tr.Objectives[0]-2.5*tr.Objectives[1]) > 1e-9*tr.Objectives[0] {
			t.Fatalf("trial %d objectives %v: want decode energy = 2.5 W × decode ms/token", tr.Number, tr.Objectives)
		}
	}

	without := newAgent(t)
	without.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	without.RunStandIn(ctx, c.App.Bus.ClientURLs)
	id = createSearch(t, c, energySpec(without.Resp.DeviceID))
	se = waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Failed != 3 {
		t.Fatalf("without an energy source: %+v, want 3 failed trials", se.Progress)
	}
	for _, tr := range trialsOf(t, c, id) {
		if tr.Error == nil || !strings.Contains(*tr.Error, "energy unavailable on this device: "+testenv.StandInNoEnergy) || !strings.Contains(*tr.Error, without.Resp.DeviceID) {
			t.Fatalf("trial %d: error %v, want the device and the agent's energy reason", tr.Number, tr.Error)
		}
	}

	// A dry run warns about the device whose last measurement had no
	// energy, and not about the one with a (stand-in) source.
	warnings := func(device string) []string {
		code, body := c.Do(t, "POST", "/api/v1/searches/validate", energySpec(device), c.Token)
		var p struct {
			Valid    bool
			Warnings []string
		}
		if err := json.Unmarshal(body, &p); code != 200 || err != nil || !p.Valid {
			t.Fatalf("validate: %d %s", code, body)
		}
		return p.Warnings
	}
	if w := warnings(without.Resp.DeviceID); len(w) != 1 || !strings.Contains(w[0], testenv.StandInNoEnergy) || !strings.Contains(w[0], without.Resp.DeviceID) {
		t.Fatalf("dry run on a device without energy: warnings %q", w)
	}
	if w := warnings(withEnergy.Resp.DeviceID); len(w) != 0 {
		t.Fatalf("dry run on a device with energy: warnings %q", w)
	}
}
