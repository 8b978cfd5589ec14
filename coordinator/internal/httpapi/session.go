package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
)

// Dashboard sessions.
//
// A browser signs in once with an API token (POST /api/v1/session). The
// coordinator checks it, opens a server-side session (a random ID whose
// SHA-256 is stored with the token's ID and an expiry) and sets two
// cookies, both SameSite=Strict, Path=/, without a Max-Age (they end with
// the browser session, and the server ends the session at its expiry):
//
//   - SessionCookie (HttpOnly) holds the session ID, never the API token.
//     Each request looks the session up with its token: signing out,
//     the session's expiry, or revoking or expiring the token ends it, on
//     every replica.
//   - CSRFCookie (readable by the page) holds CSRFToken(session ID), a
//     digest bound to the session. Requests authenticated by the session
//     cookie that change state (any method but GET, HEAD and OPTIONS) must
//     echo it in the CSRFHeader header: a page on another origin can
//     neither read the cookie nor compute the digest (signed
//     double-submit). SameSite=Strict already keeps other sites' requests
//     from carrying the cookies; the header is the second line of defence.
//
// Both cookies are Secure when the request came over TLS, or through a
// trusted proxy whose configured header says https (secureRequest).
//
// Requests with an Authorization header are bearer requests and never look
// at the cookies, so API clients work unchanged.
const (
	// SessionCookie carries the session ID of a signed-in browser.
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

// CSRFToken is the CSRF token of the session with this ID: hex SHA-256 of
// a domain-separated copy of it. It reveals nothing usable about the
// session ID and only its holder can compute it.
func CSRFToken(sessionID string) string {
	h := sha256.Sum256([]byte("hilsearch dashboard csrf v1\x00" + sessionID))
	return hex.EncodeToString(h[:])
}

// secureRequest reports whether the client reached us over https: TLS on
// this connection, or a trusted proxy's header saying so.
func (s *Server) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if s.d.ProxyHeader == "" || !s.fromTrustedProxy(r) {
		return false
	}
	return forwardedProto(s.d.ProxyHeader, r.Header.Values(s.d.ProxyHeader)) == "https"
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.d.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// forwardedProto is the protocol the nearest proxy reports: the last
// element of X-Forwarded-Proto (or any such list header), or the proto=
// parameter of the last element of an RFC 7239 Forwarded header.
func forwardedProto(header string, values []string) string {
	if len(values) == 0 {
		return ""
	}
	all := strings.Split(strings.Join(values, ","), ",")
	last := strings.TrimSpace(all[len(all)-1])
	if !strings.EqualFold(header, "Forwarded") {
		return strings.ToLower(last)
	}
	for _, pair := range strings.Split(last, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, "proto") {
			return strings.ToLower(strings.Trim(v, `"`))
		}
	}
	return ""
}

func (s *Server) setSessionCookies(c *gin.Context, sessionID string, maxAge int) {
	secure := s.secureRequest(c.Request)
	for _, ck := range []*http.Cookie{
		{Name: SessionCookie, Value: sessionID, HttpOnly: true},
		{Name: CSRFCookie, Value: CSRFToken(sessionID)},
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
	ctx := c.Request.Context()
	tok, err := s.d.Store.Authenticate(ctx, req.Token)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrUnauthorized, []api.FieldError{{Field: "token", Message: "this API token is not valid (unknown, revoked or expired)"}})
		return
	}
	if err != nil {
		s.internal(c, "sign in", err)
		return
	}
	id, ses, err := s.d.Store.CreateSession(ctx, tok.ID, s.d.SessionTTL)
	if errors.Is(err, store.ErrNotFound) { // revoked or expired meanwhile
		fail(c, ErrUnauthorized, []api.FieldError{{Field: "token", Message: "this API token is not valid (unknown, revoked or expired)"}})
		return
	}
	if err != nil {
		s.internal(c, "open session", err)
		return
	}
	s.setSessionCookies(c, id, 0)
	s.d.Log.Info("dashboard sign-in", "token_id", tok.ID, "token", tok.Name, "scope", tok.Scope, "session_expires_at", ses.ExpiresAt)
	c.JSON(http.StatusOK, api.SessionInfo{Name: tok.Name, Scope: tok.Scope, ExpiresAt: &ses.ExpiresAt, CSRFToken: CSRFToken(id)})
}

// session answers GET /api/v1/session for a signed-in browser (or a bearer
// client); requireToken has authenticated it.
func (s *Server) session(c *gin.Context) {
	tok := principal(c)
	info := api.SessionInfo{Name: tok.Name, Scope: tok.Scope, ExpiresAt: tok.ExpiresAt}
	if v, ok := c.Get(sessionKey); ok {
		ses := v.(store.Session)
		info.ExpiresAt = &ses.ExpiresAt
		if ck, err := c.Cookie(SessionCookie); err == nil {
			info.CSRFToken = CSRFToken(ck)
		}
	}
	c.JSON(http.StatusOK, info)
}

// signOut ends the session and clears its cookies: DELETE /api/v1/session.
// It needs no authentication (ending one's own session is harmless), so a
// browser whose token was revoked can still sign out.
func (s *Server) signOut(c *gin.Context) {
	if id, err := c.Cookie(SessionCookie); err == nil && id != "" {
		if err := s.d.Store.DeleteSession(c.Request.Context(), id); err != nil {
			// The cookies are cleared anyway; the row expires by itself.
			s.d.Log.Warn("sign out: delete session", "err", err)
		}
	}
	s.setSessionCookies(c, "", -1)
	c.Status(http.StatusNoContent)
}

// sessionFromCookie returns the live session of the request's cookie, and
// whether the request may proceed: state-changing methods need a matching
// CSRF header. On failure it has written the error.
func (s *Server) sessionFromCookie(c *gin.Context) (store.Session, bool) {
	id, err := c.Cookie(SessionCookie)
	if err != nil || id == "" {
		fail(c, ErrUnauthorized, nil)
		return store.Session{}, false
	}
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		got := c.GetHeader(CSRFHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(CSRFToken(id))) != 1 {
			fail(c, ErrCSRF, nil)
			return store.Session{}, false
		}
	}
	ses, err := s.d.Store.SessionByID(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, ErrUnauthorized, nil)
		return ses, false
	}
	if err != nil {
		s.internal(c, "session", err)
		return ses, false
	}
	return ses, true
}
