package coordinator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// lostSetup starts a coordinator that declares a device lost after 2 s of
// silence, and two stand-in agents of one class: a, which takes the first
// job it pulls and then goes silent holding it until release is closed
// (then it answers late), and b, which is enrolled but started only once a
// holds its job. It returns the held job's ID once b runs.
func lostSetup(t *testing.T, searchBody func(a, b string) string) (c *testenv.Coordinator, a, b *testenv.Agent, searchID, heldJob string, release chan struct{}) {
	t.Helper()
	c = testenv.Start(t, func(cfg *coordinator.Config) { cfg.DeviceLostAfter = 2 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, b = testenv.NewAgent(t), testenv.NewAgent(t)
	a.Enroll(t, c, "lost-cls")
	b.Enroll(t, c, "lost-cls")
	release = make(chan struct{})
	held := make(chan string, 1)
	var once sync.Once
	a.Hold = func(m jetstream.Msg) {
		first := false
		once.Do(func() {
			first = true
			var j wire.Job
			_ = json.Unmarshal(m.Data(), &j)
			held <- j.ID
		})
		if first {
			<-release
		}
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	a.RunStandIn(ctx, c.App.Bus.ClientURLs)
	testenv.Eventually(t, 30*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token)
		if !strings.Contains(string(body), `"status":"online"`) {
			return fmt.Errorf("a not online: %s", body)
		}
		return nil
	})
	searchID = createSearch(t, c, searchBody(a.Resp.DeviceID, b.Resp.DeviceID))
	select {
	case heldJob = <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("agent a never got a job")
	}
	b.RunStandIn(ctx, c.App.Bus.ClientURLs)
	return c, a, b, searchID, heldJob, release
}

// checkLost asserts the end state: the search finished with every trial
// complete; the held job failed with device_lost, has no measurement and
// was replaced by exactly one job, done on b; every trial target has
// exactly one measurement; no lost job was re-dispatched twice.
func checkLost(t *testing.T, c *testenv.Coordinator, b *testenv.Agent, searchID, heldJob string, trials int) {
	t.Helper()
	se := waitSearch(t, c, searchID, 120*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete != trials || se.Progress.Failed != 0 {
		t.Fatalf("progress %+v, want %d complete and none failed", se.Progress, trials)
	}
	var held struct {
		State    string  `json:"state"`
		FailKind *string `json:"fail_kind"`
	}
	_, body := c.Do(t, "GET", "/api/v1/jobs/"+heldJob, nil, c.Token)
	_ = json.Unmarshal(body, &held)
	if held.State != "failed" || held.FailKind == nil || *held.FailKind != wire.FailDeviceLost {
		t.Fatalf("held job: %s, want failed with device_lost", body)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM measurements WHERE job_id = $1`, heldJob); n != 0 {
		t.Fatalf("the lost job has %d measurements, want 0 (its late result must be ignored)", n)
	}
	repl := testenv.QueryString(t, c.DSN, `SELECT id FROM jobs WHERE replaces = $1`, heldJob)
	_, body = c.Do(t, "GET", "/api/v1/jobs/"+repl, nil, c.Token)
	var rj struct {
		State    string `json:"state"`
		DeviceID string `json:"device_id"`
		Replaces string `json:"replaces"`
	}
	_ = json.Unmarshal(body, &rj)
	if rj.State != "done" || rj.DeviceID != b.Resp.DeviceID || rj.Replaces != heldJob {
		t.Fatalf("replacement job: %s, want done on %s replacing %s", body, b.Resp.DeviceID, heldJob)
	}
	// The search reports the re-dispatch (what hil search watch and show
	// print).
	_, body = c.Do(t, "GET", "/api/v1/searches/"+searchID, nil, c.Token)
	var se2 api.Search
	if err := json.Unmarshal(body, &se2); err != nil {
		t.Fatal(err)
	}
	if len(se2.Redispatches) != 1 || se2.Redispatches[0].LostJob != heldJob || se2.Redispatches[0].Job != repl ||
		se2.Redispatches[0].ToDevice != b.Resp.DeviceID || se2.Redispatches[0].FromDevice == b.Resp.DeviceID {
		t.Fatalf("search re-dispatches %+v, want one: %s → %s on %s", se2.Redispatches, heldJob, repl, b.Resp.DeviceID)
	}
	// Every lost job is replaced at most once, and every target of every
	// trial has exactly one measurement.
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM (SELECT replaces FROM jobs WHERE replaces IS NOT NULL
		GROUP BY replaces HAVING count(*) > 1) x`); n != 0 {
		t.Fatalf("%d lost jobs re-dispatched more than once", n)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM trial_targets tt JOIN measurements m ON m.job_id = tt.job_id
		WHERE tt.search_id = $1`, searchID); n != int64(trials) {
		t.Fatalf("%d measured trial targets, want %d", n, trials)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM jobs j JOIN measurements m ON m.job_id = j.id
		WHERE j.id IN (SELECT job_id FROM trial_targets WHERE search_id = $1) AND m.device_id <> j.device_id`, searchID); n != 0 {
		t.Fatalf("%d measurements recorded on a device other than their job's", n)
	}
}

// TestLostDeviceClassTarget: a search whose class target's device goes
// silent mid-job finishes on the second device of the class; the job the
// lost device held is failed with device_lost, re-dispatched exactly once,
// and its late result (sent when the device comes back) changes nothing.
func TestLostDeviceClassTarget(t *testing.T) {
	const trials = 3
	c, a, b, id, heldJob, release := lostSetup(t, func(_, _ string) string {
		return `{"name":"lost","space":{"preset":"lfm2-like"},
		 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[512],"decode_depths":[0],"decode_tokens":16},
		 "targets":[{"name":"phone","class":"lost-cls"}],
		 "objectives":[{"metric":"decode_ms_p50@phone"},{"metric":"params","direction":"maximize"}],
		 "budget":{"max_trials":` + fmt.Sprint(trials) + `,"max_in_flight_per_device":1},"algorithm":"random","seed":5}`
	})
	// The class job was published on the shared subject.
	if cls := testenv.QueryString(t, c.DSN, `SELECT coalesce(class, '') FROM jobs WHERE id = $1`, heldJob); cls != "lost-cls" {
		t.Fatalf("held job class %q, want lost-cls (shared subject)", cls)
	}
	checkLost(t, c, b, id, heldJob, trials)
	// a comes back and sends its result for the lost job: ignored.
	close(release)
	testenv.Eventually(t, 30*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token)
		if !strings.Contains(string(body), `"status":"online"`) {
			return fmt.Errorf("a not back: %s", body)
		}
		return nil
	})
	time.Sleep(time.Second) // the result's trip through RESULTS
	checkLost(t, c, b, id, heldJob, trials)
}

