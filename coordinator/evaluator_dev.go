package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/internal/evals"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/internal/devpg"
)

// SystemPython runs the reference evaluator (Debian's python3-torch is
// installed for it).
const SystemPython = "/usr/bin/python3"

// ErrNoTorch: the system Python cannot import torch.
var ErrNoTorch = errors.New("the reference evaluator needs PyTorch for " + SystemPython + " (Debian: apt-get install python3-torch libopenblas0-openmp)")

// TorchAvailable reports whether the system Python imports torch.
func TorchAvailable(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, SystemPython, "-c", "import torch")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %v %s", ErrNoTorch, err, firstLine(out))
	}
	return nil
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

// ReferenceEvaluator is the reference MQAR evaluator (evaluators/mqar)
// running as a local webhook worker registered with this coordinator.
type ReferenceEvaluator struct {
	Name string
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *slog.Logger
}

// StartReferenceEvaluator starts `python3 evaluators/mqar serve` from the
// source tree root on a free loopback port with a fresh webhook secret
// (file in dir), reads its first stdout line, fetches its registration
// and registers it (replacing an earlier local one of the same name).
func StartReferenceEvaluator(ctx context.Context, a *App, root, dir string, log *slog.Logger) (*ReferenceEvaluator, error) {
	if err := TorchAvailable(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		return nil, err
	}
	secret := evals.NewSecret()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "evaluator.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(SystemPython, filepath.Join(root, "evaluators", "mqar"), "serve", "--listen", "127.0.0.1:0",
		"--secret-file", secretFile, "--state-dir", filepath.Join(dir, "state"), "--threads", "1")
	devpg.Detach(cmd)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	r := &ReferenceEvaluator{cmd: cmd, done: make(chan struct{}), log: log}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(r.done)
	}()
	type first struct {
		Listening    string `json:"listening"`
		Registration string `json:"registration"`
	}
	lines := make(chan first, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var f first
		if sc.Scan() {
			_ = json.Unmarshal(sc.Bytes(), &f)
		}
		lines <- f
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var f first
	select {
	case f = <-lines:
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	if f.Registration == "" {
		r.Stop()
		return nil, fmt.Errorf("the reference evaluator did not start (log: %s)", filepath.Join(dir, "evaluator.log"))
	}
	reg, err := fetchRegistration(ctx, f.Registration)
	if err != nil {
		r.Stop()
		return nil, err
	}
	if errs := evals.CheckRegistration(&reg); len(errs) > 0 {
		r.Stop()
		return nil, fmt.Errorf("the reference evaluator's registration: %v", errs)
	}
	if _, err := a.Store.ReplaceEvaluator(ctx, reg, secret); err != nil {
		r.Stop()
		return nil, err
	}
	r.Name, r.URL = reg.Name, reg.URL
	log.Info("reference evaluator registered", "evaluator", reg.Name, "url", reg.URL, "pid", cmd.Process.Pid)
	return r, nil
}

func fetchRegistration(ctx context.Context, url string) (wire.EvaluatorRegistration, error) {
	var reg wire.EvaluatorRegistration
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	if err != nil {
		return reg, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reg, fmt.Errorf("the reference evaluator's registration: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return reg, fmt.Errorf("the reference evaluator's registration: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&reg); err != nil {
		return reg, fmt.Errorf("the reference evaluator's registration: %w", err)
	}
	return reg, nil
}

// Stop ends the worker (SIGTERM, then kill after 15 s).
func (r *ReferenceEvaluator) Stop() {
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.log.Info("reference evaluator stopped")
}
