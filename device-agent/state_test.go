package agent

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

func testConfig(t *testing.T) *Config {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	return &Config{
		Coordinator: "http://127.0.0.1:1", DeviceID: "d0123456789abcdef", Name: "n", Class: "x86-test-8g",
		NATS: wire.NATSIdentity{
			URLs: []string{"nats://127.0.0.1:1"}, NKey: pub, InboxPrefix: "_INBOX_d0123456789abcdef", Stream: "JOBS",
			AgentConsumer: "agt-d0123456789abcdef", ClassConsumer: "cls-x86-test-8g", ResultsSubject: "results.d0123456789abcdef",
			HeartbeatSubj: "hb.d0123456789abcdef", ControlSubject: "ctl.d0123456789abcdef",
		},
		Seed: string(seed), EnrolledAt: time.Now().UTC(),
	}
}

func TestConfigFileModeAndRoundTrip(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "agent.json")
	c := testConfig(t)
	if err := SaveConfig(path, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	dst, err := os.Stat(dir)
	if err != nil || dst.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v (%v), want 0700", dst.Mode().Perm(), err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed != c.Seed || got.DeviceID != c.DeviceID || got.NATS.NKey != c.NATS.NKey || got.NATS.InboxPrefix != c.NATS.InboxPrefix {
		t.Fatalf("round trip: %+v", got)
	}
	// A readable-by-others file is refused.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("mode 0644 accepted: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	other := testConfig(t)
	cases := map[string]struct {
		mut  func(c *Config)
		want string
	}{
		"ok":            {func(*Config) {}, ""},
		"no device":     {func(c *Config) { c.DeviceID = "" }, "device_id"},
		"no urls":       {func(c *Config) { c.NATS.URLs = nil }, "nats.urls"},
		"no inbox":      {func(c *Config) { c.NATS.InboxPrefix = "" }, "inbox_prefix"},
		"bad seed":      {func(c *Config) { c.Seed = "SUnotaseed" }, "seed"},
		"foreign seed":  {func(c *Config) { c.Seed = other.Seed }, "does not match"},
		"no results":    {func(c *Config) { c.NATS.ResultsSubject = "" }, "results_subject"},
		"no class":      {func(c *Config) { c.Class = "" }, "class"},
		"no agent cons": {func(c *Config) { c.NATS.AgentConsumer = "" }, "agent_consumer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := testConfig(t)
			tc.mut(c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
			if strings.Contains(err.Error(), c.Seed) && c.Seed != "" {
				t.Fatal("the error shows the seed")
			}
		})
	}
}

func TestLoadConfigRejectsUnknownFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(path, []byte(`{"device_id":"d1","sede":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "sede") {
		t.Fatalf("unknown field accepted: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "enroll") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnrollRefusesSecondEnrollAndBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := SaveConfig(path, testConfig(t)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err := enroll(ctx, enrollOptions{coordinator: "http://127.0.0.1:1", token: "secret-token", config: path}, nil)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second enroll: %v", err)
	}
	for _, o := range []enrollOptions{
		{token: "t", config: path + ".x"},
		{coordinator: "ftp://x", token: "t", config: path + ".x"},
		{coordinator: "http://127.0.0.1:1", config: path + ".x"},
	} {
		if _, err := enroll(ctx, o, nil); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}

func TestSpool(t *testing.T) {
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _, err := sp.Lookup("j1"); r != nil || err != nil {
		t.Fatalf("empty spool lookup: %v %v", r, err)
	}
	for _, id := range []string{"j1", "j2"} {
		if err := sp.Put(&wire.Result{JobID: id, Status: wire.ResultOK, DeviceID: "d1", Attempt: 1}); err != nil {
			t.Fatal(err)
		}
	}
	pend, err := sp.Pending()
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending %v %v", pend, err)
	}
	if err := sp.MarkSent("j1"); err != nil {
		t.Fatal(err)
	}
	r, pending, err := sp.Lookup("j1")
	if err != nil || r == nil || pending || r.DeviceID != "d1" {
		t.Fatalf("sent lookup: %+v pending=%v %v", r, pending, err)
	}
	r, pending, err = sp.Lookup("j2")
	if err != nil || r == nil || !pending {
		t.Fatalf("pending lookup: %+v pending=%v %v", r, pending, err)
	}
	pend, _ = sp.Pending()
	if len(pend) != 1 || pend[0].JobID != "j2" {
		t.Fatalf("pending after MarkSent: %v", pend)
	}
	// A new Spool on the same directory (an agent restart) sees the same.
	sp2, err := OpenSpool(sp.dir)
	if err != nil {
		t.Fatal(err)
	}
	if pend, _ := sp2.Pending(); len(pend) != 1 {
		t.Fatalf("after reopen: %v", pend)
	}
	// Prune removes only old sent results.
	old := time.Now().Add(-2 * SentRetention)
	if err := os.Chtimes(sp.path("sent", "j1"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := sp.Prune(SentRetention); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := sp.Lookup("j1"); r != nil {
		t.Fatal("old sent result not pruned")
	}
	if r, _, _ := sp.Lookup("j2"); r == nil {
		t.Fatal("pending result pruned")
	}
	for _, bad := range []string{"", "../x", "a/b", "a.b", "a b", "x>"} {
		if err := sp.Put(&wire.Result{JobID: bad}); err == nil {
			t.Fatalf("job id %q accepted", bad)
		}
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(sp.path("pending", "j2"))
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("spool file mode %v", st.Mode().Perm())
		}
	}
}
