package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/workload"
)

// runOptions are the flags of `device-agent run`.
type runOptions struct {
	config   string
	stateDir string
	// coolThreshold is how far above the idle temperature (°C) a job may
	// start; coolMaxWait bounds the wait for it.
	coolThreshold float64
	coolMaxWait   time.Duration
	// coolPoll is the interval between temperature readings while waiting.
	coolPoll time.Duration
	// timeout and memFraction are the child limits when a job sets none.
	timeout     time.Duration
	memFraction float64
	heartbeat   time.Duration
	// fetchWait is how long one pull waits for a job.
	fetchWait time.Duration
	// jsTimeout bounds every JetStream request (a denied publish never
	// gets an answer, so nothing may wait forever).
	jsTimeout time.Duration
	// nice is the measuring child's nice value (0: unchanged).
	nice int
	// minBattery refuses jobs (returns them to the queue for a minute)
	// while the device runs on its battery below this charge, in percent
	// (0: no gate).
	minBattery int
	// llamaBench is --llama-bench (see llamaBenchPath).
	llamaBench string
	logLevel   slog.Level
}

func defaultRunOptions() runOptions {
	return runOptions{
		coolThreshold: 5, coolMaxWait: 2 * time.Minute, coolPoll: 2 * time.Second, timeout: 30 * time.Minute, memFraction: 0.75,
		heartbeat: 10 * time.Second, fetchWait: 2 * time.Second, jsTimeout: 5 * time.Second,
	}
}

