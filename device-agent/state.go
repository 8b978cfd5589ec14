package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// Version is the agent version recorded in every measurement (part of a
// measurement's cache key). Release builds set it with
// -ldflags "-X github.com/hilsearch/hilsearch/device-agent.Version=…".
var Version = "0.1.0-dev"

// ConfigFileMode is the permission of the identity file: it holds the NKey
// seed, so only the owner may read it.
const ConfigFileMode fs.FileMode = 0o600

// Config is the enrolled agent's identity, stored as JSON by enroll and
// read by run. Seed is secret: it is never logged or sent anywhere.
type Config struct {
	// Coordinator is the base URL the agent enrolled with.
	Coordinator string `json:"coordinator"`
	// DeviceID, Name and Class are what the coordinator assigned.
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
	Class    string `json:"class"`
	// NATS is where and as whom to connect.
	NATS wire.NATSIdentity `json:"nats"`
	// Seed is the NKey user seed ("SU…").
	Seed string `json:"seed"`
	// EnrolledAt is when enroll stored this file.
	EnrolledAt time.Time `json:"enrolled_at"`
	// LlamaBench is the llama-bench executable given to enroll
	// (--llama-bench), if any; run's --llama-bench overrides it.
	LlamaBench string `json:"llama_bench,omitempty"`
}

// DefaultConfigPath is the identity file used when --config is not given:
// os.UserConfigDir()/hilsearch/agent.json, or, when that cannot be written
// (no $HOME, or a $HOME the user may not write, as under `adb shell`, where
// HOME is /), hilsearch/agent.json in the directory of the agent binary
// (/data/local/tmp/hilsearch/agent.json for a binary pushed to
// /data/local/tmp). An identity file that already exists in one of the two
// places is used, the user config directory first.
func DefaultConfigPath() (string, error) {
	userDir, userErr := os.UserConfigDir()
	exeDir := ""
	if exe, err := os.Executable(); err == nil {
		exeDir = filepath.Dir(exe)
	}
	return defaultConfigPath(userDir, userErr, exeDir)
}

// defaultConfigPath chooses between the user config directory and the
// binary's directory (see DefaultConfigPath).
func defaultConfigPath(userDir string, userErr error, exeDir string) (string, error) {
	var candidates []string
	if userErr == nil && userDir != "" {
		candidates = append(candidates, filepath.Join(userDir, "hilsearch", "agent.json"))
	}
	if exeDir != "" {
		candidates = append(candidates, filepath.Join(exeDir, "hilsearch", "agent.json"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	for _, c := range candidates {
		if dirWritable(filepath.Dir(c)) {
			return c, nil
		}
	}
	why := "no user config dir"
	if userErr != nil {
		why = userErr.Error()
	}
	return "", fmt.Errorf("no writable place for the identity file (tried %s; %s): pass --config", strings.Join(candidates, ", "), why)
}

// dirWritable reports whether a file can be created in dir, or in the
// nearest existing directory above it (where dir would be created). It
// creates and removes a probe file; permission bits alone do not tell
// (root, ACLs, read-only mounts).
func dirWritable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return false
			}
			f, err := os.CreateTemp(d, ".hilsearch-probe-*")
			if err != nil {
				return false
			}
			name := f.Name()
			f.Close()
			os.Remove(name)
			return true
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			return false
		}
	}
}

// Validate checks that c can be used to connect, naming the bad field.
func (c *Config) Validate() error {
	switch {
	case c.DeviceID == "":
		return errors.New("device_id: missing")
	case c.Class == "":
		return errors.New("class: missing")
	case len(c.NATS.URLs) == 0:
		return errors.New("nats.urls: missing")
	case c.NATS.InboxPrefix == "":
		return errors.New("nats.inbox_prefix: missing")
	case c.NATS.Stream == "" || c.NATS.AgentConsumer == "":
		return errors.New("nats.stream/agent_consumer: missing")
	case c.NATS.ResultsSubject == "" || c.NATS.HeartbeatSubj == "" || c.NATS.ControlSubject == "":
		return errors.New("nats.results_subject/heartbeat_subject/control_subject: missing")
	}
	kp, err := nkeys.FromSeed([]byte(c.Seed))
	if err != nil {
		return errors.New("seed: not a valid NKey seed")
	}
	pub, err := kp.PublicKey()
	if err != nil || pub != c.NATS.NKey {
		return errors.New("seed: does not match nats.nkey")
	}
	return nil
}

