package httpapi

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/evals"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
)

// Evaluator errors.
var (
	ErrEvaluatorNotFound = APIError{http.StatusNotFound, "evaluator_not_found", "no live evaluator has this name"}
	ErrEvaluatorExists   = APIError{http.StatusConflict, "evaluator_conflict", "an evaluator of this name is registered; remove it first"}
	ErrEvaluatorNATS     = APIError{http.StatusBadRequest, "evaluator_transport_unsupported", "this coordinator serves webhook evaluators only; the NATS transport (docs/evaluators.md §5) is not built yet"}
	ErrNoEvaluators      = APIError{http.StatusServiceUnavailable, "evaluators_unavailable", "this coordinator runs no evaluation manager"}
)

// registerEvaluatorRoutes adds the evaluator routes; the answer callback
// has no bearer token (its signature authenticates it).
func (s *Server) registerEvaluatorRoutes(v1, authed *gin.RouterGroup) {
	v1.POST("/evaluations/:id/answer", s.evaluationAnswer)
	s.route(authed, "POST", "/evaluators", adminScope, s.createEvaluator)
	s.route(authed, "GET", "/evaluators", readScopes, s.listEvaluators)
	s.route(authed, "GET", "/evaluators/:name", readScopes, s.getEvaluator)
	s.route(authed, "POST", "/evaluators/:name/secret", adminScope, s.rotateEvaluatorSecret)
	s.route(authed, "DELETE", "/evaluators/:name", adminScope, s.deleteEvaluator)
}

func (s *Server) createEvaluator(c *gin.Context) {
	if s.d.Evals == nil {
		fail(c, ErrNoEvaluators, nil)
		return
	}
	var reg wire.EvaluatorRegistration
	if !decodeJSON(c, &reg) {
		return
	}
	if errs := evals.CheckRegistration(&reg); len(errs) > 0 {
		failFields(c, errs...)
		return
	}
	if reg.Transport == wire.TransportNATS {
		fail(c, ErrEvaluatorNATS, nil)
		return
	}
	secret := evals.NewSecret()
	ev, err := s.d.Store.CreateEvaluator(c.Request.Context(), reg, secret)
	if errors.Is(err, store.ErrEvaluatorExists) {
		fail(c, ErrEvaluatorExists, nil)
		return
	}
	if err != nil {
		s.internal(c, "create evaluator", err)
		return
	}
	s.d.Log.Info("evaluator registered", "evaluator", ev.Name, "transport", ev.Transport, "version", ev.Version)
	c.JSON(http.StatusCreated, api.EvaluatorCreated{Evaluator: ev.Evaluator, Secret: secret})
}

func (s *Server) listEvaluators(c *gin.Context) {
	evs, err := s.d.Store.ListEvaluators(c.Request.Context())
	if err != nil {
		s.internal(c, "list evaluators", err)
		return
	}
	c.JSON(http.StatusOK, evs)
}

func (s *Server) loadEvaluator(c *gin.Context) (store.EvaluatorRow, bool) {
	name := c.Param("name")
	if !search.ValidEvaluatorName(name) {
		fail(c, ErrEvaluatorNotFound, nil)
		return store.EvaluatorRow{}, false
	}
	ev, err := s.d.Store.GetEvaluator(c.Request.Context(), name)
	if errors.Is(err, store.ErrNotFound) || err == nil && ev.RevokedAt != nil {
		fail(c, ErrEvaluatorNotFound, nil)
		return ev, false
	}
	if err != nil {
		s.internal(c, "get evaluator", err)
		return ev, false
	}
	return ev, true
}

func (s *Server) getEvaluator(c *gin.Context) {
	if ev, ok := s.loadEvaluator(c); ok {
		c.JSON(http.StatusOK, ev.Evaluator)
	}
}

func (s *Server) rotateEvaluatorSecret(c *gin.Context) {
	ev, ok := s.loadEvaluator(c)
	if !ok {
		return
	}
	if ev.Transport != wire.TransportWebhook {
		fail(c, ErrEvaluatorNATS, nil)
		return
	}
	secret := evals.NewSecret()
	err := s.d.Store.RotateEvaluatorSecret(c.Request.Context(), ev.Name, secret, time.Now().Add(evals.SecretOverlap))
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrEvaluatorNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "rotate evaluator secret", err)
		return
	}
	s.d.Log.Info("evaluator secret rotated", "evaluator", ev.Name)
	c.JSON(http.StatusOK, api.EvaluatorSecret{Secret: secret})
}

func (s *Server) deleteEvaluator(c *gin.Context) {
	ev, ok := s.loadEvaluator(c)
	if !ok {
		return
	}
	if s.d.Evals == nil {
		fail(c, ErrNoEvaluators, nil)
		return
	}
	err := s.d.Evals.Revoke(c.Request.Context(), ev.Name)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrEvaluatorNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "remove evaluator", err)
		return
	}
	s.d.Log.Info("evaluator removed", "evaluator", ev.Name)
	c.Status(http.StatusNoContent)
}

// evaluationAnswer is the webhook answer callback (docs/evaluators.md
// §4.4). Its replies follow the protocol (reply.schema.json).
func (s *Server) evaluationAnswer(c *gin.Context) {
	if s.d.Evals == nil {
		fail(c, ErrNoEvaluators, nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, evals.MaxAnswer))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, api.ErrorBody{Code: "body_too_large", Message: "the answer exceeds 1 MiB"})
			return
		}
		fail(c, ErrBadJSON, err.Error())
		return
	}
	r, err := s.d.Evals.Answer(c.Request.Context(), c.Param("id"), c.Request.Header, body)
	if err != nil {
		s.internal(c, "evaluation answer", err)
		return
	}
	if r.Code != "" {
		c.AbortWithStatusJSON(r.Status, api.ErrorBody{Code: r.Code, Message: r.Message})
		return
	}
	c.JSON(r.Status, api.EvalAnswerReply{State: r.State})
}
