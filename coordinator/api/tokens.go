package api

import "time"

// Scope is what an API token may do.
type Scope string

// Token scopes.
const (
	// ScopeAdmin may call every route, including token management.
	ScopeAdmin Scope = "admin"
	// ScopeReadOnly may call every GET route (devices, jobs, searches,
	// events) and nothing that changes state.
	ScopeReadOnly Scope = "read-only"
	// ScopeEnrollOnly may create enrollment tokens and read the device
	// list and single devices: what an enrolling script or
	// `device-agent farm` needs, and nothing else.
	ScopeEnrollOnly Scope = "enroll-only"
)

// Scopes lists every scope, widest first.
var Scopes = []Scope{ScopeAdmin, ScopeReadOnly, ScopeEnrollOnly}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool {
	for _, v := range Scopes {
		if s == v {
			return true
		}
	}
	return false
}

// TokenState is a token's derived state.
type TokenState string

// Token states.
const (
	TokenActive  TokenState = "active"
	TokenExpired TokenState = "expired"
	TokenRevoked TokenState = "revoked"
)

// Token is a stored API token: never its secret, which is shown once, when
// it is created (TokenCreated).
type Token struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Scope Scope  `json:"scope"`
	// State is derived: revoked, expired or active.
	State     TokenState `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	// ExpiresAt is absent for a token that does not expire.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// LastUsedAt is written at most once a minute, so it may lag by up
	// to a minute.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// CreatedBy is the ID of the token that created this one; absent for
	// tokens made by the coordinator itself or its command line.
	CreatedBy *int64 `json:"created_by,omitempty"`
}

// TokenList is the body of GET /api/v1/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	// Name is 1 to 100 characters.
	Name  string `json:"name"`
	Scope Scope  `json:"scope"`
	// TTLSeconds is how long the token stays valid: omitted, the
	// coordinator's default (HIL_TOKEN_TTL); 0, no expiry; else 60 to
	// 315360000 (ten years).
	TTLSeconds *int64 `json:"ttl_seconds,omitempty"`
}

// TokenCreated is the answer to POST /api/v1/tokens: the stored token and
// its secret, which is not stored and cannot be shown again.
type TokenCreated struct {
	Token  Token  `json:"token"`
	Secret string `json:"secret"`
}

// MaxTokenTTL is the longest expiry a token may be given.
const MaxTokenTTL = 10 * 365 * 24 * time.Hour
