// Package bus runs the coordinator's messaging: an embedded NATS server with
// JetStream (or a connection to an external one), the JOBS and RESULTS
// streams, per-agent consumers, and per-agent NATS identities. Both modes
// use the same decentralized JWT auth (Authority): the embedded server is
// started from the very configuration `coordinator nats-config` writes for
// an external one.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// Options configure the bus.
type Options struct {
	// ExternalURL connects to an external NATS server instead of embedding
	// one; that server must run the configuration of Auth
	// (Authority.ServerConfigText). Comma-separated URLs are seeds of one
	// cluster.
	ExternalURL string
	// Auth is the trust chain the server runs and the coordinator signs
	// with. Required.
	Auth *Authority
	// RevokedKeys are agent keys revoked earlier (from the database): they
	// are in the first account JWT pushed.
	RevokedKeys []string
	// AllowOpenServer lets the coordinator use a NATS server that accepts
	// clients without credentials. For tests only: such a server lets
	// anyone forge results.
	AllowOpenServer bool
	// Listen is the embedded server's client address, host:port (port 0 or
	// -1: random).
	Listen string
	// StoreDir holds the embedded JetStream file store.
	StoreDir string
	// AdvertiseURLs are the NATS URLs handed to agents at enrollment; empty
	// means the embedded server's own client URLs.
	AdvertiseURLs []string
	// AckWait is the JOBS consumers' redelivery timer.
	AckWait time.Duration
	// MaxDeliver bounds redeliveries of one job.
	MaxDeliver int
	// MaxAgents is the declared capacity: the JOBS stream holds one
	// consumer per agent plus one per device class, up to MaxAgents +
	// MaxClasses consumers (enrollment past it answers 503
	// capacity_exceeded). Defaults to DefaultMaxAgents.
	MaxAgents int
	// Replicas of the streams JOBS and RESULTS (and so of their
	// consumers); 0 means 1. More than 1 needs a JetStream cluster.
	Replicas int
	// LoadRevoked, if set, returns every revoked agent key (the database's
	// list); PushAccount merges it first, so a coordinator never pushes an
	// account JWT that forgets a revocation another coordinator made.
	LoadRevoked func(context.Context) ([]string, error)
	Logger      *slog.Logger
}

// DefaultMaxAgents is the default declared capacity (Options.MaxAgents).
const DefaultMaxAgents = 10_000

// MaxClasses is the number of device-class consumers the JOBS stream
// leaves room for beside MaxAgents.
const MaxClasses = 1_000

// Bus owns the NATS connection (and the embedded server, if any). Its
// connection stays inside: the rest of the coordinator publishes and
// subscribes through the methods below.
type Bus struct {
	opts   Options
	srv    *server.Server
	auth   *Authority
	nc     *nats.Conn
	sys    *nats.Conn // system-account user: pushes account JWTs
	js     jetstream.JetStream
	log    *slog.Logger
	jobs   jetstream.Stream
	result jetstream.Stream

	mu   sync.Mutex
	subs []*nats.Subscription
}

// Start starts the embedded server (unless ExternalURL is set), connects
// with full rights, and creates the streams and the coordinator's results
// consumer idempotently.
func Start(ctx context.Context, o Options) (*Bus, error) {
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxDeliver == 0 {
		o.MaxDeliver = 5
	}
	if o.MaxAgents <= 0 {
		o.MaxAgents = DefaultMaxAgents
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Auth == nil {
		return nil, errors.New("bus: no NATS authority")
	}
	b := &Bus{opts: o, log: o.Logger, auth: o.Auth}
	o.Auth.Revoke(o.RevokedKeys...)
	if o.ExternalURL == "" {
		if err := b.startServer(); err != nil {
			return nil, err
		}
	}
	if err := b.checkClosed(); err != nil {
		b.Close()
		return nil, err
	}
	var err error
	if b.sys, err = b.dial("hilsearch-coordinator-sys", b.auth.sysUser); err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to NATS as the system user: %w", err)
	}
	if err := b.PushAccount(ctx); err != nil {
		b.Close()
		return nil, err
	}
	b.nc, err = b.dial("hilsearch-coordinator", b.auth.coordinatorUser,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("nats async error", "err", err)
		}))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	if !b.nc.AuthRequired() && !o.AllowOpenServer {
		b.Close()
		return nil, fmt.Errorf("NATS server %s does not require authentication; refusing to start", b.nc.ConnectedUrlRedacted())
	}
	if b.js, err = jetstream.New(b.nc); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.ensureStreams(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// dial connects with the JWT and key user returns.
func (b *Bus) dial(name string, user func() (string, nkeys.KeyPair, error), extra ...nats.Option) (*nats.Conn, error) {
	j, k, err := user()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1),
		nats.UserJWT(func() (string, error) { return j, nil }, k.Sign)}
	url := b.opts.ExternalURL
	if b.srv != nil {
		opts = append(opts, nats.InProcessServer(b.srv))
	}
	return nats.Connect(url, append(opts, extra...)...)
}