// runRun implements `device-agent run`.
func runRun(ctx context.Context, args []string, st IO) error {
	o := defaultRunOptions()
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	fl.SetOutput(st.Stderr)
	fl.StringVar(&o.config, "config", "", "identity file written by enroll. Defaults to <user config dir>/hilsearch/agent.json")
	fl.StringVar(&o.stateDir, "state-dir", "", "where unsent results are kept. Defaults to a 'state' directory next to the identity file")
	fl.Float64Var(&o.coolThreshold, "cool-threshold", o.coolThreshold, "start a job only within this many °C of the idle temperature")
	fl.DurationVar(&o.coolMaxWait, "cool-max-wait", o.coolMaxWait, "longest wait for the device to cool before a job")
	fl.DurationVar(&o.timeout, "job-timeout", o.timeout, "time limit of a measurement when the job sets none")
	fl.Float64Var(&o.memFraction, "memory-fraction", o.memFraction, "memory cap of a measurement, as a fraction of RAM, when the job sets none")
	fl.DurationVar(&o.heartbeat, "heartbeat", o.heartbeat, "heartbeat interval")
	fl.IntVar(&o.nice, "nice", 0, "scheduling nice value of the measuring child, -20…19, as llama-bench --prio; negative values need CAP_SYS_NICE (Linux/Android)")
	fl.StringVar(&o.llamaBench, "llama-bench", "", "llama.cpp's llama-bench executable, for jobs with runtime llama.cpp. Defaults to the identity file's llama_bench, then $"+envLlamaBench+", then llama-bench on PATH")
	fl.IntVar(&o.minBattery, "min-battery", 0, "refuse jobs while the device runs on its battery below this charge, in percent (0: no gate; a job is also marked when its power state changes mid-row)")
	verbose := fl.Bool("v", false, "log debug messages")
	fl.Usage = func() {
		fmt.Fprintln(st.Stderr, "usage: device-agent run [--config FILE] [--state-dir DIR] [flags]\n\n"+
			"Connects to the coordinator's NATS with the enrolled identity, sends heartbeats, and measures\n"+
			"one job at a time in a child process. SIGTERM stops a running measurement and returns its job.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(st.Stderr, "device-agent run: unexpected argument %q\n", fl.Arg(0))
		return errUsage
	}
	switch {
	case o.coolThreshold <= 0:
		return fmt.Errorf("--cool-threshold %v: must be positive", o.coolThreshold)
	case o.coolMaxWait < 0:
		return fmt.Errorf("--cool-max-wait %v: must not be negative", o.coolMaxWait)
	case o.timeout <= 0:
		return fmt.Errorf("--job-timeout %v: must be positive", o.timeout)
	case o.memFraction <= 0 || o.memFraction > 1:
		return fmt.Errorf("--memory-fraction %v: must be in (0, 1]", o.memFraction)
	case o.minBattery < 0 || o.minBattery > 100:
		return fmt.Errorf("--min-battery %d: must be between 0 and 100", o.minBattery)
	case o.nice < -20 || o.nice > 19:
		return fmt.Errorf("--nice %d: must be between -20 and 19", o.nice)
	case o.heartbeat < time.Second:
		return fmt.Errorf("--heartbeat %v: must be at least 1s", o.heartbeat)
	}
	if *verbose {
		o.logLevel = slog.LevelDebug
	}
	if o.config == "" {
		p, err := DefaultConfigPath()
		if err != nil {
			return err
		}
		o.config = p
	}
	if o.stateDir == "" {
		o.stateDir = filepath.Join(filepath.Dir(o.config), "state")
	}
	cfg, err := LoadConfig(o.config)
	if err != nil {
		return err
	}
	child, err := selfChild()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(st.Stderr, &slog.HandlerOptions{Level: o.logLevel}))
	child.Nice, child.Log = o.nice, log
	child.LockPath = filepath.Join(o.stateDir, "measure.lock")
	a, err := newRunner(ctx, cfg, o, child, liveEnv(), log)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// runner is a running agent. Its job loop runs on one goroutine; the
// heartbeat and control goroutines read only the fields under mu.
type runner struct {
	cfg   *Config
	o     runOptions
	log   *slog.Logger
	spool *Spool
	child childCommand
	env   hw.Env
	// memTotal is the device's RAM in bytes (0 if unknown).
	memTotal int64
	// llamaBench is the llama-bench this agent runs for llama.cpp jobs, ""
	// when it has none.
	llamaBench string
	// runtimes are the runtimes besides native found at start (set once in
	// newRunner, read-only after): every heartbeat carries them, and the
	// coordinator refreshes the device's profile when they differ from the
	// enrolled ones.
	runtimes *[]wire.RuntimeInfo

	nc   *nats.Conn
	js   jetstream.JetStream
	cons map[string]jetstream.Consumer

	reconnected atomic.Bool
	closed      chan struct{}
	permDenied  atomic.Value // string: the last permissions violation

	jwtMu sync.Mutex // guards cfg.NATS.JWT (read by nats.go at every connect)

	mu    sync.Mutex
	jobID string // job being measured, "" when idle
	// cancelJob stops the running job's cooling wait or child (set while
	// a job runs).
	cancelJob context.CancelCauseFunc
	baseline  *float64 // idle CPU temperature (the coolest idle reading)
}

func newRunner(ctx context.Context, cfg *Config, o runOptions, child childCommand, env hw.Env, log *slog.Logger) (*runner, error) {
	sp, err := OpenSpool(o.stateDir)
	if err != nil {
		return nil, err
	}
	if err := sp.Prune(SentRetention); err != nil {
		log.Warn("prune sent results", "err", err)
	}
	a := &runner{cfg: cfg, o: o, log: log, spool: sp, child: child, env: env, cons: map[string]jetstream.Consumer{}, closed: make(chan struct{})}
	if p, err := hw.Collect(ctx, env); err != nil {
		log.Warn("hardware profile", "err", err)
	} else {
		a.memTotal = int64(p.Memory.TotalBytes)
		if p.Class != cfg.Class {
			log.Warn("the hardware class changed since enrollment; re-enroll to get jobs for this hardware", "enrolled", cfg.Class, "now", p.Class)
		}
	}
	lb := o.llamaBench
	if lb == "" {
		lb = cfg.LlamaBench
	}
	if path, err := llamaBenchPath(lb); err != nil {
		log.Warn("no llama.cpp runtime; jobs with runtime llama.cpp will fail", "err", err)
	} else if path != "" {
		a.llamaBench = path
		a.child.Env = append(a.child.Env, envLlamaBench+"="+path)
		log.Info("llama.cpp runtime", "llama_bench", path)
	}
	// Probe what it found as enrollment does, so the profile the
	// coordinator keeps follows a llama-bench added, rebuilt or removed
	// since (reported with the heartbeats; no re-enrollment).
	rts, notes := discoverRuntimes(ctx, lb)
	for _, n := range notes {
		log.Warn(n)
	}
	if rts == nil {
		rts = []wire.RuntimeInfo{}
	}
	if ctx.Err() == nil {
		a.runtimes = &rts
	}
	return a, nil
}

// run connects and serves jobs until ctx ends (then it returns nil) or the
// connection is closed for good (identity refused).
func (a *runner) run(ctx context.Context) error {
	if err := a.connect(); err != nil {
		return err
	}
	defer a.nc.Close()
	ctl, err := a.nc.Subscribe(a.cfg.NATS.ControlSubject+".>", a.onControl)
	if err != nil {
		return fmt.Errorf("subscribe control: %w", err)
	}
	defer ctl.Unsubscribe()
	a.log.Info("agent started", "device", a.cfg.DeviceID, "class", a.cfg.Class, "version", Version, "state_dir", a.o.stateDir)

	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go a.heartbeats(hbCtx)
	go a.renewJWTLoop(hbCtx)

	if err := a.bindOwnConsumer(ctx); err != nil {
		return err
	}
	a.flushSpool(ctx)
	for {
		select {
		case <-ctx.Done():
			a.log.Info("agent stopping")
			return nil
		case <-a.closed:
			return a.closedError()
		default:
		}
		if a.reconnected.Swap(false) {
			a.flushSpool(ctx)
		}
		msg, ackWait, err := a.nextJob(ctx)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			a.log.Debug("no job", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		if msg == nil {
			a.flushSpool(ctx) // retry anything left over from a failed publish
			continue
		}
		if err := a.handle(ctx, msg, ackWait); errors.Is(err, errInterrupted) {
			a.log.Info("agent stopping; the running job was returned to the queue")
			return nil
		}
	}
}

func (a *runner) connect() error {
	kp, err := nkeys.FromSeed([]byte(a.cfg.Seed))
	if err != nil {
		return errors.New("identity: invalid seed")
	}
	if _, err := kp.PublicKey(); err != nil {
		return errors.New("identity: invalid seed")
	}
	var closeOnce sync.Once
	nc, err := nats.Connect(strings.Join(a.cfg.NATS.URLs, ","),
		nats.Name("device-agent "+a.cfg.DeviceID),
		// The JWT is read at every (re)connect: a refreshed one is used
		// from the next connection on.
		nats.UserJWT(a.userJWT, kp.Sign),
		nats.CustomInboxPrefix(a.cfg.NATS.InboxPrefix),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(200*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			a.log.Warn("disconnected from NATS", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			a.log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
			a.reconnected.Store(true)
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			a.log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted())
			a.reconnected.Store(true)
		}),
		nats.ClosedHandler(func(*nats.Conn) { closeOnce.Do(func() { close(a.closed) }) }),
		nats.ErrorHandler(func(nc *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrAuthRevoked) {
				// Revoked: final. Without Close nats.go would keep
				// reconnecting to the other servers of a cluster.
				a.log.Error("NATS identity revoked", "err", err)
				go nc.Close()
				return
			}
			if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				a.permDenied.Store(err.Error())
			}
			a.log.Warn("NATS error", "err", err)
		}),
	)
	if err != nil {
		return fmt.Errorf("connect to NATS %v: %w", a.cfg.NATS.URLs, err)
	}
	a.nc = nc
	a.js, err = jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// userJWT is the agent's current NATS user JWT.
