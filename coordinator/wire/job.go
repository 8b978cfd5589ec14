package wire

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/workload"
)

// Job kinds. An agent does the same for both: build the spec and time it
// under the workload. A probe's measurement enters only its device's
// predictor (a block probe, search.Probe), never a search's results.
const (
	// JobKindMeasure measures a candidate or a user's spec.
	JobKindMeasure = "measure"
	// JobKindProbe measures a block probe (#18): a few identical layers of
	// one block, from which the device's predictor separates block costs.
	JobKindProbe = "probe"
)

// Job is one message on JOBS (subject jobs.agent.<id>.measure). Its
// Nats-Msg-Id is ID.
type Job struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Spec      json.RawMessage   `json:"spec"`
	SpecHash  string            `json:"spec_hash"`
	Workload  workload.Workload `json:"workload"`
	CreatedAt time.Time         `json:"created_at"`
	// TimeoutSeconds bounds the measuring child (0: agent default).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// MemoryLimitBytes caps the child's resident memory (0: agent default,
	// a fraction of the device's RAM).
	MemoryLimitBytes int64 `json:"memory_limit_bytes,omitempty"`
}

// Result statuses and failure kinds.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"

	FailInvalidSpec = "invalid_spec" // never retried
	FailOOM         = "oom"          // the child exceeded its memory cap
	FailTimeout     = "timeout"      // the child exceeded its time limit
	FailCrash       = "crash"        // the child died otherwise
	FailInternal    = "internal"
	// FailDeviceLost is set by the coordinator, never by an agent: the
	// job's device sent no heartbeat for longer than the lost threshold.
	// The trial's target is re-dispatched to another matching device.
	FailDeviceLost = "device_lost"
)

// Result is published by the agent on results.<deviceID>.<jobID> with
// Nats-Msg-Id = job ID; the coordinator stores it idempotently.
type Result struct {
	JobID    string `json:"job_id"`
	DeviceID string `json:"device_id"`
	Status   string `json:"status"`
	// FailKind and Error explain a failed result.
	FailKind    string       `json:"fail_kind,omitempty"`
	Error       string       `json:"error,omitempty"`
	Measurement *Measurement `json:"measurement,omitempty"`
	// Attempt is the JetStream delivery count of the job when measured.
	Attempt int `json:"attempt,omitempty"`
}

// Stat summarises repeated samples of one metric.
type Stat struct {
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	P50    float64 `json:"p50"`
	P95    float64 `json:"p95"`
	// RelSpread is the relative spread of the median (see
	// device-agent/internal/stats for the definition).
	RelSpread float64   `json:"rel_spread"`
	Samples   []float64 `json:"samples"`
}

// PrefillResult is pp<L>: an L-token prefill from an empty cache.
type PrefillResult struct {
	PromptLength int  `json:"prompt_length"`
	TokensPerSec Stat `json:"tokens_per_sec"`
	// TTFTms is the prefill plus the first decode step, in ms.
	TTFTms      Stat `json:"ttft_ms"`
	Repetitions int  `json:"repetitions"`
	Row
}

// Row is what every timed row (a pp or a tg test) carries besides its
// speeds: its own memory and how clean its repetitions were.
type Row struct {
	// PeakRSSBytes is the peak resident set while this row ran: the
	// caches were sized for its context and the peak was reset before it
	// (Measurement.PeakRSSPerContext), else the process's peak so far.
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
	// Memory is the analytic memory at this row's context.
	Memory *MemoryBreakdown `json:"memory,omitempty"`
	// Discarded counts repetitions thrown away because a used core ran
	// throttled (below its reference clock, or past the throttle
	// temperature) while they ran; they were repeated.
	Discarded int `json:"discarded,omitempty"`
	// Throttled is set when the row could not get enough clean
	// repetitions within its bound: some of its samples ran throttled.
	Throttled bool `json:"throttled,omitempty"`
	// ThrottleReasons are the first few reasons given, for people.
	ThrottleReasons []string `json:"throttle_reasons,omitempty"`
	// Energy is the row's energy per token, or why there is none.
	Energy *Energy `json:"energy,omitempty"`
	// PowerChanged is set when the device's power state (plugged in or
	// not, charging or not) changed while the row ran; its speeds and
	// energy mix two states.
	PowerChanged bool `json:"power_changed,omitempty"`
}

// Energy is the energy a row's timed phase used per token (prompt token
// for a prefill row, generated token for a decode row), one sample per
// kept repetition.
type Energy struct {
	// Source names what measured it: "rapl:<zones>" (Linux powercap
	// energy counters, read at the edges of each timed phase) or
	// "battery" (Android/Linux power_supply current × voltage, sampled
	// every 100 ms during the phase: the whole device's draw, screen
	// included). Tests use stand-in sources whose names say so.
	Source string `json:"source,omitempty"`
	// MJPerToken is millijoules per token; nil when Unavailable.
	MJPerToken *Stat `json:"mj_per_token,omitempty"`
	// Unavailable says why the row has no energy figure.
	Unavailable string `json:"unavailable,omitempty"`
}

