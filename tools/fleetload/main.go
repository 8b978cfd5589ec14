// Command fleetload is the fleet's load and chaos harness (#16). It starts
// a real coordinator binary on loopback against a throwaway PostgreSQL
// database it creates and drops, enrolls N simulated
// agents through the real API, keeps them heartbeating over real NATS, has
// them answer measurement jobs with stand-in measurements (named
// "fleetload-stand-in"; they only ever reach the throwaway database), and
// reports: enroll rate, heartbeat→presence latency, coordinator CPU while
// only heartbeats flow, dispatch latency p50/p95, results/s, coordinator
// RSS.
//
// NATS is the coordinator's embedded server, or with -external-nats a
// nats-server process (Debian's /usr/sbin/nats-server) running the
// configuration `coordinator nats-config` writes, the coordinator started
// with --nats-url. PostgreSQL is the server of -base-dsn, or with
// -private-pg a private cluster in a temporary directory on a free port
// (internal/devpg, the machine's initdb/pg_ctl): the shared server is
// never restarted.
//
// Faults, injected one after another while jobs run, each kind spread
// evenly over -fault-window (jobs are created over the same window):
//   - coordinator SIGKILL and restart (-kill-coordinator);
//   - NATS server SIGKILL and restart on the same port and store
//     directory (-restart-nats; implies -external-nats);
//   - PostgreSQL `pg_ctl restart -m immediate` (-restart-pg; implies
//     -private-pg);
//   - agent connection drop (-drop-agents): a simulated agent's NATS
//     connection is closed, its job in flight abandoned, and it reconnects
//     2 s later. This stands in for kill -9 of an agent: the simulated
//     agents are goroutines of this process, not processes.
//
// -faults N splits N over the four kinds (a quarter each, the remainder
// to agent drops). At the end it audits PostgreSQL: jobs not done (lost)
// and jobs with more than one measurement (duplicated), and prints the
// count of each fault kind.
//
//	go build -o /tmp/coordinator ./cmd/coordinator
//	go run ./tools/fleetload -coordinator /tmp/coordinator -agents 1000 -jobs 2000
//	go run ./tools/fleetload -coordinator /tmp/coordinator -agents 200 -jobs 3000 -faults 100
//
// Every request loop is bounded in count and time, and it talks only to
// 127.0.0.1.
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/internal/devpg"
)

const adminToken = "hil_fleetload_admin_token_0123456789"

// The job every simulated agent is asked to measure: a tiny spec, so the
// coordinator's validation is cheap; the answer is a stand-in.
const tinySpec = `{"vocab":256,"hidden":64,"tied_embeddings":true,"norm_eps":1e-5,"max_context":128,
 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":128}]}`

type options struct {
	coordinator   string
	baseDSN       string
	agents, jobs  int
	maxAgents     int
	hb            time.Duration
	settle        time.Duration
	enrollConc    int
	killCoord     int
	dropAgents    int
	restartNATS   int
	restartPG     int
	faultWindow   time.Duration
	externalNATS  bool
	natsServer    string
	privatePG     bool
	logs          string
	presenceProbe int
	timeout       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.coordinator, "coordinator", "", "coordinator binary (go build -o ... ./cmd/coordinator); required")
	flag.StringVar(&o.baseDSN, "base-dsn", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server to create the throwaway database on")
	flag.IntVar(&o.agents, "agents", 1000, "simulated agents")
	flag.IntVar(&o.maxAgents, "max-agents", 20000, "the coordinator's declared capacity (--max-agents); below -agents, enrollment past it must answer 503 capacity_exceeded")
	flag.IntVar(&o.jobs, "jobs", 2000, "measurement jobs, spread over the agents")
	flag.DurationVar(&o.hb, "hb", 10*time.Second, "heartbeat interval")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "heartbeat-only window for the CPU figure")
	flag.IntVar(&o.enrollConc, "enroll-concurrency", 16, "concurrent enrollments")
	flag.IntVar(&o.killCoord, "kill-coordinator", 0, "SIGKILL and restart the coordinator this many times while jobs run")
	flag.IntVar(&o.dropAgents, "drop-agents", 0, "close this many agents' NATS connections (abandoning their job in flight) and reopen them 2 s later, while jobs run")
	flag.IntVar(&o.restartNATS, "restart-nats", 0, "SIGKILL and restart the external nats-server this many times while jobs run (implies -external-nats)")
	flag.IntVar(&o.restartPG, "restart-pg", 0, "restart the private PostgreSQL (pg_ctl restart -m immediate) this many times while jobs run (implies -private-pg)")
	faults := flag.Int("faults", 0, "split this many faults over the four kinds (a quarter each, the remainder to agent drops); overrides the per-kind flags")
	flag.DurationVar(&o.faultWindow, "fault-window", 5*time.Minute, "spread the faults and the job creation over this long")
	flag.BoolVar(&o.externalNATS, "external-nats", false, "run nats-server with the configuration `coordinator nats-config` writes instead of the embedded server")
	flag.StringVar(&o.natsServer, "nats-server", "nats-server", "the nats-server binary of -external-nats (Debian: apt-get install nats-server)")
	flag.StringVar(&o.logs, "logs", "", "copy the coordinator's and nats-server's logs into this directory at the end")
	flag.BoolVar(&o.privatePG, "private-pg", false, "run a private PostgreSQL cluster (initdb/pg_ctl, temporary directory, free port) instead of -base-dsn")
	flag.IntVar(&o.presenceProbe, "presence-probes", 50, "agents whose first heartbeat is timed to presence")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	if *faults > 0 {
		q := *faults / 4
		o.killCoord, o.restartNATS, o.restartPG, o.dropAgents = q, q, q, *faults-3*q
	}
	o.externalNATS = o.externalNATS || o.restartNATS > 0
	o.privatePG = o.privatePG || o.restartPG > 0
	if o.coordinator == "" || o.agents < 1 || o.jobs < 0 || o.presenceProbe >= o.agents {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "fleetload:", err)
		os.Exit(1)
	}
}

