package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
)

// Token errors.
var (
	ErrTokenNotFound = APIError{http.StatusNotFound, "token_not_found", "no API token has this ID"}
)

func (s *Server) listTokens(c *gin.Context) {
	ts, err := s.d.Store.ListAPITokens(c.Request.Context())
	if err != nil {
		s.internal(c, "list tokens", err)
		return
	}
	c.JSON(http.StatusOK, api.TokenList{Tokens: ts})
}

func (s *Server) createToken(c *gin.Context) {
	var req api.TokenRequest
	if !decodeJSON(c, &req) {
		return
	}
	var errs []api.FieldError
	if fe := checkName("name", req.Name); fe != nil {
		errs = append(errs, *fe)
	}
	if !req.Scope.Valid() {
		errs = append(errs, api.FieldError{Field: "scope", Message: "must be admin, read-only or enroll-only"})
	}
	ttl := s.d.TokenTTL
	if req.TTLSeconds != nil {
		maxS := int64(api.MaxTokenTTL / time.Second)
		if n := *req.TTLSeconds; n != 0 && (n < 60 || n > maxS) {
			errs = append(errs, api.FieldError{Field: "ttl_seconds", Message: "must be 0 (no expiry) or between 60 and " + strconv.FormatInt(maxS, 10)})
		} else {
			ttl = time.Duration(n) * time.Second
		}
	}
	if len(errs) > 0 {
		failFields(c, errs...)
		return
	}
	by := principal(c)
	t, secret, err := s.d.Store.CreateAPIToken(c.Request.Context(), store.NewToken{Name: req.Name, Scope: req.Scope, TTL: ttl, CreatedBy: by.ID})
	if err != nil {
		s.internal(c, "create token", err)
		return
	}
	s.d.Log.Info("api token created", "id", t.ID, "name", t.Name, "scope", t.Scope, "expires_at", t.ExpiresAt, "by", by.ID)
	c.JSON(http.StatusCreated, api.TokenCreated{Token: t, Secret: secret})
}

func (s *Server) revokeToken(c *gin.Context) {
	id, err := strconv.ParseInt(strings.TrimSpace(c.Param("id")), 10, 64)
	if err != nil || id < 1 {
		fail(c, ErrBadPath, api.FieldError{Field: "id", Message: "must be a token ID: a positive integer"})
		return
	}
	t, err := s.d.Store.RevokeAPIToken(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrTokenNotFound, nil)
		return
	}
	if err != nil {
		s.internal(c, "revoke token", err)
		return
	}
	s.d.Log.Info("api token revoked", "id", t.ID, "name", t.Name, "by", principal(c).ID)
	c.JSON(http.StatusOK, t)
}