// urls are the client URLs the refusal check probes.
func (b *Bus) urls() []string {
	if b.srv != nil {
		return []string{b.srv.ClientURL()}
	}
	var out []string
	for _, u := range strings.Split(b.opts.ExternalURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// ErrOpenServer means a NATS server accepted a client without credentials.
var ErrOpenServer = errors.New("NATS server accepts clients without credentials")

// checkClosed dials every URL without credentials: the coordinator starts
// only if each one refuses (an open server lets anyone publish forged
// results). A network error is not a refusal either: it is returned.
func (b *Bus) checkClosed() error {
	if b.opts.AllowOpenServer {
		b.log.Warn("NATS open-server check disabled (tests only)")
		return nil
	}
	for _, u := range b.urls() {
		nc, err := nats.Connect(u, nats.NoReconnect(), nats.Timeout(5*time.Second))
		if err == nil {
			nc.Close()
			return fmt.Errorf("%w: %s; refusing to start (run it with the configuration of `coordinator nats-config`)", ErrOpenServer, u)
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			return fmt.Errorf("probe NATS %s without credentials: %w", u, err)
		}
	}
	return nil
}

// PushAccount sends the application account JWT (with the current
// revocations) to the NATS servers through the system account. Revoked
// users' open connections are closed by each server on receipt.
func (b *Bus) PushAccount(ctx context.Context) error {
	if b.opts.LoadRevoked != nil {
		keys, err := b.opts.LoadRevoked(ctx)
		if err != nil {
			return fmt.Errorf("push NATS account: load revocations: %w", err)
		}
		b.auth.Revoke(keys...)
	}
	acc, err := b.auth.AppAccountJWT()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := b.sys.RequestWithContext(ctx, "$SYS.REQ.CLAIMS.UPDATE", []byte(acc))
	if err != nil {
		return fmt.Errorf("push NATS account: %w", err)
	}
	var r struct {
		Data *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"data"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return fmt.Errorf("push NATS account: reply %q: %w", m.Data, err)
	}
	if r.Error != nil {
		return fmt.Errorf("push NATS account: %d %s", r.Error.Code, r.Error.Description)
	}
	if r.Data == nil || r.Data.Code != 200 {
		return fmt.Errorf("push NATS account: unexpected reply %s", m.Data)
	}
	return nil
}

func (b *Bus) startServer() error {
	host, portStr, err := net.SplitHostPort(b.opts.Listen)
	if err != nil {
		return fmt.Errorf("nats listen address %q: %w", b.opts.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("nats listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	// The embedded server runs the configuration an external one would:
	// one code path for authentication.
	conf, err := b.auth.ServerConfigText(ServerConfig{
		Name:     "hilsearch",
		Listen:   net.JoinHostPort(host, strconv.Itoa(max(port, 0))),
		StoreDir: b.opts.StoreDir, ResolverDir: filepath.Join(b.opts.StoreDir, "jwt"),
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return err
	}
	confPath := filepath.Join(b.opts.StoreDir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("embedded nats config: %w", err)
	}
	sopts, err := server.ProcessConfigFile(confPath)
	if err != nil {
		return fmt.Errorf("embedded nats config %s: %w", confPath, err)
	}
	sopts.Port = port
	sopts.NoSigs, sopts.NoLog = true, true
	s, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("embedded nats: not ready on %s within 15s (port in use? set --nats-listen)", b.opts.Listen)
	}
	b.srv = s
	return nil
}

// Embedded reports whether the bus runs its own NATS server.
func (b *Bus) Embedded() bool { return b.srv != nil }

// ClientURLs are the URLs agents use to reach NATS.
func (b *Bus) ClientURLs() []string {
	if len(b.opts.AdvertiseURLs) > 0 {
		return b.opts.AdvertiseURLs
	}
	if b.srv != nil {
		return []string{b.srv.ClientURL()}
	}
	return []string{b.opts.ExternalURL}
}

// ClientURLsFor are the URLs handed to an agent that reached the HTTP API
// at the local address via (nil: unknown): ClientURLs, except that an
// embedded server listening on all interfaces (whose own URL would name
// 0.0.0.0 or ::) is named by via, the address the agent already reached
// this machine at, with the server's port.
func (b *Bus) ClientURLsFor(via net.IP) []string {
	if len(b.opts.AdvertiseURLs) > 0 || b.srv == nil || via == nil || via.IsUnspecified() {
		return b.ClientURLs()
	}
	host, _, err := net.SplitHostPort(b.opts.Listen)
	if err != nil {
		return b.ClientURLs()
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return b.ClientURLs()
	}
	addr, ok := b.srv.Addr().(*net.TCPAddr)
	if !ok {
		return b.ClientURLs()
	}
	if v4 := via.To4(); v4 != nil {
		via = v4
	}
	return []string{"nats://" + net.JoinHostPort(via.String(), strconv.Itoa(addr.Port))}
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := b.retryCluster(ctx, "create stream "+StreamJobs, func() (err error) {
		b.jobs, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:       StreamJobs,
			Subjects:   []string{"jobs.>"},
			Retention:  jetstream.WorkQueuePolicy,
			Storage:    jetstream.FileStorage,
			Duplicates: 10 * time.Minute,
			// Explicit: unset, the server caps a stream at 1,000 consumers.
			MaxConsumers: b.MaxConsumers(),
			Replicas:     b.opts.Replicas,
		})
		return err
	})
	if err != nil {
		return err
	}
	err = b.retryCluster(ctx, "create stream "+StreamResults, func() (err error) {
		b.result, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:       StreamResults,
			Subjects:   []string{"results.>"},
			Retention:  jetstream.LimitsPolicy,
			Storage:    jetstream.FileStorage,
			MaxAge:     7 * 24 * time.Hour,
			Duplicates: 10 * time.Minute,
			Replicas:   b.opts.Replicas,
		})
		return err
	})
	if err != nil {
		return err
	}
	return b.retryCluster(ctx, "create consumer "+ResultsConsumer, func() error {
		_, err := b.result.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:   ResultsConsumer,
			AckPolicy: jetstream.AckExplicitPolicy,
			AckWait:   30 * time.Second,
		})
		return err
	})
}