// Sustained is the sustained-decode run (workload.SustainedSeconds):
// decode tokens continuously at one depth for a set time and report how
// the speed moves as the device heats up.
type Sustained struct {
	// Depth is the context depth decoded at (the workload's smallest
	// decode depth); the decode state is restored to it every Tokens
	// tokens.
	Depth  int `json:"depth"`
	Tokens int `json:"tokens"`
	// Seconds is how long it ran.
	Seconds float64 `json:"seconds"`
	// Windows is the throughput trajectory, one entry per WindowSeconds.
	WindowSeconds float64           `json:"window_seconds"`
	Windows       []SustainedWindow `json:"windows"`
	// FirstTPS and LastTPS are the decode tokens/s over the first and the
	// last span of SpanSeconds (a minute, or a third of the run when it is
	// shorter than three minutes); LastTPS is the steady state the device
	// sustains. Ratio is LastTPS / FirstTPS.
	SpanSeconds float64 `json:"span_seconds"`
	FirstTPS    float64 `json:"first_tps"`
	LastTPS     float64 `json:"last_tps"`
	Ratio       float64 `json:"ratio"`
	// Throttled is set when any window ran throttled.
	Throttled bool `json:"throttled,omitempty"`
	// Energy is the energy per generated token over the whole run.
	Energy *Energy `json:"energy,omitempty"`
}

// SustainedWindow is one window of a sustained run.
type SustainedWindow struct {
	// StartSeconds is the window's start from the run's start.
	StartSeconds float64 `json:"start_s"`
	Tokens       int     `json:"tokens"`
	TokensPerSec float64 `json:"tokens_per_sec"`
	// MinClockMHz is the lowest clock of a used core read at the window's
	// end, MaxTempC the hottest CPU sensor; 0 when unreadable.
	MinClockMHz float64 `json:"min_clock_mhz,omitempty"`
	MaxTempC    float64 `json:"max_temp_c,omitempty"`
	// Throttled: the guard judged the window throttled.
	Throttled bool `json:"throttled,omitempty"`
}

// Gates records the checks made before (and while) a measurement ran:
// the cool-down wait and the battery and charging gates (device-agent
// configuration).
type Gates struct {
	// CooldownWaitMS is how long the agent waited for the device to cool
	// (temperature back near its idle baseline and, where readable, clocks
	// back to their maximum); CooldownTimedOut says it gave up waiting and
	// measured anyway; CooldownTempC is the CPU temperature it started at.
	CooldownWaitMS   int64    `json:"cooldown_wait_ms,omitempty"`
	CooldownTimedOut bool     `json:"cooldown_timed_out,omitempty"`
	CooldownTempC    *float64 `json:"cooldown_temp_c,omitempty"`
	// BatteryPercent and Plugged are the battery state at the start (nil:
	// no battery readable); Charging is its status "Charging".
	BatteryPercent *int  `json:"battery_percent,omitempty"`
	Plugged        *bool `json:"plugged,omitempty"`
	Charging       bool  `json:"charging,omitempty"`
	// MinBatteryPercent is the configured gate (0: none).
	MinBatteryPercent int `json:"min_battery_percent,omitempty"`
	// PowerChanged is set when any row's power state changed mid-row.
	PowerChanged bool `json:"power_changed,omitempty"`
}

// DecodeResult is tg<N> @ d<D>.
type DecodeResult struct {
	Depth        int  `json:"depth"`
	Tokens       int  `json:"tokens"`
	TokensPerSec Stat `json:"tokens_per_sec"`
	// MsPerToken pools every per-token latency of every repetition; its P50
	// and P95 are the decode latency percentiles.
	MsPerToken  Stat `json:"ms_per_token"`
	Repetitions int  `json:"repetitions"`
	// Method is how each repetition reached the depth: "snapshot" (the
	// depth prefilled once, the decode state restored before every
	// repetition) or "prefill" (prefilled again every time).
	Method string `json:"method,omitempty"`
	Row
}

// MemoryBreakdown is the analytic memory of the built model at the
// workload's largest context.
type MemoryBreakdown struct {
	Weights int64 `json:"weights"`
	KV      int64 `json:"kv"`
	State   int64 `json:"state"`
	Scratch int64 `json:"scratch"`
	Total   int64 `json:"total"`
	Context int   `json:"context"`
}

// Thermal is a snapshot of temperatures and clocks.
type Thermal struct {
	At      time.Time          `json:"at"`
	TempsC  map[string]float64 `json:"temps_c,omitempty"`
	FreqMHz []float64          `json:"freq_mhz,omitempty"` // per logical CPU
}

