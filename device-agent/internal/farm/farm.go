// Package farm runs a shelf of Android phones (or any device adb reaches) as
// measuring devices from one host: `device-agent farm`.
//
// Every poll it lists `adb devices`. For each phone in state "device" it
//
//  1. probes the phone (ABI, model, the SHA-256 of the agent binary it
//     has) and pushes the agent binary built for it when the digest
//     differs, checking the pushed copy's digest before moving it into
//     place (binaries come from a directory such as `make agents` writes,
//     or from the coordinator's /downloads/, checked against the
//     published .sha256);
//  2. sets up `adb reverse` for the coordinator's HTTP port and for the
//     NATS ports of the phone's identity when they are on this host's
//     loopback, so the phone reaches them over USB as 127.0.0.1;
//  3. enrolls a phone that has no identity yet, with a one-time token the
//     farm requests from the coordinator (POST /api/v1/enrollment-tokens,
//     with the farm's API token); the token goes to the phone on the adb
//     shell's standard input, never on a command line;
//  4. starts `device-agent run` detached (setsid, nohup) with its identity,
//     state and log under the remote directory (/data/local/tmp/hil by
//     default), writing its PID to agent.pid;
//  5. watches it: a dead agent is started again (with a backoff when it
//     keeps dying), an agent whose device the coordinator reports offline
//     for longer than the stale limit gets its reverse ports set up again
//     and, if that does not help, is restarted; and streams its log,
//     each line prefixed with the phone's serial.
//
// A phone that disconnects is set up again when it returns: reverse ports
// are lost on disconnect, and an agent that died meanwhile (the phone
// rebooted) is started again; an agent that survived keeps running (its
// NATS connection recovers by itself) and its log resumes where it
// stopped. Stopping the farm leaves the agents running; a farm started
// later adopts them.
package farm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a farm.
type Config struct {
	// ADB is the adb executable. Defaults to "adb" (found on PATH).
	ADB string
	// Coordinator is the coordinator's base URL as this host reaches it,
	// e.g. http://127.0.0.1:8080.
	Coordinator string
	// APIToken authenticates the farm's API calls (enrollment tokens,
	// device status).
	APIToken string
	// Agents is where agent binaries come from: a directory holding
	// device-agent-<os>-<arch> files (`make agents` writes them to
	// .hil/agents), or an http(s) URL of a /downloads/ directory. Defaults
	// to Coordinator + "/downloads/".
	Agents string
	// CacheDir keeps downloaded binaries. Required with a URL source.
	CacheDir string
	// RemoteDir is the agent's directory on each phone: binary, identity
	// (agent.json), state/, agent.log, agent.pid, run.sh. Defaults to
	// /data/local/tmp/hil.
	RemoteDir string
	// Serials restricts the farm to these phones; empty means every phone
	// adb lists.
	Serials []string
	// Tags are given to each phone at enrollment. Defaults to ["adb"].
	Tags []string
	// RunArgs are extra arguments of `device-agent run` on the phones.
	RunArgs []string
	// Poll is the interval of `adb devices` and of each agent check.
	// Defaults to 2 s.
	Poll time.Duration
	// Stale is how long the coordinator may report a running agent's
	// device offline (no heartbeat) before the farm acts; 0 disables the
	// heartbeat watch. Defaults to 2 min (DefaultStale) when negative.
	Stale time.Duration
	// Log receives the farm's own messages. Defaults to discarding them.
	Log *slog.Logger
	// Out receives the agents' log lines, each prefixed "[<serial>] ".
	// Defaults to discarding them.
	Out io.Writer
}

// Defaults of Config.
const (
	DefaultRemoteDir = "/data/local/tmp/hil"
	DefaultPoll      = 2 * time.Second
	DefaultStale     = 2 * time.Minute
)

// remoteDirRE limits the remote directory to characters that need no
// quoting in the phone's shell.
var remoteDirRE = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)