func (a *runner) userJWT() (string, error) {
	a.jwtMu.Lock()
	defer a.jwtMu.Unlock()
	if a.cfg.NATS.JWT == "" {
		return "", errors.New("the identity file has no NATS JWT (enrolled with a coordinator before JWT auth): enroll again with --force")
	}
	return a.cfg.NATS.JWT, nil
}

// bindOwnConsumer binds the agent's own consumer, retrying while NATS is
// unreachable. A permissions violation means the identity is not allowed
// to use this device's consumer (another device's identity, or a
// tampered file): that is fatal.
func (a *runner) bindOwnConsumer(ctx context.Context) error {
	for {
		_, err := a.consumer(ctx, a.cfg.NATS.AgentConsumer)
		if err == nil {
			return nil
		}
		if d, ok := a.permDenied.Load().(string); ok && d != "" {
			return fmt.Errorf("identity refused by NATS: %s", d)
		}
		select {
		case <-a.closed:
			return a.closedError()
		default:
		}
		a.log.Warn("cannot bind the job consumer yet", "err", err)
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
}

func (a *runner) closedError() error {
	if err := a.nc.LastError(); err != nil {
		return fmt.Errorf("NATS connection closed: %w (is this device still enrolled? a revoked identity is refused)", err)
	}
	return errors.New("NATS connection closed")
}

// consumer binds (once) the durable consumer name on the jobs stream.
func (a *runner) consumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	if c, ok := a.cons[name]; ok {
		return c, nil
	}
	cctx, cancel := context.WithTimeout(ctx, a.o.jsTimeout)
	defer cancel()
	c, err := a.js.Consumer(cctx, a.cfg.NATS.Stream, name)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	a.cons[name] = c
	return c, nil
}

