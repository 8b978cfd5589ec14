package coordinator_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// TestMessageSizeLimits: the NATS server refuses an agent's publish above
// the account's payload limit; the coordinator drops a heartbeat above
// wire.MaxHeartbeatBytes (the device stays offline) and counts it, and a
// normal one makes the device online; /metrics exports the limits and
// passes promtool's lint when promtool is installed.
func TestMessageSizeLimits(t *testing.T) {
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "limit-cls")
	errc := make(chan error, 4)
	nc, err := a.Connect(c.App.Bus.ClientURLs(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errc <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// An oversized heartbeat: dropped.
	big := `{"status":"idle","agent_version":"` + strings.Repeat("x", wire.MaxHeartbeatBytes) + `"}`
	if err := nc.Publish(a.Resp.NATS.HeartbeatSubj, []byte(big)); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	testenv.Eventually(t, 10*time.Second, func() error {
		_, body := c.Do(t, "GET", "/metrics", nil, "")
		if !strings.Contains(string(body), `hil_heartbeats_rejected_total{reason="too_large"} 1`) {
			return fmt.Errorf("no rejected heartbeat counted")
		}
		return nil
	})
	time.Sleep(time.Second) // two presence flushes
	if s := testenv.QueryString(t, c.DSN, `SELECT coalesce(last_seen::text, 'never') FROM devices WHERE id = $1`, a.Resp.DeviceID); s != "never" {
		t.Fatalf("an oversized heartbeat set last_seen %s", s)
	}
	// A normal one: online within the flush period.
	start := time.Now()
	if err := nc.Publish(a.Resp.NATS.HeartbeatSubj, []byte(`{"status":"idle"}`)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		_, body := c.Do(t, "GET", "/api/v1/devices/"+a.Resp.DeviceID, nil, c.Token)
		if !strings.Contains(string(body), `"status":"online"`) {
			return fmt.Errorf("not online: %s", body)
		}
		return nil
	})
	t.Logf("heartbeat to presence: %v (one observation; not asserted)", time.Since(start))

	// A result above the account payload limit: the server refuses it.
	testenv.Eventually(t, 5*time.Second, func() error {
		if nc.MaxPayload() > wire.MaxMessageBytes {
			return fmt.Errorf("server INFO max_payload %d not yet the account's", nc.MaxPayload())
		}
		return nil
	})
	huge := bytes.Repeat([]byte("x"), wire.MaxMessageBytes+1)
	err = nc.Publish(a.Resp.NATS.ResultsSubject+".jdeadbeefdeadbeef", huge)
	if !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("publish %d bytes: %v, want nats.ErrMaxPayload", len(huge), err)
	}

	code, body := c.Do(t, "GET", "/metrics", nil, "")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		"hil_limit_message_bytes " + strconv.FormatFloat(wire.MaxMessageBytes, 'g', -1, 64),
		"hil_limit_heartbeat_bytes " + strconv.FormatFloat(wire.MaxHeartbeatBytes, 'g', -1, 64),
		"hil_limit_agents 10000", "hil_limit_jobs_consumers 11000", "hil_limit_device_lost_after_seconds 60",
		"hil_heartbeats_total 1",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: lint skipped")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
