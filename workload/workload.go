// Package workload defines what a measurement measures: the weight
// precision, threads, prompt lengths, decode depths and repetitions of a
// timing run. It owns the type, its defaults (Normalize), its validation
// (Check, Validate) and the hash that keys cached measurements (Hash).
//
// Three places describe a workload: a search spec (package search), a
// measurement job on the wire (coordinator/wire, which the device agent
// imports) and the coordinator's jobs API. They share this one type. It
// lives in its own small package, pure like arch (no I/O; it imports only
// arch), because neither natural home works for all three: search must not
// import the coordinator, and wire must not import search (the agent would
// link the optimizer and goptuna). A new field is added here, in Workload,
// Normalize and Check, and nowhere else.
package workload

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/hilsearch/hilsearch/arch"
)

// Workload says what to measure. It is part of a measurement's cache key
// (Hash), so every field that changes the numbers belongs here.
type Workload struct {
	// Precision of the weights: f32, f16, q8_0 or q4_0.
	Precision arch.Precision `json:"precision"`
	// KVType is the attention cache type: f16 or f32. Defaults to f16.
	KVType string `json:"kv_type,omitempty"`
	// Threads is the worker count, or ThreadsAuto ("auto" in JSON, and the
	// zero value): the device agent then runs one worker per prime or
	// performance core (device-agent/internal/placement). An explicit count
	// fills the fastest cores first.
	Threads Threads `json:"threads"`
	// PromptLengths are the prefill lengths L measured (pp<L>).
	PromptLengths []int `json:"prompt_lengths"`
	// DecodeDepths are the context depths D at which decoding is timed
	// (tg<N> @ d<D>); 0 means right after an empty context.
	DecodeDepths []int `json:"decode_depths"`
	// DecodeTokens is N, the tokens generated per decode repetition. Search
	// specs written before the type was shared call it decode_length;
	// search.Parse still reads that name.
	DecodeTokens int `json:"decode_tokens"`
	// Repetitions is the minimum repetition count. Defaults to 5. More are
	// run while the median's relative spread exceeds MaxRelSpread, up to
	// MaxRepetitions.
	Repetitions int `json:"repetitions,omitempty"`
	// MaxRepetitions caps the adaptive repetition count. Defaults to three
	// times Repetitions.
	MaxRepetitions int `json:"max_repetitions,omitempty"`
	// MaxRelSpread is the largest accepted relative spread of a median.
	// Defaults to 0.03.
	MaxRelSpread float64 `json:"max_rel_spread,omitempty"`
	// Seed of the random weights and prompt tokens.
	Seed uint64 `json:"seed,omitempty"`
	// Runtime is what runs the candidate: RuntimeNative (our kernels, the
	// default) or RuntimeLlamaCpp (the device's llama-bench on the
	// candidate's GGUF). Normalize writes the default as "" so that the
	// hashes of workloads stored before the field existed do not change;
	// RuntimeName gives the name.
	Runtime string `json:"runtime,omitempty"`
	// SustainedSeconds, when above 0, adds a sustained-decode run after the
	// rows: the native runtime decodes at the smallest decode depth without
	// pause for this long and reports the throughput trajectory (first and
	// last minute, the steady state a warm device keeps). At most
	// MaxSustainedSeconds, so a job still fits the agent's default
	// 30-minute limit. 0 (the default, omitted in JSON so older hashes hold)
	// runs none.
	SustainedSeconds int `json:"sustained_seconds,omitempty"`
}

// MaxSustainedSeconds bounds Workload.SustainedSeconds.
const MaxSustainedSeconds = 20 * 60

// Runtimes a workload may name.
const (
	// RuntimeNative is hilsearch's own kernels (package kernels).
	RuntimeNative = "native"
	// RuntimeLlamaCpp is llama.cpp's llama-bench, run by the agent on the
	// candidate's GGUF export.
	RuntimeLlamaCpp = "llama.cpp"
)

// Runtimes lists the runtime names, the default first.
var Runtimes = []string{RuntimeNative, RuntimeLlamaCpp}

// RuntimeName is the workload's runtime, RuntimeNative when unset.
func (w Workload) RuntimeName() string {
	if w.Runtime == "" {
		return RuntimeNative
	}
	return w.Runtime
}