// transientClusterCodes are the JetStream API errors a cluster answers
// while it is still placing or electing (a node starting, a peer not yet
// current): the same request succeeds a moment later.
var transientClusterCodes = map[jetstream.ErrorCode]bool{
	10005: true, // no suitable peers for placement
	10008: true, // JetStream system temporarily unavailable
	10012: true, // could not create consumer (its assignment raced an election)
	10049: true, // error creating store for stream
}

// transientClusterError reports whether err is one of
// transientClusterCodes or the request's reply timing out (no meta leader
// yet).
func transientClusterError(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return transientClusterCodes[api.ErrorCode]
	}
	return errors.Is(err, nats.ErrTimeout)
}

// retryBackoff is retryCluster's first wait; each further wait doubles,
// up to retryBackoffMax.
var retryBackoff, retryBackoffMax = 100 * time.Millisecond, 2 * time.Second

// retryCluster runs op until it succeeds, fails with an error that is not
// transientClusterError (returned at once), or ctx ends (the last error
// is returned). Waits between attempts double from retryBackoff up to
// retryBackoffMax.
func (b *Bus) retryCluster(ctx context.Context, what string, op func() error) error {
	wait := retryBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		if !transientClusterError(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		b.log.Warn("transient JetStream cluster error; retrying", "op", what, "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up after %d attempts)", what, err, attempt)
		case <-time.After(wait):
		}
		wait = min(2*wait, retryBackoffMax)
	}
}

