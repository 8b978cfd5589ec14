package coordinator

// Internals exercised by the external tests (they need testenv, which
// imports this package).
var (
	AlreadyRunning = alreadyRunning
	PostgresUsable = postgresUsable
)