// TestLostDevicePinnedTarget: the same with a target naming both devices
// by ID: the held job and any job queued for the silent device are failed
// with device_lost and go to the other device of the target.
func TestLostDevicePinnedTarget(t *testing.T) {
	const trials = 3
	c, _, b, id, heldJob, release := lostSetup(t, func(a, b string) string {
		return `{"name":"lost","space":{"preset":"lfm2-like"},
		 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[512],"decode_depths":[0],"decode_tokens":16},
		 "targets":[{"name":"phone","devices":["` + a + `","` + b + `"]}],
		 "objectives":[{"metric":"decode_ms_p50@phone"},{"metric":"params","direction":"maximize"}],
		 "budget":{"max_trials":` + fmt.Sprint(trials) + `,"max_in_flight_per_device":1},"algorithm":"random","seed":5}`
	})
	if cls := testenv.QueryString(t, c.DSN, `SELECT coalesce(class, '') FROM jobs WHERE id = $1`, heldJob); cls != "" {
		t.Fatalf("held job class %q, want pinned", cls)
	}
	checkLost(t, c, b, id, heldJob, trials)
	close(release)
	time.Sleep(2 * time.Second)
	checkLost(t, c, b, id, heldJob, trials)
}

// TestLostDeviceOnlyDeviceFailsTrial: a target whose only device is lost
// cannot be re-dispatched: its trial fails with the device_lost error
// instead of waiting for the wall-time budget.
func TestLostDeviceOnlyDeviceFailsTrial(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DeviceLostAfter = 2 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "solo-cls")
	release := make(chan struct{})
	defer close(release)
	a.Hold = func(jetstream.Msg) { <-release }
	a.RunStandIn(ctx, c.App.Bus.ClientURLs)
	testenv.Eventually(t, 30*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token)
		if !strings.Contains(string(body), `"status":"online"`) {
			return fmt.Errorf("not online: %s", body)
		}
		return nil
	})
	id := createSearch(t, c, testenv.SearchSpec(a.Resp.DeviceID, "random", 1))
	se := waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Failed != 1 {
		t.Fatalf("progress %+v, want the one trial failed", se.Progress)
	}
	_, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/trials/0", nil, c.Token)
	if !strings.Contains(string(body), "device lost") {
		t.Fatalf("trial: %s, want a device lost error", body)
	}
}

// TestEnrollAdvertisesReachedAddress: with the embedded NATS server on all
// interfaces and no --nats-advertise, an agent is told the address it
// reached the HTTP API at, not 0.0.0.0.
func TestEnrollAdvertisesReachedAddress(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.NATSListen = "0.0.0.0:0" })
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "adv-cls")
	if len(a.Resp.NATS.URLs) != 1 {
		t.Fatalf("urls %v", a.Resp.NATS.URLs)
	}
	u := a.Resp.NATS.URLs[0]
	if !strings.HasPrefix(u, "nats://127.0.0.1:") {
		t.Fatalf("advertised %q, want nats://127.0.0.1:<port> (the address the agent used)", u)
	}
	// And it works: the agent connects with it.
	nc, err := a.Connect(a.Resp.NATS.URLs)
	if err != nil {
		t.Fatalf("connect to the advertised URL: %v", err)
	}
	nc.Close()
	// Explicit advertise URLs still win.
	c2 := testenv.Start(t, func(cfg *coordinator.Config) {
		cfg.NATSListen = "0.0.0.0:0"
		cfg.NATSAdvertise = []string{"nats://hil.example:4223"}
	})
	a2 := testenv.NewAgent(t)
	a2.Enroll(t, c2, "adv-cls")
	if got := strings.Join(a2.Resp.NATS.URLs, ","); got != "nats://hil.example:4223" {
		t.Fatalf("advertised %q, want the configured URL", got)
	}
}
