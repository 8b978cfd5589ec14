package coordinator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestEvaluatorIdentityLimitedToItsSubjects: a NATS user issued for a
// worker of evaluator mqar (bus.EvaluatorUser, through the same
// authority as agents) cannot read an agent's measurement jobs, publish
// device results or another evaluator's answers, and can publish its own
// evaluator's answers and heartbeats. (The NATS transport that hands
// such identities out is not built yet; this checks the identity.)
func TestEvaluatorIdentityLimitedToItsSubjects(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")

	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	w := bus.EvaluatorWorker{Evaluator: "mqar", WorkerID: "w0123456789abcdef", NKey: pub}
	j, err := c.App.Bus.IssueEvaluatorJWT(w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.App.Bus.IssueEvaluatorJWT(bus.EvaluatorWorker{Evaluator: "Bad Name", WorkerID: "w1", NKey: pub}); err == nil {
		t.Fatal("a JWT was issued for an evaluator name that is not a subject token")
	}
	errs := make(chan error, 16)
	nc, err := nats.Connect(strings.Join(c.App.Bus.ClientURLs(), ","), nats.UserJWT(func() (string, error) { return j, nil }, kp.Sign),
		nats.CustomInboxPrefix(bus.InboxPrefix(w.WorkerID)), nats.MaxReconnects(0),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("evaluator worker connect: %v", err)
	}
	defer nc.Close()
	violation := func(what string) {
		t.Helper()
		select {
		case err := <-errs:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Fatalf("%s: unexpected error %v", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no permissions violation", what)
		}
	}
	// Own subjects work.
	for _, subj := range []string{bus.AnswerPrefix("mqar") + ".e0000000000000001", bus.HeartbeatSubject(w.WorkerID)} {
		if err := nc.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("own subjects refused: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	// An agent's results, another evaluator's answers: refused.
	_ = nc.Publish(bus.ResultsPrefix(a.Resp.DeviceID)+".forged", []byte(`{}`))
	violation("publish an agent's result")
	_ = nc.Publish(bus.AnswerPrefix("other")+".e0000000000000002", []byte(`{}`))
	violation("publish another evaluator's answer")
	// An agent's measurement jobs: the consumer cannot even be looked up.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := js.Consumer(ctx, bus.StreamJobs, bus.AgentConsumer(a.Resp.DeviceID)); err == nil {
		t.Fatal("an evaluator identity read an agent's job consumer")
	}
	violation("read an agent's job consumer")
}
