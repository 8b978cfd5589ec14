// Package httpapi is the coordinator's HTTP surface: the /api/v1 REST API,
// health and readiness probes, Prometheus metrics and the OpenAPI document.
package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
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
}

// Server holds the router and its metrics.
type Server struct {
	d        Deps
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
	s := &Server{d: d, registry: prometheus.NewRegistry()}
	s.initMetrics()

	r := gin.New()
	r.HandleMethodNotAllowed = true
	_ = r.SetTrustedProxies(nil)
	r.Use(s.recover, s.observe)
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
	authed.GET("/openapi.json", s.openapi)
	authed.GET("/session", s.session)
	authed.POST("/enrollment-tokens", s.createEnrollmentToken)
	authed.GET("/devices", s.listDevices)
	authed.GET("/devices/:id", s.getDevice)
	authed.PATCH("/devices/:id", s.patchDevice)
	authed.DELETE("/devices/:id", s.deleteDevice)
	authed.POST("/devices/:id/jobs", s.createJob)
	authed.GET("/jobs/:id", s.getJob)
	authed.POST("/devices/:id/fidelity", s.createFidelity)
	authed.GET("/fidelity/:id", s.getFidelity)
	authed.GET("/events", s.events)
	authed.GET("/search-presets", s.searchPresets)
	authed.POST("/searches/validate", s.validateSearch)
	authed.POST("/searches", s.createSearch)
	authed.GET("/searches", s.listSearches)
	authed.GET("/searches/:id", s.getSearch)
	authed.POST("/searches/:id/pause", s.transition([]api.SearchState{api.SearchRunning}, api.SearchPaused))
	authed.POST("/searches/:id/resume", s.transition([]api.SearchState{api.SearchPaused}, api.SearchRunning))
	authed.POST("/searches/:id/cancel", s.transition([]api.SearchState{api.SearchRunning, api.SearchPaused}, api.SearchCancelled))
	authed.GET("/searches/:id/trials", s.listTrials)
	authed.GET("/searches/:id/trials/:number", s.getTrial)
	authed.GET("/searches/:id/pareto", s.pareto)
	authed.GET("/searches/:id/hypervolume", s.hypervolume)
	authed.GET("/searches/:id/export", s.export)
	authed.GET("/searches/:id/references", s.getReferences)
	authed.POST("/searches/:id/references", s.measureReferences)
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
	s.registry.MustRegister(s.requests, online, pending,
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

const principalKey = "principal"

// requireToken authenticates Authorization: Bearer <api token>, or, when
// the request has no Authorization header, a dashboard session cookie
// (state-changing methods must then carry the CSRF header; session.go).
func (s *Server) requireToken(c *gin.Context) {
	h := c.GetHeader("Authorization")
	const prefix = "bearer "
	var secret string
	switch {
	case h == "":
		var ok bool
		if secret, ok = sessionSecret(c); !ok {
			return
		}
	case len(h) <= len(prefix) || subtle.ConstantTimeCompare([]byte(strings.ToLower(h[:len(prefix)])), []byte(prefix)) != 1:
		fail(c, ErrUnauthorized, nil)
		return
	default:
		secret = strings.TrimSpace(h[len(prefix):])
	}
	tok, err := s.d.Store.Authenticate(c.Request.Context(), secret)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrUnauthorized, nil)
		return
	}
	if err != nil {
		s.internal(c, "authenticate", err)
		return
	}
	c.Set(principalKey, tok)
	c.Next()
}

func principal(c *gin.Context) store.APIToken {
	v, _ := c.Get(principalKey)
	t, _ := v.(store.APIToken)
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
	if pingErr := s.d.Store.Ping(c.Request.Context()); pingErr != nil {
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
