package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// Agent is a test identity of a device agent: a real NKey pair enrolled
// through the real API.
type Agent struct {
	KP   nkeys.KeyPair
	Pub  string
	Resp wire.EnrollResponse
	// Hold, if set, is called by RunStandIn with each job after a busy
	// heartbeat naming it and before the job is answered: while Hold
	// blocks, the stand-in sends nothing, as a device that went away.
	Hold func(jetstream.Msg)
	// StandInWatts, if set, gives every row an energy figure from a
	// stand-in energy source (source "stand-in: <W> W × time per token",
	// no hardware read): StandInWatts times the row's time per token.
	// Unset, every row's energy is unavailable with the reason
	// StandInNoEnergy, as on a device without RAPL or a battery.
	StandInWatts float64
	// StandInNoise, if set, makes the stand-in's timings noisy: each
	// timed median (prefill tokens/s and TTFT, decode ms/token) is scaled
	// by 1 + StandInNoise·u, u uniform in [−1, 1] and drawn afresh per job
	// (seeded by the job ID), and reported with the relative spread of
	// that noise, StandInNoise/√3. Peak RSS stays exact.
	StandInNoise float64
	// StandInSpread, if set with StandInNoise, is the relative spread the
	// stand-in reports instead of StandInNoise/√3: a device whose runs
	// disagree beyond what one run's repetitions show.
	StandInSpread float64
}

// StandInNoEnergy is the stand-in agent's reason for rows without energy.
const StandInNoEnergy = "no energy source: stand-in agent without a stand-in energy source"

// standInEnergy is a row's energy at ms milliseconds per token.
func (a *Agent) standInEnergy(ms float64) *wire.Energy {
	if a.StandInWatts == 0 {
		return &wire.Energy{Unavailable: StandInNoEnergy}
	}
	mj := a.StandInWatts * ms // W × ms = mJ
	return &wire.Energy{Source: fmt.Sprintf("stand-in: %g W × time per token", a.StandInWatts), MJPerToken: &wire.Stat{Median: mj, Mean: mj, Min: mj, Max: mj, P50: mj, P95: mj}}
}

// NewAgent creates a key pair.
func NewAgent(t testing.TB) *Agent {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return &Agent{KP: kp, Pub: pub}
}

// EnrollmentToken creates a one-time enrollment token with the admin token.
func (c *Coordinator) EnrollmentToken(t testing.TB) string {
	t.Helper()
	code, body := c.Do(t, "POST", "/api/v1/enrollment-tokens", nil, c.Token)
	if code != http.StatusCreated {
		t.Fatalf("create enrollment token: %d %s", code, body)
	}
	var r struct{ Token string }
	_ = json.Unmarshal(body, &r)
	return r.Token
}

// Enroll enrolls the agent with a fresh enrollment token.
func (a *Agent) Enroll(t testing.TB, c *Coordinator, class string) {
	t.Helper()
	body := map[string]any{"token": c.EnrollmentToken(t), "nkey": a.Pub, "class": class, "name": "stand-in",
		"profile": map[string]any{"cpu_model": "stand-in"}}
	code, resp := c.Do(t, "POST", "/api/v1/agents/enroll", body, "")
	if code != http.StatusCreated {
		t.Fatalf("enroll: %d %s", code, resp)
	}
	if err := json.Unmarshal(resp, &a.Resp); err != nil {
		t.Fatal(err)
	}
}

// Connect opens a NATS connection with the agent's identity.
func (a *Agent) Connect(urls []string, opts ...nats.Option) (*nats.Conn, error) {
	j := a.Resp.NATS.JWT
	opts = append([]nats.Option{nats.UserJWT(func() (string, error) { return j, nil }, a.KP.Sign), nats.CustomInboxPrefix(a.Resp.NATS.InboxPrefix), nats.MaxReconnects(0)}, opts...)
	return nats.Connect(strings.Join(urls, ","), opts...)
}

// RunStandIn answers the agent's jobs with numbers from the search
// package's AnalyticStandIn (its device "phone") until ctx ends,
// reconnecting to urls() when the connection drops, and sends heartbeats.
// It is a test double for the device agent, to test the coordinator's
// driver without minutes of real measurement; the device-agent package has
// the end-to-end tests with real measurements. Its numbers only ever reach
// test databases.
func (a *Agent) RunStandIn(ctx context.Context, urls func() []string) {
	ev := search.DefaultStandIn()
	go func() {
		for ctx.Err() == nil {
			nc, err := a.Connect(urls())
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			hb := time.NewTicker(2 * time.Second)
			beat := func() { _ = nc.Publish(a.Resp.NATS.HeartbeatSubj, []byte(`{"status":"idle"}`)) }
			beat()
			js, _ := jetstream.New(nc)
			// Its own consumer and, like the agent, its class's shared one.
			var conss []jetstream.Consumer
			cons, err := js.Consumer(ctx, "JOBS", a.Resp.NATS.AgentConsumer)
			conss = append(conss, cons)
			if err == nil && a.Resp.NATS.ClassConsumer != "" {
				cons, err = js.Consumer(ctx, "JOBS", a.Resp.NATS.ClassConsumer)
				conss = append(conss, cons)
			}
			for i := 0; err == nil && ctx.Err() == nil; i++ {
				select {
				case <-hb.C:
					beat()
				default:
				}
				var msg jetstream.Msg
				msg, err = conss[i%len(conss)].Next(jetstream.FetchMaxWait(250 * time.Millisecond))
				if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
					err = nil
					continue
				}
				if err != nil {
					break
				}
				if a.Hold != nil {
					// Busy with the job, as the agent reports it, then
					// held: no heartbeat until Hold returns.
					var job wire.Job
					_ = json.Unmarshal(msg.Data(), &job)
					hbBusy, _ := json.Marshal(wire.Heartbeat{Status: "busy", JobID: job.ID})
					_ = nc.Publish(a.Resp.NATS.HeartbeatSubj, hbBusy)
					_ = nc.Flush()
					a.Hold(msg)
				}
				err = a.answer(ctx, js, ev, msg)
			}
			hb.Stop()
			nc.Close()
		}
	}()
}

