package coordinator_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

const tinySpec = `{"vocab":256,"hidden":64,"tied_embeddings":true,"norm_eps":1e-5,"max_context":128,
 "layers":[{"mixer":"conv","conv":{"kernel":3},"ffn":128},
           {"mixer":"gqa","gqa":{"heads":4,"kv_heads":2,"head_dim":16,"qk_norm":true,"rope_theta":10000},"ffn":128}]}`

var tinyWorkload = workload.Workload{Precision: "f32", Threads: 1, PromptLengths: []int{16}, DecodeDepths: []int{0}, DecodeTokens: 4}

func createJob(t *testing.T, c *testenv.Coordinator, deviceID string) map[string]any {
	t.Helper()
	code, body := c.Do(t, "POST", "/api/v1/devices/"+deviceID+"/jobs",
		map[string]any{"spec": json.RawMessage(tinySpec), "workload": tinyWorkload}, c.Token)
	if code != http.StatusAccepted {
		t.Fatalf("create job: %d %s", code, body)
	}
	var j map[string]any
	_ = json.Unmarshal(body, &j)
	return j
}

func jobState(t *testing.T, c *testenv.Coordinator, id string) (string, map[string]any) {
	code, body := c.Do(t, "GET", "/api/v1/jobs/"+id, nil, c.Token)
	if code != 200 {
		t.Fatalf("get job: %d %s", code, body)
	}
	var j map[string]any
	_ = json.Unmarshal(body, &j)
	s, _ := j["state"].(string)
	return s, j
}

func TestJobAPIValidation(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	path := "/api/v1/devices/" + a.Resp.DeviceID + "/jobs"
	badSpec := strings.Replace(tinySpec, `"kv_heads":2`, `"kv_heads":3`, 1)
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no spec", map[string]any{"workload": tinyWorkload}, `"field":"spec"`},
		{"spec and preset", map[string]any{"spec": json.RawMessage(tinySpec), "preset": "lfm2-350m", "workload": tinyWorkload}, `"field":"spec"`},
		{"invalid spec", map[string]any{"spec": json.RawMessage(badSpec), "workload": tinyWorkload}, `layers[1].gqa.kv_heads`},
		{"unknown preset", map[string]any{"preset": "gpt-5", "workload": tinyWorkload}, `"field":"preset"`},
		{"bad precision", map[string]any{"preset": "lfm2-350m", "workload": workload.Workload{Precision: "q3_k", Threads: 1, PromptLengths: []int{8}}}, `workload.precision`},
		{"negative threads", map[string]any{"preset": "lfm2-350m", "workload": workload.Workload{Precision: "f32", Threads: -1, PromptLengths: []int{8}}}, `workload.threads`},
		{"nothing to measure", map[string]any{"preset": "lfm2-350m", "workload": workload.Workload{Precision: "f32", Threads: 1}}, `workload.prompt_lengths`},
		{"beyond context", map[string]any{"spec": json.RawMessage(tinySpec), "workload": workload.Workload{Precision: "f32", Threads: 1, PromptLengths: []int{4096}}}, `max_context`},
		{"decode without tokens", map[string]any{"spec": json.RawMessage(tinySpec), "workload": workload.Workload{Precision: "f32", Threads: 1, DecodeDepths: []int{0}}}, `workload.decode_tokens`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.Do(t, "POST", path, tc.body, c.Token)
			if code != 422 || !strings.Contains(string(body), tc.field) {
				t.Fatalf("got %d %s; want 422 naming %s", code, body, tc.field)
			}
		})
	}
	if code, body := c.Do(t, "POST", "/api/v1/devices/dnope/jobs", map[string]any{"spec": json.RawMessage(tinySpec), "workload": tinyWorkload}, c.Token); code != 404 || !strings.Contains(string(body), "device_not_found") {
		t.Fatalf("unknown device: %d %s", code, body)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM jobs`); n != 0 {
		t.Fatalf("refused requests created %d jobs", n)
	}
	if code, _ := c.Do(t, "GET", "/api/v1/jobs/jnope", nil, c.Token); code != 404 {
		t.Fatalf("unknown job: %d", code)
	}
}

// TestResultsStoredIdempotently drives the coordinator's side of a job with
// a NATS client holding the agent's identity: the job arrives on the
// agent's consumer, a result replayed twice (and once more after the dedup
// window, with another message ID) is stored once, and a result naming
// another device's job is ignored.
func TestResultsStoredIdempotently(t *testing.T) {
	c := testenv.Start(t, nil)
	a, b := newAgent(t), newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	b.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	job := createJob(t, c, a.Resp.DeviceID)
	jobID := job["id"].(string)

	nc, err := a.connect(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, "JOBS", a.Resp.NATS.AgentConsumer)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("job not delivered: %v", err)
	}
	var wj wire.Job
	if err := json.Unmarshal(msg.Data(), &wj); err != nil || wj.ID != jobID || wj.SpecHash == "" || wj.Workload.Repetitions != 5 {
		t.Fatalf("job message: %v %+v", err, wj)
	}
	if hdr := msg.Headers().Get("Nats-Msg-Id"); hdr != jobID {
		t.Fatalf("Nats-Msg-Id %q, want the job ID", hdr)
	}

	res := wire.Result{JobID: jobID, DeviceID: a.Resp.DeviceID, Status: wire.ResultOK, Attempt: 1, Measurement: &wire.Measurement{
		SpecHash: wj.SpecHash, WorkloadHash: wj.Workload.Hash(), AgentVersion: "test", KernelVariant: "go", Threads: 1,
		Prefill: []wire.PrefillResult{{PromptLength: 16, TokensPerSec: wire.Stat{Median: 100}}},
	}}
	data, _ := json.Marshal(res)
	subj := a.Resp.NATS.ResultsSubject + "." + jobID
	for i, id := range []string{jobID, jobID, jobID + "-late-replay"} {
		if _, err := js.Publish(ctx, subj, data, jetstream.WithMsgID(id)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if s, _ := jobState(t, c, jobID); s != "done" {
			return fmt.Errorf("job state %s", s)
		}
		return nil
	})
	// A conflicting later result (failed) does not overwrite the first.
	fail, _ := json.Marshal(wire.Result{JobID: jobID, DeviceID: a.Resp.DeviceID, Status: wire.ResultFailed, FailKind: wire.FailCrash})
	if _, err := js.Publish(ctx, subj, fail, jetstream.WithMsgID(jobID+"-other")); err != nil {
		t.Fatal(err)
	}
	// Device B claims A's job on its own subject: ignored.
	ncB, err := b.connect(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ncB.Close()
	jsB, _ := jetstream.New(ncB)
	forged, _ := json.Marshal(wire.Result{JobID: jobID, Status: wire.ResultFailed, FailKind: wire.FailCrash})
	if _, err := jsB.Publish(ctx, b.Resp.NATS.ResultsSubject+"."+jobID, forged, jetstream.WithMsgID("forged")); err != nil {
		t.Fatal(err)
	}
	// Wait until the coordinator has consumed everything, then check.
	testenv.Eventually(t, 10*time.Second, func() error {
		st, _ := c.JetStream(t).Stream(ctx, "RESULTS")
		cinfo, err := st.Consumer(ctx, "coordinator")
		if err != nil {
			return err
		}
		info, _ := cinfo.Info(ctx)
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM measurements WHERE job_id = $1`, jobID); n != 1 {
		t.Fatalf("%d measurements stored for one job, want 1", n)
	}
	_, body := c.Do(t, "GET", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token)
	if !strings.Contains(string(body), `"measurements":1`) {
		t.Fatalf("device should count 1 measurement: %s", body)
	}
	state, j := jobState(t, c, jobID)
	m, _ := j["measurement"].(map[string]any)
	if state != "done" || m == nil || m["kernel_variant"] != "go" {
		t.Fatalf("job after replays: %s %v", state, j)
	}
	_ = msg.Ack()
}