// check validates c and fills defaults.
func (c *Config) check() error {
	if c.ADB == "" {
		c.ADB = "adb"
	}
	u, err := url.Parse(strings.TrimRight(c.Coordinator, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("coordinator %q: must be an http or https URL", c.Coordinator)
	}
	c.Coordinator = u.String()
	if c.APIToken == "" {
		return errors.New("an API token is required (to request enrollment tokens and read device status)")
	}
	if c.Agents == "" {
		c.Agents = c.Coordinator + "/downloads/"
	}
	if c.RemoteDir == "" {
		c.RemoteDir = DefaultRemoteDir
	}
	c.RemoteDir = strings.TrimRight(c.RemoteDir, "/")
	if !remoteDirRE.MatchString(c.RemoteDir) {
		return fmt.Errorf("remote dir %q: must be an absolute path of letters, digits and ._-/", c.RemoteDir)
	}
	if c.Tags == nil {
		c.Tags = []string{"adb"}
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Stale < 0 {
		c.Stale = DefaultStale
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return nil
}

// Farm is a running farm.
type Farm struct {
	cfg  Config
	adb  adb
	api  api
	bins *binaries
	log  *slog.Logger

	// phoneURL is the coordinator URL as the phones reach it; httpPort is
	// the port to reverse for it (0: none, the phones reach it directly).
	phoneURL string
	httpPort int

	outMu sync.Mutex // serialises agent log lines on cfg.Out

	mu     sync.Mutex
	phones map[string]*phone
}

// Run runs the farm until ctx ends; it returns nil then. It fails early
// when the configuration is invalid or adb cannot be run.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	bins, err := newBinaries(cfg.Agents, cfg.CacheDir)
	if err != nil {
		return err
	}
	f := &Farm{cfg: cfg, adb: adb{cfg.ADB}, api: api{base: cfg.Coordinator, token: cfg.APIToken, hc: &http.Client{Timeout: 30 * time.Second}},
		bins: bins, log: cfg.Log, phones: map[string]*phone{}}
	f.phoneURL, f.httpPort = phoneSide(cfg.Coordinator)
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	version, err := f.adb.run(vctx, nil, "version")
	cancel()
	if err != nil {
		return err
	}
	f.log.Info("farm started", "adb", firstLine(version), "coordinator", cfg.Coordinator, "phones_reach_it_at", f.phoneURL,
		"agents", cfg.Agents, "remote_dir", cfg.RemoteDir)

	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		f.log.Info("farm stopped; the agents keep running on the phones")
	}()
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	lastErr := ""
	for {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		devs, err := f.adb.devices(lctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if err.Error() != lastErr {
				f.log.Warn("adb devices", "err", err)
			}
			lastErr = err.Error()
		} else {
			lastErr = ""
			f.update(ctx, devs, &wg)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// update starts a supervisor for every new phone and passes each phone's
// adb state (or its absence) to its supervisor.
func (f *Farm) update(ctx context.Context, devs []device, wg *sync.WaitGroup) {
	f.mu.Lock()
	defer f.mu.Unlock()
	listed := map[string]bool{}
	for _, d := range devs {
		if len(f.cfg.Serials) > 0 && !slices.Contains(f.cfg.Serials, d.serial) {
			continue
		}
		listed[d.serial] = true
		p := f.phones[d.serial]
		if p == nil {
			p = newPhone(f, d.serial)
			f.phones[d.serial] = p
			f.log.Info("phone found", "serial", d.serial, "state", d.state)
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.run(ctx)
			}()
		}
		p.setState(d.state)
	}
	for serial, p := range f.phones {
		if !listed[serial] {
			p.setState("")
		}
	}
}

// emit writes one agent log line with its phone's serial.
func (f *Farm) emit(serial, line string) {
	f.outMu.Lock()
	defer f.outMu.Unlock()
	fmt.Fprintf(f.cfg.Out, "[%s] %s\n", serial, line)
}

// phoneSide returns the coordinator URL as a phone reaches it and the port
// to reverse: a coordinator on this host's loopback is reached through
// `adb reverse` at the same port; any other address directly.
func phoneSide(coordinator string) (string, int) {
	u, err := url.Parse(coordinator)
	if err != nil || !isLoopback(u.Hostname()) {
		return coordinator, 0
	}
	port := portOf(u)
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return u.String(), port
}

// portOf returns the URL's port, or its scheme's default.
func portOf(u *url.URL) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	switch u.Scheme {
	case "https", "wss":
		return 443
	case "http", "ws":
		return 80
	default: // nats, tls
		return 4222
	}
}

// isLoopback reports whether a phone behind `adb reverse` reaches host as
// its own loopback: 127.0.0.0/8, ::1, localhost, and the unspecified
// addresses 0.0.0.0 and :: (which the embedded NATS advertises when it
// listens on all interfaces, and which Linux connects to locally).
func isLoopback(host string) bool {
	if host == "localhost" || host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
