package coordinator

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPriority(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:1000\ndata_dir: /from/yaml\nlog_level: debug\nenroll_ttl: 2h\nnats_advertise: [nats://a:1, nats://b:2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := map[string]string{"HIL_CONFIG": file, "HIL_DATA_DIR": "/from/env", "HIL_LISTEN": "127.0.0.1:2000"}
	cfg, err := LoadConfig("serve", []string{"--listen", "127.0.0.1:3000"}, env(e), &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:3000" {
		t.Errorf("flag should win: listen = %q", cfg.Listen)
	}
	if cfg.DataDir != "/from/env" {
		t.Errorf("env should beat YAML: data_dir = %q", cfg.DataDir)
	}
	if cfg.LogLevel != "debug" || cfg.EnrollTTL != 2*time.Hour || len(cfg.NATSAdvertise) != 2 {
		t.Errorf("YAML should beat defaults: %+v", cfg)
	}
	if cfg.DatabaseURL != Default().DatabaseURL {
		t.Errorf("default lost: %q", cfg.DatabaseURL)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("listen: x\nunknown_key: 1\n"), 0o600)
	if _, err := LoadConfig("serve", nil, env(map[string]string{"HIL_CONFIG": bad}), &bytes.Buffer{}, nil); err == nil || !strings.Contains(err.Error(), "unknown_key") {
		t.Fatalf("unknown YAML key: %v", err)
	}
	if _, err := LoadConfig("serve", nil, env(map[string]string{"HIL_ENROLL_TTL": "soon"}), &bytes.Buffer{}, nil); err == nil || !strings.Contains(err.Error(), "HIL_ENROLL_TTL") {
		t.Fatalf("bad env duration: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"DATABASE_URL":    func(c *Config) { c.DatabaseURL = "mysql://x" },
		"HIL_LISTEN":      func(c *Config) { c.Listen = "nope" },
		"HIL_NATS_URL":    func(c *Config) { c.NATSURL = "http://x" },
		"HIL_ADMIN_TOKEN": func(c *Config) { c.AdminToken = "short" },
		"HIL_LOG_LEVEL":   func(c *Config) { c.LogLevel = "loud" },
		"HIL_DATA_DIR":    func(c *Config) { c.DataDir = "" },
		"HIL_ENROLL_TTL":  func(c *Config) { c.EnrollTTL = time.Second },
		"HIL_TOKEN_TTL":   func(c *Config) { c.TokenTTL = time.Second },
		"HIL_SESSION_TTL": func(c *Config) { c.SessionTTL = 0 },
		"HIL_TRUSTED_PROXIES": func(c *Config) {
			c.TrustedProxies = []string{"10.0.0.0/8", "proxy.example"}
		},
		"HIL_PROXY_HEADER": func(c *Config) { c.ProxyHeader = "X-Forwarded-Proto" }, // without trusted proxies
		"HIL_NATS_LISTEN":  func(c *Config) { c.NATSListen = "4222" },
		"HIL_LOG_FORMAT":   func(c *Config) { c.LogFormat = "xml" },
	} {
		c := Default()
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// Cluster settings: several URLs, each checked; replicas 1..5, more
	// than one only with an external cluster.
	for what, mut := range map[string]func(*Config){
		"HIL_NATS_URL list":          func(c *Config) { c.NATSURL = "nats://a:4222,http://b:4222" },
		"HIL_NATS_URL empty list":    func(c *Config) { c.NATSURL = " , " },
		"HIL_NATS_REPLICAS 0":        func(c *Config) { c.NATSURL, c.NATSReplicas = "nats://a:4222", 0 },
		"HIL_NATS_REPLICAS 6":        func(c *Config) { c.NATSURL, c.NATSReplicas = "nats://a:4222", 6 },
		"HIL_NATS_REPLICAS embedded": func(c *Config) { c.NATSReplicas = 3 },
	} {
		name := strings.Fields(what)[0]
		c := Default()
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v", what, err)
		}
	}
	for _, ok := range []func(*Config){
		func(c *Config) { c.NATSURL, c.NATSReplicas = "nats://a:4222, nats://b:4222,nats://c:4222", 3 },
		func(c *Config) { c.NATSReplicas = 1 },
	} {
		c := Default()
		ok(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("valid cluster settings %q ×%d: %v", c.NATSURL, c.NATSReplicas, err)
		}
	}
}

// TestHelpDocumentsEveryFlag: `coordinator --help` lists every flag of serve.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if code := Main(t.Context(), []string{"--help"}, env(nil), &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c := Default()
	c.bindFlags(fs)
	serveFlags(new(serveOpts))(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "-"+f.Name) || !strings.Contains(out.String(), f.Usage) {
			t.Errorf("--help does not document -%s", f.Name)
		}
	})
	for _, ev := range envVars {
		if !strings.Contains(out.String(), ev.env) {
			t.Errorf("--help does not name %s", ev.env)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(t.Context(), []string{"serve", "--check-config"}, env(nil), &out, &errb); code != 0 || !strings.Contains(out.String(), "OK") {
		t.Fatalf("check-config: %d %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := Main(t.Context(), []string{"serve", "--check-config", "--log-level", "loud"}, env(nil), &out, &errb); code != 1 || !strings.Contains(errb.String(), "HIL_LOG_LEVEL") {
		t.Fatalf("bad config: %d %s", code, errb.String())
	}
}

func TestServeUnreachableDatabaseNamesDatabaseURL(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"},
		env(map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nope?connect_timeout=2"}), &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "DATABASE_URL") {
		t.Fatalf("exit %d, stderr %q: want non-zero and a message naming DATABASE_URL", code, errb.String())
	}
}
