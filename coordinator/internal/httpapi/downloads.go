package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hilsearch/hilsearch/coordinator/api"
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
	// The binaries are built ahead of time (`make agents`, the Dockerfile's
	// build stage); a request never runs a compiler.
	path := filepath.Join(s.d.AgentDir, AgentFile(target))
	digest, size, err := fileSHA256(path)
	if errors.Is(err, fs.ErrNotExist) {
		fail(c, ErrDownloadUnavailable, AgentFile(target)+" is not in the coordinator's agent directory")
		return
	}
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

func (s *Server) manifest(c *gin.Context) {
	m := api.AgentManifest{Version: s.d.Version, CoordinatorURL: s.d.AdvertiseURL, Files: map[string]api.AgentDownload{}}
	for _, t := range AgentTargets {
		d := api.AgentDownload{URL: "/downloads/" + AgentFile(t)}
		if digest, size, err := fileSHA256(filepath.Join(s.d.AgentDir, AgentFile(t))); err == nil {
			d.SHA256, d.Size = digest, size
		}
		m.Files[t] = d
	}
	c.JSON(http.StatusOK, m)
}
