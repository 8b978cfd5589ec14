package store

import "errors"

// Sentinel errors returned by the store; the HTTP layer maps them to its
// error catalogue.
var (
	// ErrNotFound: no row with that identity (or it was revoked).
	ErrNotFound = errors.New("not found")
	// ErrTokenUnknown: no enrollment token with that secret.
	ErrTokenUnknown = errors.New("enrollment token unknown")
	// ErrTokenUsed: the enrollment token was consumed already.
	ErrTokenUsed = errors.New("enrollment token already used")
	// ErrTokenExpired: the enrollment token's expiry has passed.
	ErrTokenExpired = errors.New("enrollment token expired")
	// ErrKeyInUse: the NKey already belongs to a device (live or revoked).
	ErrKeyInUse = errors.New("nkey already enrolled")
)
