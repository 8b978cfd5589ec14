package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
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
	"strings"
	"time"

	agent "github.com/hilsearch/hilsearch/device-agent"

	"github.com/hilsearch/hilsearch/coordinator/internal/devpg"
	"github.com/hilsearch/hilsearch/coordinator/internal/driver"
	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/search"
)

// DemoSearchName names the search `serve --dev` creates once.
const DemoSearchName = "demo (lfm2-like)"

// demoSearch is the dev-mode demo: NSGA-II over the lfm2-like space,
// measured on the local agent with a small workload so that it finishes in
// a few minutes on two cores.
func demoSearch(deviceID string) string {
	return `{"name":"` + DemoSearchName + `","space":{"preset":"lfm2-like"},
 "workload":{"precision":"q4_0","threads":2,"prompt_lengths":[32],"decode_depths":[0],"decode_length":4,"repetitions":3,"max_repetitions":6},
 "targets":[{"name":"local","devices":["` + deviceID + `"]}],
 "objectives":[{"metric":"decode_ms_p50@local"},{"metric":"peak_rss_mb@local"},{"metric":"params","direction":"maximize"}],
 "budget":{"max_trials":8,"max_wall_time":"10m"},
 "algorithm":"nsga2","nsga2":{"population":4},"seed":1}`
}

// devPostgresPort is where the private dev cluster listens.
const devPostgresPort = 55433

// RunDev is `serve --dev`: the coordinator with embedded NATS, PostgreSQL
// from DATABASE_URL or a private cluster, a local agent enrolled
// automatically (this binary re-executed as `coordinator agent run`), and a
// demo search. Everything lives in the data directory and is reused on the
// next start; ctx's end stops it all in order.
func RunDev(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var cluster *devpg.Cluster
	if cfg.DatabaseURL == Default().DatabaseURL && !devpg.Answers("127.0.0.1:5432") {
		c, err := devpg.Start(ctx, filepath.Join(cfg.DataDir, "postgres"), devPostgresPort, func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) })
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
	if cfg.AdminToken == "" {
		tok, err := devAdminToken(cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.AdminToken = tok
	}
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
		if err := enrollLocalAgent(ctx, a, base, agentCfg); err != nil {
			return fmt.Errorf("enroll the local agent: %w", err)
		}
	}
	ac, err := agent.LoadConfig(agentCfg)
	if err != nil {
		return err
	}
	stopAgent, err := startLocalAgent(agentDir, agentCfg, log)
	if err != nil {
		return err
	}
	defer stopAgent()

	searchID, err := ensureDemoSearch(ctx, a, base, cfg.AdminToken, ac.DeviceID, filepath.Join(cfg.DataDir, "demo-search"))
	if err != nil {
		return fmt.Errorf("demo search: %w", err)
	}
	fmt.Fprintf(out, "\nhilsearch is running (dev mode)\n\n  dashboard:    %s/\n  admin token:  %s\n  local agent:  %s (log: %s)\n  demo search:  %s/api/v1/searches/%s\n\nCtrl-C stops everything; the next start reuses %s.\n\n",
		base, cfg.AdminToken, ac.DeviceID, filepath.Join(agentDir, "agent.log"), base, searchID, cfg.DataDir)

	events, cancelEvents := a.Events.Subscribe()
	defer cancelEvents()
	reported := false
	check := func() {
		if reported {
			return
		}
		se, err := a.Store.GetSearch(ctx, searchID)
		if err != nil || (se.State != store.SearchFinished && se.State != store.SearchFailed && se.State != store.SearchCancelled) {
			return
		}
		reported = true
		pts, _ := a.Store.CompletePoints(ctx, searchID)
		front := paretoFront(se, pts)
		fmt.Fprintf(out, "demo search %s: %d trials complete, %d failed; Pareto front: trials %v\n", se.State, se.Progress.Complete, se.Progress.Failed, front)
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

func selfCommand(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{"agent"}, args...)...)
	devpg.Detach(cmd) // Ctrl-C reaches us; we stop the agent in order
	return cmd, nil
}

func enrollLocalAgent(ctx context.Context, a *App, base, cfgPath string) error {
	_, secret, err := a.Store.CreateEnrollmentToken(ctx, 0, time.Hour)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	cmd, err := selfCommand("enroll", "--coordinator", base, "--token", secret, "--config", cfgPath,
		"--name", "local "+host, "--tags", "local")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, buf.String())
	}
	return nil
}

func startLocalAgent(dir, cfgPath string, log *slog.Logger) (func(), error) {
	logf, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd, err := selfCommand("run", "--config", cfgPath)
	if err != nil {
		return nil, err
	}
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
	log.Info("local agent started", "pid", cmd.Process.Pid)
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
	var se struct{ ID string }
	if err := json.Unmarshal(body, &se); err != nil || se.ID == "" {
		return "", errors.New("no search ID in the response")
	}
	return se.ID, os.WriteFile(idFile, []byte(se.ID+"\n"), 0o600)
}

// paretoFront returns the trial numbers on a search's constrained front.
func paretoFront(se store.Search, pts []store.TrialPoint) []int {
	spec, err := search.Parse(se.Spec)
	if err != nil {
		return nil
	}
	front := []int{}
	for _, i := range spec.Front(driver.Results(pts)) {
		front = append(front, pts[i].Number)
	}
	return front
}
