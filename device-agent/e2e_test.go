package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	agent "github.com/hilsearch/hilsearch/device-agent"
	"github.com/hilsearch/hilsearch/device-agent/internal/stats"
	"github.com/hilsearch/hilsearch/workload"
)

func TestMain(m *testing.M) {
	if os.Getenv(agent.EnvTestMain) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := agent.Main(ctx, os.Args[1:], agent.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for a process writer and test readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agentProc is a running device-agent process.
type agentProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startAgent runs the device-agent command with args as a process.
func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: exec.Command(exe, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), agent.EnvTestMain+"=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("device-agent %s output:\n%s", args[0], p.out.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *agentProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("device-agent did not exit within %v; output:\n%s", timeout, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// runAgentCmd runs a short device-agent command and returns its exit code
// and output.
func runAgentCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := startAgent(t, args...)
	code := p.wait(t, 60*time.Second)
	return code, p.out.String()
}

func enrollmentToken(t testing.TB, c *testenv.Coordinator) string {
	t.Helper()
	code, body := c.Do(t, "POST", "/api/v1/enrollment-tokens", nil, c.Token)
	if code != http.StatusCreated {
		t.Fatalf("create enrollment token: %d %s", code, body)
	}
	var r struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Token == "" {
		t.Fatalf("enrollment token: %v %s", err, body)
	}
	return r.Token
}

// enrollProc enrolls a device with a real enroll process and returns its
// identity file.
func enrollProc(t *testing.T, c *testenv.Coordinator, dir, name string) (string, *agent.Config) {
	t.Helper()
	cfgPath := filepath.Join(dir, "cfg", "agent.json")
	code, out := runAgentCmd(t, "enroll", "--coordinator", c.URL, "--token", enrollmentToken(t, c), "--name", name, "--tags", "lab,test", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("enroll exited %d:\n%s", code, out)
	}
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, cfg.Seed) {
		t.Fatal("enroll printed the seed")
	}
	return cfgPath, cfg
}

func runArgs(cfgPath, stateDir string) []string {
	return []string{"run", "--config", cfgPath, "--state-dir", stateDir, "--cool-max-wait", "0s", "-v"}
}

// jobView is what GET /api/v1/jobs/{id} returns.
type jobView struct {
	ID          string            `json:"id"`
	State       string            `json:"state"`
	Attempts    int               `json:"attempts"`
	FailKind    *string           `json:"fail_kind"`
	Error       *string           `json:"error"`
	Measurement *wire.Measurement `json:"measurement"`
}

func createJob(t *testing.T, c *testenv.Coordinator, deviceID, spec string, w workload.Workload, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"spec": json.RawMessage(spec), "workload": w}
	for k, v := range extra {
		body[k] = v
	}
	code, data := c.Do(t, "POST", "/api/v1/devices/"+deviceID+"/jobs", body, c.Token)
	if code != http.StatusAccepted {
		t.Fatalf("create job: %d %s", code, data)
	}
	var j jobView
	if err := json.Unmarshal(data, &j); err != nil || j.ID == "" {
		t.Fatalf("create job: %v %s", err, data)
	}
	return j.ID
}

func getJob(t *testing.T, c *testenv.Coordinator, id string) jobView {
	t.Helper()
	code, data := c.Do(t, "GET", "/api/v1/jobs/"+id, nil, c.Token)
	if code != http.StatusOK {
		t.Fatalf("get job: %d %s", code, data)
	}
	var j jobView
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	return j
}

// waitJob polls the job until it reaches one of the states.
func waitJob(t *testing.T, c *testenv.Coordinator, id string, timeout time.Duration, states ...string) jobView {
	t.Helper()
	var j jobView
	testenv.Eventually(t, timeout, func() error {
		j = getJob(t, c, id)
		for _, s := range states {
			if j.State == s {
				return nil
			}
		}
		return fmt.Errorf("job %s is %s", id, j.State)
	})
	return j
}