func (o options) faulty() bool {
	return o.killCoord+o.dropAgents+o.restartNATS+o.restartPG > 0
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "fleetload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.logs != "" {
		defer func() {
			for _, f := range []string{"coordinator.log", "nats/nats-server.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					_ = os.WriteFile(filepath.Join(o.logs, filepath.Base(f)), b, 0o600)
				}
			}
		}()
	}
	var cluster *devpg.Cluster
	if o.privatePG {
		// Its own temporary directory: as root, devpg hands it to the
		// postgres user, who cannot enter dir (mode 0700).
		pgDir, err := os.MkdirTemp("", "fleetload-pg-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(pgDir)
		if cluster, err = devpg.Start(ctx, pgDir, freePort(), func(f string, a ...any) { fmt.Printf(f+"\n", a...) }); err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "fleetload:", err)
			}
		}()
		o.baseDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", cluster.Port)
	}
	dsn, drop, err := throwawayDB(ctx, o.baseDSN)
	if err != nil {
		return err
	}
	defer drop()
	co := &coord{bin: o.coordinator, dsn: dsn, dir: dir, httpPort: freePort(), natsPort: freePort(), ackWait: 30 * time.Second, maxAgents: o.maxAgents}
	if !o.faulty() {
		co.ackWait = time.Hour // answers are held until every job is out
	}
	var ns *natsServer
	if o.externalNATS {
		if ns, err = startNATSServer(ctx, o.natsServer, o.coordinator, dir, co.natsPort); err != nil {
			return err
		}
		defer ns.proc.stop()
		co.externalNATS = true
	}
	if err := co.start(ctx); err != nil {
		return err
	}
	defer co.stop()
	natsMode, pgMode := "embedded", "of -base-dsn"
	if ns != nil {
		natsMode = fmt.Sprintf("%s pid %d", ns.bin, ns.proc.pid())
	}
	if cluster != nil {
		pgMode = "private cluster in " + cluster.Dir
	}
	fmt.Printf("coordinator pid %d, http :%d; NATS :%d %s; PostgreSQL :%s %s, database %s\n",
		co.pid(), co.httpPort, co.natsPort, natsMode, portOf(dsn), pgMode, dbName(dsn))

	// 1. Enrollment.
	agents := make([]*agent, o.agents)
	start := time.Now()
	var enrollFail atomic.Int64
	codes := sync.Map{}
	parallel(o.agents, o.enrollConc, func(i int) {
		a, ans, err := enroll(ctx, co, i)
		if err != nil {
			enrollFail.Add(1)
			n, _ := codes.LoadOrStore(ans, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			return
		}
		agents[i] = a
	})
	enrollDur := time.Since(start)
	fmt.Printf("enrolled %d/%d in %.1fs: %.0f/s; failures %d", o.agents-int(enrollFail.Load()), o.agents, enrollDur.Seconds(),
		float64(o.agents)/enrollDur.Seconds(), enrollFail.Load())
	codes.Range(func(k, v any) bool { fmt.Printf(" [%v: %d]", k, v.(*atomic.Int64).Load()); return true })
	fmt.Println()
	var live []*agent
	for _, a := range agents {
		if a != nil {
			live = append(live, a)
		}
	}
	if len(live) <= o.presenceProbe {
		return errors.New("too few agents enrolled")
	}

	// 2. Connect and heartbeat (all but the presence probes).
	st := &stats{recv: map[string]time.Time{}, answered: map[string]int{}}
	if !o.faulty() {
		st.gate = make(chan struct{})
	}
	runCtx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	start = time.Now()
	var connFail atomic.Int64
	parallel(len(live), 32, func(i int) {
		if err := live[i].connect(co.natsURL()); err != nil {
			connFail.Add(1)
		}
	})
	fmt.Printf("connected %d agents in %.1fs (failures %d)\n", len(live), time.Since(start).Seconds(), connFail.Load())
	probes, beating := live[:o.presenceProbe], live[o.presenceProbe:]
	for _, a := range beating {
		go a.heartbeats(runCtx, o.hb)
		go a.serve(runCtx, st)
	}
	// 3. Heartbeat → presence: each probe's first heartbeat, timed until
	// PostgreSQL shows it (what every status query reads).
	time.Sleep(o.hb) // every other agent has beaten once
	pg, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer pg.Close(context.Background())
	var lat []time.Duration
	for _, a := range probes {
		t0 := time.Now()
		a.beat()
		for time.Since(t0) < 10*time.Second {
			var seen bool
			if err := pg.QueryRow(ctx, `SELECT last_seen IS NOT NULL FROM devices WHERE id = $1`, a.id).Scan(&seen); err != nil {
				return err
			}
			if seen {
				lat = append(lat, time.Since(t0))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		go a.heartbeats(runCtx, o.hb)
		go a.serve(runCtx, st)
	}
	fmt.Printf("heartbeat→presence (PostgreSQL) over %d probes: p50 %v p99 %v max %v (lost probes %d)\n",
		len(lat), pct(lat, 50), pct(lat, 99), pct(lat, 100), len(probes)-len(lat))

	// 4. Coordinator cost of heartbeats alone.
	cpu0, t0 := co.cpu(), time.Now()
	time.Sleep(o.settle)
	cpu1 := co.cpu()
	rss, hwm := co.rss()
	var hbRows int64
	_ = pg.QueryRow(ctx, `SELECT count(*) FROM heartbeats`).Scan(&hbRows)
	fmt.Printf("heartbeats only: %d agents every %v = %.0f beats/s; coordinator CPU %.1f%% of one core; RSS %d MiB (peak %d MiB); heartbeats table rows %d\n",
		len(live), o.hb, float64(len(live))/o.hb.Seconds(), 100*(cpu1-cpu0)/time.Since(t0).Seconds(), rss>>20, hwm>>20, hbRows)

	// 5. Jobs, with faults.
	if o.jobs == 0 {
		return nil
	}
	created := map[string]time.Time{}
	var cmu sync.Mutex
	start = time.Now()
	var createFail, replays atomic.Int64
	createErrs := tally{n: map[string]int{}}
	faults := map[faultKind]int{}
	var fwg sync.WaitGroup
	if o.faulty() {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			inject(runCtx, co, ns, cluster, live, o, faults)
		}()
	}
	parallel(o.jobs, 8, func(i int) {
		if o.faulty() {
			// Created over the fault window, so jobs run during every fault.
			time.Sleep(time.Until(start.Add(o.faultWindow * time.Duration(i) / time.Duration(o.jobs))))
		}
		a := live[i%len(live)]
		key := "fleetload-" + strconv.Itoa(i)
		sent := time.Now()
		for try := 0; try < 200 && ctx.Err() == nil; try++ {
			id, again, err := createJob(ctx, co, a.id, key)
			if err == nil {
				if again {
					replays.Add(1)
				}
				cmu.Lock()
				created[id] = sent
				cmu.Unlock()
				return
			}
			createErrs.note(err)
			time.Sleep(250 * time.Millisecond) // the coordinator restarting
		}
		createFail.Add(1)
	})
	createDur := time.Since(start)
	fmt.Printf("created %d jobs in %.1fs (%.0f/s; gave up on %d); failed attempts, asked again: %s; answered with the job stored before (Idempotency-Key): %d\n",
		len(created), createDur.Seconds(), float64(len(created))/createDur.Seconds(), createFail.Load(), createErrs.String(), replays.Load())
	fwg.Wait()
	held := 0 // jobs the agents held when the gate opened
	if st.gate != nil {
		// Every agent holds a job (each takes one at a time): release them
		// all at once, so results/s measures the pipeline from then on
		// (results stored, further jobs pulled), not the API's creation
		// rate. With -jobs equal to -agents it is ingestion alone.
		// A job not delivered after a minute without any new delivery
		// is not waited for: it is released later, and the ingestion
		// rate below counts only the jobs held at the release.
		lastRecv, lastAt := -1, time.Now()
		for ctx.Err() == nil {
			st.mu.Lock()
			held = len(st.recv)
			st.mu.Unlock()
			if held >= min(len(created), len(live)) {
				break
			}
			if held > lastRecv {
				lastRecv, lastAt = held, time.Now()
			}
			if time.Since(lastAt) > time.Minute {
				fmt.Printf("released with %d of %d jobs delivered (no delivery for a minute)\n", held, min(len(created), len(live)))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		start = time.Now()
		close(st.gate)
	}
	// Wait until every job is final, the deadline, or 90 s without
	// progress (then say where the stuck jobs are).
	var done, final, lastFinal, all int64
	lastProgress := time.Now()
	var heldDur time.Duration // until the jobs held at the release were all stored
	for ctx.Err() == nil {
		if final > lastFinal {
			lastFinal, lastProgress = final, time.Now()
		}
		if time.Since(lastProgress) > 90*time.Second {
			diagnose(ctx, dsn, live)
			break
		}
		if err := pgQuery(ctx, dsn, func(c *pgx.Conn) error {
			return c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state IN ('done','failed','cancelled')), count(*) FROM jobs`).Scan(&done, &final, &all)
		}); err != nil {
			time.Sleep(time.Second)
			continue
		}
		if st.gate != nil && heldDur == 0 && done >= int64(held) {
			heldDur = time.Since(start)
		}
		// Every stored job, also one whose creation the API could not
		// confirm (the coordinator killed after the commit).
		if final >= max(all, int64(len(created))) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	allDur := time.Since(start)
	stopAgents()
	var nJobs, lost, dup, measured int64
	err = pgQuery(context.Background(), dsn, func(c *pgx.Conn) error {
		return c.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM jobs WHERE state <> 'done'),
			(SELECT count(*) FROM (SELECT job_id FROM measurements GROUP BY job_id HAVING count(*) > 1) x), (SELECT count(*) FROM measurements)`).Scan(&nJobs, &lost, &dup, &measured)
	})
	if err != nil {
		return err
	}
	st.mu.Lock()
	var disp []time.Duration
	redelivered := 0
	for id, t := range st.recv {
		if c, ok := created[id]; ok {
			disp = append(disp, t.Sub(c))
		}
	}
	for _, n := range st.answered {
		if n > 1 {
			redelivered++
		}
	}
	st.mu.Unlock()
	rss, hwm = co.rss()
	if code, body, err := do(context.Background(), co, "GET", "/metrics", nil, ""); err != nil || code != 200 {
		fmt.Println("  metrics:", code, err)
	} else {
		for _, l := range strings.Split(string(body), "\n") {
			for _, p := range []string{"hil_result_batch_results_sum", "hil_result_batch_results_count", "hil_result_batch_seconds_sum",
				"hil_presence_flush_devices_sum", "hil_presence_flush_devices_count", "hil_presence_flush_seconds_sum", "hil_results_total"} {
				if strings.HasPrefix(l, p) {
					fmt.Println("  metric", l)
				}
			}
		}
	}
	what := "end to end (first job created to last result stored)"
	if st.gate != nil {
		what = "ingestion (all results released at once to last stored)"
	}
	if nJobs > int64(len(created)) {
		fmt.Printf("jobs stored beyond those asked for (a retry stored a second job): %d\n", nJobs-int64(len(created)))
	}
	fmt.Printf("jobs: %d stored, %d measured, %.0f results/s %s, %.1fs\n", nJobs, measured, float64(measured)/allDur.Seconds(), what, allDur.Seconds())
	if heldDur > 0 {
		fmt.Printf("ingestion of the %d results held at the release: %.0f results/s stored (%.1fs; polled every 200 ms)\n", held, float64(held)/heldDur.Seconds(), heldDur.Seconds())
	}
	fmt.Printf("dispatch latency (job POST sent → agent received) over %d jobs: p50 %v p95 %v\n", len(disp), pct(disp, 50), pct(disp, 95))
	fmt.Printf("coordinator RSS %d MiB (peak of the current process %d MiB)\n", rss>>20, hwm>>20)
	total := 0
	fmt.Print("faults:")
	for k := range faultKinds {
		fmt.Printf(" %s %d;", faultKinds[k], faults[faultKind(k)])
		total += faults[faultKind(k)]
	}
	fmt.Printf(" total %d\n", total)
	fmt.Printf("audit: lost (jobs not done) %d, duplicated (jobs with >1 measurement) %d; jobs measured more than once by agents (redelivery, deduplicated) %d\n", lost, dup, redelivered)
	if lost > 0 || dup > 0 {
		explainLost(dsn, filepath.Join(dir, "coordinator.log"), created, st)
		return fmt.Errorf("%d lost, %d duplicated", lost, dup)
	}
	if extra := nJobs - int64(len(created)); extra > 0 {
		return fmt.Errorf("%d jobs stored twice: a retry with the same Idempotency-Key stored a second job", extra)
	}
	return nil
}

// explainLost prints up to 10 jobs that are not done: their row, whether
// this harness got an ID for them from the API and whether an agent
// received them, and the coordinator's log lines that name them.
func explainLost(dsn, logPath string, created map[string]time.Time, st *stats) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log, _ := os.ReadFile(logPath)
	_ = pgQuery(ctx, dsn, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT id, state, coalesce(stream_seq, 0), attempts, coalesce(fail_kind, ''), coalesce(error, ''), created_at
			FROM jobs WHERE state <> 'done' ORDER BY created_at LIMIT 10`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, state, kind, msg string
			var seq int64
			var attempts int
			var at time.Time
			if err := rows.Scan(&id, &state, &seq, &attempts, &kind, &msg, &at); err != nil {
				return err
			}
			_, known := created[id]
			st.mu.Lock()
			recv := st.answered[id]
			st.mu.Unlock()
			fmt.Printf("  not done: %s state %s stream_seq %d attempts %d fail %q %q created %s; ID from the API %v; received by agents %d times\n",
				id, state, seq, attempts, kind, msg, at.Format("15:04:05.000"), known, recv)
			for _, l := range strings.Split(string(log), "\n") {
				if strings.Contains(l, id) {
					fmt.Println("    log:", l)
				}
			}
		}
		return rows.Err()
	})
}

// diagnose prints, for up to 10 devices with jobs still queued, what their
// JOBS consumer reports (through the agent's own identity, which may read
// its consumer's info) next to the jobs' stream sequences.
func diagnose(ctx context.Context, dsn string, agents []*agent) {
	byID := map[string]*agent{}
	for _, a := range agents {
		byID[a.id] = a
	}
	type stuck struct {
		dev  string
		seqs []int64
	}
	var list []stuck
	_ = pgQuery(ctx, dsn, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT device_id, array_agg(stream_seq ORDER BY stream_seq) FROM jobs WHERE state = 'queued'
			GROUP BY device_id ORDER BY device_id LIMIT 10`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var s stuck
			if err := rows.Scan(&s.dev, &s.seqs); err != nil {
				return err
			}
			list = append(list, s)
		}
		return rows.Err()
	})
	fmt.Printf("no progress for 90 s; %d+ devices with queued jobs:\n", len(list))
	for _, s := range list {
		a := byID[s.dev]
		if a == nil {
			continue
		}
		_, js := a.conn()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := js.Consumer(cctx, a.resp.NATS.Stream, a.resp.NATS.AgentConsumer)
		if err != nil {
			fmt.Printf("  %s queued seqs %v: consumer: %v\n", s.dev, s.seqs, err)
			cancel()
			continue
		}
		info, err := cons.Info(cctx)
		cancel()
		if err != nil {
			fmt.Printf("  %s queued seqs %v: info: %v\n", s.dev, s.seqs, err)
			continue
		}
		fmt.Printf("  %s queued seqs %v: consumer num_pending %d ack_pending %d waiting %d delivered.stream %d ack_floor.stream %d\n",
			s.dev, s.seqs, info.NumPending, info.NumAckPending, info.NumWaiting, info.Delivered.Stream, info.AckFloor.Stream)
	}
}

