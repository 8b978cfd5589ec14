package coordinator

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the coordinator's configuration. Values come from, in rising
// priority: the defaults, the YAML file (--config / HIL_CONFIG), the
// environment, and command-line flags.
type Config struct {
	// DatabaseURL is the PostgreSQL connection URL (DATABASE_URL). The
	// database is created if missing and the server allows it. Defaults to
	// postgres://postgres@127.0.0.1:5432/hilsearch?sslmode=disable.
	DatabaseURL string `yaml:"database_url"`
	// Listen is the HTTP address (HIL_LISTEN). Defaults to ":8080".
	Listen string `yaml:"listen"`
	// DataDir holds the embedded NATS store and local state (HIL_DATA_DIR).
	// Defaults to ".hil".
	DataDir string `yaml:"data_dir"`
	// AgentDir holds the device-agent binaries served under /downloads,
	// built ahead of time by `make agents` (HIL_AGENT_DIR). Defaults to
	// "": <data dir>/agents.
	AgentDir string `yaml:"agent_dir"`
	// NATSURL names an external NATS server (HIL_NATS_URL), or several
	// comma-separated URLs of one cluster; empty embeds one. Defaults to
	// "".
	NATSURL string `yaml:"nats_url"`
	// NATSListen is the embedded NATS client address (HIL_NATS_LISTEN).
	// Defaults to ":4223" (4222 is left to a system NATS).
	NATSListen string `yaml:"nats_listen"`
	// NATSAdvertise are the NATS URLs given to agents, comma-separated
	// (HIL_NATS_ADVERTISE). Defaults to the embedded server's client URL.
	NATSAdvertise []string `yaml:"nats_advertise"`
	// Advertise is the coordinator's HTTP URL given to devices (the
	// dashboard's enroll command) (HIL_ADVERTISE). Defaults to "": the
	// listen address, with this machine's first LAN IPv4 address when it
	// listens on every interface.
	Advertise string `yaml:"advertise"`
	// NATSAllowOpen lets the coordinator use a NATS server that accepts
	// clients without credentials (HIL_NATS_ALLOW_OPEN). For tests only:
	// on such a server anyone can forge results. Defaults to false: the
	// coordinator refuses to start.
	NATSAllowOpen bool `yaml:"nats_allow_open"`
	// AdminToken, when set, is accepted as an admin API token
	// (HIL_ADMIN_TOKEN). Defaults to "": one is generated on first start.
	AdminToken string `yaml:"admin_token"`
	// EnrollTTL is the default life of an enrollment token
	// (HIL_ENROLL_TTL). Defaults to 24h.
	EnrollTTL time.Duration `yaml:"enroll_ttl"`
	// TokenTTL is the default life of an API token created through the API,
	// the dashboard or `coordinator token create` (HIL_TOKEN_TTL); 0 means
	// no expiry. Defaults to 2160h (90 days).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// SessionTTL bounds a dashboard session (HIL_SESSION_TTL); a session
	// also ends when its token is revoked or expires. Defaults to 12h.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// ProxyHeader names the header by which a TLS-terminating reverse
	// proxy says the client used https: X-Forwarded-Proto, or Forwarded
	// (proto=) (HIL_PROXY_HEADER). It is believed only from
	// TrustedProxies. Defaults to "": only a TLS connection counts.
	ProxyHeader string `yaml:"proxy_header"`
	// TrustedProxies are the addresses or CIDR prefixes of such proxies,
	// comma-separated (HIL_TRUSTED_PROXIES). Defaults to none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// LogLevel is debug, info, warn or error (HIL_LOG_LEVEL). Defaults to info.
	LogLevel string `yaml:"log_level"`
	// LogFormat is json or text (HIL_LOG_FORMAT). Defaults to text.
	LogFormat string `yaml:"log_format"`
	// ShutdownTimeout bounds graceful shutdown. Defaults to 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// JobAckWait is how long a job may go without an ack or progress
	// report before JetStream redelivers it (HIL_JOB_ACK_WAIT). Agents
	// report progress every third of it. Defaults to 30s.
	JobAckWait time.Duration `yaml:"job_ack_wait"`
	// EvalGrace is how long after its deadline an evaluation job's answer
	// is still awaited before the job fails with a timeout
	// (HIL_EVAL_GRACE; docs/evaluators.md §3.4). Defaults to 60s.
	EvalGrace time.Duration `yaml:"eval_grace"`
	// PublicURL is the coordinator's HTTP URL as evaluators reach it, for
	// their answer callbacks (HIL_PUBLIC_URL); default: the advertised
	// URL.
	PublicURL string `yaml:"public_url"`
	// DeviceLostAfter is how long a device may send no heartbeat before
	// its unfinished jobs fail with device_lost and their trials' targets
	// are re-dispatched to another matching device
	// (HIL_DEVICE_LOST_AFTER). Defaults to 60s.
	DeviceLostAfter time.Duration `yaml:"device_lost_after"`
	// MaxAgents is the declared fleet capacity (HIL_MAX_AGENTS): the JOBS
	// stream holds one consumer per agent; enrollment past it answers 503
	// capacity_exceeded. Defaults to 10,000.
	MaxAgents int `yaml:"max_agents"`
	// NATSReplicas is the replica count of the JetStream streams JOBS and
	// RESULTS (HIL_NATS_REPLICAS), 1..5; more than 1 needs a NATS cluster
	// of at least that many JetStream nodes. Defaults to 1.
	NATSReplicas int `yaml:"nats_replicas"`
}

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		DatabaseURL:     "postgres://postgres@127.0.0.1:5432/hilsearch?sslmode=disable",
		Listen:          ":8080",
		DataDir:         ".hil",
		NATSListen:      ":4223",
		EnrollTTL:       24 * time.Hour,
		TokenTTL:        90 * 24 * time.Hour,
		SessionTTL:      12 * time.Hour,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 15 * time.Second,
		JobAckWait:      30 * time.Second,
		EvalGrace:       60 * time.Second,
		DeviceLostAfter: 60 * time.Second,
		MaxAgents:       10_000,
		NATSReplicas:    1,
	}
}

