// Package agent is the device agent: it enrolls a device with the
// coordinator, profiles its hardware, pulls measurement jobs over NATS
// JetStream and times candidate architectures in an isolated child process.
// The directory is named device-agent; the package is named agent.
package agent
