package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/driver"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/internal/devpg"
	"github.com/hilsearch/hilsearch/search"
)

// DemoSearchName names the search `serve --dev` creates once.
const DemoSearchName = "demo (lfm2-like)"

// demoSearch is the dev-mode demo: NSGA-II over the lfm2-like space,
// measured on the local agent with a small workload so that it finishes in
// a few minutes on two cores.
func demoSearch(deviceID string) string {
	return `{"name":"` + DemoSearchName + `","space":{"preset":"lfm2-like"},
 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[32],"decode_depths":[0],"decode_tokens":4,"repetitions":3,"max_repetitions":6},
 "targets":[{"name":"local","devices":["` + deviceID + `"]}],
 "objectives":[{"metric":"decode_ms_p50@local"},{"metric":"peak_rss_mb@local"},{"metric":"params","direction":"maximize"}],
 "budget":{"max_trials":8,"max_wall_time":"10m"},
 "algorithm":"nsga2","nsga2":{"population":4},"seed":1}`
}

// devPostgresPort is where the private dev cluster listens.
const devPostgresPort = 55433

// RunDev is `serve --dev`: the coordinator with embedded NATS, PostgreSQL
// from DATABASE_URL or a private cluster, a local agent enrolled
// automatically (the device-agent program, see agentProgram), and a demo
// search. Everything lives in the data directory and is reused on the next
// start; ctx's end stops it all in order.
func RunDev(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	return RunDevWith(ctx, cfg, log, out, DevOptions{})
}

// DevOptions are the choices of `serve --dev`.
type DevOptions struct {
	// WithEvaluator also starts the reference MQAR evaluator and
	// registers it.
	WithEvaluator bool
}

// RunDevWith is RunDev with options.
func RunDevWith(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer, o DevOptions) error {
	if err := alreadyRunning(ctx, cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var cluster *devpg.Cluster
	if cfg.DatabaseURL == Default().DatabaseURL && !postgresUsable(ctx, "127.0.0.1:5432", cfg.DatabaseURL, out) {
		dir := filepath.Join(cfg.DataDir, "postgres")
		if os.Geteuid() == 0 && !devpg.OthersCanReach(dir) {
			// As root the cluster runs as the postgres user, which cannot
			// enter e.g. /root: keep the cluster where it can.
			abs, _ := filepath.Abs(dir)
			sum := sha256.Sum256([]byte(abs))
			alt := filepath.Join("/var/tmp", "hil-postgres-"+hex.EncodeToString(sum[:4]))
			fmt.Fprintf(out, "running as root: the postgres user cannot reach %s, so the private cluster lives in %s\n", dir, alt)
			if err := os.MkdirAll(alt, 0o755); err != nil {
				return fmt.Errorf("private PostgreSQL: %w", err)
			}
			dir = alt
		}
		fmt.Fprintf(out, "starting a private PostgreSQL cluster in %s (port %d)…\n", dir, devPostgresPort)
		if _, err := devpg.EnsureBinaries(ctx, out); err != nil {
			return err
		}
		c, err := devpg.Start(ctx, dir, devPostgresPort, func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) })
		if err != nil {
			return err
		}
		cluster = c
		cfg.DatabaseURL = c.URL()
		defer func() {
			if err := cluster.Stop(); err != nil {
				log.Warn("stop private PostgreSQL", "err", err)
			} else {
				log.Info("private PostgreSQL stopped")
			}
		}()
	}
	agentBin, err := agentProgram(ctx, cfg.DataDir, log, out)
	if err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		tok, err := devAdminToken(cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.AdminToken = tok
	}
	fmt.Fprintln(out, "starting the coordinator (PostgreSQL migrations, embedded NATS, HTTP)…")
	a, err := Start(ctx, cfg, log, io.Discard)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = a.Shutdown(sctx)
	}()
	base := "http://" + loopback(a.Addr())

	agentDir := filepath.Join(cfg.DataDir, "agent")
	agentCfg := filepath.Join(agentDir, "agent.json")
	if _, err := os.Stat(agentCfg); err != nil {
		fmt.Fprintln(out, "enrolling this machine as the local device agent…")
		if err := enrollLocalAgent(ctx, a, agentBin, base, agentCfg); err != nil {
			return fmt.Errorf("enroll the local agent: %w", err)
		}
	}
	deviceID, err := localDeviceID(agentCfg)
	if err != nil {
		return err
	}
	stopAgent, err := startLocalAgent(agentBin, agentDir, agentCfg, log)
	if err != nil {
		return err
	}
	defer stopAgent()
	if o.WithEvaluator {
		root, err := moduleRoot(ctx)
		if err != nil {
			return fmt.Errorf("--with-evaluator needs the source tree (evaluators/mqar): %w", err)
		}
		fmt.Fprintln(out, "starting the reference MQAR evaluator (evaluators/mqar)…")
		ev, err := StartReferenceEvaluator(ctx, a, root, filepath.Join(cfg.DataDir, "evaluator"), log)
		if err != nil {
			return err
		}
		defer ev.Stop()
		fmt.Fprintf(out, "reference evaluator %q registered (webhook %s); name \"mqar_accuracy@%s\" in a search's objectives\n", ev.Name, ev.URL, ev.Name)
	}

	searchID, err := ensureDemoSearch(ctx, a, base, cfg.AdminToken, deviceID, filepath.Join(cfg.DataDir, "demo-search"))
	if err != nil {
		return fmt.Errorf("demo search: %w", err)
	}
	fmt.Fprintf(out, "\nhilsearch is running (dev mode)\n\n  dashboard:    %s/ (sign in with the admin token)\n  admin token:  %s\n  local agent:  %s (log: %s)\n  demo search:  %s/#/searches/%s\n  hil CLI:      export HIL_TOKEN=%s; go run ./cmd/hil search watch %s\n\nThe demo search measures 8 candidates on this machine (a few minutes); \"demo search finished\" is printed here when it ends.\nCtrl-C stops everything; the next start reuses %s.\n\n",
		base, cfg.AdminToken, deviceID, filepath.Join(agentDir, "agent.log"), base, searchID, cfg.AdminToken, searchID, cfg.DataDir)

	events, cancelEvents := a.Events.Subscribe()
	defer cancelEvents()
	reported := false
	check := func() {
		if reported {
			return
		}
		se, err := a.Store.GetSearch(ctx, searchID)
		if err != nil || !se.State.Final() {
			return
		}
		reported = true
		pts, _ := a.Store.CompletePoints(ctx, searchID)
		front, rec := paretoFront(se, pts)
		fmt.Fprintf(out, "demo search %s: %d trials complete, %d failed; Pareto front: trials %v\n", se.State, se.Progress.Complete, se.Progress.Failed, front)
		if rec >= 0 {
			fmt.Fprintf(out, "recommended: trial %d (the front's knee); export it: go run ./cmd/hil search export %s --format json|hf|gguf -o FILE (hil search show %s lists the formats each front trial exports to)\n", rec, searchID, searchID)
		}
	}
	check()
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping")
			return nil
		case _, ok := <-events:
			if !ok {
				return nil
			}
			check()
		}
	}
}

