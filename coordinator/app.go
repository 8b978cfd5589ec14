package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/internal/driver"
	"github.com/hilsearch/hilsearch/coordinator/internal/evals"
	"github.com/hilsearch/hilsearch/coordinator/internal/events"
	"github.com/hilsearch/hilsearch/coordinator/internal/httpapi"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"
	"github.com/hilsearch/hilsearch/coordinator/internal/predictors"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/search"
)

// Version is the coordinator's version, set by the linker for releases.
var Version = "dev"

// App is a running coordinator.
type App struct {
	cfg   Config
	log   *slog.Logger
	Store *store.Store
	Bus   *bus.Bus
	HTTP  *httpapi.Server
	srv   *http.Server
	ln    net.Listener
	out   io.Writer
	// Events broadcasts live updates; Jobs owns the measurement jobs;
	// Drivers run the searches.
	Events  *events.Hub
	Jobs    *jobs.Manager
	Drivers *driver.Manager
	// Evals owns the evaluation jobs.
	Evals *evals.Manager
	// publicURL is where evaluators send answers (set once listening).
	publicURL atomic.Value
	// Predictors refits each device's predictor after its measurements.
	Predictors *predictors.Refitter
	bgDone     chan struct{}
	stop       context.CancelFunc // stops background consumers
}

