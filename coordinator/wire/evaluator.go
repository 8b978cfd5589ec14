package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Evaluator protocol v1 (docs/evaluators.md): the messages exchanged with
// evaluators over the webhook and NATS transports, the webhook signature,
// and the settings hash of the evaluation cache key.

// EvalProtocol is the evaluator protocol's major version.
const EvalProtocol = 1

// Message types (the "type" field of every evaluator message).
const (
	TypeRegistration = "evaluator_registration"
	TypeEvalJob      = "evaluation_job"
	TypeEvalAnswer   = "evaluation_answer"
	TypeEvalCancel   = "evaluation_cancel"
)

// Evaluator transports.
const (
	TransportWebhook = "webhook"
	TransportNATS    = "nats"
)

// Answer statuses reuse ResultOK and ResultFailed. Failure kinds of an
// answer (EvalError.Kind):
const (
	EvalInvalidJob      = "invalid_job"
	EvalInvalidSettings = "invalid_settings"
	EvalUnsupported     = "unsupported"
	EvalTimeout         = "timeout"
	EvalCancelled       = "cancelled"
	EvalDiverged        = "diverged"
	EvalResources       = "resources"
	EvalInternal        = "internal"
)

// ScoreDecl declares one score of an evaluator.
type ScoreDecl struct {
	Name string `json:"name"`
	// Direction is "maximize" (higher is better) or "minimize".
	Direction   string `json:"direction"`
	Unit        string `json:"unit,omitempty"`
	Description string `json:"description,omitempty"`
}

// EvalAccepts says what an evaluator can evaluate.
type EvalAccepts struct {
	// Mixers lists the arch mixers it implements; empty means all.
	Mixers []string `json:"mixers,omitempty"`
}