// Measurement is everything one job measured.
type Measurement struct {
	SpecHash      string `json:"spec_hash"`
	WorkloadHash  string `json:"workload_hash"`
	AgentVersion  string `json:"agent_version"`
	KernelVariant string `json:"kernel_variant"`
	Threads       int    `json:"threads"`
	// CPUs are the logical CPUs the workers were given, worker i on
	// CPUs[i mod len(CPUs)], fastest first; Placement is the rule that
	// chose them ("auto", "fastest", "mask 0x…"), with a note when the
	// choice is unusual; Pinned says whether the workers were pinned to
	// them (Linux and Android), else placement was not possible and the
	// OS scheduled the workers.
	CPUs      []int  `json:"cpus,omitempty"`
	Placement string `json:"placement,omitempty"`
	Pinned    bool   `json:"pinned"`
	// Discarded is the total of the rows' discarded repetitions;
	// Throttled is set when any row is.
	Discarded int  `json:"discarded,omitempty"`
	Throttled bool `json:"throttled,omitempty"`
	// PeakRSSPerContext says each row's PeakRSSBytes is its own (the peak
	// was reset between rows: Linux and Android /proc/self/clear_refs);
	// otherwise a row's peak is the process's peak up to that row.
	PeakRSSPerContext bool `json:"peak_rss_per_context,omitempty"`
	// MemoryCap is how the agent capped the child's memory: "cgroup
	// memory.max" (Linux cgroup v2), "job object" (Windows process memory
	// limit), "rss poll" (RSS read every 20 ms, the child killed above the
	// cap) or "none"; set by the agent, empty when measured by hand.
	MemoryCap string `json:"memory_cap,omitempty"`
	// Gates are the pre-measurement checks (cool-down, battery).
	Gates *Gates `json:"gates,omitempty"`
	// Sustained is the sustained-decode run, when the workload asks for it.
	Sustained *Sustained      `json:"sustained,omitempty"`
	Precision arch.Precision  `json:"precision"`
	Params    int64           `json:"params"`
	Prefill   []PrefillResult `json:"prefill"`
	Decode    []DecodeResult  `json:"decode"`
	// BlockTimeShare is the fraction of forward time per block type
	// (conv, gqa, swa, linear_attn, ssm, ffn, head, other).
	BlockTimeShare map[string]float64 `json:"block_time_share"`
	PeakRSSBytes   int64              `json:"peak_rss_bytes"`
	Memory         MemoryBreakdown    `json:"memory"`
	ThermalBefore  Thermal            `json:"thermal_before"`
	ThermalAfter   Thermal            `json:"thermal_after"`
	CPUModel       string             `json:"cpu_model,omitempty"`
	Governor       string             `json:"governor,omitempty"`
	Power          string             `json:"power,omitempty"`
	StartedAt      time.Time          `json:"started_at"`
	FinishedAt     time.Time          `json:"finished_at"`
	// Runtime is what ran the candidate (workload.Runtimes); empty in
	// measurements taken before the field existed, which are native.
	Runtime string `json:"runtime,omitempty"`
	// Absent lists the metrics this runtime cannot give (search metric
	// names, e.g. "decode_ms_p95"); their fields are zero and mean nothing.
	Absent []string `json:"absent,omitempty"`
	// LlamaBench describes the llama-bench that measured a llama.cpp job.
	LlamaBench *RuntimeInfo `json:"llama_bench,omitempty"`
}

// RuntimeName is the measurement's runtime, "native" when unset.
func (m *Measurement) RuntimeName() string {
	if m.Runtime == "" {
		return workload.RuntimeNative
	}
	return m.Runtime
}

// Lacks reports whether metric is one the measurement's runtime cannot
// give (listed in Absent).
func (m *Measurement) Lacks(metric string) bool { return slices.Contains(m.Absent, metric) }

// RuntimeInfo is one measurement runtime a device offers besides the
// native one, as its agent's profile reports it (profile field
// "runtimes") and as a llama.cpp measurement records it.
type RuntimeInfo struct {
	// Name is a workload runtime, e.g. "llama.cpp".
	Name string `json:"name"`
	// Path is the executable (llama-bench).
	Path string `json:"path"`
	// Version is what the executable says of itself (llama-bench
	// --version: "version: 1 (d775b89)" and the compiler line).
	Version string `json:"version,omitempty"`
	// BuildCommit and BuildNumber are llama.cpp's build_commit and
	// build_number, from the version line or the JSON of a run.
	BuildCommit string `json:"build_commit,omitempty"`
	BuildNumber int    `json:"build_number,omitempty"`
	// Backends are the ggml backends the build loads (JSON "backends", e.g.
	// "CPU"), when known.
	Backends string `json:"backends,omitempty"`
}

// ProfileRuntimes reads the runtimes a stored device profile offers
// (always "native", then those of its "runtimes" field). A profile that
// does not parse offers only the native runtime.
func ProfileRuntimes(profile json.RawMessage) []string {
	out := []string{workload.RuntimeNative}
	var p struct {
		Runtimes []RuntimeInfo `json:"runtimes"`
	}
	if json.Unmarshal(profile, &p) != nil {
		return out
	}
	for _, r := range p.Runtimes {
		if r.Name != "" && !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	return out
}
