package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
)

// Dashboard sessions.
//
// A browser signs in once with an API token (POST /api/v1/session). The
// coordinator checks it and sets two cookies, both SameSite=Strict, Path=/,
// Secure when the request came over TLS, and without an expiry (they end
// with the browser session):
//
//   - SessionCookie (HttpOnly) holds the API token itself, so every request
//     is authenticated exactly as a bearer request would be: revoking the
//     token ends every session made with it, on every replica, with no
//     session table.
//   - CSRFCookie (readable by the page) holds CSRFToken(token), a digest
//     bound to the session. Requests authenticated by the session cookie
//     that change state (any method but GET, HEAD and OPTIONS) must echo it
//     in the CSRFHeader header: a page on another origin can neither read
//     the cookie nor compute the digest (signed double-submit). SameSite=
//     Strict already keeps other sites' requests from carrying the cookies;
//     the header is the second line of defence.
//
// Requests with an Authorization header are bearer requests and never look
// at the cookies, so API clients work unchanged.
const (
	// SessionCookie carries the API token of a signed-in browser.
	SessionCookie = "hil_session"
	// CSRFCookie carries the session's CSRF token for the page's script.
	CSRFCookie = "hil_csrf"
	// CSRFHeader must echo CSRFCookie on state-changing session requests.
	CSRFHeader = "X-CSRF-Token"
)

// Session errors.
var (
	ErrCSRF = APIError{http.StatusForbidden, "csrf_failed", "the X-CSRF-Token header is missing or does not match this session"}
)

// CSRFToken is the CSRF token of the session opened with the API token
// secret: hex SHA-256 of a domain-separated copy of the secret. It reveals
// nothing usable about the secret and only its holder can compute it.
func CSRFToken(secret string) string {
	h := sha256.Sum256([]byte("hilsearch dashboard csrf v1\x00" + secret))
	return hex.EncodeToString(h[:])
}

func setSessionCookies(c *gin.Context, secret string, maxAge int) {
	secure := c.Request.TLS != nil
	for _, ck := range []*http.Cookie{
		{Name: SessionCookie, Value: secret, HttpOnly: true},
		{Name: CSRFCookie, Value: CSRFToken(secret)},
	} {
		if maxAge < 0 {
			ck.Value = ""
		}
		ck.Path, ck.MaxAge, ck.Secure, ck.SameSite = "/", maxAge, secure, http.SameSiteStrictMode
		http.SetCookie(c.Writer, ck)
	}
}

// signIn opens a session: POST /api/v1/session {"token": "..."}. The body
// must be JSON (declared), which a cross-site HTML form cannot send.
func (s *Server) signIn(c *gin.Context) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		fail(c, ErrUnsupportedMedia, nil)
		return
	}
	var req api.SessionRequest
	if !decodeJSON(c, &req) {
		return
	}
	req.Token = strings.TrimSpace(req.Token)
	if req.Token == "" {
		failFields(c, api.FieldError{Field: "token", Message: "required: an API token"})
		return
	}
	tok, err := s.d.Store.Authenticate(c.Request.Context(), req.Token)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrUnauthorized, []api.FieldError{{Field: "token", Message: "this API token is not valid"}})
		return
	}
	if err != nil {
		s.internal(c, "sign in", err)
		return
	}
	setSessionCookies(c, req.Token, 0)
	s.d.Log.Info("dashboard sign-in", "token", tok.Name)
	c.JSON(http.StatusOK, api.SessionInfo{Name: tok.Name, Role: tok.Role, CSRFToken: CSRFToken(req.Token)})
}

// session answers GET /api/v1/session for a signed-in browser (or a bearer
// client); requireToken has authenticated it.
func (s *Server) session(c *gin.Context) {
	tok := principal(c)
	info := api.SessionInfo{Name: tok.Name, Role: tok.Role}
	if ck, err := c.Cookie(SessionCookie); err == nil && c.GetHeader("Authorization") == "" {
		info.CSRFToken = CSRFToken(ck)
	}
	c.JSON(http.StatusOK, info)
}

// signOut clears the session cookies: DELETE /api/v1/session. It needs no
// authentication (clearing one's own cookies is harmless) so a browser
// holding a revoked token can still sign out.
func (s *Server) signOut(c *gin.Context) {
	setSessionCookies(c, "", -1)
	c.Status(http.StatusNoContent)
}

// sessionSecret returns the API token of the request's session cookie, and
// whether the request may proceed: state-changing methods need a matching
// CSRF header. On failure it has written the error.
func sessionSecret(c *gin.Context) (string, bool) {
	secret, err := c.Cookie(SessionCookie)
	if err != nil || secret == "" {
		fail(c, ErrUnauthorized, nil)
		return "", false
	}
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		got := c.GetHeader(CSRFHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(CSRFToken(secret))) != 1 {
			fail(c, ErrCSRF, nil)
			return "", false
		}
	}
	return secret, true
}