type faultKind int

const (
	coordKill faultKind = iota
	natsRestart
	pgRestart
	agentDrop
)

// faultKinds name the kinds as printed.
var faultKinds = [...]string{
	coordKill:   "coordinator SIGKILL+restart",
	natsRestart: "nats-server SIGKILL+restart",
	pgRestart:   "PostgreSQL restart -m immediate",
	agentDrop:   "agent connection drop (simulated agent kill -9)",
}

// schedule orders the faults so that each kind is spread evenly over the
// run: the j-th of a kind's n faults sits at (j+½)/n of it.
func schedule(counts [len(faultKinds)]int) []faultKind {
	type slot struct {
		at   float64
		kind faultKind
	}
	var slots []slot
	for k, n := range counts {
		for j := range n {
			slots = append(slots, slot{(float64(j) + 0.5) / float64(n), faultKind(k)})
		}
	}
	slices.SortStableFunc(slots, func(a, b slot) int { return cmp.Compare(a.at, b.at) })
	out := make([]faultKind, len(slots))
	for i, s := range slots {
		out[i] = s.kind
	}
	return out
}

// inject runs the faults one after another, the i-th of n starting at
// (i+1)/(n+1) of the fault window (or at once when the one before took
// longer); each waits until what it broke is back.
func inject(ctx context.Context, co *coord, ns *natsServer, cluster *devpg.Cluster, agents []*agent, o options, faults map[faultKind]int) {
	plan := schedule([len(faultKinds)]int{coordKill: o.killCoord, natsRestart: o.restartNATS, pgRestart: o.restartPG, agentDrop: o.dropAgents})
	start := time.Now()
	for i, k := range plan {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(o.faultWindow * time.Duration(i+1) / time.Duration(len(plan)+1)))):
		}
		var err error
		switch k {
		case coordKill:
			co.proc.kill()
			err = co.start(ctx)
		case natsRestart:
			ns.proc.kill()
			err = ns.start(ctx)
		case pgRestart:
			err = cluster.Restart(ctx)
		case agentDrop:
			agents[randInt(len(agents))].drop(co.natsURL())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fault %s: %v\n", faultKinds[k], err)
			return
		}
		faults[k]++
	}
}