// nextJob pulls one job: from the agent's own consumer, then (when the
// identity names one) from its class's shared consumer, each waiting half
// of fetchWait. It returns a nil message when there is no work. Only one
// message is ever requested (no prefetch: a buffered job's AckWait would
// run while it waits).
func (a *runner) nextJob(ctx context.Context) (jetstream.Msg, time.Duration, error) {
	names := []string{a.cfg.NATS.AgentConsumer}
	if a.cfg.NATS.ClassConsumer != "" {
		names = append(names, a.cfg.NATS.ClassConsumer)
	}
	for _, name := range names {
		msg, ackWait, err := a.pull(ctx, name, a.o.fetchWait/time.Duration(len(names)))
		if msg != nil || err != nil {
			return msg, ackWait, err
		}
	}
	return nil, 0, nil
}

// pull waits up to wait for one message of the consumer name.
func (a *runner) pull(ctx context.Context, name string, wait time.Duration) (jetstream.Msg, time.Duration, error) {
	c, err := a.consumer(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	fctx, cancel := context.WithTimeout(ctx, wait)
	msg, err := c.Next(jetstream.FetchContext(fctx))
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("pull %s: %w", name, err)
	}
	ackWait := 30 * time.Second
	if info := c.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		ackWait = info.Config.AckWait
	}
	return msg, ackWait, nil
}

// handle measures one job and reports its result. It returns
// errInterrupted when ctx ended during the measurement (the job was
// returned with Nak).
func (a *runner) handle(ctx context.Context, msg jetstream.Msg, ackWait time.Duration) error {
	attempt := 1
	if meta, err := msg.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
	}
	var job wire.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || validJobID(job.ID) != nil {
		reason := "malformed job message"
		if err != nil {
			reason += ": " + err.Error()
		}
		a.log.Error("terminating job", "subject", msg.Subject(), "reason", reason)
		_ = msg.TermWithReason(reason)
		return nil
	}
	log := a.log.With("job", job.ID, "attempt", attempt)
	a.setJob(job.ID)
	defer a.setJob("")

	// A redelivered job whose result exists was measured already: the ack
	// (or the publish) was lost. Send that result again; JetStream and the
	// coordinator de-duplicate it.
	if r, pending, err := a.spool.Lookup(job.ID); err != nil {
		log.Error("read spooled result", "err", err)
	} else if r != nil {
		log.Info("job already measured; re-sending its result", "pending", pending)
		a.deliver(ctx, msg, r, log)
		return nil
	}

	stop := keepAlive(msg, ackWait)
	defer stop()

	_, w, err := checkJob(&job)
	if err == nil && w.RuntimeName() == workload.RuntimeLlamaCpp && a.llamaBench == "" {
		err = errors.New("runtime llama.cpp: this device has no llama-bench (give the agent --llama-bench or set " + envLlamaBench + ")")
	}
	if err != nil {
		log.Warn("invalid job", "err", err)
		r := failed(job.ID, wire.FailInvalidSpec, err.Error())
		r.DeviceID, r.Attempt = a.cfg.DeviceID, attempt
		a.deliver(ctx, msg, &r, log)
		return nil
	}
	// jobCtx ends on shutdown (ctx) or when the coordinator cancels the job
	// (ctl.<id>.cancel).
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a.mu.Lock()
	a.cancelJob = cancel
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.cancelJob = nil
		a.mu.Unlock()
	}()
	var gates wire.Gates
	if refuse := a.batteryGate(jobCtx, &gates); refuse != "" {
		log.Warn("job returned to the queue", "reason", refuse)
		if err := msg.NakWithDelay(time.Minute); err != nil {
			log.Warn("nak job", "err", err)
		}
		return nil
	}
	cool := a.waitCool(jobCtx, log)
	gates.CooldownWaitMS, gates.CooldownTimedOut, gates.CooldownTempC = cool.CooldownWaitMS, cool.CooldownTimedOut, cool.CooldownTempC
	var r wire.Result
	err = jobCtx.Err()
	if err == nil {
		lim := a.limits(&job)
		log.Info("measuring", "timeout", lim.Timeout, "memory_cap", fmtBytes(lim.MemoryCap))
		r, err = superviseChild(jobCtx, a.child, msg.Data(), job.ID, lim)
	}
	if errors.Is(err, errChildAlive) {
		// Checked, not assumed: never two measuring children at once.
		log.Error("job returned to the queue", "err", err)
		if err := msg.NakWithDelay(5 * time.Second); err != nil {
			log.Warn("nak job", "err", err)
		}
		return nil
	}
	if err != nil {
		if ctx.Err() != nil { // shutdown: return the job for another run
			a.nak(msg, log)
			return errInterrupted
		}
		reason := context.Cause(jobCtx).Error()
		log.Info("job cancelled", "reason", reason)
		if err := msg.TermWithReason(reason); err != nil {
			log.Warn("terminate cancelled job", "err", err)
		}
		return nil
	}
	r.DeviceID, r.Attempt = a.cfg.DeviceID, attempt
	recordGates(r.Measurement, gates)
	if r.Status == wire.ResultOK {
		log.Info("measured")
	} else {
		log.Warn("measurement failed", "kind", r.FailKind, "error", r.Error)
	}
	a.deliver(ctx, msg, &r, log)
	return nil
}

