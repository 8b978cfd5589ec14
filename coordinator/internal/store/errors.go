package store

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

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

// Unreachable reports whether err says the database could not be reached
// or the connection was lost (server restarting, shutting down, socket
// closed), not that the statement was wrong: the HTTP layer answers 503
// for it, since the server is often back before a health check could
// tell. A statement cut off this way may or may not have committed.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-03: admin or crash
		// shutdown, cannot connect now (starting up, recovering).
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
