package api

// SessionRequest is the body of POST /api/v1/session.
type SessionRequest struct {
	// Token is an API token.
	Token string `json:"token"`
}

// SessionInfo describes the signed-in token (POST and GET
// /api/v1/session).
type SessionInfo struct {
	Name string `json:"name"`
	Role string `json:"role"`
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
