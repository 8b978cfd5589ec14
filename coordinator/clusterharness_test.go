//go:build clusterharness

package coordinator_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// The harness's knobs: go test -tags clusterharness -run TestClusterHarness
// ./coordinator -args -cluster.trials 200 (make clusterharness runs the
// defaults).
var (
	clusterTrials  = flag.Int("cluster.trials", 120, "trials of the harness's search")
	clusterAgents  = flag.Int("cluster.agents", 4, "stand-in agents of the search's device class")
	clusterMeasure = flag.Duration("cluster.measure", 250*time.Millisecond, "how long a stand-in agent holds each job before answering")
)

// TestClusterHarness is issue #16's "beyond one machine" run: three Debian
// nats-server nodes (configurations from `coordinator nats-config
// --cluster-name …`, JetStream streams with 3 replicas), two coordinator
// processes (the real binary) on one throwaway PostgreSQL database, and
// stand-in agents of one device class answering a search's jobs. Mid-run
// it SIGKILLs the node leading the class's job consumer and then the
// coordinator driving the search; the other coordinator takes the search
// over. At the end it audits PostgreSQL: every trial complete, jobs with no
// measurement (lost), jobs with more than one measurement or outside every
// trial (duplicated).
//
// The stand-in agents' numbers (testenv.Agent.RunStandIn) only ever reach
// the throwaway database, dropped when the test ends.
func TestClusterHarness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bin := buildCoordinator(t)
	dsn := throwawayDatabase(t)
	authDir := t.TempDir()
	nodes := startNATSCluster(t, authDir)
	urls := make([]string, len(nodes))
	for i, nd := range nodes {
		urls[i] = nd.url
	}
	// Each coordinator has its own data directory holding a copy of the
	// one authority file, as on two machines.
	raw, err := os.ReadFile(filepath.Join(authDir, bus.AuthFile))
	if err != nil {
		t.Fatal(err)
	}
	coords := make([]*coordProc, 2)
	for i := range coords {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, bus.AuthFile), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		coords[i] = startCoordinatorProcess(t, bin, fmt.Sprintf("hil-c%d", i+1), dsn, dir, strings.Join(urls, ","))
	}
	api := coords[0].api(dsn)
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range coords {
				b, _ := os.ReadFile(c.log)
				t.Logf("%s log (tail):\n%s", c.name, tailString(string(b), 6000))
			}
		}
	})

	// Stand-in agents, enrolled through the first coordinator, connected to
	// every node (a lost connection reconnects to any live one). Hold
	// counts each delivery and stands for the measurement's time.
	var mu sync.Mutex
	delivered := map[string]int{}
	agents := make([]*testenv.Agent, *clusterAgents)
	for i := range agents {
		a := testenv.NewAgent(t)
		a.Enroll(t, api, "cluster-test")
		a.Hold = func(msg jetstream.Msg) {
			var job wire.Job
			_ = json.Unmarshal(msg.Data(), &job)
			mu.Lock()
			delivered[job.ID]++
			mu.Unlock()
			time.Sleep(*clusterMeasure)
		}
		a.RunStandIn(ctx, func() []string { return urls })
		agents[i] = a
	}

	spec := fmt.Sprintf(`{"name":"cluster-harness","space":{"preset":"lfm2-like"},
	 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[512],"decode_depths":[0],"decode_length":16},
	 "targets":[{"name":"phone","class":"cluster-test"}],
	 "objectives":[{"metric":"decode_ms_p50@phone"},{"metric":"peak_rss_mb@phone"},{"metric":"params","direction":"maximize"}],
	 "budget":{"max_trials":%d,"max_in_flight_per_device":2},"algorithm":"random","seed":7,
	 "screening":{"off":true}}`, *clusterTrials)
	start := time.Now()
	id := createSearch(t, api, spec)
	t.Logf("search %s: %d trials, %d stand-in agents (%v per job), coordinators pid %d and %d, NATS nodes %v",
		id, *clusterTrials, len(agents), *clusterMeasure, coords[0].cmd.Process.Pid, coords[1].cmd.Process.Pid, urls)

	completeCount := func(ctx context.Context) (n int64, err error) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return 0, err
		}
		defer c.Close(context.Background())
		err = c.QueryRow(ctx, `SELECT count(*) FROM trials WHERE search_id = $1 AND state = 'complete'`, id).Scan(&n)
		return n, err
	}
	complete := func() int64 {
		n, err := completeCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Progress every 15 s, to see the rate before and after each fault
	// (off the test goroutine: errors are logged, not fatal).
	var progress sync.WaitGroup
	progressCtx, stopProgress := context.WithCancel(ctx)
	progress.Add(1)
	go func() {
		defer progress.Done()
		for {
			select {
			case <-progressCtx.Done():
				return
			case <-time.After(15 * time.Second):
				if n, err := completeCount(progressCtx); err == nil {
					t.Logf("%.0fs: %d trials complete", time.Since(start).Seconds(), n)
				} else if progressCtx.Err() == nil {
					t.Logf("progress: %v", err)
				}
			}
		}
	}()
	defer func() { stopProgress(); progress.Wait() }()
	waitComplete := func(n int64, timeout time.Duration) {
		t.Helper()
		testenv.Eventually(t, timeout, func() error {
			if c := complete(); c < n {
				return fmt.Errorf("%d of %d trials complete", c, n)
			}
			return nil
		})
	}

	// Fault 1: the NATS node leading the class's job consumer, a third of
	// the way in.
	waitComplete(int64(*clusterTrials/3), 5*time.Minute)
	leader := classConsumerLeader(t, agents[0], urls)
	victim := -1
	for i := range nodes {
		if fmt.Sprintf("n%d", i+1) == leader {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("consumer leader %q is none of n1..n%d", leader, len(nodes))
	}
	_ = nodes[victim].cmd.Process.Signal(syscall.SIGKILL)
	_ = nodes[victim].cmd.Wait()
	t.Logf("%.1fs: SIGKILL NATS node %s (%s, leader of the class consumer) at %d trials complete",
		time.Since(start).Seconds(), leader, nodes[victim].url, complete())
	// The agents keep all three URLs: a dead one is skipped at connect.

	// Fault 2: the coordinator driving the search, two thirds of the way in.
	waitComplete(int64(2**clusterTrials/3), 5*time.Minute)
	holder := testenv.QueryString(t, dsn, `SELECT coalesce((SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('hilsearch:search:' || $1, 0)), '')`, id)
	var killed, survivor *coordProc
	for i, c := range coords {
		if c.name == holder {
			killed, survivor = c, coords[1-i]
		}
	}
	if killed == nil {
		t.Fatalf("no coordinator holds the search's advisory lock (holder %q)", holder)
	}
	killed.kill()
	t.Logf("%.1fs: SIGKILL coordinator %s (pid %d, driving the search) at %d trials complete; %s (pid %d) remains",
		time.Since(start).Seconds(), killed.name, killed.cmd.Process.Pid, complete(), survivor.name, survivor.cmd.Process.Pid)

	se := waitSearch(t, survivor.api(dsn), id, 10*time.Minute, func(s searchState) bool { return s.State == "finished" || s.State == "failed" })
	dur := time.Since(start)
	stopProgress()
	progress.Wait()
	cancel()

	// The audit, in PostgreSQL. The database is the harness's own: every
	// job and measurement in it is the search's.
	q := func(sql string, args ...any) int64 { return testenv.QueryInt(t, dsn, sql, args...) }
	trials := q(`SELECT count(*) FROM trials WHERE search_id = $1`, id)
	completeN := q(`SELECT count(*) FROM trials WHERE search_id = $1 AND state = 'complete'`, id)
	numbered := q(`SELECT count(DISTINCT number) FROM trials WHERE search_id = $1 AND number BETWEEN 0 AND $2`, id, *clusterTrials-1)
	jobs := q(`SELECT count(*) FROM jobs`)
	measured := q(`SELECT count(*) FROM measurements`)
	// Lost: a job without a measurement, or a trial target answered by
	// neither a job's measurement nor a cached one.
	lostJobs := q(`SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM measurements m WHERE m.job_id = j.id)`)
	lostTargets := q(`SELECT count(*) FROM trial_targets tt WHERE tt.search_id = $1 AND tt.measurement_id IS NULL
		AND NOT EXISTS (SELECT 1 FROM measurements m WHERE m.job_id = tt.job_id)`, id)
	// Duplicated: a job with more than one measurement (the schema's UNIQUE
	// job_id should make this 0 whatever happens), or a job no trial
	// target holds (a trial dispatched twice; the search's spec turns
	// screening, and with it the predictor's probe jobs, off).
	dupJobs := q(`SELECT count(*) FROM (SELECT job_id FROM measurements GROUP BY job_id HAVING count(*) > 1) x`)
	strayJobs := q(`SELECT count(*) FROM jobs j WHERE j.kind = 'measure' AND NOT EXISTS (SELECT 1 FROM trial_targets tt WHERE tt.job_id = j.id)`)
	mu.Lock()
	redelivered := 0
	for _, n := range delivered {
		if n > 1 {
			redelivered++
		}
	}
	mu.Unlock()
	lost, dup := lostJobs+lostTargets, dupJobs+strayJobs
	t.Logf("search %s: state %s, progress %+v", id, se.State, se.Progress)
	t.Logf("figures: trials %d (complete %d, numbered 0..%d: %d), duration %.1fs (%.2f trials/s), faults: NATS node SIGKILL 1 (%s), coordinator SIGKILL 1 (%s); "+
		"jobs %d, measurements %d; lost %d (jobs without a measurement %d, trial targets without one %d); duplicated %d (jobs with >1 measurement %d, jobs of no trial %d); "+
		"jobs delivered to agents more than once (absorbed by de-duplication) %d",
		trials, completeN, *clusterTrials-1, numbered, dur.Seconds(), float64(trials)/dur.Seconds(), leader, killed.name,
		jobs, measured, lost, lostJobs, lostTargets, dup, dupJobs, strayJobs, redelivered)
	if se.State != "finished" || trials != int64(*clusterTrials) || completeN != trials || numbered != trials {
		t.Errorf("search %s: %d trials, %d complete, %d numbered; want %d finished and complete", se.State, trials, completeN, numbered, *clusterTrials)
	}
	if lost != 0 || dup != 0 {
		t.Errorf("%d lost, %d duplicated measurements; want 0 and 0", lost, dup)
	}
}

// classConsumerLeader is the server name leading the JOBS consumer shared
// by a's device class, read through a's own credentials (its JWT allows
// that consumer's info).
func classConsumerLeader(t *testing.T, a *testenv.Agent, urls []string) string {
	t.Helper()
	var leader string
	testenv.Eventually(t, 30*time.Second, func() error {
		nc, err := a.Connect(urls)
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cons, err := js.Consumer(ctx, a.Resp.NATS.Stream, a.Resp.NATS.ClassConsumer)
		if err != nil {
			return err
		}
		info := cons.CachedInfo()
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("consumer %s has no leader", a.Resp.NATS.ClassConsumer)
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}

// buildCoordinator builds ./cmd/coordinator into the test's directory.
func buildCoordinator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "coordinator")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/coordinator").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

// throwawayDatabase creates a database on the test server (testenv.BaseURL)
// and drops it when the test ends.
func throwawayDatabase(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hil_cluster_" + hex.EncodeToString(b[:])
	base := testenv.BaseURL()
	testenv.Exec(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() { testenv.Exec(t, base, "DROP DATABASE "+name+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// coordProc is a coordinator process of the harness.
type coordProc struct {
	name, base, log string
	cmd             *exec.Cmd
	exited          chan struct{}
}

// startCoordinatorProcess runs `coordinator serve` against external NATS
// (natsURLs, 3 replicas) and the database dsn, with its PostgreSQL
// application_name set to name (to see which process holds a lock), and
// waits for /readyz. It is stopped (SIGTERM) when the test ends.
func startCoordinatorProcess(t *testing.T, bin, name, dsn, dataDir, natsURLs string) *coordProc {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	port := freePort(t)
	c := &coordProc{name: name, base: "http://127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dataDir, "coordinator.log"), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, "serve", "--database-url", u.String(), "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--data-dir", dataDir, "--nats-url", natsURLs, "--nats-replicas", "3", "--job-ack-wait", "10s", "--log-level", "info")
	c.cmd.Env = append(os.Environ(), "HIL_ADMIN_TOKEN="+testenv.AdminToken)
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); logf.Close(); close(c.exited) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			c.kill()
		}
	})
	testenv.Eventually(t, 60*time.Second, func() error {
		select {
		case <-c.exited:
			b, _ := os.ReadFile(c.log)
			t.Fatalf("coordinator %s exited:\n%s", name, b)
		default:
		}
		resp, err := http.Get(c.base + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d %s", resp.StatusCode, body)
		}
		return nil
	})
	return c
}

// api is a testenv.Coordinator for the process's HTTP API (Do, enrollment
// tokens), with the admin token.
func (c *coordProc) api(dsn string) *testenv.Coordinator {
	return &testenv.Coordinator{URL: c.base, DSN: dsn, Token: testenv.AdminToken}
}

// kill sends SIGKILL and waits for the process to end.
func (c *coordProc) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
