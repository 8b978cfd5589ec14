package bus

import (
	"regexp"
	"time"

	"github.com/nats-io/jwt/v2"
)

// Stream and subject layout (design §5).
const (
	StreamJobs    = "JOBS"    // work queue: jobs.agent.<id>.<kind>, jobs.class.<class>.<kind>
	StreamResults = "RESULTS" // results.<id>.<jobID>
	// ResultsConsumer is the coordinator's durable consumer on RESULTS.
	ResultsConsumer = "coordinator"
)

// AgentConsumer is the durable pull consumer of one agent's own jobs.
func AgentConsumer(deviceID string) string { return "agt-" + deviceID }

// AgentJobSubject is where a job for one agent is published.
func AgentJobSubject(deviceID, kind string) string { return "jobs.agent." + deviceID + "." + kind }

// ClassConsumer is the durable pull consumer shared by every agent of a
// device class: whichever of them pulls a class job measures it.
func ClassConsumer(class string) string { return "cls-" + class }

// ClassJobSubject is where a job any agent of a class may take is
// published.
func ClassJobSubject(class, kind string) string { return "jobs.class." + class + "." + kind }

// ResultsPrefix is the subject prefix of an agent's results:
// results.<deviceID>.<jobID>.
func ResultsPrefix(deviceID string) string { return "results." + deviceID }

// HeartbeatSubject is where an agent publishes its heartbeats (core NATS).
func HeartbeatSubject(deviceID string) string { return "hb." + deviceID }

// ControlSubject is the prefix of control requests to an agent.
func ControlSubject(deviceID string) string { return "ctl." + deviceID }

// JWTSubject is where an agent requests a fresh user JWT (empty request,
// the JWT as the reply).
func JWTSubject(deviceID string) string { return "jwt." + deviceID }

// InboxPrefix is the agent's private inbox prefix (nats.CustomInboxPrefix).
func InboxPrefix(deviceID string) string { return "_INBOX_" + deviceID }

var tokenRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidToken reports whether s is safe as one NATS subject token and as
// part of a consumer name (lower-case letters, digits, dashes).
func ValidToken(s string) bool { return tokenRE.MatchString(s) }

// Identity is one agent's NATS identity: its public NKey and what it may do.
type Identity struct {
	DeviceID string
	Class    string
	NKey     string
}

// AgentPermissions are the only subjects an agent may use: pull and ack its
// own consumer and its class's shared consumer, publish its own results and heartbeats, receive on its own
// inbox and control subjects, and answer control requests.
func AgentPermissions(id Identity) jwt.Permissions {
	cons := AgentConsumer(id.DeviceID)
	var p jwt.Permissions
	p.Pub.Allow.Add(
		ResultsPrefix(id.DeviceID)+".>",
		HeartbeatSubject(id.DeviceID),
		JWTSubject(id.DeviceID),
		"$JS.API.CONSUMER.INFO."+StreamJobs+"."+cons,
		"$JS.API.CONSUMER.MSG.NEXT."+StreamJobs+"."+cons,
		"$JS.ACK."+StreamJobs+"."+cons+".>",
	)
	if ValidToken(id.Class) {
		cls := ClassConsumer(id.Class)
		p.Pub.Allow.Add(
			"$JS.API.CONSUMER.INFO."+StreamJobs+"."+cls,
			"$JS.API.CONSUMER.MSG.NEXT."+StreamJobs+"."+cls,
			"$JS.ACK."+StreamJobs+"."+cls+".>",
		)
	}
	p.Sub.Allow.Add(InboxPrefix(id.DeviceID)+".>", ControlSubject(id.DeviceID)+".>")
	p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	return p
}

// AgentUser is the NATS user of an enrolled agent (see Authority.IssueUser;
// an evaluator's user will be built the same way with its own permissions).
func AgentUser(id Identity) UserSpec {
	return UserSpec{NKey: id.NKey, Name: "agent-" + id.DeviceID, Permissions: AgentPermissions(id), TTL: AgentJWTTTL}
}
