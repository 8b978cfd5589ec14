package searchcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestShowSavingsAndNoise: "hil search show" of a screened search measured
// by a noisy stand-in reports the screened count and the device time it
// saved (the same numbers as the API), the re-measurements, and each
// front value with its standard deviation.
func TestShowSavingsAndNoise(t *testing.T) {
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "stand-in")
	a.StandInNoise = 0.4
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.RunStandIn(ctx, c.App.Bus.ClientURLs)
	spec := strings.NewReplacer(
		`{"metric":"peak_rss_mb@phone"},`, ``,
		`"max_in_flight_per_device":2`, `"max_in_flight_per_device":1`,
		`"seed":7}`, `"seed":7,"screening":{"warmup_trials":4,"batch":6},"remeasure":{"max":2}}`,
	).Replace(testenv.SearchSpec(a.Resp.DeviceID, "random", 10))
	code, out, errs := hil(t, ctx, c, "create", writeFile(t, "search.json", spec))
	id := strings.TrimSpace(out)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errs)
	}
	var s api.Search
	testenv.Eventually(t, 3*time.Minute, func() error {
		code, out, errs := hil(t, ctx, c, "show", "--json", id)
		var v struct{ Search api.Search }
		if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
			t.Fatalf("show --json: exit %d %v: %s", code, err, errs)
		}
		s = v.Search
		if s.State != api.SearchFinished {
			return fmt.Errorf("search %s", s.State)
		}
		return nil
	})
	if s.Savings == nil || s.Savings.Screened == 0 || s.Savings.Screened != s.Progress.Screened || s.Savings.MeasuredTrials != 10 || s.Progress.Remeasured == 0 {
		t.Fatalf("show --json: savings %+v, progress %+v", s.Savings, s.Progress)
	}
	code, out, errs = hil(t, ctx, c, "show", id)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errs)
	}
	m := regexp.MustCompile(`(?m)^screening   (\d+) candidates screened out: about \S+ of device time saved \((\d+) × \S+, the mean of 10 measured trials\)$`).FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(s.Savings.Screened) || m[2] != m[1] {
		t.Fatalf("show: no screening line for %d screened:\n%s", s.Savings.Screened, out)
	}
	if !strings.Contains(out, ", "+strconv.Itoa(s.Progress.Remeasured)+" re-measured") || !strings.Contains(out, " ± ") || !strings.Contains(out, "REMEASURED") {
		t.Fatalf("show: no re-measurements or spreads:\n%s", out)
	}
	t.Logf("\n%s", out)
}