func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "::" || host == "0.0.0.0" {
		return "127.0.0.1:" + port
	}
	return addr
}

// devAdminToken keeps dev mode's admin token in the data dir (mode 0600)
// so every start can print it.
func devAdminToken(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "dev-admin-token")
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := "hil_dev_" + hex.EncodeToString(b[:])
	return tok, os.WriteFile(p, []byte(tok+"\n"), 0o600)
}

// agentProgram returns the device-agent program dev mode runs as the local
// agent. From this module's source tree (the README's `go run
// ./cmd/coordinator serve --dev`) it builds ./cmd/device-agent into
// <dataDir>/bin, every start: the Go build cache makes a rebuild of an
// unchanged tree quick, and the agent always matches the source. Elsewhere
// it uses a device-agent next to this executable, then one on PATH. The
// coordinator binary itself never contains the agent.
func agentProgram(ctx context.Context, dataDir string, log *slog.Logger, progress io.Writer) (string, error) {
	name := "device-agent"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if root, err := moduleRoot(ctx); err == nil {
		out := filepath.Join(dataDir, "bin", name)
		if out, err = filepath.Abs(out); err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return "", err
		}
		fmt.Fprintf(progress, "building the local device agent (go build ./cmd/device-agent; the first build takes a minute or two, later ones seconds)…\n")
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/device-agent")
		cmd.Dir = root
		done := make(chan struct{})
		go func() { // a sign of life during a long first build
			t := time.NewTicker(20 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					fmt.Fprintf(progress, "  still building the device agent (%s)…\n", time.Since(start).Round(time.Second))
				}
			}
		}()
		b, err := cmd.CombinedOutput()
		close(done)
		if err != nil {
			return "", fmt.Errorf("build the device agent: %w: %s", err, b)
		}
		log.Info("local device agent built", "out", out, "seconds", time.Since(start).Round(100*time.Millisecond).Seconds())
		return out, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", errors.New("dev mode needs the device-agent program: run it from the hilsearch source tree (go run ./cmd/coordinator serve --dev), or put device-agent (make agents) next to the coordinator or on PATH")
}

// moduleRoot finds this module's source tree from the working directory
// with the Go toolchain.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("no Go toolchain: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	data, err := os.ReadFile(gomod)
	if err != nil || !strings.Contains(string(data), "module github.com/hilsearch/hilsearch\n") {
		return "", errors.New("not in the hilsearch source tree")
	}
	return filepath.Dir(gomod), nil
}