// envVars maps each environment variable to the flag it shadows.
var envVars = []struct{ env, flag string }{
	{"DATABASE_URL", "database-url"},
	{"HIL_LISTEN", "listen"},
	{"HIL_DATA_DIR", "data-dir"},
	{"HIL_AGENT_DIR", "agent-dir"},
	{"HIL_NATS_URL", "nats-url"},
	{"HIL_NATS_LISTEN", "nats-listen"},
	{"HIL_NATS_ADVERTISE", "nats-advertise"},
	{"HIL_ADVERTISE", "advertise"},
	{"HIL_NATS_ALLOW_OPEN", "nats-allow-open"},
	{"HIL_NATS_REPLICAS", "nats-replicas"},
	{"HIL_ADMIN_TOKEN", "admin-token"},
	{"HIL_ENROLL_TTL", "enroll-ttl"},
	{"HIL_TOKEN_TTL", "token-ttl"},
	{"HIL_SESSION_TTL", "session-ttl"},
	{"HIL_PROXY_HEADER", "proxy-header"},
	{"HIL_TRUSTED_PROXIES", "trusted-proxies"},
	{"HIL_LOG_LEVEL", "log-level"},
	{"HIL_LOG_FORMAT", "log-format"},
	{"HIL_JOB_ACK_WAIT", "job-ack-wait"},
	{"HIL_EVAL_GRACE", "eval-grace"},
	{"HIL_PUBLIC_URL", "public-url"},
	{"HIL_DEVICE_LOST_AFTER", "device-lost-after"},
	{"HIL_MAX_AGENTS", "max-agents"},
}