// EvaluatorRegistration is what an evaluator is (registration.schema.json).
type EvaluatorRegistration struct {
	Protocol    int    `json:"protocol"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Transport is TransportWebhook or TransportNATS.
	Transport string `json:"transport"`
	// URL is where a webhook evaluator receives jobs.
	URL             string          `json:"url,omitempty"`
	Scores          []ScoreDecl     `json:"scores"`
	Accepts         *EvalAccepts    `json:"accepts,omitempty"`
	DefaultSettings json.RawMessage `json:"default_settings,omitempty"`
	SettingsSchema  json.RawMessage `json:"settings_schema,omitempty"`
	// TimeoutSeconds is a job's deadline after dispatch (0: 1800).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// MaxConcurrency bounds the outstanding jobs (0: 1).
	MaxConcurrency int `json:"max_concurrency,omitempty"`
}

// EvalJob is one candidate for one evaluator (job.schema.json).
type EvalJob struct {
	Protocol  int    `json:"protocol"`
	Type      string `json:"type"`
	JobID     string `json:"job_id"`
	Evaluator string `json:"evaluator"`
	SearchID  string `json:"search_id,omitempty"`
	Trial     *int   `json:"trial,omitempty"`
	// Arch is the candidate's arch.Spec JSON; ArchHash its Hash().
	Arch     json.RawMessage `json:"arch"`
	ArchHash string          `json:"arch_hash"`
	// HFConfig is arch.Spec.HFConfig() when the spec is exportable.
	HFConfig     json.RawMessage `json:"hf_config,omitempty"`
	Seed         uint64          `json:"seed"`
	Settings     json.RawMessage `json:"settings"`
	SettingsHash string          `json:"settings_hash"`
	CreatedAt    time.Time       `json:"created_at"`
	Deadline     time.Time       `json:"deadline"`
	// CallbackURL is where a webhook worker POSTs the answer.
	CallbackURL string `json:"callback_url,omitempty"`
}

// Curve is one series of an answer, e.g. the training loss per step.
type Curve struct {
	XLabel string    `json:"x_label,omitempty"`
	X      []float64 `json:"x"`
	Y      []float64 `json:"y"`
}

// EvalError explains a failed answer.
type EvalError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Retryable says the same job may succeed when delivered again.
	Retryable bool `json:"retryable"`
}

// EvalAnswer is an evaluator's answer to one job (answer.schema.json).
type EvalAnswer struct {
	Protocol         int                `json:"protocol"`
	Type             string             `json:"type"`
	JobID            string             `json:"job_id"`
	Evaluator        string             `json:"evaluator"`
	EvaluatorVersion string             `json:"evaluator_version"`
	Status           string             `json:"status"`
	Scores           map[string]float64 `json:"scores,omitempty"`
	Curves           map[string]Curve   `json:"curves,omitempty"`
	Error            *EvalError         `json:"error,omitempty"`
	StartedAt        *time.Time         `json:"started_at,omitempty"`
	FinishedAt       *time.Time         `json:"finished_at,omitempty"`
	Details          json.RawMessage    `json:"details,omitempty"`
}

// EvalCancel withdraws a job (cancel.schema.json).
type EvalCancel struct {
	Protocol  int    `json:"protocol"`
	Type      string `json:"type"`
	JobID     string `json:"job_id"`
	Evaluator string `json:"evaluator"`
	Reason    string `json:"reason,omitempty"`
}

// Webhook signature headers and limits (docs/evaluators.md §4.2).
const (
	HeaderTimestamp = "Hil-Timestamp"
	HeaderDelivery  = "Hil-Delivery"
	HeaderSignature = "Hil-Signature"
	// SignatureWindow is how far a request's timestamp may be from the
	// receiver's clock.
	SignatureWindow = 300 * time.Second
	// ReplayMemory is how long a receiver remembers delivery IDs.
	ReplayMemory = 2 * SignatureWindow
)

// Webhook verification errors.
var (
	ErrSignature = errors.New("signature does not match")
	ErrStale     = errors.New("timestamp outside the signature window")
)

var deliveryRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// SignWebhook is the hex HMAC-SHA256 under secret of
// "<timestamp>.<delivery>.<body>".
func SignWebhook(secret []byte, timestamp int64, delivery string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write([]byte(delivery))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// SignatureHeader is the Hil-Signature value for body signed with every
// secret (the current one first; two only while a secret is rotated).
func SignatureHeader(secrets [][]byte, timestamp int64, delivery string, body []byte) string {
	parts := make([]string, len(secrets))
	for i, s := range secrets {
		parts[i] = "v1=" + SignWebhook(s, timestamp, delivery, body)
	}
	return strings.Join(parts, ",")
}

// VerifyWebhook checks the signature headers of a request against the
// accepted secrets and the receiver's clock: ErrSignature when no v1 value
// matches (or a header is malformed), ErrStale when the timestamp is more
// than SignatureWindow away from now. It does not check replays: the caller
// must then record the delivery ID and refuse one it saw within
// ReplayMemory (only after this check passed).
func VerifyWebhook(secrets [][]byte, timestamp, delivery, signature string, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ts < 0 || len(timestamp) > 12 {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrSignature, HeaderTimestamp)
	}
	if !deliveryRE.MatchString(delivery) {
		return fmt.Errorf("%w: %s must be 16-64 of [A-Za-z0-9_-]", ErrSignature, HeaderDelivery)
	}
	ok := false
	for _, part := range strings.Split(signature, ",") {
		got, found := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !found || len(got) != 64 || strings.ToLower(got) != got {
			continue
		}
		g, err := hex.DecodeString(got)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			want, _ := hex.DecodeString(SignWebhook(s, ts, delivery, body))
			if hmac.Equal(want, g) {
				ok = true
			}
		}
	}
	if !ok {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > SignatureWindow || d < -SignatureWindow {
		return fmt.Errorf("%w: %d is %s from the receiver's clock", ErrStale, ts, d.Round(time.Second))
	}
	return nil
}

// SettingsHash is the settings part of the evaluation cache key: the hex
// SHA-256 of the RFC 8785 canonical JSON of {"seed": seed, "settings":
// settings} (docs/evaluators.md §3.3). settings must be a JSON object;
// nil or empty means {}.
func SettingsHash(seed uint64, settings json.RawMessage) (string, error) {
	c, err := CanonicalSettings(seed, settings)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(c)
	return hex.EncodeToString(h[:]), nil
}

// CanonicalSettings is the canonical JSON SettingsHash hashes.
func CanonicalSettings(seed uint64, settings json.RawMessage) ([]byte, error) {
	if len(bytes.TrimSpace(settings)) == 0 {
		settings = json.RawMessage("{}")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(settings))
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if dec.More() {
		return nil, errors.New("settings: data after the object")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("settings: must be a JSON object")
	}
	if seed > 1<<53 {
		return nil, fmt.Errorf("seed %d: above 2^53, not exact in canonical JSON", seed)
	}
	var b bytes.Buffer
	if err := canonical(&b, map[string]any{"seed": float64(seed), "settings": v}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// canonical writes v (as decoded by encoding/json into any) in RFC 8785
// form.
func canonical(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Errorf("settings: %v is not a JSON number", x)
		}
		if x == 0 {
			x = 0 // -0 is written 0
		}
		// encoding/json formats float64 as ECMAScript's Number.toString does.
		n, err := json.Marshal(x)
		if err != nil {
			return err
		}
		b.Write(n)
	case string:
		canonicalString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := canonical(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, c string) int { // by UTF-16 code units
			return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(c)))
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			canonicalString(b, k)
			b.WriteByte(':')
			if err := canonical(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("settings: unexpected %T", v)
	}
	return nil
}

// canonicalString escapes only '"', '\' and control characters, with the
// short forms RFC 8785 requires; everything else is written as UTF-8.
func canonicalString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else if r == utf8.RuneError {
				b.WriteString("\uFFFD")
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