func countMeasurements(t *testing.T, c *testenv.Coordinator, jobID string) int64 {
	return testenv.QueryInt(t, c.DSN, "SELECT count(*) FROM measurements WHERE job_id = $1", jobID)
}

func TestEndToEndMeasurement(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.JobAckWait = 3 * time.Second })
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "e2e-agent")
	if st, err := os.Stat(cfgPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode: %v %v", st.Mode(), err)
	}
	// A second enroll is refused without --force.
	if code, out := runAgentCmd(t, "enroll", "--coordinator", c.URL, "--token", enrollmentToken(t, c), "--config", cfgPath); code == 0 || !strings.Contains(out, "already enrolled") {
		t.Fatalf("second enroll: exit %d\n%s", code, out)
	}

	ap := startAgent(t, runArgs(cfgPath, filepath.Join(dir, "state"))...)
	w := agent.TinyWorkload()
	id := createJob(t, c, cfg.DeviceID, agent.TinySpecJSON, w, nil)
	j := waitJob(t, c, id, 60*time.Second, "done", "failed")
	if j.State != "done" {
		t.Fatalf("job %s: %s %v %v", id, j.State, deref(j.FailKind), deref(j.Error))
	}
	agent.CheckMeasurement(t, j.Measurement, agent.TinySpecJSON, w)
	if n := countMeasurements(t, c, id); n != 1 {
		t.Fatalf("%d measurements stored, want 1", n)
	}

	// The control subject answers pings.
	msg, err := c.Conn(t).Request(cfg.NATS.ControlSubject+".ping", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	var pong map[string]string
	if err := json.Unmarshal(msg.Data, &pong); err != nil || pong["device_id"] != cfg.DeviceID || pong["status"] != "idle" {
		t.Fatalf("ping reply %s (%v)", msg.Data, err)
	}
	// Heartbeats reached the coordinator.
	testenv.Eventually(t, 10*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/devices/"+cfg.DeviceID, nil, c.Token)
		var d struct {
			Status     string  `json:"status"`
			LastStatus *string `json:"last_status"`
		}
		_ = json.Unmarshal(body, &d)
		if d.Status != "online" || d.LastStatus == nil || *d.LastStatus != "idle" {
			return fmt.Errorf("device status %q, last heartbeat %v", d.Status, deref(d.LastStatus))
		}
		return nil
	})

	// SIGTERM while idle: exit 0.
	_ = ap.cmd.Process.Signal(syscall.SIGTERM)
	if code := ap.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM", code)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// waitRunning waits until the agent reports the job busy and its
// measuring child exists.
func waitRunning(t *testing.T, c *testenv.Coordinator, ap *agentProc, jobID string) {
	t.Helper()
	waitJob(t, c, jobID, 60*time.Second, "running")
	testenv.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(ap.out.String(), "measuring") {
			return fmt.Errorf("agent has not started the child")
		}
		return nil
	})
}

