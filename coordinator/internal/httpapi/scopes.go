package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// scopeSet lists the token scopes that may call a route.
type scopeSet []api.Scope

// The scope sets routes use. read-only tokens get every GET route but the
// token list; enroll-only tokens get enrollment tokens and the devices
// (what `device-agent farm` calls), plus the session and the OpenAPI
// document; admin tokens get everything.
var (
	everyScope   = scopeSet{api.ScopeAdmin, api.ScopeReadOnly, api.ScopeEnrollOnly}
	readScopes   = scopeSet{api.ScopeAdmin, api.ScopeReadOnly}
	enrollScopes = scopeSet{api.ScopeAdmin, api.ScopeEnrollOnly}
	adminScope   = scopeSet{api.ScopeAdmin}
)

func (ss scopeSet) allows(sc api.Scope) bool {
	for _, v := range ss {
		if v == sc {
			return true
		}
	}
	return false
}

// ErrForbidden answers a token whose scope does not cover the route.
var ErrForbidden = APIError{http.StatusForbidden, "forbidden", "this API token's scope does not allow this request"}

// ScopeDenial is the details of a forbidden error.
type scopeDenial struct {
	Scope   api.Scope   `json:"scope"`
	Allowed []api.Scope `json:"allowed"`
}

// route registers an authenticated route that the given scopes may call.
func (s *Server) route(g *gin.RouterGroup, method, path string, scopes scopeSet, h gin.HandlerFunc) {
	s.scopes[method+" "+g.BasePath()+path] = scopes
	g.Handle(method, path, func(c *gin.Context) {
		if p := principal(c); !scopes.allows(p.Scope) {
			fail(c, ErrForbidden, scopeDenial{Scope: p.Scope, Allowed: scopes})
			return
		}
		c.Next()
	}, h)
}

// RouteScopes maps "METHOD path" (gin syntax) of every authenticated route
// to the scopes that may call it.
func (s *Server) RouteScopes() map[string][]api.Scope {
	out := make(map[string][]api.Scope, len(s.scopes))
	for k, v := range s.scopes {
		out[k] = append([]api.Scope(nil), v...)
	}
	return out
}
