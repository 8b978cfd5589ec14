//go:build linux

package farm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/device-agent/internal/adbstandin"
	"github.com/hilsearch/hilsearch/device-agent/internal/farm"
)

// TestMain makes the test binary the adb stand-in when it runs as "adb"
// (a symlink the test creates) with ADB_STANDIN_DIR set.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "adb" && os.Getenv(adbstandin.EnvDir) != "" {
		os.Exit(adbstandin.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer for concurrent writers and test readers.
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

// buildAgent builds the real device-agent for this machine (the stand-in
// phones run it) into path.
func buildAgent(t *testing.T, path string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the farm test builds the agent and needs the go command: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", path, "./cmd/device-agent")
	cmd.Dir = filepath.Join("..", "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the agent: %v\n%s", err, out)
	}
}

// The specs of the jobs: tiny measures in well under a second, slow for
// a few seconds on this class of machine (so a test can interfere while it
// runs; the test checks what happens, never how long it takes).
const (
	tinySpec = `{"name":"tiny","vocab":256,"hidden":64,"tied_embeddings":true,"norm_eps":1e-5,"max_context":128,
 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":128},
           {"mixer":"gqa","gqa":{"heads":4,"kv_heads":2,"head_dim":16,"qk_norm":true,"rope_theta":10000},"ffn":128}]}`
	slowSpec = `{"name":"slow","vocab":2048,"hidden":256,"tied_embeddings":true,"norm_eps":1e-5,"max_context":512,
 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":768},
           {"mixer":"gqa","gqa":{"heads":8,"kv_heads":2,"head_dim":32,"qk_norm":true,"rope_theta":10000},"ffn":768},
           {"mixer":"conv","conv":{"kernel":3},"ffn":768},
           {"mixer":"gqa","gqa":{"heads":8,"kv_heads":2,"head_dim":32,"qk_norm":true,"rope_theta":10000},"ffn":768}]}`
)

var (
	tinyWorkload = map[string]any{"precision": "q8_0", "threads": 1, "prompt_lengths": []int{16}, "decode_depths": []int{0}, "decode_tokens": 8, "seed": 1}
	slowWorkload = map[string]any{"precision": "f32", "threads": 1, "prompt_lengths": []int{384}, "decode_depths": []int{128}, "decode_tokens": 128,
		"repetitions": 100, "max_repetitions": 100, "seed": 2}
)

type farmEnv struct {
	t      *testing.T
	c      *testenv.Coordinator
	phones adbstandin.Phones
	out    *syncBuffer // agent log lines
	flog   *syncBuffer // the farm's own log
	agent  string      // the agent binary the coordinator serves
	stop   func()
}

func (e *farmEnv) createJob(deviceID, spec string, w map[string]any) string {
	e.t.Helper()
	code, data := e.c.Do(e.t, "POST", "/api/v1/devices/"+deviceID+"/jobs", map[string]any{"spec": json.RawMessage(spec), "workload": w}, e.c.Token)
	if code != http.StatusAccepted {
		e.t.Fatalf("create job: %d %s", code, data)
	}
	var j struct{ ID string }
	if err := json.Unmarshal(data, &j); err != nil || j.ID == "" {
		e.t.Fatalf("create job: %v %s", err, data)
	}
	return j.ID
}

func (e *farmEnv) jobState(id string) string {
	e.t.Helper()
	code, data := e.c.Do(e.t, "GET", "/api/v1/jobs/"+id, nil, e.c.Token)
	if code != http.StatusOK {
		e.t.Fatalf("get job: %d %s", code, data)
	}
	var j struct {
		State string  `json:"state"`
		Error *string `json:"error"`
	}
	_ = json.Unmarshal(data, &j)
	if j.State == "failed" {
		e.t.Fatalf("job %s failed: %s", id, deref(j.Error))
	}
	return j.State
}