// --- child processes ---

// proc is a child process whose output goes to a log file.
type proc struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// launch starts cmd, appending its output to logPath.
func (p *proc) launch(cmd *exec.Cmd, logPath string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	return nil
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM, then SIGKILL after 20 s.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// natsServer is an external nats-server running the configuration
// `coordinator nats-config` wrote into dir/nats (JetStream store and
// account resolver beside it, kept across restarts).
type natsServer struct {
	bin, conf, log string
	port           int
	proc           proc
}

func startNATSServer(ctx context.Context, bin, coordinator, dir string, port int) (*natsServer, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("-external-nats: %w (Debian: apt-get install nats-server)", err)
	}
	nd := filepath.Join(dir, "nats")
	ns := &natsServer{bin: path, conf: filepath.Join(nd, "nats.conf"), log: filepath.Join(nd, "nats-server.log"), port: port}
	if err := os.MkdirAll(nd, 0o700); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, coordinator, "nats-config", "--data-dir", dir, "--out", ns.conf,
		"--server-listen", "127.0.0.1:"+strconv.Itoa(port), "--server-name", "fleetload",
		"--server-store-dir", filepath.Join(nd, "js"), "--server-resolver-dir", filepath.Join(nd, "jwt")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("coordinator nats-config: %v: %s", err, out)
	}
	return ns, ns.start(ctx)
}

