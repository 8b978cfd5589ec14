package api

// JobState is where a measurement job is in its life. The transitions are
// made by one owner, coordinator/internal/jobs (docs/coordinator.md has the
// state machine).
type JobState string

// Job states.
const (
	// JobQueued: stored, published (or about to be) on the device's subject.
	JobQueued JobState = "queued"
	// JobRunning: the device's agent reported (heartbeat) that it measures it.
	JobRunning JobState = "running"
	// JobDone: the agent's result carried a measurement.
	JobDone JobState = "done"
	// JobFailed: the agent reported a failure, or JetStream gave up on it.
	JobFailed JobState = "failed"
	// JobCancelled: its search was cancelled or its device revoked.
	JobCancelled JobState = "cancelled"
)

// Final reports whether no transition leaves s.
func (s JobState) Final() bool { return s == JobDone || s == JobFailed || s == JobCancelled }

// SearchState is where a search is in its life.
type SearchState string

// Search states.
const (
	SearchRunning   SearchState = "running"
	SearchPaused    SearchState = "paused"
	SearchCancelled SearchState = "cancelled"
	SearchFinished  SearchState = "finished"
	SearchFailed    SearchState = "failed"
)

// Final reports whether the search has ended.
func (s SearchState) Final() bool {
	return s == SearchFinished || s == SearchFailed || s == SearchCancelled
}

// TrialState is where a trial (a measured candidate) is.
type TrialState string

// Trial states.
const (
	TrialRunning  TrialState = "running"
	TrialComplete TrialState = "complete"
	TrialFailed   TrialState = "failed"
)
