package coordinator

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hilsearch/hilsearch/coordinator/internal/bus"
	"github.com/hilsearch/hilsearch/coordinator/internal/httpapi"
)

// No Docker engine runs in CI, so the compose file and Dockerfile are
// checked by reading them.
func TestDockerCompose(t *testing.T) {
	data, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Build       struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	pg, ok := doc.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:15") {
		t.Errorf("postgres service must use postgres:15, got %+v", pg)
	}
	nats, ok := doc.Services["nats"]
	if !ok || !strings.HasPrefix(nats.Image, "nats:") || !contains(nats.Command, "-js") {
		t.Errorf("nats service must run nats with JetStream (-js), got %+v", nats)
	}
	// NATS runs the configuration `coordinator nats-config` writes (JWT
	// auth), and the coordinator's flags parse that command line.
	nc, ok := doc.Services["nats-config"]
	if !ok || len(nc.Command) == 0 || nc.Command[0] != "nats-config" || nc.Build.Dockerfile != "Dockerfile" {
		t.Fatalf("a nats-config service must run `coordinator nats-config`, got %+v", nc)
	}
	out := ""
	for i, a := range nc.Command {
		if a == "--out" && i+1 < len(nc.Command) {
			out = nc.Command[i+1]
		}
	}
	if out == "" || !contains(nats.Command, "-c") || nats.Command[indexOf(nats.Command, "-c")+1] != out {
		t.Errorf("nats must run the config nats-config writes (%q), got %v", out, nats.Command)
	}
	if _, err := LoadConfig("nats-config", nc.Command[1:], func(k string) string { return nc.Environment[k] }, os.Stderr, natsConfigFlags(new(string), new(bus.ServerConfig))); err != nil {
		t.Errorf("nats-config command line: %v", err)
	}
	co, ok := doc.Services["coordinator"]
	if !ok || co.Build.Dockerfile != "Dockerfile" || co.Build.Context != "." {
		t.Fatalf("coordinator must be built from ./Dockerfile, got %+v", co)
	}
	known := map[string]bool{"HIL_CONFIG": true}
	for _, ev := range envVars {
		known[ev.env] = true
	}
	for k := range co.Environment {
		if !known[k] {
			t.Errorf("compose passes %s, which the coordinator's config does not read", k)
		}
	}
	for _, need := range []string{"DATABASE_URL", "HIL_NATS_URL", "HIL_DATA_DIR", "HIL_LISTEN"} {
		if _, ok := co.Environment[need]; !ok {
			t.Errorf("compose does not pass %s to the coordinator", need)
		}
	}
	if !strings.Contains(co.Environment["DATABASE_URL"], "@postgres:5432/") || !strings.Contains(co.Environment["HIL_NATS_URL"], "nats://nats:4222") {
		t.Errorf("coordinator must reach the compose services by name: %v", co.Environment)
	}
	// The environment must also be a valid configuration.
	cfg, err := LoadConfig("serve", nil, func(k string) string {
		if k == "HIL_ADMIN_TOKEN" {
			return "compose-admin-token-0123456789"
		}
		return co.Environment[k]
	}, os.Stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("compose environment is not a valid config: %v", err)
	}

	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^FROM golang:\d+\.\d+\.\d+`).Match(df) {
		t.Error("Dockerfile must build from a pinned golang:X.Y.Z image")
	}
	if !regexp.MustCompile(`CGO_ENABLED=0 go build .*\./cmd/coordinator`).Match(df) {
		t.Error("Dockerfile must build ./cmd/coordinator with CGO_ENABLED=0")
	}
	// The image serves agents built in the build stage, from HIL_AGENT_DIR.
	built := regexp.MustCompile(`(?m)^RUN make agents AGENT_DIR=(\S+)$`).FindSubmatch(df)
	if built == nil {
		t.Fatal("Dockerfile's build stage must run make agents AGENT_DIR=<dir>")
	}
	copied := regexp.MustCompile(`(?m)^COPY --from=build ` + regexp.QuoteMeta(string(built[1])) + ` (\S+)$`).FindSubmatch(df)
	if copied == nil {
		t.Fatalf("Dockerfile must copy %s from the build stage", built[1])
	}
	if !regexp.MustCompile(`(?m)^ENV HIL_AGENT_DIR=` + regexp.QuoteMeta(string(copied[1])) + `$`).Match(df) {
		t.Errorf("Dockerfile must set HIL_AGENT_DIR=%s, where it copies the agents", copied[1])
	}
}

// TestMakefileAgentTargets: `make agents` builds exactly the platforms the
// coordinator offers under /downloads.
func TestMakefileAgentTargets(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^AGENT_TARGETS := (.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile has no AGENT_TARGETS")
	}
	got := strings.Fields(string(m[1]))
	if strings.Join(got, " ") != strings.Join(httpapi.AgentTargets, " ") {
		t.Errorf("Makefile builds %v, the coordinator serves %v", got, httpapi.AgentTargets)
	}
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
