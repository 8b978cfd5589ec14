// Package httpapi is the coordinator's HTTP surface: the /api/v1 REST API,
// health and readiness probes, Prometheus metrics and the OpenAPI document.
package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/internal/evals"
	"github.com/hilsearch/hilsearch/coordinator/internal/events"
	"github.com/hilsearch/hilsearch/coordinator/internal/jobs"

	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/dashboard"
)

// Deps are what the handlers use.
type Deps struct {
	Store *store.Store
	Bus   *bus.Bus
	Log   *slog.Logger
	// EnrollTTL is the default life of an enrollment token.
	EnrollTTL time.Duration
	// Version is reported by /healthz.
	Version string
	// AdvertiseURL is the coordinator's HTTP URL for devices, given in
	// the agent manifest (the dashboard's enroll command uses it).
	AdvertiseURL string
	// Jobs creates and cancels measurement jobs (the job state machine's
	// owner).
	Jobs *jobs.Manager
	// AgentDir holds the agent binaries served under /downloads, built
	// ahead of time (`make agents`).
	AgentDir string
	// Events feeds /api/v1/events.
	Events *events.Hub
	// Drivers are woken when a search changes state.
	Drivers Drivers
	// TokenTTL is the default life of an API token created through the
	// API; 0 means no expiry.
	TokenTTL time.Duration
	// SessionTTL bounds a dashboard session's life. Defaults to 12 h.
	SessionTTL time.Duration
	// ProxyHeader, when set, is the header (X-Forwarded-Proto or
	// Forwarded) by which a TLS-terminating proxy at one of
	// TrustedProxies says the client connected over https; session
	// cookies are then Secure.
	ProxyHeader    string
	TrustedProxies []netip.Prefix
	// Evals owns the evaluation jobs (internal/evals); nil: evaluator
	// routes answer 503.
	Evals *evals.Manager
	// Collectors are further metrics for /metrics (the job manager's).
	Collectors []prometheus.Collector
}

// Server holds the router and its metrics.
type Server struct {
	d        Deps
	scopes   map[string]scopeSet // "METHOD /api/v1/path" -> scopes allowed
	specs    specCache
	engine   *gin.Engine
	registry *prometheus.Registry
	requests *prometheus.CounterVec
}

func init() { gin.SetMode(gin.ReleaseMode) }

// New builds the router.
func New(d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Events == nil {
		d.Events = events.NewHub()
	}
	if d.EnrollTTL == 0 {
		d.EnrollTTL = 24 * time.Hour
	}
	if d.SessionTTL == 0 {
		d.SessionTTL = 12 * time.Hour
	}
	s := &Server{d: d, registry: prometheus.NewRegistry(), scopes: map[string]scopeSet{}}
	s.initMetrics()

	r := gin.New()
	r.HandleMethodNotAllowed = true
	_ = r.SetTrustedProxies(nil)
	r.Use(s.recover, s.observe, checkText)
	r.NoRoute(func(c *gin.Context) { fail(c, ErrRouteNotFound, nil) })
	r.NoMethod(func(c *gin.Context) { fail(c, ErrMethodNotAllowed, nil) })

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))

	r.GET("/downloads/:file", s.download)
	dashboard.Register(r) // GET / and /assets/:file: the embedded web UI

	v1 := r.Group("/api/v1")
	v1.POST("/agents/enroll", s.enroll) // authenticated by the enrollment token itself
	v1.POST("/session", s.signIn)       // dashboard sign-in with an API token (session.go)
	v1.DELETE("/session", s.signOut)
	authed := v1.Group("", s.requireToken)
	// Every authenticated route names the token scopes that may call it
	// (scopes.go); RouteScopes reports them and a test checks each one.
	s.route(authed, "GET", "/openapi.json", everyScope, s.openapi)
	s.registerEvaluatorRoutes(v1, authed)
	s.route(authed, "GET", "/session", everyScope, s.session)
	s.route(authed, "GET", "/tokens", adminScope, s.listTokens)
	s.route(authed, "POST", "/tokens", adminScope, s.createToken)
	s.route(authed, "DELETE", "/tokens/:id", adminScope, s.revokeToken)
	s.route(authed, "POST", "/enrollment-tokens", enrollScopes, s.createEnrollmentToken)
	s.route(authed, "GET", "/devices", everyScope, s.listDevices)
	s.route(authed, "GET", "/devices/:id", everyScope, s.getDevice)
	s.route(authed, "PATCH", "/devices/:id", adminScope, s.patchDevice)
	s.route(authed, "DELETE", "/devices/:id", adminScope, s.deleteDevice)
	s.route(authed, "GET", "/devices/:id/predictor", readScopes, s.getPredictors)
	s.route(authed, "POST", "/devices/:id/jobs", adminScope, s.createJob)
	s.route(authed, "GET", "/jobs/:id", readScopes, s.getJob)
	s.route(authed, "POST", "/devices/:id/fidelity", adminScope, s.createFidelity)
	s.route(authed, "GET", "/fidelity/:id", readScopes, s.getFidelity)
	s.route(authed, "GET", "/events", readScopes, s.events)
	s.route(authed, "GET", "/search-presets", readScopes, s.searchPresets)
	// Validation writes nothing, but it is part of creating a search.
	s.route(authed, "POST", "/searches/validate", adminScope, s.validateSearch)
	s.route(authed, "POST", "/searches", adminScope, s.createSearch)
	s.route(authed, "GET", "/searches", readScopes, s.listSearches)
	s.route(authed, "GET", "/searches/:id", readScopes, s.getSearch)
	s.route(authed, "POST", "/searches/:id/pause", adminScope, s.transition([]api.SearchState{api.SearchRunning}, api.SearchPaused))
	s.route(authed, "POST", "/searches/:id/resume", adminScope, s.transition([]api.SearchState{api.SearchPaused}, api.SearchRunning))
	s.route(authed, "POST", "/searches/:id/cancel", adminScope, s.transition([]api.SearchState{api.SearchRunning, api.SearchPaused}, api.SearchCancelled))
	s.route(authed, "GET", "/searches/:id/trials", readScopes, s.listTrials)
	s.route(authed, "GET", "/searches/:id/trials/:number", readScopes, s.getTrial)
	s.route(authed, "GET", "/searches/:id/pareto", readScopes, s.pareto)
	s.route(authed, "GET", "/searches/:id/hypervolume", readScopes, s.hypervolume)
	s.route(authed, "GET", "/searches/:id/screened", readScopes, s.screened)
	s.route(authed, "GET", "/searches/:id/export", readScopes, s.export)
	s.route(authed, "GET", "/searches/:id/references", readScopes, s.getReferences)
	s.route(authed, "POST", "/searches/:id/references", adminScope, s.measureReferences)
	s.engine = r
	return s
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// Routes lists "METHOD path" of every registered route (gin syntax).
func (s *Server) Routes() []gin.RouteInfo { return s.engine.Routes() }

