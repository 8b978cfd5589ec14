package bus

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func testBus(t *testing.T, logs *bytes.Buffer) *Bus {
	t.Helper()
	return &Bus{log: slog.New(slog.NewTextHandler(logs, nil))}
}

// TestRetryClusterTransient: a transient cluster error (the flake's
// "error creating store for stream", 10049) is retried until the call
// succeeds.
func TestRetryClusterTransient(t *testing.T) {
	var logs bytes.Buffer
	b := testBus(t, &logs)
	calls := 0
	err := b.retryCluster(context.Background(), "create stream X", func() error {
		calls++
		switch calls {
		case 1:
			return &jetstream.APIError{Code: 500, ErrorCode: 10049, Description: "error creating store for stream"}
		case 2:
			return nats.ErrTimeout
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success at the 3rd", err, calls)
	}
	if n := strings.Count(logs.String(), "retrying"); n != 2 {
		t.Fatalf("%d retries logged, want 2:\n%s", n, logs.String())
	}
}

// TestRetryClusterPermanent: any other error ends the call at once.
func TestRetryClusterPermanent(t *testing.T) {
	var logs bytes.Buffer
	b := testBus(t, &logs)
	for _, perm := range []error{
		&jetstream.APIError{Code: 400, ErrorCode: 10065, Description: "subjects overlap with an existing stream"},
		jetstream.ErrJetStreamNotEnabledForAccount,
		errors.New("nats: connection closed"),
	} {
		calls := 0
		err := b.retryCluster(context.Background(), "create stream X", func() error { calls++; return perm })
		if calls != 1 || !errors.Is(err, perm) || !strings.Contains(err.Error(), "create stream X") {
			t.Errorf("%v: %d calls, err %v; want one call and the error wrapped with the operation", perm, calls, err)
		}
	}
	if logs.Len() != 0 {
		t.Fatalf("a permanent error was logged as retried:\n%s", logs.String())
	}
}

// TestRetryClusterBounded: a transient error that persists ends with the
// context, the waits doubling up to retryBackoffMax.
func TestRetryClusterBounded(t *testing.T) {
	var logs bytes.Buffer
	b := testBus(t, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	calls, start := 0, time.Now()
	var at []time.Duration
	err := b.retryCluster(ctx, "create stream X", func() error {
		calls++
		at = append(at, time.Since(start))
		return &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	})
	if err == nil || !strings.Contains(err.Error(), "gave up after") || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	// 0, 100 ms, 300 ms, 700 ms: four calls fit in 1.5 s (the next is at 1.5 s).
	if calls < 3 || calls > 5 {
		t.Fatalf("%d calls at %v, want about 4 (waits 100, 200, 400, 800 ms)", calls, at)
	}
	if gap := at[2] - at[1]; gap < 2*retryBackoff {
		t.Fatalf("second wait %v, want at least %v (doubling)", gap, 2*retryBackoff)
	}
}

// TestEnsureStreamsPermanentFailsFast: against a real (embedded) server,
// a stream that cannot be created (its subjects overlap another stream's)
// fails Start's stream creation at once, naming the stream.
func TestEnsureStreamsPermanentFailsFast(t *testing.T) {
	dir := t.TempDir()
	auth, err := LoadAuthority(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx := context.Background()
	b, err := Start(ctx, Options{Auth: auth, Listen: "127.0.0.1:0", StoreDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.js.DeleteStream(ctx, StreamJobs); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"jobs.x.>"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = b.ensureStreams(ctx)
	if err == nil || !strings.Contains(err.Error(), "create stream "+StreamJobs) {
		t.Fatalf("ensureStreams: %v, want an error creating %s", err, StreamJobs)
	}
	if d := time.Since(start); d > 5*time.Second || strings.Contains(logs.String(), "retrying") {
		t.Fatalf("permanent error took %v and logged:\n%s", d, logs.String())
	}
	t.Logf("failed in %v: %v", time.Since(start), err)
}