// Threads is a worker count; ThreadsAuto (0) lets the device choose. In
// JSON it is a number or the string "auto".
type Threads int

// ThreadsAuto asks the device for one worker per prime or performance
// core. It is the zero value, so a workload that names no thread count is
// placed automatically.
const ThreadsAuto Threads = 0

// String returns the count, or "auto".
func (t Threads) String() string {
	if t == ThreadsAuto {
		return "auto"
	}
	return strconv.Itoa(int(t))
}

// MarshalJSON writes a count as a number and ThreadsAuto as "auto". An
// explicit count marshals as before the type existed, so the hashes of
// stored workloads do not change.
func (t Threads) MarshalJSON() ([]byte, error) {
	if t == ThreadsAuto {
		return []byte(`"auto"`), nil
	}
	return strconv.AppendInt(nil, int64(t), 10), nil
}

// UnmarshalJSON reads a number or "auto".
func (t *Threads) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if s == `"auto"` {
		*t = ThreadsAuto
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		var kind string
		switch {
		case strings.HasPrefix(s, `"`):
			kind = "string " + s
		case s == "true" || s == "false":
			kind = "bool"
		case strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{"):
			kind = "array or object"
		default:
			kind = "number " + s
		}
		// The decoder adds the field's path to an UnmarshalTypeError.
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[Threads]()}
	}
	*t = Threads(n)
	return nil
}