// MaxConsumers is the JOBS stream's consumer limit: MaxAgents agents and
// MaxClasses classes.
func (b *Bus) MaxConsumers() int { return b.opts.MaxAgents + MaxClasses }

// MaxAgents is the declared capacity in agents.
func (b *Bus) MaxAgents() int { return b.opts.MaxAgents }

// AddAgent lets the identity connect and creates its job consumer. It is
// idempotent.
func (b *Bus) AddAgent(ctx context.Context, id Identity) error {
	if !ValidToken(id.DeviceID) || !ValidToken(id.Class) {
		return fmt.Errorf("agent %q class %q: not valid subject tokens", id.DeviceID, id.Class)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := jetstream.ConsumerConfig{
		Durable:       AgentConsumer(id.DeviceID),
		FilterSubject: "jobs.agent." + id.DeviceID + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.opts.AckWait,
		MaxDeliver:    b.opts.MaxDeliver,
	}
	if _, err := b.jobs.CreateOrUpdateConsumer(ctx, c); err != nil {
		return fmt.Errorf("create consumer %s: %w", c.Durable, err)
	}
	// The class's shared consumer: the same settings, one per class,
	// whichever agent of the class enrolled first creates it.
	c.Durable, c.FilterSubject = ClassConsumer(id.Class), "jobs.class."+id.Class+".>"
	if _, err := b.jobs.CreateOrUpdateConsumer(ctx, c); err != nil {
		return fmt.Errorf("create consumer %s: %w", c.Durable, err)
	}
	return nil
}

// AgentJWTTTL is the life of an agent's user JWT; agents fetch a fresh one
// (POST /api/v1/agents/nats-jwt) when half of it has passed.
const AgentJWTTTL = 30 * 24 * time.Hour

// IssueAgentJWT signs the user JWT of an enrolled agent: exactly the
// subjects of AgentPermissions. It fails for a revoked key.
func (b *Bus) IssueAgentJWT(id Identity) (string, error) {
	if !ValidToken(id.DeviceID) {
		return "", fmt.Errorf("agent %q: not a valid subject token", id.DeviceID)
	}
	return b.auth.IssueUser(AgentUser(id))
}

// RemoveAgent revokes an identity at once: the key is put on the account's
// revocation list and the account JWT pushed, so the key can no longer
// connect and the servers close its open connections; its consumer is
// deleted and its pending jobs are purged. It returns how many jobs were
// cancelled.
func (b *Bus) RemoveAgent(ctx context.Context, id Identity) (uint64, error) {
	var errs []error
	if !b.auth.IsRevoked(id.NKey) {
		b.auth.Revoke(id.NKey)
		if err := b.PushAccount(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.jobs.DeleteConsumer(ctx, AgentConsumer(id.DeviceID)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		errs = append(errs, fmt.Errorf("delete consumer: %w", err))
	}
	before, err := b.pendingFor(ctx, id.DeviceID)
	if err != nil {
		errs = append(errs, err)
	}
	if err := b.jobs.Purge(ctx, jetstream.WithPurgeSubject("jobs.agent."+id.DeviceID+".>")); err != nil {
		errs = append(errs, fmt.Errorf("purge jobs: %w", err))
	}
	return before, errors.Join(errs...)
}

func (b *Bus) pendingFor(ctx context.Context, deviceID string) (uint64, error) {
	info, err := b.jobs.Info(ctx, jetstream.WithSubjectFilter("jobs.agent."+deviceID+".>"))
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// PendingJobs is the number of messages waiting in JOBS.
func (b *Bus) PendingJobs(ctx context.Context) (uint64, error) {
	info, err := b.jobs.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// Ready checks the connection and JetStream answer.
func (b *Bus) Ready(ctx context.Context) error {
	if b.nc == nil || !b.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	_, err := b.js.AccountInfo(ctx)
	return err
}

// Connect opens a new client connection with the coordinator's full rights,
// for operator tools and tests (testenv); the caller closes it. The bus's
// own connection is never handed out.
func (b *Bus) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return b.dial("hilsearch-coordinator-tool", b.auth.coordinatorUser, opts...)
}

// Close unsubscribes, drains the connection and shuts the embedded server
// down.
func (b *Bus) Close() {
	b.mu.Lock()
	for _, sub := range b.subs {
		_ = sub.Unsubscribe()
	}
	b.subs = nil
	b.mu.Unlock()
	if b.sys != nil {
		b.sys.Close()
	}
	if b.nc != nil {
		_ = b.nc.Drain()
		deadline := time.Now().Add(5 * time.Second)
		for !b.nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// PublishJob puts a job on the agent's subject with Nats-Msg-Id = job ID
// and returns its stream sequence. A re-publish within the dedup window
// returns the original sequence and stores nothing new.
func (b *Bus) PublishJob(ctx context.Context, deviceID, kind, jobID string, data []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ack, err := b.js.Publish(ctx, AgentJobSubject(deviceID, kind), data, jetstream.WithMsgID(jobID))
	if err != nil {
		return 0, fmt.Errorf("publish job %s: %w", jobID, err)
	}
	return ack.Sequence, nil
}

// PublishClassJob puts a job on the shared subject of a device class (any
// agent of the class may take it), like PublishJob.
func (b *Bus) PublishClassJob(ctx context.Context, class, kind, jobID string, data []byte) (uint64, error) {
	if !ValidToken(class) {
		return 0, fmt.Errorf("publish job %s: class %q is not a valid subject token", jobID, class)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ack, err := b.js.Publish(ctx, ClassJobSubject(class, kind), data, jetstream.WithMsgID(jobID))
	if err != nil {
		return 0, fmt.Errorf("publish job %s: %w", jobID, err)
	}
	return ack.Sequence, nil
}

// Disposition is what becomes of a consumed result message.
type Disposition int

const (
	// Ack: handled (stored, or a replay that changes nothing).
	Ack Disposition = iota
	// Term: it can never be handled (malformed, unknown job); drop it.
	Term
	// Retry: handling failed for now; redeliver it in a moment.
	Retry
)

// ResultMsg is one result an agent published on
// results.<DeviceID>.<JobID>; the subject names the publishing device,
// which the agent's NATS permissions guarantee.
type ResultMsg struct {
	DeviceID, JobID string
	Data            []byte
}

// ResultBatchHandler handles a batch of results and says, for each in
// order, what becomes of its message.
type ResultBatchHandler func(ctx context.Context, batch []ResultMsg) []Disposition

// MaxResultBatch bounds the results handled together.
const MaxResultBatch = 256

// ConsumeResults runs handle on batches of the coordinator's durable
// consumer on RESULTS until ctx ends: whatever is waiting, up to
// MaxResultBatch at once (so one PostgreSQL transaction stores many under
// load), or the first message to arrive when nothing is; it acks,
// terminates or redelivers each message as handle says.
func (b *Bus) ConsumeResults(ctx context.Context, handle ResultBatchHandler) error {
	cons, err := b.result.Consumer(ctx, ResultsConsumer)
	if err != nil {
		return fmt.Errorf("results consumer: %w", err)
	}
	go func() {
		for ctx.Err() == nil {
			batch, err := cons.FetchNoWait(MaxResultBatch)
			var msgs []jetstream.Msg
			if err == nil {
				for m := range batch.Messages() {
					msgs = append(msgs, m)
				}
			}
			if len(msgs) == 0 {
				// Nothing waiting: block for the next one.
				batch, err = cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
				if err != nil {
					if ctx.Err() == nil {
						b.log.Debug("results consumer", "err", err)
						time.Sleep(time.Second)
					}
					continue
				}
				for m := range batch.Messages() {
					msgs = append(msgs, m)
				}
				if len(msgs) == 0 {
					continue
				}
			}
			b.handleResults(ctx, msgs, handle)
		}
	}()
	return nil
}

func (b *Bus) handleResults(ctx context.Context, msgs []jetstream.Msg, handle ResultBatchHandler) {
	in := make([]ResultMsg, 0, len(msgs))
	ok := make([]jetstream.Msg, 0, len(msgs))
	for _, m := range msgs {
		parts := strings.Split(m.Subject(), ".")
		if len(parts) != 3 {
			b.log.Warn("result on unexpected subject", "subject", m.Subject())
			_ = m.Term()
			continue
		}
		in = append(in, ResultMsg{DeviceID: parts[1], JobID: parts[2], Data: m.Data()})
		ok = append(ok, m)
	}
	if len(in) == 0 {
		return
	}
	disp := handle(ctx, in)
	for i, m := range ok {
		d := Retry
		if i < len(disp) {
			d = disp[i]
		}
		switch d {
		case Ack:
			_ = m.Ack()
		case Term:
			_ = m.Term()
		case Retry:
			_ = m.NakWithDelay(2 * time.Second)
		}
	}
}

// jobAdvisories are the JetStream advisory subjects for jobs that will
// never be delivered again: terminated by an agent, or out of deliveries.
var jobAdvisories = []string{
	"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED." + StreamJobs + ".>",
	"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + StreamJobs + ".>",
}

// JobAdvisory says that the job published at StreamSeq will never be
// delivered again.
type JobAdvisory struct {
	StreamSeq uint64
	// MaxDeliveries: it ran out of deliveries; otherwise an agent
	// terminated it, with Reason.
	MaxDeliveries bool
	Reason        string
}

// OnJobAdvisory calls handle for every job advisory until Close.
func (b *Bus) OnJobAdvisory(handle func(JobAdvisory)) error {
	for _, subj := range jobAdvisories {
		err := b.subscribe(subj, func(m *nats.Msg) {
			var adv struct {
				StreamSeq uint64 `json:"stream_seq"`
				Reason    string `json:"reason"`
			}
			if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
				return
			}
			handle(JobAdvisory{StreamSeq: adv.StreamSeq, MaxDeliveries: strings.Contains(m.Subject, "MAX_DELIVERIES"), Reason: adv.Reason})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// OnHeartbeat calls handle with the device and payload of every heartbeat
// (hb.<deviceID>) until Close.
func (b *Bus) OnHeartbeat(handle func(deviceID string, data []byte)) error {
	// A queue group: with several coordinators each beat is recorded once.
	return b.queueSubscribe(HeartbeatSubject("*"), func(m *nats.Msg) {
		handle(strings.TrimPrefix(m.Subject, HeartbeatSubject("")), m.Data)
	})
}

// OnJWTRequest answers agents' requests for a fresh user JWT
// (jwt.<deviceID>; the subject names the requesting device, which its NATS
// permissions guarantee) with the JWT issue returns, or "error: …".
func (b *Bus) OnJWTRequest(issue func(deviceID string) (string, error)) error {
	return b.queueSubscribe(JWTSubject("*"), func(m *nats.Msg) {
		id := strings.TrimPrefix(m.Subject, JWTSubject(""))
		j, err := issue(id)
		if err != nil {
			b.log.Warn("agent JWT renewal refused", "device", id, "err", err)
			_ = m.Respond([]byte("error: " + err.Error()))
			return
		}
		_ = m.Respond([]byte(j))
	})
}

// CoordinatorQueue is the queue group of the coordinators' heartbeat and
// JWT-renewal subscriptions: several coordinators on one NATS share the
// work, each message handled by one of them.
const CoordinatorQueue = "hilsearch-coordinators"

func (b *Bus) queueSubscribe(subj string, h nats.MsgHandler) error {
	sub, err := b.nc.QueueSubscribe(subj, CoordinatorQueue, h)
	return b.add(subj, sub, err)
}

func (b *Bus) subscribe(subj string, h nats.MsgHandler) error {
	sub, err := b.nc.Subscribe(subj, h)
	return b.add(subj, sub, err)
}

// add keeps sub for Close, or names subj in the subscription's error.
func (b *Bus) add(subj string, sub *nats.Subscription, err error) error {
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subj, err)
	}
	b.mu.Lock()
	b.subs = append(b.subs, sub)
	b.mu.Unlock()
	return nil
}

// DeleteJob removes a not yet delivered job from JOBS by stream sequence.
func (b *Bus) DeleteJob(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := b.jobs.DeleteMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	return err
}
