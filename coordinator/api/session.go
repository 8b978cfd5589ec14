package api

import "time"

// SessionRequest is the body of POST /api/v1/session.
type SessionRequest struct {
	// Token is an API token.
	Token string `json:"token"`
}

// SessionInfo describes the signed-in token (POST and GET
// /api/v1/session).
type SessionInfo struct {
	// Name and Scope are the API token's.
	Name  string `json:"name"`
	Scope Scope  `json:"scope"`
	// ExpiresAt is when the dashboard session ends (at the latest; it
	// also ends when its token is revoked or expires). For a bearer
	// request it is the token's expiry, absent when it has none.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// CSRFToken must be echoed in the X-CSRF-Token header of
	// state-changing requests made with the session cookie.
	CSRFToken string `json:"csrf_token"`
}

// Health is the body of GET /healthz.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// Ready is the body of GET /readyz (and the details of its 503).
type Ready struct {
	Status string `json:"status"`
	// Checks maps postgres and nats to "ok" or the error.
	Checks map[string]string `json:"checks"`
}
