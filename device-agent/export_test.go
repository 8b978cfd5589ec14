package agent

import (
	"context"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/workload"
)

// Test helpers of package agent used by the external end-to-end tests
// (package agent_test, which may import the coordinator; package agent may
// not, since the coordinator embeds the agent).
const (
	EnvTestMain    = envTestMain
	EnvAgentParent = envAgentParent
	TinySpecJSON   = tinySpecJSON
	SlowSpecJSON   = slowSpecJSON
)

// TinyWorkload and SlowWorkload are the workloads of the test specs.
func TinyWorkload() workload.Workload { return tinyWorkload() }

// SlowWorkload is the workload of SlowSpecJSON.
func SlowWorkload() workload.Workload { return slowWorkload() }

// CheckMeasurement checks that every field of a measurement is filled.
func CheckMeasurement(t *testing.T, m *wire.Measurement, spec string, w workload.Workload) {
	t.Helper()
	checkMeasurement(t, m, spec, w)
}

// EnrollForTest enrolls in-process (the e2e tests also enroll with a real
// process).
func EnrollForTest(ctx context.Context, coordinator, token, name string, tags []string, config string, force bool) (*Config, error) {
	return enroll(ctx, enrollOptions{coordinator: coordinator, token: token, name: name, tags: tags, config: config, force: force}, nil)
}