// localDeviceID reads the device ID from the local agent's identity file
// (written by `device-agent enroll`).
func localDeviceID(cfgPath string) (string, error) {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", fmt.Errorf("local agent identity: %w", err)
	}
	var id struct {
		DeviceID string `json:"device_id"`
	}
	if err := json.Unmarshal(data, &id); err != nil || id.DeviceID == "" {
		return "", fmt.Errorf("local agent identity %s: no device_id (delete it to enroll again)", cfgPath)
	}
	return id.DeviceID, nil
}

func agentCommand(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	devpg.Detach(cmd) // Ctrl-C reaches us; we stop the agent in order
	return cmd
}

func enrollLocalAgent(ctx context.Context, a *App, bin, base, cfgPath string) error {
	_, secret, err := a.Store.CreateEnrollmentToken(ctx, 0, time.Hour)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	cmd := agentCommand(bin, "enroll", "--coordinator", base, "--token", secret, "--config", cfgPath,
		"--name", "local "+host, "--tags", "local")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, buf.String())
	}
	return nil
}

func startLocalAgent(bin, dir, cfgPath string, log *slog.Logger) (func(), error) {
	logf, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := agentCommand(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		if err != nil {
			log.Warn("local agent exited", "err", err)
		}
		close(done)
	}()
	log.Info("local agent started", "pid", cmd.Process.Pid, "program", bin)
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		log.Info("local agent stopped")
	}, nil
}

// ensureDemoSearch creates the demo search of this data directory's local
// agent through the API once, remembers its ID in idFile, and returns it.
func ensureDemoSearch(ctx context.Context, a *App, base, token, deviceID, idFile string) (string, error) {
	if b, err := os.ReadFile(idFile); err == nil {
		id := strings.TrimSpace(string(b))
		if _, err := a.Store.GetSearch(ctx, id); err == nil {
			return id, nil
		}
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/searches", strings.NewReader(demoSearch(deviceID)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	var se api.Search
	if err := json.Unmarshal(body, &se); err != nil || se.ID == "" {
		return "", errors.New("no search ID in the response")
	}
	return se.ID, os.WriteFile(idFile, []byte(se.ID+"\n"), 0o600)
}

// paretoFront returns the trial numbers on a search's constrained front
// and the recommended one (-1 when there is none).
func paretoFront(se api.Search, pts []store.TrialPoint) ([]int, int) {
	spec, err := search.Parse(se.Spec)
	if err != nil {
		return nil, -1
	}
	res := driver.Results(pts)
	front := []int{}
	for _, i := range spec.Front(res) {
		front = append(front, pts[i].Number)
	}
	rec := -1
	if i := spec.Recommend(res); i >= 0 {
		rec = pts[i].Number
	}
	return front, rec
}

// alreadyRunning fails at once when this configuration's HTTP or NATS port
// is taken, naming a coordinator that already runs there (a second
// `serve --dev`) instead of failing later on the NATS port.
func alreadyRunning(ctx context.Context, cfg Config) error {
	addr := loopback(cfg.Listen)
	if devpg.Answers(addr) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var h api.Health
			ok := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h) == nil && h.Status == "ok"
			resp.Body.Close()
			if ok {
				return fmt.Errorf("a hilsearch coordinator is already running at http://%s/ (version %s): use it, or stop it first (Ctrl-C in its terminal); "+
					"a second one needs other ports and data: --listen, --nats-listen, --data-dir", addr, h.Version)
			}
		}
		return fmt.Errorf("port %s (HIL_LISTEN, --listen) is taken by another program; free it or choose another with --listen", addr)
	}
	if cfg.NATSURL == "" && devpg.Answers(loopback(cfg.NATSListen)) {
		return fmt.Errorf("port %s (HIL_NATS_LISTEN, --nats-listen) is taken, perhaps by another coordinator; free it or choose another with --nats-listen", loopback(cfg.NATSListen))
	}
	return nil
}

// postgresUsable reports whether the PostgreSQL server at addr (dev
// mode: 127.0.0.1:5432) accepts url. When it answers but refuses (Debian's
// own cluster wants a password over TCP), it says why on out: dev mode
// then uses its private cluster.
func postgresUsable(ctx context.Context, addr, url string, out io.Writer) bool {
	if !devpg.Answers(addr) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url)
	if err != nil {
		fmt.Fprintf(out, "PostgreSQL on %s refuses the default URL %s (%v);\n"+
			"using a private cluster instead (set DATABASE_URL to use that server).\n", addr, store.Redact(url), oneLineErr(err))
		return false
	}
	st.Close()
	fmt.Fprintf(out, "using PostgreSQL on %s (%s)\n", addr, store.Redact(url))
	return true
}

// oneLineErr is err's text on one line.
func oneLineErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
