// Package wire holds the messages exchanged between the coordinator and
// device agents, over HTTP (enrollment) and NATS (heartbeats, jobs,
// results). It depends only on the pure workload package (and arch below
// it), so the agent can import it cheaply.
package wire

import "encoding/json"

// EnrollRequest is the body of POST /api/v1/agents/enroll.
type EnrollRequest struct {
	// Token is the one-time enrollment token.
	Token string `json:"token"`
	// NKey is the agent's public NATS user key (starts with "U"). The seed
	// never leaves the device.
	NKey string `json:"nkey"`
	// Name is a display name; defaults to the profile's hostname.
	Name string `json:"name,omitempty"`
	// Tags label the device for targeting.
	Tags []string `json:"tags,omitempty"`
	// Class is the device class derived from the hardware fingerprint
	// (lower-case letters, digits, dashes).
	Class string `json:"class"`
	// Profile is the agent's hardware profile, stored as sent.
	Profile json.RawMessage `json:"profile"`
}

// EnrollResponse tells an enrolled agent who it is and where to connect.
type EnrollResponse struct {
	DeviceID string       `json:"device_id"`
	Name     string       `json:"name"`
	Class    string       `json:"class"`
	NATS     NATSIdentity `json:"nats"`
}

// NATSIdentity is what an agent may use on NATS.
type NATSIdentity struct {
	URLs []string `json:"urls"`
	// NKey is the public key the agent authenticates with.
	NKey string `json:"nkey"`
	// JWT is the agent's NATS user JWT, signed by the coordinator for NKey
	// with exactly the subjects below (nats.UserJWT with the agent's own
	// seed). It expires; once half its life has passed the agent asks for
	// a new one with an empty request on JWTSubject, answered with the new
	// JWT as the body. Not secret: useless without the seed.
	JWT        string `json:"jwt,omitempty"`
	JWTSubject string `json:"jwt_subject,omitempty"`
	// InboxPrefix must be passed to nats.CustomInboxPrefix: the agent may
	// only subscribe below it.
	InboxPrefix   string `json:"inbox_prefix"`
	Stream        string `json:"stream"`
	AgentConsumer string `json:"agent_consumer"`
	// ClassConsumer is the durable consumer shared by every agent of the
	// device's class (jobs.class.<class>.<kind>): the agent pulls from it
	// as well as from AgentConsumer. Empty in identity files of agents
	// enrolled before class dispatch: such an agent pulls its own
	// consumer only.
	ClassConsumer  string `json:"class_consumer,omitempty"`
	ResultsSubject string `json:"results_subject"` // prefix: results.<id>.<jobID>
	HeartbeatSubj  string `json:"heartbeat_subject"`
	ControlSubject string `json:"control_subject"` // prefix: ctl.<id>.<verb>
}

// Size limits of the messages an agent sends. The NATS server enforces
// MaxMessageBytes on every publish of the application account (the
// account JWT's payload limit: a larger publish is refused and the
// connection closed); the coordinator refuses (drops, counts and logs) a
// heartbeat above MaxHeartbeatBytes and a result above MaxResultBytes.
// Agents check before they publish.
const (
	MaxMessageBytes   = 1 << 20
	MaxResultBytes    = MaxMessageBytes
	MaxHeartbeatBytes = 4 << 10
)

// Heartbeat is published by an agent on hb.<deviceID> every 10 s.
type Heartbeat struct {
	// Status is "idle" or "busy".
	Status string `json:"status"`
	// TempC is the hottest readable CPU temperature, if any.
	TempC *float64 `json:"temp_c,omitempty"`
	// JobID is the job being measured, when busy.
	JobID        string `json:"job_id,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
	// Runtimes are the runtimes besides native the agent found when it
	// started (its profile's "runtimes"): the coordinator replaces the
	// stored profile's list when it differs, so a device gains or loses
	// llama.cpp without re-enrolling. Nil (an agent that has not probed
	// yet, or an older one) leaves the stored list alone; an empty list
	// clears it.
	Runtimes *[]RuntimeInfo `json:"runtimes,omitempty"`
}
