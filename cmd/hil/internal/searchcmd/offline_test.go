package searchcmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestOfflineTarget: a search whose only device is offline is never silent.
// The dry run warns, show/list say what the search waits for, and when the
// budget's wall time runs out before any trial ran, watch exits 1 saying why.
func TestOfflineTarget(t *testing.T) {
	c := testenv.Start(t, nil)
	// Enrolled, but its agent never runs: no heartbeat, so offline.
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "idle")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := strings.Replace(testenv.SearchSpec(a.Resp.DeviceID, "random", 2), `"max_trials":2,`, `"max_trials":2,"max_wall_time":"4s",`, 1)
	file := writeFile(t, "spec.json", spec)

	code, out, errs := hil(t, ctx, c, "create", "--dry-run", file)
	if code != 0 || !strings.Contains(out, "valid") || !strings.Contains(errs, "warning: target phone: every matching device is offline ("+a.Resp.DeviceID+")") {
		t.Fatalf("dry run: exit %d: %s %s", code, out, errs)
	}
	code, out, errs = hil(t, ctx, c, "create", file)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errs)
	}
	id := strings.TrimSpace(out)
	code, out, errs = hil(t, ctx, c, "show", id)
	if code != 0 || !strings.Contains(out, "waiting for a device of target phone") {
		t.Fatalf("show: exit %d: %s %s", code, out, errs)
	}
	if code, out, _ = hil(t, ctx, c, "list"); code != 0 || !strings.Contains(out, "running (waiting for a device of target phone)") {
		t.Fatalf("list: exit %d: %s", code, out)
	}
	code, out, errs = hil(t, ctx, c, "watch", "--poll", "500ms", id)
	if code != 1 || !strings.Contains(out, "waiting for a device of target phone") ||
		!strings.Contains(errs, "finished without any complete trial: max_wall_time 4s ran out before any trial started; no device of target phone was online") {
		t.Fatalf("watch: exit %d:\n%s\n%s", code, out, errs)
	}
}
