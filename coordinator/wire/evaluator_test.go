package wire

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readVectors(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "evaluators", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// The vectors are shared with the Python worker's tests
// (evaluators/mqar/test_protocol.py); the first was also checked with
// `printf %s '<signed_string>' | openssl dgst -sha256 -hmac '<secret>'`.
func TestSignWebhookVectors(t *testing.T) {
	var f struct {
		Vectors []struct {
			Secret, Delivery, Body, Signature string
			Timestamp                         int64
		}
	}
	readVectors(t, "signature-vectors.json", &f)
	if len(f.Vectors) < 3 {
		t.Fatalf("%d vectors", len(f.Vectors))
	}
	for _, v := range f.Vectors {
		if got := SignWebhook([]byte(v.Secret), v.Timestamp, v.Delivery, []byte(v.Body)); got != v.Signature {
			t.Errorf("SignWebhook(%q, %d, %q, %q) = %s, want %s", v.Secret, v.Timestamp, v.Delivery, v.Body, got, v.Signature)
		}
	}
}

func TestVerifyWebhook(t *testing.T) {
	secret := []byte("hilwhs_test-secret-0123456789abcdef")
	body := []byte(`{"protocol":1}`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	dl := "dlv_0123456789abcdef"
	sig := SignatureHeader([][]byte{secret}, now.Unix(), dl, body)
	if err := VerifyWebhook([][]byte{secret}, ts, dl, sig, body, now); err != nil {
		t.Fatalf("genuine request refused: %v", err)
	}
	other := []byte("another-secret-0123456789abcdef")
	cases := []struct {
		name                string
		secrets             [][]byte
		ts, dl, sig         string
		body                []byte
		now                 time.Time
		want                error
		acceptWithOldAndNew bool
	}{
		{"wrong secret", [][]byte{other}, ts, dl, sig, body, now, ErrSignature, false},
		{"body changed", [][]byte{secret}, ts, dl, sig, []byte(`{"protocol":2}`), now, ErrSignature, false},
		{"timestamp changed", [][]byte{secret}, strconv.FormatInt(now.Unix()+1, 10), dl, sig, body, now, ErrSignature, false},
		{"delivery changed", [][]byte{secret}, ts, "dlv_0123456789abcdeX", sig, body, now, ErrSignature, false},
		{"short delivery", [][]byte{secret}, ts, "short", SignatureHeader([][]byte{secret}, now.Unix(), "short", body), body, now, ErrSignature, false},
		{"upper-case hex", [][]byte{secret}, ts, dl, strings.ToUpper(sig), body, now, ErrSignature, false},
		{"other scheme", [][]byte{secret}, ts, dl, "v2=" + sig[3:], body, now, ErrSignature, false},
		{"no timestamp", [][]byte{secret}, "", dl, sig, body, now, ErrSignature, false},
		{"stale", [][]byte{secret}, ts, dl, sig, body, now.Add(SignatureWindow + time.Second), ErrStale, false},
		{"from the future", [][]byte{secret}, ts, dl, sig, body, now.Add(-SignatureWindow - time.Second), ErrStale, false},
	}
	for _, c := range cases {
		err := VerifyWebhook(c.secrets, c.ts, c.dl, c.sig, c.body, c.now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Rotation: two signatures; a receiver with either secret accepts.
	two := SignatureHeader([][]byte{other, secret}, now.Unix(), dl, body)
	for _, s := range [][][]byte{{secret}, {other}, {other, secret}} {
		if err := VerifyWebhook(s, ts, dl, two, body, now); err != nil {
			t.Errorf("rotation: %v", err)
		}
	}
	if err := VerifyWebhook([][]byte{[]byte("third-secret-0123456789abcd")}, ts, dl, two, body, now); !errors.Is(err, ErrSignature) {
		t.Errorf("rotation with a third secret: %v", err)
	}
}

func TestSettingsHashVectors(t *testing.T) {
	var f struct {
		Vectors []struct {
			Seed                uint64
			Settings, Canonical string
			SettingsHash        string `json:"settings_hash"`
		}
	}
	readVectors(t, "settings-hash-vectors.json", &f)
	if len(f.Vectors) < 4 {
		t.Fatalf("%d vectors", len(f.Vectors))
	}
	for _, v := range f.Vectors {
		c, err := CanonicalSettings(v.Seed, json.RawMessage(v.Settings))
		if err != nil {
			t.Fatalf("%s: %v", v.Settings, err)
		}
		if string(c) != v.Canonical {
			t.Errorf("canonical of %s:\n got %s\nwant %s", v.Settings, c, v.Canonical)
		}
		if h, _ := SettingsHash(v.Seed, json.RawMessage(v.Settings)); h != v.SettingsHash {
			t.Errorf("hash of %s = %s, want %s", v.Settings, h, v.SettingsHash)
		}
	}
	if h, _ := SettingsHash(0, nil); h != f.Vectors[0].SettingsHash {
		t.Errorf("nil settings hash differently from {}")
	}
	for _, bad := range []string{`[]`, `3`, `{"a":1} {}`, `{"a":`} {
		if _, err := SettingsHash(0, json.RawMessage(bad)); err == nil {
			t.Errorf("settings %s accepted", bad)
		}
	}
}

func TestEvalMessagesRoundTrip(t *testing.T) {
	trial := 3
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	j := EvalJob{Protocol: EvalProtocol, Type: TypeEvalJob, JobID: "e0123456789abcdef", Evaluator: "mqar", Trial: &trial,
		Arch: json.RawMessage(`{"vocab":8}`), ArchHash: strings.Repeat("a", 64), Settings: json.RawMessage(`{}`),
		SettingsHash: strings.Repeat("b", 64), CreatedAt: now, Deadline: now.Add(15 * time.Minute)}
	data, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"protocol", "type", "job_id", "evaluator", "arch", "arch_hash", "seed", "settings", "settings_hash", "created_at", "deadline"} {
		if _, ok := m[k]; !ok {
			t.Errorf("job JSON lacks %q: %s", k, data)
		}
	}
	if m["deadline"] != "2026-12-01T10:15:00Z" {
		t.Errorf("deadline %v", m["deadline"])
	}
	var a EvalAnswer
	in := `{"protocol":1,"type":"evaluation_answer","job_id":"e1","evaluator":"mqar","evaluator_version":"1.0.0","status":"failed",
		"error":{"kind":"unsupported","message":"layers[1].mixer: mixer 'x' is not implemented by this evaluator","retryable":false},"extra":1}`
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if a.Error == nil || a.Error.Kind != EvalUnsupported || a.Status != ResultFailed {
		t.Errorf("answer %+v", a)
	}
}