type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	*l.v = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// bindFlags registers every config flag on fs, writing into c.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (env DATABASE_URL)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP listen address (env HIL_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory: embedded NATS store, local state (env HIL_DATA_DIR)")
	fs.StringVar(&c.AgentDir, "agent-dir", c.AgentDir, "directory of the device-agent binaries served under /downloads, built by make agents (env HIL_AGENT_DIR; default: <data-dir>/agents)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "external NATS URL; empty embeds a NATS server (env HIL_NATS_URL)")
	fs.StringVar(&c.NATSListen, "nats-listen", c.NATSListen, "embedded NATS client listen address (env HIL_NATS_LISTEN)")
	fs.Var(listFlag{&c.NATSAdvertise}, "nats-advertise", "comma-separated NATS URLs handed to agents (env HIL_NATS_ADVERTISE; default: the embedded server's URL)")
	fs.StringVar(&c.Advertise, "advertise", c.Advertise, "the coordinator's HTTP URL handed to devices, e.g. http://192.168.1.20:8080 (env HIL_ADVERTISE; default: the listen address, with this machine's LAN address when listening on all interfaces)")
	fs.BoolVar(&c.NATSAllowOpen, "nats-allow-open", c.NATSAllowOpen, "TESTS ONLY: accept a NATS server that lets clients in without credentials (env HIL_NATS_ALLOW_OPEN)")
	fs.StringVar(&c.AdminToken, "admin-token", c.AdminToken, "accept this secret as an admin API token (env HIL_ADMIN_TOKEN; prefer the env var: flags show in ps)")
	fs.DurationVar(&c.EnrollTTL, "enroll-ttl", c.EnrollTTL, "default life of an enrollment token (env HIL_ENROLL_TTL)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", c.TokenTTL, "default life of a new API token; 0: no expiry (env HIL_TOKEN_TTL)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "longest life of a dashboard session (env HIL_SESSION_TTL)")
	fs.StringVar(&c.ProxyHeader, "proxy-header", c.ProxyHeader, "header by which a trusted TLS-terminating proxy reports https: X-Forwarded-Proto or Forwarded (env HIL_PROXY_HEADER)")
	fs.Var(listFlag{&c.TrustedProxies}, "trusted-proxies", "comma-separated addresses or CIDR prefixes whose proxy header is believed (env HIL_TRUSTED_PROXIES)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env HIL_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env HIL_LOG_FORMAT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long graceful shutdown may take")
	fs.DurationVar(&c.JobAckWait, "job-ack-wait", c.JobAckWait, "redeliver a job after this long without an ack or progress report (env HIL_JOB_ACK_WAIT)")
	fs.DurationVar(&c.EvalGrace, "eval-grace", c.EvalGrace, "wait this long after an evaluation job's deadline before failing it (env HIL_EVAL_GRACE)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "the coordinator's HTTP URL as evaluators reach it, for answer callbacks (env HIL_PUBLIC_URL; default: the advertised URL)")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", c.NATSReplicas, "replicas of the JetStream streams JOBS and RESULTS, 1..5; >1 needs a NATS cluster (env HIL_NATS_REPLICAS)")
	fs.IntVar(&c.MaxAgents, "max-agents", c.MaxAgents, "declared fleet capacity: enrollment past it answers 503 capacity_exceeded (env HIL_MAX_AGENTS)")
	fs.DurationVar(&c.DeviceLostAfter, "device-lost-after", c.DeviceLostAfter, "fail a device's unfinished jobs with device_lost and re-dispatch them after this long without a heartbeat (env HIL_DEVICE_LOST_AFTER)")
}

// LoadConfig parses args (flags of one subcommand) with getenv and the
// optional YAML file into a Config. extra registers subcommand-only flags.
// It returns flag.ErrHelp when -h was given (usage already written to out).
func LoadConfig(name string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet)) (Config, error) {
	cfg := Default()
	// First pass: flags into a scratch config, to learn which were set and
	// where the YAML file is.
	scratch := Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	var cfgFile string
	fs.StringVar(&cfgFile, "config", getenv("HIL_CONFIG"), "optional YAML config file (env HIL_CONFIG)")
	scratch.bindFlags(fs)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: coordinator %s [flags]\n\nPriority: flags > environment > YAML file > defaults.\n\nflags:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfgFile != "" {
		data, err := os.ReadFile(cfgFile)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config file %s: %w", cfgFile, err)
		}
	}
	// Environment, through the same flag parsers.
	efs := flag.NewFlagSet(name, flag.ContinueOnError)
	efs.SetOutput(io.Discard)
	cfg.bindFlags(efs)
	for _, ev := range envVars {
		if v, ok := lookup(getenv, ev.env); ok {
			if err := efs.Set(ev.flag, v); err != nil {
				return cfg, fmt.Errorf("environment %s: %w", ev.env, err)
			}
		}
	}
	// Flags that were given win.
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		if ef := efs.Lookup(f.Name); ef != nil && ferr == nil {
			if err := ef.Value.Set(f.Value.String()); err != nil {
				ferr = fmt.Errorf("flag -%s: %w", f.Name, err)
			}
		}
	})
	return cfg, ferr
}

func lookup(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return v, v != ""
}

// AgentDirectory is AgentDir, or <DataDir>/agents when it is empty.
func (c Config) AgentDirectory() string {
	if c.AgentDir != "" {
		return c.AgentDir
	}
	return filepath.Join(c.DataDir, "agents")
}

