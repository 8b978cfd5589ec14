package farm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// agentFile is the name of the agent binary for an os/arch target, as
// `make agents` writes it and the coordinator serves it under /downloads/
// (coordinator/internal/httpapi.AgentFile; the farm's end-to-end test
// downloads through that handler, so a difference fails it).
func agentFile(target string) string {
	name := "device-agent-" + strings.ReplaceAll(target, "/", "-")
	if strings.HasPrefix(target, "windows/") {
		name += ".exe"
	}
	return name
}

// binary is an agent binary on this host.
type binary struct {
	path   string
	sha256 string // hex
}

// binaries finds agent binaries in a directory or downloads them from a
// URL (the coordinator's /downloads/), checking each against the SHA-256
// the coordinator publishes next to it, and keeps them in a cache.
type binaries struct {
	dir   string // a local directory, or ""
	base  string // a URL ending in "/", or ""
	cache string
	hc    *http.Client

	mu   sync.Mutex
	got  map[string]binary
	seen map[string]time.Time // when a URL target was last checked
	stat map[string]fileKey   // directory files: the state their hash is of
}

type fileKey struct {
	size int64
	mod  time.Time
}

// recheck is how often the published SHA-256 of a URL source is fetched
// again (a new agent build replaces the file).
const recheck = 30 * time.Second

func newBinaries(source, cache string) (*binaries, error) {
	b := &binaries{cache: cache, hc: &http.Client{Timeout: 10 * time.Minute},
		got: map[string]binary{}, seen: map[string]time.Time{}, stat: map[string]fileKey{}}
	switch {
	case strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://"):
		b.base = strings.TrimRight(source, "/") + "/"
		if cache == "" {
			return nil, errors.New("a cache directory is needed to download agents")
		}
	default:
		st, err := os.Stat(source)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("agents %q: not a directory or an http(s) URL", source)
		}
		b.dir = source
	}
	return b, nil
}

// get returns the agent binary for target ("android/arm64", …).
func (b *binaries) get(ctx context.Context, target string) (binary, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		return b.fromDir(target)
	}
	if bin, ok := b.got[target]; ok && time.Since(b.seen[target]) < recheck {
		return bin, nil
	}
	bin, err := b.download(ctx, target)
	if err != nil {
		return binary{}, err
	}
	b.got[target], b.seen[target] = bin, time.Now()
	return bin, nil
}

func (b *binaries) fromDir(target string) (binary, error) {
	path := filepath.Join(b.dir, agentFile(target))
	st, err := os.Stat(path)
	if err != nil {
		return binary{}, fmt.Errorf("agent for %s: %w (build it with `make agents`)", target, err)
	}
	k := fileKey{st.Size(), st.ModTime()}
	if bin, ok := b.got[target]; ok && b.stat[target] == k {
		return bin, nil
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return binary{}, err
	}
	bin := binary{path: path, sha256: sum}
	b.got[target], b.stat[target] = bin, k
	return bin, nil
}

// download fetches <base><file>.sha256, then the file itself unless the
// cache already holds a copy with that digest; the download is checked
// against the digest before it replaces the cached file.
func (b *binaries) download(ctx context.Context, target string) (binary, error) {
	file := agentFile(target)
	want, err := b.fetchSHA(ctx, file)
	if err != nil {
		return binary{}, err
	}
	path := filepath.Join(b.cache, file)
	if sum, err := fileSHA256(path); err == nil && sum == want {
		return binary{path: path, sha256: sum}, nil
	}
	if err := os.MkdirAll(b.cache, 0o755); err != nil {
		return binary{}, fmt.Errorf("agent cache: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+file, nil)
	if err != nil {
		return binary{}, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return binary{}, fmt.Errorf("download %s: %w", file, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return binary{}, fmt.Errorf("download %s: %s: %s", file, resp.Status, strings.TrimSpace(string(body)))
	}
	tmp, err := os.CreateTemp(b.cache, "."+file+".*")
	if err != nil {
		return binary{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return binary{}, fmt.Errorf("download %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return binary{}, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return binary{}, fmt.Errorf("download %s: SHA-256 %s, but the coordinator publishes %s", file, got, want)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return binary{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return binary{}, err
	}
	return binary{path: path, sha256: want}, nil
}

// fetchSHA reads "<hex>  <file>" from <base><file>.sha256.
func (b *binaries) fetchSHA(ctx context.Context, file string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+file+".sha256", nil)
	if err != nil {
		return "", err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("agent checksum %s: %w", file, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("agent checksum %s: %w", file, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("agent checksum %s: %s: %s", file, resp.Status, strings.TrimSpace(string(body)))
	}
	f := strings.Fields(string(body))
	if len(f) == 0 || !isHexSHA256(f[0]) {
		return "", fmt.Errorf("agent checksum %s: not a SHA-256: %q", file, tail(string(body), 100))
	}
	return f[0], nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
