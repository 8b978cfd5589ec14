package coordinator_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"

	"github.com/hilsearch/hilsearch/coordinator/internal/predictors"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestPredictorRefitAndRestart: after a search measured on a device (the
// analytic stand-in agent), the coordinator has refitted and stored the
// device's predictor from every measurement, and a restart restores it:
// the stored predictor, loaded by a fresh store, predicts exactly what a
// refit from the stored measurements predicts.
func TestPredictorRefitAndRestart(t *testing.T) {
	c := testenv.Start(t, nil)
	a := newAgent(t)
	a.enroll(t, c, enrollmentToken(t, c), "x86-test-8g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Agent.RunStandIn(ctx, c.App.Bus.ClientURLs)
	dev := a.Resp.DeviceID
	id := createSearch(t, c, testenv.SearchSpec(dev, "random", 8))
	waitSearch(t, c, id, 90*time.Second, func(s searchState) bool { return s.State == "finished" })

	want := int(testenv.QueryInt(t, c.DSN, `SELECT count(*) FROM measurements WHERE device_id = $1`, dev))
	if want < 2 {
		t.Fatalf("%d measurements", want)
	}
	deadline := time.Now().Add(30 * time.Second)
	for testenv.QueryInt(t, c.DSN, `SELECT coalesce(max(measurements), 0) FROM predictors WHERE device_id = $1`, dev) != int64(want) {
		if time.Now().After(deadline) {
			t.Fatalf("no predictor fitted from the %d measurements", want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The API serves it: every metric's model with its fit error and rows.
	code, body := c.Do(t, "GET", "/api/v1/devices/"+dev+"/predictor", nil, c.Token)
	if code != 200 {
		t.Fatalf("GET predictor: %d %s", code, body)
	}
	var served api.DevicePredictors
	if err := json.Unmarshal(body, &served); err != nil {
		t.Fatal(err)
	}
	if served.DeviceID != dev || len(served.Predictors) != 1 || served.Predictors[0].Measurements != want ||
		served.Predictors[0].Predictor == nil || len(served.Predictors[0].Predictor.Models) == 0 || served.Predictors[0].FittedAt.IsZero() {
		t.Fatalf("GET predictor: %s", body)
	}
	for key, m := range served.Predictors[0].Predictor.Models {
		if m.N != want || len(m.Coef) != len(m.Features) || len(m.Residuals) != want || !(m.Sigma > 0) {
			t.Fatalf("served %s: n=%d coef=%d features=%d residuals=%d sigma=%g", key, m.N, len(m.Coef), len(m.Features), len(m.Residuals), m.Sigma)
		}
	}
	if code, body := c.Do(t, "GET", "/api/v1/devices/no-such-device/predictor", nil, c.Token); code != 404 {
		t.Fatalf("GET predictor of an unknown device: %d %s", code, body)
	}
	if code, _ := c.Do(t, "GET", "/api/v1/devices/"+dev+"/predictor", nil, ""); code != 401 {
		t.Fatalf("GET predictor without a token: %d", code)
	}

	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	if err := c.App.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	s, err := store.Open(sctx, c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.Predictors(sctx, dev)
	if err != nil || len(rows) != 1 {
		t.Fatalf("predictors: %v %d", err, len(rows))
	}
	k := predictors.Key{DeviceID: dev, Runtime: rows[0].Runtime, WorkloadHash: rows[0].WorkloadHash}
	p, row, err := predictors.Load(sctx, s, k)
	if err != nil {
		t.Fatal(err)
	}
	if row.Measurements != want || len(p.Observations) != want || len(p.Models) == 0 {
		t.Fatalf("restored predictor: %d measurements, %d observations, %d models", row.Measurements, len(p.Observations), len(p.Models))
	}
	for key, m := range p.Models {
		if m.N != want || len(m.Residuals) != want {
			t.Fatalf("%s: n=%d residuals=%d, want %d", key, m.N, len(m.Residuals), want)
		}
	}
	// A refit from the stored measurements predicts what the restored one does.
	if n, err := predictors.Refit(sctx, s, k); err != nil || n != want {
		t.Fatalf("refit: %d %v", n, err)
	}
	fresh, _, err := predictors.Load(sctx, s, k)
	if err != nil {
		t.Fatal(err)
	}
	spec := p.Observations[0].Spec
	spec.Layers = spec.Layers[:len(spec.Layers)-1] // a network not measured
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := p.Predict(&spec)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := fresh.Predict(&spec)
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	ej, _ := json.Marshal(exp)
	if len(got) == 0 || string(gj) != string(ej) {
		t.Fatalf("restored predicts %s, refit predicts %s", gj, ej)
	}
}