// trustedProxies parses TrustedProxies: addresses or CIDR prefixes.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("HIL_TRUSTED_PROXIES (--trusted-proxies) %q is neither an address nor a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Validate checks every field and names the first bad one.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.DatabaseURL)
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL (--database-url) is empty"))
	} else if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("DATABASE_URL (--database-url) must be a postgres:// URL"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("HIL_LISTEN (--listen) %q: %w", c.Listen, err))
	}
	if c.NATSURL == "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("HIL_NATS_LISTEN (--nats-listen) %q: %w", c.NATSListen, err))
		}
		if c.DataDir == "" {
			errs = append(errs, errors.New("HIL_DATA_DIR (--data-dir) is empty; the embedded NATS needs it"))
		}
	} else {
		n := 0
		for _, s := range strings.Split(c.NATSURL, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			n++
			if u, err := url.Parse(s); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
				errs = append(errs, fmt.Errorf("HIL_NATS_URL (--nats-url) %q must be nats:// or tls:// URLs, comma-separated", c.NATSURL))
				break
			}
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("HIL_NATS_URL (--nats-url) %q names no URL", c.NATSURL))
		}
	}
	if c.NATSReplicas < 1 || c.NATSReplicas > 5 {
		errs = append(errs, fmt.Errorf("HIL_NATS_REPLICAS (--nats-replicas) %d must be between 1 and 5", c.NATSReplicas))
	} else if c.NATSReplicas > 1 && c.NATSURL == "" {
		errs = append(errs, fmt.Errorf("HIL_NATS_REPLICAS (--nats-replicas) %d needs an external NATS cluster (--nats-url); the embedded server is one node", c.NATSReplicas))
	}
	if c.Advertise != "" {
		if u, err := url.Parse(c.Advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("HIL_ADVERTISE (--advertise) %q must be an http:// or https:// URL", c.Advertise))
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("HIL_ADMIN_TOKEN must be at least 16 characters"))
	}
	if c.EnrollTTL < time.Minute || c.EnrollTTL > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("HIL_ENROLL_TTL (--enroll-ttl) %v must be between 1m and 720h", c.EnrollTTL))
	}
	if c.TokenTTL < 0 || c.TokenTTL > 10*365*24*time.Hour || (c.TokenTTL > 0 && c.TokenTTL < time.Minute) {
		errs = append(errs, fmt.Errorf("HIL_TOKEN_TTL (--token-ttl) %v must be 0 (no expiry) or between 1m and 87600h", c.TokenTTL))
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("HIL_SESSION_TTL (--session-ttl) %v must be between 1m and 720h", c.SessionTTL))
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if c.ProxyHeader != "" && len(c.TrustedProxies) == 0 {
		errs = append(errs, errors.New("HIL_PROXY_HEADER (--proxy-header) needs HIL_TRUSTED_PROXIES (--trusted-proxies): the header is believed only from those addresses"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("HIL_LOG_LEVEL (--log-level) %q must be debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("HIL_LOG_FORMAT (--log-format) %q must be text or json", c.LogFormat))
	}
	if c.EvalGrace < 0 || c.EvalGrace > time.Hour {
		errs = append(errs, fmt.Errorf("HIL_EVAL_GRACE (--eval-grace) %v must be between 0s and 1h", c.EvalGrace))
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		errs = append(errs, fmt.Errorf("HIL_PUBLIC_URL (--public-url) %q must be an http:// or https:// URL", c.PublicURL))
	}
	if c.JobAckWait < time.Second || c.JobAckWait > time.Hour {
		errs = append(errs, fmt.Errorf("HIL_JOB_ACK_WAIT (--job-ack-wait) %v must be between 1s and 1h", c.JobAckWait))
	}
	if c.MaxAgents < 1 || c.MaxAgents > 1_000_000 {
		errs = append(errs, fmt.Errorf("HIL_MAX_AGENTS (--max-agents) %d must be between 1 and 1000000", c.MaxAgents))
	}
	if c.DeviceLostAfter < time.Second || c.DeviceLostAfter > 24*time.Hour {
		errs = append(errs, fmt.Errorf("HIL_DEVICE_LOST_AFTER (--device-lost-after) %v must be between 1s and 24h", c.DeviceLostAfter))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	return errors.Join(errs...)
}
