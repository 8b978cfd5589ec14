package coordinator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// agent is a test device-agent identity (testenv.Agent: a real NKey pair)
// with what these tests need beyond it: enrolling with a given token, and
// seeing async NATS errors. The device-agent package has its own e2e tests.
type agent struct{ *testenv.Agent }

func newAgent(t *testing.T) *agent { return &agent{testenv.NewAgent(t)} }

func enrollmentToken(t *testing.T, c *testenv.Coordinator) string {
	t.Helper()
	code, body := c.Do(t, "POST", "/api/v1/enrollment-tokens", nil, c.Token)
	if code != http.StatusCreated {
		t.Fatalf("create enrollment token: %d %s", code, body)
	}
	var r struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(r.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("default expiry should be 24 h away, is %v", d)
	}
	return r.Token
}

func enrollBody(a *agent, token, class string) map[string]any {
	return map[string]any{"token": token, "nkey": a.Pub, "class": class, "name": "bench-1",
		"tags": []string{"lab"}, "profile": map[string]any{"cpu_model": "Test CPU", "hostname": "h1"}}
}

func (a *agent) enroll(t *testing.T, c *testenv.Coordinator, token, class string) {
	t.Helper()
	code, body := c.Do(t, "POST", "/api/v1/agents/enroll", enrollBody(a, token, class), "")
	if code != http.StatusCreated {
		t.Fatalf("enroll: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &a.Resp); err != nil {
		t.Fatal(err)
	}
}

// connect opens a NATS connection with the agent's identity. errs receives
// async errors (permission violations).
func (a *agent) connect(t *testing.T, errs chan<- error, extra ...nats.Option) (*nats.Conn, error) {
	return a.Connect(a.Resp.NATS.URLs, append([]nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errs != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}),
	}, extra...)...)
}

func TestEnrollEndToEnd(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	if !strings.HasPrefix(a.Resp.DeviceID, "d") || a.Resp.NATS.NKey != a.Pub || len(a.Resp.NATS.URLs) == 0 {
		t.Fatalf("unexpected identity: %+v", a.Resp)
	}

	nc, err := a.connect(t, nil)
	if err != nil {
		t.Fatalf("agent connect with its identity: %v", err)
	}
	defer nc.Close()

	// Heartbeat → the device is online.
	temp := 47.5
	hb, _ := json.Marshal(wire.Heartbeat{Status: "idle", TempC: &temp})
	if err := nc.Publish(a.Resp.NATS.HeartbeatSubj, hb); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		code, body := c.Do(t, "GET", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token)
		var d struct {
			Status    string   `json:"status"`
			LastTempC *float64 `json:"last_temp_c"`
		}
		_ = json.Unmarshal(body, &d)
		if code != 200 || d.Status != "online" || d.LastTempC == nil || *d.LastTempC != temp {
			return fmt.Errorf("device: %d %s", code, body)
		}
		return nil
	})

	// A job published by the coordinator reaches the agent's own consumer.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.JetStream(t).Publish(ctx, "jobs.agent."+a.Resp.DeviceID+".measure", []byte(`{"job":1}`)); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.Consumer(ctx, a.Resp.NATS.Stream, a.Resp.NATS.AgentConsumer)
	if err != nil {
		t.Fatalf("agent binds its consumer: %v", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("agent pulls its job: %v", err)
	}
	if string(msg.Data()) != `{"job":1}` {
		t.Fatalf("job payload %q", msg.Data())
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatalf("agent acks its job: %v", err)
	}
	// The agent publishes a result to RESULTS and JetStream stores it.
	ack, err := js.Publish(ctx, a.Resp.NATS.ResultsSubject+".job1", []byte(`{"ok":true}`), jetstream.WithMsgID("job1"))
	if err != nil {
		t.Fatalf("agent publishes its result: %v", err)
	}
	if ack.Stream != "RESULTS" {
		t.Fatalf("result stored in %q", ack.Stream)
	}

	// The enrollment token is spent and the device is listed.
	code, body := c.Do(t, "GET", "/api/v1/devices", nil, c.Token)
	if code != 200 || !strings.Contains(string(body), a.Resp.DeviceID) {
		t.Fatalf("list: %d %s", code, body)
	}
}

