package predictcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/search"
)

// smallSpec is a conv/GQA network of the given width, depth and FFN width.
func smallSpec(t *testing.T, d, layers, ffn int) *arch.Spec {
	t.Helper()
	var ls []string
	for i := range layers {
		if i%2 == 0 {
			ls = append(ls, fmt.Sprintf(`{"mixer":"conv","conv":{"kernel":3},"ffn":%d}`, ffn))
		} else {
			ls = append(ls, fmt.Sprintf(`{"mixer":"gqa","gqa":{"heads":4,"kv_heads":2,"head_dim":%d,"rope_theta":10000},"ffn":%d}`, d/4, ffn))
		}
	}
	s, err := arch.Parse([]byte(fmt.Sprintf(`{"name":"s","vocab":512,"hidden":%d,"tied_embeddings":true,"norm_eps":1e-5,"max_context":1024,"layers":[%s]}`,
		d, strings.Join(ls, ","))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPredict: against a real coordinator and PostgreSQL, hil predict
// fetches the device's predictor over the API and prints what the
// predictor predicts; a device without one, an unknown device and several
// matching predictors are clear errors. The predictor stored here is
// fitted from the analytic stand-in (a test database only).
func TestPredict(t *testing.T) {
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	a.Enroll(t, c, "x86-test-8g")
	dev := a.Resp.DeviceID
	sp, err := search.Parse([]byte(testenv.SearchSpec(dev, "random", 8)))
	if err != nil {
		t.Fatal(err)
	}
	wl := sp.Workload.Normalize()
	ev := search.DefaultStandIn()
	var obs []search.Observation
	for _, d := range []int{64, 128} {
		for _, n := range []int{1, 2, 3, 4} {
			for _, f := range []int{128, 256} {
				s := smallSpec(t, d, n, f)
				vals, err := ev.Evaluate(sp, s)
				if err != nil {
					t.Fatal(err)
				}
				obs = append(obs, search.Observation{Spec: *s, Values: vals["phone"]})
			}
		}
	}
	p, err := search.FitPredictor(wl, obs)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(p)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"--coordinator", c.URL, "--token", c.Token}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	target := smallSpec(t, 96, 3, 192) // not among the fitted networks
	file := filepath.Join(t.TempDir(), "a.json")
	js, _ := target.JSON()
	if err := os.WriteFile(file, js, 0o600); err != nil {
		t.Fatal(err)
	}

	if code, _, msg := run("--device", dev, file); code != 1 || !strings.Contains(msg, "no fitted predictor") {
		t.Fatalf("no predictor yet: %d %q", code, msg)
	}
	testenv.Exec(t, c.DSN, `INSERT INTO predictors (device_id, runtime, workload_hash, measurements, body) VALUES ($1, $2, $3, $4, $5)`,
		dev, wl.RuntimeName(), wl.Hash(), len(obs), body)

	code, out, msg := run("--device", dev, "--json", file)
	if code != 0 {
		t.Fatalf("predict: %d %s", code, msg)
	}
	var got search.Prediction
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want, err := p.Predict(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) != len(want) {
		t.Fatalf("predicted %d metrics, want %d", len(got), len(want))
	}
	for k, e := range want {
		if got[k] != e {
			t.Errorf("%s: %+v, want %+v", k, got[k], e)
		}
	}
	k := search.MetricKey{Metric: search.MetricDecodeP50, At: 0}
	code, out, msg = run("--device", dev, "--arch", file)
	if code != 0 || !strings.Contains(out, "from 16 measurements") || !strings.Contains(out, string(k.Metric)) ||
		!strings.Contains(out, fmt.Sprintf("%.4g", want[k].Mean)) {
		t.Fatalf("text output: %d %q %q", code, out, msg)
	}

	// Two predictors: the choice must be given.
	testenv.Exec(t, c.DSN, `INSERT INTO predictors (device_id, runtime, workload_hash, measurements, body) VALUES ($1, $2, 'other', $3, $4)`,
		dev, wl.RuntimeName(), len(obs), body)
	if code, _, msg := run("--device", dev, file); code != 1 || !strings.Contains(msg, "--workload-hash") {
		t.Fatalf("two predictors: %d %q", code, msg)
	}
	if code, _, msg := run("--device", dev, "--workload-hash", wl.Hash(), file); code != 0 {
		t.Fatalf("--workload-hash: %d %q", code, msg)
	}
	if code, _, msg := run("--device", "no-such-device", file); code != 1 || !strings.Contains(msg, "not") {
		t.Fatalf("unknown device: %d %q", code, msg)
	}
	for _, bad := range [][]string{{file}, {"--device", dev}, {"--device", dev, "nope.json"}, {"--device", dev, file, "extra"}} {
		if code, _, _ := run(bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2", bad, code)
		}
	}
}
