package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// AgentTargets are the platforms agent binaries are built for.
var AgentTargets = []string{"linux/amd64", "linux/arm64", "android/arm64", "darwin/arm64", "windows/amd64"}

// AgentFile is the download name of the agent for os/arch.
func AgentFile(target string) string {
	name := "device-agent-" + strings.ReplaceAll(target, "/", "-")
	if strings.HasPrefix(target, "windows/") {
		name += ".exe"
	}
	return name
}

// agentBuilds builds agent binaries on first request when they are not in
// the agent directory (`make agents` puts them there) and a Go toolchain and
// this module's source are at hand. One build per target at a time.
type agentBuilds struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

var builds = agentBuilds{locks: map[string]*sync.Mutex{}}

func (b *agentBuilds) lock(target string) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks[target] == nil {
		b.locks[target] = &sync.Mutex{}
	}
	return b.locks[target]
}

// moduleRoot finds this module's source from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("no Go toolchain: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	data, err := os.ReadFile(gomod)
	if err != nil || !strings.Contains(string(data), "module github.com/hilsearch/hilsearch\n") {
		return "", errors.New("not run from the hilsearch source tree")
	}
	return filepath.Dir(gomod), nil
}

// ensureAgent returns the path of the agent binary for target, building it
// if needed.
func (s *Server) ensureAgent(ctx context.Context, target string) (string, error) {
	path := filepath.Join(s.d.AgentDir, AgentFile(target))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	l := builds.lock(target)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", fmt.Errorf("%s is not built (run `make agents`) and cannot be built here: %w", AgentFile(target), err)
	}
	if err := os.MkdirAll(s.d.AgentDir, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp, "./cmd/device-agent")
	cmd.Dir = root
	goos, goarch, _ := strings.Cut(target, "/")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v: %s", target, err, out)
	}
	s.d.Log.Info("agent binary built", "target", target)
	return path, os.Rename(tmp, path)
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// targetOf maps a download file name to its os/arch target.
func targetOf(file string) (string, bool) {
	for _, t := range AgentTargets {
		if file == AgentFile(t) {
			return t, true
		}
	}
	return "", false
}

// download serves /downloads/<file>: an agent binary, its .sha256, or
// manifest.json.
func (s *Server) download(c *gin.Context) {
	file := c.Param("file")
	if file == "manifest.json" {
		s.manifest(c)
		return
	}
	sum := strings.HasSuffix(file, ".sha256")
	target, ok := targetOf(strings.TrimSuffix(file, ".sha256"))
	if !ok {
		fail(c, ErrDownloadNotFound, gin.H{"targets": AgentTargets})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Minute)
	defer cancel()
	path, err := s.ensureAgent(ctx, target)
	if err != nil {
		s.d.Log.Warn("agent download", "target", target, "err", err)
		fail(c, ErrDownloadUnavailable, err.Error())
		return
	}
	digest, size, err := fileSHA256(path)
	if err != nil {
		s.internal(c, "hash agent binary", err)
		return
	}
	if sum {
		c.String(http.StatusOK, "%s  %s\n", digest, AgentFile(target))
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+AgentFile(target)+`"`)
	c.Header("ETag", `"`+digest+`"`)
	c.Header("X-Checksum-Sha256", digest)
	c.Header("Content-Length", fmt.Sprint(size))
	c.File(path)
}

// AgentManifest lists the agent downloads.
type AgentManifest struct {
	Version string                   `json:"version"`
	Files   map[string]AgentDownload `json:"files"`
}

// AgentDownload is one entry of the manifest. SHA256 is empty until the
// binary is built (first download or `make agents`).
type AgentDownload struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
}

func (s *Server) manifest(c *gin.Context) {
	m := AgentManifest{Version: s.d.Version, Files: map[string]AgentDownload{}}
	for _, t := range AgentTargets {
		d := AgentDownload{URL: "/downloads/" + AgentFile(t)}
		if digest, size, err := fileSHA256(filepath.Join(s.d.AgentDir, AgentFile(t))); err == nil {
			d.SHA256, d.Size = digest, size
		}
		m.Files[t] = d
	}
	c.JSON(http.StatusOK, m)
}