// TestTerminatedJobEndsFailed: an agent that terminates a job (unbuildable
// spec) ends it as failed with the reason; it is not redelivered.
func TestTerminatedJobEndsFailed(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	jobID := createJob(t, c, a.Resp.DeviceID)["id"].(string)
	nc, err := a.connect(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, "JOBS", a.Resp.NATS.AgentConsumer)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := msg.TermWithReason("cannot build: out of memory for weights"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		s, j := jobState(t, c, jobID)
		if s != "failed" || !strings.Contains(fmt.Sprint(j["error"]), "cannot build") {
			return fmt.Errorf("job: %s %v", s, j["error"])
		}
		return nil
	})
	if _, err := cons.Next(jetstream.FetchMaxWait(1500 * time.Millisecond)); err == nil {
		t.Fatal("terminated job was delivered again")
	}
}

// TestRevokeCancelsJobs: revoking a device cancels its unfinished jobs.
func TestRevokeCancelsJobs(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	jobID := createJob(t, c, a.Resp.DeviceID)["id"].(string)
	if code, body := c.Do(t, "DELETE", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token); code != 200 || !strings.Contains(string(body), `"cancelled_jobs":1`) {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if s, _ := jobState(t, c, jobID); s != "cancelled" {
		t.Fatalf("job state after revoke: %s", s)
	}
}

func TestDownloads(t *testing.T) {
	dataDir := t.TempDir()
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DataDir = dataDir })
	code, body := c.Do(t, "GET", "/downloads/manifest.json", nil, "")
	if code != 200 || !strings.Contains(string(body), `"android/arm64"`) || !strings.Contains(string(body), "/downloads/device-agent-windows-amd64.exe") {
		t.Fatalf("manifest: %d %s", code, body)
	}
	// The manifest gives devices the coordinator's own address (here the
	// listen address; HIL_ADVERTISE overrides it), not a browser's host.
	if !strings.Contains(string(body), `"coordinator_url":"`+c.URL+`"`) {
		t.Fatalf("manifest lacks coordinator_url %s: %s", c.URL, body)
	}
	adv := testenv.Start(t, func(cfg *coordinator.Config) { cfg.Advertise = "http://192.168.7.7:8080/" })
	if _, b := adv.Do(t, "GET", "/downloads/manifest.json", nil, ""); !strings.Contains(string(b), `"coordinator_url":"http://192.168.7.7:8080"`) {
		t.Fatalf("manifest with HIL_ADVERTISE: %s", b)
	}
	if code, _ := c.Do(t, "GET", "/downloads/device-agent-plan9-mips", nil, ""); code != 404 {
		t.Fatalf("unknown target: %d", code)
	}
	// A binary put there by `make agents` is served with its SHA-256.
	dir := filepath.Join(dataDir, "agents")
	_ = os.MkdirAll(dir, 0o755)
	payload := []byte("agent binary stand-in for the download test")
	if err := os.WriteFile(filepath.Join(dir, "device-agent-darwin-arm64"), payload, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	want := hex.EncodeToString(sum[:])
	code, got := c.Do(t, "GET", "/downloads/device-agent-darwin-arm64", nil, "")
	if code != 200 || string(got) != string(payload) {
		t.Fatalf("download: %d %q", code, got)
	}
	code, got = c.Do(t, "GET", "/downloads/device-agent-darwin-arm64.sha256", nil, "")
	if code != 200 || !strings.HasPrefix(string(got), want+"  device-agent-darwin-arm64") {
		t.Fatalf("sha256: %d %q want %s", code, got, want)
	}
	_, body = c.Do(t, "GET", "/downloads/manifest.json", nil, "")
	if !strings.Contains(string(body), want) {
		t.Fatalf("manifest lacks the built binary's digest: %s", body)
	}
	// A missing binary is never built on request: 503 naming `make agents`,
	// and no compiler runs. A stand-in `go` first on PATH records any call.
	bin := t.TempDir()
	called := filepath.Join(bin, "called")
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte("#!/bin/sh\ntouch "+called+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, f := range []string{"device-agent-linux-arm64", "device-agent-linux-arm64.sha256", "device-agent-android-arm64"} {
		code, got = c.Do(t, "GET", "/downloads/"+f, nil, "")
		if code != http.StatusServiceUnavailable || !strings.Contains(string(got), `"download_unavailable"`) || !strings.Contains(string(got), "make agents") {
			t.Fatalf("missing %s: %d %s", f, code, got)
		}
	}
	if _, err := os.Stat(called); err == nil {
		t.Fatal("a download request ran `go`")
	}
}

// TestJobCreationIdempotent: a job created with an Idempotency-Key and
// asked for again with it (the client never saw the first answer) is
// answered with the job stored the first time, and no second job is
// stored; the key with another request is refused (409) and a bad key is
// a 422; another token's key is its own.
func TestJobCreationIdempotent(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	path := "/api/v1/devices/" + a.Resp.DeviceID + "/jobs"
	body := map[string]any{"spec": json.RawMessage(tinySpec), "workload": tinyWorkload}
	key := http.Header{"Idempotency-Key": {"fleet-run-7/job-42"}}
	count := func() int64 { return testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM jobs`) }

	code, h, first := c.DoHeader(t, "POST", path, body, c.Token, key)
	if code != http.StatusAccepted || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", code, h, first)
	}
	var j1 struct {
		ID             string `json:"id"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	_ = json.Unmarshal(first, &j1)
	if j1.IdempotencyKey != "fleet-run-7/job-42" {
		t.Fatalf("job carries key %q", j1.IdempotencyKey)
	}
	code, h, again := c.DoHeader(t, "POST", path, body, c.Token, key)
	var j2 struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(again, &j2)
	if code != http.StatusOK || h.Get("Idempotent-Replayed") != "true" || j2.ID != j1.ID {
		t.Fatalf("again: %d %v %s, want 200 replaying %s", code, h, again, j1.ID)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d jobs stored, want 1", n)
	}
	other := map[string]any{"spec": json.RawMessage(tinySpec), "workload": tinyWorkload, "timeout_seconds": 99}
	if code, _, b := c.DoHeader(t, "POST", path, other, c.Token, key); code != http.StatusConflict || !strings.Contains(string(b), "idempotency_key_reused") || !strings.Contains(string(b), j1.ID) {
		t.Fatalf("same key, other request: %d %s, want 409 idempotency_key_reused naming %s", code, b, j1.ID)
	}
	if code, _, b := c.DoHeader(t, "POST", path, body, c.Token, http.Header{"Idempotency-Key": {"has space"}}); code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "Idempotency-Key") {
		t.Fatalf("bad key: %d %s, want 422 naming the header", code, b)
	}
	// Another token with the same key creates its own job.
	code, b := c.Do(t, "POST", "/api/v1/tokens", map[string]any{"name": "second", "scope": "admin"}, c.Token)
	var tok struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || code != http.StatusCreated || tok.Secret == "" {
		t.Fatalf("create token: %d %s", code, b)
	}
	if code, _, b := c.DoHeader(t, "POST", path, body, tok.Secret, key); code != http.StatusAccepted {
		t.Fatalf("other token, same key: %d %s, want 202", code, b)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d jobs stored, want 2", n)
	}
}
