package api

// Event is the payload of one live event of GET /api/v1/events; EventName
// is its SSE event name.
type Event interface {
	EventName() string
}

// SSE event names.
const (
	EventTrial  = "trial"
	EventSearch = "search"
	EventJob    = "job"
	EventDevice = "device"
)

// TrialEvent: a trial started or ended.
type TrialEvent struct {
	SearchID string     `json:"search_id"`
	Number   int        `json:"number"`
	State    TrialState `json:"state"`
}

// EventName implements Event.
func (TrialEvent) EventName() string { return EventTrial }

// SearchEvent: a search was created or changed state.
type SearchEvent struct {
	ID    string      `json:"id"`
	State SearchState `json:"state"`
}

// EventName implements Event.
func (SearchEvent) EventName() string { return EventSearch }

// JobEvent: a job ended.
type JobEvent struct {
	ID       string   `json:"id"`
	DeviceID string   `json:"device_id"`
	State    JobState `json:"state"`
	// Status is the agent's result status (ok or failed) when a result
	// ended the job.
	Status string `json:"status,omitempty"`
}

// EventName implements Event.
func (JobEvent) EventName() string { return EventJob }

// DeviceEvent: a device's heartbeat arrived.
type DeviceEvent struct {
	ID string `json:"id"`
	// Status is online (idle) or busy.
	Status DeviceStatus `json:"status"`
	// TempC is the hottest readable CPU temperature, or null.
	TempC *float64 `json:"temp_c"`
}

// EventName implements Event.
func (DeviceEvent) EventName() string { return EventDevice }