// ParseThreads reads a command-line thread request: "auto" or a count of
// at least 1.
func ParseThreads(s string) (Threads, error) {
	s = strings.TrimSpace(s)
	if s == "auto" {
		return ThreadsAuto, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxThreads {
		return 0, fmt.Errorf("threads %q: want \"auto\" or a count between 1 and %d", s, MaxThreads)
	}
	return Threads(n), nil
}

// Defaults of the zero fields (Normalize).
const (
	// DefaultKVType is the attention cache type.
	DefaultKVType = "f16"
	// DefaultRepetitions is the minimum repetition count (design §4).
	DefaultRepetitions = 5
	// DefaultMaxRelSpread is the largest accepted relative spread of the
	// median: 3 %.
	DefaultMaxRelSpread = 0.03
)

// DefaultMaxRepetitions is the repetition cap for a minimum of reps.
func DefaultMaxRepetitions(reps int) int { return 3 * reps }

// Limits that keep one job bounded (Check).
const (
	MaxThreads      = 256
	MaxRepetitions  = 100
	MaxDecodeTokens = 4096
	// MaxLengths bounds the prompt lengths, and separately the decode
	// depths, of one workload.
	MaxLengths = 8
)

// Normalize fills the defaults of a workload (except Runtime, whose
// default it writes as "") and sorts and de-duplicates
// its lengths, so that equal workloads compare (and hash) equal.
func (w Workload) Normalize() Workload {
	if w.KVType == "" {
		w.KVType = DefaultKVType
	}
	if w.Repetitions == 0 {
		w.Repetitions = DefaultRepetitions
	}
	if w.MaxRepetitions == 0 {
		w.MaxRepetitions = DefaultMaxRepetitions(w.Repetitions)
	}
	if w.MaxRelSpread == 0 {
		w.MaxRelSpread = DefaultMaxRelSpread
	}
	if w.Runtime == RuntimeNative {
		w.Runtime = ""
	}
	w.PromptLengths = slices.Clone(w.PromptLengths)
	slices.Sort(w.PromptLengths)
	w.PromptLengths = slices.Compact(w.PromptLengths)
	w.DecodeDepths = slices.Clone(w.DecodeDepths)
	slices.Sort(w.DecodeDepths)
	w.DecodeDepths = slices.Compact(w.DecodeDepths)
	return w
}

// Hash is the workload's part of a measurement's cache key: the SHA-256
// (first 16 bytes, hex) of the normalised workload's JSON.
func (w Workload) Hash() string {
	b, _ := json.Marshal(w.Normalize())
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// MaxContext is the largest context the workload reaches: a prompt of L
// tokens and its first decoded token, or D+N after decoding N tokens at
// depth D.
func (w Workload) MaxContext() int {
	n := 0
	for _, l := range w.PromptLengths {
		n = max(n, l+1)
	}
	for _, d := range w.DecodeDepths {
		n = max(n, d+w.DecodeTokens)
	}
	return n
}

// Check reports every problem of the workload through add, with the field's
// JSON path relative to the workload ("threads", "prompt_lengths[2]").
// When spec is not nil and the workload is otherwise valid, it also checks
// that the workload fits the spec's max_context. Check is the one workload
// validator: the search spec, the jobs API and the agent all use it.
func (w Workload) Check(spec *arch.Spec, add func(field, message string)) {
	bad := false
	addf := func(field, format string, args ...any) {
		bad = true
		add(field, fmt.Sprintf(format, args...))
	}
	switch {
	case w.Precision == "":
		addf("precision", "missing (f32, f16, q8_0 or q4_0)")
	case !w.Precision.Valid():
		addf("precision", "unknown precision %q (known: f32, f16, q8_0, q4_0)", w.Precision)
	}
	if w.KVType != "" && w.KVType != "f16" && w.KVType != "f32" {
		addf("kv_type", "must be f16 or f32, got %q", w.KVType)
	}
	if !slices.Contains(Runtimes, w.RuntimeName()) {
		addf("runtime", "unknown runtime %q (known: %s)", w.Runtime, strings.Join(Runtimes, ", "))
	}
	switch {
	case w.Threads < 0:
		addf("threads", "must be \"auto\" or at least 1, got %d", w.Threads)
	case w.Threads > MaxThreads:
		addf("threads", "must be at most %d, got %d", MaxThreads, w.Threads)
	}
	if len(w.PromptLengths) == 0 && len(w.DecodeDepths) == 0 {
		addf("prompt_lengths", "give prompt lengths and/or decode depths")
	}
	lengths := func(field string, v []int, lo int) {
		if len(v) > MaxLengths {
			addf(field, "at most %d values, got %d", MaxLengths, len(v))
		}
		seen := map[int]bool{}
		for i, x := range v {
			if x < lo {
				addf(fmt.Sprintf("%s[%d]", field, i), "must be at least %d, got %d", lo, x)
			}
			if seen[x] {
				addf(fmt.Sprintf("%s[%d]", field, i), "duplicate value %d", x)
			}
			seen[x] = true
		}
	}
	switch {
	case w.SustainedSeconds < 0 || w.SustainedSeconds > MaxSustainedSeconds:
		addf("sustained_seconds", "must be between 0 and %d, got %d", MaxSustainedSeconds, w.SustainedSeconds)
	case w.SustainedSeconds > 0 && len(w.DecodeDepths) == 0:
		addf("sustained_seconds", "needs a decode depth to decode at")
	case w.SustainedSeconds > 0 && w.RuntimeName() != RuntimeNative:
		addf("sustained_seconds", "only the native runtime runs a sustained decode")
	}
	lengths("prompt_lengths", w.PromptLengths, 1)
	lengths("decode_depths", w.DecodeDepths, 0)
	if len(w.DecodeDepths) > 0 && (w.DecodeTokens < 1 || w.DecodeTokens > MaxDecodeTokens) {
		addf("decode_tokens", "must be between 1 and %d when decode depths are given, got %d", MaxDecodeTokens, w.DecodeTokens)
	}
	if w.Repetitions < 0 || w.Repetitions > MaxRepetitions {
		addf("repetitions", "must be between 1 and %d (0: the default), got %d", MaxRepetitions, w.Repetitions)
	}
	if w.MaxRepetitions != 0 && (w.MaxRepetitions < max(w.Repetitions, 1) || w.MaxRepetitions > MaxRepetitions) {
		addf("max_repetitions", "must be between repetitions and %d (0: the default), got %d", MaxRepetitions, w.MaxRepetitions)
	}
	if !(w.MaxRelSpread >= 0 && w.MaxRelSpread <= 1) {
		addf("max_rel_spread", "must be between 0 and 1 (0: the default), got %g", w.MaxRelSpread)
	}
	if spec != nil && !bad {
		if n := w.MaxContext(); n > spec.MaxContext {
			addf("prompt_lengths", "the workload reaches context %d, beyond the spec's max_context %d", n, spec.MaxContext)
		}
	}
}

// Validate is Check as an error: every problem as "workload.<field>:
// <message>", joined by "; ", or nil.
func (w Workload) Validate(spec *arch.Spec) error {
	var errs []string
	w.Check(spec, func(field, msg string) {
		errs = append(errs, "workload."+field+": "+msg)
	})
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}
