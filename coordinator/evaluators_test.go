package coordinator_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// standInEvaluator is a stand-in webhook evaluator for tests (not the
// reference evaluator): it checks each job's signature, acknowledges it,
// and (unless silent) answers with a signed callback whose score is the
// candidate's share of attention layers, a deterministic function of the
// architecture. A silent stand-in never answers.
type standInEvaluator struct {
	t      *testing.T
	name   string
	silent bool
	srv    *httptest.Server
	// failWith, when set, gives the failure (or nil for ok) to answer
	// the n-th job delivery with (n from 1).
	failWith func(n int64) *wire.EvalError
	secret   atomic.Value // string, set after registration
	jobs     atomic.Int64
	mu       sync.Mutex
	// sent keeps each answer request (for the replay test).
	sent []sentAnswer
}

type sentAnswer struct {
	url  string
	hdr  http.Header
	body []byte
}

func newStandInEvaluator(t *testing.T, name string, silent bool) *standInEvaluator {
	e := &standInEvaluator{t: t, name: name, silent: silent}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *standInEvaluator) registration() wire.EvaluatorRegistration {
	return wire.EvaluatorRegistration{Protocol: 1, Type: wire.TypeRegistration, Name: e.name, Version: "0.1.0", Transport: wire.TransportWebhook,
		URL: e.srv.URL + "/v1/jobs", Scores: []wire.ScoreDecl{{Name: "attn_share", Direction: "maximize"}, {Name: "standin_loss", Direction: "minimize"}},
		TimeoutSeconds: 60, MaxConcurrency: 2}
}

func (e *standInEvaluator) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	secret, _ := e.secret.Load().(string)
	if err := wire.VerifyWebhook([][]byte{[]byte(secret)}, r.Header.Get(wire.HeaderTimestamp), r.Header.Get(wire.HeaderDelivery), r.Header.Get(wire.HeaderSignature), body, time.Now()); err != nil {
		e.t.Errorf("stand-in evaluator: a request with a bad signature: %v", err)
		w.WriteHeader(401)
		return
	}
	var head struct{ Type string }
	_ = json.Unmarshal(body, &head)
	if head.Type == wire.TypeEvalCancel {
		w.WriteHeader(202)
		_, _ = w.Write([]byte(`{"state":"cancelled"}`))
		return
	}
	var job wire.EvalJob
	if err := json.Unmarshal(body, &job); err != nil || job.CallbackURL == "" || job.Deadline.Before(job.CreatedAt) {
		e.t.Errorf("stand-in evaluator: bad job %s: %v", body, err)
		w.WriteHeader(400)
		return
	}
	n := e.jobs.Add(1)
	w.WriteHeader(202)
	_, _ = w.Write([]byte(`{"job_id":"` + job.JobID + `","state":"accepted"}`))
	if e.silent {
		return
	}
	go func() {
		a, err := arch.Parse(job.Arch)
		if err != nil {
			e.t.Errorf("stand-in evaluator: arch: %v", err)
			return
		}
		attn := 0
		for _, l := range a.Layers {
			if l.Mixer == arch.MixerGQA || l.Mixer == arch.MixerSWA {
				attn++
			}
		}
		share := float64(attn) / float64(len(a.Layers))
		ans := wire.EvalAnswer{Protocol: 1, Type: wire.TypeEvalAnswer, JobID: job.JobID, Evaluator: e.name, EvaluatorVersion: "0.1.0", Status: "ok",
			Scores: map[string]float64{"attn_share": share, "standin_loss": 1 - share}}
		if e.failWith != nil {
			if f := e.failWith(n); f != nil {
				ans.Status, ans.Scores, ans.Error = "failed", nil, f
			}
		}
		b, _ := json.Marshal(ans)
		e.post(job.CallbackURL, b, secret)
	}()
}