// start runs the server and waits until it accepts connections.
func (ns *natsServer) start(ctx context.Context) error {
	if err := ns.proc.launch(exec.Command(ns.bin, "-c", ns.conf), ns.log); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if devpg.Answers("127.0.0.1:" + strconv.Itoa(ns.port)) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(ns.log)
	return fmt.Errorf("nats-server not listening within 60s:\n%s", tail(log, 2000))
}

// --- the coordinator child process ---

type coord struct {
	bin, dsn, dir      string
	httpPort, natsPort int
	externalNATS       bool // natsPort is a nats-server's, not the embedded one's
	ackWait            time.Duration
	maxAgents          int
	proc               proc
}

func (c *coord) base() string    { return "http://127.0.0.1:" + strconv.Itoa(c.httpPort) }
func (c *coord) natsURL() string { return "nats://127.0.0.1:" + strconv.Itoa(c.natsPort) }

func (c *coord) start(ctx context.Context) error {
	nats := []string{"--nats-listen", "127.0.0.1:" + strconv.Itoa(c.natsPort)}
	if c.externalNATS {
		nats = []string{"--nats-url", c.natsURL()}
	}
	cmd := exec.Command(c.bin, "serve", "--database-url", c.dsn, "--listen", "127.0.0.1:"+strconv.Itoa(c.httpPort),
		nats[0], nats[1], "--data-dir", c.dir, "--log-level", "warn",
		"--max-agents", strconv.Itoa(c.maxAgents), "--job-ack-wait", c.ackWait.String())
	cmd.Env = append(os.Environ(), "HIL_ADMIN_TOKEN="+adminToken)
	if err := c.proc.launch(cmd, filepath.Join(c.dir, "coordinator.log")); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(c.base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(c.dir, "coordinator.log"))
	return fmt.Errorf("coordinator not ready within 60s:\n%s", tail(log, 2000))
}