// LoadConfig reads and validates the identity file at path. It refuses a
// file that others may read, since it holds the seed.
func LoadConfig(path string) (*Config, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w (run 'device-agent enroll' first)", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && !isWindows() {
		return nil, fmt.Errorf("identity file %s has mode %#o: it holds a secret, chmod 600 it", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return &c, nil
}

// SaveConfig writes c to path with mode 0600 (directories 0700), through a
// temporary file and a rename so a crash never leaves half a file.
func SaveConfig(path string, c *Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), ConfigFileMode)
}

// writeFileAtomic writes data to path via a temporary file in the same
// directory, fsyncs it, and renames it into place.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(mode); err != nil && !isWindows() {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir flushes a directory's entries (a rename) to disk where the OS
// allows it; failures are ignored (Windows cannot open directories so).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Spool keeps results on disk until JetStream has stored them, so a
// finished measurement survives a lost connection, a killed agent or a
// reboot. Pending results live in <dir>/pending/<jobID>.json; after the
// PubAck they move to <dir>/sent/<jobID>.json, where a redelivered job
// (whose ack was lost) finds its result instead of being measured again.
// Sent results older than SentRetention are pruned. A Spool is used by one
// goroutine at a time.
type Spool struct {
	dir string
}

// SentRetention is how long sent results are kept for redeliveries; it
// exceeds JetStream's redelivery horizon (MaxDeliver × AckWait) by far.
const SentRetention = 7 * 24 * time.Hour

// OpenSpool creates (0700) and returns the spool in dir.
func OpenSpool(dir string) (*Spool, error) {
	for _, sub := range []string{"pending", "sent"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	return &Spool{dir: dir}, nil
}

func validJobID(id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, `/\.`) || strings.ContainsAny(id, " \t\n*>") {
		return fmt.Errorf("job id %q: not usable as a file name and subject token", id)
	}
	return nil
}

func (s *Spool) path(sub, jobID string) string {
	return filepath.Join(s.dir, sub, jobID+".json")
}

// Put stores r as pending (durably) before it is published.
func (s *Spool) Put(r *wire.Result) error {
	if err := validJobID(r.JobID); err != nil {
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path("pending", r.JobID), data, 0o600)
}

// MarkSent moves a pending result to sent after its PubAck.
func (s *Spool) MarkSent(jobID string) error {
	if err := validJobID(jobID); err != nil {
		return err
	}
	if err := os.Rename(s.path("pending", jobID), s.path("sent", jobID)); err != nil {
		return fmt.Errorf("mark result %s sent: %w", jobID, err)
	}
	syncDir(filepath.Join(s.dir, "pending"))
	now := time.Now()
	_ = os.Chtimes(s.path("sent", jobID), now, now)
	return nil
}

// Lookup returns the stored result of a job, pending or sent, and whether
// it is still pending; nil when there is none.
func (s *Spool) Lookup(jobID string) (r *wire.Result, pending bool, err error) {
	if err := validJobID(jobID); err != nil {
		return nil, false, err
	}
	for _, sub := range []string{"pending", "sent"} {
		data, err := os.ReadFile(s.path(sub, jobID))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		r = new(wire.Result)
		if err := json.Unmarshal(data, r); err != nil {
			return nil, false, fmt.Errorf("spooled result %s: %w", jobID, err)
		}
		return r, sub == "pending", nil
	}
	return nil, false, nil
}

// Pending lists the pending results, oldest first. Unreadable files are
// reported in the error but do not hide the others.
func (s *Spool) Pending() ([]*wire.Result, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "pending"))
	if err != nil {
		return nil, err
	}
	type item struct {
		r  *wire.Result
		at time.Time
	}
	var items []item
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		r, _, err := s.Lookup(strings.TrimSuffix(name, ".json"))
		if err != nil || r == nil {
			errs = append(errs, err)
			continue
		}
		var at time.Time
		if info, err := e.Info(); err == nil {
			at = info.ModTime()
		}
		items = append(items, item{r, at})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at.Before(items[j].at) })
	out := make([]*wire.Result, len(items))
	for i, it := range items {
		out[i] = it.r
	}
	return out, errors.Join(errs...)
}

// Prune deletes sent results older than maxAge.
func (s *Spool) Prune(maxAge time.Duration) error {
	dir := filepath.Join(s.dir, "sent")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	cut := time.Now().Add(-maxAge)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.ModTime().Before(cut) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

func isWindows() bool { return runtime.GOOS == "windows" }