// attempts returns how often the job was delivered.
func (e *farmEnv) attempts(id string) int {
	e.t.Helper()
	_, data := e.c.Do(e.t, "GET", "/api/v1/jobs/"+id, nil, e.c.Token)
	var j struct {
		Attempts int `json:"attempts"`
	}
	_ = json.Unmarshal(data, &j)
	return j.Attempts
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (e *farmEnv) waitJob(id string, timeout time.Duration, state string) {
	e.t.Helper()
	e.eventually(timeout, func() error {
		if st := e.jobState(id); st != state {
			return fmt.Errorf("job %s is %s, want %s", id, st, state)
		}
		return nil
	})
}

// eventually is testenv.Eventually with the farm's and agents' logs on
// failure.
func (e *farmEnv) eventually(timeout time.Duration, cond func() error) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("condition not met within %v: %v\n--- farm log:\n%s\n--- agent logs:\n%s", timeout, err, e.flog.String(), tailString(e.out.String(), 6000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// agentPID returns the PID in the phone's agent.pid (0 when none).
func (e *farmEnv) agentPID(serial string) int {
	b, _ := os.ReadFile(e.phones.HostPath(serial, farm.DefaultRemoteDir+"/agent.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// agentProcs lists the phone's `device-agent run` processes.
func (e *farmEnv) agentProcs(serial string) []int { return e.procs(serial, "run") }

// procs lists the phone's `device-agent <sub>` processes.
func (e *farmEnv) procs(serial, sub string) []int {
	var out []int
	for _, pid := range e.phones.Processes(serial) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(cmdline, []byte("device-agent\x00"+sub+"\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// waitMeasuring waits until the phone's agent runs a measuring child.
func (e *farmEnv) waitMeasuring(serial, job string) {
	e.t.Helper()
	e.waitJob(job, 2*time.Minute, "running")
	e.eventually(time.Minute, func() error {
		if len(e.procs(serial, "measure")) == 0 {
			return fmt.Errorf("phone %s runs no measuring child for %s", serial, job)
		}
		return nil
	})
}

// agentLines counts the lines of a phone's agent logs (as the farm
// streamed them) that contain s.
func (e *farmEnv) agentLines(serial, s string) int {
	n := 0
	for _, line := range strings.Split(e.out.String(), "\n") {
		if strings.HasPrefix(line, "["+serial+"] ") && strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// devices returns the enrolled devices by the serial their name ends with.
func (e *farmEnv) devices() map[string]struct{ ID, Status string } {
	e.t.Helper()
	code, data := e.c.Do(e.t, "GET", "/api/v1/devices", nil, e.c.Token)
	if code != http.StatusOK {
		e.t.Fatalf("list devices: %d %s", code, data)
	}
	var list struct {
		Devices []struct{ ID, Name, Status string }
	}
	if err := json.Unmarshal(data, &list); err != nil {
		var plain []struct{ ID, Name, Status string }
		if err2 := json.Unmarshal(data, &plain); err2 != nil {
			e.t.Fatalf("list devices: %v / %v: %s", err, err2, data)
		}
		list.Devices = plain
	}
	out := map[string]struct{ ID, Status string }{}
	for _, d := range list.Devices {
		f := strings.Fields(d.Name)
		if len(f) > 0 {
			out[f[len(f)-1]] = struct{ ID, Status string }{d.ID, d.Status}
		}
	}
	return out
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// startFarm runs a farm in this process until the returned stop is called.
func (e *farmEnv) startFarm(adbPath, cache string, stale time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := farm.Config{
		ADB: adbPath, Coordinator: e.c.URL, APIToken: e.c.Token, CacheDir: cache, Poll: 500 * time.Millisecond, Stale: stale,
		Tags:    []string{"farm", "stand-in"},
		RunArgs: []string{"--cool-max-wait", "0s", "--heartbeat", "2s", "-v"},
		Log:     slog.New(slog.NewTextHandler(e.flog, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Out:     e.out,
	}
	go func() { done <- farm.Run(ctx, cfg) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("farm: %v", err)
		}
	}
}

// TestFarmWithStandInPhones runs the farm against two stand-in phones and
// a real coordinator (PostgreSQL test schema, embedded NATS): it enrolls
// both, survives one agent being killed during a measurement, one phone
// unplugged and plugged in again with its agent alive, and the same phone
// unplugged and rebooted during a measurement; every job ends with exactly
// one measurement. A second farm then adopts the running agents.
func TestFarmWithStandInPhones(t *testing.T) {
	dataDir := t.TempDir()
	agentPath := filepath.Join(dataDir, "agents", "device-agent-linux-"+runtime.GOARCH)
	buildAgent(t, agentPath)
	c := testenv.Start(t, func(cfg *coordinator.Config) {
		cfg.DataDir = dataDir
		cfg.JobAckWait = 2 * time.Second
	})

	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	adbPath := filepath.Join(bin, "adb")
	if err := os.Symlink(self, adbPath); err != nil {
		t.Fatal(err)
	}
	e := &farmEnv{t: t, c: c, phones: adbstandin.Phones{Dir: t.TempDir()}, out: &syncBuffer{}, flog: &syncBuffer{}, agent: agentPath}
	t.Setenv(adbstandin.EnvDir, e.phones.Dir)
	const p1, p2 = "STANDIN0001", "STANDIN0002"
	for _, s := range []string{p1, p2} {
		if err := e.phones.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
		e.phones.KillAll()
	})
	e.startFarm(adbPath, t.TempDir(), 0)

	// Both phones get the agent, reverse ports, an identity, and a running
	// agent whose heartbeats reach the coordinator.
	var ids map[string]string
	e.eventually(3*time.Minute, func() error {
		devs := e.devices()
		ids = map[string]string{}
		for _, s := range []string{p1, p2} {
			d, ok := devs[s]
			if !ok || d.Status != "online" {
				return fmt.Errorf("phone %s: device %+v", s, d)
			}
			ids[s] = d.ID
		}
		return nil
	})
	httpPort := portOf(t, c.URL)
	natsPort := portOf(t, c.App.Bus.ClientURLs()[0])
	want := fileSHA(t, agentPath)
	for _, s := range []string{p1, p2} {
		if got := fileSHA(t, e.phones.HostPath(s, farm.DefaultRemoteDir+"/device-agent")); got != want {
			t.Errorf("%s: the phone's agent has SHA-256 %s, the coordinator serves %s", s, got, want)
		}
		rev := e.phones.Reverses(s)
		for _, port := range []int{httpPort, natsPort} {
			if r := fmt.Sprintf("tcp:%d tcp:%d", port, port); !slices.Contains(rev, r) {
				t.Errorf("%s: reverse rules %v lack %s", s, rev, r)
			}
		}
		st, err := os.Stat(e.phones.HostPath(s, farm.DefaultRemoteDir+"/agent.json"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: identity file %v %v", s, st, err)
		}
		if procs := e.agentProcs(s); len(procs) != 1 || procs[0] != e.agentPID(s) {
			t.Errorf("%s: agent processes %v, agent.pid %d", s, procs, e.agentPID(s))
		}
	}
	var jobs []string

	// 1. Phone 1's agent is killed while it measures: the farm starts it
	// again and the job, redelivered, is measured once.
	j1 := e.createJob(ids[p1], slowSpec, slowWorkload)
	jobs = append(jobs, j1)
	e.waitMeasuring(p1, j1)
	old := e.agentPID(p1)
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.eventually(time.Minute, func() error {
		if pid := e.agentPID(p1); pid == 0 || pid == old || len(e.agentProcs(p1)) != 1 {
			return fmt.Errorf("phone 1: agent.pid %d (killed %d), agents %v", pid, old, e.agentProcs(p1))
		}
		return nil
	})
	if st := e.jobState(j1); st == "done" {
		t.Fatal("the slow job was done before its agent was killed; make slowWorkload slower")
	}
	e.waitJob(j1, 3*time.Minute, "done")
	if n := e.attempts(j1); n < 2 {
		t.Errorf("job %s: %d attempts; the kill should have made it redelivered", j1, n)
	}
	e.eventually(30*time.Second, func() error { // each agent's start streamed once
		if n := e.agentLines(p1, `msg="agent started"`); n != 2 {
			return fmt.Errorf("phone 1's 'agent started' line streamed %d times, want 2 (first start, restart)", n)
		}
		return nil
	})
	for range 2 {
		jobs = append(jobs, e.createJob(ids[p1], tinySpec, tinyWorkload))
	}
	jobs = append(jobs, e.createJob(ids[p2], tinySpec, tinyWorkload))
	for _, j := range jobs[1:] {
		e.waitJob(j, 2*time.Minute, "done")
	}

	// 2. Phone 2 is unplugged and plugged in again; its agent lives on. The
	// farm sets up the reverse ports again, starts no second agent, and
	// resumes the log without repeating lines.
	pid2 := e.agentPID(p2)
	startedBefore := e.agentLines(p2, `msg="agent started"`)
	if err := e.phones.Disconnect(p2); err != nil {
		t.Fatal(err)
	}
	e.eventually(time.Minute, func() error {
		if !strings.Contains(e.flog.String(), `msg="phone disconnected" serial=`+p2) {
			return fmt.Errorf("the farm has not noticed")
		}
		return nil
	})
	if err := e.phones.Connect(p2); err != nil {
		t.Fatal(err)
	}
	e.eventually(time.Minute, func() error {
		if rev := e.phones.Reverses(p2); !slices.Contains(rev, fmt.Sprintf("tcp:%d tcp:%d", natsPort, natsPort)) {
			return fmt.Errorf("reverse rules after reconnect: %v", rev)
		}
		return nil
	})
	j := e.createJob(ids[p2], tinySpec, tinyWorkload)
	jobs = append(jobs, j)
	e.waitJob(j, 2*time.Minute, "done")
	e.eventually(30*time.Second, func() error { // the job's log lines reached the stream
		if e.agentLines(p2, "job="+j) == 0 {
			return fmt.Errorf("no log line of job %s from phone 2", j)
		}
		return nil
	})
	if pid := e.agentPID(p2); pid != pid2 || len(e.agentProcs(p2)) != 1 {
		t.Errorf("after reconnect: agent.pid %d (was %d), agents %v", pid, pid2, e.agentProcs(p2))
	}
	if n := e.agentLines(p2, `msg="agent started"`); n != startedBefore || n != 1 {
		t.Errorf("phone 2's 'agent started' line streamed %d times (before the reconnect %d)", n, startedBefore)
	}

	// 3. Phone 2 is unplugged and reboots during a measurement: nothing
	// can start while it is away; plugged in, its agent is started and the
	// interrupted job and one queued meanwhile are measured once each.
	j3 := e.createJob(ids[p2], slowSpec, slowWorkload)
	jobs = append(jobs, j3)
	e.waitMeasuring(p2, j3)
	if err := e.phones.Disconnect(p2); err != nil {
		t.Fatal(err)
	}
	if n := e.phones.Reboot(p2); n == 0 {
		t.Fatal("reboot killed no process on phone 2")
	}
	j4 := e.createJob(ids[p2], tinySpec, tinyWorkload)
	jobs = append(jobs, j4)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if procs := e.agentProcs(p2); len(procs) != 0 {
			t.Fatalf("an agent runs on the unplugged phone 2: %v", procs)
		}
	}
	if st := e.jobState(j4); st == "done" {
		t.Fatal("a job for the unplugged, rebooted phone was done")
	}
	if err := e.phones.Connect(p2); err != nil {
		t.Fatal(err)
	}
	e.waitJob(j3, 3*time.Minute, "done")
	e.waitJob(j4, 2*time.Minute, "done")
	if n := e.attempts(j3); n < 2 {
		t.Errorf("job %s: %d attempts; the reboot should have made it redelivered", j3, n)
	}
	e.eventually(30*time.Second, func() error { // the restarted agent's log reaches the stream
		if n := e.agentLines(p2, `msg="agent started"`); n != 2 {
			return fmt.Errorf("phone 2's agent started %d times, want 2 (first start, after the reboot)", n)
		}
		return nil
	})

	// No measurement lost or duplicated; no phone enrolled twice.
	if n := testenv.QueryInt(t, c.DSN, "SELECT count(*) FROM measurements"); n != int64(len(jobs)) {
		t.Errorf("%d measurements for %d jobs", n, len(jobs))
	}
	for _, j := range jobs {
		if n := testenv.QueryInt(t, c.DSN, "SELECT count(*) FROM measurements WHERE job_id = $1", j); n != 1 {
			t.Errorf("job %s: %d measurements", j, n)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, "SELECT count(*) FROM devices"); n != 2 {
		t.Errorf("%d devices enrolled for 2 phones", n)
	}
	for _, s := range []string{p1, p2} {
		if e.agentLines(s, "") == 0 {
			t.Errorf("no log line of phone %s was streamed", s)
		}
	}

	t.Logf("first farm's log:\n%s", tailString(e.flog.String(), 4000))

	// 4. A new farm adopts the running agents: no new process, no new
	// device.
	e.stop()
	e.stop = nil
	pids := map[string]int{p1: e.agentPID(p1), p2: e.agentPID(p2)}
	e.flog = &syncBuffer{}
	e.startFarm(adbPath, t.TempDir(), 2*time.Second)
	e.eventually(time.Minute, func() error {
		for _, s := range []string{p1, p2} {
			if !strings.Contains(e.flog.String(), `msg="agent running" serial=`+s) {
				return fmt.Errorf("phone %s not adopted", s)
			}
		}
		return nil
	})
	j5 := e.createJob(ids[p1], tinySpec, tinyWorkload)
	e.waitJob(j5, 2*time.Minute, "done")
	for s, pid := range pids {
		if got := e.agentProcs(s); len(got) != 1 || got[0] != pid {
			t.Errorf("phone %s after the new farm: agents %v, want only %d", s, got, pid)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, "SELECT count(*) FROM devices"); n != 2 {
		t.Errorf("%d devices after the second farm", n)
	}

	// 5. Phone 1's agent hangs (SIGSTOP): its process lives but its
	// heartbeats stop. Once the coordinator reports the device offline
	// (after its 30 s window) for longer than the farm's stale limit, the
	// farm sets up the reverse ports again, then restarts the agent.
	hung := e.agentPID(p1)
	if err := syscall.Kill(hung, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e.eventually(2*time.Minute, func() error {
		if pid := e.agentPID(p1); pid == hung || pid == 0 || len(e.agentProcs(p1)) != 1 {
			return fmt.Errorf("phone 1: agent.pid %d (hung %d), agents %v", pid, hung, e.agentProcs(p1))
		}
		return nil
	})
	for _, msg := range []string{`msg="no heartbeats from the agent; setting up reverse ports again" serial=` + p1, `msg="still no heartbeats from the agent; restarting it" serial=` + p1} {
		if !strings.Contains(e.flog.String(), msg) {
			t.Errorf("farm log lacks %s", msg)
		}
	}
	j6 := e.createJob(ids[p1], tinySpec, tinyWorkload)
	e.waitJob(j6, 2*time.Minute, "done")
	if n := testenv.QueryInt(t, c.DSN, "SELECT count(*) FROM measurements"); n != int64(len(jobs)+2) {
		t.Errorf("%d measurements for %d jobs", n, len(jobs)+2)
	}
	t.Logf("second farm's log:\n%s", tailString(e.flog.String(), 4000))
}

func portOf(t *testing.T, raw string) int {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("no port in %s", raw)
	}
	return p
}