// post sends a signed answer and records it.
func (e *standInEvaluator) post(url string, body []byte, secret string) (int, string) {
	ts := time.Now().Unix()
	del := fmt.Sprintf("standin-%d-%d", time.Now().UnixNano(), e.jobs.Load())
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set(wire.HeaderTimestamp, strconv.FormatInt(ts, 10))
	hdr.Set(wire.HeaderDelivery, del)
	hdr.Set(wire.HeaderSignature, wire.SignatureHeader([][]byte{[]byte(secret)}, ts, del, body))
	e.mu.Lock()
	e.sent = append(e.sent, sentAnswer{url, hdr.Clone(), body})
	e.mu.Unlock()
	return send(url, hdr, body)
}

func send(url string, hdr http.Header, body []byte) (int, string) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header = hdr.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func registerEvaluator(t *testing.T, c *testenv.Coordinator, e *standInEvaluator) {
	t.Helper()
	code, body := c.Do(t, "POST", "/api/v1/evaluators", e.registration(), c.Token)
	var created struct{ Secret string }
	if err := json.Unmarshal(body, &created); code != http.StatusCreated || err != nil || !strings.HasPrefix(created.Secret, "hilwhs_") {
		t.Fatalf("register evaluator: %d %s", code, body)
	}
	e.secret.Store(created.Secret)
}

func scoreSearchSpec(deviceID, evaluator string, maxTrials int, extra string) string {
	return `{"name":"quality","space":{"preset":"lfm2-like"},
	 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[512],"decode_depths":[0],"decode_length":16},
	 "targets":[{"name":"phone","devices":["` + deviceID + `"]}],
	 "objectives":[{"metric":"decode_ms_p50@phone"},{"metric":"attn_share@` + evaluator + `"}],
	 "constraints":[{"metric":"standin_loss@` + evaluator + `","max":0.99}],` + extra + `
	 "budget":{"max_trials":` + strconv.Itoa(maxTrials) + `,"max_in_flight_per_device":2},
	 "algorithm":"random","seed":11}`
}