func (a *runner) nak(msg jetstream.Msg, log *slog.Logger) {
	if err := msg.Nak(); err != nil {
		log.Warn("nak job", "err", err)
	}
}

// keepAlive tells JetStream every ackWait/3 that the job is still being
// worked on, until the returned stop is called.
func keepAlive(msg jetstream.Msg, ackWait time.Duration) (stop func()) {
	every := max(ackWait/3, 100*time.Millisecond)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// limits are the child limits of a job: its own, or the agent's defaults.
func (a *runner) limits(job *wire.Job) childLimits {
	lim := childLimits{Timeout: a.o.timeout, MemoryCap: job.MemoryLimitBytes}
	if job.TimeoutSeconds > 0 {
		lim.Timeout = time.Duration(job.TimeoutSeconds) * time.Second
	}
	if lim.MemoryCap <= 0 && a.memTotal > 0 {
		lim.MemoryCap = int64(float64(a.memTotal) * a.o.memFraction)
	}
	return lim
}

// deliver makes a result durable, publishes it, and then settles the job:
// Term (with the reason) for a job that can never run, DoubleAck
// otherwise. When the publish fails the result stays in the spool and the
// job unacknowledged: the spool is flushed on reconnect, and a
// redelivery finds the result.
func (a *runner) deliver(ctx context.Context, msg jetstream.Msg, r *wire.Result, log *slog.Logger) {
	if err := a.spool.Put(r); err != nil {
		log.Error("spool result", "err", err)
	}
	if err := a.publish(ctx, r); err != nil {
		log.Warn("result not yet published; kept in the spool", "err", err)
		return
	}
	if err := a.spool.MarkSent(r.JobID); err != nil {
		log.Warn("spool", "err", err)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.o.jsTimeout)
	defer cancel()
	var err error
	if r.FailKind == wire.FailInvalidSpec {
		err = msg.TermWithReason(r.Error)
	} else {
		err = msg.DoubleAck(actx)
	}
	if err != nil {
		log.Warn("ack job (it will be redelivered and its result re-sent)", "err", err)
	}
}

// publish sends a result with Nats-Msg-Id = job ID and waits for the
// PubAck (JetStream has stored it).
func (a *runner) publish(ctx context.Context, r *wire.Result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(data) > wire.MaxResultBytes {
		// NATS would refuse it and close the connection: report the
		// job failed instead, saying why.
		a.log.Error("result too large; reporting the job failed", "job", r.JobID, "bytes", len(data), "limit", wire.MaxResultBytes)
		f := failed(r.JobID, wire.FailInternal, fmt.Sprintf("the result is %d bytes, above the %d-byte message limit", len(data), wire.MaxResultBytes))
		f.DeviceID, f.Attempt = r.DeviceID, r.Attempt
		if data, err = json.Marshal(f); err != nil {
			return err
		}
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.o.jsTimeout)
	defer cancel()
	ack, err := a.js.Publish(pctx, a.cfg.NATS.ResultsSubject+"."+r.JobID, data, jetstream.WithMsgID(r.JobID))
	if err != nil {
		return fmt.Errorf("publish result %s: %w", r.JobID, err)
	}
	a.log.Debug("result published", "job", r.JobID, "seq", ack.Sequence, "duplicate", ack.Duplicate)
	return nil
}

// flushSpool publishes pending results, oldest first, and stops at the
// first failure.
func (a *runner) flushSpool(ctx context.Context) {
	pending, err := a.spool.Pending()
	if err != nil {
		a.log.Error("read spool", "err", err)
	}
	for _, r := range pending {
		if err := a.publish(ctx, r); err != nil {
			a.log.Warn("spooled result not yet published", "job", r.JobID, "err", err)
			return
		}
		if err := a.spool.MarkSent(r.JobID); err != nil {
			a.log.Warn("spool", "err", err)
		}
		a.log.Info("spooled result published", "job", r.JobID)
	}
}

func (a *runner) setJob(id string) {
	a.mu.Lock()
	a.jobID = id
	a.mu.Unlock()
	a.sendHeartbeat(context.Background())
}

func (a *runner) currentJob() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.jobID
}