func (s *Server) initMetrics() {
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hil_http_requests_total",
		Help: "HTTP requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	online := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hil_devices_online",
		Help: "Live devices whose last heartbeat is at most 30 s old.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := s.d.Store.CountOnline(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hil_jetstream_pending_jobs",
		Help: "Messages waiting in the JOBS stream.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := s.d.Bus.PendingJobs(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	capacity := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hil_limit_agents",
		Help: "Declared fleet capacity in agents; enrollment past it answers 503 capacity_exceeded.",
	}, func() float64 { return float64(s.d.Bus.MaxAgents()) })
	consumers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hil_limit_jobs_consumers",
		Help: "Consumer limit of the JOBS stream (one per agent, one per device class).",
	}, func() float64 { return float64(s.d.Bus.MaxConsumers()) })
	s.registry.MustRegister(s.d.Collectors...)
	s.registry.MustRegister(capacity, consumers, s.requests, online, pending,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	code := c.Writer.Status()
	s.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(code)).Inc()
	if route != "/healthz" && route != "/metrics" {
		s.d.Log.Info("http", "method", c.Request.Method, "route", route, "status", code,
			"ms", float64(time.Since(start).Microseconds())/1000)
	}
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			s.d.Log.Error("panic in handler", "route", c.FullPath(), "panic", r)
			fail(c, ErrInternal, nil)
		}
	}()
	c.Next()
}

const (
	principalKey = "principal"
	sessionKey   = "session"
)

// requireToken authenticates Authorization: Bearer <api token>, or, when
// the request has no Authorization header, a dashboard session cookie
// (state-changing methods must then carry the CSRF header; session.go).
func (s *Server) requireToken(c *gin.Context) {
	h := c.GetHeader("Authorization")
	const prefix = "bearer "
	var (
		tok api.Token
		err error
	)
	switch {
	case h == "":
		ses, ok := s.sessionFromCookie(c)
		if !ok {
			return
		}
		tok = ses.Token
		c.Set(sessionKey, ses)
	case len(h) <= len(prefix) || subtle.ConstantTimeCompare([]byte(strings.ToLower(h[:len(prefix)])), []byte(prefix)) != 1:
		fail(c, ErrUnauthorized, nil)
		return
	default:
		tok, err = s.d.Store.Authenticate(c.Request.Context(), strings.TrimSpace(h[len(prefix):]))
		if errors.Is(err, store.ErrNotFound) {
			fail(c, ErrUnauthorized, nil)
			return
		}
		if err != nil {
			s.internal(c, "authenticate", err)
			return
		}
	}
	c.Set(principalKey, tok)
	c.Next()
}

func principal(c *gin.Context) api.Token {
	v, _ := c.Get(principalKey)
	t, _ := v.(api.Token)
	return t
}

// internal logs err (never secrets) and answers 500, or 503 when the
// database is unreachable.
func (s *Server) internal(c *gin.Context, what string, err error) {
	s.d.Log.Error(what, "route", c.FullPath(), "err", err)
	if ctxErr := c.Request.Context().Err(); ctxErr != nil {
		fail(c, ErrUnavailable, nil)
		return
	}
	if store.Unreachable(err) || s.d.Store.Ping(c.Request.Context()) != nil {
		fail(c, ErrUnavailable, nil)
		return
	}
	fail(c, ErrInternal, nil)
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, api.Health{Status: "ok", Version: s.d.Version})
}

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	if err := s.d.Store.Ping(ctx); err != nil {
		checks["postgres"], ok = err.Error(), false
	} else {
		checks["postgres"] = "ok"
	}
	if err := s.d.Bus.Ready(ctx); err != nil {
		checks["nats"], ok = err.Error(), false
	} else {
		checks["nats"] = "ok"
	}
	if !ok {
		fail(c, ErrUnavailable, checks)
		return
	}
	c.JSON(http.StatusOK, api.Ready{Status: "ready", Checks: checks})
}