func TestEvaluatorRegistrationAPI(t *testing.T) {
	c := testenv.Start(t, nil)
	e := newStandInEvaluator(t, "standin", false)
	registerEvaluator(t, c, e)
	code, body := c.Do(t, "POST", "/api/v1/evaluators", e.registration(), c.Token)
	if code != http.StatusConflict {
		t.Fatalf("second registration: %d %s", code, body)
	}
	bad := []string{
		`{}`, `[]`, `{"protocol":1}`, `{"protocol":1,"type":"evaluator_registration","name":"Bad Name","version":"1","transport":"webhook","url":"x","scores":[]}`,
		`{"protocol":1,"type":"evaluator_registration","name":"x","version":"1","transport":"carrier-pigeon","scores":[{"name":"a","direction":"up"}]}`,
		`{"protocol":1,"type":"evaluator_registration","name":"x","version":"1","transport":"webhook","url":"http://h","scores":[{"name":"a","direction":"maximize"}],"timeout_seconds":-4}`,
		`{"protocol":1,"type":"evaluator_registration","name":"x","version":"1","transport":"webhook","url":"http://h","scores":[{"name":"a","direction":"maximize"}],"accepts":{"mixers":["deltanet"]}}`,
		`{"protocol":1,"type":"evaluator_registration","name":"x","version":"1","transport":"webhook","url":"http://h","scores":[{"name":"a","direction":"maximize"}],"extra":1}`,
		`{"protocol":1,"type":"evaluator_registration","name":"x","version":"1","transport":"nats","scores":[{"name":"a","direction":"maximize"}]}`,
		"\x00", `{"protocol":1e400}`,
	}
	for _, b := range bad {
		code, body := c.Do(t, "POST", "/api/v1/evaluators", b, c.Token)
		if code < 400 || code >= 500 {
			t.Errorf("registration %s: %d %s, want a 4xx", b, code, body)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM evaluators`); n != 1 {
		t.Fatalf("%d evaluators stored after refused registrations", n)
	}
	code, body = c.Do(t, "GET", "/api/v1/evaluators", nil, c.Token)
	if code != 200 || !strings.Contains(string(body), `"standin"`) || strings.Contains(string(body), "hilwhs_") {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, p := range []string{"/api/v1/evaluators/nope", "/api/v1/evaluators/BAD%20x", "/api/v1/evaluators/" + strings.Repeat("a", 300)} {
		if code, body := c.Do(t, "GET", p, nil, c.Token); code != 404 {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	old, _ := e.secret.Load().(string)
	code, body = c.Do(t, "POST", "/api/v1/evaluators/standin/secret", nil, c.Token)
	var rot struct{ Secret string }
	if err := json.Unmarshal(body, &rot); code != 200 || err != nil || rot.Secret == old || !strings.HasPrefix(rot.Secret, "hilwhs_") {
		t.Fatalf("rotate: %d %s", code, body)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM evaluators WHERE prev_secret = $1 AND prev_until > now() + interval '23 hours'`, old); n != 1 {
		t.Fatalf("the previous secret is not kept for the overlap")
	}
	// A search naming an unknown evaluator or an undeclared score is refused.
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	for _, spec := range []string{scoreSearchSpec(a.Resp.DeviceID, "nobody", 2, ""), strings.Replace(scoreSearchSpec(a.Resp.DeviceID, "standin", 2, ""), "attn_share", "nonesuch", 1)} {
		code, body := c.Do(t, "POST", "/api/v1/searches", spec, c.Token)
		if code != 400 || !strings.Contains(string(body), "objectives[1].metric") {
			t.Errorf("search with a bad score: %d %s", code, body)
		}
	}
	if code, body := c.Do(t, "DELETE", "/api/v1/evaluators/standin", nil, c.Token); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := c.Do(t, "GET", "/api/v1/evaluators/standin", nil, c.Token); code != 404 {
		t.Fatalf("deleted evaluator still served: %d", code)
	}
	if code, _ := c.Do(t, "DELETE", "/api/v1/evaluators/standin", nil, c.Token); code != 404 {
		t.Fatalf("second delete: %d", code)
	}
}

func TestWebhookEvaluatorScoresSearch(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Agent.RunStandIn(ctx, c.App.Bus.ClientURLs)
	e := newStandInEvaluator(t, "standin", false)
	registerEvaluator(t, c, e)

	id := createSearch(t, c, scoreSearchSpec(a.Resp.DeviceID, "standin", 6, `"evaluators":{"standin":{"settings":{"steps":5}}},`))
	se := waitSearch(t, c, id, 120*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete != 6 {
		t.Fatalf("finished with %+v, want 6 complete trials", se.Progress)
	}
	// Every trial has its evaluation answered, and the score is the
	// trial's second objective.
	code, body := c.Do(t, "GET", "/api/v1/searches/"+id+"/trials?limit=100", nil, c.Token)
	var page struct {
		Trials []struct {
			Number      int
			Layers      []string
			Objectives  []float64
			Evaluations []struct {
				Evaluator, State string
				Scores           map[string]float64
			}
		}
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Trials) != 6 {
		t.Fatalf("trials: %d %s", code, body)
	}
	for _, tr := range page.Trials {
		attn := 0
		for _, l := range tr.Layers {
			if l == "gqa" || l == "swa" {
				attn++
			}
		}
		want := float64(attn) / float64(len(tr.Layers))
		if len(tr.Evaluations) != 1 || tr.Evaluations[0].State != "answered" || tr.Evaluations[0].Scores["attn_share"] != want || tr.Objectives[1] != want {
			t.Fatalf("trial %d: evaluations %+v objectives %v, want attn_share %v", tr.Number, tr.Evaluations, tr.Objectives, want)
		}
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM evaluations WHERE evaluator = 'standin'`); n == 0 {
		t.Fatalf("no answer cached")
	}
	jobsSent := e.jobs.Load()

	// Forged, tampered and replayed callbacks are refused and change nothing.
	e.mu.Lock()
	last := e.sent[len(e.sent)-1]
	e.mu.Unlock()
	before := testenv.QueryString(t, c.DSN, `SELECT string_agg(id || state || coalesce(scores::text, ''), ',' ORDER BY id) FROM evaluation_jobs`)
	if code, body := send(last.url, last.hdr, last.body); code != 401 || !strings.Contains(body, "replayed") {
		t.Errorf("replayed callback: %d %s", code, body)
	}
	forged := bytes.Replace(last.body, []byte(`"attn_share":`), []byte(`"attn_share":1e3,"x":`), 1)
	if code, body := send(last.url, last.hdr, forged); code != 401 || !strings.Contains(body, "unauthorized") {
		t.Errorf("tampered callback: %d %s", code, body)
	}
	if code, body := e.post(last.url, forged, "hilwhs_not_the_secret"); code != 401 {
		t.Errorf("callback signed with another secret: %d %s", code, body)
	}
	stale := last.hdr.Clone()
	ts := time.Now().Add(-10 * time.Minute).Unix()
	stale.Set(wire.HeaderTimestamp, strconv.FormatInt(ts, 10))
	stale.Set(wire.HeaderDelivery, "stale-delivery-0123456789")
	secret, _ := e.secret.Load().(string)
	stale.Set(wire.HeaderSignature, wire.SignatureHeader([][]byte{[]byte(secret)}, ts, "stale-delivery-0123456789", last.body))
	if code, body := send(last.url, stale, last.body); code != 401 || !strings.Contains(body, "stale") {
		t.Errorf("stale callback: %d %s", code, body)
	}
	if code, body := send(c.URL+"/api/v1/evaluations/enope/answer", last.hdr, last.body); code != 404 {
		t.Errorf("callback for no job: %d %s", code, body)
	}
	// A genuine second answer for an answered job is a duplicate.
	if code, body := e.post(last.url, forged, secret); code != 200 || !strings.Contains(body, "duplicate") {
		t.Errorf("second answer: %d %s", code, body)
	}
	// Signed answers PostgreSQL cannot store are refused with a 4xx.
	for _, b := range [][]byte{append(bytes.Clone(last.body[:len(last.body)-1]), []byte(`,"details":{"k":"a\u0000"}}`)...), append(bytes.Clone(last.body[:len(last.body)-1]), []byte(",\"x\":\"\xff\"}")...)} {
		if code, body := e.post(last.url, b, secret); code != 400 {
			t.Errorf("answer %q: %d %s, want 400", b, code, body)
		}
	}
	after := testenv.QueryString(t, c.DSN, `SELECT string_agg(id || state || coalesce(scores::text, ''), ',' ORDER BY id) FROM evaluation_jobs`)
	if after != before {
		t.Fatalf("refused callbacks changed the evaluation jobs:\n%s\n%s", before, after)
	}

	// The same seed and space again: evaluations come from the cache.
	id2 := createSearch(t, c, scoreSearchSpec(a.Resp.DeviceID, "standin", 6, `"evaluators":{"standin":{"settings":{"steps":5}}},`))
	waitSearch(t, c, id2, 120*time.Second, func(s searchState) bool { return s.State == "finished" })
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM evaluation_jobs WHERE search_id = $1 AND state = 'answered' AND deadline IS NULL`, id2); n == 0 {
		t.Fatalf("no evaluation came from the cache")
	}
	if e.jobs.Load() >= jobsSent+6 {
		t.Fatalf("the second search sent %d jobs; the cache was not used", e.jobs.Load()-jobsSent)
	}
	// CSV carries a column per score and the constraint's score values.
	code, body = c.Do(t, "GET", "/api/v1/searches/"+id+"/export?format=csv", nil, c.Token)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(rows) != 7 {
		t.Fatalf("csv: %d %v %s", code, err, body)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	ls, ok1 := col["standin_loss@standin"]
	as, ok2 := col["attn_share@standin"]
	cs, ok3 := col["constraint standin_loss@standin max 0.99"]
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("csv header %v", rows[0])
	}
	for _, r := range rows[1:] {
		if r[ls] == "" || r[as] == "" || r[cs] != r[ls] {
			t.Fatalf("csv row %v (header %v)", r, rows[0])
		}
	}
}

func TestEvaluatorThatNeverAnswersTimesOut(t *testing.T) {
	c := testenv.Start(t, func(cfg *coordinator.Config) { cfg.EvalGrace = 0 })
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Agent.RunStandIn(ctx, c.App.Bus.ClientURLs)
	e := newStandInEvaluator(t, "silent", true)
	registerEvaluator(t, c, e)
	id := createSearch(t, c, scoreSearchSpec(a.Resp.DeviceID, "silent", 1, `"evaluators":{"silent":{"timeout":"2s"}},`))
	se := waitSearch(t, c, id, 60*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Failed != 1 {
		t.Fatalf("progress %+v, want the one trial failed", se.Progress)
	}
	msg := testenv.QueryString(t, c.DSN, `SELECT error FROM trials WHERE search_id = $1`, id)
	if msg != "evaluator silent gave no answer within 2s" {
		t.Fatalf("trial error %q", msg)
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM evaluation_jobs WHERE search_id = $1 AND state = 'failed' AND error = $2`, id, msg); n != 1 {
		t.Fatalf("%d failed evaluation jobs with the reason", n)
	}
	if e.jobs.Load() != 1 {
		t.Fatalf("the job was sent %d times, want once", e.jobs.Load())
	}
}

func TestEvaluatorFailuresRetryAndFailTrial(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Agent.RunStandIn(ctx, c.App.Bus.ClientURLs)

	// A retryable failure is sent again (same job ID) and then succeeds.
	flaky := newStandInEvaluator(t, "flaky", false)
	flaky.failWith = func(n int64) *wire.EvalError {
		if n == 1 {
			return &wire.EvalError{Kind: wire.EvalInternal, Message: "worker hiccup", Retryable: true}
		}
		return nil
	}
	registerEvaluator(t, c, flaky)
	id := createSearch(t, c, scoreSearchSpec(a.Resp.DeviceID, "flaky", 1, ""))
	se := waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	if se.Progress.Complete != 1 || flaky.jobs.Load() != 2 {
		t.Fatalf("progress %+v after %d deliveries, want 1 complete after 2", se.Progress, flaky.jobs.Load())
	}
	if n := testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM evaluation_jobs WHERE search_id = $1 AND state = 'answered' AND attempt = 1`, id); n != 1 {
		t.Fatalf("%d answered jobs on their second attempt", n)
	}

	// A non-retryable failure fails the trial once, with the evaluator's
	// message.
	broken := newStandInEvaluator(t, "broken", false)
	broken.failWith = func(int64) *wire.EvalError {
		return &wire.EvalError{Kind: wire.EvalUnsupported, Message: "layers[0].mixer: mixer 'conv' is not implemented by this evaluator"}
	}
	registerEvaluator(t, c, broken)
	id = createSearch(t, c, scoreSearchSpec(a.Resp.DeviceID, "broken", 1, ""))
	se = waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })
	msg := testenv.QueryString(t, c.DSN, `SELECT error FROM trials WHERE search_id = $1`, id)
	if se.Progress.Failed != 1 || msg != "evaluator broken: unsupported: layers[0].mixer: mixer 'conv' is not implemented by this evaluator" || broken.jobs.Load() != 1 {
		t.Fatalf("progress %+v, trial error %q, %d deliveries", se.Progress, msg, broken.jobs.Load())
	}
}
