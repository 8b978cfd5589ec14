package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
)

// Evaluator subjects (docs/evaluators.md §5.2): E is an evaluator name, W
// one of its workers' IDs ("w…"). The coordinator does not serve the NATS
// transport of evaluators yet; these are the identities it will issue.

// EvalConsumer is the durable pull consumer of one evaluator's jobs.
func EvalConsumer(name string) string { return "evl-" + name }

// EvalJobSubject is where a job for evaluator name is published.
func EvalJobSubject(name string) string { return "jobs.eval." + name + ".evaluate" }

// AnswerPrefix is the subject prefix of an evaluator's answers:
// evaluations.<name>.<jobID>.
func AnswerPrefix(name string) string { return "evaluations." + name }

// EvaluatorWorker is one NATS worker of an evaluator.
type EvaluatorWorker struct {
	Evaluator string
	WorkerID  string
	NKey      string
}

// EvaluatorPermissions are the only subjects a worker of evaluator E may
// use: pull and ack E's consumer, publish E's answers and its own
// heartbeats, receive on its own inbox and control subjects, and answer
// control requests. It cannot read measurement jobs, publish device
// results, or touch another evaluator's consumer or answers.
func EvaluatorPermissions(w EvaluatorWorker) jwt.Permissions {
	cons := EvalConsumer(w.Evaluator)
	var p jwt.Permissions
	p.Pub.Allow.Add(
		AnswerPrefix(w.Evaluator)+".>",
		HeartbeatSubject(w.WorkerID),
		"$JS.API.CONSUMER.INFO."+StreamJobs+"."+cons,
		"$JS.API.CONSUMER.MSG.NEXT."+StreamJobs+"."+cons,
		"$JS.ACK."+StreamJobs+"."+cons+".>",
	)
	p.Sub.Allow.Add(InboxPrefix(w.WorkerID)+".>", ControlSubject(w.WorkerID)+".>")
	p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	return p
}

// EvaluatorUser is the NATS user of an evaluator's worker.
func EvaluatorUser(w EvaluatorWorker) UserSpec {
	return UserSpec{NKey: w.NKey, Name: "evaluator-" + w.Evaluator + "-" + w.WorkerID, Permissions: EvaluatorPermissions(w), TTL: AgentJWTTTL}
}

// IssueEvaluatorJWT signs the user JWT of an evaluator's worker: exactly
// the subjects of EvaluatorPermissions. It fails for a revoked key.
func (b *Bus) IssueEvaluatorJWT(w EvaluatorWorker) (string, error) {
	if !ValidToken(w.Evaluator) || !ValidToken(w.WorkerID) {
		return "", fmt.Errorf("evaluator %q worker %q: not valid subject tokens", w.Evaluator, w.WorkerID)
	}
	return b.auth.IssueUser(EvaluatorUser(w))
}