func TestKillAgentDuringMeasurement(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.JobAckWait = 2 * time.Second })
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "kill-agent")
	state := filepath.Join(dir, "state")
	first := startAgent(t, runArgs(cfgPath, state)...)
	overlap := watchOverlap(t, first.cmd.Process.Pid)
	w := agent.SlowWorkload()
	id := createJob(t, c, cfg.DeviceID, agent.SlowSpecJSON, w, nil)
	waitRunning(t, c, first, id)
	// The "measuring" log line comes just before the child is started.
	var kids []int
	if runtime.GOOS == "linux" {
		testenv.Eventually(t, 10*time.Second, func() error {
			if kids = childrenOf(first.cmd.Process.Pid); len(kids) != 1 {
				return fmt.Errorf("measuring children before the kill: %v", kids)
			}
			return nil
		})
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// The orphaned measuring child dies with its agent: gone (or a zombie
	// waiting for init) within 100 ms of the kill -9 (issue #16).
	var gone time.Duration
	for _, pid := range kids {
		for alive(pid) {
			if time.Since(killed) > 5*time.Second {
				t.Fatalf("measuring child %d still alive 5 s after its agent was killed", pid)
			}
			time.Sleep(time.Millisecond)
		}
		gone = time.Since(killed)
	}
	t.Logf("measuring child gone %v after kill -9 of its agent", gone)
	if gone > 100*time.Millisecond {
		t.Fatalf("measuring child outlived its agent by %v, want <= 100ms", gone)
	}
	first.wait(t, 10*time.Second)
	if pids := childrenOf(first.cmd.Process.Pid); len(pids) > 0 {
		t.Fatalf("measuring children %v still running", pids)
	}
	if strings.Contains(first.out.String(), "measured") {
		t.Fatalf("the measurement finished before the kill; make slowWorkload slower:\n%s", first.out.String())
	}
	if j := getJob(t, c, id); j.State == "done" {
		t.Fatal("job done although its agent was killed while measuring")
	}

	second := startAgent(t, runArgs(cfgPath, state)...)
	overlap.add(second.cmd.Process.Pid)
	j := waitJob(t, c, id, 120*time.Second, "done", "failed")
	if n := overlap.stop(); n > 1 {
		t.Fatalf("%d measuring children of this device were alive at the same time", n)
	}
	if j.State != "done" {
		t.Fatalf("job %s after restart: %s %s %s", id, j.State, deref(j.FailKind), deref(j.Error))
	}
	if j.Attempts < 2 {
		t.Errorf("attempts %d: the job should have been redelivered", j.Attempts)
	}
	agent.CheckMeasurement(t, j.Measurement, agent.SlowSpecJSON, w)
	if n := countMeasurements(t, c, id); n != 1 {
		t.Fatalf("%d measurements stored, want exactly 1", n)
	}
	_ = second.cmd.Process.Signal(syscall.SIGTERM)
	if code := second.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM", code)
	}
}