func TestEnrollmentTokenSingleUseUnderConcurrency(t *testing.T) {
	c := testenv.Start(t, nil)
	tok := enrollmentToken(t, c)
	const n = 8
	codes := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := newAgent(t)
			code, body := c.Do(t, "POST", "/api/v1/agents/enroll", enrollBody(a, tok, "x86-test-8g"), "")
			codes[i], bodies[i] = code, string(body)
		}()
	}
	wg.Wait()
	created := 0
	for i, code := range codes {
		switch {
		case code == http.StatusCreated:
			created++
		case code == http.StatusUnauthorized && strings.Contains(bodies[i], `"enrollment_token_used"`):
		default:
			t.Errorf("enrollment %d: %d %s", i, code, bodies[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d enrollments succeeded with one token, want exactly 1", created)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM devices`); n != 1 {
		t.Fatalf("%d devices exist, want 1", n)
	}
}

func TestEnrollmentRefusals(t *testing.T) {
	c := testenv.Start(t, nil)
	used := enrollmentToken(t, c)
	newAgent(t).enroll(t, c, used, "x86-test-8g")
	expired := enrollmentToken(t, c)
	testenv.Exec(t, c.DSN, `UPDATE enrollment_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = sha256($1::bytea)`, []byte(expired))

	for _, tc := range []struct{ name, token, code string }{
		{"reused", used, "enrollment_token_used"},
		{"expired", expired, "enrollment_token_expired"},
		{"unknown", "hilenr_doesnotexist", "enrollment_token_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM devices`)
			code, body := c.Do(t, "POST", "/api/v1/agents/enroll", enrollBody(newAgent(t), tc.token, "x86-test-8g"), "")
			if code != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
				t.Fatalf("got %d %s, want 401 %s", code, body, tc.code)
			}
			if after := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM devices`); after != before {
				t.Fatalf("devices %d -> %d: a refused enrollment created something", before, after)
			}
		})
	}
	// The expired token was not consumed by the attempt.
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM enrollment_tokens WHERE used_at IS NULL`); n != 1 {
		t.Fatalf("unused tokens: %d, want 1 (the expired one)", n)
	}
}

// TestAgentIsolation: an agent's identity cannot use another agent's
// subjects, consumers or inbox.
func TestAgentIsolation(t *testing.T) {
	c := testenv.Start(t, nil)
	a, b := newAgent(t), newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "class-a")
	b.enroll(t, c, enrollmentToken(t, c), "class-b")
	errs := make(chan error, 16)
	nc, err := a.connect(t, errs)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bid := b.Resp.DeviceID

	expectViolation := func(what string) {
		t.Helper()
		select {
		case err := <-errs:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Fatalf("%s: unexpected error %v", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no permissions violation reported", what)
		}
	}
	// Subscribe to B's control subject and B's inbox.
	if _, err := nc.SubscribeSync("ctl." + bid + ".>"); err != nil {
		t.Fatal(err)
	}
	expectViolation("subscribe ctl of another agent")
	if _, err := nc.SubscribeSync("_INBOX_" + bid + ".>"); err != nil {
		t.Fatal(err)
	}
	expectViolation("subscribe inbox of another agent")
	// Publish B's heartbeat and a result as B.
	if err := nc.Publish("hb."+bid, []byte(`{"status":"idle"}`)); err != nil {
		t.Fatal(err)
	}
	expectViolation("publish heartbeat of another agent")
	if err := nc.Publish("results."+bid+".forged", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	expectViolation("publish result of another agent")
	// Pull from B's consumer and from B's class consumer.
	if err := nc.Publish("$JS.API.CONSUMER.MSG.NEXT.JOBS.agt-"+bid, []byte(`{"batch":1}`)); err != nil {
		t.Fatal(err)
	}
	expectViolation("pull another agent's consumer")
	if err := nc.Publish("$JS.API.CONSUMER.MSG.NEXT.JOBS.cls-class-b", []byte(`{"batch":1}`)); err != nil {
		t.Fatal(err)
	}
	expectViolation("pull another class's consumer")
	// Nothing forged reached the stores.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.JetStream(t).Stream(ctx, "RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("RESULTS has %d messages after forged publishes", info.State.Msgs)
	}
	var lastSeen *time.Time
	code, body := c.Do(t, "GET", "/api/v1/devices/"+bid, nil, c.Token)
	var d struct {
		LastSeen *time.Time `json:"last_seen"`
	}
	_ = json.Unmarshal(body, &d)
	if code != 200 || d.LastSeen != lastSeen {
		t.Fatalf("B got a heartbeat it never sent: %s", body)
	}
	// A key nobody enrolled is refused outright.
	stranger := newAgent(t)
	stranger.Resp = a.Resp
	if _, err := stranger.connect(t, nil); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("unknown key connected: %v", err)
	}
}

func TestRevokeDropsIdentityAndJobs(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	closed := make(chan struct{})
	nc, err := a.connect(t, nil, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := c.JetStream(t).Publish(ctx, "jobs.agent."+a.Resp.DeviceID+".measure", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	code, body := c.Do(t, "DELETE", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token)
	if code != 200 || !strings.Contains(string(body), `"cancelled_jobs":3`) || !strings.Contains(string(body), `"status":"revoked"`) {
		t.Fatalf("revoke: %d %s", code, body)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("open connection of the revoked agent was not dropped")
	}
	if _, err := a.connect(t, nil); err == nil {
		t.Fatal("revoked identity could connect again")
	}
	st, _ := c.JetStream(t).Stream(ctx, "JOBS")
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("%d jobs left for the revoked device", info.State.Msgs)
	}
	if _, err := st.Consumer(ctx, "agt-"+a.Resp.DeviceID); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("consumer of revoked device: %v", err)
	}
	// Revoked devices are gone from the default list and refuse changes.
	if code, _ := c.Do(t, "PATCH", "/api/v1/devices/"+a.Resp.DeviceID, `{"name":"x"}`, c.Token); code != 404 {
		t.Fatalf("patch revoked device: %d", code)
	}
	if code, _ := c.Do(t, "DELETE", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token); code != 404 {
		t.Fatalf("second revoke: %d", code)
	}
}

// TestRestartRestoresIdentities: identities live in PostgreSQL, so after a
// restart enrolled agents connect and revoked ones stay refused.
func TestRestartRestoresIdentities(t *testing.T) {
	c := testenv.Start(t, nil)
	live, gone := newAgent(t), newAgent(t)
	live.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	gone.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	if code, body := c.Do(t, "DELETE", "/api/v1/devices/"+gone.Resp.DeviceID, nil, c.Token); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.App.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c2 := testenv.Start(t, func(cfg *coordinator.Config) { cfg.DatabaseURL, cfg.DataDir = c.DSN, c.DataDir })
	live.Resp.NATS.URLs = c2.App.Bus.ClientURLs()
	gone.Resp.NATS.URLs = c2.App.Bus.ClientURLs()
	nc, err := live.connect(t, nil)
	if err != nil {
		t.Fatalf("enrolled agent after restart: %v", err)
	}
	nc.Close()
	if _, err := gone.connect(t, nil); err == nil {
		t.Fatal("revoked agent connected after restart")
	}
}

// TestEnrollPastCapacity: with --max-agents 2, a third enrollment answers
// 503 capacity_exceeded, naming the capacity, and changes nothing (its
// token stays unused); once a device is revoked, the same token enrolls.
func TestEnrollPastCapacity(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.MaxAgents = 2 })
	a, b, x := newAgent(t), newAgent(t), newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "cap")
	b.enroll(t, c, enrollmentToken(t, c), "cap")
	tok := enrollmentToken(t, c)
	code, body := c.Do(t, "POST", "/api/v1/agents/enroll", enrollBody(x, tok, "cap"), "")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"capacity_exceeded"`) || !strings.Contains(string(body), "declared capacity is 2") {
		t.Fatalf("third enrollment: %d %s, want 503 capacity_exceeded naming the capacity", code, body)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM devices`); n != 2 {
		t.Fatalf("%d devices, want 2", n)
	}
	if code, body := c.Do(t, "DELETE", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	x.enroll(t, c, tok, "cap")
}
