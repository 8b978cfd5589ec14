// Package coordinator runs the hilsearch coordinator: it stores devices,
// searches and measurements in PostgreSQL, dispatches measurement jobs to
// device agents over NATS JetStream, and serves the HTTP API.
//
// The wiring lives here (Start, Run); the parts live in internal/jobs (the
// job state machine), internal/driver (search drivers), internal/store
// (SQL), internal/studystore (the optimizer's state), internal/bus (NATS)
// and internal/httpapi (HTTP). Package api holds the HTTP API's types and
// package wire the messages the device agent shares with the coordinator.
// docs/coordinator.md has the package map and the job state machine.
//
// The coordinator binary does not contain the device agent: serve --dev
// runs the device-agent program (dev.go).
package coordinator