// cpuTemp reads the hottest CPU temperature; while idle it also lowers the
// idle baseline.
func (a *runner) cpuTemp(ctx context.Context) *float64 {
	s := hw.TakeSnapshot(ctx, a.env)
	if s.CPUTempC == nil {
		return nil
	}
	a.mu.Lock()
	if a.jobID == "" && (a.baseline == nil || *s.CPUTempC < *a.baseline) {
		v := *s.CPUTempC
		a.baseline = &v
	}
	a.mu.Unlock()
	return s.CPUTempC
}

func (a *runner) heartbeats(ctx context.Context) {
	t := time.NewTicker(a.o.heartbeat)
	defer t.Stop()
	for {
		a.sendHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *runner) sendHeartbeat(ctx context.Context) {
	job := a.currentJob()
	hb := wire.Heartbeat{Status: "idle", JobID: job, AgentVersion: Version, TempC: a.cpuTemp(ctx), Runtimes: a.runtimes}
	if job != "" {
		hb.Status = "busy"
	}
	data, _ := json.Marshal(hb)
	if err := a.nc.Publish(a.cfg.NATS.HeartbeatSubj, data); err != nil {
		a.log.Debug("heartbeat", "err", err)
	}
}

// onControl answers control requests on ctl.<id>.<verb>.
func (a *runner) onControl(m *nats.Msg) {
	verb := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	var reply any
	switch verb {
	case "ping":
		job := a.currentJob()
		status := "idle"
		if job != "" {
			status = "busy"
		}
		reply = map[string]string{"device_id": a.cfg.DeviceID, "status": status, "job_id": job, "agent_version": Version}
	case "cancel":
		reply = a.cancelRequest(m.Data)
	default:
		reply = map[string]string{"error": fmt.Sprintf("unknown control verb %q", verb)}
	}
	if m.Reply == "" {
		return
	}
	data, _ := json.Marshal(reply)
	if err := m.Respond(data); err != nil {
		a.log.Warn("control reply", "verb", verb, "err", err)
	}
}

// CancelRequest is the body of a ctl.<id>.cancel request.
type CancelRequest struct {
	// JobID is the job to stop; it must be the one running.
	JobID string `json:"job_id"`
	// Reason is recorded with the terminated job.
	Reason string `json:"reason,omitempty"`
}

// cancelRequest stops the running job if it is the one named: the child is
// killed and the job terminated (never redelivered), without a result.
func (a *runner) cancelRequest(data []byte) map[string]any {
	var req CancelRequest
	if err := json.Unmarshal(data, &req); err != nil || req.JobID == "" {
		return map[string]any{"cancelled": false, "error": "body must be {\"job_id\": …}"}
	}
	a.mu.Lock()
	running, cancel := a.jobID, a.cancelJob
	a.mu.Unlock()
	if running != req.JobID || cancel == nil {
		return map[string]any{"cancelled": false, "job_id": req.JobID, "error": "job is not running on this agent"}
	}
	reason := "cancelled by the coordinator"
	if req.Reason != "" {
		reason += ": " + req.Reason
	}
	cancel(errors.New(reason))
	return map[string]any{"cancelled": true, "job_id": req.JobID}
}

// sleepCtx sleeps for d or until ctx ends; it reports whether the full
// time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