// childrenOf lists the measuring children an agent process started, found
// by their environment (Linux /proc; empty elsewhere).
func childrenOf(agentPID int) []int {
	mark := []byte(agent.EnvAgentParent + "=" + fmt.Sprint(agentPID) + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(env, mark) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// overlapWatch samples /proc every millisecond for the measuring
// children of a set of agent processes (one device: a first run and its
// restart) and keeps the largest number alive at once.
type overlapWatch struct {
	mu   sync.Mutex
	pids []int
	max  int
	quit chan struct{}
	done chan struct{}
}

func watchOverlap(t *testing.T, pid int) *overlapWatch {
	w := &overlapWatch{pids: []int{pid}, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.quit:
				return
			case <-time.After(time.Millisecond):
			}
			w.mu.Lock()
			pids := append([]int(nil), w.pids...)
			w.mu.Unlock()
			n := 0
			for _, p := range pids {
				for _, k := range childrenOf(p) {
					if alive(k) {
						n++
					}
				}
			}
			w.mu.Lock()
			w.max = max(w.max, n)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *overlapWatch) add(pid int) {
	w.mu.Lock()
	w.pids = append(w.pids, pid)
	w.mu.Unlock()
}

// stop ends the sampling and returns the largest overlap seen.
func (w *overlapWatch) stop() int {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max
}

// alive reports whether pid exists and is not a zombie (Linux /proc).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

func TestSIGTERMDuringMeasurementReturnsTheJob(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.JobAckWait = 2 * time.Second })
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "term-agent")
	state := filepath.Join(dir, "state")
	first := startAgent(t, runArgs(cfgPath, state)...)
	w := agent.SlowWorkload()
	id := createJob(t, c, cfg.DeviceID, agent.SlowSpecJSON, w, nil)
	waitRunning(t, c, first, id)
	_ = first.cmd.Process.Signal(syscall.SIGTERM)
	if code := first.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM during a job", code)
	}
	if !strings.Contains(first.out.String(), "returned to the queue") {
		t.Fatalf("the job was not returned:\n%s", first.out.String())
	}
	startAgent(t, runArgs(cfgPath, state)...)
	if j := waitJob(t, c, id, 120*time.Second, "done", "failed"); j.State != "done" {
		t.Fatalf("job after restart: %s %s", j.State, deref(j.Error))
	}
	if n := countMeasurements(t, c, id); n != 1 {
		t.Fatalf("%d measurements, want 1", n)
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestResultSurvivesCoordinatorRestart(t *testing.T) {
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dataDir := t.TempDir()
	mutate := func(cfg *coordinator.Config) {
		cfg.JobAckWait = 2 * time.Second
		cfg.NATSListen = natsAddr
		cfg.DataDir = dataDir
	}
	c := testenv.Start(t, mutate)
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "restart-agent")
	ap := startAgent(t, runArgs(cfgPath, filepath.Join(dir, "state"))...)
	w := agent.SlowWorkload()
	id := createJob(t, c, cfg.DeviceID, agent.SlowSpecJSON, w, nil)
	waitRunning(t, c, ap, id)

	// Stop the coordinator (and its NATS) while the agent measures.
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	if err := c.App.Shutdown(sctx); err != nil {
		t.Logf("shutdown: %v", err)
	}
	cancel()
	testenv.Eventually(t, 120*time.Second, func() error {
		if !strings.Contains(ap.out.String(), "kept in the spool") {
			return fmt.Errorf("the agent has not finished measuring yet")
		}
		return nil
	})
	if strings.Contains(ap.out.String(), "result published") && !strings.Contains(ap.out.String(), "spooled result published") {
		t.Fatal("the result was published before the restart; the test did not exercise the spool")
	}

	// Restart on the same NATS address, data dir and database.
	ccfg := coordinator.Default()
	ccfg.DatabaseURL, ccfg.Listen, ccfg.AdminToken = c.DSN, "127.0.0.1:0", testenv.AdminToken
	mutate(&ccfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	app, err := coordinator.Start(ctx, ccfg, testenv.Logger(t), io.Discard)
	cancel()
	if err != nil {
		t.Fatalf("restart coordinator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = app.Shutdown(ctx)
	})
	c2 := &testenv.Coordinator{App: app, URL: "http://" + app.Addr(), DSN: c.DSN, Token: c.Token}
	j := waitJob(t, c2, id, 120*time.Second, "done", "failed")
	if j.State != "done" {
		t.Fatalf("job after restart: %s %s %s", j.State, deref(j.FailKind), deref(j.Error))
	}
	agent.CheckMeasurement(t, j.Measurement, agent.SlowSpecJSON, w)
	if n := countMeasurements(t, c2, id); n != 1 {
		t.Fatalf("%d measurements, want 1", n)
	}
	// After the reconnect the result goes out either from the spool flush
	// or when the unacknowledged job comes back and finds its result. The
	// job can be done before either is logged: the client library may
	// flush the timed-out publish from its reconnect buffer first (the
	// spool's copy is then stored as a duplicate of the same message ID),
	// so wait for the spool's line rather than expect it already.
	testenv.Eventually(t, 30*time.Second, func() error {
		if out := ap.out.String(); !strings.Contains(out, "spooled result published") && !strings.Contains(out, "re-sending its result") {
			return fmt.Errorf("the result did not come from the spool:\n%s", out)
		}
		return nil
	})
	// The job message is settled too (redelivered, answered from the spool).
	testenv.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cons, err := c2.JetStream(t).Consumer(ctx, cfg.NATS.Stream, cfg.NATS.AgentConsumer)
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer still has %d pending, %d unacked", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// agentConn connects to NATS with an identity file's key, as the agent does.
func agentConn(t *testing.T, cfg *agent.Config) *nats.Conn {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(cfg.Seed))
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.NATS.JWT
	nc, err := nats.Connect(strings.Join(cfg.NATS.URLs, ","), nats.UserJWT(func() (string, error) { return j, nil }, kp.Sign),
		nats.CustomInboxPrefix(cfg.NATS.InboxPrefix), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestReplayedResultStoredOnce(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.JobAckWait = 3 * time.Second })
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "replay-agent")
	state := filepath.Join(dir, "state")
	ap := startAgent(t, runArgs(cfgPath, state)...)
	id := createJob(t, c, cfg.DeviceID, agent.TinySpecJSON, agent.TinyWorkload(), nil)
	if j := waitJob(t, c, id, 60*time.Second, "done", "failed"); j.State != "done" {
		t.Fatalf("job: %s %s", j.State, deref(j.Error))
	}
	_ = ap.cmd.Process.Signal(syscall.SIGTERM)
	ap.wait(t, 30*time.Second)

	sp, err := agent.OpenSpool(state)
	if err != nil {
		t.Fatal(err)
	}
	r, pending, err := sp.Lookup(id)
	if err != nil || r == nil || pending {
		t.Fatalf("sent result in the spool: %v pending=%v err=%v", r, pending, err)
	}
	data, _ := json.Marshal(r)
	nc := agentConn(t, cfg)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subj := cfg.NATS.ResultsSubject + "." + id
	// Twice with the job ID as Nats-Msg-Id (JetStream drops the copy) and
	// once without (the coordinator's insert must be idempotent).
	for i := 0; i < 2; i++ {
		ack, err := js.Publish(ctx, subj, data, jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		if !ack.Duplicate {
			t.Errorf("replay %d was not recognised as a duplicate", i)
		}
	}
	ack, err := js.Publish(ctx, subj, data)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the coordinator has consumed the un-deduplicated copy.
	testenv.Eventually(t, 30*time.Second, func() error {
		cons, err := c.JetStream(t).Consumer(ctx, "RESULTS", "coordinator")
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < ack.Sequence {
			return fmt.Errorf("results acked up to %d, replay is %d", info.AckFloor.Stream, ack.Sequence)
		}
		return nil
	})
	if n := countMeasurements(t, c, id); n != 1 {
		t.Fatalf("%d measurements after replays, want 1", n)
	}
}

func TestRefusedIdentities(t *testing.T) {
	c := testenv.Start(t, nil)
	dirA, dirB := t.TempDir(), t.TempDir()
	pathA, cfgA := enrollProc(t, c, dirA, "agent-a")
	_, cfgB := enrollProc(t, c, dirB, "agent-b")

	// B's key and JWT with A's device: NATS lets B in, but not onto A's
	// consumer.
	forged := *cfgA
	forged.Seed, forged.NATS.NKey, forged.NATS.JWT = cfgB.Seed, cfgB.NATS.NKey, cfgB.NATS.JWT
	forgedPath := filepath.Join(t.TempDir(), "forged.json")
	if err := agent.SaveConfig(forgedPath, &forged); err != nil {
		t.Fatal(err)
	}
	code, out := runAgentCmd(t, runArgs(forgedPath, t.TempDir())...)
	// B's key with A's JWT: the JWT names another key; refused at connect.
	mixed := *cfgA
	mixed.Seed, mixed.NATS.NKey = cfgB.Seed, cfgB.NATS.NKey
	mixedPath := filepath.Join(t.TempDir(), "mixed.json")
	if err := agent.SaveConfig(mixedPath, &mixed); err != nil {
		t.Fatal(err)
	}
	if code, out := runAgentCmd(t, runArgs(mixedPath, t.TempDir())...); code == 0 || !strings.Contains(strings.ToLower(out), "authorization violation") {
		t.Fatalf("agent with another device's JWT: exit %d\n%s", code, out)
	}
	if code == 0 || !strings.Contains(out, "identity refused") || !strings.Contains(strings.ToLower(out), "permissions violation") {
		t.Fatalf("agent with another device's identity: exit %d\n%s", code, out)
	}

	// A revoked identity cannot connect at all.
	if code, body := c.Do(t, "DELETE", "/api/v1/devices/"+cfgA.DeviceID, nil, c.Token); code/100 != 2 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	code, out = runAgentCmd(t, runArgs(pathA, t.TempDir())...)
	if code == 0 || !strings.Contains(strings.ToLower(out), "authorization violation") {
		t.Fatalf("revoked agent: exit %d\n%s", code, out)
	}
}

func TestUnrunnableJobsFailWithoutRetry(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.JobAckWait = 2 * time.Second })
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "bad-jobs")
	ap := startAgent(t, runArgs(cfgPath, filepath.Join(dir, "state"))...)

	// A spec that cannot be built in the memory it is given: the child is
	// killed, and the job fails as oom.
	oomID := createJob(t, c, cfg.DeviceID, agent.TinySpecJSON, agent.TinyWorkload(), map[string]any{"memory_limit_bytes": 1 << 20})
	j := waitJob(t, c, oomID, 60*time.Second, "done", "failed")
	if j.State != "failed" || deref(j.FailKind) != wire.FailOOM || !strings.Contains(deref(j.Error), "cap") {
		t.Fatalf("oom job: %s %s %s", j.State, deref(j.FailKind), deref(j.Error))
	}

	// An invalid spec (the API refuses those, so publish it directly, as a
	// buggy or older coordinator could): failed with the reason, terminated.
	badID := "jbad0000000000001"
	bad := `{"vocab":256,"hidden":64,"norm_eps":1e-5,"max_context":64,"layers":[{"mixer":"gqa","gqa":{"heads":3,"kv_heads":2,"head_dim":16,"rope_theta":10000},"ffn":0}]}`
	w := agent.TinyWorkload()
	wb, _ := json.Marshal(w.Normalize())
	testenv.Exec(t, c.DSN, `INSERT INTO jobs (id, device_id, spec, spec_hash, workload, workload_hash) VALUES ($1, $2, $3, 'x', $4, $5)`,
		badID, cfg.DeviceID, bad, string(wb), w.Hash())
	data, _ := json.Marshal(wire.Job{ID: badID, Kind: wire.JobKindMeasure, Spec: json.RawMessage(bad), Workload: w, CreatedAt: time.Now()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seq, err := c.App.Bus.PublishJob(ctx, cfg.DeviceID, wire.JobKindMeasure, badID, data)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Exec(t, c.DSN, `UPDATE jobs SET stream_seq = $2 WHERE id = $1`, badID, int64(seq))
	j = waitJob(t, c, badID, 60*time.Second, "done", "failed")
	if j.State != "failed" || deref(j.FailKind) != wire.FailInvalidSpec || !strings.Contains(deref(j.Error), "kv_heads") {
		t.Fatalf("invalid job: %s %s %s", j.State, deref(j.FailKind), deref(j.Error))
	}
	// Neither job is left to be redelivered.
	testenv.Eventually(t, 30*time.Second, func() error {
		cons, err := c.JetStream(t).Consumer(ctx, cfg.NATS.Stream, cfg.NATS.AgentConsumer)
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 {
			return fmt.Errorf("consumer: %d pending, %d unacked, %d redelivered", info.NumPending, info.NumAckPending, info.NumRedelivered)
		}
		return nil
	})
	if n := strings.Count(ap.out.String(), "invalid job"); n != 1 {
		t.Fatalf("the invalid job was handled %d times, want once", n)
	}
}

// benchSpecJSON is the spec of the repeatability benchmark: a 6.0 M
// parameter LFM2-style hybrid (4 conv + 2 GQA blocks).
const benchSpecJSON = `{"name":"bench-hybrid-6m","vocab":4096,"hidden":256,"tied_embeddings":true,"norm_eps":1e-5,"max_context":1024,"layers":[
 {"mixer":"conv","conv":{"kernel":3},"ffn":768},
 {"mixer":"conv","conv":{"kernel":3},"ffn":768},
 {"mixer":"gqa","gqa":{"heads":8,"kv_heads":2,"head_dim":32,"qk_norm":true,"rope_theta":1000000},"ffn":768},
 {"mixer":"conv","conv":{"kernel":3},"ffn":768},
 {"mixer":"conv","conv":{"kernel":3},"ffn":768},
 {"mixer":"gqa","gqa":{"heads":8,"kv_heads":2,"head_dim":32,"qk_norm":true,"rope_theta":1000000},"ffn":768}]}`

// BenchmarkAgentRepeatability sends the same measurement job (pp512 and
// tg128 of benchSpecJSON, q8_0, one thread) ten times through the whole
// system — API, JetStream, a real agent process, its measuring child,
// PostgreSQL — and reports the relative spread of the ten pp512 and tg128
// medians: (max-min)/median and stddev/mean, in percent. Run it with
//
//	go test ./device-agent/ -run '^$' -bench AgentRepeatability -benchtime 1x
func BenchmarkAgentRepeatability(b *testing.B) {
	const jobs = 10
	for b.Loop() {
		c := testenv.Start(b, nil)
		dir := b.TempDir()
		cfgPath := filepath.Join(dir, "agent.json")
		tok := enrollmentToken(b, c)
		cfg, err := agent.EnrollForTest(context.Background(), c.URL, tok, "", nil, cfgPath, false)
		if err != nil {
			b.Fatal(err)
		}
		exe, _ := os.Executable()
		// --nice -10 as llama-bench --prio: this machine is shared, and the
		// measuring child should not yield its core to background work.
		cmd := exec.Command(exe, append(runArgs(cfgPath, filepath.Join(dir, "state")), "--nice", "-10")...)
		cmd.Env = append(os.Environ(), agent.EnvTestMain+"=1")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		w := workload.Workload{Precision: "q8_0", Threads: 1, PromptLengths: []int{512}, DecodeDepths: []int{0}, DecodeTokens: 128, Seed: 7}
		var pp, tg []float64
		for i := 0; i < jobs; i++ {
			code, data := c.Do(b, "POST", "/api/v1/devices/"+cfg.DeviceID+"/jobs",
				map[string]any{"spec": json.RawMessage(benchSpecJSON), "workload": w}, c.Token)
			if code != http.StatusAccepted {
				b.Fatalf("create job: %d %s", code, data)
			}
			var j jobView
			_ = json.Unmarshal(data, &j)
			testenv.Eventually(b, 10*time.Minute, func() error {
				_, data := c.Do(b, "GET", "/api/v1/jobs/"+j.ID, nil, c.Token)
				if err := json.Unmarshal(data, &j); err != nil {
					return err
				}
				if j.State == "failed" {
					b.Fatalf("job failed: %s %s", deref(j.FailKind), deref(j.Error))
				}
				if j.State != "done" {
					return fmt.Errorf("job %s", j.State)
				}
				return nil
			})
			pp = append(pp, j.Measurement.Prefill[0].TokensPerSec.Median)
			tg = append(tg, j.Measurement.Decode[0].TokensPerSec.Median)
			b.Logf("job %d: pp512 %.1f t/s (%d reps), tg128 %.1f t/s (%d reps), variant %s", i+1, pp[i],
				j.Measurement.Prefill[0].Repetitions, tg[i], j.Measurement.Decode[0].Repetitions, j.Measurement.KernelVariant)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		for _, s := range []struct {
			name string
			x    []float64
		}{{"pp512", pp}, {"tg128", tg}} {
			st, err := stats.Summarize(s.x)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(st.Median, s.name+"-t/s")
			b.ReportMetric(100*(st.Max-st.Min)/st.Median, s.name+"-range-%")
			b.ReportMetric(100*st.Stddev/st.Mean, s.name+"-cv-%")
		}
	}
}

func TestEnrollAgainstCoordinator(t *testing.T) {
	c := testenv.Start(t, nil)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cfg", "agent.json")

	// A wrong token is refused with the coordinator's reason, and the
	// token is not repeated.
	_, err := agent.EnrollForTest(ctx, c.URL, "hil_wrong_token_value", "", nil, path, false)
	if err == nil || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "hil_wrong_token_value") {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("identity stored after a refused enroll")
	}

	cfg, err := agent.EnrollForTest(ctx, c.URL, enrollmentToken(t, c), "unit", []string{"a", "b"}, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "unit" || cfg.DeviceID == "" || cfg.NATS.AgentConsumer != "agt-"+cfg.DeviceID {
		t.Fatalf("identity %+v", cfg)
	}
	loaded, err := agent.LoadConfig(path)
	if err != nil || loaded.Seed != cfg.Seed {
		t.Fatalf("stored identity: %v", err)
	}
	// --force replaces the identity with a new key.
	forced, err := agent.EnrollForTest(ctx, c.URL, enrollmentToken(t, c), "", nil, path, true)
	if err != nil {
		t.Fatal(err)
	}
	if forced.NATS.NKey == cfg.NATS.NKey || forced.DeviceID == cfg.DeviceID {
		t.Fatal("--force kept the old identity")
	}
	// A used token cannot enroll again.
	tok := enrollmentToken(t, c)
	if _, err := agent.EnrollForTest(ctx, c.URL, tok, "", nil, path+"2", false); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.EnrollForTest(ctx, c.URL, tok, "", nil, path+"3", false); err == nil {
		t.Fatal("a used token enrolled again")
	}
}

func TestCancelRunningJob(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.JobAckWait = 2 * time.Second })
	dir := t.TempDir()
	cfgPath, cfg := enrollProc(t, c, dir, "cancel-agent")
	ap := startAgent(t, runArgs(cfgPath, filepath.Join(dir, "state"))...)
	id := createJob(t, c, cfg.DeviceID, agent.SlowSpecJSON, agent.SlowWorkload(), nil)
	waitRunning(t, c, ap, id)

	request := func(body string) map[string]any {
		msg, err := c.Conn(t).Request(cfg.NATS.ControlSubject+".cancel", []byte(body), 5*time.Second)
		if err != nil {
			t.Fatalf("cancel request: %v", err)
		}
		var r map[string]any
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := request(`{"job_id":"jnotrunning"}`); r["cancelled"] != false {
		t.Fatalf("cancel of another job: %v", r)
	}
	if r := request(`{"job_id":"` + id + `","reason":"operator"}`); r["cancelled"] != true {
		t.Fatalf("cancel: %v", r)
	}
	j := waitJob(t, c, id, 30*time.Second, "done", "failed", "cancelled")
	if j.State != "failed" || !strings.Contains(deref(j.Error), "cancelled by the coordinator: operator") {
		t.Fatalf("cancelled job: %s %s %s", j.State, deref(j.FailKind), deref(j.Error))
	}
	if n := countMeasurements(t, c, id); n != 0 {
		t.Fatalf("%d measurements of a cancelled job", n)
	}
	if runtime.GOOS == "linux" {
		testenv.Eventually(t, 10*time.Second, func() error {
			if pids := childrenOf(ap.cmd.Process.Pid); len(pids) > 0 {
				return fmt.Errorf("child %v still running", pids)
			}
			return nil
		})
	}
	// The agent goes on serving jobs.
	next := createJob(t, c, cfg.DeviceID, agent.TinySpecJSON, agent.TinyWorkload(), nil)
	if j := waitJob(t, c, next, 60*time.Second, "done", "failed"); j.State != "done" {
		t.Fatalf("job after a cancel: %s %s", j.State, deref(j.Error))
	}
}