// NewLogger builds the slog logger the config asks for.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Start opens the database (migrating it), starts NATS, restores agent
// identities, and starts listening for HTTP. out receives the one-time
// admin token banner.
func Start(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, out: out}
	var err error
	if a.Store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	from, to, err := a.Store.Migrate(ctx)
	if err != nil {
		a.Close()
		return nil, err
	}
	if from != to {
		log.Info("database migrated", "from", from, "to", to)
	}
	if err := a.bootstrapToken(ctx); err != nil {
		a.Close()
		return nil, err
	}
	storeDir := filepath.Join(cfg.DataDir, "nats")
	if cfg.NATSURL == "" {
		if err := os.MkdirAll(storeDir, 0o700); err != nil {
			a.Close()
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	auth, err := bus.LoadAuthority(cfg.DataDir)
	if err != nil {
		a.Close()
		return nil, err
	}
	revoked, err := a.Store.Identities(ctx, true)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("load revoked identities: %w", err)
	}
	revokedKeys := make([]string, len(revoked))
	for i, id := range revoked {
		revokedKeys[i] = id.NKey
	}
	a.Bus, err = bus.Start(ctx, bus.Options{
		ExternalURL: cfg.NATSURL, Listen: cfg.NATSListen, StoreDir: storeDir,
		AdvertiseURLs: cfg.NATSAdvertise, Logger: log, AckWait: cfg.JobAckWait, MaxAgents: cfg.MaxAgents,
		Auth: auth, RevokedKeys: revokedKeys, AllowOpenServer: cfg.NATSAllowOpen, Replicas: cfg.NATSReplicas,
		// Another coordinator on the same database may have revoked keys
		// since: every account push merges the database's list first.
		LoadRevoked: func(ctx context.Context) ([]string, error) {
			ids, err := a.Store.Identities(ctx, true)
			keys := make([]string, len(ids))
			for i, id := range ids {
				keys[i] = id.NKey
			}
			return keys, err
		},
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	if !a.Bus.Embedded() {
		log.Info("external NATS: JWT auth verified (anonymous clients refused)", "url", redactURL(cfg.NATSURL))
	}
	if err := a.restoreIdentities(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.Bus.OnJWTRequest(a.renewAgentJWT); err != nil {
		a.Close()
		return nil, err
	}
	var bg context.Context
	bg, a.stop = context.WithCancel(context.Background())
	a.Events = events.NewHub()
	a.Predictors = predictors.New(a.Store, log)
	a.Jobs = jobs.New(jobs.Deps{Store: a.Store, Bus: a.Bus, Events: a.Events, Log: log, LostAfter: cfg.DeviceLostAfter,
		Ended: func() { a.Drivers.Wake() },
		Measured: func(device, runtime, wh string) {
			a.Predictors.Notify(predictors.Key{DeviceID: device, Runtime: runtime, WorkloadHash: wh})
		}})
	grace := cfg.EvalGrace
	if grace == 0 {
		grace = -1 // evals.Deps: 0 is its default, negative is none
	}
	a.Evals = evals.New(evals.Deps{Store: a.Store, Log: log, Grace: grace,
		Wake:      func() { a.Drivers.Wake() },
		PublicURL: func() string { s, _ := a.publicURL.Load().(string); return s }})
	a.Drivers = driver.NewManager(driver.Deps{
		Store: a.Store, Storage: a.Store.StudyStorage,
		Jobs: a.Jobs, Evals: a.Evals, Events: a.Events, Log: log,
		Predictor: func(ctx context.Context, dev, runtime, wh string) (*search.Predictor, error) {
			p, _, err := predictors.Load(ctx, a.Store, predictors.Key{DeviceID: dev, Runtime: runtime, WorkloadHash: wh})
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return p, err
		},
	})
	if err := a.Jobs.Start(bg); err != nil {
		a.Close()
		return nil, err
	}
	a.bgDone = make(chan struct{})
	go func() {
		defer close(a.bgDone)
		done := make(chan struct{})
		go func() { defer close(done); a.Predictors.Run(bg) }()
		evDone := make(chan struct{})
		go func() { defer close(evDone); a.Evals.Run(bg) }()
		a.Drivers.Run(bg)
		<-done
		<-evDone
	}()
	if a.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		a.Close()
		return nil, fmt.Errorf("HTTP listen %s (HIL_LISTEN): %w", cfg.Listen, err)
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = advertiseURL(a.ln.Addr(), lanIPv4())
	}
	if cfg.PublicURL != "" {
		a.publicURL.Store(strings.TrimRight(cfg.PublicURL, "/"))
	} else {
		a.publicURL.Store(strings.TrimRight(advertise, "/"))
	}
	proxies, _ := cfg.trustedProxies() // checked by Validate
	a.HTTP = httpapi.New(httpapi.Deps{Store: a.Store, Bus: a.Bus, Log: log, EnrollTTL: cfg.EnrollTTL, Version: Version,
		AdvertiseURL: strings.TrimRight(advertise, "/"),
		AgentDir:     cfg.AgentDirectory(), Jobs: a.Jobs, Events: a.Events, Drivers: a.Drivers,
		TokenTTL: cfg.TokenTTL, SessionTTL: cfg.SessionTTL, ProxyHeader: cfg.ProxyHeader, TrustedProxies: proxies, Evals: a.Evals,
		Collectors: a.Jobs.Collectors()})
	a.srv = &http.Server{Handler: a.HTTP.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	log.Info("coordinator listening", "http", a.ln.Addr().String(), "nats", strings.Join(a.Bus.ClientURLs(), ","), "version", Version)
	return a, nil
}

// Addr is the HTTP listener's address.
func (a *App) Addr() string { return a.ln.Addr().String() }

// bootstrapToken registers HIL_ADMIN_TOKEN if set, and otherwise creates
// an admin token when no live token exists (a new database). A generated
// secret is printed once. Neither expires. A HIL_ADMIN_TOKEN that was
// revoked stays revoked: revocation is not undone by a restart.
func (a *App) bootstrapToken(ctx context.Context) error {
	if a.cfg.AdminToken != "" {
		t, err := a.Store.InsertAPIToken(ctx, "admin (HIL_ADMIN_TOKEN)", a.cfg.AdminToken)
		if err != nil {
			return err
		}
		if t.State != api.TokenActive {
			a.log.Warn("HIL_ADMIN_TOKEN is "+string(t.State)+" and is refused; set a new secret or unset it", "token_id", t.ID)
		}
		return nil
	}
	n, err := a.Store.CountAPITokens(ctx)
	if err != nil || n > 0 {
		return err
	}
	_, secret, err := a.Store.CreateAPIToken(ctx, store.NewToken{Name: "admin", Scope: api.ScopeAdmin})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "\nAdmin API token (shown once, store it now):\n\n    %s\n\n", secret)
	return nil
}

// restoreIdentities loads every live agent into the bus and makes sure
// revoked ones have no consumer or pending jobs left.
func (a *App) restoreIdentities(ctx context.Context) error {
	ids, err := a.Store.Identities(ctx, false)
	if err != nil {
		return fmt.Errorf("load agent identities: %w", err)
	}
	for _, id := range ids {
		if err := a.Bus.AddAgent(ctx, bus.Identity{DeviceID: id.DeviceID, Class: id.Class, NKey: id.NKey}); err != nil {
			return err
		}
	}
	// A revocation whose JetStream clean-up failed is finished here.
	revoked, err := a.Store.Identities(ctx, true)
	if err != nil {
		return fmt.Errorf("load revoked identities: %w", err)
	}
	for _, id := range revoked {
		if _, err := a.Bus.RemoveAgent(ctx, bus.Identity{DeviceID: id.DeviceID, Class: id.Class, NKey: id.NKey}); err != nil {
			a.log.Warn("clean up revoked agent", "device", id.DeviceID, "err", err)
		}
	}
	a.log.Info("agent identities loaded", "count", len(ids))
	return nil
}

// renewAgentJWT issues a live device a fresh NATS user JWT.
func (a *App) renewAgentJWT(deviceID string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := a.Store.GetDevice(ctx, deviceID)
	if err != nil {
		return "", err
	}
	if d.RevokedAt != nil {
		return "", bus.ErrRevokedKey
	}
	return a.Bus.IssueAgentJWT(bus.Identity{DeviceID: d.ID, Class: d.Class, NKey: d.NKey})
}

// Shutdown stops accepting requests, waits for running ones, and closes
// NATS and the database.
func (a *App) Shutdown(ctx context.Context) error {
	var err error
	if a.srv != nil {
		err = a.srv.Shutdown(ctx)
	}
	a.Close()
	return err
}

// Close releases everything without waiting for requests.
func (a *App) Close() {
	if a.srv != nil {
		_ = a.srv.Close()
	}
	if a.stop != nil {
		a.stop()
		if a.bgDone != nil {
			<-a.bgDone
		}
	}
	if a.Bus != nil {
		a.Bus.Close()
		a.Bus = nil
	}
	if a.Store != nil {
		a.Store.Close()
		a.Store = nil
	}
}

// Run starts the coordinator and serves until ctx is cancelled, then shuts
// down gracefully. It also prunes heartbeat history hourly.
func Run(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	a, err := Start(ctx, cfg, log, out)
	if err != nil {
		return err
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			return a.Shutdown(sctx)
		case <-t.C:
			if n, err := a.Store.PruneSessions(ctx); err != nil {
				log.Warn("prune sessions", "err", err)
			} else if n > 0 {
				log.Debug("sessions pruned", "rows", n)
			}
			if n, err := a.Store.PruneHeartbeats(ctx, 24*time.Hour); err != nil {
				log.Warn("prune heartbeats", "err", err)
			} else if n > 0 {
				log.Debug("heartbeats pruned", "rows", n)
			}
		}
	}
}