func (c *coord) pid() int { return c.proc.pid() }

func (c *coord) stop() { c.proc.stop() }

// cpu is the coordinator's user+system CPU seconds (/proc/<pid>/stat).
func (c *coord) cpu() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid()))
	if err != nil {
		return math.NaN()
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	stt, _ := strconv.ParseFloat(f[12], 64)
	return (ut + stt) / 100 // USER_HZ
}

// rss is the coordinator's VmRSS and VmHWM in bytes.
func (c *coord) rss() (rss, hwm int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.pid()))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				rss = v << 10
			case "VmHWM:":
				hwm = v << 10
			}
		}
	}
	return rss, hwm
}

// --- simulated agents (stand-ins) ---

type agent struct {
	i    int
	id   string
	kp   nkeys.KeyPair
	resp wire.EnrollResponse
	mu   sync.Mutex
	nc   *nats.Conn
	js   jetstream.JetStream
}

type stats struct {
	mu       sync.Mutex
	recv     map[string]time.Time // first receipt per job
	answered map[string]int
	// gate, when not nil, holds every answer until closed (no faults:
	// the coordinator runs with a job AckWait long enough for it).
	gate chan struct{}
}

var httpc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func do(ctx context.Context, co *coord, method, path string, body any, token string) (int, []byte, error) {
	code, _, b, err := doHeader(ctx, co, method, path, body, token, nil)
	return code, b, err
}