func (a *Agent) answer(ctx context.Context, js jetstream.JetStream, ev *search.AnalyticStandIn, msg jetstream.Msg) error {
	var job wire.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		return msg.Term()
	}
	spec, err := arch.Parse(job.Spec)
	if err != nil {
		return msg.Term()
	}
	started := time.Now()
	w := job.Workload
	ss := &search.Spec{Workload: w, Targets: []search.Target{{Name: "phone"}}}
	vals, err := ev.Evaluate(ss, spec)
	if err != nil {
		return err
	}
	v := vals["phone"]
	noisy, rel := func(x float64) float64 { return x }, 0.0
	if a.StandInNoise > 0 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(job.ID))
		r := rand.New(rand.NewPCG(h.Sum64(), 18))
		noisy = func(x float64) float64 { return x * (1 + a.StandInNoise*(2*r.Float64()-1)) }
		rel = a.StandInNoise / math.Sqrt(3)
		if a.StandInSpread > 0 {
			rel = a.StandInSpread
		}
	}
	m := &wire.Measurement{SpecHash: job.SpecHash, WorkloadHash: w.Hash(), AgentVersion: "stand-in", KernelVariant: "stand-in",
		Threads: int(w.Threads), Precision: w.Precision, Params: spec.Params().Total, Runtime: w.Runtime}
	for _, L := range w.PromptLengths {
		tps := noisy(v[search.MetricKey{Metric: search.MetricPrefillTPS, At: L}])
		m.Prefill = append(m.Prefill, wire.PrefillResult{PromptLength: L,
			TokensPerSec: wire.Stat{Median: tps, RelSpread: rel},
			TTFTms:       wire.Stat{Median: noisy(v[search.MetricKey{Metric: search.MetricTTFT, At: L}]), RelSpread: rel},
			Row:          wire.Row{Energy: a.standInEnergy(1000 / tps)}})
	}
	for _, d := range w.DecodeDepths {
		ms := noisy(v[search.MetricKey{Metric: search.MetricDecodeP50, At: d}])
		m.Decode = append(m.Decode, wire.DecodeResult{Depth: d, Tokens: w.DecodeTokens, MsPerToken: wire.Stat{Median: ms, P50: ms, P95: ms, RelSpread: rel},
			TokensPerSec: wire.Stat{Median: 1000 / ms}, Row: wire.Row{Energy: a.standInEnergy(ms)}})
	}
	ctxs := append(append([]int{}, w.PromptLengths...), w.DecodeDepths...)
	m.PeakRSSBytes = int64(v[search.MetricKey{Metric: search.MetricPeakRSS, At: ctxs[len(ctxs)-1]}] * (1 << 20))
	// The stand-in's own time: how long it took to answer.
	m.StartedAt, m.FinishedAt = started, time.Now()
	data, _ := json.Marshal(wire.Result{JobID: job.ID, DeviceID: a.Resp.DeviceID, Status: wire.ResultOK, Measurement: m})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.Publish(pctx, a.Resp.NATS.ResultsSubject+"."+job.ID, data, jetstream.WithMsgID(job.ID)); err != nil {
		return err
	}
	return msg.DoubleAck(pctx)
}

// SearchSpec is a small nsga2/random search over the lfm2-like space on
// one device, for tests.
func SearchSpec(deviceID, algo string, maxTrials int) string {
	opts := ""
	if algo == "nsga2" {
		opts = `"nsga2":{"population":6},`
	}
	return `{"name":"test","space":{"preset":"lfm2-like"},
	 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[512],"decode_depths":[0],"decode_length":16},
	 "targets":[{"name":"phone","devices":["` + deviceID + `"]}],
	 "objectives":[{"metric":"decode_ms_p50@phone"},{"metric":"peak_rss_mb@phone"},{"metric":"params","direction":"maximize"}],
	 "budget":{"max_trials":` + itoa(maxTrials) + `,"max_in_flight_per_device":2},
	 "algorithm":"` + algo + `",` + opts + `"seed":7}`
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
