// Package coordinator runs the hilsearch coordinator: it stores devices,
// searches and measurements in PostgreSQL, dispatches measurement jobs to
// device agents over NATS JetStream, and serves the HTTP API.
//
// The wiring lives here (Run); the parts live in internal/store (SQL),
// internal/bus (NATS) and internal/httpapi (HTTP). The wire package holds
// the messages the device agent shares with the coordinator.
package coordinator