// doHeader is do with extra request headers; it returns the response's
// headers too.
func doHeader(ctx context.Context, co *coord, method, path string, body any, token string, header http.Header) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, co.base()+path, r)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// enroll enrolls simulated agent i; on failure it also returns the answer
// as "<HTTP status> <API error code>" (or the transport error).
func enroll(ctx context.Context, co *coord, i int) (*agent, string, error) {
	code, body, err := do(ctx, co, "POST", "/api/v1/enrollment-tokens", nil, adminToken)
	if err != nil || code != http.StatusCreated {
		return nil, answer(code, body, err), fmt.Errorf("enrollment token: %d %v", code, err)
	}
	var tok struct{ Token string }
	_ = json.Unmarshal(body, &tok)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	req := map[string]any{"token": tok.Token, "nkey": pub, "class": "fleetload-" + strconv.Itoa(i%8),
		"name": "fleetload-stand-in-" + strconv.Itoa(i), "profile": map[string]any{"cpu_model": "fleetload stand-in"}}
	code, body, err = do(ctx, co, "POST", "/api/v1/agents/enroll", req, "")
	if err != nil || code != http.StatusCreated {
		return nil, answer(code, body, err), fmt.Errorf("enroll: %d %v %s", code, err, body)
	}
	a := &agent{i: i, kp: kp}
	if err := json.Unmarshal(body, &a.resp); err != nil {
		return nil, "bad body", err
	}
	a.id = a.resp.DeviceID
	return a, "", nil
}

// answer names a failed request's answer: "503 capacity_exceeded", or the
// transport error.
func answer(code int, body []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	return strconv.Itoa(code) + " " + e.Code
}

func (a *agent) connect(url string) error {
	j := a.resp.NATS.JWT
	nc, err := nats.Connect(url, nats.UserJWT(func() (string, error) { return j, nil }, a.kp.Sign),
		nats.CustomInboxPrefix(a.resp.NATS.InboxPrefix), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond),
		nats.ReconnectJitter(500*time.Millisecond, time.Second), nats.RetryOnFailedConnect(true))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	a.mu.Lock()
	a.nc, a.js = nc, js
	a.mu.Unlock()
	return nil
}

// drop closes the agent's connection (its job in flight, if any, is then
// redelivered after AckWait) and reconnects 2 s later.
func (a *agent) drop(url string) {
	a.mu.Lock()
	nc := a.nc
	a.mu.Unlock()
	nc.Close()
	go func() {
		time.Sleep(2 * time.Second)
		_ = a.connect(url)
	}()
}

func (a *agent) conn() (*nats.Conn, jetstream.JetStream) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nc, a.js
}

func (a *agent) beat() {
	nc, _ := a.conn()
	_ = nc.Publish(a.resp.NATS.HeartbeatSubj, []byte(`{"status":"idle","agent_version":"fleetload-stand-in"}`))
	_ = nc.Flush()
}

func (a *agent) heartbeats(ctx context.Context, every time.Duration) {
	// Spread over the interval, as independent devices are.
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(randInt(int(every.Milliseconds())+1)) * time.Millisecond):
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.beat()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serve pulls the agent's own consumer and answers each job with a
// stand-in measurement.
func (a *agent) serve(ctx context.Context, st *stats) {
	for ctx.Err() == nil {
		_, js := a.conn()
		cons, err := js.Consumer(ctx, a.resp.NATS.Stream, a.resp.NATS.AgentConsumer)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ctx.Err() == nil {
			if _, cur := a.conn(); cur != js {
				break // reconnected with a new connection
			}
			// A context bound, not FetchMaxWait: a pull in flight when the
			// server died must not leave the agent waiting for ever.
			nctx, ncancel := context.WithTimeout(ctx, 10*time.Second)
			msg, err := cons.Next(jetstream.FetchContext(nctx))
			ncancel()
			if err != nil {
				if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) {
					continue
				}
				time.Sleep(500 * time.Millisecond)
				break
			}
			var job wire.Job
			if err := json.Unmarshal(msg.Data(), &job); err != nil {
				_ = msg.Term()
				continue
			}
			st.mu.Lock()
			if _, ok := st.recv[job.ID]; !ok {
				st.recv[job.ID] = time.Now()
			}
			st.answered[job.ID]++
			st.mu.Unlock()
			if st.gate != nil {
				select {
				case <-st.gate:
				case <-ctx.Done():
					return
				}
			}
			m := &wire.Measurement{SpecHash: job.SpecHash, WorkloadHash: job.Workload.Hash(), AgentVersion: "fleetload-stand-in",
				KernelVariant: "stand-in", Threads: int(job.Workload.Threads), Precision: job.Workload.Precision, Runtime: job.Workload.Runtime,
				Prefill: []wire.PrefillResult{{PromptLength: 16, TokensPerSec: wire.Stat{Median: 1}, TTFTms: wire.Stat{Median: 1}}},
				Decode:  []wire.DecodeResult{{Depth: 0, Tokens: 4, MsPerToken: wire.Stat{Median: 1, P50: 1, P95: 1}, TokensPerSec: wire.Stat{Median: 1000}}}}
			data, _ := json.Marshal(wire.Result{JobID: job.ID, DeviceID: a.id, Status: wire.ResultOK, Measurement: m})
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = js.Publish(pctx, a.resp.NATS.ResultsSubject+"."+job.ID, data, jetstream.WithMsgID(job.ID))
			if err == nil {
				err = msg.DoubleAck(pctx)
			}
			cancel()
			if err != nil {
				_ = msg.Nak() // redelivered; the result is deduplicated
			}
		}
	}
}

// createJob asks for one job with an Idempotency-Key: asked again with the
// same key after an answer that never came (the coordinator killed after
// its commit) or a 503 (stored, not yet published), the coordinator
// answers with the job it stored, so no retry stores a second job. It
// reports whether the answer was such a replay.
func createJob(ctx context.Context, co *coord, deviceID, key string) (id string, replayed bool, err error) {
	body := map[string]any{"spec": json.RawMessage(tinySpec),
		"workload": map[string]any{"precision": "f32", "threads": 1, "prompt_lengths": []int{16}, "decode_depths": []int{0}, "decode_tokens": 4}}
	code, h, resp, err := doHeader(ctx, co, "POST", "/api/v1/devices/"+deviceID+"/jobs", body, adminToken, http.Header{"Idempotency-Key": {key}})
	if err != nil {
		return "", false, err
	}
	if code != http.StatusAccepted && code != http.StatusOK {
		return "", false, fmt.Errorf("create job: %d %s", code, resp)
	}
	var j struct{ ID string }
	_ = json.Unmarshal(resp, &j)
	return j.ID, h.Get("Idempotent-Replayed") == "true", nil
}

// --- helpers ---

// tally counts errors by their text, cut to its first 100 bytes, with
// loopback port numbers replaced (one restart's errors are one kind).
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) note(err error) {
	k := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		k = ue.Err.Error() // not the URL, which names the device
	}
	if i := strings.Index(k, "127.0.0.1:"); i >= 0 {
		k = k[:i] + "127.0.0.1:*" + strings.TrimLeft(k[i+len("127.0.0.1:"):], "0123456789")
	}
	t.mu.Lock()
	t.n[cut(k, 100)]++
	t.mu.Unlock()
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.n) == 0 {
		return "none"
	}
	var parts []string
	for k, n := range t.n {
		parts = append(parts, fmt.Sprintf("%d× %q", n, k))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// throwawayDB creates an empty database fleetload_<random> on the server
// of base and returns its URL and a function that drops it.
func throwawayDB(ctx context.Context, base string) (string, func(), error) {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL %s: %w", base, err)
	}
	defer c.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "fleetload_" + hex.EncodeToString(b[:])
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			fmt.Fprintln(os.Stderr, "drop", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "drop", name, err)
		}
	}
	return u.String(), drop, nil
}

func portOf(dsn string) string {
	u, _ := url.Parse(dsn)
	return u.Port()
}

func dbName(dsn string) string {
	u, _ := url.Parse(dsn)
	return strings.TrimPrefix(u.Path, "/")
}

func pgQuery(ctx context.Context, dsn string, f func(*pgx.Conn) error) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return f(c)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func parallel(n, conc int, f func(i int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Millisecond)
}

func randInt(n int) int {
	var b [8]byte
	_, _ = rand.Read(b[:])
	v := int64(0)
	for _, x := range b {
		v = v<<8 | int64(x)
	}
	if v < 0 {
		v = -v
	}
	return int(v % int64(max(n, 1)))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
